// layerpipe/weights/ema_lag_matched.hpp — Variant B: a weight EMA whose lag equals the delay.
//
// REFERENCE §4.3. W̄(0) = W(0), W̄(n) = β·W̄(n−1) + (1 − β)·W(n), Ŵ(n − d) = W̄(n), with
// β = d/(d + 1) by default (overridable): a weight EMA trails its input by β/(1 − β) = d updates.
// Exact (to rounding) for constant updates in steady state only: from n = d on the error
// W(n − d) − Ŵ is d·Δ·β^n, which dies out but is not zero; updates linear in time,
// Δ(j) = a + b·j, leave a steady error b·d(d + 1)/2. W(n) for d = 0 or n = 0. Memory: one buffer of size() elements for
// d >= 1, none for d = 0.
//
//   layerpipe::ema_lag_matched<float> h(w.size(), 6);       // β = 6/7
//   layerpipe::apply_update(h, std::span(w), std::span<const float>(delta));   // × n
//   h.reconstruct(w, old);                                  // old ≈ W(n − 6)
#pragma once

#include <layerpipe/weights/detail/weight_ema.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace layerpipe {

/// The lag-matched decay of Variant B: d/(d + 1).
constexpr double ema_lag_matched_beta(std::int64_t delay) noexcept {
  return delay <= 0 ? 0.0 : static_cast<double>(delay) / static_cast<double>(delay + 1);
}

template <std::floating_point T>
class ema_lag_matched : public detail::weights_impl::weight_ema<weight_policy::ema_lag_matched, T> {
  using base = detail::weights_impl::weight_ema<weight_policy::ema_lag_matched, T>;

public:
  ema_lag_matched() = default;
  /// beta: the decay, d/(d + 1) when empty; must lie in [0, 1).
  ema_lag_matched(std::size_t size, std::int64_t delay, std::optional<double> beta = std::nullopt)
      : base(size, delay, beta.value_or(ema_lag_matched_beta(delay))) {}

  friend bool operator==(const ema_lag_matched&, const ema_lag_matched&) = default;
};

}  // namespace layerpipe
