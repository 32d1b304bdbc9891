// layerpipe/weights/ema_fixed.hpp — baseline: a weight EMA with a fixed decay, whatever the delay.
//
// REFERENCE §4.3. W̄(0) = W(0), W̄(n) = β·W̄(n−1) + (1 − β)·W(n), Ŵ(n − d) = W̄(n), β given
// (0.9 by default). Its lag β/(1 − β) (9 updates for 0.9) fits at most one delay, so it is exact
// for constant updates in steady state only when d = β/(1 − β). A layer with d = 0 needs no
// history: W(n), no memory. Memory: one buffer of size() elements for d >= 1.
//
//   layerpipe::ema_fixed<float> h(w.size(), 6, 0.9);
//   layerpipe::apply_update(h, std::span(w), std::span<const float>(delta));   // × n
//   h.reconstruct(w, old);                                  // old = W̄(n)
#pragma once

#include <layerpipe/weights/detail/weight_ema.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace layerpipe {

/// The default decay of the fixed-β baseline.
inline constexpr double ema_fixed_default_beta = 0.9;

template <std::floating_point T>
class ema_fixed : public detail::weights_impl::weight_ema<weight_policy::ema_fixed, T> {
  using base = detail::weights_impl::weight_ema<weight_policy::ema_fixed, T>;

public:
  ema_fixed() = default;
  /// beta must lie in [0, 1).
  ema_fixed(std::size_t size, std::int64_t delay, double beta = ema_fixed_default_beta) : base(size, delay, beta) {}

  friend bool operator==(const ema_fixed&, const ema_fixed&) = default;
};

}  // namespace layerpipe
