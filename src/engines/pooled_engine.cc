// pooled_engine.cc — see pooled_engine.h.
#include "engines/pooled_engine.h"

#include <boost/asio/error.hpp>
#include <boost/beast/http/error.hpp>

namespace tidegate::engines::internal {

std::string Reason(const boost::system::error_code& ec) {
  namespace error = boost::asio::error;
  namespace http = boost::beast::http;
  if (ec == error::connection_refused) return "connection refused";
  if (ec == error::connection_reset || ec == error::broken_pipe) return "connection reset";
  if (ec == error::eof || ec == http::error::end_of_stream || ec == http::error::partial_message) {
    return "connection closed";
  }
  if (ec == error::operation_aborted || ec == error::bad_descriptor) return "aborted";
  if (ec == error::host_unreachable || ec == error::network_unreachable) return "unreachable";
  return ec.message();
}

}  // namespace tidegate::engines::internal
