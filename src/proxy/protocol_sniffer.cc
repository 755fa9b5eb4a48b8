#include "proxy/protocol_sniffer.h"

#include "http/protocol_detection.h"
#include "proxy/http2_session.h"
#include "proxy/http_session.h"
#include "proxy/tcp_session.h"

namespace trellis::proxy {

ProtocolSniffer::ProtocolSniffer(Worker& worker, std::unique_ptr<Connection> down,
                                 const SocketAddress& peer, size_t listenerIndex)
    : worker_(worker),
      down_(std::move(down)),
      peer_(peer),
      listenerIndex_(listenerIndex),
      timer_([this] { handOff(Target::Tcp); }) {
  down_->setOwner(this);
}

ProtocolSniffer::~ProtocolSniffer() = default;

void ProtocolSniffer::begin() {
  const auto& listener = *worker_.config()->listeners[listenerIndex_].config;
  timer_.arm(worker_.loop().timers(), static_cast<uint64_t>(listener.detectTimeout.count()));
  // Bytes read before (a PERMISSIVE listener's first-byte look) announce nothing again.
  if (!down_->in().empty() && classify()) return;
  onConnectionEvent(*down_, EPOLLIN);
}

void ProtocolSniffer::drain() {
  close();  // nothing was received yet: nothing is lost
}

void ProtocolSniffer::onConnectionEvent(Connection& /*connection*/, uint32_t /*events*/) {
  while (down_ && down_->readReady()) {
    auto result = down_->read(1024);
    if (result == Connection::ReadResult::Again) break;
    if (result != Connection::ReadResult::Data) {
      // A client that closes before saying anything, or says too little to classify: relay
      // what there is as TCP (half-close carried), or just close.
      if (down_->in().empty()) {
        close();
      } else {
        handOff(Target::Tcp);
      }
      return;
    }
    if (classify()) return;
  }
}

bool ProtocolSniffer::classify() {
  switch (http::detectProtocol(down_->in().view())) {
    case http::DetectedProtocol::NeedMoreData:
      return false;
    case http::DetectedProtocol::Http1:
      handOff(Target::Http1);
      return true;
    case http::DetectedProtocol::Http2:
      handOff(Target::Http2);
      return true;
    case http::DetectedProtocol::Tls:
    case http::DetectedProtocol::Opaque:
      handOff(Target::Tcp);
      return true;
  }
  return false;
}

void ProtocolSniffer::handOff(Target target) {
  timer_.cancel();
  // The configuration may have changed while waiting: the listener index is only valid for the
  // snapshot the worker had at accept time, which worker.config() still is unless a reload
  // happened; then the connection is simply closed (rare, and the client retries).
  const auto& config = worker_.config();
  if (listenerIndex_ >= config->listeners.size() ||
      config->listeners[listenerIndex_].config->protocol != config::ListenerProtocol::Auto) {
    close();
    return;
  }
  down_->setOwner(nullptr);
  std::unique_ptr<Session> next;
  switch (target) {
    case Target::Http1:
      next = std::make_unique<HttpSession>(worker_, std::move(down_), peer_, listenerIndex_);
      break;
    case Target::Http2:
      next = std::make_unique<Http2Session>(worker_, std::move(down_), peer_.ip(), config,
                                            &config->listeners[listenerIndex_]);
      break;
    case Target::Tcp:
      next = std::make_unique<TcpSession>(worker_, std::move(down_), peer_, listenerIndex_);
      break;
  }
  worker_.release(this);
  worker_.adopt(std::move(next));
}

void ProtocolSniffer::close() {
  if (!down_) return;
  timer_.cancel();
  down_->setOwner(nullptr);
  worker_.loop().deferDestroy(std::move(down_));
  worker_.release(this);
}

}  // namespace trellis::proxy
