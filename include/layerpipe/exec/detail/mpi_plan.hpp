// layerpipe/exec/detail/mpi_plan.hpp — what the MPI executor (exec/mpi.hpp) derives from a
// lowered schedule, without MPI: when each replicated stage copy's gradient is complete and
// where it goes, and the clock offsets that make a gathered timeline respect every message.
#pragma once

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

namespace layerpipe::detail {

/// What one device does for replicated stages (see the top of exec/mpi.hpp): after which step
/// each local copy's gradient is complete (index step + 1; 0 = before the first action), and
/// the devices each such copy is sent to.
struct replica_plan {
  std::vector<std::vector<int>> complete_after;
  std::map<int, std::vector<int>> send_to;
  bool any = false;
};

inline replica_plan plan_replicas(const schedule& s, int device) {
  const placement& p = s.placement;
  const auto& list = s.actions[static_cast<std::size_t>(device)];
  replica_plan plan;
  plan.complete_after.resize(list.size() + 1);
  // Devices running a REDUCE_GRAD of each model stage.
  std::map<int, std::vector<int>> reducers;
  for (int d = 0; d < s.num_devices(); ++d)
    for (const action& a : s.actions[static_cast<std::size_t>(d)])
      if (a.kind == action_kind::reduce_grad) {
        auto& v = reducers[p.model_stage_of(a.stage)];
        if (std::find(v.begin(), v.end(), d) == v.end()) v.push_back(d);
      }
  plan.any = !reducers.empty();
  for (int st : p.stages_on(device)) {
    auto it = reducers.find(p.model_stage_of(st));
    if (it == reducers.end()) continue;
    std::size_t after = 0;  // one past the last B or W of st (0: it has none)
    for (std::size_t i = 0; i < list.size(); ++i)
      for_each_half(list[i], [&](action_kind k, int stage, int) {
        if (stage == st && (k == action_kind::backward || k == action_kind::backward_weight)) after = i + 1;
      });
    plan.complete_after[after].push_back(st);
    for (int d : it->second)
      if (d != device) plan.send_to[st].push_back(d);
  }
  return plan;
}

/// Shifts each device's spans by the smallest offset (>= 0) after which every requirement
/// produced on another device ends before its consumer starts (see the top of exec/mpi.hpp).
/// `spans[d]` holds device d's spans in list order. Offsets are found by longest paths over the
/// devices (at most P rounds); clocks that drift so much that no offsets exist keep the last ones.
inline void align_device_clocks(const schedule& s, std::vector<std::vector<span>>& spans) {
  const std::size_t devices = spans.size();
  std::map<std::tuple<int, int, int>, std::pair<std::size_t, std::size_t>> producer;
  for (std::size_t d = 0; d < devices; ++d)
    for (std::size_t i = 0; i < spans[d].size(); ++i)
      for_each_half(spans[d][i].what, [&](action_kind k, int st, int mb) {
        for_each_product(k, st, mb, [&](event e, int ps, int pm) { producer[{static_cast<int>(e), ps, pm}] = {d, i}; });
      });
  constexpr double none = -std::numeric_limits<double>::infinity();
  std::vector<double> lead(devices * devices, none);  // lead[p·P + c]: c's clock must gain this on p's
  for (std::size_t c = 0; c < devices; ++c)
    for (const span& x : spans[c])
      for_each_half(x.what, [&](action_kind k, int st, int mb) {
        for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const transfer_edge*) {
          auto it = producer.find({static_cast<int>(e), rs, rm});
          if (it == producer.end() || it->second.first == c) return;
          double& l = lead[it->second.first * devices + c];
          l = std::max(l, spans[it->second.first][it->second.second].end - x.start);
        });
      });
  std::vector<double> shift(devices, 0.0);
  for (std::size_t round = 0; round < devices; ++round) {
    bool changed = false;
    for (std::size_t p = 0; p < devices; ++p)
      for (std::size_t c = 0; c < devices; ++c) {
        const double l = lead[p * devices + c];
        if (l != none && shift[p] + l > shift[c]) {
          shift[c] = shift[p] + l + 1e-9;  // 1 ns: rounding must not undo the order
          changed = true;
        }
      }
    if (!changed) break;
  }
  for (std::size_t d = 0; d < devices; ++d)
    for (span& x : spans[d]) {
      x.start += shift[d];
      x.end += shift[d];
    }
}

}  // namespace layerpipe::detail
