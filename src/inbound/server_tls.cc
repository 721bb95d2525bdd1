// server_tls.cc — see server_tls.h.
#include "inbound/server_tls.h"

#include <openssl/ssl.h>

#include <string>

namespace tidegate::inbound {

namespace asio = boost::asio;

namespace {

// Mozilla server-side TLS "intermediate" (guidelines v5.7), TLS 1.2 part.
constexpr std::string_view kIntermediateCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

// Forward-secret AEAD, then forward-secret CBC (and CCM), then static RSA key exchange; never
// unauthenticated, NULL, MD5, RC4, 3DES, DSS or pre-shared-key suites.
constexpr std::string_view kOpportunisticCiphers =
    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:"
    "ECDHE+AES:DHE+AES:"
    "RSA+AESGCM:RSA+AES:"
    "!aNULL:!eNULL:!MD5:!RC4:!3DES:!DSS:!PSK:!SRP:!AESCCM8";

constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

}  // namespace

std::string_view ServerCipherList(config::TlsProfile profile) {
  return profile == config::TlsProfile::kIntermediate ? kIntermediateCiphers
                                                      : kOpportunisticCiphers;
}

base::Result<std::shared_ptr<asio::ssl::context>> MakeServerTlsContext(
    const config::TlsFiles& settings) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  boost::system::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use |
                       asio::ssl::context::no_compression,
                   ec);
  if (ec) return base::MakeError("TLS options: " + ec.message());
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_dh_auto(native, 1);  // built-in groups for the DHE suites
  const std::string ciphers =
      settings.ciphers.empty() ? std::string(ServerCipherList(settings.profile)) : settings.ciphers;
  if (SSL_CTX_set_cipher_list(native, ciphers.c_str()) != 1) {
    return base::MakeError("TLS ciphers '" + ciphers + "' select no cipher");
  }
  if (SSL_CTX_set_ciphersuites(native, kTls13Suites) != 1) {
    return base::MakeError("TLS 1.3 suites not available");
  }
  ctx->use_certificate_chain_file(settings.certificate, ec);
  if (ec) return base::MakeError("TLS certificate " + settings.certificate + ": " + ec.message());
  ctx->use_private_key_file(settings.key, asio::ssl::context::pem, ec);
  if (ec) return base::MakeError("TLS key " + settings.key + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    return base::MakeError("TLS key " + settings.key + " does not match " + settings.certificate);
  }
  return ctx;
}

}  // namespace tidegate::inbound
