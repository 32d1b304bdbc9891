// layerpipe/schedule/one_f_one_b.hpp — 1F1B (PipeDream-Flush, DAPPLE) (REFERENCE §5.2).
//
//   layerpipe::schedule s = layerpipe::one_f_one_b(4, 8);   // P = 4 devices, M = 8 micro-batches
//   // device 0: 0F0 0F1 0F2 | 0F3 0B0 0F4 0B1 ... 0F7 0B4 | 0B5 0B6 0B7
//   // device 3: 3F0 3B0 3F1 3B1 ... 3F7 3B7
//
// Construction: device d holds stage d (placement::loop(P, 1)).
//   warm-up   w_d = min(P − d − 1, M) forwards F0 … F(w_d − 1);
//   steady    M − w_d pairs F(w_d + i), B(i);
//   cool-down the last w_d backwards B(M − w_d) … B(M − 1).
// PyTorch's Schedule1F1B counts min(M, P − d) warm-up forwards (the first steady forward folded
// in); the order is the same. With pass_mode::forward_only only F0 … F(M − 1) are generated.
//
// Constraints: P ≥ 1, M ≥ 1 (any M; with M ≤ P − d − 1 device d runs all forwards first).
//
// Cost (T_F, T_B per stage pass, free communication): as GPipe —
//   iteration time (M + P − 1)(T_F + T_B); idle per device (P − 1)(T_F + T_B);
//   bubble ratio (P − 1)/(M + P − 1).
// Memory: peak in-flight activations on device d = min(P − d, M) stage-units (max P, on device
//   0, which sizes the memory); one weight copy per device.
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

/// 1F1B over `devices` stages (one per device) and `micro_batches` micro-batches.
inline schedule one_f_one_b(int devices, int micro_batches, pass_mode mode = pass_mode::training) {
  detail::check_pipeline_sizes("1F1B", devices, micro_batches);
  const bool forward_only = mode == pass_mode::forward_only;
  const std::size_t per_device = static_cast<std::size_t>(micro_batches) * (forward_only ? 1u : 2u);
  schedule s = detail::empty_schedule("1F1B", placement::loop(devices, 1), micro_batches, mode, per_device);
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores, no capacity checks
    if (forward_only) {
      for (int m = 0; m < micro_batches; ++m) *out++ = make_action(action_kind::forward, d, m);
    } else {
      const int warmup = std::min(devices - d - 1, micro_batches);
      for (int m = 0; m < warmup; ++m) *out++ = make_action(action_kind::forward, d, m);
      for (int i = 0; i < micro_batches - warmup; ++i) {
        *out++ = make_action(action_kind::forward, d, warmup + i);
        *out++ = make_action(action_kind::backward, d, i);
      }
      for (int m = micro_batches - warmup; m < micro_batches; ++m) *out++ = make_action(action_kind::backward, d, m);
    }
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
