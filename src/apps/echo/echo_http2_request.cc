#include "apps/echo/echo_http2_request.h"

namespace trellis::echo {

void readHttp2RequestHead(std::span<const http2::HeaderField> fields, http::RequestHead& out) {
  out.headers.clear();  // keeps its capacity for the next request
  out.method = out.target = out.path = out.query = out.host = {};
  out.versionMinor = 1;
  out.framing = http::BodyFraming::None;
  out.contentLength = 0;
  out.keepAlive = true;
  out.connectionUpgrade = out.expectContinue = false;
  out.headBytes = 0;
  std::string_view hostField;
  for (const http2::HeaderField& field : fields) {
    out.headers.push_back(http::HeaderField{field.name, field.value});
    if (field.name == ":method") {
      out.method = field.value;
    } else if (field.name == ":path") {
      out.target = field.value;
    } else if (field.name == ":authority") {
      out.host = field.value;
    } else if (field.name == "host") {
      hostField = field.value;
    }
  }
  if (out.host.empty()) out.host = hostField;
  const size_t question = out.target.find('?');
  out.path = out.target.substr(0, question);
  if (question != std::string_view::npos) out.query = out.target.substr(question + 1);
}

}  // namespace trellis::echo
