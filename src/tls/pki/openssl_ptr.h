#pragma once
// Owning pointers for the OpenSSL objects the PKI code handles, and its error helpers (internal
// to src/tls/pki).

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>
#include <string>

namespace trellis::pki::detail {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
template <typename T, auto Free>
using Ptr = std::unique_ptr<T, Deleter<Free>>;

using BioPtr = Ptr<BIO, BIO_free_all>;
using ReqPtr = Ptr<X509_REQ, X509_REQ_free>;
using NamePtr = Ptr<X509_NAME, X509_NAME_free>;
using ExtPtr = Ptr<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamesPtr = Ptr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = Ptr<GENERAL_NAME, GENERAL_NAME_free>;
using Ia5Ptr = Ptr<ASN1_IA5STRING, ASN1_IA5STRING_free>;
using MdCtxPtr = Ptr<EVP_MD_CTX, EVP_MD_CTX_free>;
using StorePtr = Ptr<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = Ptr<X509_STORE_CTX, X509_STORE_CTX_free>;
using BnPtr = Ptr<BIGNUM, BN_free>;
using AsnIntPtr = Ptr<ASN1_INTEGER, ASN1_INTEGER_free>;
using AsnTimePtr = Ptr<ASN1_TIME, ASN1_TIME_free>;

/// The most recent error of this thread's OpenSSL error queue as text, emptying the queue;
/// "unknown OpenSSL error" when it was empty.
inline std::string opensslReason() {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

/// Sets `*error` (when asked for) and returns false.
inline bool fail(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return false;
}

/// fail() for functions that return an optional.
inline std::nullopt_t refuse(std::string* error, std::string message) {
  fail(error, std::move(message));
  return std::nullopt;
}

}  // namespace trellis::pki::detail
