#pragma once
// Decode-side support: the error that becomes the NACK message, field paths, and checks shared
// by every resource type (allowed fields, durations, typed Any payloads, addresses).

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.h"
#include "envoy/config/core/v3/address.pb.h"

namespace trellis::xds::detail {

/// The first decode error, as `<Type> "<name>": <field>: <message>`.
class Problems {
 public:
  /// Names the resource that later errors belong to.
  void enter(std::string_view type, std::string_view name);
  /// Records an error at `field` (empty: the resource itself) unless one was recorded before.
  /// Always returns false, so that callers can `return problems.fail(...)`.
  bool fail(std::string_view field, std::string_view message);
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  std::string type_;
  std::string name_;
  std::string error_;
};

/// `value` printable: bytes outside visible ASCII become \xNN and long values are cut, so that
/// messages stay valid UTF-8 (they travel in a protobuf string) and short.
std::string printable(std::string_view value);
/// printable(value) in double quotes.
std::string quote(std::string_view value);

/// "base.field" (or "field" when base is empty).
std::string fieldPath(std::string_view base, std::string_view field);
/// "base.field[index]".
std::string fieldPath(std::string_view base, std::string_view field, size_t index);

/// Fails with "unsupported <field>" at `path` for the first set field of `message` that is not
/// in `allowed`: features the model cannot express are rejected, never silently dropped.
bool onlyFields(const google::protobuf::Message& message,
                std::initializer_list<std::string_view> allowed, Problems& problems,
                std::string_view path);

/// Longest duration the loader accepts: "99999h99999m99999s99999ms".
inline constexpr config::Duration kMaxDuration{int64_t{99999} * (3600000 + 60000 + 1000 + 1)};
inline constexpr std::string_view kMaxDurationMessage =
    "must be at most 99999h99999m99999s99999ms (the longest Gateway API duration)";

/// A whole number of milliseconds in [1ms, kMaxDuration].
std::optional<config::Duration> toDuration(const google::protobuf::Duration& value,
                                           Problems& problems, std::string_view path);
void setDuration(google::protobuf::Duration* out, config::Duration value);

/// An integer in [min, max], or a failure naming the range.
std::optional<uint64_t> inRange(uint64_t value, uint64_t min, uint64_t max, Problems& problems,
                                std::string_view path);

/// Unpacks `any` as T, failing when it holds another type or does not parse.
template <typename T>
bool unpack(const google::protobuf::Any& any, T& out, Problems& problems, std::string_view path) {
  if (!any.Is<T>()) {
    return problems.fail(path, "expected " + std::string(T::descriptor()->full_name()) + ", got " +
                                   quote(any.type_url()));
  }
  if (!any.UnpackTo(&out)) {
    return problems.fail(path, "cannot parse " + std::string(T::descriptor()->full_name()));
  }
  return true;
}

/// A TCP socket address with an IP literal and a port: canonical host text and port.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
std::optional<HostPort> toHostPort(const envoy::config::core::v3::Address& address,
                                   Problems& problems, std::string_view path);

}  // namespace trellis::xds::detail
