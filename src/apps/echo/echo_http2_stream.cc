#include "apps/echo/echo_http2_stream.h"

#include <algorithm>

#include "apps/echo/echo_http2_request.h"

namespace trellis::echo {
namespace {

using http::grpc::Status;

// Source of body=N bytes: submitted in pieces, copied into the codec's bounded send queue.
const std::string& filler() {
  static const std::string bytes(size_t{16} * 1024, 'x');
  return bytes;
}

}  // namespace

void EchoHttp2Stream::begin(int32_t id, std::span<const http2::HeaderField> fields, bool endStream,
                            EchoHttp2Context& ctx) {
  id_ = id;
  requestDone_ = delayDone_ = responding_ = finished_ = trailersPending_ = false;
  timerToken_ = 0;
  bodyBytes_ = 0;
  body_.clear();
  bodySent_ = 0;
  fillerLeft_ = 0;
  grpcPending_.clear();

  readHttp2RequestHead(fields, head_);
  headMethod_ = head_.method == "HEAD";
  const http::HeaderField* contentType = head_.find("content-type");
  const bool grpc = contentType != nullptr && http::grpc::isGrpcContentType(contentType->value);
  if (head_.path == "/healthz") {
    knobs_.clear();
    mode_ = Mode::Health;
  } else if (!parseKnobs(head_, knobs_)) {
    mode_ = grpc ? Mode::GrpcReject : Mode::BadKnob;  // INVALID_ARGUMENT for gRPC clients
  } else if (grpc && knobs_.status == 200) {
    mode_ = knobs_.grpcStatus.value_or(Status::Ok) == Status::Ok ? Mode::Grpc : Mode::GrpcReject;
  } else {
    // A status knob other than 200 makes even a gRPC request a plain HTTP reply, which is how
    // tests reach a client's HTTP-to-gRPC status mapping.
    mode_ = Mode::Echo;
    if (!knobs_.bodyBytes) appendEchoJsonStart(ctx.identity(), head_, "HTTP/2", body_);
  }
  if (isGrpc()) {
    // gRPC's delay counts from the request head, so that a streaming call can be held before its
    // first echo; a plain request's delay counts from the end of its body, as over HTTP/1.
    if (knobs_.delay.count() > 0) {
      timerToken_ = ctx.scheduleTimer(knobs_.delay);
    } else {
      respond(ctx);
    }
  }
  if (endStream) requestEnded(ctx);
}

void EchoHttp2Stream::onData(std::string_view data, bool endStream, EchoHttp2Context& ctx) {
  http2::Http2Connection& codec = ctx.codec();
  bodyBytes_ += data.size();
  if (mode_ == Mode::Grpc && !finished_) {
    // Echoed bytes reopen the window only once the codec has taken them: a client that does not
    // read its responses is stalled by flow control, with at most one window held here.
    if (responding_ && grpcPending_.empty()) {
      const size_t taken = codec.submitData(id_, data, false);
      codec.consumed(id_, taken);
      data.remove_prefix(taken);
    }
    grpcPending_.append(data);
  } else {
    codec.consumed(id_, data.size());  // only counted
  }
  if (endStream) requestEnded(ctx);
}

void EchoHttp2Stream::onWritable(EchoHttp2Context& ctx) {
  if (!responding_ || finished_) return;
  if (mode_ == Mode::Grpc) {
    pumpGrpc(ctx);
  } else {
    pumpBody(ctx);
  }
}

void EchoHttp2Stream::onTimer(EchoHttp2Context& ctx) {
  timerToken_ = 0;
  respond(ctx);
}

void EchoHttp2Stream::requestEnded(EchoHttp2Context& ctx) {
  if (requestDone_) return;
  requestDone_ = true;
  if (finished_) return;
  if (isGrpc()) {
    if (!delayDone_) return;  // the timer will respond
    if (mode_ == Mode::GrpcReject) {
      sendGrpcTrailersOnly(ctx);
    } else {
      pumpGrpc(ctx);
    }
    return;
  }
  if (knobs_.delay.count() > 0) {
    timerToken_ = ctx.scheduleTimer(knobs_.delay);
  } else {
    respond(ctx);
  }
}

void EchoHttp2Stream::respond(EchoHttp2Context& ctx) {
  delayDone_ = true;
  if (finished_ || applyConnectionKnobs(ctx)) return;
  switch (mode_) {
    case Mode::Echo:
      sendEcho(ctx);
      break;
    case Mode::Health:
      sendText(200, "ok", ctx);
      break;
    case Mode::BadKnob:
      sendText(400, knobs_.error, ctx);
      break;
    case Mode::Grpc:
      startGrpc(ctx);
      break;
    case Mode::GrpcReject:
      if (requestDone_) sendGrpcTrailersOnly(ctx);
      break;
  }
}

// reset ends only this stream (RST_STREAM INTERNAL_ERROR); close and garbage end the connection.
bool EchoHttp2Stream::applyConnectionKnobs(EchoHttp2Context& ctx) {
  if (knobs_.reset) {
    ctx.codec().resetStream(id_, http2::kInternalError);
  } else if (knobs_.close || knobs_.garbage) {
    ctx.closeConnection(knobs_.garbage);
  } else {
    return false;
  }
  finished_ = true;
  return true;
}

void EchoHttp2Stream::sendEcho(EchoHttp2Context& ctx) {
  const int status = knobs_.status;
  const bool sendBody = !headMethod_ && statusAllowsBody(status);
  std::string_view contentType;
  uint64_t length = 0;
  if (knobs_.bodyBytes) {
    contentType = "application/octet-stream";
    length = *knobs_.bodyBytes;
    fillerLeft_ = sendBody ? length : 0;
  } else {
    appendEchoJsonEnd(bodyBytes_, body_);
    contentType = "application/json";
    length = body_.size();
    if (!sendBody) body_.clear();
  }
  fields_.startResponse(ctx.identity(), status, contentType,
                        statusAllowsBody(status) ? std::optional<uint64_t>(length) : std::nullopt);
  fields_.addKnobs(knobs_.headers);
  trailersPending_ = !knobs_.trailers.empty();
  sendHead(ctx);
}

void EchoHttp2Stream::sendText(int status, std::string_view text, EchoHttp2Context& ctx) {
  fields_.startResponse(ctx.identity(), status, "text/plain", text.size());
  body_.assign(headMethod_ ? std::string_view() : text);
  trailersPending_ = false;
  sendHead(ctx);
}

void EchoHttp2Stream::sendHead(EchoHttp2Context& ctx) {
  http2::Http2Connection& codec = ctx.codec();
  const bool hasBody = !body_.empty() || fillerLeft_ > 0 || trailersPending_;
  if (!codec.submitResponse(id_, fields_.view(), hasBody)) {
    codec.resetStream(id_, http2::kInternalError);
    finished_ = true;
    return;
  }
  responding_ = true;
  if (hasBody) {
    pumpBody(ctx);
  } else {
    finished_ = true;
  }
}

// Submits body bytes until the stream's send queue is full; onWritable continues.
void EchoHttp2Stream::pumpBody(EchoHttp2Context& ctx) {
  http2::Http2Connection& codec = ctx.codec();
  for (;;) {
    const bool fromBody = bodySent_ < body_.size();
    std::string_view chunk = std::string_view(body_).substr(bodySent_);
    if (!fromBody) {
      const size_t piece = static_cast<size_t>(std::min<uint64_t>(fillerLeft_, filler().size()));
      chunk = std::string_view(filler()).substr(0, piece);
    }
    if (chunk.empty()) break;
    const bool last = fromBody ? fillerLeft_ == 0 : chunk.size() == fillerLeft_;
    const size_t taken = codec.submitData(id_, chunk, last && !trailersPending_);
    if (fromBody) {
      bodySent_ += taken;
    } else {
      fillerLeft_ -= taken;
    }
    if (taken < chunk.size()) return;
  }
  if (trailersPending_) {
    trailersPending_ = false;
    fields_.clear();
    fields_.addKnobs(knobs_.trailers);
    codec.submitTrailers(id_, fields_.view());
  }
  finished_ = true;
}

void EchoHttp2Stream::startGrpc(EchoHttp2Context& ctx) {
  http2::Http2Connection& codec = ctx.codec();
  fields_.startResponse(ctx.identity(), 200, "application/grpc", std::nullopt);
  fields_.addKnobs(knobs_.headers);
  if (!codec.submitResponse(id_, fields_.view(), true)) {
    codec.resetStream(id_, http2::kInternalError);
    finished_ = true;
    return;
  }
  responding_ = true;
  pumpGrpc(ctx);
}

void EchoHttp2Stream::pumpGrpc(EchoHttp2Context& ctx) {
  if (!responding_) return;
  http2::Http2Connection& codec = ctx.codec();
  if (!grpcPending_.empty()) {
    const size_t taken = codec.submitData(id_, grpcPending_, false);
    codec.consumed(id_, taken);
    grpcPending_.erase(0, taken);
  }
  if (grpcPending_.empty() && requestDone_) sendGrpcTrailers(ctx);
}

void EchoHttp2Stream::sendGrpcTrailers(EchoHttp2Context& ctx) {
  fields_.clear();
  fields_.addGrpcStatus(grpcStatus(), grpcMessage());
  fields_.addKnobs(knobs_.trailers);
  ctx.codec().submitTrailers(id_, fields_.view());
  finished_ = true;
}

// Trailers-only (gRPC's "Trailers-Only" response): one HEADERS frame with END_STREAM, as a real
// server rejecting a call sends, and as the proxy's own gRPC errors look.
void EchoHttp2Stream::sendGrpcTrailersOnly(EchoHttp2Context& ctx) {
  http2::Http2Connection& codec = ctx.codec();
  fields_.startResponse(ctx.identity(), 200, "application/grpc", std::nullopt);
  fields_.addKnobs(knobs_.headers);
  fields_.addGrpcStatus(grpcStatus(), grpcMessage());
  fields_.addKnobs(knobs_.trailers);
  if (!codec.submitResponse(id_, fields_.view(), false)) {
    codec.resetStream(id_, http2::kInternalError);
  }
  responding_ = finished_ = true;
}

http::grpc::Status EchoHttp2Stream::grpcStatus() const {
  if (!knobs_.error.empty()) return Status::InvalidArgument;
  return knobs_.grpcStatus.value_or(Status::Ok);
}

std::string_view EchoHttp2Stream::grpcMessage() const {
  return knobs_.error.empty() ? std::string_view(knobs_.grpcMessage) : knobs_.error;
}

}  // namespace trellis::echo
