#include "tls/pki/certificate_authority.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "tls/pki/openssl_ptr.h"

namespace trellis::pki {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the pointer aliases

// Certificates backdate notBefore by this much so a peer whose clock is slightly behind
// accepts them at once.
constexpr int64_t kClockSkewSeconds = 60;
// RFC 5280 upper bound for a commonName (ub-common-name).
constexpr size_t kMaxCommonName = 64;

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string formatTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const EVP_MD* digestFor(const EVP_PKEY& key) {
  if (EVP_PKEY_is_a(&key, "ED25519") || EVP_PKEY_is_a(&key, "ED448")) return nullptr;
  return EVP_sha256();
}

// A positive 128-bit random serial (RFC 5280 allows up to 20 octets; CA/B asks for 64+ random
// bits), so two certificates from the same CA never share one.
bool setRandomSerial(X509* cert) {
  unsigned char bytes[16];
  do {
    if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  } while (std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  AsnIntPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  return serial && X509_set_serialNumber(cert, serial.get()) == 1;
}

bool setValidity(X509* cert, int64_t notBefore, int64_t notAfter) {
  AsnTimePtr from(ASN1_TIME_set(nullptr, static_cast<time_t>(notBefore)));
  AsnTimePtr to(ASN1_TIME_set(nullptr, static_cast<time_t>(notAfter)));
  return from && to && X509_set1_notBefore(cert, from.get()) == 1 &&
         X509_set1_notAfter(cert, to.get()) == 1;
}

bool addNameEntry(X509_NAME* name, const char* field, std::string_view value) {
  return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char*>(value.data()),
                                    static_cast<int>(value.size()), -1, 0) == 1;
}

// An extension from OpenSSL's config syntax; only used with constant values.
bool addExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// subjectAltName with the single URI `uri`, built from a GENERAL_NAME so no character of the
// URI can be read as config syntax.
bool addUriSan(X509* cert, const std::string& uri, bool critical) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  GeneralNamePtr name(GENERAL_NAME_new());
  Ia5Ptr str(ASN1_IA5STRING_new());
  if (!names || !name || !str) return false;
  if (ASN1_STRING_set(str.get(), uri.data(), static_cast<int>(uri.size())) != 1) return false;
  GENERAL_NAME_set0_value(name.get(), GEN_URI, str.release());
  if (sk_GENERAL_NAME_push(names.get(), name.get()) <= 0) return false;
  name.release();  // owned by `names` now
  return X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), critical ? 1 : 0,
                           X509V3_ADD_DEFAULT) == 1;
}

bool isSigningCert(X509* cert, std::string* error) {
  uint32_t flags = X509_get_extension_flags(cert);
  if (!(flags & EXFLAG_BCONS) || !(flags & EXFLAG_CA)) {
    return fail(error, "the CA certificate is not a CA (basicConstraints CA:TRUE is missing)");
  }
  if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN)) {
    return fail(error, "the CA certificate's keyUsage lacks keyCertSign");
  }
  return true;
}

}  // namespace

CertificateAuthority CertificateAuthority::createRoot(std::string_view trustDomain,
                                                      std::chrono::seconds validity) {
  // No error channel here: a bad trust domain is the caller's bug (config validation should
  // have caught it), so it throws rather than minting a root no workload could chain to.
  std::string why;
  size_t bad = trustDomain.find_first_of("/?#");
  if (bad != std::string_view::npos) {
    throw std::invalid_argument("createRoot: trust domain has an invalid character '" +
                                std::string(1, trustDomain[bad]) + "'");
  }
  std::optional<SpiffeId> id = SpiffeId::parse("spiffe://" + std::string(trustDomain), &why);
  if (!id) throw std::invalid_argument("createRoot: " + why);

  CertificateAuthority ca;
  ca.trustDomain_ = id->trustDomain;
  ca.key_ = generateKey();
  ca.cert_.reset(X509_new());
  NamePtr subject(X509_NAME_new());
  X509* cert = ca.cert_.get();
  int64_t now = nowSeconds();
  std::string cn = "trellis root " + ca.trustDomain_;
  if (cn.size() > kMaxCommonName) cn.resize(kMaxCommonName);  // display only; the SAN is the id

  X509V3_CTX v3{};
  bool ok =
      ca.key_ && cert && subject && X509_set_version(cert, X509_VERSION_3) == 1 &&
      setRandomSerial(cert) && setValidity(cert, now - kClockSkewSeconds, now + validity.count()) &&
      addNameEntry(subject.get(), "O", "trellis") && addNameEntry(subject.get(), "CN", cn) &&
      X509_set_subject_name(cert, subject.get()) == 1 &&
      X509_set_issuer_name(cert, subject.get()) == 1 && X509_set_pubkey(cert, ca.key_.get()) == 1;
  if (ok) {
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  }
  ok = ok && addExtension(cert, &v3, NID_basic_constraints, "critical,CA:TRUE") &&
       addExtension(cert, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") &&
       addExtension(cert, &v3, NID_subject_key_identifier, "hash") &&
       addExtension(cert, &v3, NID_authority_key_identifier, "keyid:always") &&
       addUriSan(cert, id->uri(), /*critical=*/false) &&
       X509_sign(cert, ca.key_.get(), digestFor(*ca.key_)) > 0;
  if (!ok) throw std::runtime_error("createRoot: " + opensslReason());
  ca.chainPem_ = certificatePem(*cert);
  if (ca.chainPem_.empty()) throw std::runtime_error("createRoot: " + opensslReason());
  return ca;
}

std::optional<CertificateAuthority> CertificateAuthority::load(std::string_view certChainPem,
                                                               std::string_view keyPem,
                                                               std::string* error) {
  std::string why;
  std::vector<CertPtr> certs = parseCertificates(certChainPem, &why);
  if (certs.empty()) return refuse(error, "CA certificate: " + why);
  KeyPtr key = parsePrivateKey(keyPem, &why);
  if (!key) return refuse(error, "CA " + why);

  X509* signer = certs.front().get();
  if (EVP_PKEY_eq(X509_get0_pubkey(signer), key.get()) != 1) {
    ERR_clear_error();
    return refuse(error, "the CA key does not match the CA certificate (the first of the chain)");
  }
  if (!isSigningCert(signer, error)) return std::nullopt;
  CertInfo info = inspect(*signer);
  int64_t now = nowSeconds();
  if (info.notAfter <= now) {
    return refuse(error, "the CA certificate expired at " + formatTime(info.notAfter));
  }
  if (info.notBefore > now) {
    return refuse(error, "the CA certificate is not valid before " + formatTime(info.notBefore));
  }
  // A misordered chain would be served to every workload and fail there; refuse it here.
  for (size_t i = 0; i + 1 < certs.size(); ++i) {
    if (X509_check_issued(certs[i + 1].get(), certs[i].get()) != X509_V_OK) {
      return refuse(error, "CA chain: certificate " + std::to_string(i + 2) +
                               " did not issue certificate " + std::to_string(i + 1));
    }
  }

  CertificateAuthority ca;
  for (const std::string& uri : info.uriSans) {
    if (std::optional<SpiffeId> id = SpiffeId::parse(uri)) {
      ca.trustDomain_ = id->trustDomain;
      break;
    }
  }
  for (const CertPtr& cert : certs) ca.chainPem_ += certificatePem(*cert);
  ca.cert_ = std::move(certs.front());
  ca.key_ = std::move(key);
  ERR_clear_error();
  return ca;
}

std::optional<std::string> CertificateAuthority::sign(std::string_view csrPem, const SpiffeId& id,
                                                      std::chrono::seconds ttl,
                                                      std::string* error) const {
  std::string why;
  std::optional<SpiffeId> canonical = SpiffeId::parse(id.uri(), &why);
  if (!canonical) return refuse(error, "invalid SPIFFE ID '" + id.uri() + "': " + why);
  if (*canonical != id) {
    return refuse(error, "SPIFFE ID '" + id.uri() + "' is not in canonical (lower-case) form");
  }
  if (id.path.empty()) {
    return refuse(error, "SPIFFE ID '" + id.uri() + "' has no path; a workload identity needs one");
  }
  if (!trustDomain_.empty() && id.trustDomain != trustDomain_) {
    return refuse(error, "SPIFFE ID '" + id.uri() + "' is outside the CA's trust domain '" +
                             trustDomain_ + "'");
  }
  if (ttl.count() <= 0) return refuse(error, "ttl must be positive");

  std::optional<CsrInfo> csr = parseCsr(csrPem, &why);
  if (!csr) return refuse(error, why);
  const std::string want = id.uri();
  if (csr->uriSans.size() != 1) {
    return refuse(error, "CSR has " + std::to_string(csr->uriSans.size()) +
                             " URI SANs; exactly one ('" + want + "') is required");
  }
  if (csr->uriSans.front() != want) {
    return refuse(error, "CSR asks for '" + csr->uriSans.front() + "', not '" + want + "'");
  }

  CertInfo caInfo = inspect(*cert_);
  int64_t now = nowSeconds();
  if (caInfo.notAfter <= now) {
    return refuse(error, "the CA certificate expired at " + formatTime(caInfo.notAfter));
  }
  int64_t notBefore = std::max(now - kClockSkewSeconds, caInfo.notBefore);
  int64_t notAfter = std::min(now + static_cast<int64_t>(ttl.count()), caInfo.notAfter);

  CertPtr leaf(X509_new());
  NamePtr subject(X509_NAME_new());
  X509* ca = cert_.get();
  X509V3_CTX v3{};
  bool ok = leaf && subject && X509_set_version(leaf.get(), X509_VERSION_3) == 1 &&
            setRandomSerial(leaf.get()) && setValidity(leaf.get(), notBefore, notAfter) &&
            addNameEntry(subject.get(), "O", "trellis") &&
            X509_set_subject_name(leaf.get(), subject.get()) == 1 &&
            X509_set_issuer_name(leaf.get(), X509_get_subject_name(ca)) == 1 &&
            X509_set_pubkey(leaf.get(), csr->publicKey.get()) == 1;
  if (ok) {
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, ca, leaf.get(), nullptr, nullptr, 0);
  }
  // X.509-SVID 4: CA:FALSE and a critical keyUsage without certificate signing; both EKUs for
  // mTLS. Every leaf has the same subject (O=trellis), so the SAN is marked critical: a verifier
  // that cannot read it must refuse the certificate rather than identify by subject.
  ok = ok && addExtension(leaf.get(), &v3, NID_basic_constraints, "critical,CA:FALSE") &&
       addExtension(leaf.get(), &v3, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
       addExtension(leaf.get(), &v3, NID_ext_key_usage, "serverAuth,clientAuth") &&
       addExtension(leaf.get(), &v3, NID_subject_key_identifier, "hash") &&
       // Without a subjectKeyIdentifier on the CA there is no key id to point at.
       (X509_get0_subject_key_id(ca) == nullptr ||
        addExtension(leaf.get(), &v3, NID_authority_key_identifier, "keyid:always")) &&
       addUriSan(leaf.get(), want, /*critical=*/true) &&
       X509_sign(leaf.get(), key_.get(), digestFor(*key_)) > 0;
  if (!ok) return refuse(error, "signing the certificate: " + opensslReason());
  std::string leafPem = certificatePem(*leaf);
  if (leafPem.empty()) return refuse(error, "encoding the certificate failed");
  ERR_clear_error();
  return leafPem + chainPem_;
}

std::string CertificateAuthority::keyPem() const {
  return privateKeyPem(*key_);
}

}  // namespace trellis::pki
