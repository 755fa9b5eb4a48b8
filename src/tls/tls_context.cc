#include "tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "tls/pki/openssl_ptr.h"
#include "tls/pki/x509.h"
#include "tls/tls_stream.h"

namespace trellis::tls {
namespace {

// AES-GCM first: AES-NI makes it the cheapest on the x86 machines the mesh runs on.
constexpr const char* kCipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256";
// A server that verifies clients refuses to resume a session without a session id context.
constexpr unsigned char kSessionIdContext[] = "trellis-mesh";

std::string withReason(std::string what) {
  return what + ": " + pki::detail::opensslReason();
}

std::string uriSan(X509* cert) {
  std::string uri;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_URI) {
      const ASN1_IA5STRING* s = name->d.uniformResourceIdentifier;
      uri.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                 static_cast<size_t>(ASN1_STRING_length(s)));
      break;
    }
  }
  GENERAL_NAMES_free(names);
  return uri;
}

// The server's preference order wins over the client's.
int selectAlpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outLength,
               const unsigned char* offered, unsigned int offeredLength, void* arg) {
  const auto* context = static_cast<const TlsContext*>(arg);
  for (const std::string& wanted : context->alpn()) {
    for (unsigned int i = 0; i < offeredLength;) {
      unsigned int length = offered[i];
      if (i + 1 + length > offeredLength) break;
      if (std::string_view(reinterpret_cast<const char*>(offered + i + 1), length) == wanted) {
        *out = offered + i + 1;
        *outLength = static_cast<unsigned char>(length);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + length;
    }
  }
  // A mesh peer speaking none of our protocols is misconfigured: refuse (no_application_protocol)
  // rather than guess.
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

std::shared_ptr<const TlsContext> TlsContext::create(const Options& options, std::string* error) {
  auto refuse = [error](std::string why) -> std::shared_ptr<const TlsContext> {
    if (error != nullptr) *error = std::move(why);
    ERR_clear_error();
    return nullptr;
  };
  const bool server = options.side == Side::Server;
  if (server && (options.certChainPem.empty() || options.privateKeyPem.empty())) {
    return refuse("a server needs a certificate chain and its private key");
  }
  if (options.certChainPem.empty() != options.privateKeyPem.empty()) {
    return refuse("a certificate chain and its private key go together");
  }
  if (!server && !options.requirePeerCertificate) {
    return refuse("a client always verifies the server's certificate");
  }
  if (options.trustBundlePem.empty() && (!server || options.requirePeerCertificate)) {
    return refuse("a trust bundle is needed to verify the peer");
  }
  std::string wireAlpn;
  for (const std::string& protocol : options.alpn) {
    if (protocol.empty() || protocol.size() > 255) {
      return refuse("ALPN protocol '" + protocol + "' must be 1 to 255 bytes");
    }
    wireAlpn.push_back(static_cast<char>(protocol.size()));
    wireAlpn += protocol;
  }

  std::shared_ptr<TlsContext> context(new TlsContext());
  context->side_ = options.side;
  context->alpn_ = options.alpn;
  context->ctx_ = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  SSL_CTX* ctx = context->ctx_;
  if (ctx == nullptr) return refuse(withReason("cannot create an SSL_CTX"));

  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kCipherSuites) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return refuse(withReason("cannot restrict the context to TLS 1.3"));
  }
  // Unexpected EOF: a FIN without close_notify reads as an end of stream, as on a plain socket;
  // HTTP framing, not TLS, detects a truncated message.
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes: SSL_write returns after each record, so the caller knows what was taken.
  // Moving buffer: a write retried after WANT_WRITE comes from the connection's output buffer,
  // not from where the first attempt was. Auto retry: a post-handshake message never makes
  // SSL_read report WANT_READ while the socket still holds bytes.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_AUTO_RETRY);
  // Read ahead: one read() takes as many records as the buffer holds instead of a header and
  // then a body per record.
  SSL_CTX_set_read_ahead(ctx, 1);

  if (!options.certChainPem.empty()) {
    std::string why;
    std::vector<pki::CertPtr> chain = pki::parseCertificates(options.certChainPem, &why);
    if (chain.empty()) return refuse("certificate chain: " + why);
    pki::KeyPtr key = pki::parsePrivateKey(options.privateKeyPem, &why);
    if (!key) return refuse(why);
    if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) {
      return refuse(withReason("certificate chain: the leaf is not usable"));
    }
    for (size_t i = 1; i < chain.size(); ++i) {
      if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
        return refuse(withReason("certificate chain: certificate " + std::to_string(i + 1)));
      }
    }
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
      ERR_clear_error();
      return refuse("the private key does not match the certificate (the first of the chain)");
    }
    context->localIdentity_ = uriSan(chain.front().get());
  }

  if (!options.trustBundlePem.empty()) {
    std::string why;
    std::vector<pki::CertPtr> roots = pki::parseCertificates(options.trustBundlePem, &why);
    if (roots.empty()) return refuse("trust bundle: " + why);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const pki::CertPtr& root : roots) {
      if (X509_STORE_add_cert(store, root.get()) != 1) {
        return refuse(withReason("trust bundle: cannot add a certificate"));
      }
    }
    // A CA loaded from an intermediate distributes that intermediate as the bundle.
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  }

  // A client always verifies; a server without mutual TLS still checks a certificate that is
  // sent, when it has a bundle to check it with.
  int verifyMode = SSL_VERIFY_NONE;
  if (!server || !options.trustBundlePem.empty()) verifyMode = SSL_VERIFY_PEER;
  if (server && options.requirePeerCertificate) verifyMode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, verifyMode, &TlsStream::verifyCallback);
  SSL_CTX_set_verify_depth(ctx, 8);

  if (server) {
    // Stateless tickets (the default for TLS 1.3 in OpenSSL) need no server-side cache, which
    // would be a lock shared by all workers. The ticket key is the context's own, so a renewed
    // context also rotates it. One ticket: a proxy reuses it for its next connection.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1) != 1) {
      return refuse(withReason("cannot set the session id context"));
    }
    if (!options.alpn.empty()) {
      SSL_CTX_set_alpn_select_cb(ctx, &selectAlpn, context.get());
    }
  } else {
    // Sessions go to the connection's ClientSessionCache, never to OpenSSL's own (locked) one.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &TlsStream::newSessionCallback);
    // Inverted convention: 0 is success.
    if (!wireAlpn.empty() &&
        SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(wireAlpn.data()),
                                static_cast<unsigned int>(wireAlpn.size())) != 0) {
      return refuse(withReason("cannot set the ALPN protocols"));
    }
  }
  ERR_clear_error();
  return context;
}

ClientSessionCache::~ClientSessionCache() {
  for (Entry& entry : lru_) SSL_SESSION_free(entry.session);
}

SSL_SESSION* ClientSessionCache::find(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  SSL_SESSION* session = it->second->session;
  const auto now = static_cast<uint64_t>(std::time(nullptr));
  const auto expiry =
      static_cast<uint64_t>(SSL_SESSION_get_time(session)) + SSL_SESSION_get_timeout(session);
  if (SSL_SESSION_is_resumable(session) != 1 || now >= expiry) {
    erase(key);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return session;
}

void ClientSessionCache::store(std::string_view key, SSL_SESSION* session) {
  if (capacity_ == 0 || session == nullptr) return;
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy == nullptr) {
    ERR_clear_error();
    return;
  }
  auto it = index_.find(key);
  if (it != index_.end()) {
    SSL_SESSION_free(it->second->session);
    it->second->session = copy;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (lru_.size() >= capacity_) {
    Entry& oldest = lru_.back();
    index_.erase(oldest.key);
    SSL_SESSION_free(oldest.session);
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::string(key), copy});
  index_.emplace(lru_.front().key, lru_.begin());
}

void ClientSessionCache::erase(std::string_view key) {
  auto it = index_.find(key);
  if (it == index_.end()) return;
  auto node = it->second;
  index_.erase(it);
  SSL_SESSION_free(node->session);
  lru_.erase(node);
}

}  // namespace trellis::tls
