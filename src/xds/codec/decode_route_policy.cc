// A route's resilience settings → model (the reverse of encode_route_policy.cc). Absent fields
// mean what the model's defaults mean where Envoy agrees; an absent RouteAction.timeout is no
// request timeout (Envoy's would be 15s: Trellis sets none unless asked).

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <set>

#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.pb.h"
#include "xds/codec/decode_route_parts.h"
#include "xds/codec/policy.h"

namespace trellis::xds::detail {
namespace {

using envoy::config::core::v3::RuntimeFractionalPercent;
using envoy::config::route::v3::RetryPolicy;
using envoy::config::route::v3::RouteAction;
using envoy::extensions::filters::http::fault::v3::HTTPFault;
using envoy::type::v3::FractionalPercent;
using LocalRateLimitConfig = envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit;

bool isZero(const google::protobuf::Duration& value) {
  return value.seconds() == 0 && value.nanos() == 0;
}

std::optional<uint32_t> perMillion(const FractionalPercent& percent, Problems& problems,
                                   const std::string& path) {
  if (!onlyFields(percent, {"numerator", "denominator"}, problems, path)) return std::nullopt;
  uint64_t scale = 1;
  switch (percent.denominator()) {
    case FractionalPercent::HUNDRED:
      scale = 10000;
      break;
    case FractionalPercent::TEN_THOUSAND:
      scale = 100;
      break;
    case FractionalPercent::MILLION:
      break;
    default:
      problems.fail(path + ".denominator", "unknown denominator");
      return std::nullopt;
  }
  auto numerator = inRange(percent.numerator(), 0, 1000000 / scale, problems, path + ".numerator");
  if (!numerator) return std::nullopt;
  return static_cast<uint32_t>(*numerator * scale);
}

std::string expectedRetryTokens() {
  std::string out;
  for (const RetryToken& token : kRetryTokens) out += std::string(token.name) + ", ";
  out += std::string(kRetriableStatusCodesToken);
  for (const GrpcRetryToken& token : kGrpcRetryTokens) out += ", " + std::string(token.name);
  return out;
}

bool decodeRetryOn(const std::string& text, Problems& problems, const std::string& path,
                   config::RetryPolicy& out, bool& statusCodesToken) {
  out.retryOn = 0;
  out.retriableGrpcStatuses = 0;
  statusCodesToken = false;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string_view token(text.data() + start, end - start);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    start = end + 1;
    if (token.empty()) continue;
    bool known = false;
    for (const RetryToken& candidate : kRetryTokens) {
      if (token == candidate.name) {
        out.retryOn |= candidate.flag;
        known = true;
      }
    }
    for (const GrpcRetryToken& candidate : kGrpcRetryTokens) {
      if (token == candidate.name) {
        out.retriableGrpcStatuses |= 1u << candidate.code;
        known = true;
      }
    }
    if (token == kRetriableStatusCodesToken) {
      statusCodesToken = true;
      known = true;
    }
    if (!known) {
      return problems.fail(path, "unsupported retry condition " + quote(token) + " (expected " +
                                     expectedRetryTokens() + ")");
    }
  }
  return true;
}

// The standard fields; `standardPerTry` receives per_try_timeout (0 when absent).
bool decodeRetryPolicy(const RetryPolicy& in, Problems& problems, const std::string& path,
                       config::RetryPolicy& out, config::Duration& standardPerTry) {
  if (!onlyFields(in,
                  {"retry_on", "num_retries", "per_try_timeout", "retriable_status_codes",
                   "retry_back_off"},
                  problems, path)) {
    return false;
  }
  bool statusCodesToken = false;
  if (!decodeRetryOn(in.retry_on(), problems, path + ".retry_on", out, statusCodesToken)) {
    return false;
  }
  out.numRetries = in.has_num_retries() ? in.num_retries().value() : 1;  // Envoy's default
  standardPerTry = config::Duration(0);
  if (in.has_per_try_timeout() && !isZero(in.per_try_timeout())) {
    auto timeout = toDuration(in.per_try_timeout(), problems, path + ".per_try_timeout");
    if (!timeout) return false;
    standardPerTry = *timeout;
  }
  for (int i = 0; i < in.retriable_status_codes_size(); ++i) {
    auto code = inRange(in.retriable_status_codes(i), 100, 599, problems,
                        fieldPath(path, "retriable_status_codes", static_cast<size_t>(i)));
    if (!code) return false;
    out.retriableStatusCodes.push_back(static_cast<uint16_t>(*code));
  }
  if (!out.retriableStatusCodes.empty() && !statusCodesToken) {
    return problems.fail(path + ".retriable_status_codes",
                         "listed without the retry_on condition retriable-status-codes (Envoy "
                         "would not retry them)");
  }
  if (in.has_retry_back_off()) {
    const auto& backoff = in.retry_back_off();
    const std::string backoffPath = path + ".retry_back_off";
    if (!onlyFields(backoff, {"base_interval", "max_interval"}, problems, backoffPath)) {
      return false;
    }
    if (!backoff.has_base_interval()) {
      return problems.fail(backoffPath + ".base_interval", "missing");
    }
    auto base = toDuration(backoff.base_interval(), problems, backoffPath + ".base_interval");
    if (!base) return false;
    out.backoffBase = *base;
    out.backoffMax = std::min(*base * 10, kMaxDuration);  // Envoy's default
    if (backoff.has_max_interval()) {
      auto max = toDuration(backoff.max_interval(), problems, backoffPath + ".max_interval");
      if (!max) return false;
      if (*max < *base) {
        return problems.fail(backoffPath + ".max_interval", "must be at least base_interval");
      }
      out.backoffMax = *max;
    }
  }
  return true;
}

// metadata "retry": what Envoy's retry policy has no field for.
bool decodeRetryExtras(const Struct& fields, Problems& problems, const std::string& path,
                       config::Duration standardPerTry, config::RetryPolicy& out) {
  FieldsReader reader(fields, problems, path);
  if (auto perTry = reader.boolean("perTryTimeout")) {
    if (!*perTry) return problems.fail(reader.pathOf("perTryTimeout"), "must be true when set");
    out.retryOn |= config::kRetryPerTryTimeout;
  }
  if (const auto* statuses = reader.list("grpcStatuses")) {
    for (int i = 0; i < statuses->values_size(); ++i) {
      const auto& value = statuses->values(i);
      const std::string itemPath = fmt::format("{}[{}]", reader.pathOf("grpcStatuses"), i);
      const double number = value.number_value();
      if (!value.has_number_value() || number < 0 || number > kMaxGrpcStatus ||
          number != static_cast<int>(number)) {
        return problems.fail(itemPath,
                             fmt::format("expected a gRPC status code in [0, {}]", kMaxGrpcStatus));
      }
      out.retriableGrpcStatuses |= 1u << static_cast<int>(number);
    }
  }
  if (auto nonIdempotent = reader.boolean("nonIdempotent")) {
    if (!*nonIdempotent) {
      return problems.fail(reader.pathOf("nonIdempotent"), "must be true when set");
    }
    out.retryNonIdempotent = true;
  }
  out.perTryTimeout = standardPerTry;
  if (auto ms = reader.integer("perTryTimeoutMs", 0, static_cast<uint64_t>(kMaxDuration.count()))) {
    out.perTryTimeout = config::Duration(static_cast<int64_t>(*ms));
  }
  return reader.finish();
}

bool decodeFault(const google::protobuf::Any& any, FieldsReader& settings, const std::string& path,
                 config::FaultInjection& out) {
  Problems& problems = settings.problems();
  HTTPFault fault;
  if (!unpack(any, fault, problems, path) ||
      !onlyFields(fault, {"delay", "abort", "headers"}, problems, path)) {
    return false;
  }
  if (fault.has_delay()) {
    const auto& delay = fault.delay();
    const std::string delayPath = path + ".delay";
    if (!onlyFields(delay, {"fixed_delay", "percentage"}, problems, delayPath)) return false;
    if (!delay.has_fixed_delay()) return problems.fail(delayPath + ".fixed_delay", "missing");
    auto fixed = toDuration(delay.fixed_delay(), problems, delayPath + ".fixed_delay");
    if (!fixed) return false;
    auto share = perMillion(delay.percentage(), problems, delayPath + ".percentage");
    if (!share) return false;
    out.delay = *fixed;
    out.delayPerMillion = *share;
  }
  if (fault.has_abort()) {
    const auto& abort = fault.abort();
    const std::string abortPath = path + ".abort";
    if (!onlyFields(abort, {"http_status", "grpc_status", "percentage"}, problems, abortPath)) {
      return false;
    }
    if (abort.has_http_status()) {
      auto status = inRange(abort.http_status(), 200, 599, problems, abortPath + ".http_status");
      if (!status) return false;
      out.abortHttpStatus = static_cast<uint16_t>(*status);
    } else if (abort.has_grpc_status()) {
      auto status =
          inRange(abort.grpc_status(), 0, kMaxGrpcStatus, problems, abortPath + ".grpc_status");
      if (!status) return false;
      out.abortGrpcStatus = static_cast<int16_t>(*status);
    } else {
      return problems.fail(abortPath, "missing http_status or grpc_status");
    }
    auto share = perMillion(abort.percentage(), problems, abortPath + ".percentage");
    if (!share) return false;
    out.abortPerMillion = *share;
  }
  for (int i = 0; i < fault.headers_size(); ++i) {
    const std::string headerPath = fieldPath(path, "headers", static_cast<size_t>(i));
    config::RouteMatch scratch;
    if (!decodeHeaderMatcher(fault.headers(i), problems, headerPath, scratch)) return false;
    if (scratch.method) return problems.fail(headerPath, ":method cannot be matched here");
    out.headers.push_back(std::move(scratch.headers.back()));
  }
  if (const Struct* extras = settings.object("fault")) {
    FieldsReader reader(*extras, problems, settings.pathOf("fault"));
    auto status = reader.integer("abortGrpcStatus", 0, kMaxGrpcStatus);
    if (!reader.finish()) return false;
    if (status) {
      if (out.abortHttpStatus == 0) {
        return problems.fail(reader.pathOf("abortGrpcStatus"),
                             "only with an abort of http_status (otherwise use grpc_status)");
      }
      out.abortGrpcStatus = static_cast<int16_t>(*status);
    }
  }
  return !problems.failed();
}

bool decodeFullShare(const RuntimeFractionalPercent& percent, bool present, Problems& problems,
                     const std::string& path) {
  if (!present) {
    return problems.fail(path, "missing (Envoy's default of 0% would turn the limit off)");
  }
  if (!onlyFields(percent, {"default_value", "runtime_key"}, problems, path)) return false;
  auto share = perMillion(percent.default_value(), problems, path + ".default_value");
  if (!share) return false;
  if (*share != 1000000) {
    return problems.fail(path + ".default_value", "only 100% is supported");
  }
  return true;
}

bool decodeRateLimit(const google::protobuf::Any& any, Problems& problems, const std::string& path,
                     config::LocalRateLimit& out) {
  LocalRateLimitConfig limit;
  if (!unpack(any, limit, problems, path) ||
      !onlyFields(limit, {"stat_prefix", "token_bucket", "filter_enabled", "filter_enforced"},
                  problems, path)) {
    return false;
  }
  if (!limit.has_token_bucket()) return problems.fail(path + ".token_bucket", "missing");
  const auto& bucket = limit.token_bucket();
  const std::string bucketPath = path + ".token_bucket";
  if (!onlyFields(bucket, {"max_tokens", "tokens_per_fill", "fill_interval"}, problems,
                  bucketPath)) {
    return false;
  }
  auto maxTokens =
      inRange(bucket.max_tokens(), 1, UINT32_MAX, problems, bucketPath + ".max_tokens");
  if (!maxTokens) return false;
  uint64_t tokensPerFill = 1;  // Envoy's default
  if (bucket.has_tokens_per_fill()) {
    auto value = inRange(bucket.tokens_per_fill().value(), 1, UINT32_MAX, problems,
                         bucketPath + ".tokens_per_fill");
    if (!value) return false;
    tokensPerFill = *value;
  }
  if (!bucket.has_fill_interval()) return problems.fail(bucketPath + ".fill_interval", "missing");
  auto fillInterval = toDuration(bucket.fill_interval(), problems, bucketPath + ".fill_interval");
  if (!fillInterval) return false;
  if (!decodeFullShare(limit.filter_enabled(), limit.has_filter_enabled(), problems,
                       path + ".filter_enabled") ||
      !decodeFullShare(limit.filter_enforced(), limit.has_filter_enforced(), problems,
                       path + ".filter_enforced")) {
    return false;
  }
  out.maxTokens = static_cast<uint32_t>(*maxTokens);
  out.tokensPerFill = static_cast<uint32_t>(tokensPerFill);
  out.fillInterval = *fillInterval;
  return true;
}

}  // namespace

bool decodeRouteTimeouts(const RouteAction& action, FieldsReader& settings, const std::string& path,
                         config::RouteRule& out) {
  Problems& problems = settings.problems();
  config::RouteTimeouts& timeouts = out.timeouts;
  if (action.has_timeout() && !isZero(action.timeout())) {
    auto timeout = toDuration(action.timeout(), problems, path + ".timeout");
    if (!timeout) return false;
    timeouts.request = *timeout;
  }
  if (action.has_idle_timeout()) {
    if (isZero(action.idle_timeout())) {
      return problems.fail(path + ".idle_timeout",
                           "0s (no idle timeout) is unsupported: leave it out for the listener's "
                           "stream_idle_timeout");
    }
    auto idle = toDuration(action.idle_timeout(), problems, path + ".idle_timeout");
    if (!idle) return false;
    timeouts.streamIdle = *idle;
  }
  if (settings.has("perTryTimeoutMs")) {
    auto perTry = settings.duration("perTryTimeoutMs");
    if (!perTry) return false;
    timeouts.perTry = *perTry;
  }
  const Struct* extras = settings.object("retry");
  if (problems.failed()) return false;
  if (!action.has_retry_policy()) {
    if (extras != nullptr) return problems.fail(settings.pathOf("retry"), "only with retry_policy");
    return true;
  }
  const std::string retryPath = path + ".retry_policy";
  config::RetryPolicy retry;
  config::Duration standardPerTry{0};
  if (!decodeRetryPolicy(action.retry_policy(), problems, retryPath, retry, standardPerTry) ||
      !decodeRetryExtras(extras != nullptr ? *extras : Struct::default_instance(), problems,
                         settings.pathOf("retry"), standardPerTry, retry)) {
    return false;
  }
  if (effectivePerTryTimeout(timeouts.perTry, retry.perTryTimeout) != standardPerTry) {
    return problems.fail(retryPath + ".per_try_timeout",
                         "does not agree with the per-try timeouts in metadata (it must be the "
                         "earlier of them)");
  }
  out.retry = std::move(retry);
  return true;
}

bool routeActionSettings(FieldsReader& settings, RouteAction& out, std::string& path) {
  Problems& problems = settings.problems();
  path = settings.pathOf("routeAction");
  const Struct* fields = settings.object("routeAction");
  if (fields == nullptr) return !problems.failed();
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(*fields, &json);
  if (status.ok()) status = google::protobuf::util::JsonStringToMessage(json, &out);
  if (!status.ok()) {
    return problems.fail(path, "not a RouteAction: " + printable(status.message().as_string()));
  }
  return onlyFields(out, {"timeout", "idle_timeout", "retry_policy"}, problems, path);
}

bool decodeRouteFilters(const envoy::config::route::v3::Route& route, FieldsReader& settings,
                        const std::string& path, config::RouteRule& out) {
  Problems& problems = settings.problems();
  // Sorted, so that the first error does not depend on the map's order.
  std::set<std::string> names;
  for (const auto& [name, config] : route.typed_per_filter_config()) names.insert(name);
  for (const std::string& name : names) {
    std::string entryPath = fmt::format("{}.typed_per_filter_config[{}]", path, quote(name));
    const google::protobuf::Any* config = &route.typed_per_filter_config().at(name);
    envoy::config::route::v3::FilterConfig wrapper;
    if (config->Is<envoy::config::route::v3::FilterConfig>()) {
      if (!unpack(*config, wrapper, problems, entryPath) ||
          !onlyFields(wrapper, {"config", "is_optional"}, problems, entryPath)) {
        return false;
      }
      entryPath += ".config";
      if (!wrapper.has_config()) return problems.fail(entryPath, "missing");
      config = &wrapper.config();
    }
    if (name == kFaultFilter) {
      config::FaultInjection fault;
      if (!decodeFault(*config, settings, entryPath, fault)) return false;
      out.fault = std::move(fault);
    } else if (name == kLocalRateLimitFilter) {
      config::LocalRateLimit limit;
      if (!decodeRateLimit(*config, problems, entryPath, limit)) return false;
      out.rateLimit = limit;
    } else {
      return problems.fail(entryPath, "unsupported filter (expected " + std::string(kFaultFilter) +
                                          " or " + std::string(kLocalRateLimitFilter) + ")");
    }
  }
  if (!out.fault && settings.has("fault")) {
    return problems.fail(settings.pathOf("fault"),
                         "only with a " + std::string(kFaultFilter) + " config");
  }
  const bool standardLimit = out.rateLimit.has_value();
  if (!readRateLimit(settings, "rateLimit", out.rateLimit)) return false;
  if (standardLimit && settings.has("rateLimit")) {
    return problems.fail(settings.pathOf("rateLimit"),
                         "the route also has a " + std::string(kLocalRateLimitFilter) + " config");
  }
  return true;
}

}  // namespace trellis::xds::detail
