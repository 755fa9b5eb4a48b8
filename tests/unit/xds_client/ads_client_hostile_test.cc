// The ADS client against a hand-driven HTTP/2 server: message framing a gRPC library would not
// produce on demand, and hostile or broken answers. Each must end in a reset and a reconnect
// (or a NACK), never a crash, and never cost the proxy the configuration it runs.
#include <gtest/gtest.h>

#include "client_harness.h"
#include "http/http2/http2_types.h"
#include "raw_h2_server.h"
#include "test_resources.h"
#include "xds/client/ads_client.h"
#include "xds/client/grpc_message_reader.h"

namespace trellis::xds::client {
namespace {

using namespace test;

AdsClientOptions optionsFor(const std::string& server) {
  AdsClientOptions options;
  options.server = server;
  options.node.id = "edge-1.default";
  options.node.service = "edge";
  options.node.ns = "default";
  options.node.instance = "edge-1";
  return options;
}

std::string framed(const DiscoveryResponse& response) {
  std::string out;
  appendGrpcMessage(out, response.SerializeAsString());
  return out;
}

DiscoveryResponse clustersV(const std::string& version) {
  return response(kClusterType, version, "cds-" + version, std::vector{staticCluster("backend")});
}
DiscoveryResponse listenersV(const std::string& version) {
  return response(kListenerType, version, "lds-" + version,
                  std::vector{tcpListener("tcp", 16001, "backend")});
}

void expectAck(const std::optional<RawH2Server::Received>& request, const std::string& version,
               const std::string& nonce) {
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->request.version_info(), version);
  EXPECT_EQ(request->request.response_nonce(), nonce);
  EXPECT_FALSE(request->request.has_error_detail());
}

/// Opens the stream and applies version "1" (one TCP listener, one static cluster).
void establish(RawH2Server& server, ClientHarness& client) {
  ASSERT_TRUE(server.waitForStreams(1));
  ASSERT_TRUE(server.next(kClusterType));
  ASSERT_TRUE(server.next(kListenerType));
  server.sendChunks({framed(clustersV("1")) + framed(listenersV("1"))});
  expectAck(server.next(kClusterType), "1", "cds-1");
  expectAck(server.next(kListenerType), "1", "lds-1");
  ASSERT_TRUE(client.waitForApplies(1));
}

TEST(AdsClientHostile, MessagesCutAcrossFramesAndSeveralInOneFrame) {
  RawH2Server server;
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  ASSERT_TRUE(server.waitForStreams(1));
  ASSERT_TRUE(server.next(kClusterType));
  ASSERT_TRUE(server.next(kListenerType));

  std::string cds = framed(clustersV("1"));
  std::string lds = framed(listenersV("1"));
  // Three bytes of the prefix alone, the middle, then CDS's tail with all of LDS in one frame.
  server.sendChunks(
      {cds.substr(0, 3), cds.substr(3, cds.size() - 13), cds.substr(cds.size() - 10) + lds});
  expectAck(server.next(kClusterType), "1", "cds-1");
  expectAck(server.next(kListenerType), "1", "lds-1");
  ASSERT_TRUE(client.waitForApplies(1));

  // A message far larger than one DATA frame (16 KiB) and the connection window's first grant.
  Cluster big = staticCluster("backend");
  (*big.mutable_metadata()->mutable_filter_metadata())["trellis.dev"]
      .mutable_fields()
      ->
      operator[]("padding")
      .set_string_value(std::string(3u << 20, 'p'));
  server.sendChunks({framed(response(kClusterType, "2", "cds-2", std::vector{big}))});
  expectAck(server.next(kClusterType), "2", "cds-2");
  ASSERT_TRUE(client.waitForApplies(2));
  EXPECT_EQ(client.applied()[1].clusters[0].ByteSizeLong(), big.ByteSizeLong());
  EXPECT_EQ(client.status().reconnects, 0u);
}

struct BrokenAnswer {
  const char* name;
  std::string bytes;
  const char* reason;  // expected in status().lastDisconnect
};

class AdsClientBrokenMessage : public testing::TestWithParam<BrokenAnswer> {};

TEST_P(AdsClientBrokenMessage, ResetsTheStreamReconnectsAndKeepsTheConfiguration) {
  RawH2Server server;
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  establish(server, client);

  server.sendChunks({GetParam().bytes});
  ASSERT_TRUE(server.waitForResets(1));
  EXPECT_EQ(server.lastResetCode(), http2::kCancel);
  ASSERT_TRUE(server.waitForStreams(2));  // a new connection, after the backoff

  // The new stream resumes from what the proxy holds; the configuration was never touched.
  auto cds = server.next(kClusterType);
  ASSERT_TRUE(cds);
  EXPECT_EQ(cds->connection, 2);
  EXPECT_TRUE(cds->request.has_node());
  EXPECT_EQ(cds->request.version_info(), "1");
  EXPECT_EQ(client.appliedCount(), 1u);
  AdsStatus status = client.status();
  EXPECT_NE(status.lastDisconnect.find(GetParam().reason), std::string::npos)
      << status.lastDisconnect;
  EXPECT_EQ(status.reconnects, 1u);
  EXPECT_EQ(status.nacks, 0u);

  // And the client is whole: the next version goes through on the new stream.
  ASSERT_TRUE(server.next(kListenerType));
  server.sendChunks({framed(clustersV("2")) + framed(listenersV("1"))});
  expectAck(server.next(kClusterType), "2", "cds-2");
  expectAck(server.next(kListenerType), "1", "lds-1");
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, AdsClientBrokenMessage,
    testing::Values(
        // 16 MiB + 1 announced: refused from the prefix alone, nothing buffered.
        BrokenAnswer{"Oversized", std::string("\0\x01\0\0\x01", 5),
                     "gRPC message of 16777217 bytes exceeds the limit of 16777216"},
        // A well-framed message that is not a DiscoveryResponse (field 1, wire type 7).
        BrokenAnswer{"Garbage", std::string("\0\0\0\0\x03\x0f\xff\xff", 8),
                     "unparsable DiscoveryResponse (3 bytes)"},
        BrokenAnswer{"Compressed", std::string("\x01\0\0\0\x01x", 6),
                     "compressed gRPC message, but no grpc-encoding was negotiated"}),
    [](const testing::TestParamInfo<BrokenAnswer>& info) { return info.param.name; });

TEST(AdsClientHostile, NonGrpcAnswerIsRetriedWithBackoff) {
  RawH2Server server;
  server.setStatus(404);
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  ASSERT_TRUE(server.waitForStreams(2));
  server.setStatus(200);  // for connections accepted from now on: the third, or a later one
  ASSERT_TRUE(client.waitForStatus([](const AdsStatus& s) {
    return s.lastDisconnect.find("HTTP status 404") != std::string::npos;
  }));
  // Requests also arrive on the refused streams (sent before the answer): skip those.
  std::optional<RawH2Server::Received> cds;
  do {
    cds = server.next(kClusterType, std::chrono::seconds(20));
    ASSERT_TRUE(cds);
  } while (cds->connection <= 2);
  EXPECT_TRUE(cds->request.has_node());
  EXPECT_GE(client.status().reconnects, 2u);
}

TEST(AdsClientHostile, TrailersEndTheStreamAndTheClientComesBack) {
  RawH2Server server;
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  establish(server, client);

  server.sendTrailers(14, "control plane restarting");
  ASSERT_TRUE(server.waitForStreams(2));
  AdsStatus status = client.status();
  EXPECT_EQ(status.lastDisconnect,
            "stream ended by the server: grpc-status 14 UNAVAILABLE: control plane restarting");
  auto cds = server.next(kClusterType);
  ASSERT_TRUE(cds);
  EXPECT_EQ(cds->connection, 2);
  EXPECT_EQ(client.appliedCount(), 1u);
}

TEST(AdsClientHostile, UnrequestedTypesAreIgnoredNotAnswered) {
  RawH2Server server;
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  establish(server, client);

  // No EDS subscription exists (the cluster is static), and secrets are never asked for.
  server.sendChunks(
      {framed(response(kEndpointType, "1", "eds-1", std::vector{assignment("backend", 1)})) +
       framed(response(kSecretType, "1", "sds-1", std::vector<Cluster>{})) +
       framed(clustersV("2"))});
  expectAck(server.next(kClusterType), "2", "cds-2");
  EXPECT_FALSE(server.next(kEndpointType, std::chrono::milliseconds(0)));
  EXPECT_FALSE(server.next(kSecretType, std::chrono::milliseconds(0)));
  EXPECT_EQ(client.status().ignoredResponses, 2u);
}

TEST(AdsClientHostile, ServerThatNeverReadsIsDroppedInsteadOfQueuedForever) {
  RawH2Server server(/*streamWindow=*/0);  // the client cannot send a single request byte
  ClientHarness client(optionsFor(server.address()));
  ASSERT_EQ(client.start(), "");
  ASSERT_TRUE(server.waitForStreams(1));
  // Each response subscribes to 6000 EDS names of 1 KiB: ~6 MiB of request per response.
  for (int round = 0; round < 3; ++round) {
    DiscoveryResponse clusters;
    clusters.set_type_url(std::string(kClusterType));
    clusters.set_version_info(std::to_string(round));
    clusters.set_nonce("n" + std::to_string(round));
    for (int i = 0; i < 6000; ++i) {
      std::string name = std::to_string(round) + "-" + std::to_string(i) + std::string(1024, 'x');
      clusters.add_resources()->PackFrom(edsCluster(name));
    }
    server.sendChunks({framed(clusters)});
  }
  ASSERT_TRUE(client.waitForStatus([](const AdsStatus& s) {
    return s.lastDisconnect.find("bytes of requests unread") != std::string::npos;
  }));
  ASSERT_TRUE(server.waitForStreams(2));
}

}  // namespace
}  // namespace trellis::xds::client
