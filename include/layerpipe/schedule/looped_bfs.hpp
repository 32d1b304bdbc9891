// layerpipe/schedule/looped_bfs.hpp — looped breadth-first schedule (PyTorch ScheduleLoopedBFS,
// REFERENCE §5.3).
//
//   layerpipe::schedule s = layerpipe::looped_bfs(2, 2, 2);   // P = 2, M = 2, V = 2 chunks
//   // device 0: 0F0 0F1 2F0 2F1 2B1 2B0 0B1 0B0     (device 0 holds stages 0 and 2)
//   // device 1: 1F0 1F1 3F0 3F1 3B1 3B0 1B1 1B0     (device 1 holds stages 1 and 3)
//
// Construction: loop placement (placement::loop(P, V)): chunk c of device d is global stage
// c·P + d. Each local stage in ascending chunk order runs all M forwards (micro-batches
// ascending); then the local stages in reverse order run all M backwards, micro-batches in
// reverse. PyTorch pads 2(P − 1 − d) idle cells before the backwards; a compute-only list has
// no idle cells (the dependencies enforce the waiting). With pass_mode::forward_only only the
// forwards are generated. V = 1 is GPipe with LIFO backwards.
//
// Constraints: P ≥ 1, M ≥ 1, V ≥ 1 (any M, also M < P).
//
// Cost (T_F, T_B per stage pass; a chunk pass costs 1/V of it; free communication): as
// interleaved 1F1B —
//   iteration time (VM + P − 1)(T_F + T_B)/V; idle per device (P − 1)(T_F + T_B)/V;
//   bubble ratio (P − 1)/(VM + P − 1) for M ≥ P. For M < P every lap of the ring waits for the
//   first micro-batch: (VP + M − 1)(T_F + T_B)/V; in general
//   (V·max(M, P) + min(M, P) − 1)(T_F + T_B)/V, checked against the engine in the tests.
// Memory: all M·V chunk activations are live before the first backward: M stage-units per device
//   (as GPipe); one weight copy per device.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace layerpipe {

/// Looped BFS over `devices` devices with `chunks` stages each (loop placement).
inline schedule looped_bfs(int devices, int micro_batches, int chunks, pass_mode mode = pass_mode::training) {
  detail::check_pipeline_sizes("LoopedBFS", devices, micro_batches);
  if (chunks < 1) detail::fail("LoopedBFS needs at least one chunk per device (V >= 1), got V = ", chunks);
  detail::check_stage_count("LoopedBFS", devices, chunks);
  const bool forward_only = mode == pass_mode::forward_only;
  const std::size_t per_device =
      static_cast<std::size_t>(micro_batches) * static_cast<std::size_t>(chunks) * (forward_only ? 1u : 2u);
  schedule s =
      detail::empty_schedule("LoopedBFS", placement::loop(devices, chunks), micro_batches, mode, per_device);
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores, no capacity checks
    for (int c = 0; c < chunks; ++c)
      for (int m = 0; m < micro_batches; ++m) *out++ = make_action(action_kind::forward, c * devices + d, m);
    if (!forward_only)
      for (int c = chunks - 1; c >= 0; --c)
        for (int m = micro_batches - 1; m >= 0; --m) *out++ = make_action(action_kind::backward, c * devices + d, m);
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
