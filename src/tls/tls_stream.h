#pragma once
// The TLS state of one non-blocking stream socket: the handshake, the peer checks the mesh
// needs on top of chain verification (the SPIFFE identity), and record I/O. Every call returns
// at once; the owner (trellis::Connection) calls again when epoll says the socket is ready.
//
// OpenSSL reads and writes the socket itself through a small BIO of ours instead of the stock
// socket BIO (SSL_set_fd): the same read()/send() system calls and no extra copy (which memory
// BIOs would cost), but it can serve bytes the owner already read before TLS started (a sniffed
// ClientHello), and it tells whether the kernel's queue was found empty, so that an
// edge-triggered owner knows when to stop reading without one more EAGAIN round.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls/tls_context.h"

struct ssl_st;
struct x509_st;
struct x509_store_ctx_st;

namespace trellis::tls {

/// What a connection's peer must be, and where a client connection's sessions come from.
struct PeerPolicy {
  Side side = Side::Client;
  /// The SPIFFE IDs ("spiffe://td/ns/n/sa/s") the peer may present; empty: any identity the
  /// trust bundle vouches for. Client: the identities expected for the service called.
  std::vector<std::string> expectedPeerIds;
  /// Client: the server name sent (SNI). Identity is checked by SPIFFE ID, not by this name.
  std::string sni;
  /// Client: offers the cached session for `sessionKey` and stores the tickets received. Must
  /// outlive the connection; null: no resumption.
  ClientSessionCache* sessionCache = nullptr;
  std::string sessionKey;
};

class TlsStream {
 public:
  enum class Status : uint8_t { Ok, WantRead, WantWrite, Closed, Error };

  /// TLS over `fd` (not owned; connected, or connecting for a client that waits for the
  /// connect before calling handshake()). `alreadyRead`: bytes taken from `fd` before TLS
  /// started; the handshake reads them first. Check ok(): setup can fail (a policy for the
  /// other side, OpenSSL out of memory), with error() saying why.
  TlsStream(std::shared_ptr<const TlsContext> context, PeerPolicy policy, int fd,
            std::string_view alreadyRead);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  bool ok() const { return !failed_; }
  /// Advances the handshake: Ok once it is done and the peer passed the policy; WantRead /
  /// WantWrite: call again when the socket is readable / writable; Error: see error().
  Status handshake();
  bool handshakeDone() const { return handshakeDone_; }

  /// Decrypts into `out`: Ok with `got` bytes (0 only after a long run of post-handshake
  /// messages: call again), Closed on close_notify or a FIN, WantRead when the socket is
  /// drained, WantWrite when a post-handshake reply (KeyUpdate) waits for room, or Error.
  Status read(char* out, size_t room, size_t& got);
  /// Encrypts from `data`: Ok with `taken` > 0 (at most one 16 KiB record per call, so callers
  /// loop). After WantWrite/WantRead the next write() must start with the same bytes, which may
  /// have moved meanwhile.
  Status write(const char* data, size_t size, size_t& taken);
  /// Sends close_notify: Ok once written (the peer's is not awaited), WantWrite to retry.
  Status shutdown();

  /// Frees OpenSSL's record buffers (about 34 KiB) if they hold nothing; the next read or
  /// write allocates them again. For connections that go idle for a while.
  void releaseBuffers();

  /// Whether read() may return data without new bytes from the kernel.
  bool inputBuffered() const;
  /// Whether the last read from the socket found its queue empty (a short read or EAGAIN):
  /// any later arrival raises a new edge.
  bool socketDrained() const { return io_.drained; }
  /// Tells the stream epoll reported new input: whatever an earlier short read found, the
  /// kernel may hold bytes again.
  void markSocketReadable() { io_.drained = false; }

  /// The peer's SPIFFE ID (URI SAN), once the handshake is done; "" when it sent no
  /// certificate (a server that does not require one).
  std::string_view peerIdentity() const { return peerIdentity_; }
  /// The ALPN protocol agreed, "" if none.
  std::string_view alpn() const { return alpn_; }
  bool sessionReused() const { return sessionReused_; }
  /// Why the handshake or the stream failed, "" while it has not.
  const std::string& error() const { return error_; }
  Side side() const { return policy_.side; }
  const std::shared_ptr<const TlsContext>& context() const { return context_; }
  /// For diagnostics and tests (e.g. SSL_key_update).
  ssl_st* native() const { return ssl_; }

  /// OpenSSL callbacks, set on the contexts by TlsContext::create().
  static int verifyCallback(int preverifyOk, x509_store_ctx_st* store);
  static int newSessionCallback(ssl_st* ssl, ssl_session_st* session);

  /// The socket side of the BIO (public for the BIO's functions only).
  struct Io {
    int fd = -1;
    std::string prefix;  // alreadyRead, served first
    size_t prefixOffset = 0;
    bool drained = false;
    bool readBlocked = false;  // the last read from the socket returned EAGAIN
    int error = 0;             // errno of a failed read or send
    bool eof = false;
  };

 private:
  bool checkPeerCertificate(x509_st* leaf, std::string& identity, std::string& why) const;
  bool finishHandshake();
  Status fail(std::string_view what, int sslError);
  std::string describe(int sslError);

  std::shared_ptr<const TlsContext> context_;
  PeerPolicy policy_;
  ssl_st* ssl_ = nullptr;
  Io io_;
  std::string peerIdentity_;
  std::string_view alpn_;  // points into the SSL, which lives as long as this
  std::string error_;
  std::string policyError_;  // set by the verify callback when the identity is refused
  bool failed_ = false;
  bool handshakeDone_ = false;
  bool sessionReused_ = false;
  bool offeredSession_ = false;
};

}  // namespace trellis::tls
