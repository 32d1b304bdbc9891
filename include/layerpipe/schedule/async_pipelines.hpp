// layerpipe/schedule/async_pipelines.hpp — asynchronous pipelines with an optimizer step after
// every backward: PipeDream (1F1B without flush) and LayerPipe (systolic) (REFERENCE §3.3, §3.5,
// §3.7, §5.2).
//
//   layerpipe::schedule a = layerpipe::pipedream_async(2, 3);
//   // device 0: 0F0 | 0F1 0B0 0U0 | 0F2 0B1 0U1 | 0B2 0U2
//   // device 1: 1F0 1B0 1U0 1F1 1B1 1U1 1F2 1B2 1U2
//   layerpipe::schedule b = layerpipe::layerpipe_async(2, 3);
//   // device 0: 0F0 | 0F1 | 0F2 0B0 0U0 | 0B1 0U1 | 0B2 0U2          ('|' separates clocks)
//   // device 1: 1F0 1B0 1U0 | 1F1 1B1 1U1 | 1F2 1B2 1U2
//   layerpipe::measure_staleness(a);   // {1, 0}: S = P − 1 − s   (sim/staleness.hpp)
//   layerpipe::measure_staleness(b);   // {2, 0}: 2S
//
// Both place stage d on device d (placement::loop(P, 1)) and follow every backward B(s, m) at
// once with U(s, m), the optimizer step that applies micro-batch m's gradient: weights change
// M times per window and never wait for a flush. The staleness of a stage is the number of its
// updates that land between F(s, m) and B(s, m), i.e. how many gradients the weights B(s, m)
// differentiates at have gained since the forward read them.
//
// pipedream_async (PipeDream, 1F1B without flush), device d:
//   warm-up   w_d = min(P − d − 1, M) forwards F0 … F(w_d − 1);
//   steady    M − w_d triples F(w_d + i), B(i), U(i);
//   cool-down B(m), U(m) for the last w_d micro-batches.
//   Staleness: min(m, w_d) updates for micro-batch m, so S = P − 1 − s in steady state (reached
//   when M ≥ P − s; with fewer micro-batches the window's start-up gives M − 1). This is the
//   "1F1B without flush" row of REFERENCE §3.5: S(l) updates, P − s weight versions.
//   Bubble: start-up only (the window has 1F1B's shape, (M + P − 1)(T_F + T_B) for M
//   micro-batches; an endless run has no flush). Memory: min(P − d, M) activations in flight on
//   device d, as 1F1B; exact stashing keeps up to P − d weight versions.
//
// layerpipe_async (LayerPipe, systolic), clock by clock: F(s, k) at clock k + s and B(s, k) at
// clock k + 2(P − 1) − s (REFERENCE §3.3 with s = π(l) − 1), U(s, k) right after B(s, k). Within a
// clock a device runs its F, then its B, then its U, so an update lands at the end of a clock and
// is first read by the next clock's forward (REFERENCE §3.7). Clocks 0 … M + 2P − 3; empty clocks
// simply contribute no action (the in-order engine waits on dependencies, not on clocks).
//   Staleness: the updates from clock k + s (after F) to clock k + 2(P − 1) − s − 1, i.e.
//   min(k, 2S) with S = P − 1 − s: 2S = 2(P − 1 − s) in steady state (reached when M ≥ 2S + 1,
//   for every stage when M ≥ 2P − 1; with fewer micro-batches the start-up gives M − 1).
//   Bubble: fill and drain of 2(P − 1) clocks (M + 2(P − 1) clocks per window); stage s is busy
//   in both halves of a clock only in the M − 2S clocks of its steady state. Memory: up to
//   min(2S + 1, M) activations in flight on stage s (REFERENCE §3.6), about twice PipeDream's;
//   exact stashing keeps 2S past weight versions.
//
// Constraints: P ≥ 1, M ≥ 1. Training only (an update needs a backward). One stage per device.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace layerpipe {

/// PipeDream-style asynchronous 1F1B: no flush, U(d, m) right after each B(d, m).
inline schedule pipedream_async(int devices, int micro_batches) {
  detail::check_pipeline_sizes("PipeDream-async", devices, micro_batches);
  const std::size_t per_device = static_cast<std::size_t>(micro_batches) * 3u;
  schedule s = detail::empty_schedule("PipeDream-async", placement::loop(devices, 1), micro_batches,
                                      pass_mode::training, per_device);
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores
    const int warmup = std::min(devices - d - 1, micro_batches);
    for (int m = 0; m < warmup; ++m) *out++ = make_action(action_kind::forward, d, m);
    for (int i = 0; i < micro_batches - warmup; ++i) {
      *out++ = make_action(action_kind::forward, d, warmup + i);
      *out++ = make_action(action_kind::backward, d, i);
      *out++ = make_action(action_kind::update, d, i);
    }
    for (int m = micro_batches - warmup; m < micro_batches; ++m) {
      *out++ = make_action(action_kind::backward, d, m);
      *out++ = make_action(action_kind::update, d, m);
    }
    assert(out == list.data() + list.size());
  }
  return s;
}

/// LayerPipe-style systolic pipeline: per clock at most one F, one B and its U per stage;
/// F(s, k) at clock k + s, B(s, k) and U(s, k) at clock k + 2(P − 1) − s.
inline schedule layerpipe_async(int devices, int micro_batches) {
  detail::check_pipeline_sizes("LayerPipe-async", devices, micro_batches);
  const std::size_t per_device = static_cast<std::size_t>(micro_batches) * 3u;
  schedule s = detail::empty_schedule("LayerPipe-async", placement::loop(devices, 1), micro_batches,
                                      pass_mode::training, per_device);
  // 64-bit clocks: k + 2(P − 1) must not overflow for large P and M.
  const std::int64_t round_trip = 2 * (static_cast<std::int64_t>(devices) - 1);
  const std::int64_t clocks = static_cast<std::int64_t>(micro_batches) + round_trip;
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();
    for (std::int64_t c = d; c < clocks; ++c) {
      const std::int64_t f = c - d;                   // micro-batch whose forward runs now
      const std::int64_t b = c - (round_trip - d);    // micro-batch whose backward runs now
      if (f < micro_batches) *out++ = make_action(action_kind::forward, d, static_cast<int>(f));
      if (b >= 0 && b < micro_batches) {
        *out++ = make_action(action_kind::backward, d, static_cast<int>(b));
        *out++ = make_action(action_kind::update, d, static_cast<int>(b));
      }
    }
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
