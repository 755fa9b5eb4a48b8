#pragma once
// Listening sockets for trellis-echo: one SO_REUSEPORT socket per worker thread and address.

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis::echo {

/// A parsed `ADDR:PORT` (IPv4, `[IPv6]`, or `:PORT` / `*:PORT` for all interfaces).
struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t addrLen = 0;
};

/// Parses `ADDR:PORT`; returns nullopt (and sets `error`) when it is not a numeric address.
std::optional<ListenAddress> parseListenAddress(std::string_view text, std::string& error);

/// Formats a bound socket address as `ADDR:PORT` (`[ADDR]:PORT` for IPv6).
std::string formatAddress(const sockaddr_storage& addr);

/// Opens `count` non-blocking listening sockets sharing one port via SO_REUSEPORT. A port of 0
/// is resolved by the first bind and reused by the others. Returns the fds (empty on failure,
/// with `error` set) and stores the bound address in `bound`.
std::vector<int> openReusePortListeners(const ListenAddress& address, int count,
                                        sockaddr_storage& bound, std::string& error);

}  // namespace trellis::echo
