// layerpipe/io/chrome_trace.hpp — a timeline as Chrome Trace Event Format JSON (opens in
// Perfetto, ui.perfetto.dev, and chrome://tracing).
//
// One complete event ("ph":"X") per span: name = the action token (`2F0`), category = its kind,
// pid 0, tid = device, ts/dur in microseconds. Metadata names each track "device d" and sorts
// the tracks by device. Written by hand: no JSON library needed.
//
//   auto t = layerpipe::simulate(s, layerpipe::cost_model::uniform({0.010, 0.010, 0.010}));  // seconds
//   std::ofstream file("pipeline.json");
//   layerpipe::write_chrome_trace(file, t);    // 1 s of cost = 1e6 trace microseconds
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>

namespace layerpipe {

struct chrome_trace_options {
  double microseconds_per_unit = 1e6;    ///< cost units to trace μs: 1e6 when costs are seconds
  std::string process_name = "layerpipe";
};

namespace detail {
/// Appends `text` as a JSON string literal (quotes, backslashes and control characters escaped).
inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[(static_cast<unsigned char>(c) >> 4) & 0xf];
          out += hex[static_cast<unsigned char>(c) & 0xf];
        } else {
          out += c;  // UTF-8 bytes pass through unchanged
        }
    }
  }
  out += '"';
}

/// Shortest round-trip decimal form, locale-independent (JSON has no NaN or infinity).
inline void append_json_number(std::string& out, double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc{}) fail("chrome trace: cannot format number ", value);
  out.append(buffer, end);
}
}  // namespace detail

/// Writes `t` as Trace Event Format JSON. Throws layerpipe::error on a non-finite time or a
/// scale that is not finite and positive.
inline void write_chrome_trace(std::ostream& out, const timeline& t, const chrome_trace_options& options = {}) {
  const double scale = options.microseconds_per_unit;
  if (!std::isfinite(scale) || scale <= 0.0)
    detail::fail("chrome trace: microseconds_per_unit must be finite and > 0, got ", scale);
  for (std::size_t i = 0; i < t.spans.size(); ++i) {
    const span& x = t.spans[i];
    if (!std::isfinite(x.start * scale) || !std::isfinite(x.end * scale))
      detail::fail("chrome trace: span ", i, " (", x.what, " on device ", x.device,
                   ") has a non-finite time: start ", x.start, ", end ", x.end);
  }
  int devices = t.num_devices;
  for (const span& x : t.spans) devices = std::max(devices, x.device + 1);

  std::string line;
  out << "{\"traceEvents\":[\n";
  line = "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{\"name\":";
  detail::append_json_string(line, options.process_name);
  line += "}}";
  out << line;
  for (int d = 0; d < devices; ++d) {
    const std::string id = std::to_string(d);
    out << ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":0,\"tid\":" << id
        << ",\"args\":{\"name\":\"device " << id << "\"}}"
        << ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":0,\"tid\":" << id
        << ",\"args\":{\"sort_index\":" << id << "}}";
  }
  for (const span& x : t.spans) {
    line = ",\n{\"name\":";
    detail::append_json_string(line, to_string(x.what));
    line += ",\"cat\":";
    detail::append_json_string(line, token(x.what.kind));
    line += ",\"ph\":\"X\",\"pid\":0,\"tid\":";
    line += std::to_string(x.device);
    line += ",\"ts\":";
    detail::append_json_number(line, x.start * scale);
    line += ",\"dur\":";
    detail::append_json_number(line, (x.end - x.start) * scale);
    line += ",\"args\":{\"step\":";
    line += std::to_string(x.step);
    line += "}}";
    out << line;
  }
  out << "\n],\"displayTimeUnit\":\"ms\"}\n";
}

/// The same JSON as a string.
inline std::string chrome_trace(const timeline& t, const chrome_trace_options& options = {}) {
  std::ostringstream out;
  write_chrome_trace(out, t, options);
  return out.str();
}

}  // namespace layerpipe
