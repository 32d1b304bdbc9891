// LayerPipe delays derived by retiming the training DFG (REFERENCE §3): chains against an
// independent statement of 2·S(l), the retimed weights of REFERENCE §3.3, minimality (one register
// less breaks a loop, checked both by check_delays and by the engine's own infeasibility verdict),
// DAGs with skips, branches and late inputs worked by hand, storage, staleness and every error.
#include "layerpipe_test.hpp"

#include <layerpipe/graph/builders.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/retime/constraints.hpp>
#include <layerpipe/retime/layerpipe.hpp>
#include <layerpipe/retime/retiming.hpp>
#include <layerpipe/retime/training_dfg.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace layerpipe;

namespace {

using delays = std::vector<std::int64_t>;

// Layers named l1, l2, … (1-based, as in REFERENCE §3) with distinct bytes per layer.
graph chain_of(int layers) {
  std::vector<layer> list;
  for (int i = 1; i <= layers; ++i)
    list.push_back(layer{"l" + std::to_string(i), 1.0 * i, 1, 1, 100.0 * i, 1000.0 * i, layer_kind::generic});
  return graph::chain(std::move(list));
}

graph dag(std::vector<std::string> names, std::vector<edge> edges) {
  std::vector<layer> list;
  for (std::size_t i = 0; i < names.size(); ++i)
    list.push_back(layer{names[i], 1, 1, 1, 10.0 * static_cast<double>(i + 1), 7.0 * static_cast<double>(i + 1),
                         layer_kind::generic});
  return graph(std::move(list), std::move(edges));
}

// Independent statement of the rule on chains: 2 × the number of stages after layer l's.
std::int64_t two_s(const partition& p, int l) {
  std::int64_t after = 0;
  for (int s = 0; s < p.num_stages(); ++s) after += s > p.stage_of(l) ? 1 : 0;
  return 2 * after;
}

// Independent statement for DAGs: 2 × the stages between l's and the deepest stage its outputs
// reach (a depth-first walk over the network, nothing from the DFG).
std::int64_t two_reach(const graph& g, const partition& p, int l) {
  std::vector<int> stack{l};
  std::vector<bool> seen(static_cast<std::size_t>(g.num_layers()), false);
  int deepest = p.stage_of(l);
  while (!stack.empty()) {
    const int v = stack.back();
    stack.pop_back();
    if (seen[static_cast<std::size_t>(v)]) continue;
    seen[static_cast<std::size_t>(v)] = true;
    deepest = std::max(deepest, p.stage_of(v));
    for (int w : g.successors(v)) stack.push_back(w);
  }
  return 2 * (deepest - p.stage_of(l));
}

std::int64_t wr(const training_dfg& t, const retiming& r, int e) { return retimed_delays(t.dfg, r, e); }

// The engine's own verdict on an assignment, feedback edges included (small graphs only: a
// negative cycle costs the engine |V| passes).
bool engine_feasible(const graph& g, const partition& p, const delays& d) {
  const training_dfg t = build_training_dfg(g, p, d);
  const auto cs = detail::layerpipe_impl::lag_constraints(t, true);
  return solve_difference_constraints(t.dfg.num_nodes(), cs).feasible;
}

// Minimality, both ways: every delay is legal, and one register less on any layer with a
// nonzero delay is illegal — rejected by check_delays naming that layer, and infeasible for the
// engine. More registers are always legal.
void require_minimal(const graph& g, const partition& p, const delays& d) {
  REQUIRE_NOTHROW(check_delays(g, p, d));
  REQUIRE(delays_are_legal(g, p, d));
  REQUIRE(engine_feasible(g, p, d));
  for (std::size_t l = 0; l < d.size(); ++l) {
    delays more = d;
    more[l] += 3;
    REQUIRE(delays_are_legal(g, p, more));
    if (d[l] == 0) continue;
    delays less = d;
    --less[l];
    REQUIRE_FALSE(delays_are_legal(g, p, less));
    REQUIRE_FALSE(engine_feasible(g, p, less));
    REQUIRE_THROWS_WITH(check_delays(g, p, less),
                        Catch::Contains("layer '" + g.layers()[l].name + "'") &&
                            Catch::Contains("needs >= " + std::to_string(d[l])) &&
                            Catch::Contains("got " + std::to_string(d[l] - 1)));
  }
}

// Checks a plan's bookkeeping against its own retimed DFG and the layer bytes.
void require_consistent_storage(const graph& g, const partition& p, const delay_plan& plan) {
  const training_dfg t = build_training_dfg(g, p, plan.delay_clocks);
  REQUIRE_NOTHROW(check_legal(t.dfg, plan.lags));
  std::vector<double> stash(static_cast<std::size_t>(g.num_layers()), 0.0);
  for (int l = 0; l < g.num_layers(); ++l) {
    const auto ul = static_cast<std::size_t>(l);
    REQUIRE(plan.local_stash_depth[ul] == wr(t, plan.lags, t.local_edge[ul]) + 1);
    REQUIRE(plan.weight_versions[ul] == plan.delay_clocks[ul]);
    REQUIRE(plan.versions_with_current(l) == plan.delay_clocks[ul] + 1);
    REQUIRE(plan.weight_bytes_per_layer[ul] ==
            Approx(static_cast<double>(plan.weight_versions[ul]) * g.at(l).weight_bytes));
    stash[ul] += static_cast<double>(plan.local_stash_depth[ul]) * g.at(l).activation_bytes;
    // The feedback edge ends with no register left: the delay is exactly the loop's demand.
    REQUIRE(wr(t, plan.lags, t.feedback_edge[ul]) == 0);
  }
  REQUIRE(plan.stash.size() == static_cast<std::size_t>(g.num_edges()));
  for (int e = 0; e < g.num_edges(); ++e) {
    const edge_stash& s = plan.stash[static_cast<std::size_t>(e)];
    const edge x = g.edges()[static_cast<std::size_t>(e)];
    REQUIRE(s.edge == e);
    REQUIRE(s.forward_registers == wr(t, plan.lags, t.forward_edge[static_cast<std::size_t>(e)]));
    REQUIRE(s.forward_registers >= p.stage_of(x.to) - p.stage_of(x.from));
    REQUIRE(s.depth == wr(t, plan.lags, t.activation_edge[static_cast<std::size_t>(e)]) + 1);
    REQUIRE(s.bytes == Approx(static_cast<double>(s.depth) * g.at(x.from).activation_bytes));
    REQUIRE(s.forward_bytes == Approx(static_cast<double>(s.forward_registers) * g.at(x.from).activation_bytes));
    stash[static_cast<std::size_t>(x.to)] += s.bytes;
  }
  std::vector<double> stash_stage(static_cast<std::size_t>(p.num_stages()), 0.0), weight_stage = stash_stage;
  for (int l = 0; l < g.num_layers(); ++l) {
    REQUIRE(plan.stash_bytes_per_layer[static_cast<std::size_t>(l)] == Approx(stash[static_cast<std::size_t>(l)]));
    stash_stage[static_cast<std::size_t>(p.stage_of(l))] += stash[static_cast<std::size_t>(l)];
    weight_stage[static_cast<std::size_t>(p.stage_of(l))] += plan.weight_bytes_per_layer[static_cast<std::size_t>(l)];
  }
  for (int s = 0; s < p.num_stages(); ++s) {
    REQUIRE(plan.stash_bytes_per_stage[static_cast<std::size_t>(s)] == Approx(stash_stage[static_cast<std::size_t>(s)]));
    REQUIRE(plan.weight_bytes_per_stage[static_cast<std::size_t>(s)] == Approx(weight_stage[static_cast<std::size_t>(s)]));
  }
}

struct lcg {
  std::uint64_t s;
  int next(int bound) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((s >> 33) % static_cast<std::uint64_t>(bound));
  }
};

}  // namespace

TEST_CASE("training DFG: nodes, edges, stages and demands of a staged chain", "[retime][layerpipe][dfg]") {
  // l1 | l2 l3: F, B, U per layer, one loss (l3 is the only sink), the host.
  const graph g = chain_of(3);
  const partition p({0, 1, 1});
  const training_dfg t = build_training_dfg(g, p);
  REQUIRE(t.stages == 2);
  REQUIRE(t.dfg.num_nodes() == 3 * 3 + 1 + 1);
  // 2 network edges × 3 + 3 layers × 4 + 1 sink × 2 + 1 source.
  REQUIRE(t.dfg.num_edges() == 6 + 12 + 2 + 1);
  REQUIRE(t.dfg.finalized());
  REQUIRE(t.dfg.node(t.forward[0]).name == "F:l1");
  REQUIRE(t.dfg.node(t.backward[2]).name == "B:l3");
  REQUIRE(t.dfg.node(t.update[1]).name == "U:l2");
  REQUIRE(t.loss == std::vector<int>{t.dfg.num_nodes() - 2});
  REQUIRE(t.loss_layer == std::vector<int>{2});
  REQUIRE(t.dfg.node(t.loss[0]).name == "E:l3");
  REQUIRE(t.dfg.node(t.input).name == "input");
  REQUIRE(t.dfg.node(t.forward[1]).time == 2.0);   // l2's forward cost
  REQUIRE(t.dfg.node(t.backward[1]).time == 2.0);  // input_grad + weight_grad
  REQUIRE(t.node_stage[static_cast<std::size_t>(t.loss[0])] == 1);  // the loss lives with its sink
  REQUIRE(t.node_stage[static_cast<std::size_t>(t.input)] == 0);

  const auto e = [&](int i) { return t.dfg.edge(i); };
  REQUIRE(e(t.forward_edge[0]) == sdf_edge{t.forward[0], t.forward[1], 0});
  REQUIRE(e(t.backward_edge[0]) == sdf_edge{t.backward[1], t.backward[0], 0});
  REQUIRE(e(t.activation_edge[1]) == sdf_edge{t.forward[1], t.backward[2], 0});
  REQUIRE(e(t.local_edge[2]) == sdf_edge{t.forward[2], t.backward[2], 0});
  REQUIRE(e(t.weight_edge[0]) == sdf_edge{t.update[0], t.forward[0], 1});
  REQUIRE(e(t.history_edge[0]) == sdf_edge{t.update[0], t.backward[0], 1});
  REQUIRE(e(t.feedback_edge[0]) == sdf_edge{t.backward[0], t.update[0], 0});
  REQUIRE(t.edge_kind[static_cast<std::size_t>(t.feedback_edge[1])] == dfg_edge_kind::feedback);
  REQUIRE(t.edge_kind[static_cast<std::size_t>(t.activation_edge[0])] == dfg_edge_kind::activation);

  // Demands: boundary crossings either way, exactly one register on U -> F.
  REQUIRE(t.min_registers(t.forward_edge[0]) == 1);     // l1 -> l2 crosses 0|1
  REQUIRE(t.min_registers(t.forward_edge[1]) == 0);     // inside stage 1
  REQUIRE(t.min_registers(t.backward_edge[0]) == 1);    // δ back across 1|0
  REQUIRE(t.min_registers(t.activation_edge[0]) == 1);  // a_1 to stage 1
  REQUIRE(t.min_registers(t.weight_edge[2]) == 1);
  REQUIRE(t.min_registers(t.feedback_edge[0]) == 0);
  REQUIRE_THROWS_WITH(t.min_registers(t.dfg.num_edges()), Catch::Contains("edge index out of range"));

  // Unpipelined, layer l1's update loop U -> F -> F -> F -> E -> B -> B -> B -> U holds only the
  // weight register (REFERENCE §3.2); the DLMS delays add theirs.
  const std::vector<int> loop{t.weight_edge[0], t.forward_edge[0], t.forward_edge[1], t.dfg.in_edges(t.loss[0])[0],
                              t.dfg.out_edges(t.loss[0])[0], t.backward_edge[1], t.backward_edge[0],
                              t.feedback_edge[0]};
  REQUIRE(path_delays(t.dfg, loop) == 1);
  const training_dfg d = build_training_dfg(g, p, delays{2, 0, 0});
  REQUIRE(path_delays(d.dfg, loop) == 3);

  // Edges come in a topological order of the DFG without its feedback edges: every edge's
  // source has all its in-edges earlier (U's only in-edge is the feedback edge).
  for (int i = 0; i < t.dfg.num_edges(); ++i) {
    if (t.edge_kind[static_cast<std::size_t>(i)] == dfg_edge_kind::feedback) continue;
    for (int j : t.dfg.in_edges(e(i).from))
      if (t.edge_kind[static_cast<std::size_t>(j)] != dfg_edge_kind::feedback) REQUIRE(j < i);
  }
}

TEST_CASE("the derivation's constraints settle in one Bellman-Ford sweep", "[retime][layerpipe][dfg]") {
  // The DFG lists its edges in topological order (feedback last), so one in-place sweep over the
  // constraints from x = 0 already reaches the engine's answer: its second pass changes nothing.
  const std::vector<std::pair<graph, partition>> cases{
      {chain_of(9), partition::contiguous({2, 3, 1, 3})},
      {dag({"in", "a", "b", "out"}, {{0, 1}, {1, 2}, {2, 3}, {0, 3}}), partition({0, 1, 2, 3})},
      {dag({"stem", "trunk", "aux", "body", "head"}, {{0, 1}, {1, 2}, {1, 3}, {3, 4}}), partition({0, 1, 1, 2, 3})},
      {resnet_like(4), partition::contiguous({3, 3, 3, 2})}};
  for (const auto& [g, p] : cases) {
    const training_dfg t = build_training_dfg(g, p);
    const auto cs = detail::layerpipe_impl::lag_constraints(t, false);
    // The fused pass derive_delays uses writes the same constraints while it builds the DFG.
    std::vector<difference_constraint> fused;
    (void)detail::layerpipe_impl::build(g, p, {}, false, false, "test",
                                        detail::layerpipe_impl::constraint_writer{&fused, false, 0});
    REQUIRE(fused == cs);
    std::vector<std::int64_t> x(static_cast<std::size_t>(t.dfg.num_nodes()), 0);
    for (const difference_constraint& c : cs)
      x[static_cast<std::size_t>(c.u)] = std::min(x[static_cast<std::size_t>(c.u)], x[static_cast<std::size_t>(c.v)] + c.bound);
    const delay_plan plan = derive_delays(g, p);
    for (std::size_t v = 0; v < x.size(); ++v) REQUIRE(-x[v] == plan.lags[v]);
  }
}

TEST_CASE("delays on chains equal 2·S(l): one layer per stage", "[retime][layerpipe][chain]") {
  for (int layers = 1; layers <= 8; ++layers) {
    CAPTURE(layers);
    const graph g = chain_of(layers);
    std::vector<int> map;
    for (int l = 0; l < layers; ++l) map.push_back(l);
    const partition p(map);
    const delay_plan plan = derive_delays(g, p);
    for (int l = 0; l < layers; ++l) {
      REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_s(p, l));
      REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == 2 * (layers - 1 - l));  // REFERENCE §3.4: 2(L − l)
    }
    require_minimal(g, p, plan.delay_clocks);
    require_consistent_storage(g, p, plan);
  }
}

TEST_CASE("delays on chains equal 2·S(l): equal and uneven groups", "[retime][layerpipe][chain]") {
  SECTION("the REFERENCE example {1},{2,3,4},{5,6}") {
    const graph g = chain_of(6);
    const partition p = partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6);
    const delay_plan plan = derive_delays(g, p);
    REQUIRE(plan.delay_clocks == delays{4, 2, 2, 2, 0, 0});
    REQUIRE(plan.stages == 3);
    require_minimal(g, p, plan.delay_clocks);
  }
  SECTION("P = 1 is plain SGD: no delay, no history, one activation") {
    const graph g = chain_of(5);
    const delay_plan plan = derive_delays(g, partition({0, 0, 0, 0, 0}));
    REQUIRE(plan.delay_clocks == delays(5, 0));
    REQUIRE(plan.weight_versions == delays(5, 0));
    REQUIRE(plan.local_stash_depth == delays(5, 1));
    for (const edge_stash& s : plan.stash) {
      REQUIRE(s.forward_registers == 0);
      REQUIRE(s.depth == 1);
    }
    REQUIRE(plan.weight_bytes_per_stage == std::vector<double>{0.0});
  }
  SECTION("equal groups: 12 layers over every divisor") {
    const graph g = chain_of(12);
    for (int stages : {1, 2, 3, 4, 6, 12}) {
      CAPTURE(stages);
      const partition p = partition::contiguous(std::vector<int>(static_cast<std::size_t>(stages), 12 / stages));
      const delay_plan plan = derive_delays(g, p);
      for (int l = 0; l < 12; ++l) REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_s(p, l));
      require_consistent_storage(g, p, plan);
    }
  }
  SECTION("uneven groups: random contiguous partitions") {
    lcg rng{20251127};
    for (int round = 0; round < 40; ++round) {
      const int layers = 1 + rng.next(14);
      const int stages = 1 + rng.next(layers);
      // Cut points: stages − 1 distinct boundaries among the layers − 1 gaps.
      std::vector<int> sizes(static_cast<std::size_t>(stages), 1);
      for (int extra = layers - stages; extra > 0; --extra) ++sizes[static_cast<std::size_t>(rng.next(stages))];
      const graph g = chain_of(layers);
      const partition p = partition::contiguous(sizes);
      CAPTURE(layers, sizes);
      const delay_plan plan = derive_delays(g, p);
      for (int l = 0; l < layers; ++l) REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_s(p, l));
      // REFERENCE §3.4: non-increasing, equal inside a stage, −2 at each boundary, 2(P − 1) → 0.
      REQUIRE(plan.delay_clocks.front() == 2 * (stages - 1));
      REQUIRE(plan.delay_clocks.back() == 0);
      for (int l = 1; l < layers; ++l)
        REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l - 1)] - plan.delay_clocks[static_cast<std::size_t>(l)] ==
                2 * (p.stage_of(l) - p.stage_of(l - 1)));
      if (layers <= 8) require_minimal(g, p, plan.delay_clocks);
      require_consistent_storage(g, p, plan);
    }
  }
}

TEST_CASE("the lags and retimed weights are those of REFERENCE §3.3", "[retime][layerpipe][chain]") {
  // {1},{2,3,4},{5,6}: P = 3. 0-based stage s: r(F) = r(U) = s, r(B) = 2(P − 1) − s, r(E) = P − 1,
  // host 0.
  const graph g = chain_of(6);
  const partition p = partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6);
  const delay_plan plan = derive_delays(g, p);
  const training_dfg t = build_training_dfg(g, p, plan.delay_clocks);
  const retiming& r = plan.lags;
  REQUIRE(r.size() == static_cast<std::size_t>(t.dfg.num_nodes()));
  REQUIRE(r[static_cast<std::size_t>(t.input)] == 0);
  REQUIRE(r[static_cast<std::size_t>(t.loss[0])] == 2);
  for (int l = 0; l < 6; ++l) {
    const auto ul = static_cast<std::size_t>(l);
    const int s = p.stage_of(l);
    CAPTURE(l);
    REQUIRE(r[static_cast<std::size_t>(t.forward[ul])] == s);
    REQUIRE(r[static_cast<std::size_t>(t.update[ul])] == s);
    REQUIRE(r[static_cast<std::size_t>(t.backward[ul])] == 4 - s);
    const std::int64_t twice_s = two_s(p, l);
    REQUIRE(wr(t, r, t.weight_edge[ul]) == 1);                 // forward reads the current weights
    REQUIRE(wr(t, r, t.history_edge[ul]) == 1 + twice_s);      // weight history
    REQUIRE(wr(t, r, t.feedback_edge[ul]) == 0);               // d_l − 2S(l)
    REQUIRE(wr(t, r, t.local_edge[ul]) == twice_s);            // z_l kept 2S(l) clocks
    if (l > 0) {
      const auto e = ul - 1;  // edge l−1 -> l
      const bool across = p.stage_of(l - 1) != s;
      REQUIRE(wr(t, r, t.forward_edge[e]) == (across ? 1 : 0));
      REQUIRE(wr(t, r, t.backward_edge[e]) == (across ? 1 : 0));
      REQUIRE(wr(t, r, t.activation_edge[e]) == twice_s + (across ? 1 : 0));
    }
  }
  // Every loop keeps its registers: the retimed graph has the same loop counts, and each update
  // loop holds 1 + d_l.
  const sdf_graph after = retimed(t.dfg, r);
  for (int l = 0; l < 6; ++l) {
    const auto ul = static_cast<std::size_t>(l);
    const std::vector<int> small_loop{t.history_edge[ul], t.feedback_edge[ul]};  // U -> B -> U
    REQUIRE(path_delays(after, small_loop) == path_delays(t.dfg, small_loop));
    REQUIRE(path_delays(t.dfg, small_loop) == 1 + plan.delay_clocks[ul]);
  }
}

TEST_CASE("weight versions, stash depths and staleness on a chain", "[retime][layerpipe][storage]") {
  // {1},{2,3,4},{5,6}; layer li has activation_bytes 100·i and weight_bytes 1000·i.
  const graph g = chain_of(6);
  const partition p = partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6);
  const delay_plan plan = derive_delays(g, p);
  // REFERENCE §3.6: 2S past versions, 2S + 1 with the current; the last stage keeps none.
  REQUIRE(plan.weight_versions == delays{4, 2, 2, 2, 0, 0});
  REQUIRE(plan.versions_with_current(0) == 5);
  REQUIRE(plan.versions_with_current(5) == 1);
  REQUIRE(plan.weight_bytes_per_layer == std::vector<double>{4000, 4000, 6000, 8000, 0, 0});
  REQUIRE(plan.weight_bytes_per_stage == std::vector<double>{4000, 18000, 0});
  // z_l for 2S(l) + 1 micro-batches; a_{l−1} one more where it crossed a boundary.
  REQUIRE(plan.local_stash_depth == delays{5, 3, 3, 3, 1, 1});
  std::vector<std::int64_t> depth, forward;
  for (const edge_stash& s : plan.stash) {
    depth.push_back(s.depth);
    forward.push_back(s.forward_registers);
  }
  REQUIRE(depth == delays{4, 3, 3, 2, 1});   // edges l1->l2 (crosses), l2->l3, l3->l4, l4->l5 (crosses), l5->l6
  REQUIRE(forward == delays{1, 0, 0, 1, 0});
  // Own z plus the incoming a: l2 3 × 200 + 4 × 100 = 1000, l3 3 × 300 + 3 × 200 = 1500,
  // l4 3 × 400 + 3 × 300 = 2100, l5 1 × 500 + 2 × 400 = 1300, l6 1 × 600 + 1 × 500 = 1100.
  REQUIRE(plan.stash_bytes_per_layer == std::vector<double>{500, 1000, 1500, 2100, 1300, 1100});
  REQUIRE(plan.stash_bytes_per_stage == std::vector<double>{500, 4600, 2400});
  REQUIRE(plan.stash[3].forward_bytes == 400);
  // REFERENCE §3.5: systolic 2S(l) updates, 1F1B without flush S(l).
  REQUIRE(plan.staleness_updates(0, pipelining_style::systolic) == 4);
  REQUIRE(plan.staleness_updates(0, pipelining_style::one_f_one_b) == 2);
  REQUIRE(plan.staleness_updates(2, pipelining_style::one_f_one_b) == 1);
  REQUIRE(plan.staleness_updates(5, pipelining_style::systolic) == 0);
  REQUIRE_THROWS_WITH(plan.staleness_updates(6, pipelining_style::systolic),
                      Catch::Contains("layer index 6 is out of range"));
  REQUIRE_THROWS_WITH(plan.versions_with_current(-1), Catch::Contains("layer index -1 is out of range"));
  require_consistent_storage(g, p, plan);
}

TEST_CASE("DAG by hand: a skip connection crossing three stages", "[retime][layerpipe][dag]") {
  // in -> a -> b -> out, plus the skip in -> out; one layer per stage, P = 4.
  //
  //   stage 0     stage 1     stage 2     stage 3
  //   F:in ────► F:a ─────► F:b ─────► F:out ─► E:out      r(F) = 0, 1, 2, 3
  //     └───────────── skip, 3 registers ──────┘
  //   B:in ◄──── B:a ◄───── B:b ◄───── B:out ◄─ E:out      r(B) = 6, 5, 4, 3
  //
  // Every layer reaches the last stage, so each update loop crosses 2·(3 − s) boundaries: delays
  // 6, 4, 2, 0, as on a chain. What the skip adds is storage: F:in -> F:out must carry 3
  // registers (w_r = r(F:out) − r(F:in) = 3), and a_in waits for B:out from clock 0 to clock 3:
  // w_r(F:in -> B:out) = 3, depth 4. The chain edge b -> out holds a_b for 3 − 2 = 1 clock
  // (depth 2); in -> a holds a_in for r(B:a) − r(F:in) = 5 clocks (depth 6 = 2S(a) + 1 + 1).
  const graph g = dag({"in", "a", "b", "out"}, {{0, 1}, {1, 2}, {2, 3}, {0, 3}});
  const partition p({0, 1, 2, 3});
  const delay_plan plan = derive_delays(g, p);
  REQUIRE(plan.delay_clocks == delays{6, 4, 2, 0});
  for (int l = 0; l < 4; ++l) REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_reach(g, p, l));
  REQUIRE(plan.stash[3].forward_registers == 3);
  REQUIRE(plan.stash[3].depth == 4);
  REQUIRE(plan.stash[3].bytes == 4 * 10.0);
  REQUIRE(plan.stash[3].forward_bytes == 3 * 10.0);
  REQUIRE(plan.stash[2].depth == 2);
  REQUIRE(plan.stash[0].depth == 6);
  // out keeps a_b (2 × 30), a_in (4 × 10) and its own z (1 × 40).
  REQUIRE(plan.stash_bytes_per_layer[3] == 2 * 30.0 + 4 * 10.0 + 40.0);
  require_minimal(g, p, plan.delay_clocks);
  require_consistent_storage(g, p, plan);

  // The same network with in, a in stage 0 and b, out in stage 1: the skip crosses one boundary.
  const partition two({0, 0, 1, 1});
  const delay_plan q = derive_delays(g, two);
  REQUIRE(q.delay_clocks == delays{2, 2, 0, 0});
  REQUIRE(q.stash[3].forward_registers == 1);
  REQUIRE(q.stash[3].depth == 2);
}

TEST_CASE("DAG by hand: a branch with two losses, one in a middle stage", "[retime][layerpipe][dag]") {
  // stem -> trunk -> body -> head, and trunk -> aux (an auxiliary head, its own loss);
  // stages: stem 0, trunk 1, aux 1, body 2, head 3 (P = 4).
  //
  //   stage 0    stage 1              stage 2    stage 3
  //   F:stem ──► F:trunk ──────────► F:body ──► F:head ─► E:head
  //                 └─► F:aux ─► E:aux                       │
  //   B:stem ◄── B:trunk ◄────────── B:body ◄── B:head ◄─────┘
  //                 ▲── B:aux ◄── E:aux
  //
  // Two sinks, two loss nodes, each in its sink's stage. aux's update loop is
  // U:aux -> F:aux -> E:aux -> B:aux -> U:aux, all in stage 1: it crosses nothing, so aux needs no
  // delay although trunk, in the same stage, needs 4 (its loop runs to stage 3 and back: 2 + 2).
  // The closed form 2·S(l) = 4 would be legal for aux but not the smallest. stem: 2·3 = 6, body 2,
  // head 0. Lags r(F) = s, r(B) = 2·(deepest stage reached) − s: B:aux at 2·1 − 1 = 1 (the clock of
  // its forward), B:body at 2·3 − 2 = 4. So a_trunk waits w_r = 1 − 1 = 0 clocks for B:aux
  // (depth 1) and 4 − 1 = 3 for B:body (depth 4 = 2S(body) + 1 + 1, a boundary crossed).
  const graph g = dag({"stem", "trunk", "aux", "body", "head"}, {{0, 1}, {1, 2}, {1, 3}, {3, 4}});
  const partition p({0, 1, 1, 2, 3});
  const training_dfg t = build_training_dfg(g, p);
  REQUIRE(t.loss_layer == std::vector<int>{2, 4});
  REQUIRE(t.node_stage[static_cast<std::size_t>(t.loss[0])] == 1);
  REQUIRE(t.node_stage[static_cast<std::size_t>(t.loss[1])] == 3);
  REQUIRE(t.dfg.node(t.loss[0]).name == "E:aux");

  const delay_plan plan = derive_delays(g, p);
  REQUIRE(plan.delay_clocks == delays{6, 4, 0, 2, 0});
  for (int l = 0; l < 5; ++l) REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_reach(g, p, l));
  REQUIRE(plan.lags[static_cast<std::size_t>(t.backward[2])] == 1);
  REQUIRE(plan.stash[1].depth == 1);  // trunk -> aux
  REQUIRE(plan.stash[2].depth == 4);  // trunk -> body
  REQUIRE(plan.weight_versions[2] == 0);
  REQUIRE(plan.staleness_updates(2, pipelining_style::systolic) == 0);
  require_minimal(g, p, plan.delay_clocks);
  require_consistent_storage(g, p, plan);
  // A user may still give aux the chain rule's 4: more registers are always legal.
  REQUIRE(delays_are_legal(g, p, delays{6, 4, 4, 2, 0}));
}

TEST_CASE("DAG: a second input entering at a later stage", "[retime][layerpipe][dag]") {
  // image (stage 0) and text (stage 1) both feed fuse (stage 2) -> head (stage 2). The host
  // vertex feeds both sources; its edge to text crosses one boundary, so F:text sits at lag 1,
  // the clock the micro-batch reaches stage 1. Without that demand the earliest retiming would put
  // F:text at lag 0, a clock before it is needed, and charge text's loop for the wait:
  // r(B:text) − r(F:text) = 3 instead of 2. With it the delays are 2 × stages reached: image
  // 2·2 = 4, text 2·1 = 2, fuse 0, head 0.
  const graph g = dag({"image", "text", "fuse", "head"}, {{0, 2}, {1, 2}, {2, 3}});
  const partition p({0, 1, 2, 2});
  const delay_plan plan = derive_delays(g, p);
  REQUIRE(plan.delay_clocks == delays{4, 2, 0, 0});
  const training_dfg t = build_training_dfg(g, p, plan.delay_clocks);
  REQUIRE(plan.lags[static_cast<std::size_t>(t.forward[1])] == 1);
  require_minimal(g, p, plan.delay_clocks);
  require_consistent_storage(g, p, plan);
}

TEST_CASE("DAGs from the builders match the reach rule and are minimal", "[retime][layerpipe][dag]") {
  struct example {
    const char* name;
    graph g;
  };
  const std::vector<example> nets{{"resnet_like(3)", resnet_like(3)},
                                  {"unet_like(3)", unet_like(3)},
                                  {"transformer_like(4)", transformer_like(4)}};
  for (const auto& [name, g] : nets) {
    for (int stages : {1, 2, 3, 5}) {
      CAPTURE(name, stages);
      // Contiguous groups in index order (the builders number layers topologically).
      std::vector<int> sizes(static_cast<std::size_t>(stages), g.num_layers() / stages);
      sizes.back() += g.num_layers() % stages;
      const partition p = partition::contiguous(sizes);
      const delay_plan plan = derive_delays(g, p);
      for (int l = 0; l < g.num_layers(); ++l)
        REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_reach(g, p, l));
      if (g.num_layers() <= 16) require_minimal(g, p, plan.delay_clocks);
      require_consistent_storage(g, p, plan);
    }
  }
}

TEST_CASE("random DAGs: delays follow the reach rule, one register less always breaks a loop",
          "[retime][layerpipe][dag]") {
  lcg rng{7};
  for (int round = 0; round < 30; ++round) {
    const int n = 2 + rng.next(7);
    std::vector<std::string> names;
    for (int i = 0; i < n; ++i) names.push_back("n" + std::to_string(i));
    std::vector<edge> edges;
    for (int u = 0; u < n; ++u)
      for (int v = u + 1; v < n; ++v)
        if (rng.next(3) == 0) edges.push_back({u, v});
    const graph g = dag(names, edges);
    // A monotone stage map in index order (index order is topological here), no empty stage.
    std::vector<int> map{0};
    for (int i = 1; i < n; ++i) map.push_back(map.back() + (rng.next(2) == 0 ? 1 : 0));
    const partition p(map);
    CAPTURE(edges.size(), map);
    const delay_plan plan = derive_delays(g, p);
    for (int l = 0; l < n; ++l) REQUIRE(plan.delay_clocks[static_cast<std::size_t>(l)] == two_reach(g, p, l));
    require_minimal(g, p, plan.delay_clocks);
    require_consistent_storage(g, p, plan);
  }
}

TEST_CASE("check_delays names the short loop", "[retime][layerpipe][errors]") {
  const graph g = chain_of(6);
  const partition p = partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6);
  REQUIRE_THROWS_WITH(check_delays(g, p, delays{4, 2, 2, 1, 0, 0}),
                      "layerpipe: check_delays: layer 'l4' (layer 3, stage 1): its update loop needs >= 2 "
                      "gradient-delay registers on B:l4 -> U:l4, got 1; the loop U:l4 -> F:l4 -> F:l5 -> F:l6 -> "
                      "E:l6 -> B:l6 -> B:l5 -> B:l4 -> U:l4 crosses 2 stage boundaries");
  // The first short loop in layer order is named.
  REQUIRE_THROWS_WITH(check_delays(g, p, delays{0, 0, 0, 0, 0, 0}),
                      Catch::Contains("layer 'l1' (layer 0, stage 0)") && Catch::Contains("needs >= 4") &&
                          Catch::Contains("got 0"));
  // A long loop is shortened in the middle.
  const graph long_chain = chain_of(20);
  std::vector<int> map(20, 0);
  map[19] = 1;
  REQUIRE_THROWS_WITH(check_delays(long_chain, partition(map), delays(20, 0)),
                      Catch::Contains("U:l1 -> F:l1 -> F:l2") && Catch::Contains("more)") &&
                          Catch::Contains("B:l2 -> B:l1 -> U:l1 crosses 2 stage boundaries"));
  // Legal assignments pass, larger ones too.
  REQUIRE_NOTHROW(check_delays(g, p, delays{4, 2, 2, 2, 0, 0}));
  REQUIRE_NOTHROW(check_delays(g, p, delays{9, 9, 9, 9, 9, 9}));
  REQUIRE_NOTHROW(check_delays(g, p, delays{std::int64_t{1} << 60, 2, 2, 2, 0, 0}));
}

TEST_CASE("bad input is rejected, naming the rule", "[retime][layerpipe][errors]") {
  const graph g = chain_of(4);
  SECTION("a partition of a different network") {
    REQUIRE_THROWS_WITH(derive_delays(g, partition({0, 1, 2})),
                        Catch::Contains("the partition covers 3 layers but the network has 4 layers"));
    REQUIRE_THROWS_WITH(build_training_dfg(g, partition({0, 0, 1, 1, 1})),
                        Catch::Contains("the partition covers 5 layers but the network has 4 layers"));
    REQUIRE_THROWS_WITH(check_delays(g, partition({0}), delays{0, 0, 0, 0}),
                        Catch::Contains("check_delays: the partition covers 1 layers"));
  }
  SECTION("partition rules from graph/partition: an edge back a stage, an empty stage") {
    REQUIRE_THROWS_WITH(derive_delays(g, partition({0, 1, 0, 1})), Catch::Contains("from stage 1 back to stage 0"));
    REQUIRE_THROWS_WITH(derive_delays(g, partition({0, 0, 2, 2})), Catch::Contains("stage 1 of 3 is empty"));
  }
  SECTION("negative delays and the wrong number of delays") {
    const partition p({0, 1, 1, 2});
    REQUIRE_THROWS_WITH(check_delays(g, p, delays{4, 2, -1, 0}),
                        Catch::Contains("must be >= 0, got delays[2] = -1 for layer 'l3'"));
    REQUIRE_THROWS_WITH(build_training_dfg(g, p, delays{0, -2, 0, 0}),
                        Catch::Contains("got delays[1] = -2 for layer 'l2'"));
    REQUIRE_THROWS_WITH(delays_are_legal(g, p, delays{-1, 0, 0, 0}), Catch::Contains("delays[0] = -1"));
    REQUIRE_THROWS_WITH(check_delays(g, p, delays{4, 2, 2}),
                        Catch::Contains("one gradient delay per layer is needed, got 3 delays for 4 layers"));
    REQUIRE_THROWS_WITH(check_delays(g, p, delays{}), Catch::Contains("got 0 delays for 4 layers"));
    REQUIRE_THROWS_WITH(build_training_dfg(g, p, delays{1, 1, 1, 1, 1}), Catch::Contains("got 5 delays"));
    REQUIRE_THROWS_WITH(check_delays(g, p, delays{4, (std::int64_t{1} << 60) + 1, 2, 0}),
                        Catch::Contains("must be <= 2^60, got delays[1] = 1152921504606846977"));
  }
}

TEST_CASE("one algorithm at compile time and at run time", "[retime][layerpipe][constexpr]") {
  STATIC_REQUIRE(derive_delays(graph::chain({{"a", 1}, {"b", 1}, {"c", 1}}), partition({0, 1, 2})).delay_clocks ==
                 delays{4, 2, 0});
  STATIC_REQUIRE(!delays_are_legal(graph::chain({{"a", 1}, {"b", 1}, {"c", 1}}), partition({0, 1, 2}),
                                   delays{3, 2, 0}));
  const graph g = chain_of(3);
  REQUIRE(derive_delays(g, partition({0, 1, 2})).delay_clocks == delays{4, 2, 0});
  REQUIRE_FALSE(delays_are_legal(g, partition({0, 1, 2}), delays{3, 2, 0}));
}

TEST_CASE("the DFG's edges enumerated: the chain walk lists what the adjacency walk lists",
          "[retime][layerpipe][dfg]") {
  // derive_delays never stores the DFG: it enumerates its edges (for_each_dfg_edge) for the
  // solver and for the check. On a chain listed as graph::chain lists it the walk skips the
  // adjacency index; both walks must give build_training_dfg's edges, in its order.
  namespace impl = detail::layerpipe_impl;
  using record = std::tuple<dfg_edge_kind, int, int, std::int64_t, std::int64_t, int>;
  const auto walk = [](const graph& g, const partition& p, const impl::dfg_numbering& nb, const delays& d) {
    std::vector<record> out;
    impl::for_each_dfg_edge(g, p, nb, d, [&](dfg_edge_kind k, int from, int to, std::int64_t w, std::int64_t q, int i) {
      out.emplace_back(k, from, to, w, q, i);
    });
    return out;
  };
  const std::vector<std::pair<graph, partition>> chains{
      {chain_of(1), partition({0})},
      {chain_of(2), partition({0, 1})},
      {chain_of(6), partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6)},
      {chain_of(9), partition::contiguous({2, 3, 1, 3})}};
  for (const auto& [g, p] : chains) {
    CAPTURE(g.num_layers());
    const delays d = derive_delays(g, p).delay_clocks;
    impl::dfg_numbering nb = impl::number_dfg(g, "test");
    REQUIRE(nb.chain);
    const std::vector<record> by_chain = walk(g, p, nb, d);
    nb.chain = false;
    REQUIRE(walk(g, p, nb, d) == by_chain);
    const training_dfg t = build_training_dfg(g, p, d);
    REQUIRE(by_chain.size() == static_cast<std::size_t>(t.dfg.num_edges()));
    REQUIRE(nb.nodes == t.dfg.num_nodes());
    for (std::size_t e = 0; e < by_chain.size(); ++e) {
      const auto& [kind, from, to, w, q, index] = by_chain[e];
      REQUIRE(t.dfg.edge(static_cast<int>(e)) == sdf_edge{from, to, w});
      REQUIRE(t.edge_kind[e] == kind);
      REQUIRE(t.min_registers(static_cast<int>(e)) == q);
      const auto ui = static_cast<std::size_t>(index);
      if (kind == dfg_edge_kind::forward) REQUIRE(t.forward_edge[ui] == static_cast<int>(e));
      if (kind == dfg_edge_kind::feedback) REQUIRE(t.feedback_edge[ui] == static_cast<int>(e));
    }
  }
  // The same chain with its edges listed in another order is walked through the index (edge 0
  // enters layer 2 here) and still gets 2·S(l).
  const graph shuffled = dag({"a", "b", "c"}, {{1, 2}, {0, 1}});
  REQUIRE(shuffled.is_chain());
  REQUIRE_FALSE(impl::number_dfg(shuffled, "test").chain);
  REQUIRE(derive_delays(shuffled, partition({0, 1, 2})).delay_clocks == delays{4, 2, 0});
  REQUIRE(derive_delays(shuffled, partition({0, 1, 2})).stash[0].forward_registers == 1);
}
