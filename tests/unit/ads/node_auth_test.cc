// Which claims an ADS stream may make: refuseNode() for each transport and each kind of node.

#include "controlplane/ads/node_auth.h"

#include <gtest/gtest.h>

#include <string>

namespace trellis::controlplane {
namespace {

NodeInfo sidecar(std::string ns, std::string service, std::string serviceAccount) {
  NodeInfo node;
  node.id = service + "-1." + ns;
  node.ns = std::move(ns);
  node.service = std::move(service);
  node.instance = node.service + "-1";
  node.serviceAccount = std::move(serviceAccount);
  return node;
}

StreamPeer mutualTls(std::string spiffeId) {
  return {true, std::move(spiffeId)};
}

constexpr const char* kCheckout = "spiffe://trellis.local/ns/shop/sa/checkout";

TEST(NodeAuth, PlaintextMayNotClaimAServiceAccount) {
  const std::string why = refuseNode(sidecar("shop", "billing", "billing"), {}, {});
  EXPECT_NE(why.find("claims service account billing over plaintext"), std::string::npos) << why;
  // Without a claim it registers (no identity: callers speak plaintext to it) ...
  EXPECT_EQ(refuseNode(sidecar("shop", "billing", ""), {}, {}), "");
  // ... unless trellisd requires mutual TLS of sidecars; proxyless clients register nothing.
  NodeAuthPolicy strict{"trellis.local", true};
  EXPECT_NE(refuseNode(sidecar("shop", "billing", ""), {}, strict).find("--xds-require-mtls"),
            std::string::npos);
  NodeInfo proxyless;
  proxyless.id = "grpc-client";
  EXPECT_EQ(refuseNode(proxyless, {}, strict), "");
}

TEST(NodeAuth, MutualTlsClaimsMustBeTheCertificates) {
  EXPECT_EQ(refuseNode(sidecar("shop", "checkout", "checkout"), mutualTls(kCheckout), {}), "");
  const std::string otherAccount =
      refuseNode(sidecar("shop", "billing", "billing"), mutualTls(kCheckout), {});
  EXPECT_NE(otherAccount.find("claims namespace 'shop' and service account 'billing' but its "
                              "certificate is spiffe://trellis.local/ns/shop/sa/checkout"),
            std::string::npos)
      << otherAccount;
  EXPECT_NE(refuseNode(sidecar("other", "checkout", "checkout"), mutualTls(kCheckout), {}), "");
  EXPECT_NE(refuseNode(sidecar("shop", "checkout", ""), mutualTls(kCheckout), {}), "");
  // The service name is not part of the identity: one account may front several services.
  EXPECT_EQ(refuseNode(sidecar("shop", "checkout-v2", "checkout"), mutualTls(kCheckout), {}), "");
}

TEST(NodeAuth, MutualTlsPeersMustBeOfTheTrustDomainAndHaveASpiffeId) {
  EXPECT_NE(refuseNode(sidecar("shop", "checkout", "checkout"),
                       mutualTls("spiffe://other.domain/ns/shop/sa/checkout"), {})
                .find("not of trust domain trellis.local"),
            std::string::npos);
  EXPECT_NE(refuseNode(sidecar("shop", "checkout", "checkout"), mutualTls(""), {})
                .find("without a SPIFFE ID"),
            std::string::npos);
  // A proxyless client with a certificate of the mesh may read.
  NodeInfo proxyless;
  proxyless.id = "grpc-client";
  EXPECT_EQ(refuseNode(proxyless, mutualTls(kCheckout), {}), "");
  EXPECT_NE(refuseNode(proxyless, mutualTls("spiffe://evil/ns/shop/sa/checkout"), {}), "");
}

}  // namespace
}  // namespace trellis::controlplane
