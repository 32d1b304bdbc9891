// layerpipe/weights/stale.hpp — the stale policy: use the current weights, keep nothing.
//
// Ŵ(n − d) = W(n). Its error W(n − d) − W(n) is the sum of the last min(n, d) updates: the
// reference every other policy's error is compared with (REFERENCE §4.3, §4.4). No memory.
//
//   layerpipe::stale_weights<float> h(w.size(), 4);
//   h.reconstruct(w, out);                                                      // out == w
#pragma once

#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace layerpipe {

template <std::floating_point T>
class stale_weights {
public:
  using value_type = T;
  static constexpr weight_policy kind = weight_policy::stale;

  stale_weights() = default;
  stale_weights(std::size_t size, std::int64_t delay) : size_(size), delay_(delay) {
    detail::weights_impl::check_delay(to_string(kind), delay);
  }

  void record(std::span<const T> weights, std::span<const T> delta) {
    detail::weights_impl::check_record(to_string(kind), weights, delta, size_);
    ++n_;
  }

  /// out = W(n).
  void reconstruct(std::span<const T> current, std::span<T> out) const {
    detail::weights_impl::reconstruct_current(to_string(kind), current, out, size_, true);
  }

  void reset() noexcept { n_ = 0; }
  weight_policy policy() const noexcept { return kind; }
  std::int64_t delay() const noexcept { return delay_; }
  std::size_t size() const noexcept { return size_; }
  std::int64_t updates() const noexcept { return n_; }
  std::size_t memory_bytes() const noexcept { return 0; }

  /// Same parameters, update count and buffers.
  friend bool operator==(const stale_weights&, const stale_weights&) = default;

private:
  std::size_t size_ = 0;
  std::int64_t delay_ = 0;
  std::int64_t n_ = 0;
};

}  // namespace layerpipe
