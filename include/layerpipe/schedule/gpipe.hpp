// layerpipe/schedule/gpipe.hpp — GPipe: every forward, then every backward (REFERENCE §5.2).
//
//   layerpipe::schedule s = layerpipe::gpipe(4, 8);   // P = 4 devices, M = 8 micro-batches
//   // device d: dF0 dF1 ... dF7 dB0 dB1 ... dB7   (stage d on device d)
//
// Construction: device d holds stage d (placement::loop(P, 1)) and runs F(d, 0) … F(d, M−1),
// then B(d, 0) … B(d, M−1) (FIFO backward order; LIFO has the same bubble). With
// pass_mode::forward_only only the forwards are generated and `forward_only` is set.
//
// Constraints: P ≥ 1, M ≥ 1 (any M, also M < P). M ≥ 4P is advised to amortise the bubble.
//
// Cost (T_F, T_B per stage pass, free communication):
//   iteration time (M + P − 1)(T_F + T_B); idle per device (P − 1)(T_F + T_B);
//   bubble ratio (P − 1)/(M + P − 1) of the iteration, or (P − 1)/M relative to ideal compute.
// Memory: every device holds M in-flight activations (stage-units) at its peak, before its first
//   backward — which GPipe offsets with re-materialisation. One weight copy per device.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cassert>
#include <cstddef>
#include <vector>

namespace layerpipe {

/// GPipe over `devices` stages (one per device) and `micro_batches` micro-batches.
inline schedule gpipe(int devices, int micro_batches, pass_mode mode = pass_mode::training) {
  detail::check_pipeline_sizes("GPipe", devices, micro_batches);
  const bool forward_only = mode == pass_mode::forward_only;
  const std::size_t per_device = static_cast<std::size_t>(micro_batches) * (forward_only ? 1u : 2u);
  schedule s = detail::empty_schedule("GPipe", placement::loop(devices, 1), micro_batches, mode, per_device);
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores, no capacity checks
    for (int m = 0; m < micro_batches; ++m) *out++ = make_action(action_kind::forward, d, m);
    if (!forward_only)
      for (int m = 0; m < micro_batches; ++m) *out++ = make_action(action_kind::backward, d, m);
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
