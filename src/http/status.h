#pragma once
// HTTP status code helpers shared by every component that writes a status line.

#include <string_view>

namespace trellis::http {

/// The standard reason phrase for `status` (RFC 9110 §15), or "Unknown".
std::string_view reasonPhrase(int status);

}  // namespace trellis::http
