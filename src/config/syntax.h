#pragma once
// Lexical validators and parsers for configuration values: names, hostnames, header names, IP
// literals, Gateway API durations, RFC 3339 timestamps and path values.
//
// Each `check…` function returns an empty string when the value is valid, otherwise a message
// that completes "<field>: …" (e.g. "must be lower case").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/model.h"

namespace trellis::config::syntax {

/// RFC 1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric, ≤ 63.
std::string checkDnsLabel(std::string_view value);
/// RFC 1123 subdomain: dot-separated labels, ≤ 253 characters.
std::string checkDnsSubdomain(std::string_view value);
/// Gateway API Hostname: a lower-case RFC 1123 host name, not an IP address; when
/// `allowWildcard`, "*." may prefix it as its own first label.
std::string checkHostname(std::string_view value, bool allowWildcard);
/// Gateway API Group: empty or an RFC 1123 subdomain.
std::string checkGroup(std::string_view value);
/// Gateway API Kind: a letter, then letters, digits and '-', ending alphanumeric, ≤ 63.
std::string checkKind(std::string_view value);
/// HTTP header name (RFC 9110 token), ≤ 256 characters.
std::string checkHeaderName(std::string_view value);
/// Header value: 1..4096 characters, visible ASCII/obs-text, space and tab (no CR, LF, NUL).
std::string checkHeaderValue(std::string_view value);
/// Path value of an Exact or PathPrefix match, per the Gateway API HTTPPathMatch rules.
std::string checkMatchPath(std::string_view value);
/// Replacement path of a URLRewrite / RequestRedirect path modifier; `allowEmpty` for
/// ReplacePrefixMatch.
std::string checkReplacementPath(std::string_view value, bool allowEmpty);

/// Returns the canonical text of an IPv4 or IPv6 literal (e.g. "::0" → "::"), or nullopt.
std::optional<std::string> canonicalIp(std::string_view value);

/// Gateway API Duration (GEP-2257): 1 to 4 "<1..5 digits><h|m|s|ms>" units, e.g. "1h30m", "500ms".
std::optional<Duration> parseDuration(std::string_view value);
/// The shortest Gateway API Duration text for `duration` (e.g. 90000ms → "1m30s"; 0 → "0s").
std::string formatDuration(Duration duration);

/// A percentage "0".."100" with at most 4 decimals ("12.5", "0.0001", "100.0") → parts per
/// million (125000, 1, 1000000). Signs, exponents and other forms are rejected.
std::optional<uint32_t> parsePercentage(std::string_view value);

/// RFC 3339 date-time ("2024-05-01T10:00:00Z", "…+02:00", fractional seconds ignored) →
/// seconds since the Unix epoch.
std::optional<int64_t> parseRfc3339(std::string_view value);

/// Envoy `retry_on` token of each RetryOn bit, in bit order.
struct RetryOnToken {
  std::string_view name;
  uint32_t bit;
};
inline constexpr RetryOnToken kRetryOnTokens[] = {
    {"connect-failure", kRetryConnectFailure},
    {"reset", kRetryReset},
    {"5xx", kRetry5xx},
    {"gateway-error", kRetryGatewayError},
    {"retriable-4xx", kRetryRetriable4xx},
    {"refused-stream", kRetryRefusedStream},
    {"per-try-timeout", kRetryPerTryTimeout},
};

bool isPrime(uint64_t value);

/// Lower-cases ASCII letters.
std::string toLower(std::string_view value);

/// Levenshtein distance, capped: returns `limit + 1` as soon as the distance exceeds `limit`.
size_t editDistance(std::string_view a, std::string_view b, size_t limit);

}  // namespace trellis::config::syntax
