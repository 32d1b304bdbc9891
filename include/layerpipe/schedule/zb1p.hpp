// layerpipe/schedule/zb1p.hpp — ZB1P: PyTorch's interleaved zero-bubble schedule, interleaved
// 1F1B with the backward split into I and W and the W's moved into the bubbles (REFERENCE §5.3;
// PyTorch ScheduleInterleavedZeroBubble._calculate_single_rank_operations and _get_1f1b_rank_ops).
//
//   layerpipe::schedule s = layerpipe::zb1p(2, 4, 2);   // P = 2, M = 4, V = 2: n_r = 2
//   // device 0: 0F0 0F1 2F0 | 2F1 2I0 2W0 0F2 2I1 2W1 0F3 0I0 0W0 2F2 0I1 0W1 2F3 2I2 2W2 |
//   //           2I3 2W3 0I2 0W2 0I3 0W3
//   // device 1: 1F0 1F1 | 3F0 3I0 3F1 3I1 3W0 1F2 1I0 3W1 1F3 1I1 1W0 3F2 3I2 1W1 3F3 3I3 3W2 |
//   //           1I2 3W3 1I3 1W2 | 1W3
//
// Construction: loop placement (placement::loop(P, V)); chunk c of device d is global stage
// c·P + d. PyTorch takes rounds = max(1, ⌊M/P⌋) and n_r = M / rounds micro-batches per round.
// Every device walks M·V forward ops k = 0 … MV − 1: op k runs chunk ⌊k/n_r⌋ mod V on micro-batch
// ⌊k/(n_r·V)⌋·n_r + (k mod n_r) (each chunk takes n_r micro-batches in turn — the same table as
// Megatron's with group size n_r). Backward op j runs the mirrored chunk V − 1 − (⌊j/n_r⌋ mod V)
// on the micro-batch of table entry j, as an I. On device d:
//   warm-up   W_d = min((V − 1)·n_r + (P − 1 − d), M·V) forwards;
//   steady    for j = 0 … MV − W_d − 1: F(W_d + j), I(j), and W(oldest pending) if j ≥ d;
//   cool-down for j = MV − W_d … MV − 1: I(j), and W(oldest pending) if j ≥ d;
//   drain     the min(d, MV) W's still pending, oldest first.
// The oldest pending W is always the W of the oldest I without one, so the W's walk the backward
// table in order too. This is PyTorch's per-rank list with the None slots removed: its generator
// also pads with None (d leading slots, P − 1 − d after the warm-up) and _add_bubbles_to_actions
// inserts more None slots before F's whose input is not ready; none of them reorders a compute
// action, and layerpipe's engine times the order itself.
//
// Constraints (each violation throws layerpipe::error naming the rule): P ≥ 1, M ≥ 1, V ≥ 1 and
// M a multiple of rounds = max(1, ⌊M/P⌋) (PyTorch's rule, e.g. P = 4, M = 9 is rejected). V = 1
// is accepted as current PyTorch does (older releases wanted at least two local stages): it is a
// one-chunk zero-bubble order whose deferred W's drain oldest first (ZB-H1 drains them last
// first). Every accepted P ≤ 6, V ≤ 3, M ≤ 4P was checked dependency- and deadlock-free by the
// engine (tests/schedule/zb1p.cpp).
//
// Cost (chunk costs T_F = T_I = T_W = T, i.e. per-stage times ÷ V; free communication), measured
// against the engine in tests/schedule/zb1p.cpp for every accepted P ≤ 6, V ≤ 3, M ≤ 4P:
//   M ≥ P: makespan (3MV + P − 1)·T, idle (makespan − busy) (P − 1)·T on every device and span
//   idle (P − 1 − d)·T (device d starts d·T late) — a third of interleaved 1F1B's idle
//   3(P − 1)·T = (P − 1)(T_F + T_B) at the same chunk costs, whatever n_r;
//   M < P (one round, n_r = M): every lap of the ring waits for the first micro-batch; the
//   makespan is at least (2VP + 2M − 1)·T, exactly (2VP + 1)·T at M = 1 (one F and one I chain
//   through all VP stages, then one W); both ways below interleaved 1F1B's for every P ≥ 2.
// Memory (order-based, W frees the activation, I does not): peak in-flight chunk activations on
// device d = min(W_d + 1 + min(d, MV − W_d), M·V) — the warm-up, the first steady F and the d W's
// held back. For M ≥ P nothing is capped: (V − 1)·n_r + P chunks on every device, i.e.
// ((V − 1)·n_r + P)/V stage-units; P stage-units when P divides M (n_r = P). Interleaved 1F1B
// holds 2(P − 1 − d) + (V − 1)·G + 1 chunks: more on the first devices, fewer on the last.
// One weight copy per device; V× the point-to-point messages of 1F1B.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>

namespace layerpipe {

/// PyTorch's micro-batches per round n_r = M / max(1, ⌊M/P⌋) for ZB1P (and its Interleaved1F1B).
/// Throws layerpipe::error if M is not a multiple of the number of rounds.
inline int zb1p_round_size(int devices, int micro_batches) {
  detail::check_pipeline_sizes("ZB1P", devices, micro_batches);
  const int rounds = std::max(1, micro_batches / devices);
  if (micro_batches % rounds != 0)
    detail::fail("ZB1P needs M to be a multiple of the number of rounds max(1, floor(M/P)) (PyTorch's rule): M = ",
                 micro_batches, " and P = ", devices, " give ", rounds, " rounds, and M mod ", rounds, " = ",
                 micro_batches % rounds);
  return micro_batches / rounds;
}

/// ZB1P (PyTorch's InterleavedZeroBubble) over `devices` devices with `chunks` stages each.
inline schedule zb1p(int devices, int micro_batches, int chunks) {
  detail::check_pipeline_sizes("ZB1P", devices, micro_batches);
  if (chunks < 1) detail::fail("ZB1P needs at least one chunk per device (V >= 1), got V = ", chunks);
  detail::check_stage_count("ZB1P", devices, chunks);
  const int round = zb1p_round_size(devices, micro_batches);
  const std::int64_t total = static_cast<std::int64_t>(micro_batches) * chunks;  // M·V ops per pass
  // F, I and W for every (chunk, micro-batch): 3MV actions per device, stored in place.
  schedule s = detail::empty_schedule("ZB1P", placement::loop(devices, chunks), micro_batches,
                                      pass_mode::training, static_cast<std::size_t>(total) * 3u);
  for (int d = 0; d < devices; ++d) {
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();
    // The forward table, and the backward table read twice: by the I's and, behind them, the W's.
    detail::megatron_table_cursor f(micro_batches, chunks, round);
    detail::megatron_table_cursor i(micro_batches, chunks, round);
    detail::megatron_table_cursor w(micro_batches, chunks, round);
    const auto push_forward = [&] {
      *out++ = make_action(action_kind::forward, f.chunk * devices + d, f.micro_batch);
      f.next();
    };
    const auto push_backward = [&](action_kind kind, detail::megatron_table_cursor& c) {
      *out++ = make_action(kind, (chunks - 1 - c.chunk) * devices + d, c.micro_batch);
      c.next();
    };
    const std::int64_t warmup =
        std::min(static_cast<std::int64_t>(chunks - 1) * round + (devices - 1 - d), total);
    for (std::int64_t k = 0; k < warmup; ++k) push_forward();
    // PyTorch holds back the first d W's (num_1f1b_microbatches = rank) so the I's reach the
    // devices below sooner; every later I is followed by the oldest pending W.
    for (std::int64_t j = 0; j < total; ++j) {
      if (j < total - warmup) push_forward();
      push_backward(action_kind::backward_input, i);
      if (j >= d) push_backward(action_kind::backward_weight, w);
    }
    for (std::int64_t j = std::min<std::int64_t>(d, total); j > 0; --j)
      push_backward(action_kind::backward_weight, w);
    assert(out == list.data() + list.size());
    (void)out;
  }
  return s;
}

}  // namespace layerpipe
