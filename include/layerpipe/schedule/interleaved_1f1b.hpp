// layerpipe/schedule/interleaved_1f1b.hpp — interleaved 1F1B with virtual pipeline stages, in
// Megatron-core's order (REFERENCE §5.3; Megatron-core get_schedule_table and
// forward_backward_pipelining_with_interleaving).
//
//   layerpipe::schedule s = layerpipe::interleaved_1f1b(2, 4, 2);   // P = 2, M = 4, V = 2
//   // device 0: 0F0 0F1 2F0 2F1 | 0F2 2B0 0F3 2B1 2F2 0B0 2F3 0B1 | 2B2 2B3 0B2 0B3
//   // device 1: 1F0 1F1 | 3F0 3B0 3F1 3B1 1F2 1B0 1F3 1B1 3F2 3B2 3F3 3B3 | 1B2 1B3
//   auto t = layerpipe::interleaved_1f1b(4, 10, 2, {.group_size = 5});
//
// Construction: loop placement (placement::loop(P, V)); chunk c of device d is global stage
// c·P + d, so a micro-batch circles the ring V times. Every device walks the same table of M·V
// virtual micro-batches (Megatron's schedule table with group size G): micro-batches are taken in
// groups of G; within a group, chunk 0 for each micro-batch of the group, then chunk 1, …; the
// last group holds whatever remains (between 1 and G micro-batches). Virtual index k runs the
// forward of the table's (micro-batch, chunk) and the backward of (micro-batch, V − 1 − chunk).
//   warm-up   W_d = min(2(P − d − 1) + (V − 1)·G, M·V) forwards;
//   steady    M·V − W_d pairs F(k + W_d), B(k);
//   cool-down the remaining backwards.
// If everything fits in the warm-up the device runs all forwards, then all backwards. With
// pass_mode::forward_only the M·V forwards are generated in table order.
//
// Constraints (each violation throws layerpipe::error naming the rule):
//   P ≥ 1, M ≥ 1; V ≥ 2 (V = 1 is plain 1F1B: use one_f_one_b);
//   G ∈ [P, M] and M mod G either 0 or ≥ P (Megatron's micro-batch-group rule).
//   Automatic G (group_size = 0): P when M % P == 0, else the smallest valid G ≥ P.
//   layerpipe's extension: M < P, which Megatron rejects, runs as one group G = M (the only
//   group size allowed there, and the automatic one). Every such schedule with P ≤ 8, V ≤ 4 was
//   checked dependency- and deadlock-free by the engine (tests/schedule/generators.cpp).
//
// Cost (T_F, T_B per stage pass; a chunk pass costs 1/V of it; free communication), for every
// allowed G:
//   iteration time (VM + P − 1)(T_F + T_B)/V; idle per device (P − 1)(T_F + T_B)/V;
//   bubble ratio (P − 1)/(VM + P − 1). For M < P every lap of the ring waits for the first
//   micro-batch: iteration (VP + M − 1)(T_F + T_B)/V. In general
//   (V·max(M, P) + min(M, P) − 1)(T_F + T_B)/V, checked against the engine in the tests.
// Memory: peak in-flight chunk activations on device d = min(W'_d + 1, M·V) with W'_d the
//   uncapped warm-up 2(P − d − 1) + (V − 1)·G; in stage-units (÷V), for G = P:
//   (VP + P − 1 − 2d)/V, at most P(1 + (P − 1)/(PV)) on device 0; capped at M when everything fits
//   in the warm-up. One weight copy per device; V× the point-to-point messages of 1F1B.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace layerpipe {

struct interleaved_options {
  int group_size = 0;  ///< Megatron's micro-batch group size G; 0 = automatic
  pass_mode mode = pass_mode::training;
};

/// The group size interleaved_1f1b uses for P devices, M micro-batches and a requested size
/// (0 = automatic). Throws layerpipe::error if the request breaks the group rule.
inline int interleaved_group_size(int devices, int micro_batches, int requested = 0) {
  detail::check_pipeline_sizes("Interleaved1F1B", devices, micro_batches);
  if (requested < 0)
    detail::fail("Interleaved1F1B needs a micro-batch group size G >= 0 (0 = automatic), got G = ", requested);
  const int p = devices, m = micro_batches;
  if (m < p) {  // layerpipe's extension: one group holding every micro-batch
    if (requested != 0 && requested != m)
      detail::fail("Interleaved1F1B with fewer micro-batches than devices (M = ", m, " < P = ", p,
                   ") runs one group of all M micro-batches: the group size must be G = M = ", m,
                   " (or 0 for automatic), got G = ", requested);
    return m;
  }
  if (requested == 0) {
    if (m % p == 0) return p;
    int g = p;
    while (m % g != 0 && m % g < p) ++g;  // ends at g = M at the latest (M mod M = 0)
    return g;
  }
  if (requested < p || requested > m)
    detail::fail("Interleaved1F1B needs the micro-batch group size G in [P, M] = [", p, ", ", m,
                 "] (Megatron's rule), got G = ", requested);
  if (const int rest = m % requested; rest != 0 && rest < p)
    detail::fail("Interleaved1F1B needs M mod G to be 0 or at least P (Megatron's micro-batch group rule): M = ",
                 m, " and G = ", requested, " leave a last group of ", rest, " < P = ", p,
                 " micro-batches (Megatron rejects it: a short last group adds dependency bubbles)");
  return requested;
}

namespace detail {
/// Walks Megatron's schedule table one virtual micro-batch at a time: (micro-batch, chunk) of
/// index k, k + 1, … without divisions or storage.
struct megatron_table_cursor {
  int micro_batches, chunks, group_size;
  int group_start = 0, group_end = 0, chunk = 0, micro_batch = 0;

  constexpr megatron_table_cursor(int m, int v, int g) noexcept
      : micro_batches(m), chunks(v), group_size(g), group_end(end_of(0)) {}
  // Megatron: a group whose start + G reaches M is the last one and takes everything left.
  constexpr int end_of(int start) const noexcept {
    return group_size >= micro_batches - start ? micro_batches : start + group_size;
  }
  constexpr void next() noexcept {
    if (++micro_batch < group_end) return;
    micro_batch = group_start;
    if (++chunk < chunks) return;
    chunk = 0;
    group_start = micro_batch = group_end;
    group_end = end_of(group_start);
  }
};
}  // namespace detail

/// Interleaved 1F1B (Megatron order) over `devices` devices with `chunks` stages each.
inline schedule interleaved_1f1b(int devices, int micro_batches, int chunks, interleaved_options options = {}) {
  detail::check_pipeline_sizes("Interleaved1F1B", devices, micro_batches);
  if (chunks < 2) {
    if (chunks == 1)
      detail::fail("Interleaved1F1B needs at least two chunks per device (V >= 2), got V = 1: "
                   "with one chunk it is plain 1F1B (one_f_one_b, schedule \"1f1b\")");
    detail::fail("Interleaved1F1B needs at least two chunks per device (V >= 2), got V = ", chunks);
  }
  detail::check_stage_count("Interleaved1F1B", devices, chunks);
  const int group = interleaved_group_size(devices, micro_batches, options.group_size);
  const bool forward_only = options.mode == pass_mode::forward_only;
  const std::int64_t total = static_cast<std::int64_t>(micro_batches) * chunks;  // M·V per device
  const std::size_t per_device = static_cast<std::size_t>(total) * (forward_only ? 1u : 2u);
  schedule s = detail::empty_schedule("Interleaved1F1B", placement::loop(devices, chunks), micro_batches,
                                      options.mode, per_device);
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();  // exact size known: plain stores, no capacity checks
    detail::megatron_table_cursor f(micro_batches, chunks, group);
    detail::megatron_table_cursor b(micro_batches, chunks, group);
    const auto push_forward = [&] {
      *out++ = make_action(action_kind::forward, f.chunk * devices + d, f.micro_batch);
      f.next();
    };
    const auto push_backward = [&] {  // backward walks the table with mirrored chunks
      *out++ = make_action(action_kind::backward, (chunks - 1 - b.chunk) * devices + d, b.micro_batch);
      b.next();
    };
    if (forward_only) {
      for (std::int64_t k = 0; k < total; ++k) push_forward();
    } else {
      const std::int64_t warmup = std::min(
          2 * static_cast<std::int64_t>(devices - d - 1) + static_cast<std::int64_t>(chunks - 1) * group, total);
      for (std::int64_t k = 0; k < warmup; ++k) push_forward();
      for (std::int64_t k = warmup; k < total; ++k) {
        push_forward();
        push_backward();
      }
      for (std::int64_t k = 0; k < warmup; ++k) push_backward();
    }
    assert(out == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
