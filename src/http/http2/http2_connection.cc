#include "http/http2/http2_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace trellis::http2 {

struct Http2Connection::Stream {
  explicit Stream(BufferPool* pool) : sendQueue(pool) {}
  int32_t id = 0;
  Buffer sendQueue;
  bool hasBody = false;    // a data provider is attached
  bool endQueued = false;  // the caller has submitted the end of the body
  bool deferred = false;   // the data provider returned NGHTTP2_ERR_DEFERRED
  bool wasFull = false;    // submitData refused bytes: notify onStreamWritable
  bool rejected = false;   // reset by the codec before the listener saw it
  bool announced = false;  // the listener knows the stream
  bool finalHeadersSeen = false;
  // Received header block: bytes of names and values, four offsets per field.
  std::string headerArena;
  std::vector<uint32_t> headerOffsets;
  size_t headerListBytes = 0;  // RFC 9113 §6.5.2 accounting: name + value + 32 per field
  // Trailers to send once the queue drains (same layout).
  std::string trailerArena;
  std::vector<uint32_t> trailerOffsets;
  bool hasTrailers = false;

  void reset() {
    id = 0;
    sendQueue.clear();
    sendQueue.shrinkIfEmpty();
    hasBody = endQueued = deferred = wasFull = rejected = announced = finalHeadersSeen = false;
    headerArena.clear();
    headerOffsets.clear();
    headerListBytes = 0;
    trailerArena.clear();
    trailerOffsets.clear();
    hasTrailers = false;
  }
};

namespace {

thread_local std::vector<nghttp2_nv> tNvScratch;

const std::vector<nghttp2_nv>& toNv(std::span<const HeaderField> fields) {
  tNvScratch.clear();
  for (const HeaderField& f : fields) {
    tNvScratch.push_back(
        nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(f.name.data())),
                   const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(f.value.data())),
                   f.name.size(), f.value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return tNvScratch;
}

void appendField(std::string& arena, std::vector<uint32_t>& offsets, std::string_view name,
                 std::string_view value) {
  offsets.push_back(static_cast<uint32_t>(arena.size()));
  offsets.push_back(static_cast<uint32_t>(name.size()));
  arena.append(name);
  offsets.push_back(static_cast<uint32_t>(arena.size()));
  offsets.push_back(static_cast<uint32_t>(value.size()));
  arena.append(value);
}

// RFC 9113 §8.2.2: fields that only make sense hop-by-hop in HTTP/1.1.
bool isConnectionSpecific(std::string_view name, std::string_view value) {
  if (name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
      name == "transfer-encoding" || name == "upgrade") {
    return true;
  }
  return name == "te" && value != "trailers";
}

std::string_view sv(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

uint64_t steadyMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

// nghttp2 callbacks, as static members of a friend so that they reach the private state.
struct Callbacks {
  static Http2Connection& self(void* userData) { return *static_cast<Http2Connection*>(userData); }
  static Http2Connection::Stream* streamOf(nghttp2_session* session, int32_t id) {
    return static_cast<Http2Connection::Stream*>(nghttp2_session_get_stream_user_data(session, id));
  }

  static int onBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* ud) {
    Http2Connection& c = self(ud);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    int32_t id = frame->hd.stream_id;
    Http2Connection::Stream* s = streamOf(session, id);
    if (s == nullptr) {
      if (c.role_ != Http2Connection::Role::kServer || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
      }
      s = c.acquireStream(id);
      nghttp2_session_set_stream_user_data(session, id, s);
    }
    s->headerArena.clear();
    s->headerOffsets.clear();
    s->headerListBytes = 0;
    return 0;
  }

  static int onHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t /*flags*/,
                      void* ud) {
    Http2Connection& c = self(ud);
    int32_t id = frame->hd.stream_id;
    Http2Connection::Stream* s = streamOf(session, id);
    if (s == nullptr) return 0;
    s->headerListBytes += namelen + valuelen + 32;
    if (s->rejected) {
      // Keep decoding (HPACK state must stay in sync) but refuse to burn CPU forever.
      if (s->headerListBytes >
          uint64_t{c.settings_.maxHeaderListSize} * c.settings_.hpackBombFactor) {
        c.stats_.hpackBombs.inc();
        c.pendingFatal_ = NGHTTP2_ENHANCE_YOUR_CALM;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
      }
      return 0;
    }
    std::string_view n = sv(name, namelen);
    std::string_view v = sv(value, valuelen);
    if (isConnectionSpecific(n, v)) {
      // nghttp2's messaging checks reject these before this callback (counted in
      // onInvalidFrame); this is the backstop should that validation ever be relaxed.
      c.stats_.invalidHeaders.inc();
      s->rejected = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
    if (s->headerListBytes > c.settings_.maxHeaderListSize) {
      c.stats_.headerListTooLarge.inc();
      s->rejected = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_PROTOCOL_ERROR);
      return 0;
    }
    appendField(s->headerArena, s->headerOffsets, n, v);
    return 0;
  }

  static void deliverHeaders(Http2Connection& c, Http2Connection::Stream* s,
                             const nghttp2_frame* frame) {
    c.fieldScratch_.clear();
    const std::vector<uint32_t>& o = s->headerOffsets;
    for (size_t i = 0; i + 3 < o.size(); i += 4) {
      c.fieldScratch_.push_back(
          HeaderField{std::string_view(s->headerArena).substr(o[i], o[i + 1]),
                      std::string_view(s->headerArena).substr(o[i + 2], o[i + 3])});
    }
    bool endStream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    int32_t id = frame->hd.stream_id;
    if (s->finalHeadersSeen) {
      c.listener_.onTrailers(id, c.fieldScratch_);
      return;
    }
    bool informational = c.role_ == Http2Connection::Role::kClient && !c.fieldScratch_.empty() &&
                         c.fieldScratch_[0].name == ":status" &&
                         c.fieldScratch_[0].value.starts_with('1');
    if (!informational) s->finalHeadersSeen = true;
    s->announced = true;
    c.listener_.onHeaders(id, c.fieldScratch_, endStream);
  }

  static int onFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* ud) {
    Http2Connection& c = self(ud);
    int32_t id = frame->hd.stream_id;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        Http2Connection::Stream* s = streamOf(session, id);
        if (s == nullptr || s->rejected) return 0;
        deliverHeaders(c, s, frame);
        return 0;
      }
      case NGHTTP2_DATA: {
        Http2Connection::Stream* s = streamOf(session, id);
        if (s == nullptr || s->rejected || !s->announced) return 0;
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) c.listener_.onData(id, {}, true);
        return 0;
      }
      case NGHTTP2_RST_STREAM:
        c.stats_.peerResets.inc();
        c.stats_.resetsReceived[Http2Stats::codeSlot(frame->rst_stream.error_code)].inc();
        c.noteReset(c.nowMs_);
        if (c.pendingFatal_ != 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
        return 0;
      case NGHTTP2_GOAWAY:
        c.stats_.goawayReceived.inc();
        c.stats_.goawaysReceived[Http2Stats::codeSlot(frame->goaway.error_code)].inc();
        c.goawayReceived_ = true;
        c.listener_.onGoaway(frame->goaway.last_stream_id, frame->goaway.error_code);
        return 0;
      default:
        return 0;
    }
  }

  static int onDataChunk(nghttp2_session* session, uint8_t /*flags*/, int32_t id,
                         const uint8_t* data, size_t len, void* ud) {
    Http2Connection& c = self(ud);
    Http2Connection::Stream* s = streamOf(session, id);
    if (s == nullptr || s->rejected || !s->announced) {
      // Nobody will consume these bytes: give the window back at once.
      nghttp2_session_consume(session, id, len);
      return 0;
    }
    c.listener_.onData(id, sv(data, len), false);
    return 0;
  }

  static int onStreamClose(nghttp2_session* session, int32_t id, uint32_t errorCode, void* ud) {
    Http2Connection& c = self(ud);
    Http2Connection::Stream* s = streamOf(session, id);
    if (s == nullptr) return 0;
    nghttp2_session_set_stream_user_data(session, id, nullptr);
    bool announced = s->announced;
    c.releaseStream(s);
    if (announced) {
      if (errorCode != NGHTTP2_NO_ERROR) c.listener_.onStreamReset(id, errorCode);
      c.listener_.onStreamClosed(id);
    }
    return 0;
  }

  static int onInvalidFrame(nghttp2_session* /*session*/, const nghttp2_frame* /*frame*/,
                            int libErrorCode, void* ud) {
    Http2Connection& c = self(ud);
    if (libErrorCode == NGHTTP2_ERR_HTTP_HEADER || libErrorCode == NGHTTP2_ERR_HTTP_MESSAGING) {
      c.stats_.invalidHeaders.inc();
    } else {
      c.stats_.protocolErrors.inc();
      c.connectionErrorCounted_ = true;
    }
    return 0;
  }

  // nghttp2 rejects connection-specific fields before onHeader; only its error message names
  // the field ("... name: [connection], value: [keep-alive]").
  static int onError(nghttp2_session* /*session*/, int libErrorCode, const char* msg, size_t len,
                     void* ud) {
    Http2Connection& c = self(ud);
    if (libErrorCode != NGHTTP2_ERR_HTTP_HEADER) return 0;
    std::string_view m(msg, len);
    auto at = m.find("name: [");
    if (at == std::string_view::npos) return 0;
    m.remove_prefix(at + 7);
    std::string_view name = m.substr(0, m.find(']'));
    auto vat = m.find("value: [");
    std::string_view value = vat == std::string_view::npos ? std::string_view() : m.substr(vat + 8);
    if (!value.empty() && value.back() == ']') value.remove_suffix(1);
    if (isConnectionSpecific(name, value)) c.stats_.connectionHeaders.inc();
    return 0;
  }

  static int onFrameSend(nghttp2_session* /*session*/, const nghttp2_frame* frame, void* ud) {
    Http2Connection& c = self(ud);
    if (frame->hd.type == NGHTTP2_HEADERS) c.takePending(frame->hd.stream_id);
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      c.stats_.resetsSent[Http2Stats::codeSlot(frame->rst_stream.error_code)].inc();
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      c.stats_.goawaysSent[Http2Stats::codeSlot(frame->goaway.error_code)].inc();
    }
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
      c.stats_.goawaySent.inc();
      // nghttp2 enforces max_settings itself, without an invalid-frame callback.
      if (!c.failed_ && frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM) {
        c.stats_.controlFloods.inc();
      } else if (!c.failed_ && !c.connectionErrorCounted_) {
        // Errors nghttp2 answers without an invalid-frame callback: frame size, an unexpected
        // CONTINUATION, bad padding, a first frame other than SETTINGS.
        c.stats_.protocolErrors.inc();
      }
      if (c.fatalCode_ == 0) c.fatalCode_ = frame->goaway.error_code;
    }
    return 0;
  }

  // A request nghttp2 could not send (e.g. GOAWAY arrived first): the peer never saw it.
  static int onFrameNotSend(nghttp2_session* /*session*/, const nghttp2_frame* frame,
                            int /*libErrorCode*/, void* ud) {
    Http2Connection& c = self(ud);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    Http2Connection::Stream* s = c.takePending(frame->hd.stream_id);
    if (s == nullptr) return 0;
    int32_t id = s->id;
    c.releaseStream(s);
    c.listener_.onStreamReset(id, NGHTTP2_REFUSED_STREAM);
    c.listener_.onStreamClosed(id);
    return 0;
  }

  static ssize_t readData(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* dataFlags, nghttp2_data_source* source, void* ud) {
    Http2Connection& c = self(ud);
    auto* s = static_cast<Http2Connection::Stream*>(source->ptr);
    size_t n = std::min(length, s->sendQueue.size());
    if (n > 0) {
      std::memcpy(buf, s->sendQueue.data(), n);
      s->sendQueue.consume(n);
    }
    if (s->wasFull && s->sendQueue.size() < c.settings_.streamSendBufferBytes) {
      s->wasFull = false;
      c.writable_.push_back(id);
    }
    if (s->sendQueue.empty()) {
      s->sendQueue.shrinkIfEmpty();
      if (s->endQueued) {
        *dataFlags |= NGHTTP2_DATA_FLAG_EOF;
        if (s->hasTrailers) {
          *dataFlags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          std::vector<HeaderField>& f = c.fieldScratch_;
          f.clear();
          const std::vector<uint32_t>& o = s->trailerOffsets;
          std::string_view arena(s->trailerArena);
          for (size_t i = 0; i + 3 < o.size(); i += 4) {
            f.push_back({arena.substr(o[i], o[i + 1]), arena.substr(o[i + 2], o[i + 3])});
          }
          const std::vector<nghttp2_nv>& nv = toNv(f);
          if (nghttp2_submit_trailer(session, id, nv.data(), nv.size()) != 0) {
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
          }
        }
      } else if (n == 0) {
        s->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }
};

Http2Connection::Http2Connection(Role role, const Http2Settings& settings, Listener& listener,
                                 Http2Stats& stats, BufferPool* pool)
    : role_(role), settings_(settings), listener_(listener), stats_(stats), pool_(pool) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, &Callbacks::onInvalidFrame);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::onFrameSend);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &Callbacks::onFrameNotSend);
  nghttp2_session_callbacks_set_error_callback2(cbs, &Callbacks::onError);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // The caller opens windows with consumed(): a slow reader stalls the peer by flow control.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_continuations(opt, settings_.maxContinuations);
  nghttp2_option_set_max_outbound_ack(opt, settings_.maxOutboundAck);
  nghttp2_option_set_max_settings(opt, settings_.maxSettingsEntries);
  nghttp2_option_set_no_closed_streams(opt, 1);
  // Until the peer's SETTINGS arrive, assume the common limit rather than "unlimited".
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);

  int rv = role_ == Role::kServer ? nghttp2_session_server_new2(&session_, cbs, this, opt)
                                  : nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  if (rv != 0) {
    session_ = nullptr;
    failed_ = true;
    fatalCode_ = NGHTTP2_INTERNAL_ERROR;
  }
}

Http2Connection::~Http2Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool Http2Connection::start() {
  if (session_ == nullptr) return false;
  nghttp2_settings_entry iv[6];
  size_t n = 0;
  iv[n++] = {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.maxConcurrentStreams};
  iv[n++] = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.initialWindowSize};
  iv[n++] = {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings_.maxFrameSize};
  iv[n++] = {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.maxHeaderListSize};
  iv[n++] = {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, settings_.headerTableSize};
  if (role_ == Role::kClient) iv[n++] = {NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, n) != 0) return false;
  return nghttp2_session_set_local_window_size(
             session_, NGHTTP2_FLAG_NONE, 0,
             static_cast<int32_t>(settings_.connectionWindowSize)) == 0;
}

size_t Http2Connection::receive(const char* data, size_t len) {
  if (failed_) return kFatal;
  nowMs_ = steadyMs();
  resetsInBatch_ = 0;
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), len);
  if (rv >= 0) return static_cast<size_t>(rv);
  uint32_t code = pendingFatal_;
  if (code == 0) {
    switch (rv) {
      case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
        stats_.badPreface.inc();
        code = NGHTTP2_PROTOCOL_ERROR;
        break;
      case NGHTTP2_ERR_FLOODED:
      case NGHTTP2_ERR_TOO_MANY_SETTINGS:
        stats_.controlFloods.inc();
        code = NGHTTP2_ENHANCE_YOUR_CALM;
        break;
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        stats_.continuationFloods.inc();
        code = NGHTTP2_ENHANCE_YOUR_CALM;
        break;
      case NGHTTP2_ERR_HEADER_COMP:
        stats_.protocolErrors.inc();
        code = NGHTTP2_COMPRESSION_ERROR;
        break;
      case NGHTTP2_ERR_NOMEM:
        code = NGHTTP2_INTERNAL_ERROR;
        break;
      default:
        stats_.protocolErrors.inc();
        code = NGHTTP2_PROTOCOL_ERROR;
        break;
    }
  }
  failConnection(code);
  return kFatal;
}

void Http2Connection::failConnection(uint32_t code) {
  if (failed_) return;
  failed_ = true;
  fatalCode_ = code;
  nghttp2_session_terminate_session(session_, code);
}

void Http2Connection::noteReset(uint64_t nowMs) {
  if (nowMs - resetWindowStartMs_ >= settings_.resetWindowMs) {
    resetWindowStartMs_ = nowMs;
    resetsInWindow_ = 0;
  }
  ++resetsInWindow_;
  ++resetsInBatch_;
  if (resetsInWindow_ > settings_.maxResetsPerWindow ||
      resetsInBatch_ > 2 * settings_.maxConcurrentStreams) {
    if (pendingFatal_ == 0) stats_.rapidResets.inc();
    pendingFatal_ = NGHTTP2_ENHANCE_YOUR_CALM;
  }
}

size_t Http2Connection::drainOutput(Buffer& out, size_t maxBytes) {
  size_t total = 0;
  if (session_ == nullptr) return 0;
  while (out.size() < maxBytes) {
    const uint8_t* p = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n < 0) {
      // Only NOMEM or a callback failure: nothing sensible can be sent any more.
      failed_ = true;
      if (fatalCode_ == 0) fatalCode_ = NGHTTP2_INTERNAL_ERROR;
      nghttp2_session_del(session_);
      session_ = nullptr;
      break;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    total += static_cast<size_t>(n);
  }
  if (!writable_.empty()) {
    std::vector<int32_t> ids;
    ids.swap(writable_);
    for (int32_t id : ids) listener_.onStreamWritable(id);
    if (writable_.empty()) {
      ids.clear();
      writable_.swap(ids);  // keep the capacity
    }
  }
  return total;
}

bool Http2Connection::wantWrite() const {
  return session_ != nullptr && nghttp2_session_want_write(session_) != 0;
}

bool Http2Connection::closing() const {
  if (session_ == nullptr) return true;
  return nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0;
}

Http2Connection::Stream* Http2Connection::stream(int32_t streamId) const {
  if (session_ == nullptr || streamId <= 0) return nullptr;
  auto* s = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session_, streamId));
  if (s != nullptr) return s;
  // nghttp2 creates a client stream only when its HEADERS frame goes out.
  for (Stream* p : pendingStreams_) {
    if (p->id == streamId) return p;
  }
  return nullptr;
}

Http2Connection::Stream* Http2Connection::takePending(int32_t streamId) {
  for (size_t i = 0; i < pendingStreams_.size(); ++i) {
    if (pendingStreams_[i]->id == streamId) {
      Stream* s = pendingStreams_[i];
      pendingStreams_[i] = pendingStreams_.back();
      pendingStreams_.pop_back();
      return s;
    }
  }
  return nullptr;
}

Http2Connection::Stream* Http2Connection::acquireStream(int32_t streamId) {
  Stream* s;
  if (!freeStreams_.empty()) {
    s = freeStreams_.back();
    freeStreams_.pop_back();
  } else {
    streams_.push_back(std::make_unique<Stream>(pool_));
    s = streams_.back().get();
  }
  s->id = streamId;
  ++liveStreams_;
  return s;
}

void Http2Connection::releaseStream(Stream* s) {
  s->reset();
  freeStreams_.push_back(s);
  --liveStreams_;
}

int32_t Http2Connection::submitRequest(std::span<const HeaderField> fields, bool hasBody) {
  if (role_ != Role::kClient || failed_ || session_ == nullptr) return -1;
  Stream* s = acquireStream(0);
  s->hasBody = hasBody;
  s->announced = true;
  nghttp2_data_provider prd;
  prd.source.ptr = s;
  prd.read_callback = &Callbacks::readData;
  const std::vector<nghttp2_nv>& nv = toNv(fields);
  int32_t id =
      nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), hasBody ? &prd : nullptr, s);
  if (id < 0) {
    releaseStream(s);
    return -1;
  }
  s->id = id;
  pendingStreams_.push_back(s);
  return id;
}

bool Http2Connection::submitResponse(int32_t streamId, std::span<const HeaderField> fields,
                                     bool hasBody) {
  Stream* s = stream(streamId);
  if (role_ != Role::kServer || s == nullptr) return false;
  s->hasBody = hasBody;
  nghttp2_data_provider prd;
  prd.source.ptr = s;
  prd.read_callback = &Callbacks::readData;
  const std::vector<nghttp2_nv>& nv = toNv(fields);
  return nghttp2_submit_response(session_, streamId, nv.data(), nv.size(),
                                 hasBody ? &prd : nullptr) == 0;
}

size_t Http2Connection::submitData(int32_t streamId, std::string_view data, bool endStream) {
  Stream* s = stream(streamId);
  if (s == nullptr || !s->hasBody || s->endQueued) return 0;
  size_t room = sendCapacity(streamId);
  size_t n = std::min(room, data.size());
  s->sendQueue.append(data.data(), n);
  if (n < data.size()) {
    s->wasFull = true;
  } else if (endStream) {
    s->endQueued = true;
  }
  if (s->deferred && (n > 0 || s->endQueued)) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, streamId);
  }
  return n;
}

bool Http2Connection::submitTrailers(int32_t streamId, std::span<const HeaderField> fields) {
  Stream* s = stream(streamId);
  if (s == nullptr || !s->hasBody || s->endQueued) return false;
  for (const HeaderField& f : fields)
    appendField(s->trailerArena, s->trailerOffsets, f.name, f.value);
  s->hasTrailers = true;
  s->endQueued = true;
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, streamId);
  }
  return true;
}

bool Http2Connection::resetStream(int32_t streamId, uint32_t errorCode) {
  if (session_ == nullptr) return false;
  return nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, streamId, errorCode) == 0;
}

bool Http2Connection::goAway(uint32_t errorCode, bool graceful) {
  if (session_ == nullptr) return false;
  if (graceful && role_ == Role::kServer) return nghttp2_submit_shutdown_notice(session_) == 0;
  return nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                               nghttp2_session_get_last_proc_stream_id(session_), errorCode,
                               nullptr, 0) == 0;
}

void Http2Connection::consumed(int32_t streamId, size_t n) {
  if (session_ == nullptr || n == 0) return;
  // A stream closed meanwhile still owes the connection window its bytes.
  if (nghttp2_session_consume(session_, streamId, n) != 0) {
    nghttp2_session_consume_connection(session_, n);
  }
}

uint32_t Http2Connection::remoteMaxConcurrentStreams() const {
  if (session_ == nullptr) return 0;
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

size_t Http2Connection::activeStreams() const {
  return liveStreams_;
}

bool Http2Connection::canOpenStream() const {
  return session_ != nullptr && !failed_ && !goawayReceived_ &&
         liveStreams_ < remoteMaxConcurrentStreams() &&
         nghttp2_session_check_request_allowed(session_) != 0;
}

bool Http2Connection::stalledOnWindow(int32_t streamId) const {
  Stream* s = stream(streamId);
  if (s == nullptr || s->sendQueue.empty()) return false;
  return nghttp2_session_get_stream_remote_window_size(session_, streamId) <= 0 ||
         nghttp2_session_get_remote_window_size(session_) <= 0;
}

size_t Http2Connection::sendCapacity(int32_t streamId) const {
  Stream* s = stream(streamId);
  if (s == nullptr || !s->hasBody || s->endQueued) return 0;
  size_t queued = s->sendQueue.size();
  return queued >= settings_.streamSendBufferBytes ? 0 : settings_.streamSendBufferBytes - queued;
}

std::string_view errorCodeName(uint32_t code) {
  static constexpr std::string_view kNames[] = {"NO_ERROR",
                                                "PROTOCOL_ERROR",
                                                "INTERNAL_ERROR",
                                                "FLOW_CONTROL_ERROR",
                                                "SETTINGS_TIMEOUT",
                                                "STREAM_CLOSED",
                                                "FRAME_SIZE_ERROR",
                                                "REFUSED_STREAM",
                                                "CANCEL",
                                                "COMPRESSION_ERROR",
                                                "CONNECT_ERROR",
                                                "ENHANCE_YOUR_CALM",
                                                "INADEQUATE_SECURITY",
                                                "HTTP_1_1_REQUIRED"};
  return code < std::size(kNames) ? kNames[code] : "UNKNOWN";
}

}  // namespace trellis::http2
