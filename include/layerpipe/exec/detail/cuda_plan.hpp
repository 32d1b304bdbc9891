// layerpipe/exec/detail/cuda_plan.hpp — what the CUDA executor derives from a lowered schedule
// before it issues anything: a dependency-respecting global order of every (device, step), so
// that ONE host thread can issue all actions, and for each action the producers on other
// pipeline devices its stream must wait for (cudaStreamWaitEvent on their events). Host-only (no
// CUDA headers), so it is tested with g++.
//
// Why these waits suffice: a requirement produced on the action's own device was issued earlier
// on the same stream, so stream order covers it. A requirement from another device e is an event
// recorded after its producer on e's stream; the order puts every producer before its consumers,
// so the event is recorded before anyone waits on it. Once a stream waited for step q of device
// e, everything up to q on e is covered too (e's stream is in order), so later waits for earlier
// steps of e are dropped.
#pragma once

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <utility>
#include <vector>

namespace layerpipe::detail {

struct cuda_issue_plan {
  std::vector<std::size_t> first;                  ///< id of (d, 0); id of (d, step) = first[d] + step
  std::vector<std::pair<int, std::size_t>> order;  ///< (device, step) in issue order
  std::vector<std::vector<std::size_t>> waits;     ///< by id: producer ids on other devices to wait for

  std::size_t id(int device, std::size_t step) const noexcept { return first[static_cast<std::size_t>(device)] + step; }
  int device_of(std::size_t id) const noexcept {  // the device whose id range holds `id`
    const auto it = std::upper_bound(first.begin(), first.end(), id);
    return static_cast<int>(it - first.begin()) - 1;
  }
};

/// Plans a lowered, validated schedule (detail::prepare_run's result).
inline cuda_issue_plan plan_cuda_issue(const schedule& s) {
  const std::size_t devices = static_cast<std::size_t>(s.num_devices());
  const std::size_t stages = static_cast<std::size_t>(s.num_stages());
  const std::size_t mbs = static_cast<std::size_t>(s.micro_batches);
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  cuda_issue_plan plan;
  plan.first.assign(devices + 1, 0);
  for (std::size_t d = 0; d < devices; ++d) plan.first[d + 1] = plan.first[d] + s.actions[d].size();
  plan.waits.resize(plan.first[devices]);
  plan.order.reserve(plan.first[devices]);
  const std::size_t events = static_cast<std::size_t>(event::count);
  std::vector<std::size_t> producer(events * stages * mbs, none);
  auto at = [&](event e, int st, int mb) {
    return (static_cast<std::size_t>(e) * stages + static_cast<std::size_t>(st)) * mbs + static_cast<std::size_t>(mb);
  };
  // covered[d * devices + e]: the latest step of device e that device d's stream already waited
  // for, plus one (0: none yet).
  std::vector<std::size_t> covered(devices * devices, 0);
  run_in_order(
      s, [](const action&) { return 1.0; }, [](const transfer_edge&) { return 0.0; },
      [&](int d, std::size_t step, const action& a, double, double) {
        const std::size_t du = static_cast<std::size_t>(d);
        const std::size_t me = plan.first[du] + step;
        std::vector<std::size_t>& waits = plan.waits[me];
        for_each_half(a, [&](action_kind k, int st, int mb) {
          for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const transfer_edge*) {
            if (rm < 0) return;
            const std::size_t p = producer[at(e, rs, rm)];
            if (p == none) return;  // the engine has checked completeness; nothing to wait for
            const int pd = plan.device_of(p);
            if (pd == d) return;  // same stream: issued earlier, covered by stream order
            const std::size_t pstep = p - plan.first[static_cast<std::size_t>(pd)];
            std::size_t& done = covered[du * devices + static_cast<std::size_t>(pd)];
            if (pstep + 1 <= done) return;
            done = pstep + 1;
            waits.push_back(p);
          });
        });
        for_each_half(a, [&](action_kind k, int st, int mb) {
          if (mb < 0) return;
          for_each_product(k, st, mb, [&](event e, int ps, int pm) { producer[at(e, ps, pm)] = me; });
        });
        plan.order.emplace_back(d, step);
      });
  return plan;
}

}  // namespace layerpipe::detail
