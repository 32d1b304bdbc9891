// layerpipe/graph/detail/text.hpp — constexpr names for generated layers (decimal() is in core).
#pragma once

#include <layerpipe/core/detail/text.hpp>

#include <string>
#include <string_view>

namespace layerpipe::detail {

/// prefix + decimal(number), e.g. numbered("block", 3) == "block3".
constexpr std::string numbered(std::string_view prefix, long long number) {
  std::string out(prefix);
  out += decimal(number);
  return out;
}

}  // namespace layerpipe::detail
