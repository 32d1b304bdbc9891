// layerpipe/sim/selective_offload.hpp — choose which activations to send to host memory so that
// every device's activation memory stays under a cap (PipeOffload's selective offload, §5.7).
//
//   auto s = layerpipe::pipe_offload(4, 16, 2);                   // nothing offloaded yet
//   auto costs = layerpipe::cost_model::uniform({1, 1, 1})
//                    .with_activation_bytes(1e9).with_host_bandwidth(1e9);
//   auto pick = layerpipe::selective_offload(s, costs, 4e9);      // at most 4 GB per device
//   pick.offloaded;                    // s with OFFLOAD/RELOAD pairs inserted
//   pick.makespan - pick.baseline_makespan;                      // time the copies added
//
// Placement of a chosen activation (stage s, micro-batch m) on its device: OFFLOAD right after
// the pass holding F(s, m); RELOAD just before the compute pass `reload_lead` passes ahead of the
// backward (B or I) of (s, m), but after the OFFLOAD. The activation is then off the device from
// its OFFLOAD to its RELOAD, in the order-based accounting of metrics.hpp (F adds, W or B frees).
//
// Rule (greedy, one sweep per device along its list, O(n log n)): at each point of the list where
// the bytes held exceed the cap, offload, among the activations that are on the device and would
// still be off it after that point, the one whose RELOAD comes last (Belady's "furthest next use":
// it covers the most later points, so the fewest copies are made, and it has the most slack to
// hide its copies behind compute); repeat until the point fits. Offloading only lowers the bytes
// held at any point, so this succeeds exactly when the cap is at least the peak with every such
// activation offloaded; otherwise it throws, naming that smallest reachable cap. It minimises
// copies, not makespan exactly: the added makespan is measured and returned.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

namespace layerpipe {

struct selective_offload_options {
  int reload_lead = 2;  ///< RELOAD goes before the compute pass this many passes ahead of the backward (≥ 0)
};

struct offload_selection {
  schedule offloaded;               ///< the input with OFFLOAD/RELOAD pairs inserted
  std::size_t activations = 0;      ///< (stage, micro-batch) activations sent to the host
  std::vector<double> peak_bytes;   ///< per device: order-based peak activation bytes, with the offloads
  double baseline_makespan = 0.0;   ///< the input, simulated under the cost model
  double makespan = 0.0;            ///< with the offloads (copies on each device's copy stream)
};

namespace detail {
/// One activation a device may offload: where its F sits, where its RELOAD would go, its size.
struct offload_candidate {
  std::size_t forward = 0;  // list position of the pass holding F
  std::size_t reload = 0;   // RELOAD goes right before this list position
  double bytes = 0.0;
  int stage = 0, micro_batch = 0;
};

/// Candidates of one device (in F order) whose offload would free at least one point.
inline std::vector<offload_candidate> offload_candidates(const schedule& s, int device, const cost_model& costs,
                                                         int lead, std::vector<std::int64_t>& pass_of_forward) {
  const auto& list = s.actions[static_cast<std::size_t>(device)];
  const std::size_t mbs = static_cast<std::size_t>(s.micro_batches);
  constexpr std::int64_t none = -1;
  std::vector<std::size_t> pass_pos;  // list position of each compute pass
  std::vector<offload_candidate> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!is_compute(list[i].kind)) continue;
    pass_pos.push_back(i);
    for_each_half(list[i], [&](action_kind k, int st, int mb) {
      if (k == action_kind::forward) {
        pass_of_forward[static_cast<std::size_t>(st) * mbs + static_cast<std::size_t>(mb)] =
            static_cast<std::int64_t>(pass_pos.size() - 1);
        return;
      }
      if (!is_input_backward(k)) return;
      const std::int64_t f = pass_of_forward[static_cast<std::size_t>(st) * mbs + static_cast<std::size_t>(mb)];
      if (f == none) return;  // the engine has already rejected such a schedule
      const auto b = static_cast<std::int64_t>(pass_pos.size() - 1);
      const std::size_t f_pos = pass_pos[static_cast<std::size_t>(f)];
      const std::size_t r = b - lead > f ? pass_pos[static_cast<std::size_t>(b - lead)] : f_pos + 1;
      const double bytes = costs.activation_bytes(st);
      if (r > f_pos + 1 && bytes > 0.0) out.push_back({f_pos, r, bytes, st, mb});
    });
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.forward < b.forward; });
  return out;
}

/// The input with OFFLOAD after each chosen F and RELOAD before its position; chosen[i] marks cands[i].
inline std::vector<action> with_copies(const std::vector<action>& list, const std::vector<offload_candidate>& cands,
                                       const std::vector<char>& chosen) {
  std::vector<std::vector<std::size_t>> reload_at(list.size() + 1), offload_after(list.size());
  std::size_t extra = 0;
  for (std::size_t c = 0; c < cands.size(); ++c) {
    if (!chosen[c]) continue;
    offload_after[cands[c].forward].push_back(c);
    reload_at[cands[c].reload].push_back(c);
    extra += 2;
  }
  std::vector<action> out;
  out.reserve(list.size() + extra);
  for (std::size_t i = 0; i < list.size(); ++i) {
    for (std::size_t c : reload_at[i]) out.push_back(make_action(action_kind::reload, cands[c].stage, cands[c].micro_batch));
    out.push_back(list[i]);
    for (std::size_t c : offload_after[i])
      out.push_back(make_action(action_kind::offload, cands[c].stage, cands[c].micro_batch));
  }
  return out;
}
}  // namespace detail

/// Offloads the fewest, longest-lived activations of `s` (see the top of this header) so that
/// every device's order-based peak activation bytes stay within `cap_bytes`. Throws
/// layerpipe::error if `s` already holds host copies, is invalid, or no choice fits the cap.
inline offload_selection selective_offload(const schedule& s, const cost_model& costs, double cap_bytes,
                                           const selective_offload_options& options = {}) {
  if (!std::isfinite(cap_bytes) || cap_bytes < 0.0)
    detail::fail("selective_offload: the activation memory cap must be finite and >= 0 bytes, got ", cap_bytes);
  if (options.reload_lead < 0)
    detail::fail("selective_offload needs reload_lead >= 0 (compute passes between RELOAD and its backward), got ",
                 options.reload_lead);
  for (const auto& list : s.actions)
    for (const action& a : list)
      if (detail::is_host_copy(a.kind))
        detail::fail("selective_offload: schedule '", s.name, "' already holds ", a,
                     " (rule: choose offloads on a schedule without OFFLOAD/RELOAD)");
  offload_selection out;
  out.offloaded = s;
  const timeline base = simulate(s, costs);  // validates s (the one engine) and gives the baseline
  out.baseline_makespan = base.makespan();
  if (s.forward_only) {
    out.makespan = out.baseline_makespan;
    out.peak_bytes.assign(static_cast<std::size_t>(s.num_devices()), 0.0);
    return out;
  }

  const double slack = 1e-9 * (1.0 + cap_bytes);  // summed doubles: compare with a tolerance
  std::vector<std::int64_t> pass_of_forward(static_cast<std::size_t>(s.num_stages()) *
                                                static_cast<std::size_t>(s.micro_batches), -1);
  bool fits = true;
  for (int d = 0; d < s.num_devices(); ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    const auto cands = detail::offload_candidates(s, d, costs, options.reload_lead, pass_of_forward);
    std::vector<char> chosen(cands.size(), 0);
    std::vector<double> back_at(list.size() + 1, 0.0);  // bytes reloaded right before position i
    // Live candidates, the one reloaded last on top.
    auto later = [&](std::size_t a, std::size_t b) { return cands[a].reload < cands[b].reload; };
    std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(later)> live(later);
    std::size_t next = 0;  // next candidate (by F position) not yet live
    double held = 0.0;
    auto fit = [&](std::size_t i) {  // make a point at action i fit; false if it cannot
      while (held > cap_bytes + slack) {
        while (!live.empty() && cands[live.top()].reload <= i) live.pop();  // back on the device
        if (live.empty()) return false;
        const std::size_t c = live.top();
        live.pop();
        chosen[c] = 1;
        held -= cands[c].bytes;
        back_at[cands[c].reload] += cands[c].bytes;
      }
      return true;
    };
    // The points metrics.hpp checks: after the RELOADs placed before action i, and after each
    // half of action i. Both are covered by the candidates with F before i and RELOAD after i.
    for (std::size_t i = 0; i < list.size() && fits; ++i) {
      held += back_at[i];
      fits = fit(i);
      detail::for_each_half(list[i], [&](action_kind k, int st, int) {
        if (k == action_kind::forward) held += costs.activation_bytes(st);
        if (k == action_kind::backward || k == action_kind::backward_weight) held -= costs.activation_bytes(st);
        fits = fits && fit(i);
      });
      while (next < cands.size() && cands[next].forward <= i) live.push(next++);
    }
    if (!fits) break;
    out.activations += static_cast<std::size_t>(std::count(chosen.begin(), chosen.end(), 1));
    out.offloaded.actions[static_cast<std::size_t>(d)] = detail::with_copies(list, cands, chosen);
  }
  if (!fits) {  // name the smallest reachable cap: the peak with every candidate offloaded
    schedule all = s;
    for (int d = 0; d < s.num_devices(); ++d) {
      const auto cands = detail::offload_candidates(s, d, costs, options.reload_lead, pass_of_forward);
      all.actions[static_cast<std::size_t>(d)] =
          detail::with_copies(s.actions[static_cast<std::size_t>(d)], cands, std::vector<char>(cands.size(), 1));
    }
    const schedule_metrics m = measure(all, simulate(all, costs), costs);
    double lowest = 0.0;
    for (const auto& dm : m.devices) lowest = std::max(lowest, dm.peak_activation_bytes);
    detail::fail("selective_offload: no choice of offloads keeps every device within ", cap_bytes,
                 " activation bytes; the smallest cap reachable with reload_lead = ", options.reload_lead, " is ",
                 lowest, " bytes (rule: cap >= the peak with every activation offloaded)");
  }
  const schedule_metrics m = measure(out.offloaded, simulate(out.offloaded, costs), costs);
  out.makespan = m.makespan;
  for (const auto& dm : m.devices) {
    out.peak_bytes.push_back(dm.peak_activation_bytes);
    if (dm.peak_activation_bytes > cap_bytes + slack)  // the sweep and metrics disagree: a bug
      detail::fail("selective_offload: internal error: a device holds ", dm.peak_activation_bytes,
                   " bytes after selection, above the cap of ", cap_bytes);
  }
  return out;
}

}  // namespace layerpipe
