// client_tls.cc — see client_tls.h.
#include "delivery/client_tls.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

namespace tidegate::delivery {

namespace asio = boost::asio;

base::Result<std::shared_ptr<asio::ssl::context>> MakeClientTlsContext(
    const ClientTlsOptions& options) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (options.verify) {
    if (options.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->load_verify_file(options.ca_file, ec);
    }
    if (ec) {
      return base::MakeError("TLS trust anchors " + options.ca_file + ": " + ec.message());
    }
    ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none, ec);
  }
  if (ec) return base::MakeError("TLS client context: " + ec.message());
  return ctx;
}

base::Status PrepareClientStream(asio::ssl::stream<asio::ip::tcp::socket&>& stream,
                                 const std::string& peer_name, bool verify) {
  SSL* ssl = stream.native_handle();
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(peer_name, ec);
  const bool is_ip = !ec;
  if (!is_ip && !peer_name.empty()) SSL_set_tlsext_host_name(ssl, peer_name.c_str());
  if (!verify) return base::Status::Ok();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, ip.to_string().c_str()) != 1) {
      return base::MakeError("cannot verify peer IP " + peer_name);
    }
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, peer_name.c_str(), peer_name.size()) != 1) {
      return base::MakeError("cannot verify peer name " + peer_name);
    }
  }
  return base::Status::Ok();
}

}  // namespace tidegate::delivery
