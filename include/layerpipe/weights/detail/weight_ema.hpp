// layerpipe/weights/detail/weight_ema.hpp — the weight EMA shared by Variant B and the fixed-β
// baseline (REFERENCE §4.3); they differ only in how β is chosen.
//
//   W̄(0) = W(0),  W̄(n) = β·W̄(n−1) + (1 − β)·W(n),  Ŵ(n − d) = W̄(n)   (W(n) for d = 0 or n = 0)
//
// Starting from W(0) rather than 0 needs no bias correction. W(n+1) = W(n) − Δ(n) is formed here
// with the expression apply_update() uses, so it is bitwise the caller's new weights.
#pragma once

#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/policy.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace layerpipe::detail::weights_impl {

template <weight_policy Kind, std::floating_point T>
class weight_ema {
public:
  using value_type = T;
  static constexpr weight_policy kind = Kind;

  weight_ema() = default;
  weight_ema(std::size_t size, std::int64_t delay, double beta) : size_(size), delay_(delay), beta_(beta) {
    check_delay(to_string(kind), delay);
    check_beta(to_string(kind), beta);
    if (delay > 0) average_.assign(buffer_bytes(to_string(kind), 1, size, sizeof(T)) / sizeof(T), T(0));
  }

  /// W̄ ← β·W̄ + (1 − β)·(W(n) − Δ(n)), with W̄ = W(n) first when n = 0.
  void record(std::span<const T> weights, std::span<const T> delta) {
    check_record(to_string(kind), weights, delta, size_);
    if (delay_ > 0) {
      if (n_ == 0) std::copy(weights.begin(), weights.end(), average_.begin());
      const T keep = static_cast<T>(beta_), take = static_cast<T>(1.0 - beta_);
      for (std::size_t i = 0; i < size_; ++i) {
        T next = weights[i];
        next -= delta[i];  // W(n+1), exactly as apply_update computes it
        average_[i] = keep * average_[i] + take * next;
      }
    }
    ++n_;
  }

  /// out = W̄(n) (d >= 1, n >= 1), else W(n).
  void reconstruct(std::span<const T> current, std::span<T> out) const {
    if (reconstruct_current(to_string(kind), current, out, size_, delay_ == 0 || n_ == 0)) return;
    std::copy(average_.begin(), average_.end(), out.begin());
  }

  /// Forgets every update: n = 0; the next record restarts W̄ from the weights it is given.
  void reset() noexcept { n_ = 0; }
  weight_policy policy() const noexcept { return kind; }
  std::int64_t delay() const noexcept { return delay_; }
  double beta() const noexcept { return beta_; }
  std::size_t size() const noexcept { return size_; }
  std::int64_t updates() const noexcept { return n_; }
  /// size() × sizeof(T) for d >= 1, 0 for d = 0.
  std::size_t memory_bytes() const noexcept { return average_.size() * sizeof(T); }

  /// Same parameters, update count and buffers.
  friend bool operator==(const weight_ema&, const weight_ema&) = default;

private:
  std::size_t size_ = 0;
  std::int64_t delay_ = 0;
  double beta_ = 0.0;
  std::int64_t n_ = 0;
  std::vector<T> average_;  // W̄(n)
};

}  // namespace layerpipe::detail::weights_impl
