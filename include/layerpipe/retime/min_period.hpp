// layerpipe/retime/min_period.hpp — minimum-period retiming (Leiserson & Saxe 1991, REFERENCE §2).
//
// W(u,v) is the fewest registers on any path u ⇝ v, D(u,v) the longest computation time among
// the paths with W(u,v) registers. A legal retiming r reaches clock period c iff
//   r(u) - r(v) <= w(e)          for every edge e: u -> v          (legality)
//   r(u) - r(v) <= W(u,v) - 1    for every pair with D(u,v) > c    (no long register-free path)
// The minimum period is one of the D values; both algorithms binary-search them:
//   OPT  — each test solves the constraints above by Bellman-Ford (retime_for_period);
//   FEAS — each test starts at r = 0 and |V| - 1 times pulls a register in front of every node
//          whose zero-delay arrival time Δ(v) exceeds c (feas), O(|V||E|).
//
//   layerpipe::sdf_graph g;                        // a -> b -> c -> a, all registers on c -> a
//   int a = g.add_node("a", 1), b = g.add_node("b", 1), c = g.add_node("c", 1);
//   g.add_edge(a, b, 0); g.add_edge(b, c, 0); g.add_edge(c, a, 3);
//   auto best = layerpipe::min_period_retiming(g);           // best.period == 1
//   layerpipe::clock_period(layerpipe::retimed(g, best.r));  // 1: one register per edge
//   auto same = layerpipe::min_period_retiming(g, -1, layerpipe::min_period_method::feas);
//
// A host vertex (the environment, L&S's v_h) is kept at lag 0 by passing its index as `host`;
// without one, lags are returned as the algorithm leaves them. Errors: zero-delay cycles (the
// period is undefined; the cycle is named), a NaN period, a host index out of range, and, from
// retime_for_period_or_throw, a period no retiming reaches (naming the contradictory
// constraints as edges and paths of the circuit). Compute W and D once (compute_wd) when testing several
// periods. Sizes: W/D take O(V^2) memory; the sparse engine (V Dijkstras) handles 10^3 nodes in
// well under a second at -O2.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/retime/constraints.hpp>
#include <layerpipe/retime/detail/csr.hpp>
#include <layerpipe/retime/detail/text.hpp>
#include <layerpipe/retime/detail/wd.hpp>
#include <layerpipe/retime/retiming.hpp>
#include <layerpipe/retime/sdf_graph.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace layerpipe {

/// Row-major n×n W and D. Where v is unreachable from u, w = INT64_MAX and d = 0.
/// The diagonal is the empty path: W(v,v) = 0, D(v,v) = d(v).
struct wd_matrices {
  int n = 0;
  std::vector<std::int64_t> w;
  std::vector<double> d;

  constexpr bool reachable(int u, int v) const { return w[index(u, v)] != std::numeric_limits<std::int64_t>::max(); }
  constexpr std::int64_t W(int u, int v) const { return w[index(u, v)]; }
  constexpr double D(int u, int v) const { return d[index(u, v)]; }

private:
  constexpr std::size_t index(int u, int v) const {
    if (u < 0 || u >= n || v < 0 || v >= n)
      detail::raise("wd_matrices: pair (", u, ", ", v, ") out of range for ", n, " nodes");
    return static_cast<std::size_t>(u) * static_cast<std::size_t>(n) + static_cast<std::size_t>(v);
  }
};

/// Which engine computes W and D (automatic: Dijkstra per source unless the graph is dense).
enum class wd_engine { automatic, dijkstra, floyd_warshall };

/// W and D for every pair. Throws on a zero-delay cycle, naming it.
constexpr wd_matrices compute_wd(const sdf_graph& g, wd_engine engine = wd_engine::automatic) {
  namespace impl = detail::retiming_impl;
  const auto arrival = arrival_times(g);  // rejects zero-delay cycles
  const bool floyd = engine == wd_engine::floyd_warshall ||
                     (engine == wd_engine::automatic && impl::prefer_floyd(g.num_nodes(), g.num_edges()));
  // (if/else, not ?: — g++ 12 mis-evaluates a conditional between two allocating prvalues in a
  // constant evaluation: "use of allocated storage after deallocation")
  impl::ws_table t;
  if (floyd)
    t = impl::all_pairs_floyd(g);
  else
    t = impl::all_pairs_dijkstra(g, arrival);
  wd_matrices m;
  m.n = g.num_nodes();
  const auto n = static_cast<std::size_t>(m.n);
  for (std::size_t u = 0; u < n; ++u)
    for (std::size_t v = 0; v < n; ++v)
      t.s[u * n + v] = t.w[u * n + v] == impl::unreachable ? 0.0 : t.s[u * n + v] + g.nodes()[v].time;
  m.w = std::move(t.w);
  m.d = std::move(t.s);
  return m;
}

enum class min_period_method { opt, feas };

struct min_period_result {
  double period = 0;  // Φ(G_r), the smallest clock period any legal retiming reaches
  retiming r;
};

namespace detail::retiming_impl {

constexpr void check_host(const sdf_graph& g, int host) {
  if (host < -1 || host >= g.num_nodes())
    detail::raise("retiming: the host vertex must be -1 (none) or a node index in 0..", g.num_nodes() - 1,
                  ", got host = ", host);
}

constexpr void check_period(double period) {
  if (period != period) detail::raise("retiming: the target clock period must be a number, got NaN");
}

constexpr void normalise_to_host(retiming& r, int host) {
  if (host < 0) return;
  const std::int64_t base = r[static_cast<std::size_t>(host)];
  for (auto& x : r) x -= base;
}

/// The L&S system for period c: legality constraints first (edge order), then one per pair with
/// D(u,v) > c. Constraint i < E is edge i.
constexpr std::vector<difference_constraint> period_constraints(const sdf_graph& g, const wd_matrices& wd,
                                                                double period) {
  std::vector<difference_constraint> cs;
  cs.reserve(static_cast<std::size_t>(g.num_edges()));
  for (const auto& e : g.edges()) cs.push_back(difference_constraint{e.from, e.to, e.delays});
  const auto n = static_cast<std::size_t>(wd.n);
  for (std::size_t u = 0; u < n; ++u)
    for (std::size_t v = 0; v < n; ++v) {
      const std::size_t k = u * n + v;
      if (wd.w[k] != unreachable && wd.d[k] > period)
        cs.push_back(difference_constraint{static_cast<int>(u), static_cast<int>(v), wd.w[k] - 1});
    }
  return cs;
}

constexpr void check_wd(const sdf_graph& g, const wd_matrices& wd) {
  const auto n = static_cast<std::size_t>(g.num_nodes());
  if (wd.n != g.num_nodes() || wd.w.size() != n * n || wd.d.size() != n * n)
    detail::raise("retiming: the W/D matrices are for ", wd.n, " nodes but the graph has ", g.num_nodes(),
                  " (compute them with compute_wd of this graph)");
}

/// Every constraint OPT may need, built once for a whole binary search: the legality
/// constraints (one per edge), then one per reachable pair with D(u,v) > max d, sorted by
/// decreasing D. The system for period c is then a prefix: edges + the pairs with D > c.
struct period_system {
  std::vector<difference_constraint> constraints;
  std::vector<double> pair_d;  // D of constraints[edges + i], decreasing
  std::size_t edges = 0;

  constexpr std::span<const difference_constraint> for_period(double period) const {
    // pair_d is decreasing: count the D values > period.
    const auto k = static_cast<std::size_t>(
        std::upper_bound(pair_d.begin(), pair_d.end(), period, [](double c, double d) { return c > d; }) -
        pair_d.begin());
    return std::span<const difference_constraint>(constraints).first(edges + k);
  }
};

constexpr period_system build_period_system(const sdf_graph& g, const wd_matrices& wd) {
  double floor = 0;
  for (const auto& v : g.nodes()) floor = std::max(floor, v.time);
  struct pair_entry {
    double d;
    int u, v;
    std::int64_t w;
  };
  std::vector<pair_entry> pairs;
  const auto n = static_cast<std::size_t>(wd.n);
  for (std::size_t u = 0; u < n; ++u)
    for (std::size_t v = 0; v < n; ++v) {
      const std::size_t k = u * n + v;
      // D <= max d(v) never exceeds a candidate period (all are >= max d), so it is never needed.
      if (wd.w[k] != unreachable && wd.d[k] > floor)
        pairs.push_back(pair_entry{wd.d[k], static_cast<int>(u), static_cast<int>(v), wd.w[k]});
    }
  std::sort(pairs.begin(), pairs.end(), [](const pair_entry& a, const pair_entry& b) {
    return a.d > b.d || (a.d == b.d && (a.u < b.u || (a.u == b.u && a.v < b.v)));
  });
  period_system s;
  s.edges = static_cast<std::size_t>(g.num_edges());
  s.constraints.reserve(s.edges + pairs.size());
  for (const auto& e : g.edges()) s.constraints.push_back(difference_constraint{e.from, e.to, e.delays});
  s.pair_d.reserve(pairs.size());
  for (const auto& p : pairs) {
    s.constraints.push_back(difference_constraint{p.u, p.v, p.w - 1});
    s.pair_d.push_back(p.d);
  }
  return s;
}

/// The candidate periods: max d(v), then the distinct D values above it up to Φ(G).
constexpr std::vector<double> candidate_periods(const sdf_graph& g, const wd_matrices& wd, double phi) {
  double floor = 0;
  for (const auto& v : g.nodes()) floor = std::max(floor, v.time);
  std::vector<double> c;
  c.push_back(floor);
  for (std::size_t k = 0; k < wd.d.size(); ++k)
    if (wd.w[k] != unreachable && wd.d[k] > floor && wd.d[k] <= phi) c.push_back(wd.d[k]);
  c.push_back(phi);
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

}  // namespace detail::retiming_impl

/// OPT's test: a legal retiming with Φ(G_r) <= period, or nullopt. Solves the W/D difference
/// constraints by Bellman-Ford (O(V^3) worst case per call); r(host) = 0 when host >= 0.
constexpr std::optional<retiming> retime_for_period(const sdf_graph& g, const wd_matrices& wd, double period,
                                                    int host = -1) {
  namespace impl = detail::retiming_impl;
  impl::check_period(period);
  impl::check_host(g, host);
  impl::check_wd(g, wd);
  const auto cs = impl::period_constraints(g, wd, period);
  auto s = solve_difference_constraints(g.num_nodes(), cs);
  if (!s.feasible) return std::nullopt;
  impl::normalise_to_host(s.values, host);
  return std::move(s.values);
}

constexpr std::optional<retiming> retime_for_period(const sdf_graph& g, double period, int host = -1) {
  detail::retiming_impl::check_period(period);
  detail::retiming_impl::check_host(g, host);
  return retime_for_period(g, compute_wd(g), period, host);
}

/// FEAS: start from r = 0 and |V| - 1 times increment r(v) for every v with Δ(v) > period on the
/// current G_r (each step stays legal: a zero-register successor of such a v is late too).
/// The period is reachable iff Φ(G_r) <= period afterwards. O(|V||E|), no W/D needed.
constexpr std::optional<retiming> feas(const sdf_graph& g, double period, int host = -1) {
  namespace impl = detail::retiming_impl;
  impl::check_period(period);
  impl::check_host(g, host);
  (void)arrival_times(g);  // rejects zero-delay cycles, naming one
  const auto n = static_cast<std::size_t>(g.num_nodes());
  const auto out = impl::out_csr(g);
  retiming r(n, 0);
  const auto weight = [&](int e) { return impl::retimed_weight(g, r, e); };
  for (std::size_t round = 0; round + 1 < n; ++round) {
    const auto a = impl::analyse_zero_delay(g, out, weight);
    bool late = false;
    for (std::size_t v = 0; v < n; ++v)
      if (a.arrival[v] > period) {
        late = true;
        ++r[v];
      }
    if (!late) break;
  }
  const auto a = impl::analyse_zero_delay(g, out, weight);
  for (std::size_t v = 0; v < n; ++v)
    if (a.arrival[v] > period) return std::nullopt;
  check_legal(g, r);  // L&S: FEAS keeps every step legal; checked, O(E)
  impl::normalise_to_host(r, host);
  return r;
}

/// Like retime_for_period, but a period no retiming reaches is an error naming the reason: the
/// cycle of contradictory constraints, each shown as the edge or register-free-path bound it
/// came from ("r('v6') - r('v7') <= W - 1 = -1 (the paths with W = 0 registers take D = 14 > period)").
constexpr retiming retime_for_period_or_throw(const sdf_graph& g, double period, int host = -1) {
  namespace impl = detail::retiming_impl;
  impl::check_period(period);
  impl::check_host(g, host);
  const auto wd = compute_wd(g);
  const auto cs = impl::period_constraints(g, wd, period);
  auto s = solve_difference_constraints(g.num_nodes(), cs);
  if (s.feasible) {
    impl::normalise_to_host(s.values, host);
    return std::move(s.values);
  }
  std::string why;
  std::int64_t sum = 0;
  for (int c : s.negative_cycle) {
    const auto& x = cs[static_cast<std::size_t>(c)];
    if (!why.empty()) why += ", ";
    why += "r(";
    impl::append_node(why, g.node(x.u).name, x.u);
    why += ") - r(";
    impl::append_node(why, g.node(x.v).name, x.v);
    why += ") <= ";
    if (c < g.num_edges()) {
      impl::append_int(why, x.bound);
      why += " (edge ";
      impl::append_int(why, c);
      why += ")";
    } else {
      why += "W - 1 = ";
      impl::append_int(why, x.bound);
      why += " (the paths with W = ";
      impl::append_int(why, wd.W(x.u, x.v));
      why += " registers take D = ";
      impl::append_decimal(why, wd.D(x.u, x.v));
      why += " > period)";
    }
    sum += x.bound;
  }
  why += "; summed around the cycle: 0 <= ";
  impl::append_int(why, sum);
  detail::raise("retiming: no legal retiming reaches clock period ", period, ": ", why);
  return {};
}

/// The minimum clock period over all legal retimings and a retiming reaching it: binary search
/// over the candidate periods (the D values between max d(v) and Φ(G)), each tested by OPT's
/// constraint solve or by FEAS. r(host) = 0 when host >= 0. Throws on a zero-delay cycle.
constexpr min_period_result min_period_retiming(const sdf_graph& g, int host = -1,
                                                min_period_method method = min_period_method::opt) {
  namespace impl = detail::retiming_impl;
  impl::check_host(g, host);
  const double phi = clock_period(g);  // rejects zero-delay cycles
  min_period_result best{phi, retiming(static_cast<std::size_t>(g.num_nodes()), 0)};
  if (g.num_nodes() == 0) return best;
  const auto wd = compute_wd(g);
  const auto candidates = impl::candidate_periods(g, wd, phi);
  impl::period_system system;
  if (method == min_period_method::opt) system = impl::build_period_system(g, wd);
  // Invariant: candidates[hi] is reachable (the last one, Φ(G), is, with r = 0).
  std::size_t lo = 0, hi = candidates.size() - 1;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    std::optional<retiming> r;
    if (method == min_period_method::opt) {
      auto s = solve_difference_constraints(g.num_nodes(), system.for_period(candidates[mid]));
      if (s.feasible) r = std::move(s.values);
    } else {
      r = feas(g, candidates[mid], host);
    }
    if (r) {
      hi = mid;
      best.r = std::move(*r);
    } else {
      lo = mid + 1;
    }
  }
  impl::normalise_to_host(best.r, host);
  best.period = clock_period(retimed(g, best.r));
  return best;
}

}  // namespace layerpipe
