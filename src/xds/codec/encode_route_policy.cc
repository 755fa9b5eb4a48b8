// Model → a route's resilience settings. Standard fields:
//   RouteAction.timeout (always set on forwarding routes: 0s turns off Envoy's default of 15s),
//     idle_timeout (the stream idle timeout; absent = the listener's);
//   RouteAction.retry_policy: retry_on (Envoy tokens, the gRPC ones included), num_retries,
//     per_try_timeout (the earlier of the rule's two per-try timeouts), retriable_status_codes,
//     retry_back_off;
//   Route.typed_per_filter_config: "envoy.filters.http.fault" (HTTPFault: fixed delay, abort,
//     header matchers; shares per million) and "envoy.filters.http.local_ratelimit"
//     (LocalRateLimit: token_bucket, enabled and enforced for 100% of requests; for gRPC clients,
//     which have no such filter, wrapped in an optional FilterConfig).
// metadata["trellis.dev"]: perTryTimeoutMs (the rule's own per-try timeout), retry {perTryTimeout
// (retry on a per-try timeout), grpcStatuses (those without an Envoy token), nonIdempotent,
// perTryTimeoutMs (the retry policy's own, when it is not per_try_timeout)}, fault
// {abortGrpcStatus (with an HTTP abort: gRPC requests get it instead)}, rateLimit (keyed buckets:
// Envoy would share one bucket between all keys), and routeAction: the timeout and retry fields
// of a redirect or direct response, which have no RouteAction (protobuf JSON).

#include <google/protobuf/util/json_util.h>

#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb.h"
#include "xds/codec/policy.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::route::v3::RouteAction;
using envoy::type::v3::FractionalPercent;

void setPerMillion(FractionalPercent& out, uint32_t perMillion) {
  out.set_numerator(perMillion);
  out.set_denominator(FractionalPercent::MILLION);
}

void encodeRetry(const config::RetryPolicy& retry, config::Duration routePerTry,
                 RouteAction& action, Struct& metadata) {
  auto* policy = action.mutable_retry_policy();
  std::string retryOn;
  auto add = [&retryOn](std::string_view token) {
    if (!retryOn.empty()) retryOn += ',';
    retryOn += token;
  };
  for (const RetryToken& token : kRetryTokens) {
    if ((retry.retryOn & token.flag) != 0) add(token.name);
  }
  if (!retry.retriableStatusCodes.empty()) add(kRetriableStatusCodesToken);
  uint32_t tokenStatuses = 0;
  for (const GrpcRetryToken& token : kGrpcRetryTokens) {
    tokenStatuses |= 1u << token.code;
    if ((retry.retriableGrpcStatuses & (1u << token.code)) != 0) add(token.name);
  }
  policy->set_retry_on(retryOn);
  policy->mutable_num_retries()->set_value(retry.numRetries);
  const config::Duration perTry = effectivePerTryTimeout(routePerTry, retry.perTryTimeout);
  if (perTry.count() != 0) setDuration(policy->mutable_per_try_timeout(), perTry);
  for (uint16_t code : retry.retriableStatusCodes) policy->add_retriable_status_codes(code);
  setDuration(policy->mutable_retry_back_off()->mutable_base_interval(), retry.backoffBase);
  setDuration(policy->mutable_retry_back_off()->mutable_max_interval(), retry.backoffMax);

  Struct extras;
  if ((retry.retryOn & config::kRetryPerTryTimeout) != 0) setBool(extras, "perTryTimeout", true);
  const uint32_t otherStatuses = retry.retriableGrpcStatuses & ~tokenStatuses;
  if (otherStatuses != 0) {
    auto& list = setList(extras, "grpcStatuses");
    for (int code = 0; code < 32; ++code) {
      if ((otherStatuses & (1u << code)) != 0) list.add_values()->set_number_value(code);
    }
  }
  if (retry.retryNonIdempotent) setBool(extras, "nonIdempotent", true);
  if (retry.perTryTimeout != perTry) setDurationMs(extras, "perTryTimeoutMs", retry.perTryTimeout);
  if (!extras.fields().empty()) setObject(metadata, "retry") = std::move(extras);
}

void encodeFault(const config::FaultInjection& fault, RouteDialect dialect,
                 envoy::config::route::v3::Route& route, Struct& metadata) {
  envoy::extensions::filters::http::fault::v3::HTTPFault out;
  if (fault.delay.count() != 0 || fault.delayPerMillion != 0) {
    auto* delay = out.mutable_delay();
    setDuration(delay->mutable_fixed_delay(), fault.delay);
    setPerMillion(*delay->mutable_percentage(), fault.delayPerMillion);
  }
  const bool httpAbort = fault.abortHttpStatus != 0;
  const bool grpcAbort = fault.abortGrpcStatus >= 0;
  if (httpAbort || grpcAbort || fault.abortPerMillion != 0) {
    auto* abort = out.mutable_abort();
    if (httpAbort) {
      abort->set_http_status(fault.abortHttpStatus);
    } else if (grpcAbort) {
      abort->set_grpc_status(static_cast<uint32_t>(fault.abortGrpcStatus));
    }
    setPerMillion(*abort->mutable_percentage(), fault.abortPerMillion);
    // Envoy derives a gRPC request's status from http_status; the model may name another.
    if (httpAbort && grpcAbort) {
      setNumber(setObject(metadata, "fault"), "abortGrpcStatus", fault.abortGrpcStatus);
    }
  }
  for (const config::ValueMatch& header : fault.headers) {
    encodeHeaderMatch(header, dialect, *out.add_headers());
  }
  (*route.mutable_typed_per_filter_config())[std::string(kFaultFilter)].PackFrom(out);
}

void encodeRateLimit(const config::LocalRateLimit& limit, RouteDialect dialect,
                     envoy::config::route::v3::Route& route) {
  envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit out;
  out.set_stat_prefix(std::string(kLocalRateLimitStatPrefix));
  auto* bucket = out.mutable_token_bucket();
  bucket->set_max_tokens(limit.maxTokens);
  bucket->mutable_tokens_per_fill()->set_value(limit.tokensPerFill);
  setDuration(bucket->mutable_fill_interval(), limit.fillInterval);
  // Envoy's defaults are 0%: the bucket would never apply.
  for (auto* percent : {out.mutable_filter_enabled(), out.mutable_filter_enforced()}) {
    percent->mutable_default_value()->set_numerator(100);
    percent->mutable_default_value()->set_denominator(FractionalPercent::HUNDRED);
  }
  auto& any = (*route.mutable_typed_per_filter_config())[std::string(kLocalRateLimitFilter)];
  if (dialect == RouteDialect::Grpc) {
    // gRPC NACKs a per-route config of a filter it does not have unless it is optional.
    envoy::config::route::v3::FilterConfig optional;
    optional.mutable_config()->PackFrom(out);
    optional.set_is_optional(true);
    any.PackFrom(optional);
  } else {
    any.PackFrom(out);
  }
}

}  // namespace

void encodeRouteTimeouts(const config::RouteRule& rule, RouteDialect dialect, bool forwarding,
                         RouteAction& action, Struct& metadata) {
  const config::RouteTimeouts& timeouts = rule.timeouts;
  // Absent, Envoy's request timeout is 15s; the model's default is none.
  if (forwarding || timeouts.request.count() != 0) {
    setDuration(action.mutable_timeout(), timeouts.request);
  }
  if (timeouts.streamIdle.count() != 0) {
    setDuration(action.mutable_idle_timeout(), timeouts.streamIdle);
  }
  if (timeouts.perTry.count() != 0) setDurationMs(metadata, "perTryTimeoutMs", timeouts.perTry);
  if (!rule.retry) return;
  // gRPC NACKs num_retries 0; no retry policy retries as little.
  if (dialect == RouteDialect::Grpc && rule.retry->numRetries == 0) return;
  encodeRetry(*rule.retry, timeouts.perTry, action, metadata);
}

void encodeRouteFilters(const config::RouteRule& rule, RouteDialect dialect,
                        envoy::config::route::v3::Route& route, Struct& metadata) {
  if (rule.fault) encodeFault(*rule.fault, dialect, route, metadata);
  if (!rule.rateLimit) return;
  if (rule.rateLimit->key == config::LocalRateLimit::Key::None) {
    encodeRateLimit(*rule.rateLimit, dialect, route);
  } else {
    setRateLimit(metadata, "rateLimit", *rule.rateLimit);
  }
}

void attachRouteAction(const RouteAction& action, Struct& metadata) {
  if (action.ByteSizeLong() == 0) return;
  std::string json;
  // Neither can fail: every message here is of a linked type, and JSON of a message is a Struct.
  (void)google::protobuf::util::MessageToJsonString(action, &json);
  (void)google::protobuf::util::JsonStringToMessage(json, &setObject(metadata, "routeAction"));
}

}  // namespace trellis::xds::detail
