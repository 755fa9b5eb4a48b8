// The typed readers under the loader: integers, booleans, strings, objects, the load budget.

#include "config/yaml_reader.h"

#include <gtest/gtest.h>

namespace trellis::config {
namespace {

class YamlReaderTest : public ::testing::Test {
 protected:
  Value parse(const std::string& yaml) {
    nodes_.push_back(YAML::Load(yaml));
    return Value{nodes_.back(), nodes_.back().Mark(), "f", !nodes_.back().IsNull()};
  }
  std::vector<LoadError> errors() { return diagnostics_.takeErrors(); }

  Diagnostics diagnostics_{"t.yaml"};
  Scope scope_{diagnostics_, "R"};
  std::vector<YAML::Node> nodes_;
};

TEST_F(YamlReaderTest, Integers) {
  EXPECT_EQ(scope_.integer(parse("42"), 0, 100), 42);
  EXPECT_EQ(scope_.integer(parse("-5"), -10, 10), -5);
  EXPECT_EQ(scope_.integer(parse("9223372036854775807"), 0, INT64_MAX), INT64_MAX);
  EXPECT_EQ(scope_.integer(parse("-9223372036854775808"), INT64_MIN, 0), INT64_MIN);
  EXPECT_TRUE(errors().empty());
  for (const char* bad : {"9223372036854775808", "99999999999999999999", "-1", "101", "+5", "0x10",
                          "1e3", "5.0", "\"5\"", "'5'", "[5]", "{a: 5}", "five", "-", "1_000"}) {
    EXPECT_EQ(scope_.integer(parse(bad), 0, 100), std::nullopt) << bad;
    EXPECT_EQ(errors().size(), 1u) << bad;
  }
  EXPECT_EQ(scope_.integer(parse("~"), 0, 100), std::nullopt);  // null: absent, no error
  EXPECT_TRUE(errors().empty());
}

TEST_F(YamlReaderTest, BooleansAndStrings) {
  EXPECT_EQ(scope_.boolean(parse("true")), true);
  EXPECT_EQ(scope_.boolean(parse("False")), false);
  EXPECT_TRUE(errors().empty());
  for (const char* bad : {"yes", "1", "\"true\"", "[true]"}) {
    EXPECT_EQ(scope_.boolean(parse(bad)), std::nullopt) << bad;
    EXPECT_EQ(errors().size(), 1u) << bad;
  }
  EXPECT_EQ(scope_.string(parse("80")), "80");  // plain scalars are text
  EXPECT_EQ(scope_.string(parse("'quoted'")), "quoted");
  EXPECT_EQ(scope_.string(parse("abcd"), 3), std::nullopt);
  auto tooLong = errors();
  ASSERT_EQ(tooLong.size(), 1u);
  EXPECT_EQ(tooLong[0].message, "must be at most 3 characters");
}

TEST_F(YamlReaderTest, ObjectsReportUnknownAndDuplicateKeys) {
  auto object = scope_.object(parse("{a: 1, b: 2, a: 3, c: 4, [x]: 5}"), {"a", "b"});
  ASSERT_TRUE(object);
  EXPECT_EQ(object->get("a").node.Scalar(), "1");  // the first of duplicates
  EXPECT_TRUE(object->has("b"));
  EXPECT_FALSE(object->has("c"));
  std::vector<std::string> messages;
  for (const LoadError& error : errors()) messages.push_back(error.field + ": " + error.message);
  EXPECT_EQ(messages,
            (std::vector<std::string>{"f.a: duplicate field \"a\"", "f.c: unknown field \"c\"",
                                      "f: field names must be strings"}));
  EXPECT_FALSE(scope_.object(parse("[1]"), {"a"}));
  EXPECT_EQ(errors().at(0).message, "expected a map, got a list");
}

TEST_F(YamlReaderTest, ModelBudgetStopsAfterOneError) {
  Location at{YAML::Mark::null_mark(), "R", "f"};
  EXPECT_TRUE(diagnostics_.charge(Diagnostics::kMaxModelBytes, at));
  EXPECT_FALSE(diagnostics_.charge(1, at));
  EXPECT_FALSE(diagnostics_.charge(1, at));
  EXPECT_EQ(scope_.string(parse("x")), std::nullopt);  // reading stops too
  auto reported = errors();
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].message,
            "the configuration expands to more than 256 MiB (YAML aliases repeating large "
            "values?)");
}

}  // namespace
}  // namespace trellis::config
