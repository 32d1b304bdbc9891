// layerpipe/weights/error_analysis.hpp — the steady-state error of Variant A, in closed form.
//
// REFERENCE §4.4. Without bias correction (n large), the error of ema_updates is a fixed linear
// filter of the past updates:
//
//   ε = W(n − d) − Ŵ = Σ_{k>=0} c_k·Δ(n − 1 − k),     c_k = 1[k < d] − d·(1 − β)·β^k
//
// Σ c_k = 0: constant updates leave no error, for any β. For updates linear in time,
// Δ(j) = a + b·j, ε = b·D with D = −Σ k·c_k = d·β/(1 − β) − d(d − 1)/2 (the drift), which is
// zero iff β = (d − 1)/(d + 1); β = 1 − 1/d gives D = d(d − 1)/2. For i.i.d. zero-mean updates
// of variance σ², Var(ε)/σ² = Σ c_k² (the noise gain); the stale policy's is d.
//
//   layerpipe::ema_noise_gain(6, layerpipe::ema_updates_beta(6));  // 1.59…
//   layerpipe::ema_noise_gain(6, 1.0 - 1.0 / 6);                   // 1.29…
//   layerpipe::ema_linear_drift(6, 1.0 - 1.0 / 6);                 // 15
#pragma once

#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/ema_updates.hpp>

#include <cstdint>

namespace layerpipe {

namespace detail::weights_impl {
constexpr void check_analysis(std::int64_t delay, double beta) {
  if (delay < 0) raise("ema error analysis: the delay must be >= 0 optimizer updates, got d = ", delay);
  if (!(beta >= 0.0 && beta < 1.0)) raise("ema error analysis: the EMA decay must lie in [0, 1), got beta = ", beta);
}
constexpr double power(double x, std::int64_t k) {  // x^k, k >= 0, by squaring (std::pow is not constexpr)
  double p = 1.0;
  for (; k > 0; k /= 2, x *= x)
    if (k % 2 == 1) p *= x;
  return p;
}
}  // namespace detail::weights_impl

/// c_k = 1[k < d] − d·(1 − β)·β^k: how much of the update k + 1 steps back is left in the error.
constexpr double ema_error_coefficient(std::int64_t delay, double beta, std::int64_t k) {
  detail::weights_impl::check_analysis(delay, beta);
  if (k < 0) detail::raise("ema error analysis: the lag must be k >= 0, got k = ", k);
  return (k < delay ? 1.0 : 0.0) -
         static_cast<double>(delay) * (1.0 - beta) * detail::weights_impl::power(beta, k);
}

/// Σ_k c_k² = d − 2d·(1 − β^d) + d²·(1 − β)/(1 + β): Var(ε)/σ² for i.i.d. update noise.
constexpr double ema_noise_gain(std::int64_t delay, double beta) {
  detail::weights_impl::check_analysis(delay, beta);
  const auto d = static_cast<double>(delay);
  return d - 2.0 * d * (1.0 - detail::weights_impl::power(beta, delay)) + d * d * (1.0 - beta) / (1.0 + beta);
}

/// D = −Σ_k k·c_k = d·β/(1 − β) − d(d − 1)/2: the steady error per unit slope of linear updates.
constexpr double ema_linear_drift(std::int64_t delay, double beta) {
  detail::weights_impl::check_analysis(delay, beta);
  const auto d = static_cast<double>(delay);
  return d * beta / (1.0 - beta) - d * (d - 1.0) / 2.0;
}

}  // namespace layerpipe
