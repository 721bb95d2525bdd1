// exposition.h — the Prometheus text exposition format, version 0.0.4 (CONTRACT §12 "Metrics"):
// `# HELP` and `# TYPE` once per metric family, then its samples, label values escaped
// (backslash, double quote, line feed), histograms as _bucket{le=…} (cumulative, +Inf last),
// _sum and _count.
//
// Pure text building: no I/O, no state beyond the text. A family's header is written by the first
// call that names it, so samples of one family must be added one after the other.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telemetry/histogram.h"

namespace tidegate::telemetry {

inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

// A label value as the format wants it inside double quotes: \ → \\, " → \", LF → \n.
std::string EscapeLabelValue(std::string_view value);
// A HELP text: \ → \\, LF → \n.
std::string EscapeHelp(std::string_view text);
// A sample value: integers as integers, +Inf / -Inf / NaN as the format spells them.
std::string FormatValue(double value);

class Exposition {
 public:
  // One sample of a counter (`name` ends in _total) or a gauge.
  void Counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  void Gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // Declares a family with no sample yet (a labelled counter with no label value seen).
  void Declare(std::string_view name, std::string_view help, std::string_view type);
  void Histogram(std::string_view name, std::string_view help, const Labels& labels,
                 const HistogramSnapshot& h);

  const std::string& text() const { return text_; }
  std::string Take() { return std::move(text_); }

 private:
  void Sample(std::string_view name, const Labels& labels, std::string_view value);

  std::string text_;
  std::vector<std::string> declared_;
};

}  // namespace tidegate::telemetry
