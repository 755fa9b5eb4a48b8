#pragma once
// One accepted client connection of trellis-echo. It reads requests (pipelined requests are
// answered in order), applies the echo knobs and writes the responses. Sockets are
// non-blocking and edge-triggered; the owning EchoWorker forwards readiness and timer events.
// A connection that opens with the HTTP/2 preface is handed to an EchoHttp2Connection.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "apps/echo/echo_http2_connection.h"
#include "apps/echo/echo_knobs.h"
#include "apps/echo/echo_response.h"
#include "apps/echo/timer_queue.h"
#include "http/http1_parser.h"

namespace trellis::echo {

class EchoConnection {
 public:
  EchoConnection(int fd, uint64_t id, const EchoIdentity& identity, TimerQueue& timers,
                 EchoHttp2Shared& http2Shared);
  ~EchoConnection();
  EchoConnection(const EchoConnection&) = delete;
  EchoConnection& operator=(const EchoConnection&) = delete;

  /// Handles epoll readiness `events`. Returns false once the connection is finished; the
  /// caller then destroys it (which closes the socket).
  bool onEvents(uint32_t events);
  /// Handles a timer this connection scheduled. Returns false once the connection is finished.
  bool onTimer(uint64_t token);

 private:
  enum class State : uint8_t {
    Head,       // waiting for a request head
    Body,       // reading (and counting) the request body
    Delayed,    // request complete, response held by the delay knob
    Streaming,  // writing a body=N response piece by piece
    Tunnel,     // after a WebSocket upgrade: echo raw bytes
    Closing,    // flush, send FIN, discard input until the peer closes
    Http2,      // the connection speaks HTTP/2: http2_ drives it
  };
  enum class Step : uint8_t { Progress, Idle, Finished };
  enum class Reply : uint8_t { Echo, Health, BadKnob };
  enum class ReadResult : uint8_t { Data, WouldBlock, Eof, NoRoom, Error };

  bool drive();
  bool driveClosing();
  Step advance();
  Step parseHead();
  Step switchToHttp2();
  bool afterHttp2(EchoHttp2Connection::Outcome outcome);
  void leaveHttp2();
  Step readBody();
  Step produceStream();
  Step echoTunnel();
  void beginRequest();
  Step finishRequest();
  Step respond();
  void respondEcho();
  void respondText(int status, std::string_view text);
  void respondError(int status, std::string_view reason);
  void startWebSocket();
  void afterResponse();
  void startClosing() { state_ = State::Closing; }
  Step resetConnection();

  bool flushOutput();
  ReadResult readInput();
  bool makeReadRoom();
  size_t pendingOutput() const { return out_.size() - outStart_; }

  const int fd_;
  const uint64_t id_;
  const EchoIdentity& identity_;
  TimerQueue& timers_;
  EchoHttp2Shared& http2Shared_;

  State state_ = State::Head;
  bool readable_ = false;
  bool writable_ = true;
  bool peerHalfClosed_ = false;  // EPOLLRDHUP seen: a short read no longer proves drained
  bool peerClosed_ = false;      // read returned 0
  bool shutdownSent_ = false;
  uint64_t timerToken_ = 0;  // also counts the tokens of http2_'s timers
  bool protocolKnown_ = false;
  std::unique_ptr<EchoHttp2Connection> http2_;

  std::vector<char> in_;  // received bytes [inStart_, inEnd_) not yet consumed
  size_t inStart_ = 0;
  size_t inEnd_ = 0;
  std::string out_;  // bytes [outStart_, size) not yet sent
  size_t outStart_ = 0;

  http::Limits limits_;
  http::RequestHead head_;  // reused: its header vector keeps its capacity
  EchoKnobs knobs_;

  // The request being served; the head's views die with the input buffer, so what the response
  // needs is copied out (the JSON echo is rendered right away, minus the body size).
  Reply reply_ = Reply::Echo;
  bool keepAlive_ = true;
  bool http10_ = false;
  bool isHeadMethod_ = false;
  bool chunkedBody_ = false;
  uint64_t bodyRemaining_ = 0;
  uint64_t bodyBytes_ = 0;
  http::ChunkedFramer framer_;
  std::string json_;
  uint64_t streamRemaining_ = 0;
  bool streamChunked_ = false;
};

}  // namespace trellis::echo
