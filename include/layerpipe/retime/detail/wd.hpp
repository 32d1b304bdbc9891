// layerpipe/retime/detail/wd.hpp — all-pairs lexicographic shortest paths for the W and D
// matrices of Leiserson & Saxe (REFERENCE §2).
//
// Path weight (w(p), -Σ d(u) over p's vertices but the last), compared lexicographically:
// W(u,v) is the first component of the minimum, D(u,v) = d(v) minus its second. Two engines:
// - sparse: one Dijkstra per source on Johnson-reduced weights. The potential (0, d(v) - Δ(v)),
//   Δ the zero-delay arrival times, makes every reduced edge weight lexicographically >= 0:
//   an edge with registers is positive in the first component, and a zero-delay edge u -> v has
//   second component Δ(v) - d(v) - Δ(u) >= 0. O(V·E log V).
// - dense: Floyd–Warshall, O(V^3) with a tight inner loop; chosen when E log V exceeds V^2.
// Both keep the exact sums (W, S = Σ d) per pair; only the heap order uses the reduced key, and
// a vertex popped early is simply relaxed again (label-correcting), so rounding in the reduced
// key can cost time but never correctness. Zero-delay cycles must have been rejected first.
#pragma once

#include <layerpipe/retime/detail/csr.hpp>
#include <layerpipe/retime/sdf_graph.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace layerpipe::detail::retiming_impl {

inline constexpr std::int64_t unreachable = std::numeric_limits<std::int64_t>::max();

/// Row-major W and S (S = D - d(v)) for every pair; unreachable pairs keep W = unreachable.
struct ws_table {
  std::vector<std::int64_t> w;
  std::vector<double> s;
};

/// (w1, s1) better than (w2, s2): fewer registers, or as many with more time.
constexpr bool lex_better(std::int64_t w1, double s1, std::int64_t w2, double s2) {
  return w1 < w2 || (w1 == w2 && s1 > s2);
}

constexpr ws_table all_pairs_dijkstra(const sdf_graph& g, std::span<const double> arrival) {
  const auto n = static_cast<std::size_t>(g.num_nodes());
  const auto nodes = g.nodes();
  const auto edges = g.edges();
  const csr out = build_csr(g.num_nodes(), g.num_edges(), [&](int e) { return edges[static_cast<std::size_t>(e)].from; });
  ws_table t;
  t.w.assign(n * n, unreachable);
  t.s.assign(n * n, 0.0);
  struct item {
    std::int64_t w;
    double key;  // reduced second component: Δ(v) - (S + d(v)); smaller first
    double s;
    int v;
  };
  const auto later = [](const item& a, const item& b) { return a.w > b.w || (a.w == b.w && a.key > b.key); };
  std::vector<item> heap;
  for (std::size_t src = 0; src < n; ++src) {
    std::int64_t* bw = t.w.data() + src * n;
    double* bs = t.s.data() + src * n;
    bw[src] = 0;
    bs[src] = 0;
    heap.clear();
    heap.push_back(item{0, arrival[src] - nodes[src].time, 0.0, static_cast<int>(src)});
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), later);
      const item top = heap.back();
      heap.pop_back();
      const auto u = static_cast<std::size_t>(top.v);
      if (top.w != bw[u] || top.s != bs[u]) continue;  // superseded
      const double through = top.s + nodes[u].time;
      for (int e : out.of(top.v)) {
        const auto& x = edges[static_cast<std::size_t>(e)];
        const auto v = static_cast<std::size_t>(x.to);
        const std::int64_t nw = top.w + x.delays;
        if (lex_better(nw, through, bw[v], bs[v])) {
          bw[v] = nw;
          bs[v] = through;
          heap.push_back(item{nw, arrival[v] - (through + nodes[v].time), through, x.to});
          std::push_heap(heap.begin(), heap.end(), later);
        }
      }
    }
  }
  return t;
}

constexpr ws_table all_pairs_floyd(const sdf_graph& g) {
  const auto n = static_cast<std::size_t>(g.num_nodes());
  const auto nodes = g.nodes();
  ws_table t;
  t.w.assign(n * n, unreachable);
  t.s.assign(n * n, 0.0);
  for (std::size_t v = 0; v < n; ++v) t.w[v * n + v] = 0;
  for (const auto& x : g.edges()) {
    const auto u = static_cast<std::size_t>(x.from), v = static_cast<std::size_t>(x.to);
    if (lex_better(x.delays, nodes[u].time, t.w[u * n + v], t.s[u * n + v])) {
      t.w[u * n + v] = x.delays;
      t.s[u * n + v] = nodes[u].time;
    }
  }
  std::int64_t* w = t.w.data();
  double* s = t.s.data();
  for (std::size_t k = 0; k < n; ++k) {
    const std::int64_t* wk = w + k * n;
    const double* sk = s + k * n;
    for (std::size_t i = 0; i < n; ++i) {
      const std::int64_t wik = w[i * n + k];
      if (wik == unreachable || i == k) continue;
      const double sik = s[i * n + k];
      std::int64_t* wi = w + i * n;
      double* si = s + i * n;
      for (std::size_t j = 0; j < n; ++j) {
        if (wk[j] == unreachable) continue;
        const std::int64_t nw = wik + wk[j];
        const double ns = sik + sk[j];
        if (nw < wi[j] || (nw == wi[j] && ns > si[j])) {
          wi[j] = nw;
          si[j] = ns;
        }
      }
    }
  }
  return t;
}

/// Dijkstra unless the graph is dense enough for Floyd–Warshall's V^3 to win.
constexpr bool prefer_floyd(int nodes, int edges) {
  int log2 = 1;
  while ((1 << log2) < nodes && log2 < 30) ++log2;
  return static_cast<double>(edges) * log2 > static_cast<double>(nodes) * nodes;
}

}  // namespace layerpipe::detail::retiming_impl
