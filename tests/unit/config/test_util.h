#pragma once
// Helpers for the configuration loader tests.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config/loader.h"

namespace trellis::config::testing {

inline LoadResult load(std::string_view yaml) {
  return loadString(yaml, "test.yaml");
}

inline std::string describe(const std::vector<LoadError>& errors) {
  std::string out;
  for (const LoadError& error : errors) out += "  " + error.toString() + "\n";
  return out.empty() ? "  (none)\n" : out;
}

inline std::string describe(const LoadResult& result) {
  return "errors:\n" + describe(result.errors) + "warnings:\n" + describe(result.warnings);
}

/// Loads `yaml` and expects it to fail with exactly one error, equal to `expected`.
inline void expectSingleError(std::string_view yaml, const LoadError& expected) {
  LoadResult result = load(yaml);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.snapshot, nullptr);
  ASSERT_EQ(result.errors.size(), 1u) << describe(result);
  const LoadError& error = result.errors.front();
  EXPECT_EQ(error.toString(), expected.toString()) << describe(result);
}

/// An error as toString() renders it: "test.yaml:LINE:COL: RESOURCE: FIELD: MESSAGE".
inline LoadError at(int line, int column, std::string resource, std::string field,
                    std::string message) {
  return LoadError{"test.yaml",       line, column, std::move(resource), std::move(field),
                   std::move(message)};
}

}  // namespace trellis::config::testing
