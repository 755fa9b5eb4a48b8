#pragma once
// Thin, error-returning wrappers over the BSD socket calls the proxy needs.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace trellis {

/// A numeric IPv4/IPv6 address and port.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  static std::optional<SocketAddress> parse(std::string_view host, uint16_t port);
  /// Parses "1.2.3.4:80" or "[::1]:80".
  static std::optional<SocketAddress> parseHostPort(std::string_view hostPort);
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  std::string ip() const;
  uint16_t port() const;
  std::string toString() const;  // "1.2.3.4:80" / "[::1]:80"
  bool isLoopback() const;
};

/// Listening socket bound to `address`, non-blocking, SO_REUSEADDR and (optionally)
/// SO_REUSEPORT. Returns -1 and sets `error` on failure.
int listenOn(const SocketAddress& address, bool reusePort, std::string& error, int backlog = 4096);
/// Starts a non-blocking connect. Returns the fd (connect may be in progress) or -1.
int connectTo(const SocketAddress& address);
/// The local address of a bound socket.
std::optional<SocketAddress> localAddress(int fd);
void setNoDelay(int fd);
/// Closes with RST instead of FIN (SO_LINGER 0).
void closeWithReset(int fd);

}  // namespace trellis
