// layerpipe/schedule/families.hpp — schedule families by name: the registry behind command-line
// tools, configuration files and sweeps.
//
//   layerpipe::schedule_params p;
//   p.devices = 4; p.micro_batches = 8; p.chunks = 2;
//   layerpipe::schedule s = layerpipe::make_schedule("Interleaved-1F1B", p);   // or "vpp"
//   for (const auto& f : layerpipe::schedule_families()) std::cout << f.name << ": " << f.summary << '\n';
//
// Names are matched case-insensitively with '-', '_' and ' ' ignored ("PipeDream_Flush" finds
// 1F1B). Canonical names and aliases:
//   gpipe
//   1f1b              pipedream-flush, dapple, one-f-one-b
//   interleaved-1f1b  interleaved, interleaved1f1b, vpp, virtual-pipeline, megatron-interleaved
//   looped-bfs        loopedbfs, bfs, breadth-first
//   pipedream-async   pipedream, async-1f1b
//   layerpipe-async   layerpipe, systolic
//   pipe-offload      pipeoffload, offload, grouped-interleaved
//   zb1p              interleaved-zero-bubble, zero-bubble-1p
//   zb-h1, zb-h2, zb-v (zero-bubble; see the table below for aliases)
//   zb-auto           zbauto, zb-automatic, zero-bubble-auto, auto-zero-bubble
//   v-half            vhalf, zb-v-half
//   v-min             vmin, zb-v-min
//   dualpipe-v        dualpipev, cut-in-half
//   chimera
//   chimera-fd        chimera-forward-doubling
//   dualpipe          dual-pipe, deepseek-dualpipe
//   bitpipe           bit-pipe
// Parameters a family does not use must keep their defaults (chunks = 1, group_size = 0,
// training, memory_cap = 0): make_schedule checks them once, from the table's flags, instead of
// silently ignoring them. Costs and latency are the exception: only cost-aware families read
// them, and a cost-independent order is simply the same at any costs.
//
// Adding a family: write its generator header, include it here, and add one row to
// detail::family_table (name, aliases, summary, uses_chunks, maker, uses_group_size,
// has_forward_only, header, uses_memory_cap, uses_offload_chunks).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/core/pass_costs.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/bitpipe.hpp>
#include <layerpipe/schedule/chimera.hpp>
#include <layerpipe/schedule/dualpipe.hpp>
#include <layerpipe/schedule/dualpipe_v.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/looped_bfs.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/pipe_offload.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/v_shape.hpp>
#include <layerpipe/schedule/zb1p.hpp>
#include <layerpipe/schedule/zb_auto.hpp>
#include <layerpipe/schedule/zb_v.hpp>
#include <layerpipe/schedule/zero_bubble.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace layerpipe {

/// Everything a family may need; a family rejects parameters it does not use unless they keep
/// their defaults.
struct schedule_params {
  int devices = 1;        ///< P
  int micro_batches = 1;  ///< M
  int chunks = 1;         ///< V: stages per device, for families with chunks
  int group_size = 0;     ///< micro-batch group size (interleaved-1f1b, pipe-offload); 0 = automatic
  pass_mode mode = pass_mode::training;
  /// Per-stage pass times and transfer latency, read by cost-aware families (zb-auto) only: the
  /// other families' orders do not depend on costs, so they ignore these instead of rejecting.
  pass_costs stage_costs{};
  double p2p_latency = 0.0;
  double memory_cap = 0.0;  ///< activations per device for families that take a cap (zb-auto); 0 = default
  int offload_chunks = 0;   ///< K: chunks whose activations go to host memory (pipe-offload); 0 = none
};

/// One registry entry. The flags say which schedule_params the family reads; make_schedule
/// rejects any other parameter that leaves its default, so makers only build.
struct family_info {
  std::string_view name;     ///< canonical name, lowercase ("1f1b")
  std::string_view aliases;  ///< comma-separated, lowercase ("pipedream-flush,dapple,...")
  std::string_view summary;  ///< one line for listings
  bool uses_chunks;          ///< takes V = schedule_params::chunks
  /// Builds the schedule; parameters are already checked against the flags.
  schedule (*make)(const schedule_params&) = nullptr;
  bool uses_group_size = false;  ///< takes schedule_params::group_size (interleaved-1f1b)
  bool has_forward_only = true;  ///< takes pass_mode::forward_only
  std::string_view header = {};  ///< where construction, constraints and formulas are documented
  bool uses_memory_cap = false;  ///< takes schedule_params::memory_cap (zb-auto)
  bool uses_offload_chunks = false;  ///< takes schedule_params::offload_chunks (pipe-offload)
};

namespace detail {
inline constexpr std::array family_table{
    family_info{"gpipe", "", "GPipe: all forwards, then all backwards; peak M activations", false,
                [](const schedule_params& p) { return gpipe(p.devices, p.micro_batches, p.mode); }, false, true,
                "schedule/gpipe.hpp"},
    family_info{"1f1b", "pipedream-flush,dapple,one-f-one-b",
                "1F1B (PipeDream-Flush, DAPPLE): warm-up, one forward one backward, cool-down; peak min(P-d, M)",
                false, [](const schedule_params& p) { return one_f_one_b(p.devices, p.micro_batches, p.mode); },
                false, true, "schedule/one_f_one_b.hpp"},
    family_info{"interleaved-1f1b", "interleaved,interleaved1f1b,vpp,virtual-pipeline,megatron-interleaved",
                "interleaved 1F1B (Megatron virtual pipeline): V chunks per device, bubble (P-1)/(VM+P-1)", true,
                [](const schedule_params& p) {
                  return interleaved_1f1b(p.devices, p.micro_batches, p.chunks, {p.group_size, p.mode});
                },
                true, true, "schedule/interleaved_1f1b.hpp"},
    family_info{"looped-bfs", "loopedbfs,bfs,breadth-first",
                "looped BFS: each chunk runs all micro-batches before the next; peak M activations", true,
                [](const schedule_params& p) { return looped_bfs(p.devices, p.micro_batches, p.chunks, p.mode); },
                false, true, "schedule/looped_bfs.hpp"},
    // The asynchronous families update after every backward and the zero-bubble ones are defined
    // by where they put the split backward: none of them has a forward-only form.
    family_info{"pipedream-async", "pipedream,async-1f1b",
                "PipeDream (1F1B without flush): an update after every backward; staleness P-1-s updates", false,
                [](const schedule_params& p) { return pipedream_async(p.devices, p.micro_batches); }, false, false,
                "schedule/async_pipelines.hpp"},
    family_info{"layerpipe-async", "layerpipe,systolic",
                "LayerPipe systolic: F at clock k+s, B and U at k+2(P-1)-s; staleness 2(P-1-s) updates", false,
                [](const schedule_params& p) { return layerpipe_async(p.devices, p.micro_batches); }, false, false,
                "schedule/async_pipelines.hpp"},
    family_info{"pipe-offload", "pipeoffload,offload,grouped-interleaved",
                "PipeOffload: grouped interleaved 1F1B with split I/W; activations of the first K chunks go to host",
                true,
                [](const schedule_params& p) {
                  pipe_offload_options o;
                  o.group_size = p.group_size;
                  o.offload_chunks = p.offload_chunks;
                  const double share = 1.0 / p.chunks;  // chunk pass times, for the automatic group size
                  o.chunk_costs = {p.stage_costs.forward * share, p.stage_costs.input_grad * share,
                                   p.stage_costs.weight_grad * share};
                  return pipe_offload(p.devices, p.micro_batches, p.chunks, o);
                },
                true, false, "schedule/pipe_offload.hpp", false, true},
    family_info{"zb1p", "interleaved-zero-bubble,zero-bubble-1p",
                "ZB1P (PyTorch InterleavedZeroBubble): interleaved 1F1B with split I/W, W's fill gaps; idle a third",
                true, [](const schedule_params& p) { return zb1p(p.devices, p.micro_batches, p.chunks); }, false, false,
                "schedule/zb1p.hpp"},
    family_info{"zb-h1", "zbh1,zb1p-handcrafted,zero-bubble-h1",
                "ZB-H1: 1F1B with split I/W, first d W's deferred; idle a third of 1F1B's, peak as 1F1B", false,
                [](const schedule_params& p) { return zb_h1(p.devices, p.micro_batches); }, false, false,
                "schedule/zero_bubble.hpp"},
    family_info{"zb-h2", "zbh2,zero-bubble-h2",
                "ZB-H2: longer warm-up, I and F alternate, W's fill gaps; span idle 0 once M >= 2P-1, peak 2P",
                false, [](const schedule_params& p) { return zb_h2(p.devices, p.micro_batches); }, false, false,
                "schedule/zero_bubble.hpp"},
    family_info{"zb-v", "zbv,zero-bubble-v",
                "ZB-V: V placement, two chunks per device, split I/W; span idle 0 once M >= 2P-1, peak P", false,
                [](const schedule_params& p) { return zb_v(p.devices, p.micro_batches); }, false, false, "schedule/zb_v.hpp"},
    family_info{"zb-auto", "zbauto,zb-automatic,zero-bubble-auto,auto-zero-bubble",
                "ZB auto: cost-aware zero-bubble greedy under a per-device activation cap (default 2P), best of candidates",
                false,
                [](const schedule_params& p) {
                  zb_auto_options o;
                  o.stage_costs = {p.stage_costs};
                  o.p2p_latency = p.p2p_latency;
                  o.memory_cap = p.memory_cap;
                  return zero_bubble_auto(p.devices, p.micro_batches, o);
                },
                false, false, "schedule/zb_auto.hpp", true},
    family_info{"v-half", "vhalf,zb-v-half",
                "V-Half: V placement, split I/W, about half 1F1B's activation memory and half its bubble", false,
                [](const schedule_params& p) { return v_half(p.devices, p.micro_batches); }, false, false,
                "schedule/v_shape.hpp"},
    family_info{"v-min", "vmin,zb-v-min",
                "V-Min: V placement, split I/W, about a third of 1F1B's activation memory, two thirds of its bubble",
                false, [](const schedule_params& p) { return v_min(p.devices, p.micro_batches); }, false, false,
                "schedule/v_shape.hpp"},
    family_info{"dualpipe-v", "dualpipev,cut-in-half",
                "DualPipeV: V placement, F&B of different chunks overlapped in pairs; M >= 2P, peak P+1/2",
                false, [](const schedule_params& p) { return dualpipe_v(p.devices, p.micro_batches); }, false, false,
                "schedule/dualpipe_v.hpp"},
    family_info{"chimera", "",
                "Chimera: two pipelines in opposite directions, 2 weight copies, gradient all-reduce; D even, M % D = 0",
                false, [](const schedule_params& p) { return chimera(p.devices, p.micro_batches); }, false, false,
                "schedule/chimera.hpp"},
    family_info{"chimera-fd", "chimera-forward-doubling",
                "Chimera with forward doubling: two units' forwards in pairs, no gaps at T_B = 2T_F; about 2x peak memory",
                false,
                [](const schedule_params& p) { return chimera(p.devices, p.micro_batches, {.forward_doubling = true}); },
                false, false, "schedule/chimera.hpp"},
    family_info{"dualpipe", "dual-pipe,deepseek-dualpipe",
                "DualPipe: two directions, overlapped F&B pairs, 2 weight copies; P even, M even, M >= 2P", false,
                [](const schedule_params& p) { return dualpipe(p.devices, p.micro_batches); }, false, false,
                "schedule/dualpipe.hpp"},
    family_info{"bitpipe", "bit-pipe",
                "BitPipe: two opposite V pipelines, 4 chunks per device, eager gradient all-reduce; P even, M % P = 0",
                false, [](const schedule_params& p) { return bitpipe(p.devices, p.micro_batches); }, false, false,
                "schedule/bitpipe.hpp"},
};

/// Lowercase, with '-', '_' and ' ' dropped: the form names are compared in.
inline std::string normalize_family_name(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '-' || c == '_' || c == ' ') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}
}  // namespace detail

/// Every registered family, in a fixed order.
inline std::span<const family_info> schedule_families() noexcept { return detail::family_table; }

/// The family named `name` (a canonical name or an alias, case-insensitive, '-', '_' and ' '
/// ignored). Throws layerpipe::error listing every valid name and alias.
inline const family_info& find_family(std::string_view name) {
  const std::string wanted = detail::normalize_family_name(name);
  for (const family_info& f : detail::family_table) {
    if (!wanted.empty() && detail::normalize_family_name(f.name) == wanted) return f;
    std::string_view rest = f.aliases;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view alias = rest.substr(0, comma);
      if (!wanted.empty() && detail::normalize_family_name(alias) == wanted) return f;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  std::string valid;
  for (const family_info& f : detail::family_table) {
    if (!valid.empty()) valid += "; ";
    valid += f.name;
    if (!f.aliases.empty()) {
      valid += " (";
      for (char c : f.aliases) valid += c == ',' ? std::string_view(", ") : std::string_view(&c, 1);
      valid += ')';
    }
  }
  detail::fail("unknown schedule '", name, "'; valid names: ", valid);
}

/// Builds the schedule of family `name` (see find_family). Parameters the family does not read
/// must keep their defaults (chunks 1, group size 0, training); the generator rejects everything
/// else it does not allow.
inline schedule make_schedule(std::string_view name, const schedule_params& params) {
  const family_info& f = find_family(name);
  if (!f.uses_chunks && params.chunks != 1)
    detail::fail("schedule '", f.name, "' fixes its own stages per device and takes no chunks: leave chunks = 1, ",
                 "got V = ", params.chunks, " (interleaved-1f1b and looped-bfs take chunks)");
  if (!f.uses_group_size && params.group_size != 0)
    detail::fail("schedule '", f.name, "' has no micro-batch group size: leave group_size = 0, got ",
                 params.group_size, " (interleaved-1f1b and pipe-offload take one)");
  if (!f.uses_memory_cap && params.memory_cap != 0.0)
    detail::fail("schedule '", f.name, "' takes no memory cap: leave memory_cap = 0, got ", params.memory_cap,
                 " (zb-auto takes one)");
  if (!f.uses_offload_chunks && params.offload_chunks != 0)
    detail::fail("schedule '", f.name, "' offloads nothing: leave offload_chunks = 0, got ", params.offload_chunks,
                 " (pipe-offload takes it)");
  if (!f.has_forward_only && params.mode != pass_mode::training)
    detail::fail("schedule '", f.name, "' has no forward-only form (its construction is about the backward ",
                 "passes): leave mode = training, or use gpipe/1f1b with forward_only");
  return f.make(params);
}

}  // namespace layerpipe
