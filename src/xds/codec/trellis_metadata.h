#pragma once
// Trellis-only settings under metadata.filter_metadata["trellis.dev"]: a protobuf Struct that
// encode fills and decode reads with type and range checks. 32-bit integers and durations (in
// milliseconds, keys ending in "Ms") travel as numbers; 64-bit integers as decimal strings (a
// Struct number is a double).

#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "config/model.h"
#include "envoy/config/core/v3/base.pb.h"
#include "xds/codec/problems.h"
#include "xds/codec/resources.h"

namespace trellis::xds::detail {

using google::protobuf::Struct;

void setNumber(Struct& fields, std::string_view key, double value);
void setString(Struct& fields, std::string_view key, std::string_view value);
void setBool(Struct& fields, std::string_view key, bool value);
void setDurationMs(Struct& fields, std::string_view key, config::Duration value);
Struct& setObject(Struct& fields, std::string_view key);
google::protobuf::ListValue& setList(Struct& fields, std::string_view key);

/// Attaches `fields` as metadata["trellis.dev"] of `resource` unless it is empty (a resource
/// without Trellis-only settings has no metadata at all).
template <typename Resource>
void attach(Struct fields, Resource& resource) {
  if (fields.fields().empty()) return;
  (*resource.mutable_metadata()->mutable_filter_metadata())[std::string(kTrellisMetadata)] =
      std::move(fields);
}

/// Reads one Struct of Trellis settings. Every key must be read by an accessor before finish(),
/// which reports the first unknown key: a setting this version does not know is an error, not a
/// silent difference.
class FieldsReader {
 public:
  /// metadata["trellis.dev"] of a resource (`metadata` may be null: no settings).
  FieldsReader(const envoy::config::core::v3::Metadata* metadata, Problems& problems,
               std::string_view path);
  /// A nested object, e.g. the "grpc" settings of a route.
  FieldsReader(const Struct& fields, Problems& problems, std::string path);

  bool has(std::string_view key) const;
  std::optional<uint64_t> integer(std::string_view key, uint64_t min, uint64_t max);
  /// 64-bit integer written as a decimal string.
  std::optional<int64_t> bigInteger(std::string_view key, int64_t min, int64_t max);
  std::optional<std::string> string(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  /// Milliseconds in [1, kMaxDuration].
  std::optional<config::Duration> duration(std::string_view key);
  const Struct* object(std::string_view key);
  const google::protobuf::ListValue* list(std::string_view key);

  std::string pathOf(std::string_view key) const;
  Problems& problems() { return problems_; }
  bool finish();

 private:
  const google::protobuf::Value* get(std::string_view key, google::protobuf::Value::KindCase kind,
                                     std::string_view expected);

  const Struct* fields_ = nullptr;
  Problems& problems_;
  std::string path_;
  std::set<std::string, std::less<>> read_;
};

}  // namespace trellis::xds::detail
