// layerpipe/weights/any_weight_history.hpp — a policy chosen at run time, by value.
//
// any_weight_history<T> holds one of the six policies in a std::variant (no virtual calls, no
// heap beyond the policy's own buffers), copies and compares like the policy inside, and
// satisfies weight_history<any_weight_history<T>, T> itself. make_weight_history builds one from
// a weight_policy; weight_history_bytes gives the memory a policy would take without building it.
//
//   auto h = layerpipe::make_weight_history<float>(layerpipe::parse_weight_policy("ema"), w.size(),
//                                                  plan.staleness_updates(l, style));
//   layerpipe::apply_update(h, std::span(w), std::span<const float>(delta));
//   h.reconstruct(w, old);
//   layerpipe::weight_history_bytes(layerpipe::weight_policy::exact_stash, 1 << 20, 6, 4);  // 6 × 4 MiB
//
// Options (weight_history_options): `beta` — the EMA decay of ema_updates (default (d−1)/(d+1)),
// ema_lag_matched (default d/(d+1)) and ema_fixed (default 0.9); `period` — m, the updates
// between two-buffer versions (default 1). A policy rejects an option it does not use unless it
// keeps its default, so a misspelt policy cannot silently ignore a setting.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/ema_fixed.hpp>
#include <layerpipe/weights/ema_lag_matched.hpp>
#include <layerpipe/weights/ema_updates.hpp>
#include <layerpipe/weights/exact_stash.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/stale.hpp>
#include <layerpipe/weights/two_buffer.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <variant>

namespace layerpipe {

struct weight_history_options {
  std::optional<double> beta = std::nullopt;  // EMA policies only; empty = the policy's default decay
  std::int64_t period = 1;     // two_buffer only: a new version every `period` updates (m >= 1)
};

template <std::floating_point T>
class any_weight_history {
public:
  using value_type = T;
  // Alternatives in weight_policy order: index() == static_cast<std::size_t>(policy()).
  using variant_type =
      std::variant<exact_stash<T>, stale_weights<T>, two_buffer<T>, ema_updates<T>, ema_lag_matched<T>, ema_fixed<T>>;

  any_weight_history() = default;  // an exact stash of size 0 and delay 0
  template <class P>
    requires std::is_constructible_v<variant_type, P&&> && weight_history<std::remove_cvref_t<P>, T>
  any_weight_history(P&& policy) : held_(std::forward<P>(policy)) {}  // NOLINT: implicit by design

  void record(std::span<const T> weights, std::span<const T> delta) {
    std::visit([&](auto& p) { p.record(weights, delta); }, held_);
  }
  void reconstruct(std::span<const T> current, std::span<T> out) const {
    std::visit([&](const auto& p) { p.reconstruct(current, out); }, held_);
  }
  void reset() {
    std::visit([](auto& p) { p.reset(); }, held_);
  }
  weight_policy policy() const noexcept { return static_cast<weight_policy>(held_.index()); }
  std::int64_t delay() const noexcept { return std::visit([](const auto& p) { return p.delay(); }, held_); }
  std::size_t size() const noexcept { return std::visit([](const auto& p) { return p.size(); }, held_); }
  std::int64_t updates() const noexcept { return std::visit([](const auto& p) { return p.updates(); }, held_); }
  std::size_t memory_bytes() const noexcept {
    return std::visit([](const auto& p) { return p.memory_bytes(); }, held_);
  }

  /// The concrete policy, for its own members (beta(), period(), age()).
  const variant_type& get() const noexcept { return held_; }
  template <class P>
  const P* get_if() const noexcept {
    return std::get_if<P>(&held_);
  }

  /// Same policy, parameters, update count and buffers.
  friend bool operator==(const any_weight_history&, const any_weight_history&) = default;

private:
  variant_type held_;
};

namespace detail::weights_impl {
inline void reject_beta(weight_policy p, const weight_history_options& o) {
  if (o.beta) fail("weight history '", to_string(p), "' has no EMA decay: leave beta empty, got beta = ", *o.beta);
}
inline void reject_period(weight_policy p, const weight_history_options& o) {
  if (o.period != 1)
    fail("weight history '", to_string(p), "' has no version period (only two-buffer does): leave period = 1, got ",
         o.period);
}
}  // namespace detail::weights_impl

/// A policy of `size` elements for a layer of staleness `delay` (optimizer updates). Throws
/// layerpipe::error for d < 0, β outside [0, 1), m < 1, an option the policy does not use, or a
/// value outside weight_policy.
template <std::floating_point T>
any_weight_history<T> make_weight_history(weight_policy policy, std::size_t size, std::int64_t delay,
                                          const weight_history_options& options = {}) {
  using namespace detail::weights_impl;
  switch (policy) {
    case weight_policy::exact_stash:
      reject_beta(policy, options);
      reject_period(policy, options);
      return exact_stash<T>(size, delay);
    case weight_policy::stale:
      reject_beta(policy, options);
      reject_period(policy, options);
      return stale_weights<T>(size, delay);
    case weight_policy::two_buffer:
      reject_beta(policy, options);
      return two_buffer<T>(size, delay, options.period);
    case weight_policy::ema_updates:
      reject_period(policy, options);
      return ema_updates<T>(size, delay, options.beta);
    case weight_policy::ema_lag_matched:
      reject_period(policy, options);
      return ema_lag_matched<T>(size, delay, options.beta);
    case weight_policy::ema_fixed:
      reject_period(policy, options);
      return ema_fixed<T>(size, delay, options.beta.value_or(ema_fixed_default_beta));
  }
  detail::fail("weight history: unknown weight_policy value ", static_cast<int>(policy));
}

/// Bytes the policy would hold beyond the current weights, for a layer of `size` elements of
/// `element_bytes` each and staleness `delay`: exact_stash d buffers; two_buffer and the three
/// EMAs one buffer; stale none; every policy none for d = 0. Throws for d < 0, element_bytes = 0,
/// an overflow of std::size_t, or a value outside weight_policy.
inline std::size_t weight_history_bytes(weight_policy policy, std::size_t size, std::int64_t delay,
                                        std::size_t element_bytes) {
  using namespace detail::weights_impl;
  check_delay(to_string(policy), delay);
  if (element_bytes == 0) detail::fail("weight history '", to_string(policy), "': the element size must be >= 1 byte, got 0");
  if (delay == 0) return 0;
  switch (policy) {
    case weight_policy::exact_stash:
      return buffer_bytes(to_string(policy), static_cast<std::uint64_t>(delay), size, element_bytes);
    case weight_policy::stale:
      return 0;
    case weight_policy::two_buffer:
    case weight_policy::ema_updates:
    case weight_policy::ema_lag_matched:
    case weight_policy::ema_fixed:
      return buffer_bytes(to_string(policy), 1, size, element_bytes);
  }
  detail::fail("weight history: unknown weight_policy value ", static_cast<int>(policy));
}

}  // namespace layerpipe
