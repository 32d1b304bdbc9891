// layerpipe/weights/ema_updates.hpp — Variant A: rebuild old weights from an EMA of applied updates.
//
// REFERENCE §4.2. Per update the policy folds Δ(n) into one buffer u; a reconstruction adds d
// times its bias-corrected value to the current weights:
//
//   u(n) = β·u(n−1) + (1 − β)·Δ(n−1),  u(0) = 0;   û(n) = u(n) / (1 − β^n)
//   Ŵ(n − d) = W(n) + min(n, d)·û(n)                (W(n) for d = 0 or n = 0)
//
// β = (d − 1)/(d + 1) by default (the EMA's centre of mass equals the mean age of the last d
// updates), overridable. min(n, d) is the warm-up: before d updates the version wanted is W(0),
// n updates back (weight_history.hpp); from n = d on it is the REFERENCE's d·û.
// Exact (to rounding) for constant updates at every n >= 1 and any β; with the default β also
// for updates linear in time once the bias-correction transient (n·β^n) has died out; d = 1
// gives β = 0 and is exact for every sequence. Other β drift on linear updates
// (error_analysis.hpp). Memory: one buffer of size() elements for d >= 1, none for d = 0.
//
//   layerpipe::ema_updates<float> h(w.size(), 6);           // β = 5/7
//   layerpipe::apply_update(h, std::span(w), std::span<const float>(delta));   // × n
//   h.reconstruct(w, old);                                  // old ≈ W(n − 6)
#pragma once

#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace layerpipe {

/// The pipeline-aware decay of Variant A: (d − 1)/(d + 1), 0 for d <= 1.
constexpr double ema_updates_beta(std::int64_t delay) noexcept {
  return delay <= 1 ? 0.0 : static_cast<double>(delay - 1) / static_cast<double>(delay + 1);
}

template <std::floating_point T>
class ema_updates {
public:
  using value_type = T;
  static constexpr weight_policy kind = weight_policy::ema_updates;

  ema_updates() = default;
  /// beta: the decay, (d − 1)/(d + 1) when empty; must lie in [0, 1).
  ema_updates(std::size_t size, std::int64_t delay, std::optional<double> beta = std::nullopt)
      : size_(size), delay_(delay), beta_(beta.value_or(ema_updates_beta(delay))) {
    detail::weights_impl::check_delay(to_string(kind), delay);
    detail::weights_impl::check_beta(to_string(kind), beta_);
    if (delay > 0) average_.assign(detail::weights_impl::buffer_bytes(to_string(kind), 1, size, sizeof(T)) / sizeof(T), T(0));
  }

  /// u ← β·u + (1 − β)·Δ(n).
  void record(std::span<const T> weights, std::span<const T> delta) {
    detail::weights_impl::check_record(to_string(kind), weights, delta, size_);
    if (delay_ > 0) {
      const T keep = static_cast<T>(beta_), take = static_cast<T>(1.0 - beta_);
      for (std::size_t i = 0; i < size_; ++i) average_[i] = keep * average_[i] + take * delta[i];
      beta_power_ *= beta_;
    }
    ++n_;
  }

  /// out = W(n) + min(n, d)·u/(1 − β^n).
  void reconstruct(std::span<const T> current, std::span<T> out) const {
    if (detail::weights_impl::reconstruct_current(to_string(kind), current, out, size_, delay_ == 0 || n_ == 0)) return;
    const T scale = static_cast<T>(static_cast<double>(std::min(n_, delay_)) / (1.0 - beta_power_));
    for (std::size_t i = 0; i < size_; ++i) out[i] = current[i] + scale * average_[i];
  }

  /// Forgets every update: n = 0, u = 0.
  void reset() {
    n_ = 0;
    beta_power_ = 1.0;
    std::fill(average_.begin(), average_.end(), T(0));
  }
  weight_policy policy() const noexcept { return kind; }
  std::int64_t delay() const noexcept { return delay_; }
  double beta() const noexcept { return beta_; }
  std::size_t size() const noexcept { return size_; }
  std::int64_t updates() const noexcept { return n_; }
  /// size() × sizeof(T) for d >= 1, 0 for d = 0.
  std::size_t memory_bytes() const noexcept { return average_.size() * sizeof(T); }

  /// Same parameters, update count and buffers.
  friend bool operator==(const ema_updates&, const ema_updates&) = default;

private:
  std::size_t size_ = 0;
  std::int64_t delay_ = 0;
  double beta_ = 0.0;
  double beta_power_ = 1.0;  // β^n, for the bias correction
  std::int64_t n_ = 0;
  std::vector<T> average_;   // u(n)
};

}  // namespace layerpipe
