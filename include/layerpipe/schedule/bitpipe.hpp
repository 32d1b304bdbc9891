// layerpipe/schedule/bitpipe.hpp — BitPipe: two V-shaped pipelines running in opposite
// directions over the same devices, fused backward, eager gradient synchronisation
// (REFERENCE §5.9; BitPipe, arXiv 2410.19367; reference: wuhouming/BitPipe).
//
//   layerpipe::schedule s = layerpipe::bitpipe(4, 4);   // P = 4 devices, M = 4, 16 stages
//   s.micro_batch_replica;   // {0, 0, 1, 1}: x mod P < P/2 goes down, the rest up
//   // device 0 (down stages 0, 7; up stages 11, 12):
//   //   0F0 0F1 11F2 12F2 11F3 12F3 7F0 7B0 7F1 7B1 7REDUCE_GRAD 12B2 11B2 12B3 12REDUCE_GRAD
//   //   11B3 11REDUCE_GRAD 0B0 0B1 0REDUCE_GRAD
//
// Placement: placement::bidirectional(placement::v(P, 2)), 4P stages. Replica 0 is the down V
// (stages 0 … 2P − 1, device d holds d and 2P − 1 − d); replica 1 the up V (stages 2P … 4P − 1,
// model stage s on device P − 1 − v(s), so device d holds 2P + P − 1 − d and 2P + P + d). Device
// d's four chunks, as the paper numbers them: chunk 0 = down stage d, chunk 1 = up model stage
// P − 1 − d, chunk 2 = down stage 2P − 1 − d, chunk 3 = up model stage P + d. Devices d and
// P − 1 − d hold the same model stages (2× weights) and all-reduce them.
//
// Routing: micro-batch m goes down if m mod P < P/2, else up. Per device each micro-batch
// passes two chunks (0 then 2 down, 1 then 3 up), so a unit of P micro-batches is 2P chunk
// forwards and 2P chunk backwards. With n = P/2, a = 0 on devices d < n and 1 otherwise (chunk
// a belongs to the pipeline entering at the device's own end), h = min(d, P − 1 − d) and
// u = n − h, unit j takes micro-batches jP … jP + P − 1 (L_c[i]: the i-th of them on chunk c)
// in this order:
//   forwards   u × L_a;  (n − u) × [L_{1−a}, L_a];  u × [L_{1−a}, L_{3−a}];
//              (n − u) × [L_{2+a}, L_{3−a}];  u × L_{2+a}
//   backwards  the same with chunks a → 2+a, 1−a → 3−a, 3−a → 1−a, 2+a → a.
// Device d interleaves them as: warm-up W = 3P/2 + h forwards; M/P − 1 middle units of
// u × (F, B), (W − u + 1) × B, (u − 1) × (F, B), (W − u + 1) × F; a final u × (F, B); then the
// remaining 2P − u backwards. Eager synchronisation: each stage copy's REDUCE_GRAD comes right
// after that copy's last backward on the device (4 per device); the execution engine makes it
// wait for the other copy's backwards too.
//
// Constraints: P even and P ≥ 2, M a multiple of P (M ≥ P).
// Cost (measured by tests/schedule/bitpipe.cpp on P ≤ 8, M ≤ 4P; free communication; chunk
// passes, i.e. costs per each of the 4P stages): at T_F = T_B = 1 every device is busy 4M and
// the makespan is 4M + P − 2, so the wall-clock bubble is (D − 2)/(4N + D − 2) with D = P and
// N = M, for every M (half Chimera's idle in stage slots); span idle P − 2 − 2h. At T_B = 2T_F
// the middle units' drains cost P − 2 slots each: makespan 6M + (P − 2)(M/P + 1). Peak
// activations (order-based) (3P + 2 + 2h)/4 stage-units: (3P + 2)/4 on devices 0 and P − 1, P
// on the middle two. 2(2P − 2) messages per micro-batch (the V turns are local); 4P gradient
// reductions; 2 weight copies per model stage.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <string_view>
#include <vector>

namespace layerpipe {

namespace detail {
/// Device d's four stages, indexed by BitPipe's chunk number (0, 2 down; 1, 3 up).
struct bitpipe_chunks {
  int stage[4];
  int offset[4];  // micro-batch offset within a unit: 0 for down chunks, P/2 for up ones
};

inline bitpipe_chunks bitpipe_chunks_of(int devices, int d) {
  const int P = devices;
  return {{d, 3 * P - 1 - d, 2 * P - 1 - d, 3 * P + d}, {0, P / 2, 0, P / 2}};
}

/// Fills `out` with one unit's passes of `kind` in BitPipe's order for chunk roles
/// (first, second, third, fourth) = (a, 1−a, 3−a, 2+a) for forwards and (2+a, 3−a, 1−a, a)
/// for backwards; returns the end pointer.
inline action* bitpipe_unit(action* out, action_kind kind, const bitpipe_chunks& c, const int (&role)[4], int unit_base,
                            int n, int u) {
  auto at = [&](int chunk, int i) {
    return make_action(kind, c.stage[chunk], unit_base + c.offset[chunk] + i);
  };
  const int x = role[0], y = role[1], z = role[2], w = role[3];
  for (int i = 0; i < u; ++i) *out++ = at(x, i);
  for (int i = 0; i < n - u; ++i) {
    *out++ = at(y, i);
    *out++ = at(x, i + u);
  }
  for (int i = 0; i < u; ++i) {
    *out++ = at(y, i + n - u);
    *out++ = at(z, i);
  }
  for (int i = 0; i < n - u; ++i) {
    *out++ = at(w, i);
    *out++ = at(z, i + u);
  }
  for (int i = 0; i < u; ++i) *out++ = at(w, i + n - u);
  return out;
}
}  // namespace detail

/// BitPipe over `devices` devices (P even) and `micro_batches` micro-batches (a multiple of P).
inline schedule bitpipe(int devices, int micro_batches) {
  constexpr std::string_view family = "BitPipe";
  detail::check_pipeline_sizes(family, devices, micro_batches);
  if (devices % 2 != 0)
    detail::fail(family, " pairs device d with device P - 1 - d, so P must be even (P >= 2), got P = ", devices);
  if (micro_batches % devices != 0)
    detail::fail(family, " runs units of P micro-batches, so M must be a multiple of P (M % P == 0), got M = ",
                 micro_batches, " with P = ", devices);
  detail::check_stage_count(family, devices, 4);
  const int P = devices;
  const int M = micro_batches;
  const int n = P / 2;
  const int units = M / P;
  // Per device: 2M chunk forwards, 2M chunk backwards, 4 gradient reductions.
  const std::size_t passes = 2u * static_cast<std::size_t>(M);
  schedule s = detail::empty_schedule(family, placement::bidirectional(placement::v(P, 2)), M, pass_mode::training,
                                      2u * passes + 4u);
  s.micro_batch_replica.resize(static_cast<std::size_t>(M));
  for (int m = 0; m < M; ++m) s.micro_batch_replica[static_cast<std::size_t>(m)] = m % P < n ? 0 : 1;

  // One device's forward and backward sequences, reused: each is written once and copied once.
  std::vector<action> fwd(passes), bwd(passes);
  for (int d = 0; d < P; ++d) {
    const detail::bitpipe_chunks c = detail::bitpipe_chunks_of(P, d);
    const int a = d < n ? 0 : 1;
    const int h = std::min(d, P - 1 - d);
    const int u = n - h;
    const int warm = 3 * n + h;
    const int f_role[4] = {a, 1 - a, 3 - a, 2 + a};
    const int b_role[4] = {2 + a, 3 - a, 1 - a, a};
    action* fo = fwd.data();
    action* bo = bwd.data();
    for (int j = 0; j < units; ++j) {
      fo = detail::bitpipe_unit(fo, action_kind::forward, c, f_role, j * P, n, u);
      bo = detail::bitpipe_unit(bo, action_kind::backward, c, b_role, j * P, n, u);
    }
    assert(fo == fwd.data() + passes && bo == bwd.data() + passes);

    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* out = list.data();
    const action* f = fwd.data();
    const action* b = bwd.data();
    // Backwards left per stage copy: its REDUCE_GRAD follows the last one at once (eager sync).
    int left[4] = {M / 2, M / 2, M / 2, M / 2};
    auto emit_f = [&] { *out++ = *f++; };
    auto emit_b = [&] {
      const action x = *b++;
      *out++ = x;
      for (int k = 0; k < 4; ++k)
        if (c.stage[k] == x.stage && --left[k] == 0) *out++ = make_action(action_kind::reduce_grad, x.stage);
    };
    for (int k = 0; k < warm; ++k) emit_f();
    for (int j = 0; j + 1 < units; ++j) {
      for (int k = 0; k < u; ++k) emit_f(), emit_b();
      for (int k = 0; k < warm - u + 1; ++k) emit_b();
      for (int k = 0; k < u - 1; ++k) emit_f(), emit_b();
      for (int k = 0; k < warm - u + 1; ++k) emit_f();
    }
    for (int k = 0; k < u; ++k) emit_f(), emit_b();
    while (b != bwd.data() + passes) emit_b();
    assert(f == fwd.data() + passes);
    assert(out == list.data() + list.size());
    (void)out;
  }
  return s;
}

}  // namespace layerpipe
