// layerpipe/sim/metrics.hpp — figures of merit of a schedule and one of its timelines.
//
// Bubbles in both definitions (REFERENCE §6): the wall-clock bubble ratio (makespan − busy time
// of the busiest device) / makespan, and each device's span idle (last end − first start − busy).
// Peak in-flight activations are order-based: F adds its activation, B frees it; with a split
// backward W frees it and I does not, or (zero-bubble accounting) I frees a share and W the rest.
// An OFFLOAD moves its activation to the host until its RELOAD: freed on the device over that
// stretch of the list and counted in the host-side peak instead (same units).
// Messages are the cross-device transfers; the critical path is the chain of spans that made the
// last one end when it did. Every rule comes from the execution engine's requirement functions,
// so simulated and measured timelines are read the same way.
//
//   auto s = layerpipe::one_f_one_b(4, 8);
//   auto costs = layerpipe::cost_model::uniform({1, 1, 1});
//   auto m = layerpipe::measure(s, layerpipe::simulate(s, costs), costs);
//   m.bubble_ratio;                   // (P − 1)/(M + P − 1) = 3/11
//   m.devices[0].peak_activations;    // min(P − d, M) = 4
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>
#include <layerpipe/sim/cost_model.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

namespace layerpipe {

struct device_metrics {
  double busy = 0.0;         ///< summed duration of compute spans (F, B, I, W, OVERLAP_F_B, U)
  double first_start = 0.0;  ///< start of the first compute span (0 if none)
  double last_end = 0.0;     ///< end of the last compute span (0 if none)
  double idle = 0.0;         ///< wall-clock idle: makespan − busy
  double span_idle = 0.0;    ///< last_end − first_start − busy
  double peak_activations = 0.0;      ///< stage-units (1/P of the model): a stage's activation counts P/S_model
  int peak_activation_count = 0;      ///< (stage, micro-batch) activations held at once
  double peak_activation_bytes = 0.0; ///< from the cost model's activation sizes
  double peak_host_activations = 0.0;      ///< offloaded (OFFLOAD..RELOAD) activations, stage-units
  int peak_host_activation_count = 0;      ///< offloaded (stage, micro-batch) activations at once
  double peak_host_activation_bytes = 0.0; ///< their bytes
};

struct schedule_metrics {
  double makespan = 0.0;
  double bubble_ratio = 0.0;   ///< wall-clock: (makespan − busy of the busiest device) / makespan
  double max_span_idle = 0.0;  ///< largest span idle over devices
  std::vector<device_metrics> devices;
  std::size_t messages = 0;    ///< cross-device transfers (activations and gradients)
  double message_bytes = 0.0;  ///< their total size
  std::size_t gradient_reductions = 0;  ///< REDUCE_GRAD actions (gradient all-reduce between replicas)
  std::size_t host_copies = 0;          ///< OFFLOAD and RELOAD actions
  double host_copy_bytes = 0.0;         ///< bytes they move (both directions)
  std::vector<span> critical_path;     ///< in time order, from a span starting the chain to the last end
  double critical_path_latency = 0.0;  ///< transfer latency on the path: durations + this = makespan
};

/// How the order-based activation count frees a split backward's activation (REFERENCE §6).
enum class activation_accounting {
  free_at_weight_grad,  ///< I frees nothing, W frees all (B frees all either way)
  split_input_weight,   ///< I frees `input_grad_share`, W the rest (the zero-bubble papers' figures)
};

namespace detail {
/// Spans that occupy the device's compute: passes and optimizer steps, not transfers or markers.
constexpr bool is_device_work(action_kind k) noexcept { return is_compute(k) || k == action_kind::update; }

/// Index of the span for each (device, step); throws unless `t` has exactly one span per action of `s`.
inline std::vector<std::size_t> index_spans(const schedule& s, const timeline& t,
                                            std::vector<std::size_t>& offsets) {
  const auto devices = static_cast<std::size_t>(s.num_devices());
  if (t.num_devices != s.num_devices())
    fail("measure: the timeline has ", t.num_devices, " devices but the schedule has ", s.num_devices());
  if (s.actions.size() != devices)
    fail("measure: schedule '", s.name, "' has ", s.actions.size(), " action lists but ", devices, " devices");
  if (t.spans.size() != s.size())
    fail("measure: the timeline has ", t.spans.size(), " spans but the schedule has ", s.size(), " actions");
  offsets.assign(devices + 1, 0);
  for (std::size_t d = 0; d < devices; ++d) offsets[d + 1] = offsets[d] + s.actions[d].size();
  constexpr auto none = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> at(s.size(), none);
  for (std::size_t i = 0; i < t.spans.size(); ++i) {
    const span& x = t.spans[i];
    if (x.device < 0 || x.device >= s.num_devices() || x.step >= s.actions[static_cast<std::size_t>(x.device)].size())
      fail("measure: span ", i, " (device ", x.device, ", step ", x.step, ") is not an action of the schedule");
    const auto d = static_cast<std::size_t>(x.device);
    if (!(s.actions[d][x.step] == x.what))
      fail("measure: span ", i, " runs ", x.what, " but device ", x.device, " step ", x.step, " of the schedule is ",
           s.actions[d][x.step]);
    std::size_t& slot = at[offsets[d] + x.step];
    if (slot != none) fail("measure: device ", x.device, " step ", x.step, " has two spans");
    slot = i;
  }
  return at;
}
}  // namespace detail

/// Metrics of `s` as run in `t` (simulated or measured: one span per action of `s`).
/// `input_grad_share` is the part of an activation I frees under split_input_weight, in [0, 1].
inline schedule_metrics measure(const schedule& s, const timeline& t, const cost_model& costs,
                                activation_accounting acc = activation_accounting::free_at_weight_grad,
                                double input_grad_share = 0.5) {
  if (!(input_grad_share >= 0.0 && input_grad_share <= 1.0))
    detail::fail("measure: input_grad_share is the fraction of an activation freed by I, in [0, 1], got ",
                 input_grad_share);
  costs.check_covers(s.num_stages());
  std::vector<std::size_t> offsets;
  const std::vector<std::size_t> at = detail::index_spans(s, t, offsets);
  const auto devices = static_cast<std::size_t>(s.num_devices());

  schedule_metrics out;
  out.makespan = t.makespan();
  out.devices.assign(devices, device_metrics{});

  // Busy time and compute extent per device.
  std::vector<char> seen(devices, 0);
  for (const span& x : t.spans) {
    if (!detail::is_device_work(x.what.kind)) continue;
    auto& m = out.devices[static_cast<std::size_t>(x.device)];
    m.busy += x.duration();
    auto& first = seen[static_cast<std::size_t>(x.device)];
    m.first_start = first ? std::min(m.first_start, x.start) : x.start;
    m.last_end = first ? std::max(m.last_end, x.end) : x.end;
    first = 1;
  }
  double busiest = 0.0;
  for (auto& m : out.devices) {
    m.idle = out.makespan - m.busy;
    m.span_idle = m.last_end - m.first_start - m.busy;
    busiest = std::max(busiest, m.busy);
    out.max_span_idle = std::max(out.max_span_idle, m.span_idle);
  }
  out.bubble_ratio = out.makespan > 0.0 ? (out.makespan - busiest) / out.makespan : 0.0;

  // Order-based activations, in chunk units per device (divided by V_d at the end, so whole
  // chunks stay exact). A forward-only schedule keeps nothing for a backward: its peaks are 0.
  if (!s.forward_only) {
    const bool split = acc == activation_accounting::split_input_weight;
    for (std::size_t d = 0; d < devices; ++d) {
      double held = 0.0, bytes = 0.0, peak = 0.0, peak_bytes = 0.0;
      int count = 0, peak_count = 0;
      double host = 0.0, host_bytes = 0.0, host_peak = 0.0, host_peak_bytes = 0.0;
      int host_count = 0, host_peak_count = 0;
      auto free_part = [&](int stage, double part) {
        held -= part;
        bytes -= part * costs.activation_bytes(stage);
      };
      // The order rule (F < OFFLOAD < RELOAD < backward) means a whole activation moves.
      auto to_host = [&](int stage, double sign) {
        free_part(stage, sign);
        count -= static_cast<int>(sign);
        host += sign;
        host_bytes += sign * costs.activation_bytes(stage);
        host_count += static_cast<int>(sign);
        host_peak = std::max(host_peak, host);
        host_peak_bytes = std::max(host_peak_bytes, host_bytes);
        host_peak_count = std::max(host_peak_count, host_count);
      };
      for (const action& a : s.actions[d]) {
        detail::for_each_half(a, [&](action_kind k, int stage, int) {
          switch (k) {
            case action_kind::forward:
              held += 1.0;
              bytes += costs.activation_bytes(stage);
              ++count;
              break;
            case action_kind::backward:
              free_part(stage, 1.0);
              --count;
              break;
            case action_kind::backward_input:
              if (split) free_part(stage, input_grad_share);
              break;
            case action_kind::backward_weight:
              free_part(stage, split ? 1.0 - input_grad_share : 1.0);
              --count;
              break;
            case action_kind::offload: to_host(stage, 1.0); break;
            case action_kind::reload: to_host(stage, -1.0); break;
            default: break;
          }
          // Checked after each half: an overlapped pair's forward allocates before its
          // backward has freed, so the pair counts its forward at its peak.
          peak = std::max(peak, held);
          peak_bytes = std::max(peak_bytes, bytes);
          peak_count = std::max(peak_count, count);
        });
      }
      auto& m = out.devices[d];
      // A stage-unit is 1/P of the model; one stage of a replica is 1/S_model of it.
      const double unit = static_cast<double>(s.num_devices()) / static_cast<double>(s.placement.model_stages());
      m.peak_activations = peak * unit;
      m.peak_activation_count = peak_count;
      m.peak_activation_bytes = peak_bytes;
      m.peak_host_activations = host_peak * unit;
      m.peak_host_activation_count = host_peak_count;
      m.peak_host_activation_bytes = host_peak_bytes;
    }
  }

  // Messages: each requirement that crosses devices is one transfer, whatever the level (a
  // compute-only F waits on the producer's F across the edge, a lowered one on its SEND).
  const detail::offload_plan offloads(s);
  const detail::offload_plan* plan = offloads.any() ? &offloads : nullptr;
  for (const auto& list : s.actions)
    for (const action& a : list) {
      if (a.kind == action_kind::reduce_grad) ++out.gradient_reductions;
      if (detail::is_host_copy(a.kind)) {
        ++out.host_copies;
        out.host_copy_bytes += costs.activation_bytes(a.stage);
      }
      detail::for_each_half(a, [&](action_kind k, int stage, int mb) {
        detail::for_each_requirement(s, k, stage, mb, [&](detail::event, int, int, const detail::transfer_edge* e) {
          if (!e) return;
          ++out.messages;
          out.message_bytes += costs.message_bytes(*e);
        });
      });
    }

  // Critical path: from the last-ending span, step back through whichever constraint arrived
  // last — the device's previous span on the same stream (and, for a host copy, the compute
  // action it was issued after), or a requirement's producer plus its latency. The engine
  // computed each start as exactly that maximum, so the chain has no gaps in a simulated timeline.
  if (t.spans.empty()) return out;
  // prev_stream[id]: the previous step on the same stream; prev_compute[id]: for a copy, the
  // compute-stream step before it. Without copies both are simply step − 1.
  constexpr auto no_step = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> prev_stream, prev_compute;
  if (plan) {
    prev_stream.assign(s.size(), no_step);
    prev_compute.assign(s.size(), no_step);
    for (std::size_t d = 0; d < devices; ++d) {
      std::size_t last_compute = no_step, last_copy = no_step;
      for (std::size_t i = 0; i < s.actions[d].size(); ++i) {
        const bool copy = detail::is_host_copy(s.actions[d][i].kind);
        prev_stream[offsets[d] + i] = copy ? last_copy : last_compute;
        prev_compute[offsets[d] + i] = last_compute;
        (copy ? last_copy : last_compute) = i;
      }
    }
  }
  const auto stages = static_cast<std::size_t>(s.num_stages());
  const auto mbs = static_cast<std::size_t>(s.micro_batches);
  constexpr auto none = std::numeric_limits<std::size_t>::max();
  auto slot = [&](detail::event e, int stage, int mb) {
    return (static_cast<std::size_t>(e) * stages + static_cast<std::size_t>(stage)) * mbs + static_cast<std::size_t>(mb);
  };
  std::vector<std::size_t> producer(static_cast<std::size_t>(detail::event::count) * stages * mbs, none);
  for (std::size_t i = 0; i < t.spans.size(); ++i)
    detail::for_each_half(t.spans[i].what, [&](action_kind k, int stage, int mb) {
      detail::for_each_product(k, stage, mb, [&](detail::event e, int ps, int pm) {
        if (ps < 0 || static_cast<std::size_t>(ps) >= stages || pm < 0 || static_cast<std::size_t>(pm) >= mbs)
          detail::fail("measure: ", t.spans[i].what, " is out of the schedule's range (", stages, " stages, M = ", mbs, ")");
        producer[slot(e, ps, pm)] = i;
      });
    });
  std::size_t cur = 0;
  for (std::size_t i = 1; i < t.spans.size(); ++i)
    if (t.spans[i].end > t.spans[cur].end) cur = i;
  std::vector<span> path;
  for (std::size_t hops = 0;; ++hops) {
    if (hops > t.spans.size()) detail::fail("measure: the schedule's dependencies form a cycle; validate it first");
    const span& x = t.spans[cur];
    path.push_back(x);
    std::size_t best = none;
    double best_time = -std::numeric_limits<double>::infinity(), best_latency = 0.0;
    auto consider = [&](std::size_t i, double latency) {
      const double arrival = t.spans[i].end + latency;
      if (arrival > best_time) { best = i; best_time = arrival; best_latency = latency; }
    };
    const auto d = static_cast<std::size_t>(x.device);
    if (!plan) {
      if (x.step > 0) consider(at[offsets[d] + x.step - 1], 0.0);  // device predecessor wins ties
    } else {
      const std::size_t id = offsets[d] + x.step;
      if (prev_stream[id] != no_step) consider(at[offsets[d] + prev_stream[id]], 0.0);
      if (detail::is_host_copy(x.what.kind) && prev_compute[id] != no_step)
        consider(at[offsets[d] + prev_compute[id]], 0.0);
    }
    detail::for_each_half(x.what, [&](action_kind k, int stage, int mb) {
      detail::for_each_requirement(s, k, stage, mb, [&](detail::event e, int rs, int rm, const detail::transfer_edge* edge) {
        const std::size_t p = producer[slot(e, rs, rm)];
        if (p == none) detail::fail("measure: ", x.what, " waits for ", detail::describe(e, rs, rm), ", which no span produces");
        consider(p, edge ? costs.latency(*edge) : 0.0);
      }, plan);
    });
    if (best == none) break;
    out.critical_path_latency += best_latency;
    cur = best;
  }
  std::reverse(path.begin(), path.end());
  out.critical_path = std::move(path);
  return out;
}

}  // namespace layerpipe
