#include "proxy/http2_exchange.h"

#include <algorithm>
#include <charconv>

#include "http/grpc.h"
#include "proxy/head_writer.h"
#include "proxy/http1_upstream_stream.h"
#include "proxy/http2_session.h"
#include "proxy/http2_upstream_pool.h"
#include "proxy/retry_stream.h"

namespace trellis::proxy {
namespace {

namespace grpc = http::grpc;

grpc::Status grpcStatusFor(LocalReason reason, int httpStatus) {
  switch (reason) {
    case LocalReason::RouteNotFound:
      return grpc::Status::Unimplemented;
    case LocalReason::NoHealthyEndpoint:
    case LocalReason::UpstreamConnectFailure:
    case LocalReason::UpstreamConnectTimeout:
    case LocalReason::UpstreamReset:
    case LocalReason::UpstreamBadResponse:
    case LocalReason::Draining:
    case LocalReason::UpstreamOverflow:
    case LocalReason::UpstreamPerTryTimeout:
    case LocalReason::UpstreamTlsFailure:
      return grpc::Status::Unavailable;
    case LocalReason::DeadlineExceeded:
    case LocalReason::UpstreamRequestTimeout:
      return grpc::Status::DeadlineExceeded;
    case LocalReason::RequestBodyTooLarge:
    case LocalReason::RateLimited:
      return grpc::Status::ResourceExhausted;
    case LocalReason::RbacDenied:
    case LocalReason::MtlsRequired:
      return grpc::Status::PermissionDenied;
    default:
      return grpc::statusFromHttp(httpStatus);
  }
}

std::string_view statusDigits(int status, char (&buffer)[8]) {
  auto end = std::to_chars(buffer, buffer + sizeof buffer, status).ptr;
  return std::string_view(buffer, static_cast<size_t>(end - buffer));
}

}  // namespace

Http2Exchange::Http2Exchange(Http2Session& session, int32_t streamId,
                             std::shared_ptr<const WorkerConfig> config,
                             const ListenerRuntime& listener)
    : session_(session),
      id_(streamId),
      config_(std::move(config)),
      listener_(listener),
      requestPending_(&session.worker().buffers()),
      responsePending_(&session.worker().buffers()),
      deadline_([this] { onDeadline(); }),
      streamIdle_([this] { onStreamIdle(); }) {
  session.worker().stats().http2Downstream.streamsTotal.inc();
  session.worker().stats().http2Downstream.streamsActive.add();
}

Http2Exchange::~Http2Exchange() {
  session_.worker().stats().http2Downstream.streamsActive.sub();
  if (inRequest_) {
    if (stats_ != nullptr) stats_->byClass[0].inc();
    listener_.stats->requestsActive.sub();
  }
  releaseUpstream();
  releaseEndpoint(route_);
}

void Http2Exchange::onRequestHeaders(std::span<const http::HeaderField> fields, bool endStream) {
  inRequest_ = true;
  startMicros_ = EventLoop::monotonicMicros();
  listener_.stats->requestsActive.add();
  requestDone_ = endStream;

  std::string_view method, authority, target;
  size_t pseudo = 0;
  for (; pseudo < fields.size() && fields[pseudo].name.starts_with(':'); ++pseudo) {
    const auto& f = fields[pseudo];
    if (f.name == ":method") {
      method = f.value;
    } else if (f.name == ":authority") {
      authority = f.value;
    } else if (f.name == ":path") {
      target = f.value;
    }
  }
  std::span<const http::HeaderField> headers = fields.subspan(pseudo);
  const http::HeaderField* idField = nullptr;
  const http::HeaderField* contentLength = nullptr;
  const http::HeaderField* grpcTimeout = nullptr;
  for (const auto& f : headers) {
    if (f.name == "host" && authority.empty()) {
      authority = f.value;
    } else if (f.name == "x-request-id") {
      idField = &f;
    } else if (f.name == "content-type") {
      grpc_ = grpc::isGrpcContentType(f.value);
    } else if (f.name == "content-length") {
      contentLength = &f;
    } else if (f.name == "grpc-timeout") {
      grpcTimeout = &f;
    }
  }
  chooseRequestId(session_.worker(), idField, requestId_);
  headRequest_ = method == "HEAD";
  if (method == "CONNECT" || target.empty()) {
    // Extended CONNECT (RFC 8441) is not offered; plain CONNECT has no :path to route.
    stats_ = listener_.unroutedStats;
    localReply(405, LocalReason::BadRequest);
    return;
  }
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  routing::RequestView view{method, authority, path, query, headers};
  route_ = decideRoute(session_.worker(), *config_, listener_, view, session_.peerIp(),
                       session_.peerIdentity(), normalizedPath_);
  stats_ = route_.stats;
  if (route_.rule != nullptr && !route_.rule->redirect) {
    requestBodyLimit_ =
        route_.rule->maxRequestBodyBytes.value_or(listener_.config->http.maxRequestBodyBytes);
    uint64_t declared = 0;
    if (contentLength != nullptr) {
      std::from_chars(contentLength->value.data(),
                      contentLength->value.data() + contentLength->value.size(), declared);
    }
    if (requestBodyLimit_ != 0 && declared > requestBodyLimit_) {
      releaseEndpoint(route_);
      localReply(413, LocalReason::RequestBodyTooLarge);
      return;
    }
  }
  if (!route_.forward()) {
    localReply(route_.localStatus, route_.reason, route_.location, route_.retryAfter,
               route_.localGrpcStatus);
    return;
  }
  if (!route_.rule->mirrors.empty()) {
    // Mirroring copies HTTP/1 requests only for now (docs/http2.md, "Limits").
    listener_.stats->mirrorsSkipped.inc(route_.rule->mirrors.size());
  }
  // The request's deadline: the route's request timeout or the gRPC client's own, whichever
  // ends first; a gRPC upstream is told the remaining time in grpc-timeout.
  uint64_t deadlineMs = 0;
  if (grpc_ && grpcTimeout != nullptr) {
    if (auto timeout = grpc::parseTimeout(grpcTimeout->value)) {
      deadlineMs = static_cast<uint64_t>((timeout->count() + 999) / 1000);
    }
  }
  const auto routeTimeout = static_cast<uint64_t>(route_.rule->timeouts.request.count());
  if (routeTimeout > 0 && (deadlineMs == 0 || routeTimeout < deadlineMs)) {
    deadlineMs = routeTimeout;
    routeDeadline_ = true;
  }
  if (deadlineMs > 0) {
    deadline_.arm(session_.worker().loop().timers(), deadlineMs);
    deadlineAtMs_ = session_.worker().loop().nowMs() + deadlineMs;
  }
  const auto idle = route_.rule->timeouts.streamIdle.count() > 0
                        ? route_.rule->timeouts.streamIdle.count()
                        : listener_.config->http.streamIdleTimeout.count();
  streamIdleMs_ = static_cast<uint64_t>(idle);
  if (streamIdleMs_ > 0) {
    noteActivity();
    streamIdle_.arm(session_.worker().loop().timers(), streamIdleMs_);
  }
  startUpstream(headers, method, route_.path, query, authority, !endStream,
                contentLength != nullptr);
}

void Http2Exchange::startUpstream(std::span<const http::HeaderField> headers,
                                  std::string_view method, std::string_view path,
                                  std::string_view query, std::string_view host, bool hasBody,
                                  bool hasLength) {
  const config::RouteRule& rule = *route_.rule;
  std::string rewrittenPath;
  RewrittenTarget target = rewriteTarget(rule, path, host, rewrittenPath);
  ForwardedRequest forwarded{target.path, query, target.host, session_.peerIp(),
                             requestId_,  false, false};
  forwarded.clientCert = session_.clientCert();
  char grpcTimeout[grpc::kMaxTimeoutChars];
  if (grpc_ && routeDeadline_) {
    const auto ms = std::chrono::milliseconds(rule.timeouts.request);
    forwarded.grpcTimeout = std::string_view(grpcTimeout, grpc::formatTimeout(ms, grpcTimeout));
  }
  const config::HeaderModifier* modifier = rule.requestHeaders ? &*rule.requestHeaders : nullptr;
  Worker& worker = session_.worker();
  const bool http2 = route_.cluster->config.protocol == config::UpstreamProtocol::Http2;
  Buffer head(&worker.buffers());
  if (http2) {
    buildUpstreamRequestFields(upstreamFields_, method, headers, nullptr, modifier, forwarded);
  } else {
    forwarded.chunked = hasBody && !hasLength;
    writeUpstreamRequestHead(head, method, headers, modifier, forwarded);
  }
  if (needsRetryStream(worker, route_)) {
    viaRetryStream_ = true;
    AttemptRequest attempt;
    attempt.http2Fields = &upstreamFields_;
    attempt.http1Head.assign(head.view());
    attempt.method.assign(method);
    attempt.hasBody = hasBody;
    attempt.chunked = forwarded.chunked;
    attempt.grpc = grpc_;
    attempt.deadlineAtMs = deadlineAtMs_;
    attempt.replayLimit = listener_.config->http.bufferBytes;
    upstream_ = RetryStream::open(worker, route_, std::move(attempt), route_.faultDelay, *this);
    return;
  }
  UpstreamFailure failure = UpstreamFailure::ConnectFailure;
  if (http2) {
    upstream_ = worker.http2Pool().open(*route_.cluster, route_.endpoint, upstreamFields_.fields(),
                                        hasBody, *this, failure);
  } else {
    upstream_ = Http1UpstreamStream::open(worker, *route_.cluster, route_.endpoint, head.view(),
                                          method, hasBody, forwarded.chunked, *this, failure);
  }
  if (upstream_ == nullptr) {
    if (failure != UpstreamFailure::Overflow) {
      reportOutcome(worker, *route_.cluster, route_.endpoint, 0);
    }
    const FailureReply reply = failureReply(failure);
    localReply(reply.status, reply.reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Request direction

void Http2Exchange::onRequestData(std::string_view data, bool endStream) {
  noteActivity();
  requestBodyBytes_ += data.size();
  if (endStream) requestDone_ = true;
  if (upstream_ == nullptr || responseDone_) {
    // Nobody takes the body any more (answered locally, or finished): let the client go on.
    if (!data.empty()) session_.codec().consumed(id_, data.size());
    return;
  }
  if (requestBodyLimit_ != 0 && requestBodyBytes_ > requestBodyLimit_) {
    session_.codec().consumed(id_, data.size());
    releaseUpstream();
    localReply(413, LocalReason::RequestBodyTooLarge);
    return;
  }
  if (!requestPending_.empty()) {
    requestPending_.append(data);
    requestPendingEnd_ = endStream;
    return;
  }
  size_t accepted = upstream_->sendData(data, endStream);
  if (accepted > 0) {
    bodySent_ = true;
    session_.codec().consumed(id_, accepted);
  }
  if (accepted < data.size()) {
    requestPending_.append(data.substr(accepted));
    requestPendingEnd_ = endStream;
  }
}

void Http2Exchange::onRequestTrailers(std::span<const http::HeaderField> fields) {
  requestDone_ = true;
  if (upstream_ == nullptr || responseDone_) return;
  if (!requestPending_.empty()) {
    pendingRequestTrailers_.clear();
    for (const auto& f : fields) pendingRequestTrailers_.add(f.name, f.value);
    requestTrailersPending_ = true;
    return;
  }
  bodySent_ = true;
  upstream_->sendTrailers(fields);
}

void Http2Exchange::onUpstreamWritable() {
  pushRequestPending();
}

void Http2Exchange::pushRequestPending() {
  if (upstream_ == nullptr) return;
  while (!requestPending_.empty()) {
    std::string_view chunk = requestPending_.view();
    bool last = requestPendingEnd_;
    size_t accepted = upstream_->sendData(chunk, last);
    if (accepted == 0) return;
    bodySent_ = true;
    requestPending_.consume(accepted);
    session_.codec().consumed(id_, accepted);
    session_.scheduleFlush();
    if (accepted < chunk.size()) return;
  }
  requestPending_.shrinkIfEmpty();
  if (requestTrailersPending_) {
    requestTrailersPending_ = false;
    upstream_->sendTrailers(pendingRequestTrailers_.fields());
  }
}

// ---------------------------------------------------------------------------------------------
// Response direction

void Http2Exchange::onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                                      bool endStream) {
  noteActivity();
  if (status < 200 || responseStarted_) return;  // 1xx are not relayed over HTTP/2
  responseStarted_ = true;
  responseStatus_ = status;
  if (!viaRetryStream_) reportOutcome(session_.worker(), *route_.cluster, route_.endpoint, status);
  if (grpc_ && endStream) noteGrpcStatus(fields);  // trailers-only response
  const config::RouteRule* rule = route_.rule;
  buildDownstreamResponseFields(
      fields_, status, fields, nullptr,
      rule != nullptr && rule->responseHeaders ? &*rule->responseHeaders : nullptr);
  if (!session_.codec().submitResponse(id_, fields_.fields(), !endStream)) {
    session_.codec().resetStream(id_, http2::kInternalError);
  }
  session_.scheduleFlush();
  if (endStream) finishResponse();
}

void Http2Exchange::onUpstreamData(std::string_view data, bool endStream) {
  noteActivity();
  if (!responseStarted_ || responseDone_) {
    if (upstream_ != nullptr) upstream_->consumed(data.size());
    return;
  }
  if (!responsePending_.empty()) {
    responsePending_.append(data);
    responsePendingEnd_ = endStream;
    return;
  }
  size_t accepted = session_.codec().submitData(id_, data, endStream);
  if (accepted > 0 && upstream_ != nullptr) upstream_->consumed(accepted);
  session_.scheduleFlush();
  if (accepted < data.size()) {
    responsePending_.append(data.substr(accepted));
    responsePendingEnd_ = endStream;
    return;
  }
  if (endStream) finishResponse();
}

void Http2Exchange::onUpstreamTrailers(std::span<const http::HeaderField> fields) {
  if (!responseStarted_ || responseDone_) return;
  if (grpc_) noteGrpcStatus(fields);
  if (!responsePending_.empty()) {
    pendingTrailers_.clear();
    for (const auto& f : fields) pendingTrailers_.add(f.name, f.value);
    responseTrailersPending_ = true;
    return;
  }
  session_.codec().submitTrailers(id_, fields);
  session_.scheduleFlush();
  finishResponse();
}

void Http2Exchange::onDownstreamWritable() {
  pushResponsePending();
}

void Http2Exchange::pushResponsePending() {
  while (!responsePending_.empty()) {
    std::string_view chunk = responsePending_.view();
    size_t accepted = session_.codec().submitData(id_, chunk, responsePendingEnd_);
    if (accepted == 0) return;
    noteActivity();
    responsePending_.consume(accepted);
    if (upstream_ != nullptr) upstream_->consumed(accepted);
    session_.scheduleFlush();
    if (accepted < chunk.size()) return;
  }
  responsePending_.shrinkIfEmpty();
  if (responseTrailersPending_) {
    responseTrailersPending_ = false;
    session_.codec().submitTrailers(id_, pendingTrailers_.fields());
    session_.scheduleFlush();
    finishResponse();
  } else if (responsePendingEnd_) {
    finishResponse();
  }
}

void Http2Exchange::noteGrpcStatus(std::span<const http::HeaderField> fields) {
  for (const auto& f : fields) {
    if (f.name != "grpc-status") continue;
    auto status = grpc::parseStatus(f.value);
    grpcStatus_ = static_cast<int>(status.value_or(grpc::Status::Unknown));
  }
}

void Http2Exchange::finishResponse() {
  if (responseDone_) return;
  responseDone_ = true;
  deadline_.cancel();
  streamIdle_.cancel();
  record(responseStatus_);
  // The upstream's part is over; an HTTP/1 connection goes back to its pool here.
  releaseUpstream();
  releaseEndpoint(route_);
}

// ---------------------------------------------------------------------------------------------
// Failures, local replies, completion

bool Http2Exchange::retryRefused() {
  if (refusedRetries_ >= kMaxRefusedRetries || bodySent_ || responseStarted_ ||
      upstreamFields_.empty()) {
    return false;
  }
  ++refusedRetries_;
  const bool hasBody = !requestDone_ || !requestPending_.empty();
  UpstreamFailure failure = UpstreamFailure::ConnectFailure;
  upstream_ = session_.worker().http2Pool().open(*route_.cluster, route_.endpoint,
                                                 upstreamFields_.fields(), hasBody, *this, failure);
  if (upstream_ == nullptr) return false;
  pushRequestPending();
  return true;
}

void Http2Exchange::onUpstreamFailure(UpstreamFailure failure, uint32_t http2Code) {
  releaseUpstream();
  if (!viaRetryStream_ && failure != UpstreamFailure::Refused) {
    reportOutcome(session_.worker(), *route_.cluster, route_.endpoint, 0);
  }
  if (responseDone_) return;  // everything already went to the client
  if (failure == UpstreamFailure::Refused && !viaRetryStream_ && retryRefused()) return;
  if (responseStarted_) {
    // Mid-response: the client can only be told by a reset, with the upstream's code if any.
    responseDone_ = true;
    deadline_.cancel();
    session_.codec().resetStream(id_, http2Code != 0 ? http2Code : http2::kInternalError);
    session_.scheduleFlush();
    return;
  }
  FailureReply reply = failureReply(failure);
  localReply(reply.status, reply.reason);
}

void Http2Exchange::onDeadline() {
  releaseUpstream();
  const LocalReason reason =
      routeDeadline_ ? LocalReason::UpstreamRequestTimeout : LocalReason::DeadlineExceeded;
  if (routeDeadline_ && route_.cluster != nullptr) route_.cluster->stats.requestTimeouts.inc();
  listener_.stats->localReplies[static_cast<size_t>(reason)].inc();
  if (!responseStarted_) {
    localReply(504, reason);
    return;
  }
  // Headers are out: end the call with DEADLINE_EXCEEDED in trailers if nothing is queued,
  // else reset (the client's own deadline fires at the same moment anyway).
  if (grpc_ && responsePending_.empty() && !responseDone_) {
    fields_.clear();
    fields_.add("grpc-status", "4");
    fields_.add("grpc-message", localReasonName(reason));
    fields_.add("x-trellis-reason", localReasonName(reason));
    grpcStatus_ = static_cast<int>(grpc::Status::DeadlineExceeded);
    if (!session_.codec().submitTrailers(id_, fields_.fields())) {
      session_.codec().resetStream(id_, http2::kCancel);
    }
    finishResponse();
  } else {
    responseDone_ = true;
    session_.codec().resetStream(id_, http2::kCancel);
  }
  session_.scheduleFlush();
}

void Http2Exchange::noteActivity() {
  lastActivityMs_ = session_.worker().loop().nowMs();
}

void Http2Exchange::onStreamIdle() {
  if (responseDone_) return;
  const uint64_t idle = session_.worker().loop().nowMs() - lastActivityMs_;
  if (idle < streamIdleMs_) {
    streamIdle_.arm(session_.worker().loop().timers(), streamIdleMs_ - idle);
    return;
  }
  releaseUpstream();
  if (!responseStarted_) {
    localReply(504, LocalReason::StreamIdleTimeout);
    return;
  }
  listener_.stats->localReplies[static_cast<size_t>(LocalReason::StreamIdleTimeout)].inc();
  responseDone_ = true;
  deadline_.cancel();
  session_.codec().resetStream(id_, http2::kCancel);
  session_.scheduleFlush();
}

void Http2Exchange::onDownstreamReset() {
  responseDone_ = true;
  deadline_.cancel();
  releaseUpstream();  // resets the upstream stream, or closes its HTTP/1 connection
}

void Http2Exchange::localReply(int status, LocalReason reason, std::string_view location,
                               uint32_t retryAfter, int grpcStatus) {
  if (responseStarted_) {
    session_.codec().resetStream(id_, http2::kInternalError);
    session_.scheduleFlush();
    return;
  }
  if (reason != LocalReason::DeadlineExceeded && reason != LocalReason::UpstreamRequestTimeout) {
    listener_.stats->localReplies[static_cast<size_t>(reason)].inc();
  }
  if (stats_ == nullptr) stats_ = listener_.unroutedStats;
  responseStarted_ = true;
  std::string_view reasonName = localReasonName(reason);
  char digits[8];
  fields_.clear();
  if (grpc_) {
    // Trailers-only gRPC response: a gRPC client must not see an HTTP error page.
    grpc::Status code =
        grpcStatus >= 0 ? static_cast<grpc::Status>(grpcStatus) : grpcStatusFor(reason, status);
    grpcStatus_ = static_cast<int>(code);
    fields_.add(":status", "200");
    fields_.add("content-type", "application/grpc");
    fields_.add("grpc-status", statusDigits(static_cast<int>(code), digits));
    fields_.add("grpc-message", reasonName);
    fields_.add("x-trellis-reason", reasonName);
    fields_.add("x-request-id", requestId_);
    session_.codec().submitResponse(id_, fields_.fields(), false);
    responseStatus_ = 200;
  } else {
    fields_.add(":status", statusDigits(status, digits));
    fields_.add("content-type", "text/plain");
    char length[8];
    fields_.add("content-length", statusDigits(static_cast<int>(reasonName.size() + 1), length));
    fields_.add("x-trellis-reason", reasonName);
    fields_.add("x-request-id", requestId_);
    if (!location.empty()) fields_.add("location", location);
    char seconds[8];
    if (retryAfter > 0) {
      fields_.add("retry-after",
                  statusDigits(static_cast<int>(std::min(retryAfter, 9999999u)), seconds));
    }
    // A HEAD response announces the length of the body it does not carry (RFC 9110 §9.3.2).
    session_.codec().submitResponse(id_, fields_.fields(), !headRequest_);
    if (!headRequest_) {
      std::string body(reasonName);
      body += '\n';
      session_.codec().submitData(id_, body, true);
    }
    responseStatus_ = status;
  }
  session_.scheduleFlush();
  // A body the client is still sending is read and dropped (onRequestData): a reset here could
  // overtake the queued reply.
  finishResponse();
}

void Http2Exchange::record(int status) {
  if (!inRequest_) return;
  inRequest_ = false;
  listener_.stats->requestsActive.sub();
  if (stats_ == nullptr) return;
  size_t cls = status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0;
  stats_->byClass[cls].inc();
  if (grpc_) {
    size_t code = grpcStatus_ >= 0 ? static_cast<size_t>(grpcStatus_)
                                   : static_cast<size_t>(grpc::Status::Unknown);
    stats_->grpcByStatus[code].inc();
  }
  stats_->duration.observeMicros(EventLoop::monotonicMicros() - startMicros_);
}

void Http2Exchange::releaseUpstream() {
  if (!requestPending_.empty()) {
    // Nobody will take these any more: give the client's window its bytes back.
    session_.codec().consumed(id_, requestPending_.size());
    requestPending_.clear();
    requestPending_.shrinkIfEmpty();
  }
  requestTrailersPending_ = false;
  if (upstream_ == nullptr) return;
  UpstreamStream* upstream = upstream_;
  upstream_ = nullptr;
  upstream->release();
}

}  // namespace trellis::proxy
