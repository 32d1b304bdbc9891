// layerpipe/weights/weight_history.hpp — the one interface of every weight-version policy.
//
// A layer with staleness d (in optimizer updates, e.g. delay_plan::staleness_updates) runs its
// backward pass against the weights of d updates ago. A policy object, one per layer, sees every
// update the layer applies and rebuilds Ŵ(n − d) on demand from the current weights W(n).
// Buffers are plain contiguous spans: the caller keeps its own tensors.
//
//   layerpipe::ema_updates<float> h(w.size(), /*delay=*/6);
//   for (each step) {
//     compute delta;                                  // Δ(n) = η·g (+ momentum, weight decay)
//     layerpipe::apply_update(h, std::span(w), std::span<const float>(delta));  // record, then w −= Δ
//     h.reconstruct(w, old);                          // old ≈ W(n − 6)
//   }
//
// Protocol (indices as in REFERENCE §4.1: W(n+1) = W(n) − Δ(n), n = updates applied so far):
//   record(weights, delta)  is called once per update with W(n) — the weights *before* Δ(n) is
//                           applied — and Δ(n). Seeing W(n) rather than W(n+1) is what lets the
//                           exact stash be bitwise exact with d buffers: W(n) cannot be recovered
//                           from W(n+1) and Δ(n) in floating point, and the user's buffer is
//                           overwritten next. Policies that track weights (Variant B, the fixed
//                           EMA) form W(n+1) = W(n) − Δ(n) themselves, the same expression
//                           apply_update() uses, so they see bitwise the caller's new weights.
//   reconstruct(current, out)  writes Ŵ(n − d) given current = W(n). `out` may be `current`
//                           itself (in place) or a disjoint span. The version wanted is
//                           W(max(n − d, 0)): during the first d updates the forward passes whose
//                           backward runs now saw the initial weights W(0).
//   delay() = d, size() = elements per buffer, updates() = n, reset() forgets every update
//   (n = 0) and keeps the buffers, memory_bytes() = bytes of the buffers the policy holds beyond
//   the caller's current weights (d = 0 holds none for every policy).
// Every span must have size() elements: a mismatch throws layerpipe::error naming both sizes.
#pragma once

#include <layerpipe/weights/detail/checks.hpp>
#include <layerpipe/weights/policy.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace layerpipe {

template <class P, class T>
concept weight_history =
    std::floating_point<T> && std::copyable<P> && std::same_as<typename P::value_type, T> &&
    requires(P& p, const P& cp, std::span<const T> in, std::span<T> out) {
      { p.record(in, in) } -> std::same_as<void>;        // W(n), Δ(n): before the update lands
      { cp.reconstruct(in, out) } -> std::same_as<void>;  // W(n) -> Ŵ(n − d)
      { p.reset() } -> std::same_as<void>;
      { cp.policy() } -> std::same_as<weight_policy>;
      { cp.delay() } -> std::same_as<std::int64_t>;
      { cp.size() } -> std::same_as<std::size_t>;
      { cp.updates() } -> std::same_as<std::int64_t>;
      { cp.memory_bytes() } -> std::same_as<std::size_t>;
    };

/// Records Δ(n) with `history`, then applies it in place: weights[i] −= delta[i]. The usual way
/// to drive a policy when the caller's optimizer is "subtract Δ".
template <class P>
  requires weight_history<P, typename P::value_type>
void apply_update(P& history, std::span<typename P::value_type> weights,
                  std::span<const typename P::value_type> delta) {
  history.record(std::span<const typename P::value_type>(weights), delta);  // checks both sizes
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] -= delta[i];
}

}  // namespace layerpipe
