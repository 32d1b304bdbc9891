// layerpipe/schedule/v_shape.hpp — V-Half and V-Min: V-placement schedules with a split backward
// that trade bubble for activation memory ("Pipeline Parallelism with Controllable Memory",
// arXiv 2405.15362; REFERENCE §5.6).
//
//   layerpipe::schedule h = layerpipe::v_half(4, 16);   // peak ⌊P/2⌋ + 1 = 3 stage-units
//   layerpipe::schedule m = layerpipe::v_min(6, 24);    // peak ⌊(P + 1)/3⌋ + 1 = 3 stage-units
//   // stages 0..2P−1 on placement::v(P, 2); every (stage, micro-batch) has one F, one I, one W
//
// Construction (ours, [design]; the slot offsets are the reference generator's). Placement
// placement::v(P, 2): chunk 0 of device d is stage d, chunk 1 is stage 2P − 1 − d, so the turn on
// device P − 1 (stages P − 1, P) is local, exactly as in zb_v.hpp. F0/F1, I0/I1, W0/W1 name the
// passes of chunk 0/1.
//   1. Block. Every micro-batch m owns 6 slots per device; F0, F1, I1, I0 of device d sit at
//      slot o + 6m with the offsets o (δ as in REFERENCE §5.6):
//        V-Half  F0 2d   F1 3P − d − 2   I1 3P + δ + 2d − 1   I0 6P + δ − d − 2   (δ = 3, P even)
//        V-Min   F0 d    F1 2P − d − 1   I1 2P + δ + d        I0 4P + δ − d − 1   (δ = 2, P % 3 = 0)
//      The four offsets are distinct mod 6 for every P (their differences are odd, or 3k ± 1, or
//      3P + δ ≢ 0), so no two passes share a slot, and every pass's inputs sit in earlier slots.
//      Device d's F/I order is its passes sorted by slot.
//   2. W's into gaps. Walking the slots, each empty slot runs the oldest pending W; the largest
//      number of activations this block holds on device d is its memory cap c_d.
//   3. Compaction. The F/I orders are run at unit cost, all devices in lock step: each step a
//      device runs the next pass of its F/I order if its inputs finished in an earlier step (an
//      F only if that keeps it within c_d activations), otherwise its oldest pending W (the W's
//      fill the bubbles), otherwise idles. The emitted order is what each device ran (recorded
//      as one byte per pass, then spelled out as actions device by device).
// Why it always completes: the unfinished F/I pass with the smallest slot has all its inputs done
// (they have smaller slots), and if it is an F that would exceed c_d, then some W is pending
// (the block itself held at most c_d with no more W's done than I's). So every step runs
// something. The steps are the unit-cost makespan, 6M + idle with idle < 4P in every case
// measured, so the work is O(P·M + P²), like the output (ZB-V pads to 2P − 1 micro-batches).
// Differences from the reference generator (zbv_greedy.py): it also squeezes F and I passes
// into earlier free slots, in two greedy passes that cost more than linear time; that lowers the
// bubble further for some P (V-Half, even P ≥ 4; V-Min, P = 3 and 6) without raising the peak.
//
// Constraints: P ≥ 1, M ≥ 1, and 2P stages must fit a 32-bit index. Any M is accepted; a small M
// just leaves more of the start-up bubble unfilled.
//
// Cost and memory, measured by the simulation at chunk costs T_F = T_I = T_W = T (a stage pass is
// 2T, so 1F1B idles 6(P − 1)T per device), free communication; see tests/schedule/v_shape.cpp.
// Every device idles the same wall-clock time, never more than 1F1B's:
//   V-Half  3(P − 1)T for even P, (3P − 4)T for odd P ≥ 3, 0 for P = 1, once M ≥ P: ½ of
//           1F1B's (even P) or ½ of it minus T (odd P). Peak min(M, ⌊P/2⌋ + 1) stage-units.
//   V-Min   (4P − 5)T, or (4P − 3)T when P % 3 = 0 and M ≥ 2, 0 for P = 1: ⅔ of 1F1B's minus T,
//           or plus T when 3 divides P. Peak min(M, ⌊(P + 1)/3⌋ + 1) stage-units.
// Peaks are the largest over devices, counting W as the pass that frees an activation (REFERENCE
// §6, 2 chunks per stage-unit); each device stays within its block's peak, so within ZB-V's P.
// One weight copy per device; 2(2P − 2) point-to-point messages per micro-batch (2× 1F1B).
// Generation (g++ 12 -O3, best of 40 on a shared 2-core machine): about 11 ns per action at
// P = 64, M = 1024, of which about 6.5 ns is allocating and zeroing the lists (ZB-V: 7 ns).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace layerpipe {

namespace detail {

/// Slot offsets of F0, F1, I1, I0 (in that order) on one device.
using v_offsets = std::array<std::int64_t, 4>;

/// V-Half's block (REFERENCE §5.6): 2d, 3P − d − 2, 3P + δ + 2d − 1, 6P + δ − d − 2.
inline v_offsets v_half_offsets(std::int64_t P, std::int64_t d) noexcept {
  const std::int64_t delta = P % 2 == 0 ? 3 : 0;
  return {2 * d, 3 * P - d - 2, 3 * P + delta + 2 * d - 1, 6 * P + delta - d - 2};
}

/// V-Min's block (REFERENCE §5.6): d, 2P − d − 1, 2P + δ + d, 4P + δ − d − 1.
inline v_offsets v_min_offsets(std::int64_t P, std::int64_t d) noexcept {
  const std::int64_t delta = P % 3 == 0 ? 2 : 0;
  return {d, 2 * P - d - 1, 2 * P + delta + d, 4 * P + delta - d - 1};
}

/// The generator behind v_half and v_min; `offsets(P, d)` gives device d's block.
template <class Offsets>
schedule v_shape(std::string_view name, int devices, int micro_batches, Offsets offsets) {
  check_pipeline_sizes(name, devices, micro_batches);
  check_stage_count(name, devices, 2);
  const int P = devices;
  const int M = micro_batches;
  // Each (chunk, micro-batch) gets an F, an I and a W: 6M actions per device.
  const std::size_t per_device = static_cast<std::size_t>(M) * 6u;
  schedule s = empty_schedule(name, placement::v(P, 2), M, pass_mode::training, per_device);

  // Pass types in block order; chunk 0 = stage d, chunk 1 = stage 2P − 1 − d.
  enum : int { f0, f1, i1, i0, w, none };
  struct device_state {  // one device's progress through its block
    std::array<std::int64_t, 4> next_slot;  // slot of the next pass of each type
    std::array<int, 4> done;                // passes of each type finished (= next micro-batch)
    int cap;                                // block peak: activations held at most
    int held;                               // activations held now (F adds, W frees)
    int pending_w;                          // I's whose W has not run
    int head;                               // type of the next F/I pass in slot order, or none
    int start_f0, start_i1;                 // done[f0], done[i1] when the current step began
    // Per type, the two counters that must exceed m before its pass of micro-batch m may run.
    std::array<std::array<const int*, 2>, 4> inputs;
    std::uint8_t* code;                     // next free cell of the device's run, one type per pass
  };
  std::vector<device_state> dev(static_cast<std::size_t>(P));
  // What each device runs, as pass types (w for a W), written in lock step and spelled out after.
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(P) * per_device);
  const std::int64_t M64 = M;
  constexpr std::int64_t no_slot = std::numeric_limits<std::int64_t>::max();

  // Phases 1–2: each device's block, and its peak with W's dropped into the empty slots.
  for (int d = 0; d < P; ++d) {
    device_state& st = dev[static_cast<std::size_t>(d)];
    const v_offsets o = offsets(static_cast<std::int64_t>(P), static_cast<std::int64_t>(d));
    std::array<int, 6> at_residue{none, none, none, none, none, none};  // type owning slot ≡ r (mod 6)
    for (std::size_t k = 0; k < 4; ++k) {
      const auto r = static_cast<std::size_t>(o[k] % 6);
      assert(o[k] >= 0 && at_residue[r] == none);  // distinct residues: see the header comment
      at_residue[r] = static_cast<int>(k);
    }
    v_offsets last_of{};  // slot of each type's last pass
    for (std::size_t k = 0; k < 4; ++k) last_of[k] = o[k] + 6 * (M64 - 1);
    // After the last F the count only falls: the sweep can stop there.
    const std::int64_t last = last_of[f0] > last_of[f1] ? last_of[f0] : last_of[f1];
    int held = 0, peak = 0, pending = 0;
    v_offsets next = o;  // slot of each type's next pass; no_slot once its M passes are placed
    // Windows of 6 slots in which every type has a pass all look alike; once such a window maps
    // (held, pending) to itself, all the following ones do too, and the sweep skips them.
    const std::int64_t all_started = std::max(std::max(o[0], o[1]), std::max(o[2], o[3]));
    const std::int64_t first_end = std::min(std::min(last_of[0], last_of[1]), std::min(last_of[2], last_of[3]));
    int before_held = -1, before_pending = -1;  // state at the start of the previous full window
    for (std::int64_t base = 0; base <= last; base += 6) {
      if (base >= all_started && base + 5 <= first_end) {
        if (held == before_held && pending == before_pending) {
          base += 6 * ((first_end - 5 - base) / 6 + 1);  // the first window that is not full
          for (std::size_t k = 0; k < 4; ++k) next[k] = base + o[k] % 6 <= last_of[k] ? base + o[k] % 6 : no_slot;
          if (base > last) break;
        }
        before_held = held;
        before_pending = pending;
      }
      for (std::int64_t slot = base; slot < base + 6 && slot <= last; ++slot) {
        const auto r = static_cast<std::size_t>(slot - base);  // slot % 6: base is a multiple of 6
        const int k = at_residue[r];
        const auto kt = static_cast<std::size_t>(k);
        if (k != none && next[kt] == slot) {
          next[kt] = slot + 6 <= last_of[kt] ? slot + 6 : no_slot;
          if (k == f0 || k == f1) {
            if (++held > peak) peak = held;
          } else {
            ++pending;
          }
        } else if (pending > 0) {  // an empty slot runs the oldest pending W
          --pending;
          --held;
        }
      }
    }
    st.next_slot = o;
    st.done = {0, 0, 0, 0};
    st.cap = peak;
    st.held = 0;
    st.pending_w = 0;
    st.code = codes.data() + static_cast<std::size_t>(d) * per_device;
    st.start_f0 = 0;
    st.start_i1 = 0;
    st.head = f0;  // offsets: F0 is each device's first pass in both blocks
    for (int k = 0; k < 4; ++k)
      if (o[static_cast<std::size_t>(k)] < o[static_cast<std::size_t>(st.head)]) st.head = k;
  }

  // Phase 3: lock-step execution at unit cost. Devices are visited in ascending order each step;
  // device d reads device d − 1's counts as they were when the step began (start_*), so a pass
  // never uses an input finished in the same step. Inputs (REFERENCE §6), by producing stage:
  // F0 ← F(d − 1); F1 ← F(2P − 2 − d); I1 ← own F1 and I(2P − d); I0 ← I(d + 1). At the turn
  // (device P − 1) F1 and I0 take their input from the device's own other chunk.
  static constexpr int always = std::numeric_limits<int>::max();  // an input that needs no wait
  for (std::size_t d = 0; d < dev.size(); ++d) {
    device_state& st = dev[d];
    device_state* up = d > 0 ? &dev[d - 1] : nullptr;
    device_state* down = d + 1 < dev.size() ? &dev[d + 1] : nullptr;
    st.inputs[f0] = {up ? &up->start_f0 : &always, &always};
    st.inputs[f1] = {down ? &down->done[f1] : &st.done[f0], &always};
    st.inputs[i1] = {&st.done[f1], up ? &up->start_i1 : &always};
    st.inputs[i0] = {down ? &down->done[i0] : &st.done[i1], &always};
  }
  const int last_stage = 2 * P - 1;
  std::int64_t remaining = static_cast<std::int64_t>(P) * 6 * M64;
  while (remaining > 0) {
    for (device_state& st : dev) {
      st.start_f0 = st.done[f0];
      st.start_i1 = st.done[i1];
      const int k = st.head;
      bool run = false;
      if (k != none) {
        const auto kk = static_cast<std::size_t>(k);
        const int m = st.done[kk];
        run = *st.inputs[kk][0] > m && *st.inputs[kk][1] > m && (k >= i1 || st.held < st.cap);
      }
      if (run) {
        --remaining;
        *st.code++ = static_cast<std::uint8_t>(k);
        const auto kk = static_cast<std::size_t>(k);
        if (k == f0 || k == f1) ++st.held;
        else ++st.pending_w;
        // Advance this type, then make the pass with the smallest slot the new head.
        st.next_slot[kk] = ++st.done[kk] < M ? st.next_slot[kk] + 6 : no_slot;
        int head = none;
        std::int64_t best = no_slot;
        for (int t = 0; t < 4; ++t)
          if (st.next_slot[static_cast<std::size_t>(t)] < best) {
            best = st.next_slot[static_cast<std::size_t>(t)];
            head = t;
          }
        st.head = head;
      } else if (st.pending_w > 0) {  // a gap: the oldest pending W
        --remaining;
        *st.code++ = static_cast<std::uint8_t>(w);
        --st.pending_w;
        --st.held;
      }
    }
  }

  // Phase 4: spell each device's codes out as actions, one device at a time (sequential stores;
  // writing P lists in lock step would scatter the stores over P streams).
  for (int d = 0; d < P; ++d) {
    const auto du = static_cast<std::size_t>(d);
    assert(dev[du].code == codes.data() + (du + 1) * per_device);
    action* const first = s.actions[du].data();
    action* out = first;
    action* w_scan = first;  // the oldest I whose W has not been written is at or after this
    std::array<int, 4> mb{0, 0, 0, 0};
    const std::uint8_t* code = codes.data() + du * per_device;
    for (std::size_t i = 0; i < per_device; ++i, ++code) {
      switch (*code) {
        case f0: *out++ = make_action(action_kind::forward, d, mb[f0]++); break;
        case f1: *out++ = make_action(action_kind::forward, last_stage - d, mb[f1]++); break;
        case i1: *out++ = make_action(action_kind::backward_input, last_stage - d, mb[i1]++); break;
        case i0: *out++ = make_action(action_kind::backward_input, d, mb[i0]++); break;
        default:
          while (w_scan->kind != action_kind::backward_input) ++w_scan;
          *out++ = make_action(action_kind::backward_weight, w_scan->stage, w_scan->micro_batch);
          ++w_scan;
          break;
      }
    }
    assert(out == first + per_device);
  }
  return s;
}

}  // namespace detail

/// V-Half over `devices` devices (2 stages each, V placement) and `micro_batches` micro-batches:
/// about half of 1F1B's activation memory and bubble.
inline schedule v_half(int devices, int micro_batches) {
  return detail::v_shape("V-Half", devices, micro_batches, detail::v_half_offsets);
}

/// V-Min over `devices` devices (2 stages each, V placement) and `micro_batches` micro-batches:
/// about a third of 1F1B's activation memory, about two thirds of its bubble.
inline schedule v_min(int devices, int micro_batches) {
  return detail::v_shape("V-Min", devices, micro_batches, detail::v_min_offsets);
}

}  // namespace layerpipe
