// layerpipe/weights/exact_stash.hpp — exact weight history: a ring of the last d versions.
//
// Keeps W(n − d), …, W(n − 1) (REFERENCE §4.1, PipeDream-style stashing counted in updates) and
// returns W(max(n − d, 0)) bitwise. Memory: d buffers of size() elements, allocated up front;
// none for d = 0 (the last stage needs no history).
//
//   layerpipe::exact_stash<double> h(w.size(), 3);
//   layerpipe::apply_update(h, std::span(w), std::span<const double>(delta));   // × n
//   h.reconstruct(w, old);                                                      // old == W(n − 3)
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
class exact_stash {
public:
  using value_type = T;
  static constexpr weight_policy kind = weight_policy::exact_stash;

  exact_stash() = default;
  exact_stash(std::size_t size, std::int64_t delay) : size_(size), delay_(delay) {
    detail::weights_impl::check_delay(to_string(kind), delay);
    const std::size_t bytes =
        detail::weights_impl::buffer_bytes(to_string(kind), static_cast<std::uint64_t>(delay), size, sizeof(T));
    ring_.resize(bytes / sizeof(T));
  }

  /// Stores W(n) in slot n mod d (overwriting W(n − d), no longer needed once Δ(n) lands).
  void record(std::span<const T> weights, std::span<const T> delta) {
    detail::weights_impl::check_record(to_string(kind), weights, delta, size_);
    if (delay_ > 0) std::copy(weights.begin(), weights.end(), slot(n_ % delay_).begin());
    ++n_;
  }

  /// out = W(max(n − d, 0)), bitwise.
  void reconstruct(std::span<const T> current, std::span<T> out) const {
    if (detail::weights_impl::reconstruct_current(to_string(kind), current, out, size_, delay_ == 0 || n_ == 0)) return;
    // W(n − d) sits in slot (n − d) mod d = n mod d; before d updates only W(0), in slot 0, is wanted.
    const std::span<const T> version = n_ >= delay_ ? slot(n_ % delay_) : slot(0);
    std::copy(version.begin(), version.end(), out.begin());
  }

  void reset() noexcept { n_ = 0; }
  weight_policy policy() const noexcept { return kind; }
  std::int64_t delay() const noexcept { return delay_; }
  std::size_t size() const noexcept { return size_; }
  std::int64_t updates() const noexcept { return n_; }
  /// d × size() × sizeof(T).
  std::size_t memory_bytes() const noexcept { return ring_.size() * sizeof(T); }

  /// Same parameters, update count and buffers.
  friend bool operator==(const exact_stash&, const exact_stash&) = default;

private:
  std::span<T> slot(std::int64_t i) { return std::span<T>(ring_).subspan(static_cast<std::size_t>(i) * size_, size_); }
  std::span<const T> slot(std::int64_t i) const {
    return std::span<const T>(ring_).subspan(static_cast<std::size_t>(i) * size_, size_);
  }

  std::size_t size_ = 0;
  std::int64_t delay_ = 0;
  std::int64_t n_ = 0;
  std::vector<T> ring_;  // d slots of size_ elements: W(j) lives in slot j mod d
};

}  // namespace layerpipe
