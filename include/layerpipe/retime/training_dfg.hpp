// layerpipe/retime/training_dfg.hpp — the training data-flow graph of a staged network.
//
// One synchronous DFG (REFERENCE §3.2) per network and partition, in the retime/ engine's own
// type (sdf_graph), so legality, loop invariants and difference constraints apply unchanged:
//   F_l  forward of layer l        B_l  backward (δ and G)        U_l  weight register
//   E_k  loss of sink layer k      input  host vertex (the data loader; Leiserson–Saxe's host)
// Edges, for each network edge u -> v: F_u -> F_v (activation), B_v -> B_u (δ), F_u -> B_v (a_u,
// kept for G_v); per layer: F_l -> B_l (z_l), U_l -> F_l and U_l -> B_l (weight reads, one
// register each), B_l -> U_l (gradient feedback, d_l registers: the DLMS delay); per sink k:
// F_k -> E_k -> B_k; per source layer: input -> F_l.
// REFERENCE §3.2 lumps z_l onto F_{l−1} -> B_l; here a_u and z_l have an edge each, so a DAG's
// skips and a source layer's own activations get their storage too.
// Every node has a stage: its layer's, the sink's for a loss node, 0 for the host. An edge
// between stages a and b must carry >= |b − a| registers once pipelined (stage-boundary cutsets,
// forward and backward alike): min_registers(e) states that demand, which derive_delays turns into
// difference constraints.
//
//   auto g = layerpipe::graph::chain({{"a", 1, 1, 1}, {"b", 1, 1, 1}});
//   auto t = layerpipe::build_training_dfg(g, layerpipe::partition({0, 1}), std::vector<std::int64_t>{2, 0});
//   t.dfg.edge(t.feedback_edge[0]).delays == 2;   // B_a -> U_a
//   t.dfg.node(t.forward[1]).name == "F:b";
//   t.min_registers(t.forward_edge[0]) == 1;      // F_a -> F_b crosses one stage boundary
//
// Edges are added in a topological order of the DFG without its feedback edges (forward half in
// layer topological order, then the backward half in reverse), feedback edges last: difference
// constraints listed in edge order settle in one Bellman–Ford pass.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/retime/sdf_graph.hpp>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace layerpipe {

/// What an edge of the training DFG carries (one value per edge, training_dfg::edge_kind).
enum class dfg_edge_kind : std::uint8_t {
  input,       // input -> F_l, l a source layer: the micro-batch entering the network
  forward,     // F_u -> F_v: activation a_u
  to_loss,     // F_k -> E_k: the sink's output
  from_loss,   // E_k -> B_k: δ of the sink
  backward,    // B_v -> B_u: δ_u
  activation,  // F_u -> B_v: a_u kept for G_v = e_v a_uᵀ
  local,       // F_l -> B_l: z_l (or φ'(z_l)) kept for e_l
  weight,      // U_l -> F_l: the forward reads the current weights (one register, kept)
  history,     // U_l -> B_l: the backward reads the weights its forward used
  feedback,    // B_l -> U_l: gradient feedback, the DLMS delay d_l
};

namespace detail::layerpipe_impl {
/// Registers an edge of this kind between nodes of stages a and b must carry after retiming.
constexpr std::int64_t demanded(dfg_edge_kind kind, int a, int b) {
  if (kind == dfg_edge_kind::weight) return 1;  // kept at one register (REFERENCE §3.7)
  return b >= a ? b - a : a - b;
}
}  // namespace detail::layerpipe_impl

struct training_dfg {
  sdf_graph dfg;
  int stages = 0;                          // P
  std::vector<int> forward, backward, update;  // node of F_l, B_l, U_l, per layer
  std::vector<int> loss;                   // one loss node per sink layer, in ascending layer order
  std::vector<int> loss_layer;             // the sink layer of each loss node
  int input = -1;                          // host vertex (lag 0)

  // Edge indices of the dfg, by role.
  std::vector<int> feedback_edge;          // per layer: B_l -> U_l, d_l registers
  std::vector<int> weight_edge;            // per layer: U_l -> F_l, exactly one register (REFERENCE §3.7)
  std::vector<int> history_edge;           // per layer: U_l -> B_l, one register before retiming
  std::vector<int> local_edge;             // per layer: F_l -> B_l (z_l, φ'(z_l))
  std::vector<int> forward_edge;           // per network edge u -> v: F_u -> F_v
  std::vector<int> backward_edge;          // per network edge u -> v: B_v -> B_u
  std::vector<int> activation_edge;        // per network edge u -> v: F_u -> B_v (a_u)

  std::vector<dfg_edge_kind> edge_kind;    // per edge
  std::vector<int> node_stage;             // per node: its layer's stage, the sink's for E, 0 for the host

  /// Registers edge e must carry after retiming: the stage boundaries it crosses (either way),
  /// exactly 1 on a weight edge U_l -> F_l; 0 inside a stage (legality only).
  constexpr std::int64_t min_registers(int e) const {
    const sdf_edge& x = dfg.edge(e);  // range check
    return detail::layerpipe_impl::demanded(edge_kind[static_cast<std::size_t>(e)],
                                            node_stage[static_cast<std::size_t>(x.from)],
                                            node_stage[static_cast<std::size_t>(x.to)]);
  }
};

namespace detail::layerpipe_impl {

/// "F:name"; empty when names are off. One named result (no moved temporaries: g++ 12 rejects
/// moving a short string inside a constant evaluation).
constexpr std::string node_name(char role, std::string_view layer, bool names = true) {
  std::string out;
  if (!names) return out;
  out.reserve(layer.size() + 2);
  out.push_back(role);
  out.push_back(':');
  out += layer;
  return out;
}

/// Registers a feedback edge may carry: retimed weights w + r(v) − r(u) then stay inside 64 bits
/// (the retime/ engine's bound on edge delays).
inline constexpr std::int64_t max_delay = std::int64_t{1} << 60;

/// The checks every LayerPipe entry point shares: the partition fits the graph (same layer count,
/// every stage used, edges never point back a stage), delays (if given) one per layer and >= 0.
constexpr void check_inputs(const graph& g, const partition& p, std::span<const std::int64_t> delays,
                            std::string_view who) {
  if (p.num_layers() != g.num_layers())
    raise(who, ": the partition covers ", p.num_layers(), " layers but the network has ", g.num_layers(),
          " layers; a partition must assign every layer of this network to a stage");
  p.check(g);
  if (!delays.empty() && delays.size() != static_cast<std::size_t>(g.num_layers()))
    raise(who, ": one gradient delay per layer is needed, got ", delays.size(), " delays for ", g.num_layers(),
          " layers");
  for (std::size_t l = 0; l < delays.size(); ++l) {
    if (delays[l] < 0)
      raise(who, ": a gradient delay counts registers and must be >= 0, got delays[", l, "] = ", delays[l],
            " for layer '", g.layers()[l].name, "'");
    if (delays[l] > max_delay)
      raise(who, ": a gradient delay must be <= 2^60, got delays[", l, "] = ", delays[l], " for layer '",
            g.layers()[l].name, "'");
  }
}

/// Registers on U_l -> F_l and U_l -> B_l before retiming: each weight read holds one register.
inline constexpr std::int64_t weight_registers = 1;

/// The node numbering of the training DFG, computed once per network: F_l, B_l, U_l at 3l, 3l + 1,
/// 3l + 2; the loss nodes at 3n + k, k the sink's rank in ascending layer order; the host last.
struct dfg_numbering {
  int layers = 0;
  int sinks = 0;
  int nodes = 0;
  int edges = 0;
  bool chain = false;        // is_listed_chain(g): for_each_dfg_edge then walks layers without the adjacency index
  std::vector<int> loss_of;  // per layer, its loss node (-1: not a sink); left empty for one sink

  static constexpr int forward(int l) { return 3 * l; }
  static constexpr int backward(int l) { return 3 * l + 1; }
  static constexpr int update(int l) { return 3 * l + 2; }
  /// The loss node of sink layer l.
  constexpr int loss(int l) const { return loss_of.empty() ? 3 * layers : loss_of[static_cast<std::size_t>(l)]; }
  constexpr int input() const { return nodes - 1; }
};

/// True when edge l is l -> l + 1 for every l (graph::chain's layout): edge l − 1 enters layer l,
/// and the topological order is index order. (graph::is_chain() also accepts those edges listed
/// in another order.)
constexpr bool is_listed_chain(const graph& g) {
  const std::span<const edge> edges = g.edges();
  if (edges.size() + 1 != static_cast<std::size_t>(g.num_layers())) return false;
  for (std::size_t e = 0; e < edges.size(); ++e)
    if (edges[e].from != static_cast<int>(e) || edges[e].to != static_cast<int>(e) + 1) return false;
  return true;
}

/// Counts the nodes and edges of g's training DFG (error if int indices cannot hold them) and
/// numbers its loss nodes. `who` names the public entry point in messages.
constexpr dfg_numbering number_dfg(const graph& g, std::string_view who) {
  const int n = g.num_layers();
  const auto un = static_cast<std::size_t>(n);
  const bool chain = is_listed_chain(g);
  std::size_t sinks = chain ? 1 : 0, sources = chain ? 1 : 0;
  for (int l = 0; l < n && !chain; ++l) {
    sinks += g.out_edges(l).empty() ? 1u : 0u;
    sources += g.in_edges(l).empty() ? 1u : 0u;
  }
  const auto nodes = 3 * un + sinks + 1;
  const auto edges = 3 * static_cast<std::size_t>(g.num_edges()) + 4 * un + 2 * sinks + sources;
  if (nodes > static_cast<std::size_t>(INT_MAX) || edges > static_cast<std::size_t>(INT_MAX))
    raise(who, ": the training DFG would have ", nodes, " nodes and ", edges, " edges, more than int indices hold (",
          INT_MAX, ")");
  dfg_numbering nb;
  nb.layers = n;
  nb.sinks = static_cast<int>(sinks);
  nb.nodes = static_cast<int>(nodes);
  nb.edges = static_cast<int>(edges);
  nb.chain = chain;
  if (sinks > 1) {
    nb.loss_of.assign(un, -1);
    int next = 3 * n;
    for (int l = 0; l < n; ++l)
      if (g.out_edges(l).empty()) nb.loss_of[static_cast<std::size_t>(l)] = next++;
  }
  return nb;
}

/// for_each_dfg_edge's forward and backward halves on a DAG, through the adjacency index.
template <class Emit>
constexpr void dag_edge_halves(const graph& g, std::span<const int> stage, const dfg_numbering& nb, Emit& emit) {
  using kind = dfg_edge_kind;
  using nbr = dfg_numbering;
  const std::span<const int> order = g.topological_order();
  const auto stage_of = [stage](int l) { return stage[static_cast<std::size_t>(l)]; };
  // Forward half, layers in topological order: everything entering F_l.
  for (const int l : order) {
    const int s = stage_of(l);
    const std::span<const int> in = g.in_edges(l);
    const std::span<const int> pred = g.predecessors(l);
    if (in.empty()) emit(kind::input, nb.input(), nbr::forward(l), 0, demanded(kind::input, 0, s), l);
    for (std::size_t k = 0; k < in.size(); ++k)
      emit(kind::forward, nbr::forward(pred[k]), nbr::forward(l), 0, demanded(kind::forward, stage_of(pred[k]), s),
           in[k]);
    emit(kind::weight, nbr::update(l), nbr::forward(l), weight_registers, demanded(kind::weight, s, s), l);
  }
  // Backward half, layers in reverse topological order: everything entering E_l and B_l.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const int l = *it;
    const int s = stage_of(l);
    const std::span<const int> out = g.out_edges(l);
    const std::span<const int> succ = g.successors(l);
    if (out.empty()) {
      const int loss = nb.loss(l);
      emit(kind::to_loss, nbr::forward(l), loss, 0, demanded(kind::to_loss, s, s), l);
      emit(kind::from_loss, loss, nbr::backward(l), 0, demanded(kind::from_loss, s, s), l);
    }
    for (std::size_t k = 0; k < out.size(); ++k)
      emit(kind::backward, nbr::backward(succ[k]), nbr::backward(l), 0, demanded(kind::backward, stage_of(succ[k]), s),
           out[k]);
    const std::span<const int> in = g.in_edges(l);
    const std::span<const int> pred = g.predecessors(l);
    for (std::size_t k = 0; k < in.size(); ++k)
      emit(kind::activation, nbr::forward(pred[k]), nbr::backward(l), 0,
           demanded(kind::activation, stage_of(pred[k]), s), in[k]);
    emit(kind::local, nbr::forward(l), nbr::backward(l), 0, demanded(kind::local, s, s), l);
    emit(kind::history, nbr::update(l), nbr::backward(l), weight_registers, demanded(kind::history, s, s), l);
  }
}

/// dag_edge_halves for the chain 0 -> 1 -> ... -> n−1: the same edges in the same order (edge
/// l − 1 enters layer l, topological order is index order), without the adjacency index.
template <class Emit>
constexpr void chain_edge_halves(std::span<const int> stage, const dfg_numbering& nb, Emit& emit) {
  using kind = dfg_edge_kind;
  using nbr = dfg_numbering;
  const auto stage_of = [stage](int l) { return stage[static_cast<std::size_t>(l)]; };
  const int n = nb.layers;
  for (int l = 0; l < n; ++l) {
    const int s = stage_of(l);
    if (l == 0)
      emit(kind::input, nb.input(), nbr::forward(l), 0, demanded(kind::input, 0, s), l);
    else
      emit(kind::forward, nbr::forward(l - 1), nbr::forward(l), 0, demanded(kind::forward, stage_of(l - 1), s), l - 1);
    emit(kind::weight, nbr::update(l), nbr::forward(l), weight_registers, demanded(kind::weight, s, s), l);
  }
  for (int l = n - 1; l >= 0; --l) {
    const int s = stage_of(l);
    if (l == n - 1) {
      const int loss = nb.loss(l);
      emit(kind::to_loss, nbr::forward(l), loss, 0, demanded(kind::to_loss, s, s), l);
      emit(kind::from_loss, loss, nbr::backward(l), 0, demanded(kind::from_loss, s, s), l);
    } else {
      emit(kind::backward, nbr::backward(l + 1), nbr::backward(l), 0, demanded(kind::backward, stage_of(l + 1), s), l);
    }
    if (l > 0)
      emit(kind::activation, nbr::forward(l - 1), nbr::backward(l), 0, demanded(kind::activation, stage_of(l - 1), s),
           l - 1);
    emit(kind::local, nbr::forward(l), nbr::backward(l), 0, demanded(kind::local, s, s), l);
    emit(kind::history, nbr::update(l), nbr::backward(l), weight_registers, demanded(kind::history, s, s), l);
  }
}

/// Enumerates the edges of g's training DFG in edge order, without building it: for each edge,
/// emit(kind, from, to, w, demanded registers, index), index being the network edge for forward,
/// backward and activation edges and the layer for every other kind. build() stores what it
/// hears; derive_delays() turns it into difference constraints, then checks and reads its retiming,
/// each time straight from g and p. Order (the DFG's edge order, see the file comment): the
/// forward half in layer topological order (input or in-edges of F_l, then U_l -> F_l), the
/// backward half in reverse (F_l -> E_l -> B_l for a sink, then δ from each successor, a_u per
/// in-edge, z_l, U_l -> B_l), then B_l -> U_l for l = 0, 1, ... carrying feedback_delays[l] (0
/// when empty). g and p must already have passed check_inputs, nb must be number_dfg(g).
template <class Emit>
constexpr void for_each_dfg_edge(const graph& g, const partition& p, const dfg_numbering& nb,
                                 std::span<const std::int64_t> feedback_delays, Emit&& emit) {
  const std::span<const int> stage = p.stage_map();
  if (nb.chain)
    chain_edge_halves(stage, nb, emit);
  else
    dag_edge_halves(g, stage, nb, emit);
  // Gradient feedback, closing every update loop.
  for (int l = 0; l < nb.layers; ++l) {
    const int s = stage[static_cast<std::size_t>(l)];
    emit(dfg_edge_kind::feedback, dfg_numbering::backward(l), dfg_numbering::update(l),
         feedback_delays.empty() ? std::int64_t{0} : feedback_delays[static_cast<std::size_t>(l)],
         demanded(dfg_edge_kind::feedback, s, s), l);
  }
}

/// Ignores the edges as they are added (build_training_dfg).
struct no_edge_hook {
  constexpr void operator()(dfg_edge_kind, int, int, std::int64_t, std::int64_t) const {}
};

/// build_training_dfg, storing what for_each_dfg_edge enumerates; index = false skips the dfg's
/// adjacency index and names = false leaves the node names empty (names serve messages only).
/// on_edge(kind, from, to, w, demanded registers) sees each edge as it is added, in edge order.
/// `who` names the public entry point in messages.
template <class OnEdge = no_edge_hook>
constexpr training_dfg build(const graph& g, const partition& p, std::span<const std::int64_t> feedback_delays,
                             bool index, bool names, std::string_view who, OnEdge on_edge = {}) {
  check_inputs(g, p, feedback_delays, who);
  const dfg_numbering nb = number_dfg(g, who);

  const int n = g.num_layers();
  const auto un = static_cast<std::size_t>(n);
  const auto ue = static_cast<std::size_t>(g.num_edges());
  const std::span<const layer> layers = g.layers();
  const std::span<const int> stage = p.stage_map();

  training_dfg t;
  t.stages = p.num_stages();
  t.dfg.reserve(nb.nodes, nb.edges);
  t.node_stage.reserve(static_cast<std::size_t>(nb.nodes));
  t.forward.resize(un);
  t.backward.resize(un);
  t.update.resize(un);
  for (int l = 0; l < n; ++l) {
    const auto ul = static_cast<std::size_t>(l);
    const layer& x = layers[ul];
    const int s = stage[ul];
    t.forward[ul] = t.dfg.add_node(node_name('F', x.name, names), x.forward);
    t.backward[ul] = t.dfg.add_node(node_name('B', x.name, names), x.backward());
    t.update[ul] = t.dfg.add_node(node_name('U', x.name, names), 0.0);
    t.node_stage.push_back(s);
    t.node_stage.push_back(s);
    t.node_stage.push_back(s);
  }
  t.loss.reserve(static_cast<std::size_t>(nb.sinks));
  t.loss_layer.reserve(static_cast<std::size_t>(nb.sinks));
  for (int l = 0; l < n; ++l)
    if (g.out_edges(l).empty()) {
      const auto ul = static_cast<std::size_t>(l);
      t.loss.push_back(t.dfg.add_node(node_name('E', layers[ul].name, names), 0.0));  // nb.loss(l)
      t.node_stage.push_back(stage[ul]);
      t.loss_layer.push_back(l);
    }
  t.input = t.dfg.add_node(names ? "input" : "", 0.0);  // nb.input()
  t.node_stage.push_back(0);

  t.edge_kind.reserve(static_cast<std::size_t>(nb.edges));
  t.forward_edge.resize(ue);
  t.backward_edge.resize(ue);
  t.activation_edge.resize(ue);
  t.weight_edge.resize(un);
  t.history_edge.resize(un);
  t.local_edge.resize(un);
  t.feedback_edge.resize(un);
  for_each_dfg_edge(g, p, nb, feedback_delays,
                    [&](dfg_edge_kind kind, int from, int to, std::int64_t w, std::int64_t q, int i) {
                      const int e = t.dfg.add_edge(from, to, w);
                      t.edge_kind.push_back(kind);
                      on_edge(kind, from, to, w, q);
                      const auto ui = static_cast<std::size_t>(i);
                      switch (kind) {
                        case dfg_edge_kind::forward: t.forward_edge[ui] = e; break;
                        case dfg_edge_kind::backward: t.backward_edge[ui] = e; break;
                        case dfg_edge_kind::activation: t.activation_edge[ui] = e; break;
                        case dfg_edge_kind::weight: t.weight_edge[ui] = e; break;
                        case dfg_edge_kind::history: t.history_edge[ui] = e; break;
                        case dfg_edge_kind::local: t.local_edge[ui] = e; break;
                        case dfg_edge_kind::feedback: t.feedback_edge[ui] = e; break;
                        case dfg_edge_kind::input:
                        case dfg_edge_kind::to_loss:
                        case dfg_edge_kind::from_loss: break;
                      }
                    });
  if (index) t.dfg.finalize();
  return t;
}
}  // namespace detail::layerpipe_impl

/// Builds the training DFG of g staged by p, its adjacency index built (dfg.finalize()).
/// feedback_delays: d_l registers on B_l -> U_l per layer; empty means none (the unpipelined
/// graph of REFERENCE §3.2, each update loop holding only its weight register). Throws
/// layerpipe::error if p does not fit g or a delay is negative.
constexpr training_dfg build_training_dfg(const graph& g, const partition& p,
                                          std::span<const std::int64_t> feedback_delays = {}) {
  return detail::layerpipe_impl::build(g, p, feedback_delays, true, true, "build_training_dfg");
}

}  // namespace layerpipe
