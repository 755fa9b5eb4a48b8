#pragma once
// One stream's subscription to one resource type, state of the world (the xDS protocol's
// "ACK/NACK and resource type instance version" and "How the client specifies what resources
// to return"). Pure logic, no gRPC, so that the protocol rules are testable on their own:
// - a response is due only while the client has an outstanding request for the type: one that
//   arrived after our last response (first request, ACK or NACK of the last response);
// - a version the client NACKed is never sent again on this stream;
// - a request carrying the nonce of an older response is stale: it only refreshes the names;
// - names: "*" subscribes to everything; an empty list does too, but only until the client has
//   named resources (after that it means "nothing"), as the protocol's legacy wildcard rule says.

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/ads/node_config.h"

namespace trellis::controlplane {

class TypeSubscription {
 public:
  enum class RequestKind {
    kInitial,  // no response of this type sent yet on this stream
    kAck,      // the last response, accepted
    kNack,     // the last response, rejected
    kRepeat,   // the last response again, already ACKed or NACKed (e.g. new names)
    kStale,    // an older response: names refreshed, nothing else
  };
  struct RequestResult {
    RequestKind kind = RequestKind::kInitial;
    std::string version;        // ACKed or NACKed: the version of our last response
    bool namesChanged = false;  // the subscription changed to, or within, a named set
  };

  /// Applies one DiscoveryRequest for this type. `errorMessage` is set iff it has error_detail.
  RequestResult onRequest(const std::vector<std::string>& resourceNames, const std::string& nonce,
                          const std::optional<std::string>& errorMessage);

  using Selection = std::vector<const std::pair<std::string, google::protobuf::Any>*>;
  /// The resources to send now, if a response is due given what the node should hold (null:
  /// nothing known yet for this type, so the request waits).
  std::optional<Selection> due(const TypeResources* available) const;
  /// Records the response just queued: the outstanding request is answered.
  void sent(const std::string& version, const Selection& selection, std::string nonce);

  bool wildcard() const { return wildcard_; }
  /// Names subscribed explicitly (without "*").
  const std::set<std::string>& names() const { return names_; }

 private:
  bool seen_ = false;
  bool wildcard_ = false;
  bool namedEver_ = false;  // a non-empty name list was sent: empty no longer means wildcard
  std::set<std::string> names_;
  bool outstanding_ = false;
  bool sentAny_ = false;
  bool lastAnswered_ = false;  // the last response was ACKed or NACKed
  std::string lastNonce_;
  std::string lastVersion_;
  std::vector<std::string> lastNames_;  // resource names in the last response
  std::set<std::string> nacked_;
};

}  // namespace trellis::controlplane
