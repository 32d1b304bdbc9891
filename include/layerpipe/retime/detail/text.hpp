// layerpipe/retime/detail/text.hpp — constexpr message helpers for the retiming engine.
//
// Error messages about cycles list a variable number of nodes, so they are assembled here, in
// constant evaluation too (integers come from core/detail/text.hpp).
#pragma once

#include <layerpipe/core/detail/text.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace layerpipe::detail::retiming_impl {

constexpr void append_int(std::string& out, std::int64_t value) { append_integer(out, value); }

constexpr std::string int_text(std::int64_t value) { return decimal(value); }

/// A non-negative time for a message: integer part, then up to 6 decimals without trailing
/// zeros (14, 2.5, 0.333333); constexpr, unlike std::to_chars for double in libstdc++ 12.
constexpr void append_decimal(std::string& out, double value) {
  if (!(value >= 0) || value >= 9.2e18) {  // NaN, negative or huge: never a D value in practice
    out += value != value ? "nan" : (value < 0 ? "negative" : "huge");
    return;
  }
  auto scaled = static_cast<std::uint64_t>(value * 1e6 + 0.5);
  append_int(out, static_cast<std::int64_t>(scaled / 1000000));
  std::uint64_t frac = scaled % 1000000;
  if (frac == 0) return;
  char digits[6]{};
  for (int i = 5; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  int len = 6;
  while (len > 0 && digits[len - 1] == '0') --len;
  out.push_back('.');
  out.append(digits, static_cast<std::size_t>(len));
}

/// "'name'" for a named node, "#3" for an unnamed one.
constexpr void append_node(std::string& out, std::string_view name, int index) {
  if (name.empty()) {
    out.push_back('#');
    append_int(out, index);
  } else {
    out.push_back('\'');
    out += name;
    out.push_back('\'');
  }
}

}  // namespace layerpipe::detail::retiming_impl
