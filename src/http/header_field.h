#pragma once
// A header field as both codecs hand it over: views into the codec's buffers, names lower case,
// so routing and translation work the same on HTTP/1 and HTTP/2 requests.

#include <string_view>

namespace trellis::http {

struct HeaderField {
  std::string_view name;   // lower case
  std::string_view value;  // leading/trailing whitespace trimmed
};

}  // namespace trellis::http
