// layerpipe/weights/two_buffer.hpp — PipeDream-2BW's two weight versions (REFERENCE §4.5).
//
// 2BW keeps two versions per worker: the current one, which new forwards read, and the previous
// one, which in-flight backwards still need; a new version is made every m micro-batches. Here,
// counted in the optimizer updates the policy records, the caller holds the current weights W(n)
// and the policy one snapshot, taken every m updates:
//
//   snapshot = W(m·⌊(n − 1)/m⌋)      for n >= 1, i.e. W(n − a) with age a = n − m·⌊(n − 1)/m⌋ in [1, m]
//   Ŵ(n − d) = snapshot              for d >= 1 and n >= 1;   W(n) for d = 0 or n = 0
//
// The age runs 1, 2, …, m, 1, 2, … whatever d is: exact when it equals d, so always for
// d = m = 1 (PipeDream-2BW with one update per version: W(t+1) = W(t) − ν·∇f(W(t − 1))),
// otherwise off by the updates between n − d and n − a. Memory: one buffer of size() elements
// for d >= 1, none for d = 0.
//
//   layerpipe::two_buffer<float> h(w.size(), /*delay=*/1, /*period=*/1);
//   layerpipe::apply_update(h, std::span(w), std::span<const float>(delta));   // × n
//   h.reconstruct(w, old);                                                      // old == W(n − 1)
#pragma once

#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace layerpipe {

template <std::floating_point T>
class two_buffer {
public:
  using value_type = T;
  static constexpr weight_policy kind = weight_policy::two_buffer;

  two_buffer() = default;
  two_buffer(std::size_t size, std::int64_t delay, std::int64_t period = 1)
      : size_(size), delay_(delay), period_(period) {
    detail::weights_impl::check_delay(to_string(kind), delay);
    detail::weights_impl::check_period(period);
    if (delay > 0) snapshot_.resize(detail::weights_impl::buffer_bytes(to_string(kind), 1, size, sizeof(T)) / sizeof(T));
  }

  /// Takes the snapshot W(n) when n is a multiple of m.
  void record(std::span<const T> weights, std::span<const T> delta) {
    detail::weights_impl::check_record(to_string(kind), weights, delta, size_);
    if (delay_ > 0 && n_ % period_ == 0) std::copy(weights.begin(), weights.end(), snapshot_.begin());
    ++n_;
  }

  /// out = W(m·⌊(n − 1)/m⌋) (d >= 1, n >= 1), else W(n).
  void reconstruct(std::span<const T> current, std::span<T> out) const {
    if (detail::weights_impl::reconstruct_current(to_string(kind), current, out, size_, delay_ == 0 || n_ == 0)) return;
    std::copy(snapshot_.begin(), snapshot_.end(), out.begin());
  }

  /// Updates between the snapshot and the current weights: n − m·⌊(n − 1)/m⌋ (0 while n = 0 or d = 0).
  std::int64_t age() const noexcept { return delay_ == 0 || n_ == 0 ? 0 : n_ - period_ * ((n_ - 1) / period_); }

  void reset() noexcept { n_ = 0; }
  weight_policy policy() const noexcept { return kind; }
  std::int64_t delay() const noexcept { return delay_; }
  std::int64_t period() const noexcept { return period_; }
  std::size_t size() const noexcept { return size_; }
  std::int64_t updates() const noexcept { return n_; }
  /// size() × sizeof(T) for d >= 1, 0 for d = 0.
  std::size_t memory_bytes() const noexcept { return snapshot_.size() * sizeof(T); }

  /// Same parameters, update count and buffers.
  friend bool operator==(const two_buffer&, const two_buffer&) = default;

private:
  std::size_t size_ = 0;
  std::int64_t delay_ = 0;
  std::int64_t period_ = 1;
  std::int64_t n_ = 0;
  std::vector<T> snapshot_;
};

}  // namespace layerpipe
