// Minimum-period retiming (Leiserson & Saxe 1991): W and D matrices, the period test by
// constraints (OPT) and by FEAS, the binary search over D values. Two textbook circuits are
// worked by hand below; random circuits check that both algorithms and both W/D engines agree.
#include "layerpipe_test.hpp"
#include "retime/sdf_circuits.hpp"

#include <layerpipe/retime/min_period.hpp>
#include <layerpipe/retime/retiming.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using namespace layerpipe;
using layerpipe::test::correlator;
using layerpipe::test::parhi_iir;

namespace {

using layerpipe::test::lcg;

// Forward edges (in index order) may carry 0 registers, backward ones >= 1: no zero-delay cycle.
sdf_graph random_circuit(lcg& rng, int n, int m) {
  sdf_graph g;
  for (int i = 0; i < n; ++i) g.add_node("", 1 + rng.next(9));
  for (int i = 0; i + 1 < n; ++i) g.add_edge(i, i + 1, rng.next(3) == 0 ? 1 : 0);
  for (int k = 0; k < m; ++k) {
    const int u = rng.next(n), v = rng.next(n);
    g.add_edge(u, v, u < v ? rng.next(2) : 1 + rng.next(2));
  }
  g.finalize();
  return g;
}

constexpr double min_period_of(const sdf_graph& g, int host, min_period_method m) {
  return min_period_retiming(g, host, m).period;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Parhi's IIR filter y(n) = a·y(n-2) + b·y(n-3) + x(n), worked completely by hand.
//
// Nodes (index): n1 (0) adder 1, n2 (1) adder 1, n3 (2) ×a 2, n4 (3) ×b 2.
// Edges: n1->n3 (1), n1->n4 (2), n3->n2 (0), n4->n2 (0), n2->n1 (1).
//
// W(u,v) / D(u,v), the fewest registers on a path u ⇝ v and the longest time among those paths
// (times of all nodes on the path, both ends included):
//   from n1: n1 0/1;  n2 1/4 (n1 n3 n2: w 1, 1+2+1; via n4 w = 2);  n3 1/3;  n4 2/3
//   from n2: n1 1/2;  n2 0/1;  n3 2/4 (n2 n1 n3: 1+1+2);  n4 3/4 (n2 n1 n4)
//   from n3: n1 1/4 (n3 n2 n1: 2+1+1);  n2 0/3;  n3 0/2;  n4 3/6 (n3 n2 n1 n4: 0+1+2, 2+1+1+2)
//   from n4: n1 1/4;  n2 0/3;  n3 2/6 (n4 n2 n1 n3: 0+1+1, 2+1+1+2);  n4 0/2
// Φ = 3 (n3 -> n2 and n4 -> n2 are register-free: 2 + 1). Candidates: D values in
// [max d = 2, Φ = 3] = {2, 3}. Period 2: the constraints r(u) - r(v) <= W - 1 for D > 2 and
// r(u) - r(v) <= w(e) per edge, with r(n1) = 0 (host), give
//   n3: r1 - r3 <= 0 (D(1,3) = 3) and r3 - r1 <= 0 (D(3,1) = 4)           -> r3 = 0
//   n2: r3 - r2 <= -1 (D(3,2) = 3), r2 - r3 <= 1 (D(2,3) = 4)               -> r2 = 1
//   n4: r4 - r2 <= -1 (D(4,2) = 3), r1 - r4 <= 1 (D(1,4) = 3), and the rest -> r4 ∈ {-1, 0}
// (the remaining ones hold for both: r4 - r1 <= 0, r2 - r4 <= 2, r3 - r4 <= 2, r4 - r3 <= 1,
// r1 - r2 <= 0, edges r1 - r3 <= 1, r1 - r4 <= 2, r3 - r2 <= 0, r4 - r2 <= 0, r2 - r1 <= 1).
// r = (0, 1, 0, 0) is Parhi's retiming: the register on n2 -> n1 moves back onto n3 -> n2 and
// n4 -> n2, leaving every register-free path one node (2) or n2 n1 (1 + 1): period 2, which is
// also the iteration bound (loop n1 n3 n2: 4 / 2) and the largest node time, so optimal.
TEST_CASE("min period: Parhi's IIR filter by hand", "[retime][min_period]") {
  constexpr auto W = [](int u, int v) { return compute_wd(parhi_iir()).W(u, v); };
  constexpr auto D = [](int u, int v) { return compute_wd(parhi_iir()).D(u, v); };
  STATIC_REQUIRE(W(2, 3) == 3);
  STATIC_REQUIRE(D(2, 3) == 6);
  STATIC_REQUIRE(W(1, 2) == 2);
  STATIC_REQUIRE(D(1, 2) == 4);

  const std::vector<std::int64_t> w_hand{0, 1, 1, 2, /**/ 1, 0, 2, 3, /**/ 1, 0, 0, 3, /**/ 1, 0, 2, 0};
  const std::vector<double> d_hand{1, 4, 3, 3, /**/ 2, 1, 4, 4, /**/ 4, 3, 2, 6, /**/ 4, 3, 6, 2};
  for (auto engine : {wd_engine::automatic, wd_engine::dijkstra, wd_engine::floyd_warshall}) {
    const auto wd = compute_wd(parhi_iir(), engine);
    REQUIRE(wd.n == 4);
    REQUIRE(wd.w == w_hand);
    REQUIRE(wd.d == d_hand);
  }

  STATIC_REQUIRE(min_period_of(parhi_iir(), 0, min_period_method::opt) == 2);
  STATIC_REQUIRE(min_period_of(parhi_iir(), 0, min_period_method::feas) == 2);
  for (auto method : {min_period_method::opt, min_period_method::feas}) {
    const auto best = min_period_retiming(parhi_iir(), 0, method);
    REQUIRE(best.period == 2);
    REQUIRE(best.r[0] == 0);
    REQUIRE(best.r[1] == 1);
    REQUIRE(best.r[2] == 0);
    REQUIRE((best.r[3] == 0 || best.r[3] == -1));
    REQUIRE(clock_period(retimed(parhi_iir(), best.r)) == 2);
  }
  // Parhi's r = (0, 1, 0, 0): w_r(n3->n2) = 0 + 1 - 0 = 1, w_r(n2->n1) = 1 + 0 - 1 = 0.
  const auto h = retimed(parhi_iir(), {0, 1, 0, 0});
  REQUIRE(h.edge(2).delays == 1);
  REQUIRE(h.edge(3).delays == 1);
  REQUIRE(h.edge(4).delays == 0);
  REQUIRE(clock_period(h) == 2);
  // Below the largest node time nothing works: D(v,v) = d(v) > c forces 0 <= -1.
  REQUIRE(!retime_for_period(parhi_iir(), 1.5, 0));
  REQUIRE(!feas(parhi_iir(), 1.5, 0));
  REQUIRE(retime_for_period(parhi_iir(), 2, 0));
  REQUIRE(feas(parhi_iir(), 2, 0));
}

// ---------------------------------------------------------------------------------------------
// The L&S correlator (tests/retime/sdf_circuits.hpp): clock period 24, minimum period 13.
//
// W/D entries by hand (node order vh v1 v2 v3 v4 v5 v6 v7):
//   W(v4,vh) = 0, D = 3 + 7 + 7 + 7 + 0 = 24 (v4 v5 v6 v7 vh, the critical path)
//   W(vh,v5) = 3, D = 0 + 3 + 3 + 3 + 7 = 16 (vh v1 v2 v3 v5; via v4 it takes 4 registers)
//   W(v5,v4) = 4, D = 7 + 7 + 7 + 0 + 3 + 3 + 3 + 3 = 33 (v5 v6 v7 vh v1 v2 v3 v4)
//   W(v3,v2) = 2, D = 3 + 7 + 7 + 7 + 0 + 3 + 3 = 30 (v3 v5 v6 v7 vh v1 v2)
//   W(v1,v7) = 0, D = 3 + 7 = 10; W(v7,v1) = 1, D = 7 + 0 + 3 = 10
//
// Period 13 is reachable, e.g. by r = (vh 0, v1 -1, v2 -1, v3 -2, v4 -2, v5 -2, v6 -1, v7 0):
//   w_r: vh->v1 1-1-0 = 0, v1->v2 1-1+1 = 1, v2->v3 1-2+1 = 0, v3->v4 1-2+2 = 1, v4->v5 0,
//   v3->v5 0, v5->v6 0-1+2 = 1, v2->v6 0-1+1 = 0, v6->v7 0+0+1 = 1, v1->v7 0+0+1 = 1, v7->vh 0;
//   register-free paths: v2 v3 v5 = 3 + 3 + 7 = 13, v7 vh v1 = 7 + 0 + 3 = 10, v2 v6 = 10,
//   v4 v5 = 10: Φ = 13.
// Period 12 is not: the loop C = v5 v6 v7 vh v1 v2 v3 (back to v5) holds 3 registers under
// every retiming (0+0+0+1+1+1+0), so it splits into at most 3 register-free segments. The adders
// v5, v6, v7 (7 each, any two adjacent ones 14 > 12) need separate segments, so the comparators
// and host between v7 and v5 (vh 0, v1 3, v2 3, v3 3: 9 in all) are shared by v7's segment
// (a prefix of them) and v5's (the rest): max(7 + a, 7 + 9 - a) with a ∈ {0, 3, 6, 9} is at
// least 13 > 12. The iteration bound is only 10 (every loop but the 4-comparator one has
// time/registers = 10), so the granularity of whole nodes, not the loop bound, sets 13.
TEST_CASE("min period: the Leiserson-Saxe correlator", "[retime][min_period]") {
  constexpr auto W = [](int u, int v) { return compute_wd(correlator()).W(u, v); };
  constexpr auto D = [](int u, int v) { return compute_wd(correlator()).D(u, v); };
  STATIC_REQUIRE(W(4, 0) == 0);
  STATIC_REQUIRE(D(4, 0) == 24);
  STATIC_REQUIRE(W(0, 5) == 3);
  STATIC_REQUIRE(D(0, 5) == 16);
  for (auto engine : {wd_engine::dijkstra, wd_engine::floyd_warshall}) {
    const auto wd = compute_wd(correlator(), engine);
    REQUIRE(wd.W(5, 4) == 4);
    REQUIRE(wd.D(5, 4) == 33);
    REQUIRE(wd.W(3, 2) == 2);
    REQUIRE(wd.D(3, 2) == 30);
    REQUIRE(wd.W(1, 7) == 0);
    REQUIRE(wd.D(1, 7) == 10);
    REQUIRE(wd.W(7, 1) == 1);
    REQUIRE(wd.D(7, 1) == 10);
    for (int v = 0; v < 8; ++v) {
      REQUIRE(wd.W(v, v) == 0);
      REQUIRE(wd.D(v, v) == correlator().node(v).time);
    }
    REQUIRE(wd.reachable(0, 7));
  }

  STATIC_REQUIRE(clock_period(correlator()) == 24);
  STATIC_REQUIRE(min_period_of(correlator(), 0, min_period_method::opt) == 13);
  STATIC_REQUIRE(min_period_of(correlator(), 0, min_period_method::feas) == 13);
  for (auto method : {min_period_method::opt, min_period_method::feas}) {
    const auto best = min_period_retiming(correlator(), 0, method);
    REQUIRE(best.period == 13);
    REQUIRE(best.r.size() == 8);
    REQUIRE(best.r[0] == 0);  // the host keeps its timing
    REQUIRE(is_legal(correlator(), best.r));
    REQUIRE(clock_period(retimed(correlator(), best.r)) == 13);
  }
  // The hand retiming above.
  const retiming hand{0, -1, -1, -2, -2, -2, -1, 0};
  REQUIRE(clock_period(retimed(correlator(), hand)) == 13);

  // 13 passes both tests; 12 and 10 (the next D value below 13) fail both.
  const auto wd = compute_wd(correlator());
  for (double c : {13.0, 16.0, 24.0}) {
    INFO("period " << c);
    const auto opt = retime_for_period(correlator(), wd, c, 0);
    const auto fea = feas(correlator(), c, 0);
    REQUIRE(opt);
    REQUIRE(fea);
    REQUIRE(clock_period(retimed(correlator(), *opt)) <= c);
    REQUIRE(clock_period(retimed(correlator(), *fea)) <= c);
    REQUIRE((*opt)[0] == 0);
    REQUIRE((*fea)[0] == 0);
  }
  for (double c : {12.0, 10.0, 7.0}) {
    INFO("period " << c);
    REQUIRE(!retime_for_period(correlator(), wd, c, 0));
    REQUIRE(!feas(correlator(), c, 0));
  }
  REQUIRE(retime_for_period_or_throw(correlator(), 13, 0).size() == 8);
  REQUIRE_THROWS_WITH(retime_for_period_or_throw(correlator(), 12, 0),
                      Catch::Contains("no legal retiming reaches clock period 12") &&
                          Catch::Contains("r('v5') - r('v6') <= W - 1 = -1") &&
                          Catch::Contains("D = 14 > period") && Catch::Contains("0 <= -1"));
}

TEST_CASE("min period: OPT and FEAS agree on random circuits", "[retime][min_period]") {
  lcg rng{2024};
  for (int trial = 0; trial < 60; ++trial) {
    const int n = 2 + rng.next(trial < 40 ? 8 : 30);
    const auto g = random_circuit(rng, n, rng.next(2 * n + 1));
    INFO("trial " << trial << ", " << n << " nodes");
    const auto dij = compute_wd(g, wd_engine::dijkstra);
    const auto fw = compute_wd(g, wd_engine::floyd_warshall);
    REQUIRE(dij.w == fw.w);
    REQUIRE(dij.d == fw.d);

    const int host = trial % 2 == 0 ? 0 : -1;
    const auto opt = min_period_retiming(g, host, min_period_method::opt);
    const auto fea = min_period_retiming(g, host, min_period_method::feas);
    REQUIRE(opt.period == fea.period);
    REQUIRE(clock_period(retimed(g, opt.r)) == opt.period);
    REQUIRE(clock_period(retimed(g, fea.r)) == fea.period);
    if (host == 0) {
      REQUIRE(opt.r[0] == 0);
      REQUIRE(fea.r[0] == 0);
    }
    // Bounds: no better than the iteration bound or the slowest node, no worse than Φ(G).
    double slowest = 0;
    for (const auto& v : g.nodes()) slowest = std::max(slowest, v.time);
    REQUIRE(opt.period >= slowest);
    REQUIRE(opt.period >= iteration_bound(g) - 1e-9);
    REQUIRE(opt.period <= clock_period(g));
    // Optimal: the largest D value below it is reachable by neither test.
    double below = -1;
    for (std::size_t k = 0; k < dij.d.size(); ++k)
      if (dij.w[k] != std::numeric_limits<std::int64_t>::max() && dij.d[k] < opt.period) below = std::max(below, dij.d[k]);
    if (below >= 0) {
      REQUIRE(!retime_for_period(g, dij, below));
      REQUIRE(!feas(g, below));
    }
  }
}

TEST_CASE("min period: bad input", "[retime][min_period][errors]") {
  const sdf_graph loop({{"a", 1}, {"b", 2}, {"c", 1}}, {{0, 1, 0}, {1, 2, 0}, {2, 1, 0}, {2, 0, 1}});
  REQUIRE_THROWS_WITH(min_period_retiming(loop), Catch::Contains("zero-delay cycle") && Catch::Contains("'b' -> 'c' -> 'b'"));
  REQUIRE_THROWS_WITH(compute_wd(loop), Catch::Contains("zero-delay cycle"));
  REQUIRE_THROWS_WITH(feas(loop, 5), Catch::Contains("zero-delay cycle"));
  REQUIRE_THROWS_WITH(retime_for_period(loop, 5), Catch::Contains("zero-delay cycle"));

  REQUIRE_THROWS_WITH(retime_for_period(correlator(), std::nan("")), Catch::Contains("period must be a number, got NaN"));
  REQUIRE_THROWS_WITH(feas(correlator(), std::nan("")), Catch::Contains("got NaN"));
  REQUIRE_THROWS_WITH(min_period_retiming(correlator(), 8), Catch::Contains("host vertex") && Catch::Contains("host = 8"));
  REQUIRE_THROWS_WITH(feas(correlator(), 13, -2), Catch::Contains("host = -2"));
  REQUIRE_THROWS_WITH(retime_for_period(correlator(), compute_wd(parhi_iir()), 13),
                      Catch::Contains("W/D matrices are for 4 nodes but the graph has 8"));
  REQUIRE_THROWS_WITH(compute_wd(parhi_iir()).W(4, 0), Catch::Contains("out of range for 4 nodes"));
  REQUIRE_THROWS_WITH(retime_for_period_or_throw(parhi_iir(), 1.5), Catch::Contains("no legal retiming reaches clock period 1.5"));

  // Degenerate but valid: an empty graph, one node, no edges.
  REQUIRE(min_period_retiming(sdf_graph{}).period == 0);
  const auto one = min_period_retiming(sdf_graph({{"x", 4}}, {}));
  REQUIRE(one.period == 4);
  REQUIRE(one.r == retiming{0});
  // An infinite period needs nothing; a negative one is simply unreachable.
  REQUIRE(feas(correlator(), std::numeric_limits<double>::infinity()));
  REQUIRE(!retime_for_period(correlator(), -1.0));
}
