#include "proxy/identity/http_client.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "http/http1_parser.h"

namespace trellis::proxy::identity {
namespace {

using Clock = std::chrono::steady_clock;

enum class Wait { Ready, TimedOut, Cancelled, Failed };

/// Waits until `fd` has `events`, the deadline passes or the cancel descriptor is readable.
Wait waitFor(int fd, short events, Clock::time_point deadline, int cancelFd) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Wait::TimedOut;
    pollfd fds[2] = {{fd, events, 0}, {cancelFd, POLLIN, 0}};
    const int n = ::poll(fds, cancelFd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Wait::Failed;
    }
    if (n == 0) continue;  // re-checks the deadline
    if (cancelFd >= 0 && (fds[1].revents & POLLIN) != 0) return Wait::Cancelled;
    if (fds[0].revents != 0) return Wait::Ready;
  }
}

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

HttpResult HttpClient::request(std::string_view method, std::string_view path,
                               std::string_view jsonBody) const {
  HttpResult result;
  const std::string peer = server_.toString();
  auto fail = [&result](std::string message) {
    result.error = std::move(message);
    return result;
  };
  auto waitError = [&](Wait wait, const char* what, std::chrono::milliseconds timeout) {
    switch (wait) {
      case Wait::TimedOut:
        return fmt::format("{} {}: no answer within {} ms", what, peer, timeout.count());
      case Wait::Cancelled:
        return fmt::format("{} {}: cancelled (shutting down)", what, peer);
      case Wait::Failed:
      case Wait::Ready:
        break;
    }
    return fmt::format("{} {}: poll: {}", what, peer, std::strerror(errno));
  };

  Socket sock(::socket(server_.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return fail(fmt::format("socket: {}", std::strerror(errno)));
  const Clock::time_point connectDeadline = Clock::now() + options_.connectTimeout;
  if (::connect(sock.get(), server_.get(), server_.length) != 0) {
    if (errno != EINPROGRESS) {
      return fail(fmt::format("connecting to {}: {}", peer, std::strerror(errno)));
    }
    const Wait wait = waitFor(sock.get(), POLLOUT, connectDeadline, options_.cancelFd);
    if (wait != Wait::Ready) return fail(waitError(wait, "connecting to", options_.connectTimeout));
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return fail(fmt::format("connecting to {}: {}", peer, std::strerror(error)));
  }

  const Clock::time_point deadline = Clock::now() + options_.readTimeout;
  std::string out =
      fmt::format("{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n", method, path, peer);
  if (!jsonBody.empty()) out += "content-type: application/json\r\n";
  if (!jsonBody.empty() || method == "POST" || method == "PUT") {
    out += fmt::format("content-length: {}\r\n", jsonBody.size());
  }
  out += "accept: application/json\r\n\r\n";
  out += jsonBody;
  for (size_t sent = 0; sent < out.size();) {
    const ssize_t n = ::send(sock.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      const Wait wait = waitFor(sock.get(), POLLOUT, deadline, options_.cancelFd);
      if (wait != Wait::Ready) return fail(waitError(wait, "sending to", options_.readTimeout));
    } else {
      return fail(fmt::format("sending to {}: {}", peer, std::strerror(errno)));
    }
  }

  // Reads until the head parses and its body is complete; the parser (strict, RFC 9112) decides
  // where the head ends and how the body is framed.
  std::string in;
  http::ResponseHead head;
  bool haveHead = false;
  std::string contentType;
  bool eof = false;
  size_t bodyStart = 0;
  const http::Limits limits;
  for (;;) {
    if (!haveHead && !in.empty()) {
      http::ParseError error = http::ParseError::None;
      const http::ParseStatus status = http::parseResponseHead(
          in.data() + bodyStart, in.size() - bodyStart, limits, method, head, error);
      if (status == http::ParseStatus::Error) {
        return fail(
            fmt::format("{} sent an invalid response: {}", peer, http::parseErrorName(error)));
      }
      if (status == http::ParseStatus::Complete) {
        if (head.status >= 100 && head.status < 200) {
          bodyStart += head.headBytes;  // 100 Continue and friends: the real answer follows
          continue;
        }
        if (head.framing == http::BodyFraming::Chunked) {
          return fail(fmt::format("{} sent a chunked response; expected content-length", peer));
        }
        haveHead = true;
        bodyStart += head.headBytes;
        // The head's fields view `in`, which the body's bytes may move: copy what is kept now.
        if (const http::HeaderField* type = head.find("content-type")) {
          contentType.assign(type->value);
        }
      }
    }
    if (haveHead) {
      const size_t have = in.size() - bodyStart;
      const bool complete =
          head.framing == http::BodyFraming::None ||
          (head.framing == http::BodyFraming::ContentLength && have >= head.contentLength) ||
          (head.framing == http::BodyFraming::UntilClose && eof);
      if (complete) break;
      if (head.framing == http::BodyFraming::ContentLength &&
          bodyStart + head.contentLength > options_.maxResponseBytes) {
        return fail(fmt::format("{} answered with {} body bytes; at most {} are accepted", peer,
                                head.contentLength, options_.maxResponseBytes));
      }
    }
    if (eof) {
      if (!haveHead) {
        return fail(
            fmt::format("{} closed the connection after {} bytes, before the end of the "
                        "response head",
                        peer, in.size()));
      }
      return fail(fmt::format("{} closed the connection after {} of {} body bytes", peer,
                              in.size() - bodyStart, head.contentLength));
    }
    if (in.size() >= options_.maxResponseBytes) {
      return fail(fmt::format("{} sent more than {} bytes", peer, options_.maxResponseBytes));
    }
    char buffer[16384];
    const ssize_t n = ::recv(sock.get(), buffer, sizeof buffer, 0);
    if (n > 0) {
      in.append(buffer, static_cast<size_t>(n));
    } else if (n == 0) {
      eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      const Wait wait = waitFor(sock.get(), POLLIN, deadline, options_.cancelFd);
      if (wait != Wait::Ready) return fail(waitError(wait, "waiting for", options_.readTimeout));
    } else {
      return fail(fmt::format("reading from {}: {}", peer, std::strerror(errno)));
    }
  }

  HttpResponse response;
  response.status = head.status;
  response.contentType = std::move(contentType);
  const size_t bodyBytes = head.framing == http::BodyFraming::ContentLength
                               ? static_cast<size_t>(head.contentLength)
                               : in.size() - bodyStart;
  response.body = in.substr(bodyStart, bodyBytes);
  result.response = std::move(response);
  return result;
}

}  // namespace trellis::proxy::identity
