// Connection's TLS against real peers: the openssl command line tool as client (TLS 1.3 with a
// client certificate and ALPN, and TLS 1.2, which must be refused) and as server.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tls_test_util.h"

namespace trellis::tls::testing {
namespace {

using namespace std::chrono_literals;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A shell command in a child process, ended (SIGTERM to its own pid) if still running when
/// destroyed. Commands wrap themselves in `timeout` so that nothing outlives a stuck test.
class Process {
 public:
  explicit Process(const std::string& command) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  bool exited() {
    if (!exited_ && pid_ > 0 && ::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  int exitCode() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool exited_ = false;
};

class OpensslInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/install-deps.sh installs the openssl CLI: without it this is a broken setup.
    ASSERT_EQ(std::system("command -v openssl >/dev/null 2>&1"), 0)
        << "the openssl command is not installed (scripts/install-deps.sh installs it)";
    char dir[] = "/tmp/trellis-tls-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    tmp = dir;
    server = issue(ca, "shop", "checkout");
    client = issue(ca, "shop", "frontend");
    write("ca.pem", ca.chainPem());
    write("server.pem", server.chainPem);
    write("server.key", server.keyPem);
    write("client.pem", client.chainPem);
    write("client.key", client.keyPem);
  }
  void TearDown() override {
    if (!tmp.empty()) std::filesystem::remove_all(tmp);
  }
  std::string write(const std::string& name, const std::string& content) {
    std::ofstream(tmp + "/" + name, std::ios::binary) << content;
    return tmp + "/" + name;
  }
  std::string file(const std::string& name) const { return tmp + "/" + name; }

  /// A server peer that echoes and closes (close_notify) after the first line.
  static void echoOneLine(Peer& p) {
    p.onData = [](Peer& self, std::string_view data) {
      self.received.append(data);
      self.conn->send(data);
      if (data.find('\n') != std::string_view::npos) self.conn->shutdownWrite();
    };
  }

  pki::CertificateAuthority ca = pki::CertificateAuthority::createRoot("mesh.test", 24h);
  Identity server;
  Identity client;
  std::string tmp;
  EventLoop loop;
  BufferPool pool;
};

TEST_F(OpensslInteropTest, OpensslClientWithCertificateAndAlpnTalksToAConnectionServer) {
  Listener listener(loop, pool);
  listener.context = makeContext(Side::Server, server, ca.chainPem(), {"h2", "http/1.1"});
  listener.configure = echoOneLine;
  write("in.txt", "hello over tls 1.3\n");
  Process s_client(
      "exec timeout 20 openssl s_client -connect 127.0.0.1:" + std::to_string(listener.port()) +
      " -tls1_3 -cert " + file("client.pem") + " -key " + file("client.key") + " -CAfile " +
      file("ca.pem") + " -alpn h2 -verify_return_error -quiet < " + file("in.txt") + " > " +
      file("out.txt") + " 2> " + file("err.txt"));
  ASSERT_TRUE(s_client.started());
  ASSERT_TRUE(runUntil(
      loop, [&] { return s_client.exited(); }, 25000));
  EXPECT_EQ(readFile(file("out.txt")), "hello over tls 1.3\n") << readFile(file("err.txt"));
  ASSERT_FALSE(listener.peers.empty());
  Peer& accepted = *listener.peers.front();
  EXPECT_TRUE(accepted.established) << accepted.tlsError;
  EXPECT_EQ(accepted.received, "hello over tls 1.3\n");
  EXPECT_EQ(accepted.conn->peerIdentity(), client.id);
  EXPECT_EQ(accepted.conn->alpn(), "h2");
}

TEST_F(OpensslInteropTest, Tls12ClientIsRefused) {
  Listener listener(loop, pool);
  listener.context = makeContext(Side::Server, server, ca.chainPem());
  listener.configure = echoOneLine;
  write("in.txt", "hello over tls 1.2\n");
  Process s_client("exec timeout 20 openssl s_client -connect 127.0.0.1:" +
                   std::to_string(listener.port()) + " -tls1_2 -cert " + file("client.pem") +
                   " -key " + file("client.key") + " -CAfile " + file("ca.pem") + " -quiet < " +
                   file("in.txt") + " > " + file("out.txt") + " 2> " + file("err.txt"));
  ASSERT_TRUE(runUntil(
      loop, [&] { return s_client.exited(); }, 25000));
  EXPECT_NE(s_client.exitCode(), 0);
  EXPECT_EQ(readFile(file("out.txt")), "");
  ASSERT_TRUE(runUntil(loop, [&] { return !listener.peers.empty() && listener.peers[0]->failed; }));
  EXPECT_NE(listener.peers.front()->tlsError.find("unsupported protocol"), std::string::npos)
      << listener.peers.front()->tlsError;
  EXPECT_EQ(listener.peers.front()->received, "");
}

TEST_F(OpensslInteropTest, ConnectionClientTalksToAnOpensslServerRequiringItsCertificate) {
  Process s_server("exec timeout 20 openssl s_server -accept 127.0.0.1:0 -tls1_3 -cert " +
                   file("server.pem") + " -key " + file("server.key") + " -CAfile " +
                   file("ca.pem") + " -Verify 1 -verify_return_error -alpn h2 -naccept 1 -rev > " +
                   file("server.out") + " 2> " + file("server.err"));
  // s_server prints "ACCEPT 127.0.0.1:<port>" once it listens.
  uint16_t port = 0;
  ASSERT_TRUE(runUntil(
      loop,
      [&] {
        std::string out = readFile(file("server.out"));
        size_t at = out.find("ACCEPT 127.0.0.1:");
        if (at != std::string::npos && out.find('\n', at) != std::string::npos) {
          port = static_cast<uint16_t>(std::atoi(out.c_str() + at + 17));
        }
        return port != 0 || s_server.exited();
      },
      10000))
      << readFile(file("server.err"));
  ASSERT_NE(port, 0) << readFile(file("server.err"));

  auto peer =
      connectPeer(loop, pool, port, makeContext(Side::Client, client, ca.chainPem(), {"h2"}),
                  clientPolicy({server.id}));
  ASSERT_TRUE(peer && !peer->failed);
  peer->onEstablished = [](Peer& p) { p.conn->send("hello\n"); };
  ASSERT_TRUE(runUntil(loop, [&] {
    return peer->received.find("olleh") != std::string::npos || peer->failed || peer->eof ||
           peer->readError;
  })) << readFile(file("server.err"));
  EXPECT_NE(peer->received.find("olleh"), std::string::npos)
      << peer->tlsError << readFile(file("server.err"));
  EXPECT_EQ(peer->conn->peerIdentity(), server.id);
  EXPECT_EQ(peer->conn->alpn(), "h2");
  peer->conn->shutdownWrite();
  peer.reset();
  // -naccept 1: the server ends with our connection.
  ASSERT_TRUE(runUntil(
      loop, [&] { return s_server.exited(); }, 10000));
  // It saw a TLS 1.3 client whose certificate verified against the CA file.
  std::string log = readFile(file("server.err"));
  EXPECT_NE(log.find("Protocol version: TLSv1.3"), std::string::npos) << log;
  EXPECT_NE(log.find("Verification: OK"), std::string::npos) << log;
}

}  // namespace
}  // namespace trellis::tls::testing
