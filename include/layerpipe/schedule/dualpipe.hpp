// layerpipe/schedule/dualpipe.hpp — DualPipe (DeepSeek-V3): two copies of the model run in
// opposite directions, and the steady state overlaps a forward of one direction with a backward
// of the other as OVERLAP_F_B pairs (REFERENCE §5.10; deepseek-ai/DualPipe, dualpipe.py).
//
//   layerpipe::schedule s = layerpipe::dualpipe(2, 4);   // P = 2, M = 4, stages 0..3
//   // device 0 (stages 0, 3): 0F0 3F2 0F1 3B2 (3F3;0B0)OVERLAP_F_B 3B3 0I1 0W1
//   //                         0REDUCE_GRAD 3REDUCE_GRAD
//   // device 1 (stages 1, 2): 2F2 1F0 2F3 1B0 (1F1;2B2)OVERLAP_F_B 1B1 2I3 2W3
//   //                         1REDUCE_GRAD 2REDUCE_GRAD
//   // micro-batches 0, 1 go down (replica 0: stages 0 -> 1), 2, 3 go up (replica 1: stages 2 -> 3)
//
// Placement placement::bidirectional(placement::loop(P)): direction 0 is replica 0 (model stage
// s on device s, stage index s), direction 1 is replica 1 (model stage s on device P − 1 − s,
// stage index P + s). Device r holds stage r and stage 2P − 1 − r. Micro-batches 0 … M/2 − 1
// travel through replica 0, M/2 … M − 1 through replica 1 (schedule::micro_batch_replica).
//
// Per-rank order, as dualpipe.py issues its computations. Ph = P/2, h = min(r, P − 1 − r),
// M2 = M/2. A device calls "phase 0" the direction it lies in the first half of (direction 0
// for r < Ph, direction 1 for r ≥ Ph), so Fx/Bx/Ix = pass of phase x's stage; (Fx;By) =
// OVERLAP_F_B; W = the oldest deferred weight gradient (one FIFO over both phases).
//   1  2(Ph − h − 1)  F0
//   2  h + 1          F0, F1
//   3  Ph − h − 1     I1, W, F1
//   4  M2 − P + h + 1 (F0;B1), (F1;B0); the two middle devices (h = Ph − 1) issue their first
//                     (F0;B1) as F0 then B1, unoverlapped
//   5  Ph − h − 1     B1, (F1;B0)
//   6  h + 1          B1, B0; the first h + 1 of these 2(h + 1) backwards are B, the last h + 1
//                     are I (dualpipe.py switches at iteration ⌊(h+1)/2⌋, before its B1 for odd h
//                     and after it for even h: both give this split)
//   7  Ph − h − 1     W, I0
//   8  h + 1          W
//   then REDUCE_GRAD of stage r and of stage 2P − 1 − r (each waits for its copy's partner on
//   device P − 1 − r: the two copies' gradients are summed).
// Micro-batches are taken in increasing order per (phase, forward) and (phase, backward).
// Device r holds M + 5P/2 − 2h actions (two of them REDUCE_GRAD), one more on the middle two.
//
// Constraints (dualpipe.py's asserts): P ≥ 2 even, M even, M ≥ 2P — so step 4 runs at least once.
//
// Cost (uniform per-stage costs T_F, T_I, T_W, T_B = T_I + T_W; free communication; a pair waits
// for both inputs, REFERENCE §6), measured by tests/schedule/dualpipe.cpp for P ≤ 8,
// 2P ≤ M ≤ 4P + 2: with overlap_timing::sum (a pair lasts T_F&B = T_F + T_B) the wall-clock idle
// (makespan − busy) is the same on every device and independent of M. It equals
// (P/2 − 1)(T_F&B + T_B − 3T_W) = (P/2 − 1)(T_F + 2T_I − T_W) when T_I = T_F ≥ T_W; it is then
// also the span idle of devices 0 and P − 1 (devices 1 … P − 2 start later and end earlier).
// Outside that condition the formula can understate the idle: T_F:T_I:T_W = 2:1:1 idles
// 4(P/2 − 1), not 3(P/2 − 1); 1:1:2 idles 2(P/2 − 1), not P/2 − 1. P = 2 never idles.
// overlap_timing::max (a pair lasts max(T_F, T_B)) idles strictly less on every device, P ≥ 4.
// Memory (order-based, W frees, a pair counts its forward first): peak P + 1 stage activations =
// P + 1 stage-units on every device; two weight copies per device (stages r and 2P − 1 − r);
// 2(P − 1) point-to-point messages per micro-batch; 2P REDUCE_GRAD (one per stage copy).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cassert>
#include <cstddef>
#include <vector>

namespace layerpipe {

/// DualPipe over `devices` (even, ≥ 2) devices and `micro_batches` (even, ≥ 2P) micro-batches,
/// half of them through each direction.
inline schedule dualpipe(int devices, int micro_batches) {
  detail::check_pipeline_sizes("DualPipe", devices, micro_batches);
  if (devices % 2 != 0)
    detail::fail("DualPipe needs an even number of devices (P % 2 == 0: each device pairs with its mirror P - 1 - r), got P = ",
                 devices);
  if (micro_batches % 2 != 0)
    detail::fail("DualPipe needs an even number of micro-batches (M % 2 == 0: M/2 per direction), got M = ",
                 micro_batches);
  if (static_cast<long long>(micro_batches) < 2LL * devices)
    detail::fail("DualPipe needs at least two micro-batches per device (M >= 2P), got M = ", micro_batches,
                 " with 2P = ", 2LL * devices);
  // M >= 2P and M is an int, so the 2P stage indices fit a 32-bit index.
  const int P = devices;
  const int M = micro_batches;
  const int Ph = P / 2;
  const int M2 = M / 2;
  schedule s = detail::empty_schedule("DualPipe", placement::bidirectional(placement::loop(P)), M,
                                      pass_mode::training, 0);
  s.micro_batch_replica.assign(static_cast<std::size_t>(M), 0);
  for (int m = M2; m < M; ++m) s.micro_batch_replica[static_cast<std::size_t>(m)] = 1;

  // Deferred W's, FIFO over both phases. A device issues P − h − 1 ≤ P − 1 I's, so the buffer
  // never wraps: head and tail only grow within one device.
  struct pending {
    int stage, micro_batch;
  };
  std::vector<pending> queue(static_cast<std::size_t>(P));

  for (int r = 0; r < P; ++r) {
    const int h = r < Ph ? r : P - 1 - r;
    const int a = Ph - h - 1;            // rounds of steps 3, 5, 7 (step 1: 2a forwards)
    const int b = h + 1;                 // rounds of steps 2, 6, 8
    const int main_steps = M2 - P + h + 1;  // rounds of step 4, >= 1 since M >= 2P
    const bool middle = h == Ph - 1;
    auto& list = s.actions[static_cast<std::size_t>(r)];
    list.resize(static_cast<std::size_t>(M) + 5 * static_cast<std::size_t>(Ph) - 2 * static_cast<std::size_t>(h) +
                (middle ? 1u : 0u));
    action* out = list.data();
    // Phase 0 is the direction this device lies in the first half of.
    const bool second_half = r >= Ph;
    const int down_stage = r;              // replica 0, model stage r
    const int up_stage = 2 * P - 1 - r;    // replica 1, model stage P − 1 − r
    const int stage[2] = {second_half ? up_stage : down_stage, second_half ? down_stage : up_stage};
    // Micro-batch ids: direction 0 owns 0 … M2 − 1, direction 1 owns M2 … M − 1.
    const int first_mb[2] = {second_half ? M2 : 0, second_half ? 0 : M2};
    int f[2] = {0, 0}, bw[2] = {0, 0};  // next direction-local micro-batch per phase; B and I share one
    std::size_t head = 0, tail = 0;

    auto forward_action = [&](int phase) {
      return make_action(action_kind::forward, stage[phase], first_mb[phase] + f[phase]++);
    };
    auto backward_action = [&](int phase, action_kind kind) {
      const int mb = first_mb[phase] + bw[phase]++;
      if (kind == action_kind::backward_input) queue[tail++] = {stage[phase], mb};
      return make_action(kind, stage[phase], mb);
    };
    auto forward = [&](int phase) { *out++ = forward_action(phase); };
    auto full_backward = [&](int phase) { *out++ = backward_action(phase, action_kind::backward); };
    auto input_backward = [&](int phase) { *out++ = backward_action(phase, action_kind::backward_input); };
    auto weight = [&] {  // dualpipe.py pops WeightGradStore in FIFO order; it is never empty here
      assert(head < tail);
      const pending w = queue[head++];
      *out++ = make_action(action_kind::backward_weight, w.stage, w.micro_batch);
    };
    auto pair = [&](int f_phase, int b_phase) {
      const action fa = forward_action(f_phase);
      *out++ = overlap(fa, backward_action(b_phase, action_kind::backward));
    };

    // 1: fill this device's own direction.
    for (int k = 0; k < 2 * a; ++k) forward(0);
    // 2: the other direction arrives; alternate.
    for (int k = 0; k < b; ++k) {
      forward(0);
      forward(1);
    }
    // 3: zero-bubble warm-up of phase 1: I, the W just deferred, F.
    for (int k = 0; k < a; ++k) {
      input_backward(1);
      weight();
      forward(1);
    }
    // 4: steady state, every slot an overlapped pair. The middle devices hold the loss of phase
    // 1 and start its first backward alone rather than behind a pair partner.
    for (int k = 0; k < main_steps; ++k) {
      if (k == 0 && middle) {
        forward(0);
        full_backward(1);
      } else {
        pair(0, 1);
      }
      pair(1, 0);
    }
    // 5: phase 0 has no forwards left.
    for (int k = 0; k < a; ++k) {
      full_backward(1);
      pair(1, 0);
    }
    // 6: drain both phases; the second half of these backwards split so W's can fill the tail.
    for (int k = 0; k < 2 * b; ++k) {
      const int phase = k % 2 == 0 ? 1 : 0;
      if (k < b) {
        full_backward(phase);
      } else {
        input_backward(phase);
      }
    }
    // 7: the last phase-0 I's, each after the oldest deferred W.
    for (int k = 0; k < a; ++k) {
      weight();
      input_backward(0);
    }
    // 8: the remaining W's.
    for (int k = 0; k < b; ++k) weight();
    // Gradient synchronisation of both stage copies, in stage order.
    *out++ = make_action(action_kind::reduce_grad, down_stage);
    *out++ = make_action(action_kind::reduce_grad, up_stage);

    assert(f[0] == M2 && f[1] == M2 && bw[0] == M2 && bw[1] == M2 && head == tail);
    assert(out == list.data() + list.size());
    (void)out;
  }
  return s;
}

}  // namespace layerpipe
