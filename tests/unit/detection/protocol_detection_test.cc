#include "http/protocol_detection.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::http {
namespace {

TEST(ProtocolDetection, Http1RequestLines) {
  EXPECT_EQ(detectProtocol("GET / HTTP/1.1\r\n"), DetectedProtocol::Http1);
  EXPECT_EQ(detectProtocol("POST "), DetectedProtocol::Http1);
  EXPECT_EQ(detectProtocol("M-SEARCH * HTTP/1.1"), DetectedProtocol::Http1);
  EXPECT_EQ(detectProtocol("GE"), DetectedProtocol::NeedMoreData);
  EXPECT_EQ(detectProtocol("GET"), DetectedProtocol::NeedMoreData);
}

TEST(ProtocolDetection, Http2PrefaceNeedsAllOfIt) {
  // Every proper prefix of the preface could still be an HTTP/1 "PRI" request.
  for (size_t n = 1; n < kHttp2Preface.size(); ++n) {
    EXPECT_EQ(detectProtocol(kHttp2Preface.substr(0, n)), DetectedProtocol::NeedMoreData) << n;
  }
  EXPECT_EQ(detectProtocol(kHttp2Preface), DetectedProtocol::Http2);
  EXPECT_EQ(detectProtocol(std::string(kHttp2Preface) + "\x00\x00\x12\x04"),
            DetectedProtocol::Http2);
  // "PRI " followed by something else is an (odd) HTTP/1 request.
  EXPECT_EQ(detectProtocol("PRI /x HTTP/1.1\r\n"), DetectedProtocol::Http1);
}

TEST(ProtocolDetection, TlsClientHello) {
  EXPECT_EQ(detectProtocol(std::string("\x16\x03\x01\x02\x00", 5)), DetectedProtocol::Tls);
  EXPECT_EQ(detectProtocol(std::string("\x16", 1)), DetectedProtocol::NeedMoreData);
  EXPECT_EQ(detectProtocol(std::string("\x16\x05", 2)), DetectedProtocol::Opaque);
}

TEST(ProtocolDetection, OpaqueProtocols) {
  // MySQL/PostgreSQL/Redis clients and binary garbage.
  EXPECT_EQ(detectProtocol(std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8)),
            DetectedProtocol::Opaque);
  EXPECT_EQ(detectProtocol("*1\r\n$4\r\nPING\r\n"), DetectedProtocol::Opaque);
  EXPECT_EQ(detectProtocol(" GET /"), DetectedProtocol::Opaque);
  EXPECT_EQ(detectProtocol("GET\t/"), DetectedProtocol::Opaque);
  EXPECT_EQ(detectProtocol(std::string(40, 'A')), DetectedProtocol::Opaque);
  EXPECT_EQ(detectProtocol(std::string(24, 'A')), DetectedProtocol::NeedMoreData);
  EXPECT_EQ(detectProtocol(std::string(24, 'A') + " /"), DetectedProtocol::Http1);
  EXPECT_EQ(detectProtocol(std::string(25, 'A') + " /"), DetectedProtocol::Opaque);
}

TEST(ProtocolDetection, EmptyNeedsMoreData) {
  EXPECT_EQ(detectProtocol(""), DetectedProtocol::NeedMoreData);
}

}  // namespace
}  // namespace trellis::http
