#include "apps/echo/listen_address.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace trellis::echo {

std::optional<ListenAddress> parseListenAddress(std::string_view text, std::string& error) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    error = fmt::format("'{}': expected ADDR:PORT", text);
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  std::string_view portText = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (ec != std::errc() || end != portText.data() + portText.size() || portText.empty() ||
      port > 65535) {
    error = fmt::format("'{}': invalid port", text);
    return std::nullopt;
  }
  ListenAddress out;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string ip(host.substr(1, host.size() - 2));
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr) != 1) {
      error = fmt::format("'{}': invalid IPv6 address", text);
      return std::nullopt;
    }
    out.addrLen = sizeof(sockaddr_in6);
    return out;
  }
  std::string ip = (host.empty() || host == "*") ? "0.0.0.0" : std::string(host);
  if (ip == "localhost") ip = "127.0.0.1";
  auto* sin = reinterpret_cast<sockaddr_in*>(&out.addr);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) != 1) {
    error = fmt::format("'{}': invalid IPv4 address", text);
    return std::nullopt;
  }
  out.addrLen = sizeof(sockaddr_in);
  return out;
}

std::string formatAddress(const sockaddr_storage& addr) {
  char ip[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
    return fmt::format("[{}]:{}", ip, ntohs(sin6->sin6_port));
  }
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&addr);
  inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
  return fmt::format("{}:{}", ip, ntohs(sin->sin_port));
}

namespace {

int openOne(const sockaddr_storage& addr, socklen_t len, std::string& error) {
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = fmt::format("socket: {}", std::strerror(errno));
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || listen(fd, 4096) != 0) {
    error = fmt::format("bind/listen {}: {}", formatAddress(addr), std::strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::vector<int> openReusePortListeners(const ListenAddress& address, int count,
                                        sockaddr_storage& bound, std::string& error) {
  std::vector<int> fds;
  sockaddr_storage addr = address.addr;
  for (int i = 0; i < count; ++i) {
    int fd = openOne(addr, address.addrLen, error);
    if (fd < 0) {
      for (int open : fds) close(open);
      return {};
    }
    if (i == 0) {
      // Resolve port 0 once so every worker's socket joins the same reuseport group.
      socklen_t len = sizeof(addr);
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
      bound = addr;
    }
    fds.push_back(fd);
  }
  return fds;
}

}  // namespace trellis::echo
