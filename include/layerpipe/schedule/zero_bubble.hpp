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
                                      pass_mode::training, 0);
  for (auto& list : s.actions) list.reserve(static_cast<std::size_t>(m_count) * 3u);

  // Unit-time slots: a pass run in slot t is done for every device from slot t + 1 on.
  constexpr long never = -1;
  std::vector<std::vector<long>> f_done(p, std::vector<long>(static_cast<std::size_t>(m_count), never));
  std::vector<std::vector<long>> i_done = f_done;
  std::vector<int> next_f(p, 0), next_i(p, 0), next_w(p, 0);
  auto ready = [](long done, long t) { return done != never && done <= t; };

  std::size_t finished = 0;  // devices with all 3M passes emitted
  std::vector<action> chosen(p, action{});
  std::vector<char> runs(p, 0);
  for (long t = 0; finished < p; ++t) {
    // Decide every device's pass for slot t from the state at its start, then record them, so a
    // pass never sees another pass of the same slot.
    std::fill(runs.begin(), runs.end(), char{0});
    for (std::size_t dz = 0; dz < p; ++dz) {
      const int d = static_cast<int>(dz);
      const int f = next_f[dz], i = next_i[dz], w = next_w[dz];
      if (w == m_count) continue;
      const int warmup = std::min(2 * (devices - d) - 1, m_count);
      const bool f_ready = f < m_count && (d == 0 || ready(f_done[dz - 1][static_cast<std::size_t>(f)], t));
      const bool i_ready = i < f && (dz + 1 == p || ready(i_done[dz + 1][static_cast<std::size_t>(i)], t)) &&
                           ready(f_done[dz][static_cast<std::size_t>(i)], t);
      const bool w_ready = w < i && ready(i_done[dz][static_cast<std::size_t>(w)], t);
      runs[dz] = 1;
      if (f < warmup && f_ready) chosen[dz] = make_action(action_kind::forward, d, f);
      else if (i_ready) chosen[dz] = make_action(action_kind::backward_input, d, i);
      else if (f_ready && f - w < cap) chosen[dz] = make_action(action_kind::forward, d, f);
      else if (w_ready) chosen[dz] = make_action(action_kind::backward_weight, d, w);
      else runs[dz] = 0;
    }
    // Some device can always move (the last device's I follows its own F; a W follows its I), so
    // an idle slot for all devices would mean a construction bug: fail rather than loop forever.
    if (std::find(runs.begin(), runs.end(), char{1}) == runs.end())
      detail::fail("ZB-H2: construction stalled at slot ", t, " (P = ", devices, ", M = ", micro_batches, ")");
    for (std::size_t dz = 0; dz < p; ++dz) {
      if (!runs[dz]) continue;
      const action& a = chosen[dz];
      const auto mb = static_cast<std::size_t>(a.micro_batch);
      s.actions[dz].push_back(a);
      switch (a.kind) {
        case action_kind::forward: f_done[dz][mb] = t + 1; ++next_f[dz]; break;
        case action_kind::backward_input: i_done[dz][mb] = t + 1; ++next_i[dz]; break;
        default:
          if (++next_w[dz] == m_count) ++finished;
          break;
      }
    }
  }
  return s;
}

}  // namespace layerpipe
