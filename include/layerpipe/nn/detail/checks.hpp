// layerpipe/nn/detail/checks.hpp — host-side shape checks shared by the nn/ layers. They run
// before anything is launched, so a wrong shape never reaches a kernel.
#pragma once

#include <layerpipe/core/error.hpp>

#include <cstddef>

namespace layerpipe::nn::detail {

/// Every nn/ function needs a non-empty micro-batch.
inline void require_batch(const char* where, const char* name, std::size_t rows) {
  if (rows == 0) {
    layerpipe::detail::fail(where, ": the batch must hold at least one row, got ", name, ".rows = 0");
  }
}

/// `rule` holds when a == b; otherwise throws naming the rule and both values.
inline void require_equal(const char* where, const char* rule, const char* a_name, std::size_t a,
                          const char* b_name, std::size_t b) {
  if (a != b) {
    layerpipe::detail::fail(where, ": ", rule, " (", a_name, " == ", b_name, "), got ", a_name,
                            " = ", a, ", ", b_name, " = ", b);
  }
}

}  // namespace layerpipe::nn::detail
