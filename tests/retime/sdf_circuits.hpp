// tests/retime/sdf_circuits.hpp — textbook circuits and a small random generator shared by the
// retiming tests; each circuit is built by a constexpr function so the same value feeds
// STATIC_REQUIRE and REQUIRE.
#pragma once

#include <layerpipe/retime/sdf_graph.hpp>

#include <cstdint>

namespace layerpipe::test {

/// Small deterministic generator for property tests (no <random>: identical on every platform).
struct lcg {
  std::uint64_t s;
  int next(int bound) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((s >> 33) % static_cast<std::uint64_t>(bound));
  }
};

// The digital correlator of Leiserson & Saxe, "Retiming Synchronous Circuitry" (1991), Fig. 1:
// y_t = Σ_{i=0..3} δ(x_{t-i}, a_i). A shift register v_h -> v1 -> v2 -> v3 -> v4 (one register
// per edge) feeds comparators v1..v4 (δ, time 3); adders v5 = δ4 + δ3, v6 = v5 + δ2,
// v7 = v6 + δ1 (time 7) form a register-free chain back to the host v_h (time 0).
//
//   node index: vh 0, v1 1, v2 2, v3 3, v4 4, v5 5, v6 6, v7 7
//   edge index: 0 vh->v1 (1)   1 v1->v2 (1)   2 v2->v3 (1)   3 v3->v4 (1)
//               4 v4->v5 (0)   5 v3->v5 (0)   6 v5->v6 (0)   7 v2->v6 (0)
//               8 v6->v7 (0)   9 v1->v7 (0)  10 v7->vh (0)
constexpr sdf_graph correlator() {
  sdf_graph g;
  const int h = g.add_node("vh", 0);
  const int v1 = g.add_node("v1", 3), v2 = g.add_node("v2", 3), v3 = g.add_node("v3", 3), v4 = g.add_node("v4", 3);
  const int v5 = g.add_node("v5", 7), v6 = g.add_node("v6", 7), v7 = g.add_node("v7", 7);
  g.add_edge(h, v1, 1);
  g.add_edge(v1, v2, 1);
  g.add_edge(v2, v3, 1);
  g.add_edge(v3, v4, 1);
  g.add_edge(v4, v5, 0);
  g.add_edge(v3, v5, 0);
  g.add_edge(v5, v6, 0);
  g.add_edge(v2, v6, 0);
  g.add_edge(v6, v7, 0);
  g.add_edge(v1, v7, 0);
  g.add_edge(v7, h, 0);
  g.finalize();
  return g;
}

// The IIR filter y(n) = a·y(n-2) + b·y(n-3) + x(n) of Parhi, "VLSI Digital Signal Processing
// Systems", ch. 4 (Fig. 4.1(a)/4.2(a) as we reconstruct it: adders of 1 u.t., multipliers of
// 2 u.t.). Node 1 (index 0) adds x(n); node 2 (index 1) adds the two products; node 3 (index 2)
// multiplies by a, node 4 (index 3) by b.
//
//   edge index: 0 n1->n3 (1)   1 n1->n4 (2)   2 n3->n2 (0)   3 n4->n2 (0)   4 n2->n1 (1)
//   loops: n1 n3 n2 (w = 1 + 0 + 1 = 2: a·y(n-2)), n1 n4 n2 (w = 2 + 0 + 1 = 3: b·y(n-3))
constexpr sdf_graph parhi_iir() {
  sdf_graph g;
  const int n1 = g.add_node("n1", 1), n2 = g.add_node("n2", 1), n3 = g.add_node("n3", 2), n4 = g.add_node("n4", 2);
  g.add_edge(n1, n3, 1);
  g.add_edge(n1, n4, 2);
  g.add_edge(n3, n2, 0);
  g.add_edge(n4, n2, 0);
  g.add_edge(n2, n1, 1);
  g.finalize();
  return g;
}

}  // namespace layerpipe::test
