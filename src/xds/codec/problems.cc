#include "xds/codec/problems.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "config/syntax.h"

namespace trellis::xds::detail {

void Problems::enter(std::string_view type, std::string_view name) {
  type_ = type;
  name_ = name;
}

bool Problems::fail(std::string_view field, std::string_view message) {
  if (!error_.empty()) return false;
  error_ = fmt::format("{} {}: ", type_, quote(name_));
  if (!field.empty()) error_.append(field).append(": ");
  error_.append(message);
  return false;
}

std::string printable(std::string_view value) {
  constexpr size_t kMaxShown = 120;
  std::string out;
  for (size_t i = 0; i < value.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (value.size() > kMaxShown) out += "...";
  return out;
}

std::string quote(std::string_view value) {
  return "\"" + printable(value) + "\"";
}

std::string fieldPath(std::string_view base, std::string_view field) {
  if (base.empty()) return std::string(field);
  return fmt::format("{}.{}", base, field);
}

std::string fieldPath(std::string_view base, std::string_view field, size_t index) {
  return fmt::format("{}[{}]", fieldPath(base, field), index);
}

bool onlyFields(const google::protobuf::Message& message,
                std::initializer_list<std::string_view> allowed, Problems& problems,
                std::string_view path) {
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (std::find(allowed.begin(), allowed.end(), field->name()) == allowed.end()) {
      return problems.fail(path, "unsupported " + field->name());
    }
  }
  return true;
}

std::optional<config::Duration> toDuration(const google::protobuf::Duration& value,
                                           Problems& problems, std::string_view path) {
  constexpr int32_t kNanosPerMilli = 1000000;
  if (value.seconds() < 0 || value.nanos() < 0 || value.nanos() > 999999999) {
    problems.fail(path, "must be a non-negative duration");
    return std::nullopt;
  }
  if (value.nanos() % kNanosPerMilli != 0) {
    problems.fail(path, "must be a whole number of milliseconds");
    return std::nullopt;
  }
  if (value.seconds() > kMaxDuration.count() / 1000) {
    problems.fail(path, kMaxDurationMessage);
    return std::nullopt;
  }
  const config::Duration result(value.seconds() * 1000 + value.nanos() / kNanosPerMilli);
  if (result < config::Duration(1)) {
    problems.fail(path, "must be at least 1ms");
    return std::nullopt;
  }
  if (result > kMaxDuration) {
    problems.fail(path, kMaxDurationMessage);
    return std::nullopt;
  }
  return result;
}

void setDuration(google::protobuf::Duration* out, config::Duration value) {
  out->set_seconds(value.count() / 1000);
  out->set_nanos(static_cast<int32_t>((value.count() % 1000) * 1000000));
}

std::optional<uint64_t> inRange(uint64_t value, uint64_t min, uint64_t max, Problems& problems,
                                std::string_view path) {
  if (value < min || value > max) {
    problems.fail(path, fmt::format("{} is out of range [{}, {}]", value, min, max));
    return std::nullopt;
  }
  return value;
}

std::optional<HostPort> toHostPort(const envoy::config::core::v3::Address& address,
                                   Problems& problems, std::string_view path) {
  if (!onlyFields(address, {"socket_address"}, problems, path)) return std::nullopt;
  const std::string socketPath = fieldPath(path, "socket_address");
  if (!address.has_socket_address()) {
    problems.fail(socketPath, "missing");
    return std::nullopt;
  }
  const auto& socket = address.socket_address();
  // `protocol` TCP is the default value, so a set `protocol` field is UDP.
  if (!onlyFields(socket, {"address", "port_value"}, problems, socketPath)) return std::nullopt;
  auto host = config::syntax::canonicalIp(socket.address());
  if (!host) {
    problems.fail(fieldPath(socketPath, "address"),
                  quote(socket.address()) + " is not an IPv4 or IPv6 address");
    return std::nullopt;
  }
  auto port = inRange(socket.port_value(), 1, 65535, problems, fieldPath(socketPath, "port_value"));
  if (!port) return std::nullopt;
  return HostPort{*host, static_cast<uint16_t>(*port)};
}

}  // namespace trellis::xds::detail
