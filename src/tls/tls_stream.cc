#include "tls/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

#include "tls/pki/spiffe_id.h"

namespace trellis::tls {
namespace {

// A run of post-handshake messages this long without application data is not plausible; the
// bound only keeps a misbehaving peer from holding the thread.
constexpr int kMaxEmptyReads = 64;

int streamIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TlsStream* streamOf(SSL* ssl) {
  return static_cast<TlsStream*>(SSL_get_ex_data(ssl, streamIndex()));
}

int bioWrite(BIO* bio, const char* data, int length) {
  auto* io = static_cast<TlsStream::Io*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  for (;;) {
    ssize_t n = ::send(io->fd, data, static_cast<size_t>(length), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(bio);
    } else {
      io->error = errno;
    }
    return -1;
  }
}

int bioRead(BIO* bio, char* out, int length) {
  auto* io = static_cast<TlsStream::Io*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (length <= 0) return 0;
  const auto room = static_cast<size_t>(length);
  if (io->prefixOffset < io->prefix.size()) {
    size_t n = std::min(room, io->prefix.size() - io->prefixOffset);
    io->prefix.copy(out, n, io->prefixOffset);
    io->prefixOffset += n;
    if (io->prefixOffset == io->prefix.size()) {
      io->prefix.clear();
      io->prefix.shrink_to_fit();
      io->prefixOffset = 0;
    }
    return static_cast<int>(n);
  }
  for (;;) {
    ssize_t n = ::read(io->fd, out, room);
    if (n > 0) {
      io->drained = static_cast<size_t>(n) < room;
      return static_cast<int>(n);
    }
    if (n == 0) {
      io->eof = true;
      io->drained = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      io->drained = true;
      io->readBlocked = true;
      BIO_set_retry_read(bio);
    } else {
      io->error = errno;
    }
    return -1;
  }
}

long bioCtrl(BIO* /*bio*/, int command, long /*number*/, void* /*pointer*/) {
  // OpenSSL flushes after each handshake flight; there is nothing to flush below the socket.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bioDestroy(BIO* /*bio*/) {
  return 1;  // the Io belongs to the TlsStream
}

const BIO_METHOD* socketMethod() {
  // Created once and kept for the life of the process.
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "trellis socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, bioWrite);
      BIO_meth_set_read(m, bioRead);
      BIO_meth_set_ctrl(m, bioCtrl);
      BIO_meth_set_create(m, bioCreate);
      BIO_meth_set_destroy(m, bioDestroy);
    }
    return m;
  }();
  return method;
}

std::string uriSans(X509* cert, int& count) {
  std::string uri;
  count = 0;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    if (count++ == 0) {
      const ASN1_IA5STRING* s = name->d.uniformResourceIdentifier;
      uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                 static_cast<size_t>(ASN1_STRING_length(s)));
    }
  }
  GENERAL_NAMES_free(names);
  return uri;
}

std::string joined(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) {
    if (!out.empty()) out += ", ";
    out += id;
  }
  return out;
}

}  // namespace

TlsStream::TlsStream(std::shared_ptr<const TlsContext> context, PeerPolicy policy, int fd,
                     std::string_view alreadyRead)
    : context_(std::move(context)), policy_(std::move(policy)) {
  io_.fd = fd;
  io_.prefix.assign(alreadyRead.data(), alreadyRead.size());
  if (!context_) {
    fail("no TLS context", 0);
    return;
  }
  if (context_->side() != policy_.side) {
    fail(policy_.side == Side::Client ? "a client connection needs a client context"
                                      : "a server connection needs a server context",
         0);
    return;
  }
  const BIO_METHOD* method = socketMethod();
  ssl_ = SSL_new(context_->native());
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (ssl_ == nullptr || bio == nullptr || SSL_set_ex_data(ssl_, streamIndex(), this) != 1) {
    BIO_free(bio);
    fail("cannot set up TLS", SSL_ERROR_SSL);
    return;
  }
  BIO_set_data(bio, &io_);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL from now on
  if (policy_.side == Side::Server) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (!policy_.sni.empty() && SSL_set_tlsext_host_name(ssl_, policy_.sni.c_str()) != 1) {
    fail("invalid SNI '" + policy_.sni + "'", SSL_ERROR_SSL);
    return;
  }
  if (policy_.sessionCache != nullptr && !policy_.sessionKey.empty()) {
    if (SSL_SESSION* session = policy_.sessionCache->find(policy_.sessionKey)) {
      offeredSession_ = SSL_set_session(ssl_, session) == 1;
    }
  }
  ERR_clear_error();
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

TlsStream::Status TlsStream::handshake() {
  if (failed_) return Status::Error;
  if (handshakeDone_) return Status::Ok;
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    if (!finishHandshake()) return Status::Error;
    return Status::Ok;
  }
  int sslError = SSL_get_error(ssl_, rc);
  if (sslError == SSL_ERROR_WANT_READ) return Status::WantRead;
  if (sslError == SSL_ERROR_WANT_WRITE) return Status::WantWrite;
  // A session that led to a failed handshake is not offered again.
  if (offeredSession_) policy_.sessionCache->erase(policy_.sessionKey);
  return fail("TLS handshake failed", sslError);
}

bool TlsStream::finishHandshake() {
  // The verify callback has checked a full handshake; a resumed one reuses the peer
  // certificate of its session, which is checked here against this connection's policy.
  if (SSL_get_verify_result(ssl_) != X509_V_OK) {
    fail("TLS handshake failed", SSL_ERROR_SSL);
    return false;
  }
  X509* peer = SSL_get0_peer_certificate(ssl_);
  std::string why;
  if (peer != nullptr) {
    if (!checkPeerCertificate(peer, peerIdentity_, why)) {
      fail("TLS handshake failed: " + why, 0);
      return false;
    }
    // A resumed session skips chain verification, so a certificate that expired since the
    // session began would otherwise be accepted until its ticket ends.
    if (SSL_session_reused(ssl_) == 1 && X509_cmp_current_time(X509_get0_notAfter(peer)) <= 0) {
      fail("TLS handshake failed: the peer's certificate has expired (resumed session)", 0);
      return false;
    }
  } else if (policy_.side == Side::Client) {
    fail("TLS handshake failed: the server presented no certificate", 0);
    return false;
  } else if (!policy_.expectedPeerIds.empty()) {
    fail("TLS handshake failed: no client certificate, expected one of " +
             joined(policy_.expectedPeerIds),
         0);
    return false;
  }
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_, &protocol, &length);
  if (protocol != nullptr) alpn_ = {reinterpret_cast<const char*>(protocol), length};
  sessionReused_ = SSL_session_reused(ssl_) == 1;
  handshakeDone_ = true;
  return true;
}

bool TlsStream::checkPeerCertificate(X509* leaf, std::string& identity, std::string& why) const {
  // X.509-SVID: a leaf, with exactly one URI SAN that is a SPIFFE ID.
  if (X509_check_ca(leaf) != 0) {
    why = "the peer's certificate is a CA certificate, not a workload's";
    return false;
  }
  int count = 0;
  std::string uri = uriSans(leaf, count);
  if (count != 1) {
    why = "the peer's certificate has " + std::to_string(count) +
          " URI SANs; a SPIFFE certificate has exactly one";
    return false;
  }
  std::string parseError;
  std::optional<pki::SpiffeId> id = pki::SpiffeId::parse(uri, &parseError);
  if (!id) {
    why = "the peer's URI SAN '" + uri + "' is not a SPIFFE ID: " + parseError;
    return false;
  }
  std::string canonical = id->uri();
  if (!policy_.expectedPeerIds.empty() &&
      std::find(policy_.expectedPeerIds.begin(), policy_.expectedPeerIds.end(), canonical) ==
          policy_.expectedPeerIds.end()) {
    why = "peer presented " + canonical + ", expected one of " + joined(policy_.expectedPeerIds);
    return false;
  }
  identity = std::move(canonical);
  return true;
}

int TlsStream::verifyCallback(int preverifyOk, X509_STORE_CTX* store) {
  // Only the leaf carries the identity, and a chain that already failed needs no more checks.
  if (preverifyOk != 1 || X509_STORE_CTX_get_error_depth(store) != 0) return preverifyOk;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  TlsStream* stream = ssl != nullptr ? streamOf(ssl) : nullptr;
  if (stream == nullptr) return preverifyOk;
  std::string identity;
  std::string why;
  if (!stream->checkPeerCertificate(X509_STORE_CTX_get_current_cert(store), identity, why)) {
    // Refusing here aborts the handshake with an alert, so the peer learns it too.
    stream->policyError_ = std::move(why);
    X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
  }
  return 1;
}

int TlsStream::newSessionCallback(SSL* ssl, SSL_SESSION* session) {
  TlsStream* stream = streamOf(ssl);
  if (stream != nullptr && stream->policy_.sessionCache != nullptr &&
      !stream->policy_.sessionKey.empty()) {
    stream->policy_.sessionCache->store(stream->policy_.sessionKey, session);
  }
  return 0;  // the cache keeps a copy; OpenSSL keeps its reference
}

namespace {

// SSL_get_error reads the thread's error queue, so it must be empty before each call; but
// ERR_clear_error walks all 16 slots (~800 instructions, callgrind) while the queue is almost
// always empty already: peek first (~200).
void clearErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

TlsStream::Status TlsStream::read(char* out, size_t room, size_t& got) {
  got = 0;
  if (failed_ || !handshakeDone_) return Status::Error;
  const int length = static_cast<int>(std::min<size_t>(room, INT_MAX));
  for (int attempt = 0; attempt < kMaxEmptyReads; ++attempt) {
    io_.readBlocked = false;
    clearErrors();
    int n = SSL_read(ssl_, out, length);
    if (n > 0) {
      got = static_cast<size_t>(n);
      return Status::Ok;
    }
    int sslError = SSL_get_error(ssl_, n);
    switch (sslError) {
      case SSL_ERROR_WANT_READ:
        // Without EAGAIN from the socket, SSL_read only consumed a post-handshake message
        // (NewSessionTicket, KeyUpdate): bytes may still wait in the kernel, whose edge was
        // already reported, so read on.
        if (io_.readBlocked) return Status::WantRead;
        continue;
      case SSL_ERROR_WANT_WRITE:
        return Status::WantWrite;
      case SSL_ERROR_ZERO_RETURN:
        return Status::Closed;
      case SSL_ERROR_SYSCALL:
        if (io_.error == 0 && ERR_peek_error() == 0) return Status::Closed;  // FIN
        return fail("TLS read failed", sslError);
      default:
        return fail("TLS read failed", sslError);
    }
  }
  return Status::Ok;  // got == 0: the caller keeps the socket marked readable
}

TlsStream::Status TlsStream::write(const char* data, size_t size, size_t& taken) {
  taken = 0;
  if (failed_ || !handshakeDone_) return Status::Error;
  if (size == 0) return Status::Ok;
  clearErrors();
  int n = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  if (n > 0) {
    taken = static_cast<size_t>(n);
    return Status::Ok;
  }
  int sslError = SSL_get_error(ssl_, n);
  if (sslError == SSL_ERROR_WANT_WRITE) return Status::WantWrite;
  if (sslError == SSL_ERROR_WANT_READ) return Status::WantRead;
  return fail("TLS write failed", sslError);
}

TlsStream::Status TlsStream::shutdown() {
  if (failed_ || !handshakeDone_) return Status::Error;
  ERR_clear_error();
  int rc = SSL_shutdown(ssl_);
  // 0: our close_notify is out and the peer's has not come, which is all a half-close needs.
  if (rc >= 0) return Status::Ok;
  int sslError = SSL_get_error(ssl_, rc);
  if (sslError == SSL_ERROR_WANT_WRITE) return Status::WantWrite;
  if (sslError == SSL_ERROR_WANT_READ) return Status::WantRead;
  return fail("TLS shutdown failed", sslError);
}

void TlsStream::releaseBuffers() {
  // Refused (and harmless) while a record is half read or half written.
  if (ssl_ != nullptr && handshakeDone_) SSL_free_buffers(ssl_);
}

bool TlsStream::inputBuffered() const {
  return ssl_ != nullptr && SSL_has_pending(ssl_) == 1;
}

TlsStream::Status TlsStream::fail(std::string_view what, int sslError) {
  failed_ = true;
  error_.assign(what);
  if (sslError != 0) {
    std::string why = describe(sslError);
    if (!why.empty()) {
      error_ += ": ";
      error_ += why;
    }
  }
  ERR_clear_error();
  return Status::Error;
}

std::string TlsStream::describe(int sslError) {
  if (!policyError_.empty()) return policyError_;
  if (ssl_ != nullptr) {
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      std::string why = "certificate verify failed: ";
      why += X509_verify_cert_error_string(verify);
      if (X509* peer = SSL_get0_peer_certificate(ssl_)) {
        int count = 0;
        std::string uri = uriSans(peer, count);
        if (!uri.empty()) why += " (peer certificate " + uri + ")";
      }
      return why;
    }
  }
  if (unsigned long err = ERR_peek_error()) {
    if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
        ERR_GET_REASON(err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
      return "no client certificate (the peer did not present one)";
    }
    const char* reason = ERR_reason_error_string(err);
    if (reason != nullptr) return reason;
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    return buf;
  }
  if (sslError == SSL_ERROR_SYSCALL) {
    if (io_.error != 0) return std::strerror(io_.error);
    return "the peer closed the connection";
  }
  if (sslError == SSL_ERROR_ZERO_RETURN) return "the peer closed the connection (close_notify)";
  return {};
}

}  // namespace trellis::tls
