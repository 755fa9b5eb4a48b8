#include "xds/codec/trellis_metadata.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace trellis::xds::detail {

using google::protobuf::Value;

namespace {

Value& slot(Struct& fields, std::string_view key) {
  return (*fields.mutable_fields())[std::string(key)];
}

}  // namespace

void setNumber(Struct& fields, std::string_view key, double value) {
  slot(fields, key).set_number_value(value);
}

void setString(Struct& fields, std::string_view key, std::string_view value) {
  slot(fields, key).set_string_value(std::string(value));
}

void setBool(Struct& fields, std::string_view key, bool value) {
  slot(fields, key).set_bool_value(value);
}

void setDurationMs(Struct& fields, std::string_view key, config::Duration value) {
  setNumber(fields, key, static_cast<double>(value.count()));
}

Struct& setObject(Struct& fields, std::string_view key) {
  return *slot(fields, key).mutable_struct_value();
}

google::protobuf::ListValue& setList(Struct& fields, std::string_view key) {
  return *slot(fields, key).mutable_list_value();
}

FieldsReader::FieldsReader(const envoy::config::core::v3::Metadata* metadata, Problems& problems,
                           std::string_view path)
    : problems_(problems),
      path_(fmt::format("{}.filter_metadata[\"{}\"]", path, kTrellisMetadata)) {
  if (metadata == nullptr) return;
  // Other filters' metadata is theirs; typed metadata has no Trellis meaning.
  if (!onlyFields(*metadata, {"filter_metadata"}, problems, path)) return;
  auto it = metadata->filter_metadata().find(std::string(kTrellisMetadata));
  if (it != metadata->filter_metadata().end()) fields_ = &it->second;
}

FieldsReader::FieldsReader(const Struct& fields, Problems& problems, std::string path)
    : fields_(&fields), problems_(problems), path_(std::move(path)) {}

std::string FieldsReader::pathOf(std::string_view key) const {
  return fmt::format("{}.{}", path_, key);
}

bool FieldsReader::has(std::string_view key) const {
  return fields_ != nullptr && fields_->fields().count(std::string(key)) != 0;
}

const Value* FieldsReader::get(std::string_view key, Value::KindCase kind,
                               std::string_view expected) {
  if (fields_ == nullptr) return nullptr;
  auto it = fields_->fields().find(std::string(key));
  if (it == fields_->fields().end()) return nullptr;
  read_.insert(std::string(key));
  if (it->second.kind_case() != kind) {
    problems_.fail(pathOf(key), fmt::format("expected {}", expected));
    return nullptr;
  }
  return &it->second;
}

std::optional<uint64_t> FieldsReader::integer(std::string_view key, uint64_t min, uint64_t max) {
  const Value* value = get(key, Value::kNumberValue, "a number");
  if (value == nullptr) return std::nullopt;
  const double number = value->number_value();
  if (!std::isfinite(number) || number < 0 || number != std::floor(number) ||
      number > 9007199254740992.0) {
    problems_.fail(pathOf(key), "expected a non-negative integer");
    return std::nullopt;
  }
  return inRange(static_cast<uint64_t>(number), min, max, problems_, pathOf(key));
}

std::optional<int64_t> FieldsReader::bigInteger(std::string_view key, int64_t min, int64_t max) {
  const Value* value = get(key, Value::kStringValue, "an integer in a string");
  if (value == nullptr) return std::nullopt;
  const std::string& text = value->string_value();
  int64_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) {
    problems_.fail(pathOf(key), fmt::format("{} is not a decimal integer", quote(text)));
    return std::nullopt;
  }
  if (number < min || number > max) {
    problems_.fail(pathOf(key), fmt::format("{} is out of range [{}, {}]", number, min, max));
    return std::nullopt;
  }
  return number;
}

std::optional<std::string> FieldsReader::string(std::string_view key) {
  const Value* value = get(key, Value::kStringValue, "a string");
  if (value == nullptr) return std::nullopt;
  return value->string_value();
}

std::optional<bool> FieldsReader::boolean(std::string_view key) {
  const Value* value = get(key, Value::kBoolValue, "a boolean");
  if (value == nullptr) return std::nullopt;
  return value->bool_value();
}

std::optional<config::Duration> FieldsReader::duration(std::string_view key) {
  auto ms = integer(key, 1, static_cast<uint64_t>(kMaxDuration.count()));
  if (!ms) return std::nullopt;
  return config::Duration(static_cast<int64_t>(*ms));
}

const Struct* FieldsReader::object(std::string_view key) {
  const Value* value = get(key, Value::kStructValue, "an object");
  return value == nullptr ? nullptr : &value->struct_value();
}

const google::protobuf::ListValue* FieldsReader::list(std::string_view key) {
  const Value* value = get(key, Value::kListValue, "a list");
  return value == nullptr ? nullptr : &value->list_value();
}

bool FieldsReader::finish() {
  if (fields_ == nullptr || problems_.failed()) return !problems_.failed();
  // Sorted, so that the error does not depend on the map's order.
  std::set<std::string_view> keys;
  for (const auto& [key, value] : fields_->fields()) keys.insert(key);
  for (std::string_view key : keys) {
    if (read_.count(key) == 0)
      return problems_.fail(path_, "unknown Trellis setting " + quote(key));
  }
  return true;
}

}  // namespace trellis::xds::detail
