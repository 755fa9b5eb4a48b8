// Fuzzes the HTTP/1 head parsers and the chunked framer. The first byte picks the mode:
//   0 request head, 1 response head (its second byte picks the request method), 2 chunked body.
// Beyond "no crash", it checks that results lie inside the input and do not depend on how the
// bytes arrive (prefix and split consistency).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "http/http1_parser.h"

namespace {

using namespace trellis::http;

void check(bool ok) {
  if (!ok) std::abort();
}

bool inside(std::string_view view, const char* data, size_t len) {
  return view.empty() || (view.data() >= data && view.data() + view.size() <= data + len);
}

void checkHead(const MessageHead& head, const char* data, size_t len) {
  check(head.headBytes <= len);
  check(head.versionMinor <= 1);
  for (const HeaderField& field : head.headers) {
    check(!field.name.empty());
    check(inside(field.name, data, head.headBytes) && inside(field.value, data, head.headBytes));
    for (char c : field.name) check(detail::kTokenLower[static_cast<uint8_t>(c)] == c);
    for (char c : field.value) check(detail::kFieldValue[static_cast<uint8_t>(c)]);
    if (!field.value.empty()) {
      check(field.value.front() != ' ' && field.value.front() != '\t');
      check(field.value.back() != ' ' && field.value.back() != '\t');
    }
  }
}

Limits smallLimits() {
  Limits limits;
  limits.maxHeadBytes = 2048;
  limits.maxHeaders = 16;
  limits.maxUrlBytes = 256;
  return limits;
}

void fuzzRequest(const std::vector<char>& input) {
  const Limits limits = smallLimits();
  std::vector<char> buf(input);
  RequestHead head;
  ParseError error = ParseError::None;
  const ParseStatus status = parseRequestHead(buf.data(), buf.size(), limits, head, error);
  check((status == ParseStatus::Error) == (error != ParseError::None));
  check(!parseErrorName(error).empty());
  if (status != ParseStatus::Complete) {
    check(head.headBytes == 0);
  } else {
    checkHead(head, buf.data(), buf.size());
    check(head.headBytes <= limits.maxHeadBytes);
    check(head.target.size() <= limits.maxUrlBytes);
    check(!head.method.empty() && inside(head.method, buf.data(), head.headBytes));
    check(inside(head.target, buf.data(), head.headBytes));
    for (char c : head.target) check(c > 0x20 && c < 0x7f);
    check(head.path == "/" || inside(head.path, buf.data(), head.headBytes));
    check(inside(head.query, buf.data(), head.headBytes));
    check(inside(head.host, buf.data(), head.headBytes));
    check(head.headers.size() <= limits.maxHeaders);
  }
  // Any prefix must agree: Incomplete, the same error, or (once the head is in) the same head.
  const size_t cut =
      (input.size() * 7919 + (input.empty() ? 0 : static_cast<uint8_t>(input.back()))) %
      (input.size() + 1);
  std::vector<char> prefix(input.begin(), input.begin() + static_cast<long>(cut));
  RequestHead prefixHead;
  ParseError prefixError = ParseError::None;
  const ParseStatus prefixStatus =
      parseRequestHead(prefix.data(), prefix.size(), limits, prefixHead, prefixError);
  if (prefixStatus == ParseStatus::Complete) {
    check(status == ParseStatus::Complete && prefixHead.headBytes == head.headBytes);
    check(prefixHead.framing == head.framing && prefixHead.contentLength == head.contentLength);
  } else if (prefixStatus == ParseStatus::Error) {
    check(status == ParseStatus::Error && prefixError == error);
  } else if (status == ParseStatus::Complete) {
    check(cut < head.headBytes);
  }
  if (!headMayBeComplete(input.data(), input.size(), cut, limits)) {
    // Nothing new could have ended the head or tripped a limit since `cut`.
    check(prefixStatus == ParseStatus::Incomplete ? status != ParseStatus::Complete : true);
  }
}

void fuzzResponse(const std::vector<char>& input) {
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST"};
  const std::string_view method =
      input.empty() ? "GET" : kMethods[static_cast<uint8_t>(input[0]) % 4];
  std::vector<char> buf(input.begin() + (input.empty() ? 0 : 1), input.end());
  ResponseHead head;
  ParseError error = ParseError::None;
  const ParseStatus status =
      parseResponseHead(buf.data(), buf.size(), smallLimits(), method, head, error);
  check((status == ParseStatus::Error) == (error != ParseError::None));
  if (status == ParseStatus::Complete) {
    checkHead(head, buf.data(), buf.size());
    check(head.status >= 100 && head.status <= 999);
    check(inside(head.reason, buf.data(), head.headBytes));
    if (head.framing == BodyFraming::UntilClose) check(!head.keepAlive);
    if (head.status < 200 || method == "HEAD") check(head.framing == BodyFraming::None);
  }
}

void fuzzChunked(const std::vector<char>& input) {
  ChunkedFramer::Limits limits;
  limits.maxChunkLineBytes = 64;
  limits.maxTrailerBytes = 256;
  ChunkedFramer whole(limits);
  size_t wholePayload = 0;
  const auto all = whole.feed(input.data(), input.size(), [&](const char* p, size_t n) {
    check(p >= input.data() && p + n <= input.data() + input.size());
    wholePayload += n;
  });
  check(all.consumed <= input.size());
  check(!(all.done && all.error));
  check(wholePayload <= all.consumed);

  // Feed the same bytes in pieces whose sizes come from the input itself.
  ChunkedFramer pieces(limits);
  size_t offset = 0;
  size_t consumed = 0;
  size_t payload = 0;
  ChunkedFramer::Result last;
  size_t step = input.empty() ? 1 : static_cast<uint8_t>(input[0]) % 7 + 1;
  while (offset < input.size()) {
    const size_t n = std::min(step, input.size() - offset);
    std::vector<char> piece(input.begin() + static_cast<long>(offset),
                            input.begin() + static_cast<long>(offset + n));
    last = pieces.feed(piece.data(), piece.size(), [&](const char*, size_t k) { payload += k; });
    check(last.consumed <= n);
    consumed += last.consumed;
    if (last.done || last.error) break;
    check(last.consumed == n);
    offset += n;
    step = step % 5 + 1;
  }
  check(consumed == all.consumed && payload == wholePayload);
  check(last.done == all.done && last.error == all.error);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<char> input(reinterpret_cast<const char*>(data) + 1,
                                reinterpret_cast<const char*>(data) + size);
  switch (data[0] % 3) {
    case 0:
      fuzzRequest(input);
      break;
    case 1:
      fuzzResponse(input);
      break;
    default:
      fuzzChunked(input);
      break;
  }
  return 0;
}
