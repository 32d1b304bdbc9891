// layerpipe/schedule/zb_v.hpp — ZB-V: zero-bubble schedule on a V placement with two chunks per
// device and the backward split into I and W (REFERENCE §5.5; PyTorch ScheduleZBVZeroBubble).
//
//   layerpipe::schedule s = layerpipe::zb_v(2, 4);   // P = 2 devices, M = 4, stages 0..3
//   // device 0 (stages 0, 3): 0F0 0F1 0F2 3F0 3I0 3W0 3F1 3I1 3W1 0F3 0I0 0W0 3F2 3I2 3W2
//   //                         0I1 0W1 3F3 3I3 3W3 0I2 0W2 0I3 0W3
//   // device 1 (stages 1, 2): 1F0 2F0 1F1 2F1 2I0 2W0 1F2 1I0 1W0 2F2 2I1 2W1 1F3 1I1 1W1
//   //                         2F3 2I2 2W2 1I2 2I3 1I3 1W2 2W3 1W3
//
// Construction: placement::v(P, 2); chunk 0 of device d is stage d, chunk 1 is stage 2P − 1 − d,
// so the turn on device P − 1 (stages P − 1, P) is local. Ops are generated for
// n = max(2P − 1, M) micro-batches (the warm-up needs 2P − 1 chunk-0 forwards on device 0), then
// every op of a padding micro-batch m ≥ M is dropped; the kept ops keep their relative order.
// Dropping is safe: ops of different micro-batches never depend on each other, so the padded
// schedule's execution order restricted to the kept ops is still a valid order (and the tests
// validate every P ≤ 8, M ≤ 24). Per device d (F0/I0/W0 = chunk 0, F1/I1/W1 = chunk 1):
//   warm-up 1   2(P − d) − 1 × F0
//   warm-up 2   d × [F1, F0]
//   warm-up 3   (P − d) × [F1, I1, W1]
//   steady      while F0 or F1 remain: [F0 (while any remain), I0, W0, F1, I1, W1]
//   cool-down 1 d × [I0, I1], their W's deferred
//   cool-down 2 (P − d) × [I0, W0 (oldest pending)]
//   tail        remaining W1's, then remaining W0's (oldest first)
// Micro-batches are taken in increasing order within each (chunk, pass).
//
// Constraints: P ≥ 1, M ≥ 1 (any M). For M < 2P − 1 the schedule is the M = 2P − 1 one with the
// padding micro-batches' ops removed: valid, but the slots they leave become bubbles (measured,
// at chunk costs T_F = T_I = T_W = T: largest span idle 2(2P − 1 − M)·T).
//
// Cost (chunk costs T_F, T_I, T_W, i.e. per-stage times ÷ 2; free communication): with
// T_F = T_I = T_W the span idle (last end − first start − busy) is 0 on every device once
// M ≥ 2P − 1 (REFERENCE states M ≥ 2P; the simulation shows 2P − 1 suffices and 2P − 2 does not,
// see tests/schedule/zb_v.cpp). The wall-clock bubble keeps the start-up skew (device d starts
// d chunk forwards late: (P − 1)·T_F/2 in stage units), which only overlapping iterations
// (optimizer post-validation) hides. At equal chunk costs the makespan is below interleaved
// 1F1B's with V = 2 for every P ≥ 2, M ≥ 1 the tests sweep.
// Memory (order-based, W frees): at most 2P half-size chunk activations = P stage-units per
// device, reached on every device once M ≥ 2P − 1 (min(M, P) at most below that); one weight
// copy per device; 2(2P − 2) point-to-point messages per micro-batch (2× 1F1B).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <limits>

namespace layerpipe {

/// ZB-V over `devices` devices (2 stages each, V placement) and `micro_batches` micro-batches.
inline schedule zb_v(int devices, int micro_batches) {
  detail::check_pipeline_sizes("ZB-V", devices, micro_batches);
  detail::check_stage_count("ZB-V", devices, 2);
  // Each (chunk, micro-batch) gets an F, an I and a W: 6M actions per device.
  const std::size_t per_device = static_cast<std::size_t>(micro_batches) * 6u;
  schedule s = detail::empty_schedule("ZB-V", placement::v(devices, 2), micro_batches, pass_mode::training,
                                      per_device);
  const int P = devices;
  const int M = micro_batches;
  // Padded count n = max(2P − 1, M), without overflowing int for huge P.
  const long long padded_ll = std::max(2LL * P - 1, static_cast<long long>(M));
  if (padded_ll > std::numeric_limits<int>::max())
    detail::fail("ZB-V pads M to 2P - 1, which must fit in an int, got 2P - 1 = ", 2LL * P - 1);
  const int n = static_cast<int>(padded_ll);

  for (int d = 0; d < P; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();
    const int stage0 = d;              // chunk 0: on the way down the V
    const int stage1 = 2 * P - 1 - d;  // chunk 1: on the way back up
    // Counters of the next micro-batch per (chunk, pass); padding micro-batches (>= M) are
    // counted like real ones but not emitted.
    int f0 = 0, f1 = 0, i0 = 0, i1 = 0, w0 = 0, w1 = 0;
    auto emit = [&](action_kind k, int stage, int& counter) {
      if (counter < M) *out++ = make_action(k, stage, counter);
      ++counter;
    };
    // Warm-up 1: fill the down-going half of the V.
    for (int k = 0; k < 2 * (P - d) - 1; ++k) emit(action_kind::forward, stage0, f0);
    // Warm-up 2: the first micro-batches come back up; interleave with more chunk-0 forwards.
    for (int k = 0; k < d; ++k) {
      emit(action_kind::forward, stage1, f1);
      emit(action_kind::forward, stage0, f0);
    }
    // Warm-up 3: the first backwards reach chunk 1; run its W at once (no memory to spare).
    for (int k = 0; k < P - d; ++k) {
      emit(action_kind::forward, stage1, f1);
      emit(action_kind::backward_input, stage1, i1);
      emit(action_kind::backward_weight, stage1, w1);
    }
    // Steady: one F, I, W per chunk per round until chunk 1 has caught up with all forwards.
    while (f1 < f0 || f0 < n) {
      if (f0 < n) emit(action_kind::forward, stage0, f0);
      emit(action_kind::backward_input, stage0, i0);
      emit(action_kind::backward_weight, stage0, w0);
      emit(action_kind::forward, stage1, f1);
      emit(action_kind::backward_input, stage1, i1);
      emit(action_kind::backward_weight, stage1, w1);
    }
    // Cool-down 1: only I's, so gradients reach the devices below as early as possible.
    for (int k = 0; k < d; ++k) {
      emit(action_kind::backward_input, stage0, i0);
      emit(action_kind::backward_input, stage1, i1);
    }
    // Cool-down 2: the last chunk-0 I's, each followed by the oldest deferred chunk-0 W.
    for (int k = 0; k < P - d; ++k) {
      emit(action_kind::backward_input, stage0, i0);
      emit(action_kind::backward_weight, stage0, w0);
    }
    // Tail: the deferred W's fill the time the devices above would otherwise idle.
    while (w1 < i1) emit(action_kind::backward_weight, stage1, w1);
    while (w0 < i0) emit(action_kind::backward_weight, stage0, w0);
    assert(f0 == n && f1 == n && i0 == n && i1 == n && w0 == n && w1 == n);
    assert(out == list.data() + list.size());
    (void)out;
  }
  return s;
}

}  // namespace layerpipe
