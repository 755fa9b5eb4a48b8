#include "cli/kinds.h"

#include <gtest/gtest.h>

#include "cli/cli_error.h"
#include "cli/get_delete.h"

namespace trellis::cli {
namespace {

TEST(Kinds, CaseInsensitivePluralAndShortAliases) {
  EXPECT_EQ(resolveKind("HTTPRoute"), "HTTPRoute");
  EXPECT_EQ(resolveKind("httproutes"), "HTTPRoute");
  EXPECT_EQ(resolveKind("HR"), "HTTPRoute");
  EXPECT_EQ(resolveKind("svc"), "Service");
  EXPECT_EQ(resolveKind("Services"), "Service");
  EXPECT_EQ(resolveKind("wl"), "Workload");
  EXPECT_EQ(resolveKind("grpcroutes"), "GRPCRoute");
  EXPECT_EQ(resolveKind("listeners"), "Listener");
  EXPECT_EQ(resolveKind("pa"), "PeerAuthentication");
  EXPECT_EQ(resolveKind("PeerAuthentications"), "PeerAuthentication");
  EXPECT_EQ(resolveKind("peerauthentication"), "PeerAuthentication");
  EXPECT_EQ(resolveKind("route"), std::nullopt);
}

TEST(Kinds, UnknownKindSuggestsTheClosestAndListsAll) {
  try {
    requireKind("htproutes");
    FAIL() << "expected an error";
  } catch (const CliError& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("unknown resource kind \"htproutes\""), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean \"httproutes\"?"), std::string::npos) << message;
    EXPECT_NE(message.find("workloads (wl)"), std::string::npos) << message;
  }
  try {
    requireKind("pods");
    FAIL() << "expected an error";
  } catch (const CliError& error) {
    EXPECT_EQ(std::string(error.what()).find("did you mean"), std::string::npos) << error.what();
  }
}

TEST(Kinds, PluralOfCanonicalKind) {
  EXPECT_EQ(pluralOf("HTTPRoute"), "httproutes");
  EXPECT_EQ(pluralOf("Service"), "services");
  EXPECT_EQ(pluralOf("PeerAuthentication"), "peerauthentications");
}

TEST(Kinds, KindSlashName) {
  EXPECT_EQ(kindAndName("hr/billing", ""),
            (std::pair<std::string, std::string>{"HTTPRoute", "billing"}));
  EXPECT_EQ(kindAndName("svc", "auth"), (std::pair<std::string, std::string>{"Service", "auth"}));
  EXPECT_EQ(kindAndName("svc", ""), (std::pair<std::string, std::string>{"Service", ""}));
  EXPECT_THROW(kindAndName("hr/billing", "billing"), CliError);
  EXPECT_THROW(kindAndName("nope/billing", ""), CliError);
}

}  // namespace
}  // namespace trellis::cli
