// layerpipe/schedule/chimera.hpp — Chimera (Li & Hoefler, SC'21): two pipelines over the same D
// stages running in opposite directions, so each one's fill and drain land in the other's
// bubbles (REFERENCE §5.8, §5.1).
//
//   layerpipe::schedule s = layerpipe::chimera(4, 4);   // D = 4 devices, M = 4: one basic unit
//   // device 0 (down stage 0, up stage 7):
//   //   0F0 0F1 7F2 7B2 7F3 7B3 0B0 7REDUCE_GRAD 0B1 0REDUCE_GRAD
//   s.micro_batch_replica;   // {0, 0, 1, 1}: micro-batches 0, 1 go down, 2, 3 go up
//
// Placement placement::bidirectional(placement::loop(D)): replica 0 ("down") runs model stage s
// on device s (global stage s), replica 1 ("up") on device D − 1 − s (global stage D + s), so
// device d holds down stage d and up stage 2D − 1 − d, two different model stages (2 weight
// copies per device). Backward is the paper's fused B.
//
// Construction, in slots (one F or one B each). Basic unit u (u = 0 … M/D − 1) holds
// micro-batches uD … uD + D − 1: the first D/2 go down, the last D/2 go up (micro_batch_replica
// is m mod D < D/2 ? 0 : 1). In each pipeline a micro-batch enters every 2 slots, moves one
// stage per slot and turns at the last stage, so micro-batch i of a unit's down half runs F on
// device d at slot 2i + d and B at 2i + 2D − 1 − d; up micro-batch i runs F on device d at
// 2i + D − 1 − d and B at 2i + D + d. On device d this is two interleaved tracks of one slot
// every two, which never collide (they start at slots of opposite parity, D being even):
//   track A, slots d + 2j:         down F of the unit's D/2 down micro-batches, then up B of
//                                  its D/2 up micro-batches (micro-batch uD + j mod D);
//   track B, slots D − 1 − d + 2j: up F of the D/2 up micro-batches, then down B of the D/2
//                                  down ones (micro-batch uD + (j + D/2) mod D);
// for j = 0 … M − 1 with u = ⌊j/D⌋. Longer runs concatenate basic units directly (the paper's
// direct concatenation), unit u + 1 starting 2D slots after unit u: each track then runs without
// a gap from its first slot to its last, and the next unit's forwards fill the tail bubbles of
// the one before. Each device list is the two tracks merged by slot, which is linear in M.
// REDUCE_GRAD: both copies of model stage s finish their last backward in the same slot
// (D − 1 − s + 2(M − 1)); each copy's REDUCE_GRAD is placed at the device's first idle slot after
// that backward, i.e. among the remaining backwards of the device's other stage (the paper
// overlaps the all-reduce with them), or at the end of the list when no idle slot follows.
// Device lists hold 2M + 2 actions. Unlike the public generator (Shigangli/Chimera), which drops
// operations for D ≥ 6 with M > 2D when two of its pipelines claim one slot, the tracks above
// cannot collide, so every operation is present for every accepted D and M.
//
// Constraints: D even and D ≥ 2 (two directions of D/2 micro-batches each); M ≥ 1 and a multiple
// of D (whole basic units). The paper's forward doubling and backward halving are not offered.
//
// Cost (T_F = T_B, i.e. T_F = T_I + T_W, free communication; tests/schedule/chimera.cpp checks it
// against the simulation): makespan (2M + D − 2)·T_F for any number of units, so the wall-clock
// bubble ratio (makespan − busy of the busiest device)/makespan is (D − 2)/(2N + D − 2) with
// N = M, the micro-batches of the whole iteration (N = D for one basic unit), against
// (D − 1)/(M + D − 1) for 1F1B. Every device is busy 2M·T_F and idles D − 2 slots.
// With T_B = 2T_F the units no longer mesh: makespan (3M + (M/D + 1)(D − 2))·T_F, D − 2 idle
// slots more per extra unit (the intermediate bubbles the paper's forward doubling removes).
// Memory (order-based, measured): peak in-flight activations on device d are
// D/2 + 1 + min(d, D − 1 − d) stage-units — D/2 + 1 on the two end devices, D in the middle —
// whatever the number of units. Messages: 2(D − 1) per micro-batch; gradient reductions 2D.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cassert>
#include <cstddef>

namespace layerpipe {

/// Chimera over `devices` (D, even) devices with two stages each and `micro_batches` (M, a
/// multiple of D) micro-batches: M/D basic units, directly concatenated.
inline schedule chimera(int devices, int micro_batches) {
  if (devices < 2 || devices % 2 != 0)
    detail::fail("Chimera needs an even number of devices, D >= 2 (a basic unit sends D/2 micro-batches "
                 "each way), got D = ",
                 devices);
  detail::check_pipeline_sizes("Chimera", devices, micro_batches);
  if (micro_batches % devices != 0)
    detail::fail("Chimera needs the micro-batches to fill whole basic units (M a multiple of D = ", devices,
                 "), got M = ", micro_batches);
  detail::check_stage_count("Chimera", devices, 2);
  const int D = devices;
  const int M = micro_batches;
  const int half = D / 2;
  schedule s = detail::empty_schedule("Chimera", placement::bidirectional(placement::loop(D)), M,
                                      pass_mode::training, 2 * static_cast<std::size_t>(M) + 2);
  s.micro_batch_replica.resize(static_cast<std::size_t>(M));
  for (int m = 0; m < M; ++m) s.micro_batch_replica[static_cast<std::size_t>(m)] = m % D < half ? 0 : 1;

  for (int d = 0; d < D; ++d) {
    const int down = d;              // replica 0's stage on device d (model stage d)
    const int up = 2 * D - 1 - d;    // replica 1's stage on device d (model stage D − 1 − d)
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores
    // Next slot, position within the unit and first micro-batch of the unit, per track.
    long long slot_a = d, slot_b = D - 1 - d;
    int pos_a = 0, pos_b = 0, base_a = 0, base_b = 0, left_a = M, left_b = M;
    long long last = -1;  // slot of the previous action: a gap before the next one is idle
    bool pending_up = false, pending_down = false;
    auto flush = [&] {  // reductions waiting for an idle slot
      if (pending_up) *out++ = make_action(action_kind::reduce_grad, up);
      if (pending_down) *out++ = make_action(action_kind::reduce_grad, down);
      pending_up = pending_down = false;
    };
    while (left_a > 0 || left_b > 0) {
      const bool take_a = left_b == 0 || (left_a > 0 && slot_a < slot_b);
      const long long slot = take_a ? slot_a : slot_b;
      if (slot > last + 1) flush();
      last = slot;
      if (take_a) {
        if (pos_a < half) {
          *out++ = make_action(action_kind::forward, down, base_a + pos_a);
        } else {
          *out++ = make_action(action_kind::backward, up, base_a + pos_a);
        }
        slot_a += 2;
        --left_a;
        if (++pos_a == D) {
          pos_a = 0;
          base_a += D;
        }
        if (left_a == 0) pending_up = true;  // the up copy's last backward
      } else {
        if (pos_b < half) {
          *out++ = make_action(action_kind::forward, up, base_b + half + pos_b);
        } else {
          *out++ = make_action(action_kind::backward, down, base_b + pos_b - half);
        }
        slot_b += 2;
        --left_b;
        if (++pos_b == D) {
          pos_b = 0;
          base_b += D;
        }
        if (left_b == 0) pending_down = true;  // the down copy's last backward
      }
    }
    flush();
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
