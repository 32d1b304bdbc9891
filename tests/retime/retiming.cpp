// Retiming engine basics: sdf_graph, legality, retimed graphs, the loop invariant, clock period,
// iteration bound, difference constraints. Circuits are worked by hand in the comments;
// STATIC_REQUIRE runs the same functions in a constant evaluation.
#include "layerpipe_test.hpp"
#include "retime/sdf_circuits.hpp"

#include <layerpipe/retime/constraints.hpp>
#include <layerpipe/retime/retiming.hpp>
#include <layerpipe/retime/sdf_graph.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <tuple>
#include <vector>

using namespace layerpipe;
using layerpipe::test::correlator;
using layerpipe::test::parhi_iir;

namespace {

using layerpipe::test::lcg;

// a -> b (0 registers), b -> a (2): the usage example of retiming.hpp.
constexpr sdf_graph two_loop() {
  sdf_graph g;
  g.add_node("a", 3);
  g.add_node("b", 7);
  g.add_edge(0, 1, 0);
  g.add_edge(1, 0, 2);
  return g;
}

// Random circuit with integer times; edges "forward" in index order may carry 0 registers,
// backward edges and self-loops carry >= 1, so there is never a zero-delay cycle.
sdf_graph random_circuit(lcg& rng, int n, int m) {
  sdf_graph g;
  for (int i = 0; i < n; ++i) g.add_node("", rng.next(6));
  for (int k = 0; k < m; ++k) {
    const int u = rng.next(n), v = rng.next(n);
    g.add_edge(u, v, u < v ? rng.next(2) : 1 + rng.next(3));
  }
  g.finalize();
  return g;
}

// Exhaustive max over simple cycles of Σ time / Σ registers (edges enumerated, so parallel
// edges count), for tiny graphs: the reference for iteration_bound.
double brute_force_iteration_bound(const sdf_graph& g) {
  double best = 0;
  const int n = g.num_nodes();
  std::vector<bool> on_path(static_cast<std::size_t>(n), false);
  // Cycles whose smallest node is `start`: DFS over nodes > start.
  std::function<void(int, int, double, std::int64_t)> dfs = [&](int start, int v, double time, std::int64_t w) {
    for (int e : g.out_edges(v)) {
      const auto& x = g.edge(e);
      const double t = time + g.node(v).time;
      if (x.to == start) {
        best = std::max(best, t / static_cast<double>(w + x.delays));
      } else if (x.to > start && !on_path[static_cast<std::size_t>(x.to)]) {
        on_path[static_cast<std::size_t>(x.to)] = true;
        dfs(start, x.to, t, w + x.delays);
        on_path[static_cast<std::size_t>(x.to)] = false;
      }
    }
  };
  for (int s = 0; s < n; ++s) {
    on_path[static_cast<std::size_t>(s)] = true;
    dfs(s, s, 0, 0);
    on_path[static_cast<std::size_t>(s)] = false;
  }
  return best;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// sdf_graph

TEST_CASE("sdf_graph: nodes, edges and the adjacency index", "[retime][sdf_graph]") {
  constexpr auto build = [] {
    sdf_graph g = correlator();
    return g.num_nodes() * 100 + g.num_edges() * 10 + static_cast<int>(g.out_edges(3).size());
  };
  STATIC_REQUIRE(build() == 8 * 100 + 11 * 10 + 2);  // v3 -> v4 and v3 -> v5

  const auto g = correlator();
  REQUIRE(g.num_nodes() == 8);
  REQUIRE(g.num_edges() == 11);
  REQUIRE(g.node(5).name == "v5");
  REQUIRE(g.node(5).time == 7);
  REQUIRE(g.edge(10) == sdf_edge{7, 0, 0});
  REQUIRE(std::vector<int>(g.out_edges(3).begin(), g.out_edges(3).end()) == std::vector<int>{3, 5});
  REQUIRE(std::vector<int>(g.in_edges(7).begin(), g.in_edges(7).end()) == std::vector<int>{8, 9});
  REQUIRE(g.in_edges(1).size() == 1);
  REQUIRE(g.nodes().size() == 8);
  REQUIRE(g.edges().size() == 11);

  // The whole-graph constructor validates and indexes.
  const sdf_graph h({{"x", 1}, {"y", 2}}, {{0, 1, 0}, {1, 0, 1}, {1, 1, 1}});
  REQUIRE(h.finalized());
  REQUIRE(h.out_edges(1).size() == 2);

  // set_delays keeps the index and checks the count.
  sdf_graph k = two_loop();
  k.set_delays(1, 5);
  REQUIRE(k.edge(1).delays == 5);
  REQUIRE_THROWS_WITH(k.set_delays(1, -2), Catch::Contains("delay count must be >= 0") && Catch::Contains("-2"));
}

TEST_CASE("sdf_graph: bad input names the rule and the value", "[retime][sdf_graph][errors]") {
  sdf_graph g;
  g.add_node("a", 1);
  REQUIRE_THROWS_WITH(g.add_node("neg", -1), Catch::Contains("time must be finite and >= 0") &&
                                                 Catch::Contains("-1") && Catch::Contains("'neg'"));
  REQUIRE_THROWS_WITH(g.add_node("nan", std::nan("")), Catch::Contains("time must be finite") && Catch::Contains("'nan'"));
  REQUIRE_THROWS_WITH(g.add_node("inf", std::numeric_limits<double>::infinity()),
                      Catch::Contains("time must be finite"));
  REQUIRE_THROWS_WITH(g.add_edge(0, 3, 0), Catch::Contains("edge 0 goes 0 -> 3") && Catch::Contains("1 nodes"));
  REQUIRE_THROWS_WITH(g.add_edge(-1, 0, 0), Catch::Contains("goes -1 -> 0"));
  REQUIRE_THROWS_WITH(g.add_edge(0, 0, -1), Catch::Contains("delay count must be >= 0") && Catch::Contains("-1"));
  REQUIRE_THROWS_WITH(g.node(4), Catch::Contains("node index out of range") && Catch::Contains("node 4"));
  REQUIRE_THROWS_WITH(g.edge(0), Catch::Contains("edge index out of range"));
  REQUIRE(g.num_nodes() == 1);  // failed calls add nothing
  REQUIRE(g.num_edges() == 0);
  g.add_edge(0, 0, 1);
  REQUIRE_THROWS_WITH(g.out_edges(0), Catch::Contains("call finalize()"));
  g.finalize();
  REQUIRE(g.out_edges(0).size() == 1);
  REQUIRE_THROWS_WITH(sdf_graph({{"p", 1}}, {{0, 1, 0}}), Catch::Contains("edge 0 goes 0 -> 1"));
  REQUIRE_THROWS_WITH(sdf_graph({{"p", -0.5}}, {}), Catch::Contains("time must be finite and >= 0"));
}

// ---------------------------------------------------------------------------------------------
// Legality, retimed graph, loop invariant

TEST_CASE("retiming: legality and the retimed graph", "[retime][retiming]") {
  // two_loop with r = {0, 1}: w_r(a->b) = 0 + 1 - 0 = 1, w_r(b->a) = 2 + 0 - 1 = 1.
  STATIC_REQUIRE(retimed_delays(two_loop(), {0, 1}, 0) == 1);
  STATIC_REQUIRE(retimed_delays(two_loop(), {0, 1}, 1) == 1);
  STATIC_REQUIRE(is_legal(two_loop(), {0, 1}));
  STATIC_REQUIRE(is_legal(two_loop(), {0, 2}));   // w_r = 2, 0
  STATIC_REQUIRE(!is_legal(two_loop(), {0, 3}));  // w_r(b->a) = 2 + 0 - 3 = -1
  STATIC_REQUIRE(!is_legal(two_loop(), {1, 0}));  // w_r(a->b) = 0 + 0 - 1 = -1
  STATIC_REQUIRE(is_legal(two_loop(), {5, 6}));   // a constant shift changes nothing

  const auto h = retimed(two_loop(), {0, 1});
  REQUIRE(h.edge(0).delays == 1);
  REQUIRE(h.edge(1).delays == 1);
  REQUIRE(h.node(1).name == "b");
  REQUIRE(h.finalized());

  REQUIRE_THROWS_WITH(check_legal(two_loop(), {0, 3}),
                      Catch::Contains("illegal retiming, edge 1 'b' -> 'a'") &&
                          Catch::Contains("w_r = w + r(to) - r(from) = 2 + 0 - 3 = -1"));
  REQUIRE_THROWS_WITH(retimed(two_loop(), {1, 0}), Catch::Contains("edge 0 'a' -> 'b'"));
  REQUIRE_THROWS_WITH(is_legal(two_loop(), {0}), Catch::Contains("one lag per node, got 1 lags for 2 nodes"));
  REQUIRE_THROWS_WITH(retimed_delays(two_loop(), {0, 0}, 2), Catch::Contains("edge index out of range"));
  REQUIRE_THROWS_WITH(is_legal(two_loop(), {0, std::int64_t{1} << 62}), Catch::Contains("lags must lie within"));
}

TEST_CASE("retiming: every loop keeps its register count", "[retime][retiming]") {
  // The correlator's four loops (edge indices in sdf_circuits.hpp), registers by hand:
  //   vh v1 v7:             edges 0 9 10          w = 1 + 0 + 0             = 1
  //   vh v1 v2 v6 v7:       edges 0 1 7 8 10      w = 1 + 1 + 0 + 0 + 0     = 2
  //   vh v1 v2 v3 v5 v6 v7: edges 0 1 2 5 6 8 10  w = 1 + 1 + 1 + 0 + 0 + 0 = 3
  //   vh v1 ... v4 v5 v6 v7: edges 0 1 2 3 4 6 8 10                       = 4
  const std::vector<std::vector<int>> loops{{0, 9, 10}, {0, 1, 7, 8, 10}, {0, 1, 2, 5, 6, 8, 10}, {0, 1, 2, 3, 4, 6, 8, 10}};
  const std::vector<std::int64_t> registers{1, 2, 3, 4};
  constexpr auto loop4 = [] {
    const int edges[] = {0, 1, 2, 3, 4, 6, 8, 10};
    return path_delays(correlator(), edges);
  };
  STATIC_REQUIRE(loop4() == 4);

  const auto g = correlator();
  for (std::size_t i = 0; i < loops.size(); ++i) REQUIRE(path_delays(g, loops[i]) == registers[i]);

  // Every legal retiming among lags in {-2..0}^7 (host fixed at 0) keeps all four counts, and
  // moves registers on the open paths (e.g. v1 -> v7) by r(v7) - r(v1).
  int legal = 0;
  for (int code = 0; code < 2187; ++code) {  // 3^7
    retiming r(8, 0);
    for (int v = 1, c = code; v < 8; ++v, c /= 3) r[static_cast<std::size_t>(v)] = -(c % 3);
    if (!is_legal(g, r)) continue;
    ++legal;
    const auto h = retimed(g, r);
    for (std::size_t i = 0; i < loops.size(); ++i) REQUIRE(path_delays(h, loops[i]) == registers[i]);
    const int v1_v7[] = {9};
    REQUIRE(path_delays(h, v1_v7) == r[7] - r[1]);
  }
  REQUIRE(legal > 10);  // the sweep met many legal retimings (r = 0 among them)

  const int broken[] = {0, 2};  // vh->v1 then v2->v3: not a path
  REQUIRE_THROWS_WITH(path_delays(g, broken), Catch::Contains("do not form a path") && Catch::Contains("edge 0 ends at node 1"));
}

// ---------------------------------------------------------------------------------------------
// Clock period

TEST_CASE("clock period: longest register-free path", "[retime][clock_period]") {
  // Correlator, by hand. Register-free edges: v4->v5, v3->v5, v5->v6, v2->v6, v6->v7, v1->v7,
  // v7->vh. v1..v4 have no register-free input: Δ = 3. Δ(v5) = 7 + max(3, 3) = 10,
  // Δ(v6) = 7 + max(10, 3) = 17, Δ(v7) = 7 + max(17, 3) = 24, Δ(vh) = 0 + 24 = 24. Φ = 24.
  STATIC_REQUIRE(clock_period(correlator()) == 24);
  REQUIRE(arrival_times(correlator()) == std::vector<double>{24, 3, 3, 3, 3, 10, 17, 24});
  // Parhi's IIR: Δ(n1) = 1, Δ(n3) = Δ(n4) = 2, Δ(n2) = 1 + max(2, 2) = 3.
  STATIC_REQUIRE(clock_period(parhi_iir()) == 3);
  REQUIRE(arrival_times(parhi_iir()) == std::vector<double>{1, 3, 2, 2});
  STATIC_REQUIRE(clock_period(two_loop()) == 10);
  STATIC_REQUIRE(clock_period(retimed(two_loop(), {0, 1})) == 7);  // a | b: max(3, 7)
  STATIC_REQUIRE(clock_period(two_loop(), {0, 1}) == 7);
  REQUIRE(clock_period(sdf_graph{}) == 0);
  REQUIRE(find_zero_delay_cycle(correlator()).empty());
}

TEST_CASE("clock period: a zero-delay cycle is named", "[retime][clock_period][errors]") {
  // p -> q -> r -> p without registers, behind a node s that feeds it.
  const sdf_graph g({{"s", 1}, {"p", 1}, {"q", 1}, {"r", 1}}, {{0, 1, 0}, {1, 2, 0}, {2, 3, 0}, {3, 1, 0}, {3, 0, 1}});
  REQUIRE(find_zero_delay_cycle(g) == std::vector<int>{1, 2, 3});
  REQUIRE_THROWS_WITH(clock_period(g), Catch::Contains("zero-delay cycle") && Catch::Contains("clock period is undefined") &&
                                           Catch::Contains("'p' -> 'q' -> 'r' -> 'p' (edges 1 2 3)"));
  REQUIRE_THROWS_WITH(arrival_times(g), Catch::Contains("zero-delay cycle"));
  // A register-free self-loop is a cycle too; unnamed nodes print as #index.
  const sdf_graph self({{"", 2}}, {{0, 0, 0}});
  REQUIRE_THROWS_WITH(clock_period(self), Catch::Contains("#0 -> #0 (edges 0)"));
  // With one register on it, the loop is fine.
  REQUIRE(clock_period(sdf_graph({{"", 2}}, {{0, 0, 1}})) == 2);
}

// ---------------------------------------------------------------------------------------------
// Iteration bound

TEST_CASE("iteration bound: max over loops of time / registers", "[retime][iteration_bound]") {
  // Correlator loops (see above), times by hand:
  //   vh v1 v7:               0 + 3 + 7                 = 10, w = 1: 10
  //   vh v1 v2 v6 v7:         0 + 3 + 3 + 7 + 7         = 20, w = 2: 10
  //   vh v1 v2 v3 v5 v6 v7:   0 + 3 + 3 + 3 + 7 + 7 + 7 = 30, w = 3: 10
  //   vh v1 v2 v3 v4 v5 v6 v7:                            33, w = 4: 8.25
  STATIC_REQUIRE(iteration_bound(correlator()) == 10);
  // Parhi's IIR: n1 n3 n2: (1 + 2 + 1) / 2 = 2; n1 n4 n2: 4 / 3.
  STATIC_REQUIRE(iteration_bound(parhi_iir()) == 2);
  STATIC_REQUIRE(iteration_bound(two_loop()) == 5);  // (3 + 7) / 2
  // Two loops sharing node a: a b (1 + 6 = 7 over 3 registers) and a c (1 + 8 = 9 over 4):
  // 7/3 = 2.333... beats 9/4 = 2.25; the result is the loop's own quotient, exactly.
  constexpr auto close_race = [] {
    sdf_graph g;
    g.add_node("a", 1);
    g.add_node("b", 6);
    g.add_node("c", 8);
    g.add_edge(0, 1, 1);
    g.add_edge(1, 0, 2);
    g.add_edge(0, 2, 2);
    g.add_edge(2, 0, 2);
    return g;
  };
  STATIC_REQUIRE(iteration_bound(close_race()) == 7.0 / 3.0);
  const auto loop = find_critical_loop(close_race());
  REQUIRE(loop.ratio == 7.0 / 3.0);
  REQUIRE(loop.edges.size() == 2);
  REQUIRE(path_delays(close_race(), loop.edges) == 3);

  const auto crit = find_critical_loop(correlator());
  REQUIRE(crit.ratio == 10);
  REQUIRE(!crit.edges.empty());
  double time = 0;
  for (int e : crit.edges) time += correlator().node(correlator().edge(e).from).time;
  REQUIRE(time / static_cast<double>(path_delays(correlator(), crit.edges)) == 10);

  // Acyclic: 0 and no loop. Loops of zero time: 0, with a loop reported.
  REQUIRE(iteration_bound(sdf_graph({{"a", 5}, {"b", 1}}, {{0, 1, 0}})) == 0);
  REQUIRE(find_critical_loop(sdf_graph({{"a", 5}, {"b", 1}}, {{0, 1, 0}})).edges.empty());
  const sdf_graph idle({{"a", 0}, {"b", 0}}, {{0, 1, 0}, {1, 0, 1}});
  REQUIRE(iteration_bound(idle) == 0);
  REQUIRE(find_critical_loop(idle).edges.size() == 2);
  // An accumulator (self-loop, one register): its own time.
  REQUIRE(iteration_bound(sdf_graph({{"acc", 2.5}}, {{0, 0, 1}})) == 2.5);

  REQUIRE_THROWS_WITH(iteration_bound(sdf_graph({{"a", 1}, {"b", 1}}, {{0, 1, 0}, {1, 0, 0}})),
                      Catch::Contains("iteration bound is undefined") && Catch::Contains("'a' -> 'b' -> 'a'"));
}

TEST_CASE("iteration bound agrees with cycle enumeration on random circuits", "[retime][iteration_bound]") {
  lcg rng{12345};
  for (int trial = 0; trial < 150; ++trial) {
    const int n = 2 + rng.next(6);
    const auto g = random_circuit(rng, n, n + rng.next(2 * n));
    const double expected = brute_force_iteration_bound(g);
    const auto loop = find_critical_loop(g);
    INFO("trial " << trial);
    REQUIRE(loop.ratio == Approx(expected).epsilon(1e-12));
    if (!loop.edges.empty()) {
      double time = 0;
      for (int e : loop.edges) time += g.node(g.edge(e).from).time;
      const auto w = path_delays(g, loop.edges);  // also checks it is a path
      REQUIRE(g.edge(loop.edges.back()).to == g.edge(loop.edges.front()).from);
      REQUIRE(time / static_cast<double>(w) == loop.ratio);
    }
    // No retiming beats the bound: Φ(G) >= T∞ for the unretimed graph too.
    REQUIRE(clock_period(g) >= loop.ratio - 1e-12);
  }
}

// ---------------------------------------------------------------------------------------------
// Difference constraints

TEST_CASE("difference constraints: a solution or a negative cycle", "[retime][constraints]") {
  // x0 - x1 <= 2, x1 - x0 <= -1. From 0, 0: constraint 1 lowers x1 to -1; nothing else moves.
  constexpr auto feasible = [] {
    const difference_constraint cs[] = {{0, 1, 2}, {1, 0, -1}};
    return solve_difference_constraints(2, cs);
  };
  STATIC_REQUIRE(feasible().feasible);
  STATIC_REQUIRE(feasible().values == std::vector<std::int64_t>{0, -1});
  // Adding x0 - x1 <= 0 contradicts x1 - x0 <= -1: (x0 - x1) + (x1 - x0) = 0 <= 0 + (-1).
  constexpr auto infeasible = [] {
    const difference_constraint cs[] = {{0, 1, 2}, {1, 0, -1}, {0, 1, 0}};
    return solve_difference_constraints(2, cs);
  };
  STATIC_REQUIRE(!infeasible().feasible);
  const auto bad = infeasible();
  REQUIRE(bad.negative_cycle.size() == 2);
  REQUIRE(std::is_permutation(bad.negative_cycle.begin(), bad.negative_cycle.end(), std::vector<int>{1, 2}.begin()));

  const std::vector<difference_constraint> cs{{0, 1, 2}, {1, 0, -1}, {0, 1, 0}};
  REQUIRE_THROWS_WITH(solve_or_throw(2, cs), Catch::Contains("infeasible") && Catch::Contains("x1 - x0 <= -1 (constraint 1)") &&
                                                 Catch::Contains("x0 - x1 <= 0 (constraint 2)") &&
                                                 Catch::Contains("sum to -1 < 0"));
  const std::vector<std::string> names{"in", "out"};
  REQUIRE_THROWS_WITH(solve_or_throw(2, cs, names), Catch::Contains("x['out'] - x['in'] <= -1"));
  REQUIRE(solve_or_throw(2, std::vector<difference_constraint>{{0, 1, 2}, {1, 0, -1}}) == std::vector<std::int64_t>{0, -1});
  REQUIRE(solve_difference_constraints(0, {}).feasible);
  // x0 - x0 <= -1 alone is a cycle of one constraint.
  REQUIRE(solve_difference_constraints(1, std::vector<difference_constraint>{{0, 0, -1}}).negative_cycle == std::vector<int>{0});
}

TEST_CASE("difference constraints: bad input", "[retime][constraints][errors]") {
  const std::vector<difference_constraint> out_of_range{{0, 1, 0}, {2, 0, 1}};
  REQUIRE_THROWS_WITH(solve_difference_constraints(2, out_of_range),
                      Catch::Contains("constraint 1 (x2 - x0 <= 1) names a variable outside 0..1"));
  REQUIRE_THROWS_WITH(solve_difference_constraints(-1, {}), Catch::Contains("variables must be >= 0, got -1"));
  const std::vector<difference_constraint> huge{{0, 1, std::numeric_limits<std::int64_t>::max() / 2}};
  REQUIRE_THROWS_WITH(solve_difference_constraints(2, huge), Catch::Contains("64-bit safe limit"));
}

TEST_CASE("difference constraints: random systems, solutions and certificates checked", "[retime][constraints]") {
  lcg rng{777};
  int infeasible = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + rng.next(12);
    std::vector<difference_constraint> cs;
    const int m = rng.next(3 * n + 1);
    for (int i = 0; i < m; ++i) cs.push_back({rng.next(n), rng.next(n), static_cast<std::int64_t>(rng.next(9)) - 3});
    const auto s = solve_difference_constraints(n, cs);
    INFO("trial " << trial);
    if (s.feasible) {
      REQUIRE(s.values.size() == static_cast<std::size_t>(n));
      for (const auto& c : cs) REQUIRE(s.values[static_cast<std::size_t>(c.u)] - s.values[static_cast<std::size_t>(c.v)] <= c.bound);
    } else {
      ++infeasible;
      // A certificate: consecutive constraints chain (c_i.u == c_{i+1}.v), close, and sum < 0.
      const auto& cyc = s.negative_cycle;
      REQUIRE(!cyc.empty());
      std::int64_t sum = 0;
      for (std::size_t i = 0; i < cyc.size(); ++i) {
        const auto& a = cs[static_cast<std::size_t>(cyc[i])];
        const auto& b = cs[static_cast<std::size_t>(cyc[(i + 1) % cyc.size()])];
        REQUIRE(a.u == b.v);
        sum += a.bound;
      }
      REQUIRE(sum < 0);
    }
  }
  REQUIRE(infeasible > 20);
  REQUIRE(infeasible < 280);
}

TEST_CASE("difference constraints: long chains in a good order", "[retime][constraints]") {
  // x_i - x_{i+1} <= -1 listed from the end: one sweep gives x_i = -(n - 1 - i), a second pass
  // confirms. Listed from the front it needs n passes; both give the same values.
  const int n = 20000;
  std::vector<difference_constraint> good;
  for (int i = n - 2; i >= 0; --i) good.push_back({i, i + 1, -1});
  const auto a = solve_difference_constraints(n, good);
  REQUIRE(a.feasible);
  REQUIRE(a.values.front() == -(n - 1));
  REQUIRE(a.values.back() == 0);
  std::vector<difference_constraint> bad;
  for (int i = 0; i + 1 < 300; ++i) bad.push_back({i, i + 1, -1});
  const auto b = solve_difference_constraints(300, bad);
  REQUIRE(b.feasible);
  for (int i = 0; i < 300; ++i) REQUIRE(b.values[static_cast<std::size_t>(i)] == -(299 - i));
  // Closing the chain with x_{n-1} - x_0 <= n - 2 makes the cycle sum -1: infeasible, and the
  // certificate is the whole ring.
  good.push_back({n - 1, 0, n - 2});
  const auto c = solve_difference_constraints(n, good);
  REQUIRE(!c.feasible);
  REQUIRE(c.negative_cycle.size() == static_cast<std::size_t>(n));
}

TEST_CASE("difference constraints: enumerated constraints, with and without unlinked passes", "[retime][constraints]") {
  // The enumerator form is the engine itself (the span form wraps it); unlinked passes never
  // change an answer: values, certificates and errors match the stored list's, feasible or not.
  lcg rng{4242};
  const auto answer = [](int n, const std::vector<difference_constraint>& cs, int unlinked) {
    std::string error;
    constraint_solution s;
    try {
      s = solve_difference_constraints(
          n, [&](auto&& visit) { for (const auto& c : cs) visit(c.u, c.v, c.bound); }, unlinked);
    } catch (const layerpipe::error& e) {
      error = e.what();
    }
    return std::tuple{s.feasible, s.values, s.negative_cycle, error};
  };
  int infeasible = 0, errors = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int n = rng.next(9);
    std::vector<difference_constraint> cs;
    const int m = n == 0 ? rng.next(2) : rng.next(3 * n + 1);
    for (int i = 0; i < m; ++i)
      cs.push_back({n == 0 ? 0 : rng.next(n), n == 0 ? 0 : rng.next(n), static_cast<std::int64_t>(rng.next(11)) - 4});
    if (trial % 37 == 0 && m > 0) cs[static_cast<std::size_t>(rng.next(m))].v = n;  // out of range
    INFO("trial " << trial);
    std::string error;
    constraint_solution s;
    try {
      s = solve_difference_constraints(n, cs);
    } catch (const layerpipe::error& e) {
      error = e.what();
    }
    const auto stored = std::tuple{s.feasible, s.values, s.negative_cycle, error};
    for (const int unlinked : {0, 1, 2, 5}) REQUIRE(answer(n, cs, unlinked) == stored);
    infeasible += error.empty() && !s.feasible ? 1 : 0;
    errors += error.empty() ? 0 : 1;
  }
  REQUIRE(infeasible > 20);
  REQUIRE(errors > 5);
  // At compile time too.
  STATIC_REQUIRE(solve_difference_constraints(
                     3, [](auto&& visit) { visit(1, 0, -1); visit(2, 1, -1); }, 2)
                     .values == std::vector<std::int64_t>{0, -1, -2});
}
