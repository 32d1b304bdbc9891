// layerpipe/schedule/pipe_offload.hpp — PipeOffload (arXiv 2503.01328): grouped interleaved 1F1B
// with split backwards, sending the activations of the first K chunks to host memory after their
// forward and bringing them back before their backward (REFERENCE §5.7).
//
//   layerpipe::schedule s = layerpipe::pipe_offload(4, 8, 2, {.group_size = 2, .offload_chunks = 1});
//   auto costs = layerpipe::cost_model::uniform({0.5, 0.5, 0.5})
//                    .with_activation_bytes(1e9).with_host_bandwidth(4e9);  // a copy takes 0.25
//   auto t = layerpipe::simulate(s, costs);   // copies run on each device's copy stream
//
// Construction (sail-sg's GroupBuildingBlockScheduler with k = ⌈g_min/g⌉ = 1, which every allowed
// g gives): loop placement (chunk c of device d is stage c·P + d). Micro-batches are taken in
// groups of g; entry e of the table walks a group's micro-batches for chunk 0, then chunk 1, …
// (entry e = g·V·j + g·c + i is micro-batch g·j + i on chunk c; Megatron's table with group g).
// On device d, with D_d = g·(V − 1) + P − 1 − d, step t of the building block holds
//   F(entry t), then I(entry t − D_d) on the mirrored chunk V − 1 − c, then its W,
// each where the entry exists; entries of micro-batches ≥ M (a short last group) are dropped.
// This is the reference's period-3gV block (F at slot 3gc + 3i + d, first backward
// 3(P − 1 − d) + 1 slots after F(chunk V − 1, micro-batch 0), W right after its I) repeated over
// ⌈M/g⌉ groups, read in slot order; shifting and squeezing change times, not the order.
// With g = P and M % P == 0 the F and I orders are interleaved 1F1B's (group size P) F and B orders,
// with a warm-up of (V − 1)·P + P − 1 − d forwards before the first F, I pair (Megatron's
// 2(P − 1 − d) becomes P − 1 − d because W follows its I; PyTorch's ZB1P makes the same change).
// A smaller g shortens the activation lifetimes.
//
// Offload: for chunks c < K, OFFLOAD(s, m) right after F(s, m), and RELOAD(s, m) just before the
// compute pass that comes `reload_lead` passes before I(s, m) (but after the OFFLOAD), so the H2D
// copy overlaps those passes. The engine runs the copies on the device's copy stream.
//
// Constraints (violations throw layerpipe::error naming the rule and the value):
//   P ≥ 1, M ≥ 1, V ≥ 1; 0 ≤ K ≤ V (0 = no offload); P even when K ≥ 1 (ranks pair up on a
//   shared host link); g ∈ [⌈P/2⌉, P], automatic (g = 0): the smallest g ≥ ⌈P/2⌉ with
//   (T_F + T_I + T_W)·g ≥ P·max(T_F, T_I) for the chunk pass times in `chunk_costs` (§5.7);
//   reload_lead ≥ 0. Every such schedule with P ≤ 8, V ≤ 4, M ≤ 2P + 1, every g and K and
//   reload_lead ∈ {0, 2, 5} is checked dependency- and deadlock-free by the engine
//   (tests/schedule/pipe_offload.cpp).
//
// Cost and memory (chunk passes T_F = T_I = T_W = t, free communication; measured against the
// engine in the tests, not derived):
//   g = P, M % P == 0, copies free: makespan (3·M·V + 2P − 2)·t, idle (2P − 2)·t per device
//   (ZB1P's figure). A smaller g may add dependency stalls (e.g. P = 8, g = 4, V = 2, M = 16:
//   114·t against 110·t); no closed form is claimed for it.
//   Order-based peak of device d without offload, M % g == 0: min(g·(V − 1) + P − d, M·V) chunk
//   activations (÷V for stage-units), so a smaller g holds less. With g = P and K chunks offloaded:
//   min(P·(V − K) − d, (V − K)·M) wherever that is at least 3, else at most 2 (the F just run
//   before its OFFLOAD, and a reloaded activation): each offloaded chunk removes P activations.
//   The host holds what the device does not. With a host link fast enough the copies hide
//   behind compute and the makespan is unchanged; a slow one stalls the backwards.
// Per device: 3·M·V compute passes and 2·M·K copies; generation writes each action once.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/core/pass_costs.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/generator.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace layerpipe {

struct pipe_offload_options {
  int group_size = 0;       ///< g ∈ [⌈P/2⌉, P]; 0 = automatic (the smallest allowed, see above)
  int offload_chunks = 0;   ///< K ∈ [0, V]: activations of chunks c < K go to the host; 0 = none
  int reload_lead = 2;      ///< RELOAD goes before the compute pass this many passes ahead of I (≥ 0)
  pass_costs chunk_costs{}; ///< chunk pass times, read only by the automatic group size
};

/// The group size pipe_offload uses for P devices and these options. Throws layerpipe::error if
/// a requested g is outside [⌈P/2⌉, P] or a chunk cost is negative or not finite.
inline int pipe_offload_group_size(int devices, const pipe_offload_options& options = {}) {
  if (devices < 1) detail::fail("PipeOffload needs at least one device (P >= 1), got P = ", devices);
  const int lowest = (devices + 1) / 2;
  const pass_costs& c = options.chunk_costs;
  for (double x : {c.forward, c.input_grad, c.weight_grad})
    if (!std::isfinite(x) || x < 0.0)
      detail::fail("PipeOffload: chunk pass times must be finite and >= 0, got ", x);
  if (options.group_size == 0) {
    int g = lowest;
    // §5.7: one group's F, I, W must cover a forward (or input-gradient) sweep of the ring.
    const double round = c.forward + c.input_grad + c.weight_grad;
    const double sweep = static_cast<double>(devices) * std::max(c.forward, c.input_grad);
    while (g < devices && round * g < sweep) ++g;
    return g;
  }
  if (options.group_size < lowest || options.group_size > devices)
    detail::fail("PipeOffload needs the group size g in [ceil(P/2), P] = [", lowest, ", ", devices,
                 "] (or 0 for automatic), got g = ", options.group_size);
  return options.group_size;
}

/// PipeOffload over `devices` devices with `chunks` stages each (see the top of this header).
inline schedule pipe_offload(int devices, int micro_batches, int chunks, const pipe_offload_options& options = {}) {
  detail::check_pipeline_sizes("PipeOffload", devices, micro_batches);
  if (chunks < 1) detail::fail("PipeOffload needs at least one chunk per device (V >= 1), got V = ", chunks);
  detail::check_stage_count("PipeOffload", devices, chunks);
  const int offloaded = options.offload_chunks;
  if (offloaded < 0 || offloaded > chunks)
    detail::fail("PipeOffload offloads the chunks c < K: needs 0 <= K <= V = ", chunks, ", got K = ", offloaded);
  if (offloaded > 0 && devices % 2 != 0)
    detail::fail("PipeOffload pairs ranks (2i, 2i+1) on a shared host link: offloading (K = ", offloaded,
                 ") needs an even number of devices, got P = ", devices);
  if (options.reload_lead < 0)
    detail::fail("PipeOffload needs reload_lead >= 0 (compute passes between RELOAD and its backward), got ",
                 options.reload_lead);
  const int g = pipe_offload_group_size(devices, options);
  const int p = devices, v = chunks, m = micro_batches, k = offloaded;
  const std::int64_t groups = (static_cast<std::int64_t>(m) + g - 1) / g;
  const std::int64_t entries = groups * g * v;                       // including dropped ones
  const std::size_t compute = static_cast<std::size_t>(m) * static_cast<std::size_t>(v) * 3;
  const std::size_t per_device = compute + static_cast<std::size_t>(m) * static_cast<std::size_t>(k) * 2;
  schedule s = detail::empty_schedule("PipeOffload", placement::loop(p, v), m, pass_mode::training, per_device);

  // Per device: the compute passes in order, then the list with copies inserted. For a pass of
  // an offloaded chunk, partner[pass] is the pass index of its F (for an I) or of its I (for an
  // F). Buffers are reused across devices; no divisions in the loops.
  std::vector<action> passes(k == 0 ? 0 : compute);
  std::vector<std::int64_t> partner(passes.size());
  std::vector<std::int64_t> forward_at(static_cast<std::size_t>(k) * static_cast<std::size_t>(m));
  const auto cell = [m](int chunk, int mb) {
    return static_cast<std::size_t>(chunk) * static_cast<std::size_t>(m) + static_cast<std::size_t>(mb);
  };
  const std::int64_t lead = options.reload_lead;
  for (int d = 0; d < p; ++d) {
    // Table cursors: (group start, chunk, index in group) of the forward and backward entries.
    struct cursor {
      int start = 0, chunk = 0, index = 0;
    };
    cursor f, b;
    const auto advance = [&](cursor& x) {
      if (++x.index < g) return;
      x.index = 0;
      if (++x.chunk < v) return;
      x.chunk = 0;
      x.start += g;
    };
    const std::int64_t delay = static_cast<std::int64_t>(g) * (v - 1) + (p - 1 - d);  // D_d
    auto& list = s.actions[static_cast<std::size_t>(d)];
    action* const first = k == 0 ? list.data() : passes.data();  // without copies: straight into the list
    action* out = first;
    for (std::int64_t t = 0; t < entries + delay; ++t) {
      if (t < entries) {
        if (const int mb = f.start + f.index; mb < m) {
          if (f.chunk < k) forward_at[cell(f.chunk, mb)] = out - first;
          *out++ = make_action(action_kind::forward, f.chunk * p + d, mb);
        }
        advance(f);
      }
      if (t >= delay) {
        if (const int mb = b.start + b.index; mb < m) {
          const int chunk = v - 1 - b.chunk;
          if (chunk < k) {
            const std::int64_t fw = forward_at[cell(chunk, mb)], here = out - first;
            partner[static_cast<std::size_t>(fw)] = here;
            partner[static_cast<std::size_t>(here)] = fw;
          }
          *out++ = make_action(action_kind::backward_input, chunk * p + d, mb);
          *out++ = make_action(action_kind::backward_weight, chunk * p + d, mb);
        }
        advance(b);
      }
    }
    assert(out == first + compute);
    if (k == 0) continue;
    // RELOAD(x) goes before pass max(I_x − lead, F_x + 1): at that pass if its F came earlier,
    // else right after the OFFLOAD.
    const int offloaded_stages = k * p;  // stage c·P + d has chunk c < K
    action* put = list.data();
    const auto n = static_cast<std::int64_t>(compute);
    for (std::int64_t i = 0; i < n; ++i) {
      if (i + lead < n) {
        const auto ahead = static_cast<std::size_t>(i + lead);
        const action& x = passes[ahead];
        if (x.kind == action_kind::backward_input && x.stage < offloaded_stages && partner[ahead] < i)
          *put++ = make_action(action_kind::reload, x.stage, x.micro_batch);
      }
      const action& a = passes[static_cast<std::size_t>(i)];
      *put++ = a;
      if (a.kind == action_kind::forward && a.stage < offloaded_stages) {
        *put++ = make_action(action_kind::offload, a.stage, a.micro_batch);
        if (partner[static_cast<std::size_t>(i)] - lead <= i)
          *put++ = make_action(action_kind::reload, a.stage, a.micro_batch);
      }
    }
    assert(put == list.data() + list.size());
  }
  return s;
}

}  // namespace layerpipe
