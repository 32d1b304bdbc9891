// layerpipe/schedule/zero_bubble.hpp — the handcrafted zero-bubble schedules ZB-H1 and ZB-H2
// (REFERENCE §5.4): 1F1B with the backward split into I (input gradient) and W (weight gradient),
// so that W's can be moved into the bubbles.
//
//   layerpipe::schedule s1 = layerpipe::zb_h1(2, 3);
//   // device 0: 0F0 0F1 0I0 0W0 0F2 0I1 0W1 0I2 0W2
//   // device 1: 1F0 1I0 1F1 1I1 1W1 1F2 1I2 1W2 1W0
//   layerpipe::schedule s2 = layerpipe::zb_h2(4, 16);
//
// Both: device d holds stage d (placement::loop(P, 1)), compute-only, every (stage, micro-batch)
// has an F, an I and a W, and each W comes after its I on the same device.
//
// ZB-H1 — 1F1B's F/I skeleton: warm-up w_d = min(P − d − 1, M) forwards; steady steps
//   i = 0 … M − w_d − 1 emit F(w_d + i), I(i), W(i); cool-down I(m) for m ≥ M − w_d, each with
//   W(m). The W's of micro-batches m < d are not emitted there but pushed on a stack and emitted
//   at the very end, last-deferred first (W(d−1) … W(0)). Any M ≥ 1 works (with M ≤ d every W is
//   deferred).
//   Cost (uniform stages, free communication), checked by simulation in tests/schedule/zb_h.cpp:
//   for M ≥ P and T_W ≤ min(T_F, T_I), idle per device (makespan − busy, every device)
//   (P − 1)(T_F + T_I − T_W), i.e. makespan M(T_F + T_I + T_W) + (P − 1)(T_F + T_I − T_W); at
//   T_F = T_I = T_W that is (P − 1)·T_F, a third of 1F1B's (P − 1)(T_F + T_B). A W longer than
//   T_F or T_I no longer fits the gaps it was moved into and the formula undercounts. For M < P
//   at T_F = T_I = T_W = T the idle is (2P − 1 − M)·T (the pipeline never fills).
//   Memory (order-based, W frees the activation, I does not): min(P, M) stage-units on every
//   device, never above 1F1B's peak max_d min(P − d, M) = min(P, M) (REFERENCE §6).
//
// ZB-H2 — warm-up w_d = min(2(P − d) − 1, M) forwards, so the first I lands when the pipeline is
//   full; then I's and F's alternate and W's fill the slots where neither is ready, and the tail.
//   The order is built by running the pipeline slot by slot at T_F = T_I = T_W (a unit-time list
//   schedule): each free device runs, by priority, a warm-up F; else its next I if ready; else
//   its next F if ready and at most 2P activations would be held; else its oldest pending W; else
//   it waits one slot. Because the construction only ever runs ready passes, every P, M gives a
//   valid order; for small M the warm-up is capped at M and the same rules apply.
//   Cost at T_F = T_I = T_W = T (simulated, tests/schedule/zb_h.cpp): span idle (last end −
//   first start − busy) 0 on every device for M ≥ 2P − 1; below that threshold the worst device
//   has span idle (2P − 1 − M)·T. The wall clock keeps the (P − 1)·T start-up skew, makespan
//   (3M + P − 1)·T for M ≥ 2P − 1, unless iterations overlap (optimizer post-validation).
//   Other cost ratios run the same order; it is built for, and only claimed at, equal times.
//   Memory (order-based, W frees): at most 2P stage-units per device by construction; measured
//   min(2P, M) on every device (the paper counts 2P − 1, freeing part at I).
//
// Constraints: P ≥ 1, M ≥ 1.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <vector>

namespace layerpipe {

/// ZB-H1 over `devices` stages (one per device) and `micro_batches` micro-batches.
inline schedule zb_h1(int devices, int micro_batches) {
  detail::check_pipeline_sizes("ZB-H1", devices, micro_batches);
  const std::size_t per_device = static_cast<std::size_t>(micro_batches) * 3u;
  schedule s = detail::empty_schedule("ZB-H1", placement::loop(devices, 1), micro_batches,
                                      pass_mode::training, per_device);
  std::vector<int> deferred;
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();
    deferred.clear();
    // W(m) right after I(m), except the first d micro-batches' W's, which wait for the end.
    auto backward = [&](int m) {
      *out++ = make_action(action_kind::backward_input, d, m);
      if (m < d) deferred.push_back(m);
      else *out++ = make_action(action_kind::backward_weight, d, m);
    };
    const int warmup = std::min(devices - d - 1, micro_batches);
    for (int m = 0; m < warmup; ++m) *out++ = make_action(action_kind::forward, d, m);
    for (int i = 0; i < micro_batches - warmup; ++i) {
      *out++ = make_action(action_kind::forward, d, warmup + i);
      backward(i);
    }
    for (int m = micro_batches - warmup; m < micro_batches; ++m) backward(m);
    for (auto it = deferred.rbegin(); it != deferred.rend(); ++it)
      *out++ = make_action(action_kind::backward_weight, d, *it);
    assert(out == list.data() + list.size());
  }
  return s;
}

/// ZB-H2 over `devices` stages (one per device) and `micro_batches` micro-batches.
inline schedule zb_h2(int devices, int micro_batches) {
  detail::check_pipeline_sizes("ZB-H2", devices, micro_batches);
  const auto p = static_cast<std::size_t>(devices);
  const int m_count = micro_batches;
  const int cap = 2 * devices;  // order-based activations held on a device, at most
  schedule s = detail::empty_schedule("ZB-H2", placement::loop(devices, 1), micro_batches,
                                      pass_mode::training, static_cast<std::size_t>(m_count) * 3u);

  // Unit-time slots; a device's decision for slot t sees only passes run in slots < t. Each
  // device runs its F's, I's and W's in micro-batch order, so "F(d − 1, f) is done" is just
  // "device d − 1 had run more than f F's when slot t began": three counters per device replace
  // per-(device, micro-batch) completion times. Devices are visited in increasing d, so device
  // d + 1's counters still hold their start-of-slot values when d reads them, and device d − 1's
  // F count from the start of the slot is kept aside before d − 1 moves.
  struct device_state {
    int f = 0, i = 0, w = 0;  // passes of each kind run so far
    int warmup = 0;           // min(2(P − d) − 1, M)
    action* out = nullptr;    // next free cell of the device's list
  };
  std::vector<device_state> dev(p);
  for (std::size_t dz = 0; dz < p; ++dz) {
    dev[dz].warmup = std::min(2 * (devices - static_cast<int>(dz)) - 1, m_count);
    dev[dz].out = s.actions[dz].data();
  }

  std::size_t finished = 0;  // devices with all 3M passes emitted
  for (long t = 0; finished < p; ++t) {
    bool moved = false;
    int upstream_f = m_count;  // device d − 1's F count at the start of the slot (device 0: all ready)
    // Device d can run nothing before slot d (its first input, F0, arrives then): skip those.
    const std::size_t live = t < static_cast<long>(p) ? static_cast<std::size_t>(t) + 1 : p;
    for (std::size_t dz = 0; dz < live; ++dz) {
      device_state& x = dev[dz];
      const int f = x.f, i = x.i, w = x.w;
      const int f_arrived = upstream_f;
      upstream_f = f;
      if (w == m_count) continue;
      const bool f_ready = f < f_arrived && f < m_count;
      const bool i_ready = i < f && (dz + 1 == p || i < dev[dz + 1].i);
      const int d = static_cast<int>(dz);
      if (f_ready && f < x.warmup) {
        *x.out++ = make_action(action_kind::forward, d, f);
        x.f = f + 1;
      } else if (i_ready) {
        *x.out++ = make_action(action_kind::backward_input, d, i);
        x.i = i + 1;
      } else if (f_ready && f - w < cap) {
        *x.out++ = make_action(action_kind::forward, d, f);
        x.f = f + 1;
      } else if (w < i) {
        *x.out++ = make_action(action_kind::backward_weight, d, w);
        x.w = w + 1;
        if (w + 1 == m_count) ++finished;
      } else {
        continue;
      }
      moved = true;
    }
    // Some device can always move (the last device's I follows its own F; a W follows its I), so
    // an idle slot for all devices would mean a construction bug: fail rather than loop forever.
    if (!moved)
      detail::fail("ZB-H2: construction stalled at slot ", t, " (P = ", devices, ", M = ", micro_batches, ")");
  }
  for (std::size_t dz = 0; dz < p; ++dz) assert(dev[dz].out == s.actions[dz].data() + s.actions[dz].size());
  return s;
}

}  // namespace layerpipe
