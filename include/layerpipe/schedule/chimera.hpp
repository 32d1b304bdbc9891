// layerpipe/schedule/chimera.hpp — Chimera (Li & Hoefler, SC'21): two pipelines over the same D
// stages running in opposite directions, so each one's fill and drain land in the other's
// bubbles (REFERENCE §5.8, §5.1), optionally with the paper's forward doubling (§3.5).
//
//   layerpipe::schedule s = layerpipe::chimera(4, 4);   // D = 4 devices, M = 4: one basic unit
//   // device 0 (down stage 0, up stage 7):
//   //   0F0 0F1 7F2 7B2 7F3 7B3 0B0 7REDUCE_GRAD 0B1 0REDUCE_GRAD
//   s.micro_batch_replica;   // {0, 0, 1, 1}: micro-batches 0, 1 go down, 2, 3 go up
//   auto fd = layerpipe::chimera(8, 32, {.forward_doubling = true});   // for T_B ≈ 2·T_F
//
// Placement placement::bidirectional(placement::loop(D)): replica 0 ("down") runs model stage s
// on device s (global stage s), replica 1 ("up") on device D − 1 − s (global stage D + s), so
// device d holds down stage d and up stage 2D − 1 − d, two different model stages (2 weight
// copies per device). Backward is the paper's fused B.
//
// Construction, in slots (one F or one B each). Basic unit u (u = 0 … M/D − 1) holds
// micro-batches uD … uD + D − 1: the first D/2 go down, the last D/2 go up (micro_batch_replica
// is m mod D < D/2 ? 0 : 1, with or without doubling). In each pipeline a micro-batch enters
// every 2 slots, moves one stage per slot and turns at the last stage, so micro-batch i of a
// unit's down half runs F on device d at slot 2i + d and B at 2i + 2D − 1 − d; up micro-batch i
// runs F on device d at 2i + D − 1 − d and B at 2i + D + d. On device d this is two interleaved
// tracks of one slot every two, which never collide (they start at slots of opposite parity, D
// being even):
//   track A, slots d + 2j:         down F of the unit's D/2 down micro-batches, then up B of
//                                  its D/2 up micro-batches (micro-batch uD + j mod D);
//   track B, slots D − 1 − d + 2j: up F of the D/2 up micro-batches, then down B of the D/2
//                                  down ones (micro-batch uD + (j + D/2) mod D);
// for j = 0 … M − 1 with u = ⌊j/D⌋. Longer runs concatenate basic units directly (the paper's
// direct concatenation), unit u + 1 starting 2D slots after unit u: each track then runs without
// a gap from its first slot to its last, and the next unit's forwards fill the tail bubbles of
// the one before. Each device list is the two tracks merged by slot, which is linear in M.
//
// Forward doubling (chimera_options::forward_doubling), for T_B ≈ 2·T_F, where a slot is one B
// and a lone F leaves half of it empty. A doubled unit takes two basic units' micro-batches, D
// per direction (the direction's k-th micro-batch is micro-batch ⌊k/(D/2)⌋·D + k mod D/2, plus
// D/2 going up), and runs them as D/2 pairs (k = 2j, 2j + 1): a pair enters every 2 slots and
// its two F's run back to back in one slot (a "doubled forward" is just two F actions). Each
// track of the unit holds the D/2 doubled forwards of its direction, then the D backwards of the
// other direction, one per slot every two; so the direction's k-th micro-batch of a unit starting
// at slot o runs F on model stage s in slot o + s + 2⌊k/2⌋ (second half when k is odd) and B in
// slot o + 2D − 1 − s + 2k. A doubled unit is 3D slots long; units are concatenated directly,
// the next unit's doubled forwards following the backwards on each track without a gap, so the
// steady state alternates a doubled forward (F, F) and a backward on each track and nothing idles
// between units. ⌊M/2D⌋ doubled units; when M/D is odd one basic unit goes FIRST (at the start
// the simulation compacts its half-empty forward slots; at the end it would add the D − 2 idle
// slots of a concatenation). With M = D nothing is doubled and the schedule is the basic unit.
//
// REDUCE_GRAD: both copies of model stage s finish their last backward in the same slot; each
// copy's REDUCE_GRAD is placed at the device's first idle slot after that backward, i.e. among
// the remaining backwards of the device's other stage (the paper overlaps the all-reduce with
// them), or at the end of the list when no idle slot follows. Device lists hold 2M + 2 actions.
// Unlike the public generator (Shigangli/Chimera), which drops operations for D ≥ 6 with M > 2D
// when two of its pipelines claim one slot, the tracks above cannot collide, so every operation
// is present for every accepted D and M, with or without doubling.
//
// Constraints: D even and D ≥ 2 (two directions of D/2 micro-batches each); M ≥ 1 and a multiple
// of D (whole basic units), with or without doubling. Backward halving is not offered.
//
// Cost (free communication; tests/schedule/chimera.cpp checks every law against the simulation,
// D = 2 … 8, M = D … 4D; also measured up to D = 16, M = 8D).
// Direct concatenation, T_F = T_B (T_F = T_I + T_W): makespan (2M + D − 2)·T_F for any number of
// units, so the wall-clock bubble ratio (makespan − busy of the busiest device)/makespan is
// (D − 2)/(2N + D − 2) with N = M, the micro-batches of the whole iteration (N = D for one basic
// unit), against (D − 1)/(M + D − 1) for 1F1B. Every device is busy 2M·T_F and idles D − 2 slots.
// With T_B = 2T_F the units no longer mesh: makespan (3M + (M/D + 1)(D − 2))·T_F, D − 2 idle
// slots more per extra unit (the intermediate bubbles forward doubling removes).
// Forward doubling, T_B = 2T_F: makespan (3M + 3(D − 2)/2)·T_F when M/D is even, bubble ratio
// (D − 2)/(2M + D − 2) (basic Chimera's at T_F = T_B); (3M + 2(D − 2))·T_F when M/D is odd. Every
// device is busy 3M·T_F and idles the rest, as much as one doubled unit alone (even M/D): no
// intermediate bubble. Strictly below
// direct concatenation for M ≥ 2D and D ≥ 4, and below 1F1B's (M + D − 1)·3T_F for every D, M:
// at D = 8, M = 32: 105 against 126 (direct) and 117 (1F1B). At T_F = T_B it equals direct
// concatenation, 2M + D − 2. (Measured, not guaranteed, elsewhere: at T_B = 1.5T_F, D = 8,
// M = 32: 87.5 against 98 and 97.5; at T_B = 3T_F, D = 8, M = 56, odd M/D: 260 against 252
// for 1F1B.)
// Memory (order-based, measured): peak in-flight activations on device d are
// D/2 + 1 + min(d, D − 1 − d) stage-units without doubling — D/2 + 1 on the two end devices, D
// in the middle — whatever the number of units; forward doubling adds D once a doubled unit runs
// (M ≥ 2D): 3D/2 + 1 at the ends, 2D in the middle, against D for 1F1B's first device (the paper
// pairs doubling with recomputation). Messages: 2(D − 1) per micro-batch; gradient reductions 2D.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cassert>
#include <cstddef>

namespace layerpipe {

/// Options of chimera(). forward_doubling: pair up basic units and run each pipeline's forwards
/// two micro-batches per slot (the paper's forward doubling, §3.5), which removes the
/// intermediate bubbles of direct concatenation when a backward costs about two forwards.
struct chimera_options {
  bool forward_doubling = false;
};

/// Chimera over `devices` (D, even) devices with two stages each and `micro_batches` (M, a
/// multiple of D) micro-batches: M/D basic units, directly concatenated, or with
/// `options.forward_doubling` ⌊M/2D⌋ doubled units (2D micro-batches each), preceded by one basic
/// unit when M/D is odd.
inline schedule chimera(int devices, int micro_batches, const chimera_options& options = {}) {
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
  // Micro-batch of the k-th micro-batch of a direction (k counts within the direction): basic
  // unit ⌊k/(D/2)⌋, the down half first.
  auto micro_batch = [half, D](int k, bool up) { return k / half * D + (up ? half : 0) + k % half; };
  // Units, as micro-batches per direction: D/2 (basic) or D (doubled). With forward doubling an
  // odd M/D leaves one basic unit, which goes first: the start compacts its half-empty forward
  // slots, where at the end it would add the D − 2 idle slots of a concatenation.
  const bool doubling = options.forward_doubling;
  const bool basic_first = doubling && (M / D) % 2 == 1;
  const int units = doubling ? M / (2 * D) + (basic_first ? 1 : 0) : M / D;
  auto per_direction = [&](int u) { return doubling && !(basic_first && u == 0) ? D : half; };

  for (int d = 0; d < D; ++d) {
    const int down = d;              // replica 0's stage on device d (model stage d)
    const int up = 2 * D - 1 - d;    // replica 1's stage on device d (model stage D − 1 − d)
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores
    // One cursor per track. Track A (slots d + 2j) carries the down forwards and up backwards of
    // each unit, track B (slots D − 1 − d + 2j) the up forwards and down backwards. Per unit a
    // track has D/2 forward entries (one or two micro-batches each: the doubled forward) and then
    // one backward entry per micro-batch of the other direction.
    struct track {
      long long slot;
      int unit = 0, pos = 0, first = 0;  // unit, entry within it, first direction index of the unit
      bool done = false;
    };
    track a{d}, b{D - 1 - d};
    long long last = -1;  // slot of the previous entry: a gap before the next one is idle
    bool pending_up = false, pending_down = false;
    auto flush = [&] {  // reductions waiting for an idle slot
      if (pending_up) *out++ = make_action(action_kind::reduce_grad, up);
      if (pending_down) *out++ = make_action(action_kind::reduce_grad, down);
      pending_up = pending_down = false;
    };
    // Emits track t's next entry; `forward_stage` / `backward_stage` and `forward_up` say which
    // direction the track's forwards carry. Returns true after the track's last entry.
    auto emit = [&](track& t, int forward_stage, int backward_stage, bool forward_up) {
      const int n = per_direction(t.unit);
      if (t.pos < half) {
        const int width = n / half;  // 2 for a doubled forward
        for (int k = 0; k < width; ++k)
          *out++ = make_action(action_kind::forward, forward_stage, micro_batch(t.first + t.pos * width + k, forward_up));
      } else {
        *out++ = make_action(action_kind::backward, backward_stage, micro_batch(t.first + t.pos - half, !forward_up));
      }
      t.slot += 2;
      if (++t.pos == half + n) {
        t.pos = 0;
        t.first += n;
        if (++t.unit == units) t.done = true;
      }
      return t.done;
    };
    while (!a.done || !b.done) {
      const bool take_a = b.done || (!a.done && a.slot < b.slot);
      const long long slot = take_a ? a.slot : b.slot;
      if (slot > last + 1) flush();
      last = slot;
      if (take_a) {
        if (emit(a, down, up, false)) pending_up = true;  // the up copy's last backward
      } else {
        if (emit(b, up, down, true)) pending_down = true;  // the down copy's last backward
      }
    }
    flush();
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
