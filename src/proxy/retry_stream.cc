#include "proxy/retry_stream.h"

#include "http/grpc.h"
#include "proxy/connection_gate.h"
#include "proxy/http1_upstream_stream.h"
#include "proxy/http2_upstream_pool.h"
#include "resilience/shared_state.h"

namespace trellis::proxy {
namespace {

int trailersOnlyGrpcStatus(std::span<const http::HeaderField> fields) {
  for (const auto& f : fields) {
    if (f.name == "grpc-status") {
      auto status = http::grpc::parseStatus(f.value);
      return status ? static_cast<int>(*status) : -1;
    }
  }
  return -1;
}

resilience::AttemptFailure attemptFailureOf(UpstreamFailure failure) {
  switch (failure) {
    case UpstreamFailure::ConnectFailure:
    case UpstreamFailure::Overflow:
    case UpstreamFailure::NoEndpoint:
    case UpstreamFailure::TlsFailure:  // as Envoy: a failed handshake is a failed connect
      return resilience::AttemptFailure::ConnectFailure;
    case UpstreamFailure::ConnectTimeout:
      return resilience::AttemptFailure::ConnectTimeout;
    case UpstreamFailure::Refused:
      return resilience::AttemptFailure::Refused;
    case UpstreamFailure::Reset:
      return resilience::AttemptFailure::Reset;
    case UpstreamFailure::BadResponse:
      return resilience::AttemptFailure::BadResponse;
    case UpstreamFailure::PerTryTimeout:
      return resilience::AttemptFailure::PerTryTimeout;
  }
  return resilience::AttemptFailure::Reset;
}

}  // namespace

bool needsRetryStream(Worker& worker, const RouteDecision& route) {
  return route.rule->retry || route.rule->timeouts.perTry.count() > 0 ||
         route.faultDelay.count() > 0 ||
         mustWaitForConnection(worker, *route.cluster, route.endpoint);
}

RetryStream::RetryStream(Worker& worker, RouteDecision& route, AttemptRequest request,
                         UpstreamStreamHandler& handler)
    : worker_(worker),
      route_(route),
      request_(std::move(request)),
      handler_(handler),
      policy_(route.rule->retry ? &*route.rule->retry : nullptr),
      timer_([this] { onTimer(); }),
      perTry_([this] {
        route_.cluster->stats.perTryTimeouts.inc();
        releaseAttempt();
        reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
        attemptFailed(resilience::AttemptFailure::PerTryTimeout, UpstreamFailure::PerTryTimeout);
      }) {
  replaySafe_ = request_.grpc || resilience::idempotentMethod(request_.method) ||
                (policy_ != nullptr && policy_->retryNonIdempotent);
  requestEnded_ = !request_.hasBody;
}

RetryStream::~RetryStream() = default;

RetryStream* RetryStream::open(Worker& worker, RouteDecision& route, AttemptRequest request,
                               config::Duration delay, UpstreamStreamHandler& handler) {
  auto* stream = new RetryStream(worker, route, std::move(request), handler);
  if (delay.count() > 0) {
    stream->pending_ = Pending::FirstAttempt;
    stream->timer_.arm(worker.loop().timers(), static_cast<uint64_t>(delay.count()));
  } else {
    stream->startAttempt();
  }
  return stream;
}

void RetryStream::startAttempt(bool woken) {
  upstream::ClusterRuntime& cluster = *route_.cluster;
  switch (admitAttempt(worker_, cluster, route_.endpoint, *this, woken)) {
    case Admission::Go:
      break;
    case Admission::Wait:
      // Until a connection is freed on this worker; the exchange's request and stream idle
      // timeouts bound the wait, as the route timeout bounds Envoy's pending requests.
      pending_ = Pending::Connection;
      return;
    case Admission::Overflow:
      pending_ = Pending::Overflow;  // reported from the loop, as below
      timer_.arm(worker_.loop().timers(), 0);
      return;
  }
  tellUpstreamTimeLeft();  // after a retry's backoff, or a wait for a connection
  lastEndpoint_ = route_.endpoint;
  sent_ = 0;
  endSent_ = false;
  UpstreamFailure failure = UpstreamFailure::ConnectFailure;
  if (cluster.config.protocol == config::UpstreamProtocol::Http2) {
    attempt_ = worker_.http2Pool().open(cluster, route_.endpoint, request_.http2Fields->fields(),
                                        request_.hasBody, *this, failure);
  } else {
    attempt_ = Http1UpstreamStream::open(worker_, cluster, route_.endpoint, request_.http1Head,
                                         request_.method, request_.hasBody, request_.chunked, *this,
                                         failure);
  }
  if (attempt_ == nullptr) {
    // Could not even start connecting (or another worker took the last connection slot);
    // decided from the loop, since the exchange may be in the middle of a call into this
    // stream.
    if (failure == UpstreamFailure::Overflow) {
      pending_ = Pending::Overflow;
    } else {
      reportOutcome(worker_, cluster, route_.endpoint, 0);
      pending_ = Pending::Failure;
      pendingFailure_ = failure;
    }
    timer_.arm(worker_.loop().timers(), 0);
    return;
  }
  // The shorter of the route's per-try timeout and the retry policy's, as the xDS form says.
  config::Duration perTry = route_.rule->timeouts.perTry;
  if (policy_ != nullptr && policy_->perTryTimeout.count() > 0 &&
      (perTry.count() == 0 || policy_->perTryTimeout < perTry)) {
    perTry = policy_->perTryTimeout;
  }
  if (perTry.count() > 0)
    perTry_.arm(worker_.loop().timers(), static_cast<uint64_t>(perTry.count()));
  pushBody();
}

void RetryStream::tellUpstreamTimeLeft() {
  if (!request_.grpc || request_.deadlineAtMs == 0 || request_.http2Fields == nullptr) return;
  const uint64_t now = worker_.loop().nowMs();
  const uint64_t left = request_.deadlineAtMs > now ? request_.deadlineAtMs - now : 1;
  char value[http::grpc::kMaxTimeoutChars];
  const size_t length = http::grpc::formatTimeout(std::chrono::milliseconds(left), value);
  request_.http2Fields->setValue("grpc-timeout", std::string_view(value, length));
}

void RetryStream::onTimer() {
  const Pending what = pending_;
  pending_ = Pending::None;
  switch (what) {
    case Pending::FirstAttempt:
      startAttempt();
      break;
    case Pending::Retry:
      if (!repickEndpoint(worker_, route_, lastEndpoint_)) {
        route_.cluster->stats.noHealthyEndpoint.inc();
        fail(UpstreamFailure::NoEndpoint);
        return;
      }
      startAttempt();
      break;
    case Pending::Failure:
      attemptFailed(attemptFailureOf(pendingFailure_), pendingFailure_);
      return;
    case Pending::Overflow:  // the pending queue was full; retrying would meet the same limit
      fail(UpstreamFailure::Overflow);
      return;
    case Pending::None:
    case Pending::Connection:  // woken by onConnectionFreed, not by the timer
      return;
  }
  announceRoomAfterOpen();
}

void RetryStream::announceRoomAfterOpen() {
  // Bytes refused while no attempt was open (past the replay buffer) may go now: the new
  // attempt took the whole buffer without refusing, so it will not announce room itself.
  if (wantWritable_ && attempt_ != nullptr && sent_ >= replay_.size()) {
    wantWritable_ = false;
    toHandler([&] { handler_.onUpstreamWritable(); });
  }
}

void RetryStream::releaseAttempt() {
  perTry_.cancel();
  if (attempt_ == nullptr) return;
  UpstreamStream* attempt = attempt_;
  attempt_ = nullptr;
  attempt->release();
}

// ---------------------------------------------------------------------------------------------
// Request direction

size_t RetryStream::sendData(std::string_view data, bool endStream) {
  if (replayable_ && replay_.size() + data.size() > request_.replayLimit) {
    replayable_ = false;  // from here on the body streams through: no more retries
  }
  if (replayable_) {
    replay_.append(data);
    requestEnded_ = requestEnded_ || endStream;
    pushBody();
    return data.size();
  }
  // Past the replay buffer: what it holds goes first, then bytes pass straight through.
  if (attempt_ == nullptr || sent_ < replay_.size()) {
    wantWritable_ = true;
    return 0;
  }
  size_t accepted = attempt_->sendData(data, endStream);
  if (accepted == data.size() && endStream) {
    requestEnded_ = true;
    endSent_ = true;
  }
  if (accepted < data.size()) wantWritable_ = true;
  return accepted;
}

void RetryStream::sendTrailers(std::span<const http::HeaderField> fields) {
  trailers_.clear();
  for (const auto& f : fields) trailers_.emplace_back(f.name, f.value);
  hasTrailers_ = true;
  requestEnded_ = true;
  pushBody();
}

void RetryStream::pushBody() {
  if (attempt_ == nullptr || endSent_ || !request_.hasBody) return;
  while (sent_ < replay_.size()) {
    std::string_view rest = std::string_view(replay_).substr(sent_);
    const bool last = requestEnded_ && !hasTrailers_;
    size_t accepted = attempt_->sendData(rest, last);
    sent_ += accepted;
    if (accepted < rest.size()) return;  // onUpstreamWritable resumes
    if (last) {
      endSent_ = true;
      return;
    }
  }
  if (!requestEnded_) return;
  if (hasTrailers_) {
    std::vector<http::HeaderField> fields;
    fields.reserve(trailers_.size());
    for (const auto& [name, value] : trailers_) fields.push_back({name, value});
    attempt_->sendTrailers(fields);
  } else {
    attempt_->sendData({}, true);
  }
  endSent_ = true;
}

void RetryStream::onUpstreamWritable() {
  pushBody();
  if (wantWritable_ && attempt_ != nullptr && sent_ >= replay_.size()) {
    wantWritable_ = false;
    toHandler([&] { handler_.onUpstreamWritable(); });
  }
}

// ---------------------------------------------------------------------------------------------
// Response direction

void RetryStream::onUpstreamHeaders(int status, std::span<const http::HeaderField> fields,
                                    bool endStream) {
  if (status < 200) {
    if (!committed_) toHandler([&] { handler_.onUpstreamHeaders(status, fields, endStream); });
    return;
  }
  perTry_.cancel();
  reportOutcome(worker_, *route_.cluster, route_.endpoint, status);
  const int grpcStatus = request_.grpc && endStream ? trailersOnlyGrpcStatus(fields) : -1;
  if (!committed_ && policy_ != nullptr &&
      resilience::retriableResponse(*policy_, status, grpcStatus, replaySafe_) && mayRetry()) {
    releaseAttempt();
    return;
  }
  committed_ = true;
  toHandler([&] { handler_.onUpstreamHeaders(status, fields, endStream); });
}

void RetryStream::onUpstreamData(std::string_view data, bool endStream) {
  if (!committed_) {
    if (attempt_ != nullptr) attempt_->consumed(data.size());
    return;
  }
  toHandler([&] { handler_.onUpstreamData(data, endStream); });
}

void RetryStream::onUpstreamTrailers(std::span<const http::HeaderField> fields) {
  if (committed_) toHandler([&] { handler_.onUpstreamTrailers(fields); });
}

void RetryStream::consumed(size_t n) {
  if (attempt_ != nullptr && committed_) attempt_->consumed(n);
}

void RetryStream::onUpstreamFailure(UpstreamFailure failure, uint32_t http2Code) {
  releaseAttempt();
  if (failure != UpstreamFailure::Refused) {
    reportOutcome(worker_, *route_.cluster, route_.endpoint, 0);
  }
  if (committed_) {
    toHandler([&] { handler_.onUpstreamFailure(failure, http2Code); });
    return;
  }
  attemptFailed(attemptFailureOf(failure), failure);
}

// ---------------------------------------------------------------------------------------------
// Retry decisions

void RetryStream::attemptFailed(resilience::AttemptFailure failure, UpstreamFailure reported) {
  if (reported == UpstreamFailure::Refused && refusedRetries_ < kMaxRefusedRetries && replayable_) {
    // Never processed (RFC 9113 §8.7): sent again on the same endpoint, as the exchanges do
    // without a RetryStream, and not counted as a retry.
    ++refusedRetries_;
    pending_ = Pending::FirstAttempt;
    timer_.arm(worker_.loop().timers(), 0);
    return;
  }
  if (policy_ != nullptr && resilience::retriableFailure(*policy_, failure, replaySafe_) &&
      mayRetry()) {
    return;
  }
  fail(reported);
}

bool RetryStream::mayRetry() {
  upstream::ClusterRuntime& cluster = *route_.cluster;
  if (retries_ >= policy_->numRetries || !replayable_) return false;
  if (cluster.state != nullptr) {
    resilience::ClusterShared& shared = *cluster.state->shared;
    if (!holdsRetry_) {
      if (!resilience::tryAcquire(shared.retries, cluster.config.circuitBreaker.maxRetries)) {
        cluster.stats.retryOverflow.inc();
        return false;
      }
      holdsRetry_ = true;
    }
    if (!shared.retryBudget.tryRetry(cluster.config.retryBudget,
                                     static_cast<int64_t>(worker_.loop().nowMs()))) {
      cluster.stats.retryBudgetExhausted.inc();
      resilience::release(shared.retries);
      holdsRetry_ = false;
      return false;
    }
  }
  releaseAttempt();
  ++retries_;
  cluster.stats.retries.inc();
  pending_ = Pending::Retry;
  const config::Duration backoff =
      resilience::backoffDelay(*policy_, retries_, worker_.random().next());
  timer_.arm(worker_.loop().timers(), static_cast<uint64_t>(backoff.count()));
  return true;
}

void RetryStream::fail(UpstreamFailure failure) {
  toHandler([&] { handler_.onUpstreamFailure(failure, 0); });
}

template <typename F>
bool RetryStream::toHandler(F&& call) {
  ++depth_;
  call();
  --depth_;
  if (released_ && depth_ == 0) {
    delete this;
    return false;
  }
  return true;
}

void RetryStream::onConnectionFreed() {
  pending_ = Pending::None;
  startAttempt(/*woken=*/true);
  announceRoomAfterOpen();
}

void RetryStream::release() {
  if (released_) return;
  released_ = true;
  if (pending_ == Pending::Connection) route_.cluster->connections->cancel(*this);
  timer_.cancel();
  releaseAttempt();
  if (holdsRetry_) {
    resilience::release(route_.cluster->state->shared->retries);
    holdsRetry_ = false;
  }
  if (depth_ == 0) delete this;
}

}  // namespace trellis::proxy
