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
  // The service name is not part of the identity: which accounts may serve a Service is decided
  // when endpoints are built (admissionProblem, spec.serviceAccounts).
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

TEST(NodeAuth, ACertificateMustNameAWorkload) {
  NodeInfo node = sidecar("", "checkout", "");
  node.id = "checkout-1.";
  EXPECT_NE(refuseNode(node, mutualTls("spiffe://trellis.local/other/path"), {})
                .find("names no workload"),
            std::string::npos);
}

TEST(NodeAuth, ANodeIdGoesOnlyToTheIdentityThatHoldsIt) {
  const NodeInfo checkout = sidecar("shop", "checkout", "checkout");
  // Free ids: any, as long as a sidecar's ends in its namespace.
  EXPECT_EQ(refuseTakeover(checkout, mutualTls(kCheckout), nullptr), "");
  NodeInfo elsewhere = checkout;
  elsewhere.id = "checkout-1.dev";
  EXPECT_NE(refuseTakeover(elsewhere, mutualTls(kCheckout), nullptr).find("does not end in .shop"),
            std::string::npos);
  elsewhere.id = ".shop";
  EXPECT_NE(refuseTakeover(elsewhere, mutualTls(kCheckout), nullptr), "");

  const std::string billing = "spiffe://trellis.local/ns/shop/sa/billing";
  const NodeHolder byBilling{true, billing, true};
  NodeInfo impostor = checkout;
  impostor.id = "billing-1.shop";
  EXPECT_NE(refuseTakeover(impostor, mutualTls(kCheckout), &byBilling).find("held by " + billing),
            std::string::npos);
  // In its grace period too, and never by plaintext.
  const NodeHolder billingGone{true, billing, false};
  EXPECT_NE(refuseTakeover(impostor, mutualTls(kCheckout), &billingGone), "");
  EXPECT_NE(refuseTakeover(sidecar("shop", "billing", ""), {}, &billingGone), "");
  // The same identity takes it back (a restart, a reconnect before the old stream is dead).
  EXPECT_EQ(refuseTakeover(sidecar("shop", "billing", "billing"), mutualTls(billing), &byBilling),
            "");
  // Plaintext to an identity once the plaintext node is gone (restarted with a certificate).
  const NodeHolder plaintextGone{true, "", false};
  const NodeHolder plaintextLive{true, "", true};
  EXPECT_EQ(refuseTakeover(impostor, mutualTls(kCheckout), &plaintextGone), "");
  EXPECT_NE(refuseTakeover(impostor, mutualTls(kCheckout), &plaintextLive), "");
  // Kinds do not mix while connected.
  NodeInfo proxyless;
  proxyless.id = "billing-1.shop";
  EXPECT_NE(refuseTakeover(proxyless, {}, &plaintextLive).find("held by a connected sidecar"),
            std::string::npos);
  const NodeHolder clientLive{false, "", true};
  EXPECT_NE(refuseTakeover(sidecar("shop", "billing", ""), {}, &clientLive), "");
  // A holder gone that proved nothing holds nothing: a proxyless client cannot lock an id.
  const NodeHolder clientGone{false, "", false};
  EXPECT_EQ(refuseTakeover(sidecar("shop", "billing", ""), {}, &clientGone), "");
  EXPECT_EQ(refuseTakeover(proxyless, {}, &plaintextGone), "");
  // Identities compare canonically: the trust domain is case-insensitive.
  EXPECT_EQ(refuseTakeover(sidecar("shop", "billing", "billing"),
                           mutualTls("spiffe://TRELLIS.local/ns/shop/sa/billing"), &billingGone),
            "");
}

}  // namespace
}  // namespace trellis::controlplane
