// HttpSession's UpstreamStream leg: an HTTP/1.x request forwarded to a cluster whose port
// speaks HTTP/2 (appProtocol h2c or grpc), or through a RetryStream (routes that retry). The
// head becomes HTTP/2 fields (or a re-framed HTTP/1.1 head), a chunked body is de-chunked into
// the stream, and the response comes back as an HTTP/1.1 head with the body as-is
// (content-length) or re-chunked, trailers included.

#include "proxy/chunk_writer.h"
#include "proxy/head_writer.h"
#include "proxy/http2_exchange.h"
#include "proxy/http2_upstream_pool.h"
#include "proxy/http_session.h"
#include "proxy/retry_stream.h"

namespace trellis::proxy {

bool HttpSession::startStreamUpstream(const RuleRuntime& runtime, std::string_view path,
                                      std::string_view host) {
  // WebSocket over HTTP/2 needs extended CONNECT (RFC 8441), which is not offered upstream;
  // upgrades are not retried either (a 101 commits the connection).
  upgradeRequested_ = false;
  if (!route_.rule->mirrors.empty()) {
    listener_->stats->mirrorsSkipped.inc(runtime.mirrors.size());  // fast HTTP/1 path only
  }
  const config::HeaderModifier* modifier =
      route_.rule->requestHeaders ? &*route_.rule->requestHeaders : nullptr;
  const bool http2 = route_.cluster->config.protocol == config::UpstreamProtocol::Http2;
  const bool chunked = requestFraming_ == http::BodyFraming::Chunked;
  ForwardedRequest forwarded{path, request_.query, host, peerIp_, requestId_, false, chunked};
  forwarded.clientCert = clientCert_;
  AttemptRequest attempt;
  if (http2) {
    buildUpstreamRequestFields(h2Fields_, request_.method, request_.headers, &request_, modifier,
                               forwarded);
  } else {
    upstreamHead_.clear();
    writeUpstreamRequestHead(upstreamHead_, request_, modifier, forwarded);
    attempt.http1Head.assign(upstreamHead_.view());
    upstreamHead_.clear();
  }
  down_->in().consume(request_.headBytes);  // request_ views are invalid from here on
  headScanned_ = 0;
  state_ = State::Proxying;
  timer_.cancel();
  armExchangeTimers();
  if (needsRetryStream(worker_, route_)) {
    viaRetryStream_ = true;
    attempt.http2Fields = &h2Fields_;
    attempt.method = method_;
    attempt.hasBody = !requestDone_;
    attempt.chunked = chunked;
    attempt.replayLimit = listener_->config->http.bufferBytes;
    h2up_ = RetryStream::open(worker_, route_, std::move(attempt), route_.faultDelay, *this);
  } else {
    UpstreamFailure failure = UpstreamFailure::ConnectFailure;
    h2up_ = worker_.http2Pool().open(*route_.cluster, route_.endpoint, h2Fields_.fields(),
                                     !requestDone_, *this, failure);
    if (h2up_ == nullptr) {
      if (failure != UpstreamFailure::Overflow) {
        reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
      }
      const FailureReply reply = failureReply(failure);
      localReply(reply.status, reply.reason, {}, !requestDone_);
      return false;
    }
  }
  h2RequestEnded_ = requestDone_;
  h2RequestTrailers_.clear();
  requestChunks_.captureTrailers(&h2RequestTrailers_);
  pushHttp2RequestBody();
  return state_ == State::ReadingHead;
}

void HttpSession::pushHttp2RequestBody() {
  while (h2up_ != nullptr && !h2RequestEnded_) {
    if (!h2RequestPending_.empty()) {
      size_t accepted = h2up_->sendData(h2RequestPending_.view(), false);
      h2BodySent_ = h2BodySent_ || accepted > 0;
      h2RequestPending_.consume(accepted);
      if (!h2RequestPending_.empty()) return;  // onUpstreamWritable resumes
    }
    if (requestDone_) {
      http::parseTrailerSection(h2RequestTrailers_, h2TrailerFields_);
      if (h2TrailerFields_.empty()) {
        h2up_->sendData({}, true);
      } else {
        h2BodySent_ = true;
        h2up_->sendTrailers(h2TrailerFields_);
      }
      h2RequestEnded_ = true;
      return;
    }
    Buffer& in = down_->in();
    if (in.empty()) return;
    size_t consumed = 0;
    if (requestFraming_ == http::BodyFraming::ContentLength) {
      consumed = static_cast<size_t>(std::min<uint64_t>(in.size(), requestRemaining_));
      h2RequestPending_.append(in.data(), consumed);
      requestRemaining_ -= consumed;
      requestDone_ = requestRemaining_ == 0;
    } else {
      auto result = requestChunks_.feed(in.data(), in.size(), [this](const char* p, size_t n) {
        h2RequestPending_.append(p, n);
      });
      if (result.error) {
        listener_->stats->parseErrors[static_cast<size_t>(http::ParseError::BadChunk)].inc();
        releaseUpstream(false);
        localReply(400, LocalReason::BadRequest, "bad_chunk", true);
        return;
      }
      consumed = result.consumed;
      requestDone_ = result.done;
    }
    in.consume(consumed);
    requestBodyBytes_ += consumed;
    requestBodyStarted_ = true;
    if (requestBodyLimit_ != 0 && requestBodyBytes_ > requestBodyLimit_) {
      releaseUpstream(false);
      localReply(413, LocalReason::RequestBodyTooLarge, {}, true);
      return;
    }
  }
}

void HttpSession::onUpstreamWritable() {
  pushHttp2RequestBody();
  if (down_ && h2RequestPending_.empty()) readDownstream();
}

void HttpSession::onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                                    bool endStream) {
  noteActivity();
  if (responseHeadDone_) return;
  if (status < 200) {
    if (status == 100 && !clientIsHttp10_) {
      down_->send("HTTP/1.1 100 Continue\r\n\r\n");
      responseStarted_ = true;
    }
    return;
  }
  responseHeadDone_ = true;
  responseStarted_ = true;
  responseStatus_ = status;
  if (!viaRetryStream_) reportOutcome(worker_, *route_.cluster, route_.endpoint, status);
  bool hasLength = false;
  for (const auto& f : fields) hasLength = hasLength || f.name == "content-length";
  const bool bodyless = method_ == "HEAD" || status == 204 || status == 304;
  ForwardedResponse forwarded;
  h2ResponseChunked_ = !endStream && !hasLength && !bodyless && !clientIsHttp10_;
  forwarded.chunked = h2ResponseChunked_;
  if (!endStream && !hasLength && !bodyless && clientIsHttp10_) clientKeepAlive_ = false;
  if (!requestDone_ || draining_) clientKeepAlive_ = false;
  forwarded.keepAlive = clientKeepAlive_;
  forwarded.clientIsHttp10 = clientIsHttp10_;
  downstreamHead_.clear();
  writeDownstreamResponseHead(
      downstreamHead_, status, fields,
      route_.rule->responseHeaders ? &*route_.rule->responseHeaders : nullptr, forwarded);
  if (endStream) {
    std::string_view head = downstreamHead_.view();
    if (!hasLength && !bodyless) {
      // HTTP/1 needs framing even for an empty body: replace the blank line with a length.
      down_->send(head.substr(0, head.size() - 2), "content-length: 0\r\n\r\n");
    } else {
      down_->send(head);
    }
    finishExchange();
    return;
  }
  // The head leaves with the first body bytes (they usually arrive in the same read): one
  // write instead of two.
  h2HeadPending_ = true;
}

void HttpSession::onUpstreamData(std::string_view data, bool endStream) {
  noteActivity();
  if (!responseHeadDone_ || !down_) return;
  std::string_view head = h2HeadPending_ ? downstreamHead_.view() : std::string_view();
  h2HeadPending_ = false;
  if (h2ResponseChunked_) {
    if (!data.empty() || !head.empty()) sendChunk(*down_, data, head);
    if (endStream) sendLastChunk(*down_, {});
  } else {
    down_->send(head, data);
  }
  if (!data.empty()) {
    h2ResponseUnacked_ += data.size();
    ackHttp2Response();
  }
  if (endStream) finishExchange();
}

void HttpSession::onUpstreamTrailers(std::span<const http::HeaderField> fields) {
  if (!responseHeadDone_ || !down_) return;
  std::string_view head = h2HeadPending_ ? downstreamHead_.view() : std::string_view();
  h2HeadPending_ = false;
  if (h2ResponseChunked_) {
    sendLastChunk(*down_, fields, head);
  } else {
    down_->send(head);
  }
  finishExchange();
}

void HttpSession::ackHttp2Response() {
  // The stream's window reopens only as the client takes the bytes: a slow reader stalls the
  // upstream by window instead of growing our buffer.
  if (h2up_ == nullptr || h2ResponseUnacked_ == 0) return;
  if (down_->pendingBytes() >= listener_->config->http.bufferBytes) return;
  h2up_->consumed(h2ResponseUnacked_);
  h2ResponseUnacked_ = 0;
}

void HttpSession::onUpstreamFailure(UpstreamFailure failure, uint32_t /*http2Code*/) {
  UpstreamStream* stream = h2up_;
  h2up_ = nullptr;
  if (stream != nullptr) stream->release();
  if (!viaRetryStream_ && failure != UpstreamFailure::Refused) {
    reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
  }
  if (h2HeadPending_) {
    // Only the head had arrived and none of it was sent: the client can still get a reply.
    h2HeadPending_ = false;
    responseHeadDone_ = false;
    responseStarted_ = false;
  }
  if (failure == UpstreamFailure::Refused && !viaRetryStream_ &&
      h2Retries_ < Http2Exchange::kMaxRefusedRetries && !h2BodySent_ && !responseStarted_) {
    // Never processed (RFC 9113 §8.7): safe to send again, on a stream with room.
    ++h2Retries_;
    const bool hasBody = !requestDone_ || !h2RequestPending_.empty();
    UpstreamFailure again = UpstreamFailure::ConnectFailure;
    h2up_ = worker_.http2Pool().open(*route_.cluster, route_.endpoint, h2Fields_.fields(), hasBody,
                                     *this, again);
    if (h2up_ != nullptr) {
      h2RequestEnded_ = !hasBody;
      pushHttp2RequestBody();
      return;
    }
  }
  if (responseStarted_) {
    close();  // mid-response: the client can only learn of it by the connection closing
    return;
  }
  FailureReply reply = failureReply(failure);
  localReply(reply.status, reply.reason, {}, !requestDone_);
  resumePipelined();
}

}  // namespace trellis::proxy
