// layerpipe/schedule/dualpipe_v.hpp — DualPipeV ("cut-in-half" DualPipe): one direction on a V
// placement with two chunks per device, forward and backward of different chunks overlapped as
// OVERLAP_F_B pairs in the steady state (REFERENCE §5.11, §5.10; DeepSeek's dualpipev.py).
//
//   layerpipe::schedule s = layerpipe::dualpipe_v(2, 4);   // P = 2 devices, M = 4, stages 0..3
//   // device 0 (stages 0, 3): 0F0 0F1 0F2 3F0 3I0 3W0 3F1 (0F3;3B1)OVERLAP_F_B
//   //                         (3F2;0B0)OVERLAP_F_B 3B2 (3F3;0B1)OVERLAP_F_B 3B3 0I2 0W2 0I3 0W3
//   // device 1 (stages 1, 2): 1F0 2F0 1F1 2F1 1F2 2B0 (2F2;1B0)OVERLAP_F_B (1F3;2B1)OVERLAP_F_B
//   //                         (2F3;1B1)OVERLAP_F_B 2B2 1B2 2I3 1I3 2W3 1W3
//
// The compute order matches PyTorch's ScheduleDualPipeV._calculate_single_rank_operations
// (torch/distributed/pipelining/schedules.py) action for action, micro-batch indices included:
// the overlapped backward half is a full B, a "zero-bubble" backward is I with its W pushed on
// one FIFO shared by both chunks, and each W step pops the oldest pending one.
// Placement placement::v(P, 2): chunk 0 of device r is stage r, chunk 1 is stage 2P − 1 − r, so
// the turn on device P − 1 (stages P − 1, P) is local. Per device r (F0/B0/I0 = chunk 0,
// F1/B1/I1 = chunk 1, W = oldest pending W, (Fx;By) = OVERLAP_F_B):
//   1  2(P − r − 1)    F0
//   2  r + 1           F0, F1
//   3  P − r − 1       I1, W, F1
//   4  M − 2P + r + 1  (F0;B1), (F1;B0); device P − 1 issues its first (F0;B1) as F0, B1
//   5  P − r − 1       B1, (F1;B0)
//   6  r + 1           B1, B0; from iteration ⌊(r+1)/2⌋ on, I replaces B (for even r the switch
//                      comes after that iteration's B1, for odd r before it)
//   7  P − r − 1       W, I0
//   8  r + 1           W
// Micro-batches are taken in increasing order per (chunk, forward) and (chunk, backward).
// Device r holds 2M + 5P − 2r − 2 actions, one more on device P − 1.
//
// Constraints: P ≥ 1 and M ≥ 2P (as many micro-batches as stages; PyTorch's rule too), so
// step 4 runs at least once. P may be odd.
//
// Cost (chunk costs T_F, T_I, T_W, T_B = T_I + T_W; free communication; a pair waits for both
// inputs, REFERENCE §6), measured by tests/schedule/dualpipe_v.cpp for P ≤ 7, M ≤ 4P + 3: with
// overlap_timing::sum (a pair lasts T_F&B = T_F + T_B) the wall-clock idle (makespan − busy) is
// the same on every device and independent of M. It is (P − 1)(T_F&B + T_B − 3T_W) when
// T_I = T_F ≥ T_W, also the span idle of device 0; when T_I ≤ min(T_F, T_W) it is 2(P − 1)T_F
// instead (the formula is then too low). overlap_timing::max idles strictly less (P ≥ 2).
// Memory (order-based, W frees, a pair counts its forward first): peak 2P + 1 chunk
// activations = P + 1/2 stage-units on every device; one weight copy per device;
// 2(2P − 2) point-to-point messages per micro-batch (the turn on device P − 1 is local).
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

/// DualPipeV over `devices` devices (2 stages each, V placement) and `micro_batches` ≥ 2P
/// micro-batches.
inline schedule dualpipe_v(int devices, int micro_batches) {
  detail::check_pipeline_sizes("DualPipeV", devices, micro_batches);
  if (static_cast<long long>(micro_batches) < 2LL * devices)
    detail::fail("DualPipeV needs at least as many micro-batches as stages (M >= 2P), got M = ", micro_batches,
                 " with 2P = ", 2LL * devices);
  // M >= 2P and M is an int, so 2P stages fit a 32-bit index.
  const int P = devices;
  const int M = micro_batches;
  schedule s = detail::empty_schedule("DualPipeV", placement::v(P, 2), M, pass_mode::training, 0);

  // Deferred W's, FIFO over both chunks. At most 2P I's are issued per device, so the buffer
  // never wraps: head and tail only grow within one device.
  struct pending {
    int stage, micro_batch;
  };
  std::vector<pending> queue(2 * static_cast<std::size_t>(P));

  for (int r = 0; r < P; ++r) {
    const int a = P - r - 1;                   // rounds of steps 3, 5, 7 (step 1: 2a forwards)
    const int b = r + 1;                       // rounds of steps 2, 6, 8
    const int main_steps = M - 2 * P + r + 1;  // rounds of step 4, >= 1 since M >= 2P
    const bool last = r == P - 1;
    auto& list = s.actions[static_cast<std::size_t>(r)];
    list.resize(2 * static_cast<std::size_t>(M) + 5 * static_cast<std::size_t>(P) -
                2 * static_cast<std::size_t>(r) - 2 + (last ? 1 : 0));
    action* out = list.data();
    const int stage0 = r;              // chunk 0: on the way down the V
    const int stage1 = 2 * P - 1 - r;  // chunk 1: on the way back up
    int f0 = 0, f1 = 0, b0 = 0, b1 = 0;  // next micro-batch per (chunk, pass); B and I share one
    std::size_t head = 0, tail = 0;

    auto forward = [&](int stage, int& counter) { *out++ = make_action(action_kind::forward, stage, counter++); };
    auto full_backward = [&](int stage, int& counter) {
      *out++ = make_action(action_kind::backward, stage, counter++);
    };
    auto input_backward = [&](int stage, int& counter) {
      queue[tail++] = {stage, counter};
      *out++ = make_action(action_kind::backward_input, stage, counter++);
    };
    auto weight = [&] {  // PyTorch skips a W step on an empty queue; here it never is empty
      assert(head < tail);
      const pending w = queue[head++];
      *out++ = make_action(action_kind::backward_weight, w.stage, w.micro_batch);
    };
    auto pair = [&](int f_stage, int& f_counter, int b_stage, int& b_counter) {
      *out++ = overlap(make_action(action_kind::forward, f_stage, f_counter++),
                       make_action(action_kind::backward, b_stage, b_counter++));
    };

    // 1: fill the down-going half of the V.
    for (int k = 0; k < 2 * a; ++k) forward(stage0, f0);
    // 2: the first micro-batches come back up.
    for (int k = 0; k < b; ++k) {
      forward(stage0, f0);
      forward(stage1, f1);
    }
    // 3: zero-bubble warm-up of chunk 1: I, the W just deferred, F.
    for (int k = 0; k < a; ++k) {
      input_backward(stage1, b1);
      weight();
      forward(stage1, f1);
    }
    // 4: steady state, every compute slot an overlapped pair. The last device's first chunk-0
    // forward runs alone so its B1 (the loss side) starts without waiting for a partner.
    for (int k = 0; k < main_steps; ++k) {
      if (k == 0 && last) {
        forward(stage0, f0);
        full_backward(stage1, b1);
      } else {
        pair(stage0, f0, stage1, b1);
      }
      pair(stage1, f1, stage0, b0);
    }
    // 5: chunk 0 has no forwards left.
    for (int k = 0; k < a; ++k) {
      full_backward(stage1, b1);
      pair(stage1, f1, stage0, b0);
    }
    // 6: drain both chunks; the second half splits the backward so W's can fill the tail.
    bool zero_bubble = false;
    for (int k = 0; k < b; ++k) {
      if (k == b / 2 && r % 2 == 1) zero_bubble = true;
      if (zero_bubble) {
        input_backward(stage1, b1);
      } else {
        full_backward(stage1, b1);
      }
      if (k == b / 2 && r % 2 == 0) zero_bubble = true;
      if (zero_bubble) {
        input_backward(stage0, b0);
      } else {
        full_backward(stage0, b0);
      }
    }
    assert(zero_bubble);  // k reaches b / 2 < b, so steps 7 and 8 always split
    // 7: the last chunk-0 I's, each after the oldest deferred W.
    for (int k = 0; k < a; ++k) {
      weight();
      input_backward(stage0, b0);
    }
    // 8: the remaining W's.
    for (int k = 0; k < b; ++k) weight();

    assert(f0 == M && f1 == M && b0 == M && b1 == M && head == tail);
    assert(out == list.data() + list.size());
    (void)out;
  }
  return s;
}

}  // namespace layerpipe
