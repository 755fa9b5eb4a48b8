#include "http/http1_parser.h"

#include <algorithm>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace trellis::http {
namespace {

using detail::kFieldValue;
using detail::kTokenLower;

// --- Scanners. Each returns the first byte at or after p outside its class, or `end`. ---
// With SSE2 (every x86-64) they test 16 bytes per step and locate the stop byte exactly; the
// byte loops handle the last bytes before `end` and are the portable fallback.

#if defined(__SSE2__)
inline __m128i loadBlock(const char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline __m128i bytesEqual(__m128i v, uint8_t c) {
  return _mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(c)));
}
inline __m128i bytesAtMost(__m128i v, uint8_t n) {  // unsigned v <= n
  return _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(static_cast<char>(n))), v);
}
inline __m128i bytesAtLeast(__m128i v, uint8_t n) {  // unsigned v >= n
  return _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(static_cast<char>(n))), v);
}
inline __m128i bytesInRange(__m128i v, uint8_t lo, uint8_t hi) {
  const __m128i clamped = _mm_min_epu8(_mm_max_epu8(v, _mm_set1_epi8(static_cast<char>(lo))),
                                       _mm_set1_epi8(static_cast<char>(hi)));
  return _mm_cmpeq_epi8(clamped, v);
}
inline unsigned bitmask(__m128i m) {
  return static_cast<unsigned>(_mm_movemask_epi8(m));
}
#endif

// Request-target bytes: VCHAR (0x21..0x7e).
inline char* skipTargetChars(char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i v = loadBlock(p);
    const unsigned stop = bitmask(_mm_or_si128(bytesAtMost(v, 0x20), bytesAtLeast(v, 0x7f)));
    if (stop != 0) return p + __builtin_ctz(stop);
    p += 16;
  }
#endif
  while (p<end&& static_cast<uint8_t>(*p)> 0x20 && static_cast<uint8_t>(*p) < 0x7f) ++p;
  return p;
}

// Field-value bytes: VCHAR, obs-text, SP, HTAB.
inline char* skipValueChars(char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i v = loadBlock(p);
    unsigned stop = bitmask(_mm_or_si128(bytesAtMost(v, 0x1f), bytesEqual(v, 0x7f)));
    for (; stop != 0; stop &= stop - 1) {  // HTAB is a value byte: look past it
      const int i = __builtin_ctz(stop);
      if (p[i] != '\t') return p + i;
    }
    p += 16;
  }
#endif
  while (p < end && kFieldValue[static_cast<uint8_t>(*p)]) ++p;
  return p;
}

// Token bytes (tchar), lower-cased in place.
inline char* lowerTokenChars(char* p, const char* end) {
#if defined(__SSE2__)
  // Not tchar: CTLs, SP, DEL, non-ASCII and the delimiters "(),/:;<=>?@[\]{}.
  while (end - p >= 16) {
    const __m128i v = loadBlock(p);
    __m128i bad = _mm_or_si128(bytesAtMost(v, 0x20), bytesAtLeast(v, 0x7f));
    bad = _mm_or_si128(bad, _mm_or_si128(bytesEqual(v, '"'), bytesInRange(v, '(', ')')));
    bad = _mm_or_si128(bad, _mm_or_si128(bytesEqual(v, ','), bytesEqual(v, '/')));
    bad = _mm_or_si128(bad, _mm_or_si128(bytesInRange(v, ':', '@'), bytesInRange(v, '[', ']')));
    bad = _mm_or_si128(bad, _mm_or_si128(bytesEqual(v, '{'), bytesEqual(v, '}')));
    const unsigned stop = bitmask(bad);
    const int n = stop == 0 ? 16 : __builtin_ctz(stop);
    // Byte stores to the few upper-case letters only: a 16-byte store here would stall the
    // overlapping loads that scan the value next (failed store-to-load forwarding).
    unsigned upper = bitmask(bytesInRange(v, 'A', 'Z')) & ((1u << n) - 1);
    for (; upper != 0; upper &= upper - 1) p[__builtin_ctz(upper)] |= 0x20;
    p += n;
    if (n < 16) return p;
  }
#endif
  while (p < end) {
    const uint8_t lower = kTokenLower[static_cast<uint8_t>(*p)];
    if (lower == 0) break;
    *p++ = static_cast<char>(lower);
  }
  return p;
}

constexpr bool isOws(char c) {
  return c == ' ' || c == '\t';
}

/// Host and authority characters: unreserved, pct-encoded, sub-delims, ':' and IP-literal
/// brackets (RFC 3986 §3.2.2). Notably no '@' (userinfo), '/', whitespace or CTLs.
inline constexpr std::array<uint8_t, 256> kHostChar = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = detail::isAlpha(c) || detail::isDigit(c) ? 1 : 0;
  }
  for (char c : std::string_view("-._~!$&'()*+,;=:[]%")) t[static_cast<uint8_t>(c)] = 1;
  return t;
}();

bool isValidHost(std::string_view s) {
  for (char c : s) {
    if (!kHostChar[static_cast<uint8_t>(c)]) return false;
  }
  return true;
}

/// Case-insensitive equality against a lower-case literal.
bool equalsLower(std::string_view s, std::string_view lowerLiteral) {
  if (s.size() != lowerLiteral.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != lowerLiteral[i]) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

/// Calls fn(element) for each OWS-trimmed element of a comma-separated list, empty ones included
/// (callers decide whether an empty element is an error). Stops early if fn returns false.
template <typename Fn>
bool forEachListElement(std::string_view list, Fn&& fn) {
  for (;;) {
    const size_t comma = list.find(',');
    if (!fn(trimOws(list.substr(0, comma)))) return false;
    if (comma == std::string_view::npos) return true;
    list.remove_prefix(comma + 1);
  }
}

/// What the field lines say about framing, connection handling and the host.
struct FieldSummary {
  uint32_t hostCount = 0;
  std::string_view host;
  bool badHost = false;
  bool sawContentLength = false;
  bool badContentLength = false;
  uint64_t contentLength = 0;
  bool sawTransferEncoding = false;
  bool badTransferEncoding = false;  // a coding other than a single "chunked"
  uint32_t codings = 0;
  bool close = false;
  bool keepAlive = false;
  bool upgrade = false;
  bool expectContinue = false;
};

void noteContentLength(std::string_view value, FieldSummary& sum) {
  const bool ok = forEachListElement(value, [&](std::string_view element) {
    if (element.empty()) return false;
    uint64_t v = 0;
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    for (char c : element) {
      if (!detail::isDigit(c)) return false;
      const auto digit = static_cast<uint64_t>(c - '0');
      if (v > (kMax - digit) / 10) return false;
      v = v * 10 + digit;
    }
    if (sum.sawContentLength && v != sum.contentLength) return false;
    sum.sawContentLength = true;
    sum.contentLength = v;
    return true;
  });
  sum.sawContentLength = true;
  if (!ok) sum.badContentLength = true;
}

void noteTransferEncoding(std::string_view value, FieldSummary& sum) {
  sum.sawTransferEncoding = true;
  forEachListElement(value, [&](std::string_view coding) {
    // Stricter than RFC 9110 §5.6.1 (which ignores empty elements): "chunked," may not read as
    // chunked to the next hop, and any disagreement on framing is a smuggling vector.
    ++sum.codings;
    if (!equalsLower(coding, "chunked")) sum.badTransferEncoding = true;
    return true;
  });
}

void noteConnection(std::string_view value, FieldSummary& sum) {
  forEachListElement(value, [&](std::string_view option) {
    if (equalsLower(option, "close")) {
      sum.close = true;
    } else if (equalsLower(option, "keep-alive")) {
      sum.keepAlive = true;
    } else if (equalsLower(option, "upgrade")) {
      sum.upgrade = true;
    }
    return true;
  });
}

/// Records the fields that matter to the parser. Names are already lower case, so a length
/// switch plus one memcmp identifies them.
void noteField(std::string_view name, std::string_view value, FieldSummary& sum) {
  switch (name.size()) {
    case 4:
      if (name == "host") {
        ++sum.hostCount;
        sum.host = value;
        if (!isValidHost(value)) sum.badHost = true;
      }
      break;
    case 6:
      if (name == "expect" && equalsLower(value, "100-continue")) sum.expectContinue = true;
      break;
    case 10:
      if (name == "connection") noteConnection(value, sum);
      break;
    case 14:
      if (name == "content-length") noteContentLength(value, sum);
      break;
    case 17:
      if (name == "transfer-encoding") noteTransferEncoding(value, sum);
      break;
    default:
      break;
  }
}

/// Parser position and the byte bound (the buffer end, or maxHeadBytes if that is smaller).
struct Cursor {
  char* p;
  const char* end;
  size_t len;  // all bytes the caller has
  const Limits& limits;
  ParseError& error;

  ParseStatus fail(ParseError e) {
    error = e;
    return ParseStatus::Error;
  }
  /// Ran into `end` without a complete head.
  ParseStatus outOfBytes() {
    return len > limits.maxHeadBytes ? fail(ParseError::HeadersTooLarge) : ParseStatus::Incomplete;
  }
  /// The byte at `at` cannot continue the current element: a bare CR or LF is reported as such
  /// (a CR needs its next byte to tell), anything else as `otherwise`.
  ParseStatus unexpected(const char* at, ParseError otherwise) {
    if (*at == '\n') return fail(ParseError::BareCrOrLf);
    if (*at == '\r') {
      if (at + 1 == end) return outOfBytes();
      if (at[1] != '\n') return fail(ParseError::BareCrOrLf);
    }
    return fail(otherwise);
  }
  /// Expects CRLF at p and steps over it.
  ParseStatus crlf(ParseError otherwise) {
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      p += 2;
      return ParseStatus::Complete;
    }
    if (p == end) return outOfBytes();
    return unexpected(p, otherwise);
  }
  /// Matches "HTTP/" DIGIT "." DIGIT.
  ParseStatus version(ParseError otherwise, uint8_t& major, uint8_t& minor) {
    static constexpr std::string_view kPattern = "HTTP/d.d";
    for (size_t i = 0; i < kPattern.size(); ++i) {
      if (p + i == end) return outOfBytes();
      const char c = p[i];
      const bool ok = kPattern[i] == 'd' ? detail::isDigit(c) : c == kPattern[i];
      if (!ok) return unexpected(p + i, otherwise);
    }
    major = static_cast<uint8_t>(p[5] - '0');
    minor = static_cast<uint8_t>(p[7] - '0');
    p += kPattern.size();
    return ParseStatus::Complete;
  }

  /// Parses field lines up to and including the empty line that ends the head.
  ParseStatus fields(MessageHead& out, FieldSummary& sum) {
    for (;;) {
      if (p == end) return outOfBytes();
      if (*p == '\r') {
        if (p + 1 == end) return outOfBytes();
        if (p[1] != '\n') return fail(ParseError::BareCrOrLf);
        p += 2;
        return ParseStatus::Complete;
      }
      char* const nameStart = p;
      p = lowerTokenChars(p, end);
      if (p == end) return outOfBytes();
      if (p == nameStart && isOws(*p)) return fail(ParseError::ObsFold);
      if (p == nameStart || *p != ':') return unexpected(p, ParseError::BadHeader);
      const std::string_view name(nameStart, static_cast<size_t>(p - nameStart));
      ++p;
      while (p < end && isOws(*p)) ++p;
      char* const valueStart = p;
      p = skipValueChars(p, end);
      if (p == end) return outOfBytes();
      const char* valueEnd = p;
      if (const ParseStatus s = crlf(ParseError::BadHeader); s != ParseStatus::Complete) return s;
      while (valueEnd > valueStart && isOws(valueEnd[-1])) --valueEnd;
      if (out.headers.size() >= limits.maxHeaders) return fail(ParseError::TooManyHeaders);
      const std::string_view value(valueStart, static_cast<size_t>(valueEnd - valueStart));
      out.headers.push_back({name, value});
      noteField(name, value, sum);
    }
  }
};

/// Framing checks shared by requests and responses (RFC 9112 §6.1, §6.3).
ParseStatus checkFraming(const FieldSummary& sum, uint8_t minor, ParseError& error) {
  if (sum.sawContentLength && sum.sawTransferEncoding) {
    error = ParseError::ConflictingFraming;
  } else if (sum.badContentLength) {
    error = ParseError::BadContentLength;
  } else if (sum.sawTransferEncoding &&
             (minor == 0 || sum.codings != 1 || sum.badTransferEncoding)) {
    error = ParseError::BadTransferEncoding;
  } else {
    return ParseStatus::Complete;
  }
  return ParseStatus::Error;
}

void applyConnection(const FieldSummary& sum, MessageHead& out) {
  out.keepAlive = out.versionMinor >= 1 ? !sum.close : (sum.keepAlive && !sum.close);
  out.connectionUpgrade = sum.upgrade;
}

void resetHead(MessageHead& out) {
  out.versionMinor = 1;
  if (out.headers.capacity() == 0) out.headers.reserve(32);
  out.headers.clear();
  out.framing = BodyFraming::None;
  out.contentLength = 0;
  out.keepAlive = true;
  out.connectionUpgrade = false;
  out.headBytes = 0;
}

/// Splits the request-target into path/query/host by its form (RFC 9112 §3.2).
bool splitTarget(RequestHead& out) {
  const std::string_view target = out.target;
  if (target.find('#') != std::string_view::npos) return false;  // fragments are never sent
  std::string_view rest;
  if (out.method == "CONNECT") {  // authority-form: host ":" port
    const size_t colon = target.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == target.size() ||
        target[0] == '/' || !isValidHost(target)) {
      return false;
    }
    for (char c : target.substr(colon + 1)) {
      if (!detail::isDigit(c)) return false;
    }
    out.host = target;
    return true;
  }
  if (target[0] == '/') {
    rest = target;
  } else if (target == "*") {
    if (out.method != "OPTIONS") return false;
    out.path = target;
    return true;
  } else {  // absolute-form: only http(s), no userinfo
    size_t schemeLen;
    if (target.size() > 7 && equalsLower(target.substr(0, 7), "http://")) {
      schemeLen = 7;
    } else if (target.size() > 8 && equalsLower(target.substr(0, 8), "https://")) {
      schemeLen = 8;
    } else {
      return false;
    }
    const std::string_view afterScheme = target.substr(schemeLen);
    const size_t authorityEnd = std::min(afterScheme.find('/'), afterScheme.find('?'));
    const std::string_view authority = afterScheme.substr(0, authorityEnd);
    if (authority.empty() || !isValidHost(authority)) return false;
    out.host = authority;
    rest = authorityEnd == std::string_view::npos ? std::string_view()
                                                  : afterScheme.substr(authorityEnd);
  }
  const size_t question = rest.find('?');
  out.path = rest.substr(0, question);
  if (out.path.empty()) out.path = "/";  // absolute-form without a path; not in the buffer
  if (question != std::string_view::npos) out.query = rest.substr(question + 1);
  return true;
}

}  // namespace

const HeaderField* MessageHead::find(std::string_view lowerName) const {
  for (const HeaderField& field : headers) {
    if (field.name == lowerName) return &field;
  }
  return nullptr;
}

std::string_view parseErrorName(ParseError e) {
  switch (e) {
    case ParseError::None:
      return "none";
    case ParseError::BadRequestLine:
      return "bad_request_line";
    case ParseError::BadStatusLine:
      return "bad_status_line";
    case ParseError::BadVersion:
      return "bad_version";
    case ParseError::BadHeader:
      return "bad_header";
    case ParseError::ObsFold:
      return "obs_fold";
    case ParseError::BareCrOrLf:
      return "bare_cr_or_lf";
    case ParseError::HeadersTooLarge:
      return "headers_too_large";
    case ParseError::TooManyHeaders:
      return "too_many_headers";
    case ParseError::UriTooLong:
      return "uri_too_long";
    case ParseError::ConflictingFraming:
      return "conflicting_framing";
    case ParseError::BadContentLength:
      return "bad_content_length";
    case ParseError::BadTransferEncoding:
      return "bad_transfer_encoding";
    case ParseError::BadChunk:
      return "bad_chunk";
    case ParseError::MissingHost:
      return "missing_host";
  }
  return "unknown";
}

int statusFor(ParseError e) {
  switch (e) {
    case ParseError::None:
      return 0;
    case ParseError::BadStatusLine:
      return 502;
    case ParseError::BadVersion:
      return 505;
    case ParseError::HeadersTooLarge:
    case ParseError::TooManyHeaders:
      return 431;
    case ParseError::UriTooLong:
      return 414;
    default:
      return 400;
  }
}

bool headMayBeComplete(const char* data, size_t len, size_t prevLen, const Limits& limits) {
  if (len > limits.maxHeadBytes) return true;
  const char* const end = data + len;
  // The head ends at "\n\r\n" (or an erroneous "\n\n"); its first '\n' may be 2 bytes back.
  const size_t known = prevLen <= len ? prevLen : 0;  // a shrunk buffer: nothing is known
  const char* p = data + (known >= 2 ? known - 2 : 0);
  while (p < end) {
    const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (lf == nullptr) break;
    if (lf + 1 < end && (lf[1] == '\n' || (lf[1] == '\r' && lf + 2 < end))) return true;
    p = lf + 1;
  }
  // A request line longer than maxUrlBytes may be a too-long URI: let the parser decide.
  return len > limits.maxUrlBytes && std::memchr(data, '\n', len) == nullptr;
}

ParseStatus parseRequestHead(char* data, size_t len, const Limits& limits, RequestHead& out,
                             ParseError& error) {
  error = ParseError::None;
  resetHead(out);
  out.method = out.target = out.path = out.query = out.host = {};
  out.expectContinue = false;
  Cursor cur{data, data + std::min<size_t>(len, limits.maxHeadBytes), len, limits, error};

  // RFC 9112 §2.2: ignore empty lines before the request-line.
  while (cur.p < cur.end && *cur.p == '\r') {
    if (cur.p + 1 == cur.end) return cur.outOfBytes();
    if (cur.p[1] != '\n') return cur.fail(ParseError::BareCrOrLf);
    cur.p += 2;
  }

  // method SP
  char* const method = cur.p;
  while (cur.p < cur.end && kTokenLower[static_cast<uint8_t>(*cur.p)]) ++cur.p;
  // A request line too long for its URI limit is 414, even if the method is what is long.
  if (static_cast<size_t>(cur.p - method) > limits.maxUrlBytes) {
    return cur.fail(ParseError::UriTooLong);
  }
  if (cur.p == cur.end) return cur.outOfBytes();
  if (cur.p == method || *cur.p != ' ') return cur.unexpected(cur.p, ParseError::BadRequestLine);
  out.method = std::string_view(method, static_cast<size_t>(cur.p - method));
  ++cur.p;

  // request-target SP
  char* const target = cur.p;
  const bool boundedByUrl = static_cast<size_t>(cur.end - target) > limits.maxUrlBytes;
  const char* const bound = boundedByUrl ? target + limits.maxUrlBytes : cur.end;
  cur.p = skipTargetChars(cur.p, bound);
  if (cur.p == bound) {
    if (!boundedByUrl) return cur.outOfBytes();
    const auto next = static_cast<uint8_t>(*cur.p);
    if (next > 0x20 && next < 0x7f) return cur.fail(ParseError::UriTooLong);
  }
  if (cur.p == target || *cur.p != ' ') return cur.unexpected(cur.p, ParseError::BadRequestLine);
  out.target = std::string_view(target, static_cast<size_t>(cur.p - target));
  ++cur.p;

  // HTTP-version CRLF; the common case is checked in one comparison.
  uint8_t major = 1;
  uint8_t minor = 1;
  if (cur.end - cur.p >= 10 && std::memcmp(cur.p, "HTTP/1.1\r\n", 10) == 0) {
    cur.p += 10;
  } else {
    if (const ParseStatus s = cur.version(ParseError::BadRequestLine, major, minor);
        s != ParseStatus::Complete) {
      return s;
    }
    if (major != 1) return cur.fail(ParseError::BadVersion);
    if (const ParseStatus s = cur.crlf(ParseError::BadRequestLine); s != ParseStatus::Complete) {
      return s;
    }
  }
  out.versionMinor = std::min<uint8_t>(minor, 1);  // 1.x with x > 1 is handled as 1.1
  if (!splitTarget(out)) return cur.fail(ParseError::BadRequestLine);

  FieldSummary sum;
  if (const ParseStatus s = cur.fields(out, sum); s != ParseStatus::Complete) return s;

  if (checkFraming(sum, out.versionMinor, error) != ParseStatus::Complete) {
    return ParseStatus::Error;
  }
  if (sum.badHost) return cur.fail(ParseError::BadHeader);
  if (sum.hostCount > 1 || (sum.hostCount == 0 && out.versionMinor >= 1)) {
    return cur.fail(ParseError::MissingHost);
  }
  if (out.host.empty()) out.host = sum.host;  // absolute-form authority wins over Host

  if (sum.sawTransferEncoding) {
    out.framing = BodyFraming::Chunked;
  } else if (sum.sawContentLength) {
    out.framing = BodyFraming::ContentLength;
    out.contentLength = sum.contentLength;
  }
  applyConnection(sum, out);
  out.expectContinue = sum.expectContinue && out.versionMinor >= 1;
  out.headBytes = static_cast<size_t>(cur.p - data);
  return ParseStatus::Complete;
}

ParseStatus parseResponseHead(char* data, size_t len, const Limits& limits,
                              std::string_view requestMethod, ResponseHead& out,
                              ParseError& error) {
  error = ParseError::None;
  resetHead(out);
  out.status = 0;
  out.reason = {};
  Cursor cur{data, data + std::min<size_t>(len, limits.maxHeadBytes), len, limits, error};

  // HTTP-version SP 3DIGIT SP reason-phrase CRLF. The SP before an empty reason is optional:
  // many servers omit it and it cannot change framing.
  uint8_t major = 1;
  uint8_t minor = 1;
  if (const ParseStatus s = cur.version(ParseError::BadStatusLine, major, minor);
      s != ParseStatus::Complete) {
    return s;
  }
  if (major != 1) return cur.fail(ParseError::BadVersion);
  out.versionMinor = std::min<uint8_t>(minor, 1);
  static constexpr std::string_view kStatusPattern = " ddd";
  for (size_t i = 0; i < kStatusPattern.size(); ++i) {
    if (cur.p + i == cur.end) return cur.outOfBytes();
    const char c = cur.p[i];
    const bool ok = kStatusPattern[i] == 'd' ? detail::isDigit(c) : c == ' ';
    if (!ok) return cur.unexpected(cur.p + i, ParseError::BadStatusLine);
  }
  out.status = (cur.p[1] - '0') * 100 + (cur.p[2] - '0') * 10 + (cur.p[3] - '0');
  if (out.status < 100) return cur.fail(ParseError::BadStatusLine);
  cur.p += kStatusPattern.size();
  if (cur.p == cur.end) return cur.outOfBytes();
  if (*cur.p == ' ') {
    char* const reason = ++cur.p;
    cur.p = skipValueChars(cur.p, cur.end);
    if (cur.p == cur.end) return cur.outOfBytes();
    out.reason = std::string_view(reason, static_cast<size_t>(cur.p - reason));
  }
  if (const ParseStatus s = cur.crlf(ParseError::BadStatusLine); s != ParseStatus::Complete) {
    return s;
  }

  FieldSummary sum;
  if (const ParseStatus s = cur.fields(out, sum); s != ParseStatus::Complete) return s;
  if (checkFraming(sum, out.versionMinor, error) != ParseStatus::Complete) {
    return ParseStatus::Error;
  }
  applyConnection(sum, out);
  out.contentLength = sum.contentLength;

  // RFC 9112 §6.3, in order.
  const int status = out.status;
  // No body: 1xx/204/304, a response to HEAD, or a 2xx to CONNECT (the connection becomes a
  // tunnel).
  const bool connectTunnel = requestMethod == "CONNECT" && status < 300;
  if (status < 200 || status == 204 || status == 304 || requestMethod == "HEAD" || connectTunnel) {
    out.framing = BodyFraming::None;
  } else if (sum.sawTransferEncoding) {
    out.framing = BodyFraming::Chunked;
  } else if (sum.sawContentLength) {
    out.framing = BodyFraming::ContentLength;
  } else {
    out.framing = BodyFraming::UntilClose;
    out.keepAlive = false;
  }
  out.headBytes = static_cast<size_t>(cur.p - data);
  return ParseStatus::Complete;
}

}  // namespace trellis::http

namespace trellis::http {

void parseTrailerSection(std::string_view section, std::vector<HeaderField>& out) {
  out.clear();
  while (!section.empty()) {
    size_t end = section.find("\r\n");
    std::string_view line = section.substr(0, end);
    section.remove_prefix(end == std::string_view::npos ? section.size() : end + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    // Framing, routing and connection fields have no meaning in trailers (RFC 9110 §6.5.1).
    static constexpr std::string_view kForbidden[] = {
        "connection",     "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
        "content-length", "host",       "trailer"};
    bool forbidden = false;
    for (std::string_view f : kForbidden) forbidden = forbidden || name == f;
    if (!forbidden) out.push_back({name, value});
  }
}

}  // namespace trellis::http
