// server_tls.h — TLS for our servers (STARTTLS on SMTP listeners and the intake): the one place
// that turns a TLS profile (config::TlsProfile) and an optional explicit cipher string into a
// server SSL_CTX.
//
// Every profile lets the server choose the cipher (SSL_OP_CIPHER_SERVER_PREFERENCE, in TLS 1.2
// and 1.3), needs TLS 1.2 or newer, and lists forward-secret AEAD suites first:
//   intermediate   Mozilla's "intermediate" server profile: TLS 1.2 only ECDHE/DHE with AES-GCM
//                  or ChaCha20-Poly1305, TLS 1.3's three standard suites.
//   opportunistic  SMTP where TLS is optional: the same suites first, then forward-secret CBC,
//                  then static-RSA key exchange at the bottom. A client that can do no better
//                  still gets encryption instead of plain text (RFC 7435; Postfix's `medium`).
// An explicit cipher string replaces the profile's TLS 1.2 list (TLS 1.3 suites are unchanged).
// TLS 1.0/1.1 are not offered: OpenSSL 3 negotiates them only at @SECLEVEL=0 (their signatures
// are SHA-1/MD5), which would also admit other weak parameters. Contexts are immutable after
// creation and shared by sessions; the function is thread-safe.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string_view>

#include "base/result.h"
#include "config/config.h"

namespace tidegate::inbound {

// The profile's TLS 1.2 cipher string (OpenSSL syntax), in preference order.
std::string_view ServerCipherList(config::TlsProfile profile);

// Builds a server-side TLS context from the profile, the optional explicit cipher string and the
// certificate chain and key. Errors name the file or the setting at fault.
base::Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerTlsContext(
    const config::TlsFiles& settings);

}  // namespace tidegate::inbound
