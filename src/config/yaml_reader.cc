#include "config/yaml_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

#include "config/syntax.h"

namespace trellis::config {
namespace {

const char* describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing";
  }
}

bool isQuoted(const YAML::Node& node) {
  return node.Tag() == "!";
}

std::optional<std::string> suggestion(std::string_view key,
                                      std::initializer_list<std::string_view> fields) {
  std::string_view best;
  size_t bestDistance = 3;
  std::string lowerKey = syntax::toLower(key);
  for (std::string_view field : fields) {
    size_t distance = lowerKey == syntax::toLower(field) ? 0 : syntax::editDistance(key, field, 2);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = field;
    }
  }
  if (best.empty() || bestDistance >= key.size()) return std::nullopt;
  return std::string(best);
}

bool byPosition(const LoadError& a, const LoadError& b) {
  return std::tie(a.line, a.column) < std::tie(b.line, b.column);
}

}  // namespace

std::string quote(std::string_view text) {
  std::string out = "\"";
  size_t shown = 0;
  for (char c : text) {
    if (++shown > 64) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string childPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string itemPath(std::string_view parent, size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

// ---------------------------------------------------------------------------------------------

LoadError Diagnostics::make(const Location& at, std::string message) const {
  LoadError error;
  error.file = file_;
  if (!at.mark.is_null()) {
    error.line = at.mark.line + 1;
    error.column = at.mark.column + 1;
  }
  error.resource = at.resource;
  error.field = at.field;
  error.message = std::move(message);
  return error;
}

void Diagnostics::error(const Location& at, std::string message) {
  if (errors_.size() >= kMaxErrors) {
    truncated_ = true;
    return;
  }
  errors_.push_back(make(at, std::move(message)));
}

bool Diagnostics::charge(size_t bytes, const Location& at) {
  if (modelBytes_ > kMaxModelBytes) return false;
  modelBytes_ += bytes;
  if (modelBytes_ <= kMaxModelBytes) return true;
  error(at, fmt::format("the configuration expands to more than {} MiB (YAML aliases repeating "
                        "large values?)",
                        kMaxModelBytes >> 20));
  return false;
}

void Diagnostics::warning(const Location& at, std::string message) {
  if (warnings_.size() >= kMaxErrors) return;
  warnings_.push_back(make(at, std::move(message)));
}

std::vector<LoadError> Diagnostics::takeErrors() {
  std::stable_sort(errors_.begin(), errors_.end(), byPosition);
  if (truncated_) {
    errors_.push_back(
        make({}, fmt::format("too many errors; only the first {} are shown", kMaxErrors)));
    truncated_ = false;
  }
  return std::move(errors_);
}

std::vector<LoadError> Diagnostics::takeWarnings() {
  std::stable_sort(warnings_.begin(), warnings_.end(), byPosition);
  return std::move(warnings_);
}

// ---------------------------------------------------------------------------------------------

Value Object::get(std::string_view key) const {
  for (const auto& [name, node] : fields_) {
    if (name == key) {
      Value value{node, node.Mark(), childPath(path_, key), !node.IsNull()};
      return value;
    }
  }
  return Value{YAML::Node(), mark_, childPath(path_, key), false};
}

// ---------------------------------------------------------------------------------------------

void Scope::error(const Value& value, std::string message) {
  diagnostics_.error(at(value), std::move(message));
}

void Scope::error(const Object& object, std::string message) {
  diagnostics_.error(at(object), std::move(message));
}

void Scope::error(const Location& location, std::string message) {
  diagnostics_.error(location, std::move(message));
}

void Scope::warning(const Value& value, std::string message) {
  diagnostics_.warning(at(value), std::move(message));
}

bool Scope::check(const Value& value, const std::string& message) {
  if (message.empty()) return true;
  error(value, message);
  return false;
}

Value Scope::require(const Object& object, std::string_view key) {
  Value value = object.get(key);
  if (!value.present) error(value, "missing required field");
  return value;
}

std::optional<Object> Scope::object(const Value& value,
                                    std::initializer_list<std::string_view> fields) {
  if (!value.present) return std::nullopt;
  if (!value.node.IsMap()) {
    error(value, fmt::format("expected a map, got {}", describe(value.node)));
    return std::nullopt;
  }
  Object object;
  object.mark_ = value.mark;
  object.path_ = value.path;
  for (auto it = value.node.begin(); it != value.node.end(); ++it) {
    const YAML::Node key = it->first;
    Value keyAt{key, key.Mark(), value.path, true};
    if (!key.IsScalar()) {
      error(keyAt, "field names must be strings");
      continue;
    }
    const std::string& name = key.Scalar();
    keyAt.path = childPath(value.path, name);
    if (std::find(fields.begin(), fields.end(), name) == fields.end()) {
      auto hint = suggestion(name, fields);
      error(keyAt, hint ? fmt::format("unknown field {} (did you mean \"{}\"?)", quote(name), *hint)
                        : fmt::format("unknown field {}", quote(name)));
      continue;
    }
    bool duplicate = std::any_of(object.fields_.begin(), object.fields_.end(),
                                 [&](const auto& field) { return field.first == name; });
    if (duplicate) {
      error(keyAt, fmt::format("duplicate field {}", quote(name)));
      continue;
    }
    object.fields_.emplace_back(name, it->second);
  }
  return object;
}

std::vector<Value> Scope::list(const Value& value, size_t maxItems) {
  std::vector<Value> items;
  if (!value.present) return items;
  if (!value.node.IsSequence()) {
    error(value, fmt::format("expected a list, got {}", describe(value.node)));
    return items;
  }
  if (value.node.size() > maxItems) {
    error(value, fmt::format("must have at most {} items, got {}", maxItems, value.node.size()));
    return items;
  }
  size_t index = 0;
  for (const YAML::Node& item : value.node) {
    Value itemValue{item, item.Mark(), itemPath(value.path, index), !item.IsNull()};
    ++index;
    // No list in the schema admits null items; reporting them here keeps callers simple.
    if (!itemValue.present) {
      error(itemValue, "expected a value, got null");
      continue;
    }
    items.push_back(std::move(itemValue));
  }
  return items;
}

std::optional<std::string> Scope::string(const Value& value, size_t maxLength) {
  if (!value.present) return std::nullopt;
  if (!value.node.IsScalar()) {
    error(value, fmt::format("expected a string, got {}", describe(value.node)));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  if (text.size() > maxLength) {
    error(value, fmt::format("must be at most {} characters", maxLength));
    return std::nullopt;
  }
  if (!charge(text.size() + sizeof(std::string), value)) return std::nullopt;
  return text;
}

std::optional<int64_t> Scope::integer(const Value& value, int64_t min, int64_t max) {
  if (!value.present) return std::nullopt;
  if (!value.node.IsScalar()) {
    error(value, fmt::format("expected an integer, got {}", describe(value.node)));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  if (isQuoted(value.node)) {
    error(value, fmt::format("expected an integer, got the string {}", quote(text)));
    return std::nullopt;
  }
  std::string_view digits = text;
  bool negative = digits.starts_with('-');
  if (negative) digits.remove_prefix(1);
  bool numeric =
      !digits.empty() && digits.size() <= 19 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!numeric) {
    error(value, fmt::format("expected an integer, got {}", quote(text)));
    return std::nullopt;
  }
  // 19 digits always fit in uint64_t; the 128-bit compare avoids signed-overflow corner cases.
  uint64_t magnitude = 0;
  for (char c : digits) magnitude = magnitude * 10 + static_cast<uint64_t>(c - '0');
  __int128 signedValue = negative ? -static_cast<__int128>(magnitude) : magnitude;
  if (signedValue < min || signedValue > max) {
    error(value, fmt::format("must be between {} and {}, got {}", min, max, text));
    return std::nullopt;
  }
  int64_t result = static_cast<int64_t>(signedValue);
  return result;
}

std::optional<bool> Scope::boolean(const Value& value) {
  if (!value.present) return std::nullopt;
  if (value.node.IsScalar() && !isQuoted(value.node)) {
    const std::string& text = value.node.Scalar();
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
  }
  error(value, value.node.IsScalar()
                   ? fmt::format("expected true or false, got {}", quote(value.node.Scalar()))
                   : fmt::format("expected true or false, got {}", describe(value.node)));
  return std::nullopt;
}

std::optional<Duration> Scope::duration(const Value& value, Duration minimum) {
  auto text = string(value, 64);
  if (!text) return std::nullopt;
  auto parsed = syntax::parseDuration(*text);
  if (!parsed) {
    error(value, fmt::format("invalid duration {} (expected e.g. \"10s\", \"250ms\", \"1h30m\")",
                             quote(*text)));
    return std::nullopt;
  }
  if (*parsed < minimum) {
    error(value, fmt::format("must be at least {}", syntax::formatDuration(minimum)));
    return std::nullopt;
  }
  return parsed;
}

std::optional<Duration> Scope::duration(const Value& value, Duration minimum, Duration maximum) {
  auto parsed = duration(value, minimum);
  if (parsed && *parsed > maximum) {
    error(value, fmt::format("must be at most {}", syntax::formatDuration(maximum)));
    return std::nullopt;
  }
  return parsed;
}

std::optional<uint32_t> Scope::percentage(const Value& value) {
  if (!value.present) return std::nullopt;
  if (!value.node.IsScalar()) {
    error(value, fmt::format("expected a number, got {}", describe(value.node)));
    return std::nullopt;
  }
  const std::string& text = value.node.Scalar();
  if (isQuoted(value.node)) {
    error(value, fmt::format("expected a number, got the string {}", quote(text)));
    return std::nullopt;
  }
  auto perMillion = syntax::parsePercentage(text);
  if (!perMillion) {
    error(value, fmt::format("expected a percentage from 0 to 100 with at most 4 decimals "
                             "(e.g. 12.5), got {}",
                             quote(text)));
    return std::nullopt;
  }
  return perMillion;
}

std::string Scope::unknownValueMessage(std::string_view got,
                                       const std::vector<std::string_view>& expected) {
  std::string list;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (i > 0) list += i + 1 == expected.size() ? " or " : ", ";
    list += expected[i];
  }
  return fmt::format("unknown value {} (expected {})", quote(got), list);
}

}  // namespace trellis::config
