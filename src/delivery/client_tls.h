// client_tls.h — TLS for outbound SMTP (STARTTLS as a client).
//
// Two policies: opportunistic (delivery.tls: preferred — encrypt, do not verify, never fail a
// delivery over a certificate) and verified (delivery.tls: required, and always for the
// Threat Defense Connector — TLS 1.2+, chain verified against the configured trust anchors, the
// peer name checked: a DNS name against the certificate's names, an IP address against its IP
// SANs). Contexts are immutable after creation and shared by connections; thread-safe.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "base/result.h"

namespace tidegate::delivery {

struct ClientTlsOptions {
  bool verify = false;          // verify chain and peer name
  std::string ca_file;          // trust anchors (PEM); empty = the system store
};

base::Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTlsContext(
    const ClientTlsOptions& options);

// Prepares one stream before its handshake: SNI (for DNS names) and, when verifying, the
// expected peer name (DNS name or IP literal).
base::Status PrepareClientStream(boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>& stream,
                                 const std::string& peer_name, bool verify);

}  // namespace tidegate::delivery
