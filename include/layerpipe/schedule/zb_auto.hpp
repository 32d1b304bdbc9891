// layerpipe/schedule/zb_auto.hpp — the automatic (cost-aware) zero-bubble scheduler under a
// per-device activation memory cap (REFERENCE §5.4, "Automatic").
//
//   layerpipe::zb_auto_options o;
//   o.stage_costs = {{1, 1, 1}, {1, 1, 1}, {2, 2, 2}, {1, 1, 1}};  // per stage T_F, T_I, T_W
//   o.p2p_latency = 0.1;                                          // per cross-device transfer
//   o.memory_cap = 4;                                             // activations per device
//   layerpipe::schedule s = layerpipe::zero_bubble_auto(4, 16, o);  // name "ZB-auto"
//
// Output: device d holds stage d (placement::loop(P, 1)), compute-only, every (stage, micro-batch)
// has one F, one I and one W, each W after its I on the same device — like ZB-H1/ZB-H2.
//
// Memory (order-based, as measure()'s default activation_accounting::free_at_weight_grad): F
// adds one stage-unit (one micro-batch's activation of its stage), I frees nothing, W frees it.
// The cap bounds the prefix sum on every device. Only whole activations exist, so the cap
// acts as ⌊memory_cap⌋ (and never as more than M). The smallest workable cap is 1: F, I, W of
// one micro-batch before the next F (that order always runs). 0 means the default, 2P (the
// memory of ZB-H2); +∞ means no cap.
//
// Heuristic (documented, not optimal): build candidates, simulate each on the one execution
// engine (detail::run_in_order, the engine behind layerpipe::simulate) with the given costs and
// latency, and keep the smallest makespan; ties go to the lower peak, then to the earlier
// candidate in this list:
//   1. The greedy list schedule of the zero-bubble reference (sail-sg, auto_schedule.py,
//      Graph.manual_order), under all 8 combinations of its flags — allow a bubble before the
//      first I; prioritise I (let a device skip an F when the next device lags); "no-bubble
//      greedy" (fill a gap smaller than the worst device's bubble with a W) — and at each
//      distinct cap of {c, min(c, 2P), min(c, P)}, c the effective cap. Round 0 sends micro-batch
//      0 down the pipeline and gives each device as many extra warm-up F's as fit before its
//      first I's gradient can arrive (memory permitting, fewer than the device before it); each
//      later round emits one F per device (upstream devices may skip) and then I(i) from the last
//      device to the first; before each F or I, W's are inserted while they finish before the
//      input arrives, or when the cap requires it; the remaining W's drain at the end. The
//      times it plans with are the engine's ASAP times for that order.
//   2. The handcrafted ZB-H1 and ZB-H2 (zero_bubble.hpp), 1F1B and GPipe with each B split
//      into I then W, each when its peak (min(P, M), min(2P, M), min(P, M), M) fits the cap.
//   So at any costs the result is never slower than a handcrafted candidate that fits the cap;
//   in particular, at equal costs, never slower than ZB-H1 with a cap of P, nor ZB-H2 with 2P.
//   The objective is the wall-clock makespan (every device starts at 0), not the reference's
//   largest per-stage span (which assumes optimizer post-validation). No ILP refinement. Cost: at most 3·8 greedy runs and 28
//   simulations, each linear in P·M (about 12 ms at P = 32, M = 256; benchmarks/zb_auto.cpp).
//
// Constraints (layerpipe::error naming the rule and the value): P ≥ 1, M ≥ 1; stage_costs holds
// no entry (T_F = T_I = T_W = 1 everywhere), one (every stage) or P entries, each time finite
// and ≥ 0; p2p_latency finite and ≥ 0; memory_cap 0 or ≥ 1 (NaN is rejected).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/core/pass_costs.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/zero_bubble.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace layerpipe {

struct zb_auto_options {
  /// T_F, T_I, T_W per stage: empty (all 1), one entry (every stage) or one per stage.
  std::vector<pass_costs> stage_costs;
  /// Time added to every cross-device transfer (all transfers here cross devices).
  double p2p_latency = 0.0;
  /// Activations a device may hold, in stage-units; 0 = 2P (ZB-H2's memory), +∞ = no cap.
  double memory_cap = 0.0;
};

namespace detail {

/// The reference greedy's three switches (auto_schedule.py, Graph.manual_order).
struct zb_greedy_flags {
  bool allow_bubble_before_first_i = false;
  bool prioritize_i = false;
  bool no_bubble_greedy = false;
};

/// One run of the greedy list schedule: F, I, W orders per device with at most `cap`
/// activations held (F +1, W −1). Always succeeds for cap ≥ 1: before a round's F a device
/// holds at most cap − 1 activations whose I has run, so enough W's can be emitted.
inline schedule zb_greedy_schedule(int devices, int micro_batches, const std::vector<pass_costs>& c, double comm,
                                   int cap, zb_greedy_flags flags) {
  const auto p = static_cast<std::size_t>(devices);
  const auto mbs = static_cast<std::size_t>(micro_batches);
  schedule s = empty_schedule("ZB-auto", placement::loop(devices, 1), micro_batches, pass_mode::training, 0);
  for (auto& list : s.actions) list.reserve(3 * mbs);
  std::vector<int> f(p, 0), b(p, 0), w(p, 0), held(p, 0), extra(p, 0);
  std::vector<double> end_at(p, 0.0), bubble(p, 0.0);
  std::vector<double> f_end(p * mbs, 0.0), i_end(p * mbs, 0.0);  // [stage · M + micro-batch]
  double max_bubble = 0.0;  // bubbles only grow, so a running maximum is the reference's max
  auto slot = [&](std::size_t j, int m) { return j * mbs + static_cast<std::size_t>(m); };

  // Emits the device's next pass of `kind` at its ASAP time in this order.
  auto put = [&](std::size_t j, action_kind kind) {
    const pass_costs& cj = c[j];
    double cost = 0.0, ready = 0.0;
    int m = 0;
    switch (kind) {
      case action_kind::forward:
        m = f[j];
        cost = cj.forward;
        if (j > 0) ready = f_end[slot(j - 1, m)] + comm;
        break;
      case action_kind::backward_input:
        m = b[j];
        cost = cj.input_grad;
        if (j + 1 < p) ready = i_end[slot(j + 1, m)] + comm;
        break;
      default:
        m = w[j];
        cost = cj.weight_grad;
        break;
    }
    const double no_wait = end_at[j] + cost;
    const double end = std::max(no_wait, ready + cost);
    if (f[j] > 0) {  // waiting for the very first F is start-up, not a bubble
      bubble[j] += end - no_wait;
      max_bubble = std::max(max_bubble, bubble[j]);
    }
    end_at[j] = end;
    s.actions[j].push_back(make_action(kind, static_cast<int>(j), m));
    switch (kind) {
      case action_kind::forward: f_end[slot(j, m)] = end; ++f[j]; ++held[j]; break;
      case action_kind::backward_input: i_end[slot(j, m)] = end; ++b[j]; break;
      default: ++w[j]; --held[j]; break;
    }
  };
  // W's that fit before an input arriving at `arrival`, and one more into a gap the flags allow.
  auto fill_w = [&](std::size_t j, double arrival) {
    while (w[j] < b[j] && end_at[j] + c[j].weight_grad <= arrival) put(j, action_kind::backward_weight);
    if (w[j] < b[j] && end_at[j] < arrival) {
      if (arrival - end_at[j] > max_bubble - bubble[j] || flags.no_bubble_greedy) put(j, action_kind::backward_weight);
    }
  };

  // Round 0: micro-batch 0 through every stage, extra warm-up forwards, then I0 upwards.
  for (std::size_t j = 0; j < p; ++j) put(j, action_kind::forward);
  double last = f_end[slot(p - 1, 0)] + c[p - 1].input_grad;  // when the last device's I0 ends
  for (std::size_t j = p - 1; j-- > 0;) {
    int mem = held[j];
    double busy = end_at[j];
    while (f[j] + extra[j] < micro_batches && mem + 1 <= cap) {
      const bool stop = flags.allow_bubble_before_first_i ? busy + c[j].forward > last + comm : busy >= last + comm;
      if (stop) break;
      ++mem;
      busy += c[j].forward;
      ++extra[j];
    }
    last = std::max(busy, last + comm) + c[j].input_grad;
  }
  for (std::size_t j = 1; j < p; ++j)  // strictly fewer warm-up F's than the device before
    while (extra[j] > 0 && extra[j] >= extra[j - 1] && f[j] + extra[j] < micro_batches) --extra[j];
  for (std::size_t j = 0; j < p; ++j)
    for (int k = 0; k < extra[j]; ++k) put(j, action_kind::forward);
  for (std::size_t j = p; j-- > 0;) put(j, action_kind::backward_input);

  // Rounds 1 … M − 1: at most one F per device, then I(i) from the last device to the first.
  std::vector<char> need(p, 0);
  for (int i = 1; i < micro_batches; ++i) {
    for (std::size_t j = 0; j < p; ++j) {
      need[j] = 0;
      if (f[j] >= micro_batches) continue;
      if (flags.prioritize_i && j + 1 < p && f[j] >= f[j + 1] + 2) {
        // The next device lags: skip this F if it would delay the I the next device sends back.
        const double next_plus = end_at[j + 1] + c[j + 1].forward + c[j + 1].input_grad + comm;
        if (end_at[j] >= next_plus) continue;
        int mem_with_w = held[j] + 1, w_count = 0;
        double w_cost = 0.0;
        while (mem_with_w > cap && w[j] + w_count < b[j]) {
          w_cost += c[j].weight_grad;
          --mem_with_w;
          ++w_count;
        }
        if (end_at[j] + c[j].forward + w_cost > next_plus && next_plus - end_at[j] <= max_bubble - bubble[j]) continue;
      }
      need[j] = 1;
    }
    for (std::size_t j = p - 1; j-- > 0;) need[j] = std::min(need[j], need[j + 1]);
    for (std::size_t j = 0; j < p; ++j) {
      if (!need[j]) continue;
      while (held[j] + 1 > cap) {
        if (w[j] >= b[j]) fail("ZB-auto: internal error: no W frees memory for F on stage ", j, " (cap ", cap, ")");
        put(j, action_kind::backward_weight);
      }
      if (j > 0) fill_w(j, f_end[slot(j - 1, f[j])] + comm);
      put(j, action_kind::forward);
    }
    for (std::size_t j = p; j-- > 0;) {
      if (j + 1 < p) fill_w(j, i_end[slot(j + 1, i)] + comm);
      if (j == 0 && f[0] == micro_batches)
        while (w[0] < b[0]) put(0, action_kind::backward_weight);
      put(j, action_kind::backward_input);
    }
  }
  for (std::size_t j = 0; j < p; ++j)
    while (w[j] < micro_batches) put(j, action_kind::backward_weight);
  return s;
}

/// The schedule with every fused B replaced by I then W (1F1B, GPipe as split-backward candidates).
inline schedule split_backward(schedule fused) {
  for (auto& list : fused.actions) {
    std::vector<action> out;
    out.reserve(list.size() + list.size() / 2);
    for (const action& a : list) {
      if (a.kind != action_kind::backward) {
        out.push_back(a);
        continue;
      }
      out.push_back(make_action(action_kind::backward_input, a.stage, a.micro_batch));
      out.push_back(make_action(action_kind::backward_weight, a.stage, a.micro_batch));
    }
    list = std::move(out);
  }
  return fused;
}

/// Largest order-based activation count on any device (F +1, B and W −1).
inline int zb_peak_activations(const schedule& s) {
  int peak = 0;
  for (const auto& list : s.actions) {
    int held = 0;
    for (const action& a : list) {
      if (a.kind == action_kind::forward) peak = std::max(peak, ++held);
      else if (a.kind == action_kind::backward || a.kind == action_kind::backward_weight) --held;
    }
  }
  return peak;
}

/// Makespan of a compute-only single-chunk schedule under per-stage costs, on the one engine.
inline double zb_makespan(const schedule& s, const std::vector<pass_costs>& c, double comm) {
  double makespan = 0.0;
  run_in_order(
      s,
      [&](const action& a) {
        const pass_costs& x = c[static_cast<std::size_t>(a.stage)];
        switch (a.kind) {
          case action_kind::forward: return x.forward;
          case action_kind::backward: return x.backward();
          case action_kind::backward_input: return x.input_grad;
          case action_kind::backward_weight: return x.weight_grad;
          default: return 0.0;
        }
      },
      [&](const transfer_edge&) { return comm; },
      [&](int, std::size_t, const action&, double, double end) { makespan = std::max(makespan, end); });
  return makespan;
}

inline void check_zb_auto_time(const char* what, double value, std::size_t stage, bool per_stage) {
  if (std::isfinite(value) && value >= 0.0) return;
  if (per_stage) fail("ZB-auto: ", what, " of stage ", stage, " must be finite and >= 0, got ", value);
  fail("ZB-auto: ", what, " must be finite and >= 0, got ", value);
}

}  // namespace detail

/// The automatic zero-bubble schedule over `devices` stages (one per device) and
/// `micro_batches` micro-batches: the candidate with the smallest simulated makespan under
/// `options` whose peak fits the memory cap (see the heuristic above).
inline schedule zero_bubble_auto(int devices, int micro_batches, const zb_auto_options& options = {}) {
  detail::check_pipeline_sizes("ZB-auto", devices, micro_batches);
  const auto p = static_cast<std::size_t>(devices);

  // Costs: one entry per stage.
  const auto& given = options.stage_costs;
  if (given.size() > 1 && given.size() != p)
    detail::fail("ZB-auto: stage_costs needs no entry, one entry (every stage) or one per stage (P = ", devices,
                 "), got ", given.size());
  for (std::size_t j = 0; j < given.size(); ++j) {
    const bool per_stage = given.size() > 1;
    detail::check_zb_auto_time("forward cost T_F", given[j].forward, j, per_stage);
    detail::check_zb_auto_time("input-gradient cost T_I", given[j].input_grad, j, per_stage);
    detail::check_zb_auto_time("weight-gradient cost T_W", given[j].weight_grad, j, per_stage);
  }
  std::vector<pass_costs> costs = given.size() == p ? given : std::vector<pass_costs>(p, given.empty() ? pass_costs{} : given.front());
  if (!(std::isfinite(options.p2p_latency) && options.p2p_latency >= 0.0))
    detail::fail("ZB-auto: p2p_latency must be finite and >= 0, got ", options.p2p_latency);
  const double comm = options.p2p_latency;

  // Memory cap: whole activations, at most M.
  const double requested = options.memory_cap == 0.0 ? 2.0 * devices : options.memory_cap;
  if (!(requested >= 1.0))
    detail::fail("ZB-auto: memory_cap must be at least 1 activation per device (one micro-batch's activation of "
                 "its stage), or 0 for the default 2P; got ",
                 options.memory_cap);
  const int cap = requested >= static_cast<double>(micro_batches) ? micro_batches : static_cast<int>(requested);

  std::optional<schedule> best;
  double best_time = std::numeric_limits<double>::infinity();
  int best_peak = 0;
  auto consider = [&](schedule candidate) {
    const int peak = detail::zb_peak_activations(candidate);
    if (peak > cap) return;
    const double t = detail::zb_makespan(candidate, costs, comm);
    if (best && !(t < best_time || (t == best_time && peak < best_peak))) return;
    best = std::move(candidate);
    best_time = t;
    best_peak = peak;
  };

  const int caps[3] = {cap, static_cast<int>(std::min<long long>(cap, 2LL * devices)), std::min(cap, devices)};
  for (int k = 0; k < 3; ++k) {
    if (k > 0 && caps[k] == caps[k - 1]) continue;  // the three are non-increasing
    for (int bits = 0; bits < 8; ++bits)
      consider(detail::zb_greedy_schedule(devices, micro_batches, costs, comm, caps[k],
                                          {(bits & 4) != 0, (bits & 2) != 0, (bits & 1) != 0}));
  }
  consider(zb_h1(devices, micro_batches));
  consider(zb_h2(devices, micro_batches));
  consider(detail::split_backward(one_f_one_b(devices, micro_batches)));
  consider(detail::split_backward(gpipe(devices, micro_batches)));
  if (!best) detail::fail("ZB-auto: internal error: no candidate fits the cap ", cap);
  best->name = "ZB-auto";
  return std::move(*best);
}

}  // namespace layerpipe
