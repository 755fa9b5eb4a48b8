#pragma once
// Schema-driven, typed reading of yaml-cpp nodes that reports every problem with its position,
// resource and field path instead of throwing.
//
// `Scope` reads values for one resource; `Object` is a YAML map whose keys were checked against
// the fields a schema allows; `Value` is one field (possibly absent) with its path and position.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.h"
#include "config/model.h"

namespace trellis::config {

/// Where a problem is reported: position, resource and field path.
struct Location {
  YAML::Mark mark = YAML::Mark::null_mark();
  std::string resource;
  std::string field;
};

/// Collects errors and warnings for one load.
class Diagnostics {
 public:
  static constexpr size_t kMaxErrors = 200;
  /// Bound on the model a load may build. YAML aliases let a small input repeat large values
  /// (and regexes, and route copies per listener), so input size alone does not bound memory.
  static constexpr size_t kMaxModelBytes = 256 << 20;

  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const Location& at, std::string message);
  void warning(const Location& at, std::string message);
  bool hasErrors() const { return !errors_.empty(); }
  /// Charges `bytes` of model against kMaxModelBytes; once exceeded, reports one error at `at`
  /// and returns false from then on.
  bool charge(size_t bytes, const Location& at);
  const std::string& file() const { return file_; }

  /// Errors and warnings, each ordered by position (stable for equal positions).
  std::vector<LoadError> takeErrors();
  std::vector<LoadError> takeWarnings();

 private:
  LoadError make(const Location& at, std::string message) const;

  std::string file_;
  std::vector<LoadError> errors_;
  std::vector<LoadError> warnings_;
  bool truncated_ = false;
  size_t modelBytes_ = 0;
};

/// One field of an object or one list item. `present` is false for an absent field and for an
/// explicit null (`field:` or `field: null`), as Kubernetes treats both as unset.
struct Value {
  YAML::Node node;
  YAML::Mark mark = YAML::Mark::null_mark();  // of the value; of the enclosing object if absent
  std::string path;
  bool present = false;
};

/// A YAML map checked against a schema's field list.
class Object {
 public:
  Value get(std::string_view key) const;
  bool has(std::string_view key) const { return get(key).present; }
  const YAML::Mark& mark() const { return mark_; }
  const std::string& path() const { return path_; }

 private:
  friend class Scope;
  std::vector<std::pair<std::string, YAML::Node>> fields_;
  YAML::Mark mark_ = YAML::Mark::null_mark();
  std::string path_;
};

/// Typed readers for one resource. Each returns nullopt when the value is absent or invalid; an
/// invalid value has been reported, so callers need not distinguish the two.
class Scope {
 public:
  Scope(Diagnostics& diagnostics, std::string resource)
      : diagnostics_(diagnostics), resource_(std::move(resource)) {}

  const std::string& resource() const { return resource_; }
  Location at(const Value& value) const { return {value.mark, resource_, value.path}; }
  Location at(const Object& object) const { return {object.mark(), resource_, object.path()}; }

  void error(const Value& at, std::string message);
  void error(const Object& at, std::string message);
  void error(const Location& at, std::string message);
  void warning(const Value& at, std::string message);

  /// The field `key` of `object`; reports "missing required field" when absent.
  Value require(const Object& object, std::string_view key);

  /// A map whose keys must all be in `fields` (unknown and duplicate keys are reported).
  std::optional<Object> object(const Value& value, std::initializer_list<std::string_view> fields);
  /// The items of a list (absent → empty), reporting more than `maxItems` items and skipping
  /// (and reporting) null items.
  std::vector<Value> list(const Value& value, size_t maxItems);
  /// A scalar as text (plain numbers and booleans are accepted as their text).
  std::optional<std::string> string(const Value& value, size_t maxLength = 4096);
  /// A plain decimal integer within [min, max].
  std::optional<int64_t> integer(const Value& value, int64_t min, int64_t max);
  std::optional<bool> boolean(const Value& value);
  /// A Gateway API duration string; `minimum` is inclusive.
  std::optional<Duration> duration(const Value& value, Duration minimum);
  /// Same, also at most `maximum` (inclusive).
  std::optional<Duration> duration(const Value& value, Duration minimum, Duration maximum);
  /// A percentage: a plain number from 0 to 100 with at most 4 decimals ("12.5"), returned in
  /// parts per million (125000).
  std::optional<uint32_t> percentage(const Value& value);

  /// One of a fixed set of strings.
  template <typename E>
  std::optional<E> choice(const Value& value,
                          std::initializer_list<std::pair<std::string_view, E>> options) {
    auto text = string(value, 256);
    if (!text) return std::nullopt;
    for (const auto& [name, result] : options) {
      if (*text == name) return result;
    }
    std::vector<std::string_view> names;
    for (const auto& option : options) names.push_back(option.first);
    error(value, unknownValueMessage(*text, names));
    return std::nullopt;
  }

  /// Reports `message` at `value` when it is non-empty; returns whether it was empty.
  bool check(const Value& value, const std::string& message);
  /// See Diagnostics::charge.
  bool charge(size_t bytes, const Value& at) { return diagnostics_.charge(bytes, this->at(at)); }

  static std::string unknownValueMessage(std::string_view got,
                                         const std::vector<std::string_view>& expected);

 private:
  Diagnostics& diagnostics_;
  std::string resource_;
};

/// A short, printable, quoted rendition of a user's value for messages.
std::string quote(std::string_view text);

/// Path of `key` inside `parent` ("spec" + "rules" → "spec.rules").
std::string childPath(std::string_view parent, std::string_view key);
/// Path of item `index` of the list at `parent` ("spec.rules" + 0 → "spec.rules[0]").
std::string itemPath(std::string_view parent, size_t index);

}  // namespace trellis::config
