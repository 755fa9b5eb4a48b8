#include "http/control_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/connection.h"
#include "http/http1_parser.h"
#include "http/status.h"

namespace trellis::http {

/// One connection: read a request (head, then a Content-Length body if allowed), answer, close.
class ControlServer::Client final : public ConnectionOwner {
 public:
  Client(ControlServer& server, int fd)
      : server_(server), connection_(server.loop_, pool_, fd), timeout_([this] { finish(); }) {
    connection_.setOwner(this);
    timeout_.arm(server_.loop_.timers(), server_.options_.requestTimeoutMs);
  }
  void onConnectionEvent(Connection&, uint32_t events) override {
    if (answered_) {
      if (connection_.pendingBytes() == 0 || (events & (EPOLLERR | EPOLLHUP))) finish();
      return;
    }
    while (connection_.readReady()) {
      auto result = connection_.read();
      if (result == Connection::ReadResult::Again) break;
      if (result != Connection::ReadResult::Data) {
        finish();
        return;
      }
      const std::string_view buffered(connection_.in().data(), connection_.in().size());
      http::RequestHead head;
      http::ParseError error;
      auto status = http::parseRequestHead(connection_.in().data(), connection_.in().size(),
                                           http::Limits{}, head, error);
      if (status == http::ParseStatus::Incomplete) continue;
      ControlResponse response;
      if (status == http::ParseStatus::Error) {
        response.status = http::statusFor(error);
        response.body = std::string(http::parseErrorName(error)) + "\n";
      } else if (head.framing == http::BodyFraming::Chunked && server_.options_.maxBodyBytes) {
        response.status = 411;  // clients of control endpoints send Content-Length
        response.body = "send the body with content-length\n";
      } else if (server_.options_.maxBodyBytes &&
                 head.contentLength > server_.options_.maxBodyBytes) {
        response.status = 413;
        response.body =
            "body larger than " + std::to_string(server_.options_.maxBodyBytes) + " bytes\n";
      } else {
        size_t bodyBytes = server_.options_.maxBodyBytes ? head.contentLength : 0;
        const http::HeaderField* authorization = head.find("authorization");
        ControlRequest request{head.method,
                               head.path,
                               head.query,
                               authorization ? std::string_view(authorization->value) : "",
                               {}};
        const auto& mayReadBody = server_.options_.mayReadBody;
        if (bodyBytes > 0 && mayReadBody && !mayReadBody(request)) {
          bodyBytes = 0;  // refused on its head: its body is never buffered
        } else if (buffered.size() < head.headBytes + bodyBytes) {
          continue;  // the rest is on its way
        } else {
          request.body = buffered.substr(head.headBytes, bodyBytes);
        }
        response = server_.handler_(request);
      }
      std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                        std::string(http::reasonPhrase(response.status)) +
                        "\r\ncontent-type: " + response.contentType +
                        "\r\ncontent-length: " + std::to_string(response.body.size()) +
                        "\r\nconnection: close\r\n\r\n";
      answered_ = true;
      connection_.send(out, response.body);
      connection_.shutdownWrite();
      if (connection_.pendingBytes() == 0) finish();
      return;
    }
  }

 private:
  void finish() {
    if (done_) return;
    done_ = true;
    timeout_.cancel();
    connection_.setOwner(nullptr);
    auto it = server_.clients_.find(this);
    if (it != server_.clients_.end()) {
      server_.loop_.deferDestroy(std::move(it->second));
      server_.clients_.erase(it);
    }
  }
  ControlServer& server_;
  BufferPool pool_{4};
  Connection connection_;
  Timer timeout_;
  bool answered_ = false;
  bool done_ = false;
};

/// Accepts admin connections. A spare descriptor is held in reserve so that the admin listener
/// still answers (e.g. a metrics scrape) when the process has run out of descriptors.
class ControlServer::Acceptor final : public EventHandler {
 public:
  Acceptor(ControlServer& server, int fd)
      : server_(server),
        fd_(fd),
        spare_(openSpare()),
        resume_([this] { server_.loop_.watchReadable(fd_, this); }) {
    server_.loop_.watchReadable(fd_, this);
  }
  ~Acceptor() override {
    if (!resume_.armed()) server_.loop_.unwatch(fd_);
    ::close(fd_);
    if (spare_ >= 0) ::close(spare_);
  }
  void onEvents(uint32_t) override {
    for (int i = 0; i < 16; ++i) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0 && (errno == EMFILE || errno == ENFILE) && spare_ >= 0) {
        ::close(spare_);
        fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        spare_ = openSpare();
      }
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          server_.loop_.unwatch(fd_);  // pause rather than spin on a persistent error
          resume_.arm(server_.loop_.timers(), 100);
        }
        return;
      }
      if (server_.clients_.size() >= server_.options_.maxClients) {
        ::close(fd);  // a control endpoint needs few connections; refuse rather than pile up
        continue;
      }
      auto client = std::make_unique<Client>(server_, fd);
      Client* raw = client.get();
      server_.clients_.emplace(raw, std::move(client));
    }
  }

 private:
  static int openSpare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }
  ControlServer& server_;
  int fd_;
  int spare_;
  Timer resume_;
};

ControlServer::ControlServer(EventLoop& loop, Handler handler, Options options)
    : loop_(loop), handler_(std::move(handler)), options_(std::move(options)) {}

ControlServer::~ControlServer() {
  acceptor_.reset();
  clients_.clear();
}

std::string ControlServer::listen(const SocketAddress& address) {
  std::string error;
  int fd = listenOn(address, false, error, 128);
  if (fd < 0) return error;
  port_ = localAddress(fd).value_or(address).port();
  acceptor_ = std::make_unique<Acceptor>(*this, fd);
  return {};
}

void ControlServer::close() {
  acceptor_.reset();
}

}  // namespace trellis::http
