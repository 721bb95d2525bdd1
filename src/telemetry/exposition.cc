// exposition.cc — see exposition.h.
#include "telemetry/exposition.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tidegate::telemetry {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<std::int64_t>(value));
  }
  return fmt::format("{}", value);  // shortest form that reads back exactly
}

void Exposition::Declare(std::string_view name, std::string_view help, std::string_view type) {
  if (std::find(declared_.begin(), declared_.end(), name) != declared_.end()) return;
  declared_.emplace_back(name);
  text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, type);
}

void Exposition::Sample(std::string_view name, const Labels& labels, std::string_view value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) text_ += ',';
      text_ += fmt::format("{}=\"{}\"", labels[i].first, EscapeLabelValue(labels[i].second));
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += value;
  text_ += '\n';
}

void Exposition::Counter(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  Declare(name, help, "counter");
  Sample(name, labels, FormatValue(value));
}

void Exposition::Gauge(std::string_view name, std::string_view help, const Labels& labels,
                       double value) {
  Declare(name, help, "gauge");
  Sample(name, labels, FormatValue(value));
}

void Exposition::Histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const HistogramSnapshot& h) {
  Declare(name, help, "histogram");
  const std::string bucket = fmt::format("{}_bucket", name);
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    Labels with_le = labels;
    with_le.emplace_back("le", i < h.bounds.size() ? FormatValue(h.bounds[i]) : "+Inf");
    Sample(bucket, with_le, FormatValue(static_cast<double>(h.buckets[i])));
  }
  Sample(fmt::format("{}_sum", name), labels, FormatValue(h.sum));
  Sample(fmt::format("{}_count", name), labels, FormatValue(static_cast<double>(h.count())));
}

}  // namespace tidegate::telemetry
