// http_message.cc — see http_message.h.
#include "admin/http_message.h"

#include <algorithm>

#include "admin/text_codec.h"

namespace tidegate::admin {

namespace {

std::string Lookup(const std::map<std::string, std::string>& map, std::string_view name) {
  auto it = map.find(std::string(name));
  return it == map.end() ? std::string() : it->second;
}

}  // namespace

std::string Request::header(std::string_view name) const {
  std::string lower = AsciiLower(name);
  for (const auto& [key, value] : headers) {
    if (key == lower) return value;
  }
  return {};
}

std::string Request::param(std::string_view name) const { return Lookup(query, name); }

std::string Request::field(std::string_view name) const { return Lookup(form, name); }

Response Response::Json(int status, const nlohmann::json& j) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body += '\n';
  return r;
}

Response Response::Html(int status, std::string html) {
  Response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(html);
  return r;
}

Response Response::Text(int status, std::string text) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(text);
  return r;
}

Response Response::Redirect(std::string location, int status) {
  std::erase_if(location, [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

Response Response::Error(int status, std::string message) {
  return Json(status, nlohmann::json{{"error", std::move(message)}});
}

}  // namespace tidegate::admin
