// layerpipe/retime/layerpipe.hpp — LayerPipe gradient delays, derived by retiming (REFERENCE §3).
//
// derive_delays() takes the training DFG of a staged network (training_dfg.hpp; its edges are
// enumerated straight from the network, never stored), asks the retime/ engine for a retiming
// that puts pipeline registers on every stage-boundary cutset (an edge crossing k boundaries,
// forward or backward, carries >= k) while U_l -> F_l keeps its one register, and reads off the
// result: the smallest legal gradient delay d_l of every layer (the registers B_l -> U_l needs),
// the lags, and from the retimed edge weights the activation stash of every edge and the weight
// versions of every layer, with their bytes per layer and per stage.
// No closed form is coded: on chains the result is Delay(l) = 2·S(l), S(l) = stages after l's; on
// DAGs it is 2·(deepest stage l's outputs reach − l's stage).
//
//   auto g = layerpipe::graph::chain({{"l1", 1}, {"l2", 1}, {"l3", 1}, {"l4", 1}, {"l5", 1}, {"l6", 1}});
//   auto p = layerpipe::partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6);
//   auto plan = layerpipe::derive_delays(g, p);
//   plan.delay_clocks;                                                   // {4, 2, 2, 2, 0, 0}
//   plan.staleness_updates(0, layerpipe::pipelining_style::one_f_one_b);  // 2
//   layerpipe::check_delays(g, p, std::vector<std::int64_t>{4, 2, 2, 1, 0, 0});
//   // throws: layer 'l4' (layer 3, stage 1): its update loop needs >= 2 gradient-delay registers ...
//
// Units: a delay counts pipeline clocks (one DFG iteration: a micro-batch enters per clock and
// every node fires once per clock). staleness_updates() converts to optimizer updates for an
// execution model (REFERENCE §3.5). Memory: a stash depth counts micro-batches held, the current
// one included (w_r + 1); weight versions count past copies (the current one is extra).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/retime/detail/delay_solver.hpp>
#include <layerpipe/retime/retiming.hpp>
#include <layerpipe/retime/training_dfg.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace layerpipe {

/// How a pipeline runs the DFG's clocks (REFERENCE §3.5).
enum class pipelining_style : std::uint8_t {
  systolic,     // every stage runs one F and one B per clock, updating every clock: staleness 2S(l)
  one_f_one_b,  // F and B share a device, one micro-batch enters every second slot, no flush: S(l)
};

/// Storage one network edge u -> v needs, read off the retimed training DFG.
struct edge_stash {
  int edge = 0;                        // network edge index
  std::int64_t forward_registers = 0;  // w_r(F_u -> F_v): the pipeline / skip buffer (stages crossed)
  std::int64_t depth = 0;              // w_r(F_u -> B_v) + 1: micro-batches of a_u held for B_v, current included
  double bytes = 0;                    // depth × activation_bytes(u)
  double forward_bytes = 0;            // forward_registers × activation_bytes(u)
  friend constexpr bool operator==(const edge_stash&, const edge_stash&) = default;
};

struct delay_plan {
  int stages = 0;
  std::vector<std::int64_t> delay_clocks;     // per layer: smallest legal gradient delay, pipeline clocks
  retiming lags;                              // per training-DFG node (build_training_dfg(g, p, delay_clocks))
  std::vector<edge_stash> stash;              // per network edge
  std::vector<std::int64_t> local_stash_depth;  // per layer: w_r(F_l -> B_l) + 1 micro-batches of z_l
  std::vector<std::int64_t> weight_versions;  // per layer: past weight versions kept, w_r(U->B) − w_r(U->F)
  std::vector<double> stash_bytes_per_layer;  // Σ in-edge stash bytes + local depth × activation_bytes
  std::vector<double> weight_bytes_per_layer; // weight_versions × weight_bytes
  std::vector<double> stash_bytes_per_stage, weight_bytes_per_stage;

  constexpr int num_layers() const { return static_cast<int>(delay_clocks.size()); }

  /// Versions of W_l held at once with the current one (exact stashing): weight_versions + 1.
  constexpr std::int64_t versions_with_current(int layer) const {
    return weight_versions[index(layer)] + 1;
  }
  /// Staleness in optimizer updates: systolic 2S(l) (= the delay), 1F1B without flush S(l).
  constexpr std::int64_t staleness_updates(int layer, pipelining_style style) const {
    const std::int64_t d = delay_clocks[index(layer)];
    return style == pipelining_style::systolic ? d : d / 2;
  }

  friend constexpr bool operator==(const delay_plan&, const delay_plan&) = default;

private:
  constexpr std::size_t index(int layer) const {
    if (layer < 0 || layer >= num_layers())
      detail::raise("delay_plan: layer index ", layer, " is out of range, the plan covers ", num_layers(), " layers");
    return static_cast<std::size_t>(layer);
  }
};

namespace detail::layerpipe_impl {

/// Stash depths, weight versions and bytes from the retimed weights of the training DFG under
/// plan.lags (numbered as dfg_numbering), read straight off the lags: w_r of an edge from -> to
/// carrying w registers is retimed_weight(w, r(from), r(to)), the function the retime/ engine
/// uses. Fills everything but delay_clocks and lags.
constexpr void read_storage(const graph& g, const partition& p, delay_plan& plan) {
  using nbr = dfg_numbering;
  const retiming& r = plan.lags;
  const auto wr = [&r](int from, int to, std::int64_t w) {
    return retiming_impl::retimed_weight(w, r[static_cast<std::size_t>(from)], r[static_cast<std::size_t>(to)]);
  };
  const auto un = static_cast<std::size_t>(g.num_layers());
  const std::span<const layer> layers = g.layers();
  const std::span<const int> stage = p.stage_map();
  plan.stages = p.num_stages();
  plan.stash.resize(static_cast<std::size_t>(g.num_edges()));
  plan.local_stash_depth.reserve(un);
  plan.weight_versions.reserve(un);
  plan.stash_bytes_per_layer.reserve(un);
  plan.weight_bytes_per_layer.reserve(un);
  plan.stash_bytes_per_stage.assign(static_cast<std::size_t>(plan.stages), 0.0);
  plan.weight_bytes_per_stage.assign(static_cast<std::size_t>(plan.stages), 0.0);
  // One pass over the layers, each edge handled with its target (each layer's record is read once).
  for (int l = 0; l < g.num_layers(); ++l) {
    const auto ul = static_cast<std::size_t>(l);
    const layer& x = layers[ul];
    const std::int64_t local = wr(nbr::forward(l), nbr::backward(l), 0) + 1;  // F_l -> B_l
    const std::int64_t versions = wr(nbr::update(l), nbr::backward(l), weight_registers) -  // U_l -> B_l
                                  wr(nbr::update(l), nbr::forward(l), weight_registers);    // U_l -> F_l
    double stash_bytes = static_cast<double>(local) * x.activation_bytes;
    const std::span<const int> in = g.in_edges(l);
    const std::span<const int> pred = g.predecessors(l);
    for (std::size_t k = 0; k < in.size(); ++k) {  // ascending edge index
      const int u = pred[k];
      const double bytes = layers[static_cast<std::size_t>(u)].activation_bytes;
      edge_stash& s = plan.stash[static_cast<std::size_t>(in[k])];
      s.edge = in[k];
      s.forward_registers = wr(nbr::forward(u), nbr::forward(l), 0);  // F_u -> F_l
      s.depth = wr(nbr::forward(u), nbr::backward(l), 0) + 1;          // F_u -> B_l
      s.bytes = static_cast<double>(s.depth) * bytes;
      s.forward_bytes = static_cast<double>(s.forward_registers) * bytes;
      stash_bytes += s.bytes;
    }
    const double weight_bytes = static_cast<double>(versions) * x.weight_bytes;
    plan.local_stash_depth.push_back(local);
    plan.weight_versions.push_back(versions);
    plan.stash_bytes_per_layer.push_back(stash_bytes);
    plan.weight_bytes_per_layer.push_back(weight_bytes);
    const auto s = static_cast<std::size_t>(stage[ul]);
    plan.stash_bytes_per_stage[s] += stash_bytes;
    plan.weight_bytes_per_stage[s] += weight_bytes;
  }
}

}  // namespace detail::layerpipe_impl

/// The smallest legal gradient delay of every layer for partition p, by retiming (see the file
/// comment), with the lags realising them and the storage they imply. Throws layerpipe::error if p
/// does not fit g (layer count, empty stage, an edge pointing back a stage).
///
/// The training DFG is never stored: its edges are enumerated from g and p (for_each_dfg_edge)
/// each time they are needed, by the engine's solver as constraints, then once more to check the
/// retiming; the plan is read off the lags.
constexpr delay_plan derive_delays(const graph& g, const partition& p) {
  namespace impl = detail::layerpipe_impl;
  impl::check_inputs(g, p, {}, "derive_delays");
  const impl::dfg_numbering nb = impl::number_dfg(g, "derive_delays");
  // The constraints of the DFG without its feedback edges (their weight is the unknown), in edge
  // order: topological, so pass 1 settles them and pass 2 confirms, both without predecessor links.
  constraint_solution solution = solve_difference_constraints(
      nb.nodes,
      [&](auto&& visit) {
        impl::for_each_dfg_edge(g, p, nb, {},
                                [&](dfg_edge_kind kind, int from, int to, std::int64_t w, std::int64_t q, int) {
                                  impl::edge_constraints(kind, from, to, w, q, false, 0, visit);
                                });
      },
      2);
  // Without the feedback edges the constraint graph is the DFG's DAG plus zero-weight U <-> F
  // pairs: no negative cycle exists, so the engine always answers.
  if (!solution.feasible) detail::raise("derive_delays: internal error, the stage demands admit no retiming");
  delay_plan plan;
  plan.lags = std::move(solution.values);
  for (std::int64_t& x : plan.lags) x = -x;  // the variables are x = −r
  const retiming& r = plan.lags;
  const auto un = static_cast<std::size_t>(g.num_layers());
  plan.delay_clocks.reserve(un);
  for (int l = 0; l < g.num_layers(); ++l) {
    // d_l: the fewest registers on B_l -> U_l that keep it legal, w_r = d_l + r(U_l) − r(B_l) >= 0.
    const std::int64_t d = r[static_cast<std::size_t>(impl::dfg_numbering::backward(l))] -
                           r[static_cast<std::size_t>(impl::dfg_numbering::update(l))];
    plan.delay_clocks.push_back(d > 0 ? d : 0);
  }
  // The engine's answer, feedback registers in place, must meet every demand.
  std::size_t e = 0;
  impl::for_each_dfg_edge(g, p, nb, plan.delay_clocks,
                          [&](dfg_edge_kind kind, int from, int to, std::int64_t w, std::int64_t q, int) {
                            const std::int64_t wr = detail::retiming_impl::retimed_weight(
                                w, r[static_cast<std::size_t>(from)], r[static_cast<std::size_t>(to)]);
                            impl::check_demand(kind, e++, wr, q, "derive_delays");
                          });
  impl::read_storage(g, p, plan);
  return plan;
}

/// Checks a user-given delay assignment (one per layer, in pipeline clocks): legal iff a retiming
/// of the training DFG with these feedback registers meets every stage demand. Throws naming the
/// broken update loop — "layer 'x' (layer 3, stage 1): its update loop needs >= 2 gradient-delay
/// registers on B:x -> U:x, got 1; the loop U:x -> F:x -> ... -> U:x crosses 2 stage boundaries"
/// — or the bad input (wrong count, a negative delay, a partition that does not fit).
constexpr void check_delays(const graph& g, const partition& p, std::span<const std::int64_t> delays) {
  namespace impl = detail::layerpipe_impl;
  const training_dfg t = impl::checked_dfg(g, p, delays, "check_delays");
  const impl::short_loop bad = impl::first_short_loop(t, delays);
  if (bad.layer >= 0) {
    const auto l = static_cast<std::size_t>(bad.layer);
    // The witness: the loop through the longest-demand path F_l ⇝ B_l. Its demand must match the
    // solver's answer, which cross-checks the derivation on every rejected input.
    const impl::loop_witness loop = impl::update_loop(t, bad.layer);
    if (loop.need != bad.need)
      detail::raise("check_delays: internal error, layer ", l, " needs ", bad.need,
                    " registers but its loop demands ", loop.need);
    detail::raise("check_delays: layer '", g.layers()[l].name, "' (layer ", l, ", stage ", p.stage_map()[l],
                  "): its update loop needs >= ", bad.need, " gradient-delay registers on ",
                  t.dfg.nodes()[static_cast<std::size_t>(t.backward[l])].name, " -> ",
                  t.dfg.nodes()[static_cast<std::size_t>(t.update[l])].name, ", got ", delays[l], "; the loop ",
                  impl::describe_loop(t, loop.edges), " crosses ", bad.need, " stage boundaries");
  }
  (void)impl::full_retiming(t);
}

/// check_delays as a predicate: false for an assignment with a short update loop. Bad input
/// (wrong count, a negative delay, a partition that does not fit) still throws.
constexpr bool delays_are_legal(const graph& g, const partition& p, std::span<const std::int64_t> delays) {
  namespace impl = detail::layerpipe_impl;
  const training_dfg t = impl::checked_dfg(g, p, delays, "delays_are_legal");
  if (impl::first_short_loop(t, delays).layer >= 0) return false;
  (void)impl::full_retiming(t);
  return true;
}

}  // namespace layerpipe
