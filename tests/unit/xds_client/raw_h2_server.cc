#include "raw_h2_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <stdexcept>

#include "common/connection.h"
#include "common/socket.h"
#include "http/http2/http2_connection.h"
#include "xds/client/grpc_message_reader.h"

namespace trellis::xds::client::test {

class RawH2Server::Conn final : public ConnectionOwner, public http2::Http2Connection::Listener {
 public:
  Conn(RawH2Server& server, int fd, int index, int status)
      : server_(server),
        index_(index),
        status_(status),
        socket_(server.loop_, server.buffers_, fd),
        codec_(http2::Http2Connection::Role::kServer, settings(server.streamWindow_), *this,
               server.stats_, &server.buffers_),
        reader_(size_t{1} << 20) {
    socket_.setOwner(this);
    codec_.start();
    flush();
  }

  void sendChunks(const std::vector<std::string>& chunks) {
    for (const std::string& chunk : chunks) {
      codec_.submitData(streamId_, chunk, false);
      flush();
    }
  }
  void sendTrailers(int grpcStatus, const std::string& message) {
    std::string code = std::to_string(grpcStatus);
    const http::HeaderField trailers[] = {{"grpc-status", code}, {"grpc-message", message}};
    codec_.submitTrailers(streamId_, trailers);
    flush();
  }

  void onConnectionEvent(Connection& /*connection*/, uint32_t /*events*/) override {
    if (dead_) return;
    for (;;) {
      Buffer& in = socket_.in();
      if (!in.empty()) {
        size_t used = codec_.receive(in.data(), in.size());
        in.clear();
        if (used == http2::Http2Connection::kFatal) {
          flush();
          dead_ = true;
          return;
        }
      }
      if (!socket_.readReady()) break;
      auto result = socket_.read();
      if (result == Connection::ReadResult::Again) break;
      if (result != Connection::ReadResult::Data && socket_.in().empty()) {
        dead_ = true;
        return;
      }
    }
    flush();
  }

  void onHeaders(int32_t streamId, std::span<const http::HeaderField> /*fields*/,
                 bool /*endStream*/) override {
    streamId_ = streamId;
    if (status_ == 200) {
      const http::HeaderField head[] = {{":status", "200"}, {"content-type", "application/grpc"}};
      codec_.submitResponse(streamId, head, true);
    } else {
      std::string status = std::to_string(status_);
      const http::HeaderField head[] = {{":status", status}, {"content-type", "text/plain"}};
      codec_.submitResponse(streamId, head, false);
    }
    std::lock_guard lock(server_.mutex_);
    server_.streams_++;
    server_.changed_.notify_all();
  }
  void onData(int32_t streamId, std::string_view data, bool /*endStream*/) override {
    codec_.consumed(streamId, data.size());
    reader_.feed(data, [this](std::string_view message) {
      envoy::service::discovery::v3::DiscoveryRequest request;
      if (request.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
        std::lock_guard lock(server_.mutex_);
        server_.requests_.push_back({index_, std::move(request)});
        server_.changed_.notify_all();
      }
      return true;
    });
  }
  void onTrailers(int32_t, std::span<const http::HeaderField>) override {}
  void onStreamReset(int32_t /*streamId*/, uint32_t code) override {
    std::lock_guard lock(server_.mutex_);
    server_.resets_++;
    server_.lastResetCode_ = code;
    server_.changed_.notify_all();
  }
  void onGoaway(int32_t, uint32_t) override {}

 private:
  static http2::Http2Settings settings(uint32_t streamWindow) {
    http2::Http2Settings s;
    s.initialWindowSize = streamWindow;
    s.streamSendBufferBytes = size_t{32} << 20;  // tests queue whole scripted bodies at once
    return s;
  }
  void flush() {
    Buffer out(&server_.buffers_);
    while (codec_.wantWrite()) {
      out.clear();
      if (codec_.drainOutput(out) == 0) break;
      if (!socket_.send(out.view())) break;
    }
  }

  RawH2Server& server_;
  int index_;
  int status_;
  Connection socket_;
  http2::Http2Connection codec_;
  GrpcMessageReader reader_;
  int32_t streamId_ = -1;
  bool dead_ = false;
};

class RawH2Server::Acceptor final : public EventHandler {
 public:
  Acceptor(RawH2Server& server, int fd) : server_(server), fd_(fd) {
    server_.loop_.watchReadable(fd_, this);
  }
  ~Acceptor() override {
    server_.loop_.unwatch(fd_);
    ::close(fd_);
  }
  void onEvents(uint32_t) override {
    for (;;) {
      int fd = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      int status;
      {
        std::lock_guard lock(server_.mutex_);
        status = server_.status_;
      }
      int index = static_cast<int>(server_.conns_.size()) + 1;
      server_.conns_.push_back(std::make_unique<Conn>(server_, fd, index, status));
    }
  }

 private:
  RawH2Server& server_;
  int fd_;
};

RawH2Server::RawH2Server(uint32_t streamWindow) : streamWindow_(streamWindow) {
  std::string error;
  int fd = listenOn(*SocketAddress::parse("127.0.0.1", 0), false, error);
  if (fd < 0) throw std::runtime_error("listen: " + error);
  port_ = localAddress(fd)->port();
  acceptor_ = std::make_unique<Acceptor>(*this, fd);
  thread_ = std::thread([this] { loop_.run(); });
}

RawH2Server::~RawH2Server() {
  // Torn down once the loop has stopped: an event of the current batch may name a connection.
  loop_.stop();
  thread_.join();
  conns_.clear();
  acceptor_.reset();
  loop_.flushDeferred();
}

void RawH2Server::runOnLoop(const std::function<void()>& fn) {
  std::promise<void> done;
  loop_.post([&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void RawH2Server::setStatus(int status) {
  std::lock_guard lock(mutex_);
  status_ = status;
}

void RawH2Server::sendChunks(const std::vector<std::string>& chunks) {
  runOnLoop([&] { conns_.back()->sendChunks(chunks); });
}

void RawH2Server::sendTrailers(int grpcStatus, const std::string& message) {
  runOnLoop([&] { conns_.back()->sendTrailers(grpcStatus, message); });
}

std::optional<RawH2Server::Received> RawH2Server::next(std::string_view typeUrl,
                                                       std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::optional<Received> found;
  changed_.wait_for(lock, timeout, [&] {
    for (auto it = requests_.begin(); it != requests_.end(); ++it) {
      if (it->request.type_url() == typeUrl) {
        found = std::move(*it);
        requests_.erase(it);
        return true;
      }
    }
    return false;
  });
  return found;
}

bool RawH2Server::waitForStreams(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return streams_ >= n; });
}

bool RawH2Server::waitForResets(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return resets_ >= n; });
}

uint32_t RawH2Server::lastResetCode() {
  std::lock_guard lock(mutex_);
  return lastResetCode_;
}

}  // namespace trellis::xds::client::test
