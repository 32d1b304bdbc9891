// layerpipe/core/detail/text.hpp — integer formatting usable in constant evaluation.
//
// std::to_string and std::to_chars are not constexpr in libstdc++ 12, but names built inside a
// static_assert (numbered layers) and messages about cycles need decimal text there too.
#pragma once

#include <string>

namespace layerpipe::detail {

/// Appends the decimal digits of `value` (with a '-' when negative).
constexpr void append_integer(std::string& out, long long value) {
  const bool negative = value < 0;
  unsigned long long v =
      negative ? 0ULL - static_cast<unsigned long long>(value) : static_cast<unsigned long long>(value);
  char digits[24]{};
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  if (negative) out.push_back('-');
  while (n > 0) out.push_back(digits[--n]);
}

/// The decimal text of `value`: decimal(-42) == "-42".
constexpr std::string decimal(long long value) {
  std::string out;
  append_integer(out, value);
  return out;
}

}  // namespace layerpipe::detail
