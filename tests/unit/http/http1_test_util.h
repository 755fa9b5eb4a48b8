#pragma once
// Helpers for the HTTP/1 parser tests: parse into an owned buffer so the views stay valid, and
// check that every prefix of a message parses consistently with the whole.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/http1_parser.h"

namespace trellis::http::testing {

/// Owns the buffer a request head was parsed from. Not copyable: the head points into it.
class ParsedRequest {
 public:
  explicit ParsedRequest(std::string bytes, Limits limits = {}) : buf(std::move(bytes)) {
    status = parseRequestHead(buf.data(), buf.size(), limits, head, error);
  }
  ParsedRequest(const ParsedRequest&) = delete;
  ParsedRequest& operator=(const ParsedRequest&) = delete;

  std::string buf;
  RequestHead head;
  ParseStatus status;
  ParseError error = ParseError::None;
};

class ParsedResponse {
 public:
  explicit ParsedResponse(std::string bytes, std::string_view method = "GET", Limits limits = {})
      : buf(std::move(bytes)) {
    status = parseResponseHead(buf.data(), buf.size(), limits, method, head, error);
  }
  ParsedResponse(const ParsedResponse&) = delete;
  ParsedResponse& operator=(const ParsedResponse&) = delete;

  std::string buf;
  ResponseHead head;
  ParseStatus status;
  ParseError error = ParseError::None;
};

/// Every strict prefix of `bytes` must be Incomplete or fail with `expected`; never Complete and
/// never a different error. Pass ParseError::None for a message that is valid as a whole.
template <typename Parse>
void expectPrefixesConsistent(const std::string& bytes, size_t headBytes, ParseError expected,
                              Parse&& parse) {
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::string prefix = bytes.substr(0, cut);
    ParseError error = ParseError::None;
    const ParseStatus status = parse(prefix, error);
    if (expected == ParseError::None && cut >= headBytes) {
      EXPECT_EQ(status, ParseStatus::Complete) << "cut " << cut;
      continue;
    }
    if (status == ParseStatus::Incomplete) continue;
    EXPECT_EQ(status, ParseStatus::Error) << "cut " << cut;
    EXPECT_EQ(error, expected) << "cut " << cut << ": got " << parseErrorName(error);
  }
}

inline void expectRequestPrefixes(const std::string& bytes, size_t headBytes, ParseError expected,
                                  Limits limits = {}) {
  expectPrefixesConsistent(bytes, headBytes, expected, [&](std::string& b, ParseError& e) {
    RequestHead head;
    return parseRequestHead(b.data(), b.size(), limits, head, e);
  });
}

inline void expectResponsePrefixes(const std::string& bytes, size_t headBytes, ParseError expected,
                                   std::string_view method = "GET") {
  expectPrefixesConsistent(bytes, headBytes, expected, [&](std::string& b, ParseError& e) {
    ResponseHead head;
    return parseResponseHead(b.data(), b.size(), Limits{}, method, head, e);
  });
}

/// Asserts that `bytes` is rejected with `expected`, and that no prefix says otherwise.
inline void expectRequestError(const std::string& bytes, ParseError expected, Limits limits = {}) {
  ParsedRequest r(bytes, limits);
  EXPECT_EQ(r.status, ParseStatus::Error) << bytes;
  EXPECT_EQ(r.error, expected) << bytes << "\n got " << parseErrorName(r.error);
  expectRequestPrefixes(bytes, bytes.size(), expected, limits);
}

inline void expectResponseError(const std::string& bytes, ParseError expected,
                                std::string_view method = "GET") {
  ParsedResponse r(bytes, method);
  EXPECT_EQ(r.status, ParseStatus::Error) << bytes;
  EXPECT_EQ(r.error, expected) << bytes << "\n got " << parseErrorName(r.error);
  expectResponsePrefixes(bytes, bytes.size(), expected, method);
}

inline std::string header(std::string_view name, std::string_view value) {
  return std::string(name) + ": " + std::string(value) + "\r\n";
}

}  // namespace trellis::http::testing
