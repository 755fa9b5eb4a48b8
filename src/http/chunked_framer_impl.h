#pragma once
// Character classes shared by the head parser and the chunked framer, and the template
// ChunkedFramer::feed. Included at the end of http1_parser.h; do not include directly.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace trellis::http {
namespace detail {

constexpr bool isAlpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool isDigit(int c) {
  return c >= '0' && c <= '9';
}

constexpr bool isTchar(int c) {
  if (isAlpha(c) || isDigit(c)) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == t) return true;
  }
  return false;
}

/// tchar (RFC 9110 §5.6.2) -> its lower-case form; anything else -> 0. One lookup both validates
/// and lower-cases a field name.
inline constexpr std::array<uint8_t, 256> kTokenLower = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if (isTchar(c)) t[c] = static_cast<uint8_t>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  return t;
}();

/// field-vchar / SP / HTAB (RFC 9110 §5.5): everything but CTLs (except HTAB) and DEL.
inline constexpr std::array<uint8_t, 256> kFieldValue = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = (c == '\t' || (c >= 0x20 && c != 0x7f)) ? 1 : 0;
  return t;
}();

/// Hex digit -> value; anything else -> 0xff.
inline constexpr std::array<uint8_t, 256> kHexValue = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = isDigit(c)               ? static_cast<uint8_t>(c - '0')
           : (c >= 'a' && c <= 'f') ? static_cast<uint8_t>(c - 'a' + 10)
           : (c >= 'A' && c <= 'F') ? static_cast<uint8_t>(c - 'A' + 10)
                                    : 0xff;
  }
  return t;
}();

inline constexpr uint64_t kMaxChunkSize = uint64_t{1} << 62;

}  // namespace detail

template <typename OnData>
ChunkedFramer::Result ChunkedFramer::feed(const char* data, size_t len, OnData&& onData) {
  Result result;
  size_t i = 0;
  // Marks the byte at i as the offending one: everything before it was consumed.
  auto fail = [&] {
    state_ = State::Error;
    result.consumed = i;
    result.error = true;
    return result;
  };
  auto countTrailer = [&] { return ++trailerBytes_ <= limits_.maxTrailerBytes; };

  while (i < len) {
    const auto c = static_cast<uint8_t>(data[i]);
    switch (state_) {
      case State::Size: {
        const uint8_t digit = detail::kHexValue[c];
        if (digit != 0xff) {
          if (remaining_ > (detail::kMaxChunkSize - digit) / 16) return fail();
          remaining_ = remaining_ * 16 + digit;
          sawSizeDigit_ = true;
        } else if (sawSizeDigit_ && c == '\r') {
          state_ = State::SizeLf;
        } else if (sawSizeDigit_ && c == ';') {
          state_ = State::SizeExt;
        } else if (sawSizeDigit_ && (c == ' ' || c == '\t')) {
          state_ = State::SizeWs;
        } else {  // no digit before the delimiter, or an invalid byte
          return fail();
        }
        if (c != '\r' && ++lineBytes_ > limits_.maxChunkLineBytes) return fail();
        ++i;
        break;
      }
      case State::SizeWs:  // BWS is only allowed before a ';' (chunk-ext)
        if (c == ';') {
          state_ = State::SizeExt;
        } else if (c != ' ' && c != '\t') {
          return fail();
        }
        if (++lineBytes_ > limits_.maxChunkLineBytes) return fail();
        ++i;
        break;
      case State::SizeExt:  // extensions are skipped, but must not hide CR/LF or other CTLs
        if (c == '\r') {
          state_ = State::SizeLf;
        } else if (!detail::kFieldValue[c] || ++lineBytes_ > limits_.maxChunkLineBytes) {
          return fail();
        }
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return fail();
        state_ = remaining_ == 0 ? State::TrailerLineStart : State::Data;
        ++i;
        break;
      case State::Data: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - i));
        onData(data + i, n);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (c != '\r') return fail();
        state_ = State::DataLf;
        ++i;
        break;
      case State::DataLf:
        if (c != '\n') return fail();
        state_ = State::Size;
        lineBytes_ = 0;
        sawSizeDigit_ = false;
        ++i;
        break;
      case State::TrailerLineStart:
        if (c == '\r') {
          state_ = State::EndLf;
        } else if (detail::kTokenLower[c]) {
          state_ = State::TrailerName;  // SP/HTAB here would be obs-fold: rejected below
          if (trailerSink_ != nullptr)
            trailerSink_->push_back(static_cast<char>(detail::kTokenLower[c]));
        } else {
          return fail();
        }
        if (!countTrailer()) return fail();
        ++i;
        break;
      case State::TrailerName:
        if (c == ':') {
          state_ = State::TrailerValue;
        } else if (!detail::kTokenLower[c]) {
          return fail();
        }
        if (trailerSink_ != nullptr) {
          trailerSink_->push_back(c == ':' ? ':' : static_cast<char>(detail::kTokenLower[c]));
        }
        if (!countTrailer()) return fail();
        ++i;
        break;
      case State::TrailerValue:
        if (c == '\r') {
          state_ = State::TrailerLf;
        } else if (!detail::kFieldValue[c]) {
          return fail();
        }
        if (trailerSink_ != nullptr) trailerSink_->push_back(static_cast<char>(c));
        if (!countTrailer()) return fail();
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n' || !countTrailer()) return fail();
        if (trailerSink_ != nullptr) trailerSink_->push_back('\n');
        state_ = State::TrailerLineStart;
        ++i;
        break;
      case State::EndLf:
        if (c != '\n' || !countTrailer()) return fail();
        state_ = State::Done;
        ++i;
        result.consumed = i;
        result.done = true;
        return result;  // pipelined bytes after the message are not ours
      case State::Done:
        result.done = true;
        return result;
      case State::Error:
        result.error = true;
        return result;
    }
  }
  result.consumed = i;
  result.done = state_ == State::Done;
  result.error = state_ == State::Error;
  return result;
}

}  // namespace trellis::http
