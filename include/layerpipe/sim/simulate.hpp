// layerpipe/sim/simulate.hpp — timed execution of a schedule under a cost model.
//
// Each device runs its list strictly in order; an action starts when its device is free and its
// inputs have arrived (plus the P2P latency on a cross-device edge), and lasts its cost-model
// duration (REFERENCE §6). This is a thin layer over the one execution engine
// (detail::run_in_order), so a deadlock or an invalid schedule throws the engine's
// layerpipe::error, with the waiting cycle and the grid. Works on compute-only and lowered
// schedules alike; transfers take no device time, so both give the same compute spans.
//
//   auto s = layerpipe::one_f_one_b(4, 8);
//   auto t = layerpipe::simulate(s, layerpipe::cost_model::uniform({1.0, 1.0, 1.0}));
//   std::cout << t.makespan() << '\n';   // (M + P − 1)(T_F + T_B) = 33
#pragma once

#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>
#include <layerpipe/sim/cost_model.hpp>

namespace layerpipe {

/// One span per action, in the engine's (dependency-respecting) order.
inline timeline simulate(const schedule& s, const cost_model& costs) {
  costs.check_covers(s.num_stages());
  timeline t;
  t.num_devices = s.num_devices();
  t.spans.reserve(s.size());
  detail::run_in_order(
      s, [&](const action& a) { return costs.duration(a); },
      [&](const detail::transfer_edge& e) { return costs.latency(e); },
      [&](int device, std::size_t step, const action& a, double start, double end) {
        t.spans.push_back(span{device, step, a, start, end});
      });
  return t;
}

}  // namespace layerpipe
