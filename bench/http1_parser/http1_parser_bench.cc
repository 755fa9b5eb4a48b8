// ns per parse of typical request/response heads, and chunked framing throughput.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "http/http1_parser.h"

namespace {

using namespace trellis::http;

// ~300 bytes, shaped like what a browser sends through a sidecar.
const std::string kRequest =
    "GET /api/v1/catalog/items?page=2&sort=price HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.com/catalog\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

const std::string kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 1234\r\n"
    "Date: Tue, 15 Oct 2024 10:00:00 GMT\r\n"
    "Cache-Control: private, max-age=0\r\n"
    "Vary: Accept-Encoding\r\n"
    "Server: trellis-echo\r\n"
    "\r\n";

// The parser lower-cases names in place; re-parsing an already lowered buffer costs the same
// (every byte is looked up and stored either way), so the buffer is reused across iterations.
void BM_ParseRequestHead(benchmark::State& state) {
  std::string buf = kRequest;
  RequestHead head;
  ParseError error;
  for (auto _ : state) {
    const ParseStatus s = parseRequestHead(buf.data(), buf.size(), Limits{}, head, error);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(head.headBytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
  state.counters["head_bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_ParseRequestHead);

void BM_ParseResponseHead(benchmark::State& state) {
  std::string buf = kResponse;
  ResponseHead head;
  ParseError error;
  for (auto _ : state) {
    const ParseStatus s = parseResponseHead(buf.data(), buf.size(), Limits{}, "GET", head, error);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(head.headBytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
  state.counters["head_bytes"] = static_cast<double>(buf.size());
}
BENCHMARK(BM_ParseResponseHead);

// A reader that gets the request in 4 segments and asks the pre-check before each parse.
void BM_RequestInSegmentsWithPrecheck(benchmark::State& state) {
  std::string buf = kRequest;
  RequestHead head;
  ParseError error;
  const size_t step = buf.size() / 4 + 1;
  for (auto _ : state) {
    size_t prev = 0;
    for (size_t len = std::min(step, buf.size());; len = std::min(len + step, buf.size())) {
      if (headMayBeComplete(buf.data(), len, prev, Limits{})) {
        benchmark::DoNotOptimize(parseRequestHead(buf.data(), len, Limits{}, head, error));
      }
      if (len == buf.size()) break;
      prev = len;
    }
  }
}
BENCHMARK(BM_RequestInSegmentsWithPrecheck);

void BM_ChunkedFramer(benchmark::State& state) {
  std::string body;
  for (int i = 0; i < 16; ++i) body += "400\r\n" + std::string(1024, 'x') + "\r\n";
  body += "0\r\n\r\n";
  for (auto _ : state) {
    ChunkedFramer framer;
    size_t payload = 0;
    const auto r =
        framer.feed(body.data(), body.size(), [&](const char*, size_t n) { payload += n; });
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(payload);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ChunkedFramer);

}  // namespace
