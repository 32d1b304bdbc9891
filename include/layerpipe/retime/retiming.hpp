// layerpipe/retime/retiming.hpp — retimings of a synchronous DFG: legality, the retimed graph,
// the loop-delay invariant, clock period and iteration bound (REFERENCE §2).
//
// A retiming is one integer lag r(v) per node; edge e: u -> v then carries
// w_r(e) = w(e) + r(v) - r(u) registers. It is legal iff every w_r(e) >= 0. Around any loop the
// lags cancel, so a loop keeps its register count (path_delays on the loop's edges agrees
// before and after).
//
//   layerpipe::sdf_graph g;                       // a loop a -> b -> a with two registers
//   int a = g.add_node("a", 3), b = g.add_node("b", 7);
//   int ab = g.add_edge(a, b, 0), ba = g.add_edge(b, a, 2);
//   layerpipe::clock_period(g);                   // 10: a and b chain in one clock
//   layerpipe::retiming r{0, 1};                  // move one register from b -> a onto a -> b
//   layerpipe::is_legal(g, r);                    // true: w_r = 0 + 1 - 0 = 1 and 2 + 0 - 1 = 1
//   auto h = layerpipe::retimed(g, r);
//   layerpipe::clock_period(h);                   // 7
//   layerpipe::iteration_bound(g);                // 5 = (3 + 7) / 2 registers: no retiming beats it
//   int loop[] = {ab, ba};
//   layerpipe::path_delays(h, loop) == layerpipe::path_delays(g, loop);  // 2 == 2
//
// Errors (layerpipe::error, or a failed constant evaluation): a retiming of the wrong size, an
// illegal retiming (names the edge and its w_r), a zero-delay cycle where the clock period or
// iteration bound is asked for (names the cycle), edges that do not form a path.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/retime/detail/csr.hpp>
#include <layerpipe/retime/detail/text.hpp>
#include <layerpipe/retime/sdf_graph.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace layerpipe {

/// One lag per node of an sdf_graph.
using retiming = std::vector<std::int64_t>;

namespace detail::retiming_impl {

/// Lags are kept below 2^60 in magnitude so that w + r(v) - r(u) cannot overflow.
inline constexpr std::int64_t max_lag = std::int64_t{1} << 60;

constexpr void check_size(const sdf_graph& g, const retiming& r) {
  if (r.size() != static_cast<std::size_t>(g.num_nodes()))
    detail::raise("retiming: a retiming needs one lag per node, got ", r.size(), " lags for ", g.num_nodes(),
                  " nodes");
  for (std::size_t v = 0; v < r.size(); ++v)
    if (r[v] > max_lag || r[v] < -max_lag)
      detail::raise("retiming: lags must lie within +-2^60, got r(", v, ") = ", r[v]);
}

/// w_r = w + r(to) − r(from): the registers an edge from -> to carrying w holds after retiming.
constexpr std::int64_t retimed_weight(std::int64_t w, std::int64_t r_from, std::int64_t r_to) {
  return w + r_to - r_from;
}

constexpr std::int64_t retimed_weight(const sdf_graph& g, const retiming& r, int e) {
  const sdf_edge& x = g.edges()[static_cast<std::size_t>(e)];
  return retimed_weight(x.delays, r[static_cast<std::size_t>(x.from)], r[static_cast<std::size_t>(x.to)]);
}

/// "'a' -> 'b' -> 'a'" for a cycle or path given by its edges, in order.
constexpr std::string describe_path(const sdf_graph& g, std::span<const int> edges) {
  std::string out;
  if (edges.empty()) return out;
  const auto first = g.edges()[static_cast<std::size_t>(edges.front())];
  append_node(out, g.nodes()[static_cast<std::size_t>(first.from)].name, first.from);
  for (int e : edges) {
    const auto to = g.edges()[static_cast<std::size_t>(e)].to;
    out += " -> ";
    append_node(out, g.nodes()[static_cast<std::size_t>(to)].name, to);
  }
  out += " (edges";
  for (int e : edges) {
    out += ' ';
    append_int(out, e);
  }
  out += ')';
  return out;
}

struct zero_delay_analysis {
  std::vector<double> arrival;  // Δ(v); empty when there is a zero-delay cycle
  std::vector<int> cycle;       // edges of a zero-delay cycle, in order; empty if none
};

/// Longest zero-delay path ending at each node (Kahn's order over the edges with weight(e) == 0),
/// or a zero-delay cycle. `out` is the out-adjacency of g; weight(e) gives w_r(e) >= 0.
template <class Weight>
constexpr zero_delay_analysis analyse_zero_delay(const sdf_graph& g, const csr& out, Weight weight) {
  const auto n = static_cast<std::size_t>(g.num_nodes());
  const auto nodes = g.nodes();
  const auto edges = g.edges();
  zero_delay_analysis result;
  std::vector<int> pending(n, 0);  // zero-delay in-edges not yet processed
  for (std::size_t e = 0; e < edges.size(); ++e)
    if (weight(static_cast<int>(e)) == 0) ++pending[static_cast<std::size_t>(edges[e].to)];
  std::vector<double> arrival(n, 0.0);
  std::vector<int> order;
  order.reserve(n);
  for (std::size_t v = 0; v < n; ++v) {
    arrival[v] = nodes[v].time;
    if (pending[v] == 0) order.push_back(static_cast<int>(v));
  }
  for (std::size_t head = 0; head < order.size(); ++head) {
    const int u = order[head];
    for (int e : out.of(u)) {
      if (weight(e) != 0) continue;
      const auto v = static_cast<std::size_t>(edges[static_cast<std::size_t>(e)].to);
      arrival[v] = std::max(arrival[v], arrival[static_cast<std::size_t>(u)] + nodes[v].time);
      if (--pending[v] == 0) order.push_back(static_cast<int>(v));
    }
  }
  if (order.size() == n) {
    result.arrival = std::move(arrival);
    return result;
  }
  // Every unprocessed node has a zero-delay in-edge from another unprocessed node: walking such
  // edges backwards must revisit a node, closing a zero-delay cycle.
  const csr in = build_csr(g.num_nodes(), g.num_edges(), [&](int e) { return edges[static_cast<std::size_t>(e)].to; });
  std::vector<int> seen_at(n, -1);  // position in the backward walk
  std::vector<int> walk;            // edges, backwards
  int v = 0;
  while (pending[static_cast<std::size_t>(v)] == 0) ++v;
  while (seen_at[static_cast<std::size_t>(v)] < 0) {
    seen_at[static_cast<std::size_t>(v)] = static_cast<int>(walk.size());
    for (int e : in.of(v)) {
      const int u = edges[static_cast<std::size_t>(e)].from;
      if (weight(e) == 0 && pending[static_cast<std::size_t>(u)] > 0) {
        walk.push_back(e);
        v = u;
        break;
      }
    }
  }
  // walk[seen_at[v]..] leads backwards from v around to v again.
  result.cycle.assign(walk.begin() + seen_at[static_cast<std::size_t>(v)], walk.end());
  std::reverse(result.cycle.begin(), result.cycle.end());
  return result;
}

constexpr csr out_csr(const sdf_graph& g) {
  const auto edges = g.edges();
  return build_csr(g.num_nodes(), g.num_edges(), [&](int e) { return edges[static_cast<std::size_t>(e)].from; });
}

constexpr void raise_zero_delay_cycle(const sdf_graph& g, std::span<const int> cycle, const char* what) {
  detail::raise("retiming: the circuit has a zero-delay cycle, so its ", what, " is undefined; cycle = ",
                describe_path(g, cycle));
}

}  // namespace detail::retiming_impl

/// w_r(e) = w(e) + r(v) - r(u) for edge e: u -> v.
constexpr std::int64_t retimed_delays(const sdf_graph& g, const retiming& r, int edge) {
  detail::retiming_impl::check_size(g, r);
  (void)g.edge(edge);  // range check
  return detail::retiming_impl::retimed_weight(g, r, edge);
}

/// True iff every edge keeps w_r(e) >= 0.
constexpr bool is_legal(const sdf_graph& g, const retiming& r) {
  detail::retiming_impl::check_size(g, r);
  for (int e = 0; e < g.num_edges(); ++e)
    if (detail::retiming_impl::retimed_weight(g, r, e) < 0) return false;
  return true;
}

/// Throws naming the first edge with w_r(e) < 0.
constexpr void check_legal(const sdf_graph& g, const retiming& r) {
  detail::retiming_impl::check_size(g, r);
  for (int e = 0; e < g.num_edges(); ++e) {
    const auto wr = detail::retiming_impl::retimed_weight(g, r, e);
    if (wr < 0) {
      const sdf_edge& x = g.edge(e);
      detail::raise("retiming: illegal retiming, edge ", e, " '", g.node(x.from).name, "' -> '", g.node(x.to).name,
                    "' would carry w_r = w + r(to) - r(from) = ", x.delays, " + ", r[static_cast<std::size_t>(x.to)],
                    " - ", r[static_cast<std::size_t>(x.from)], " = ", wr, " registers (must be >= 0)");
    }
  }
}

/// The retimed graph G_r: same nodes and edges, edge e carrying w_r(e). Checks legality.
constexpr sdf_graph retimed(const sdf_graph& g, const retiming& r) {
  check_legal(g, r);
  std::vector<sdf_node> nodes(g.nodes().begin(), g.nodes().end());
  std::vector<sdf_edge> edges(g.edges().begin(), g.edges().end());
  for (std::size_t e = 0; e < edges.size(); ++e)
    edges[e].delays = detail::retiming_impl::retimed_weight(g, r, static_cast<int>(e));
  return sdf_graph(std::move(nodes), std::move(edges));
}

/// Registers along a path or loop given by its edges in order (each edge must start where the
/// previous one ends). A legal retiming leaves every loop's count unchanged.
constexpr std::int64_t path_delays(const sdf_graph& g, std::span<const int> edges) {
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const sdf_edge& x = g.edge(edges[i]);
    if (i > 0) {
      const sdf_edge& prev = g.edge(edges[i - 1]);
      if (prev.to != x.from)
        detail::raise("path_delays: the edges do not form a path, edge ", edges[i - 1], " ends at node ", prev.to,
                      " but the next edge ", edges[i], " starts at node ", x.from);
    }
    if (x.delays > std::numeric_limits<std::int64_t>::max() - sum)
      detail::raise("path_delays: the register count overflows 64 bits after edge ", edges[i]);
    sum += x.delays;
  }
  return sum;
}

/// Δ(v): the longest zero-delay path ending at v, counting every node's time including v's
/// (REFERENCE §2). Throws on a zero-delay cycle, naming it.
constexpr std::vector<double> arrival_times(const sdf_graph& g) {
  const auto out = detail::retiming_impl::out_csr(g);
  const auto edges = g.edges();
  auto a = detail::retiming_impl::analyse_zero_delay(
      g, out, [&](int e) { return edges[static_cast<std::size_t>(e)].delays; });
  if (!a.cycle.empty()) detail::retiming_impl::raise_zero_delay_cycle(g, a.cycle, "clock period");
  return std::move(a.arrival);
}

/// The edges of a zero-delay cycle, in order, or an empty vector if there is none.
constexpr std::vector<int> find_zero_delay_cycle(const sdf_graph& g) {
  const auto out = detail::retiming_impl::out_csr(g);
  const auto edges = g.edges();
  return detail::retiming_impl::analyse_zero_delay(
             g, out, [&](int e) { return edges[static_cast<std::size_t>(e)].delays; })
      .cycle;
}

/// Φ(G): the largest total time along a path without registers; 0 for an empty graph.
constexpr double clock_period(const sdf_graph& g) {
  double phi = 0;
  for (double a : arrival_times(g)) phi = std::max(phi, a);
  return phi;
}

/// Φ(G_r), the clock period after retiming by r (checks legality).
constexpr double clock_period(const sdf_graph& g, const retiming& r) { return clock_period(retimed(g, r)); }

/// A loop attaining the iteration bound: its edges in order and its ratio Σ time / Σ registers.
struct critical_loop {
  double ratio = 0;
  std::vector<int> edges;  // empty when the graph has no cycle
};

namespace detail::retiming_impl {

/// A cycle with Σ(t(u) - λ·w(e)) > tol over its edges e: u -> v (a cycle whose ratio exceeds λ),
/// or empty. Bellman-Ford for a negative cycle under c(e) = λ·w(e) - t(u), from a virtual source.
/// A node relaxed in pass n lies n predecessor steps from a predecessor cycle (the pass in which
/// a node's predecessor last changed is at most one less than its own), and every predecessor
/// cycle is negative.
constexpr std::vector<int> cycle_above_ratio(const sdf_graph& g, double lambda, double tol) {
  const auto n = static_cast<std::size_t>(g.num_nodes());
  const auto nodes = g.nodes();
  const auto edges = g.edges();
  std::vector<double> dist(n, 0.0);
  std::vector<int> pred(n, -1);
  int last = -1;
  for (std::size_t pass = 1; pass <= n; ++pass) {
    last = -1;
    for (std::size_t e = 0; e < edges.size(); ++e) {
      const auto u = static_cast<std::size_t>(edges[e].from), v = static_cast<std::size_t>(edges[e].to);
      const double cand = dist[u] + (lambda * static_cast<double>(edges[e].delays) - nodes[u].time);
      if (cand < dist[v] - tol) {
        dist[v] = cand;
        pred[v] = static_cast<int>(e);
        last = static_cast<int>(v);
      }
    }
    if (last < 0) return {};
  }
  int v = last;
  for (std::size_t step = 0; step < n; ++step) v = edges[static_cast<std::size_t>(pred[static_cast<std::size_t>(v)])].from;
  std::vector<int> cycle;
  int x = v;
  do {
    const int e = pred[static_cast<std::size_t>(x)];
    cycle.push_back(e);
    x = edges[static_cast<std::size_t>(e)].from;
  } while (x != v);
  std::reverse(cycle.begin(), cycle.end());
  return cycle;
}

constexpr double loop_ratio(const sdf_graph& g, std::span<const int> cycle) {
  double time = 0;
  std::int64_t delays = 0;
  for (int e : cycle) {
    const sdf_edge& x = g.edges()[static_cast<std::size_t>(e)];
    time += g.nodes()[static_cast<std::size_t>(x.from)].time;
    delays += x.delays;
  }
  return time / static_cast<double>(delays);
}

}  // namespace detail::retiming_impl

/// The loop with the largest Σ time / Σ registers (Lawler's parametric test, exact finish):
/// bisection on λ with a Bellman-Ford positive-cycle test, where every cycle the test finds
/// raises the lower bound to that cycle's own ratio; the search stops once no cycle beats the
/// best ratio found. The result is therefore the ratio of an actual loop, computed from its
/// own times and registers, hence exact when one loop attains the maximum. O(|V||E|) per test,
/// at most about 130 tests. Throws on a zero-delay cycle (the bound would be infinite or 0/0).
constexpr critical_loop find_critical_loop(const sdf_graph& g) {
  namespace impl = detail::retiming_impl;
  const auto zero = find_zero_delay_cycle(g);
  if (!zero.empty()) impl::raise_zero_delay_cycle(g, zero, "iteration bound");
  double total_time = 0, max_time = 0;
  for (const auto& v : g.nodes()) {
    total_time += v.time;
    max_time = std::max(max_time, v.time);
  }
  std::int64_t max_delays = 0;
  for (const auto& e : g.edges()) max_delays = std::max(max_delays, e.delays);
  const auto tolerance = [&](double lambda) {
    // Rounding noise of the distance sums, far below any gap between distinct loop ratios of
    // realistic inputs.
    return 1e-9 * (max_time + lambda * static_cast<double>(max_delays)) + 1e-300;
  };
  critical_loop best;
  best.edges = impl::cycle_above_ratio(g, -1.0, 0.0);  // λ < 0: every cycle qualifies
  if (best.edges.empty()) return best;                 // acyclic
  best.ratio = impl::loop_ratio(g, best.edges);
  double hi = total_time;  // no loop's ratio exceeds Σ time / 1
  for (int round = 0; round < 200; ++round) {
    auto better = impl::cycle_above_ratio(g, best.ratio, tolerance(best.ratio));
    if (better.empty()) return best;
    const double r = impl::loop_ratio(g, better);
    if (!(r > best.ratio)) return best;  // rounding: no real progress left
    best = critical_loop{r, std::move(better)};
    const double mid = best.ratio + (hi - best.ratio) / 2;
    if (!(mid > best.ratio && mid < hi)) return best;
    auto above = impl::cycle_above_ratio(g, mid, tolerance(mid));
    if (above.empty()) {
      hi = mid;
    } else {
      const double ra = impl::loop_ratio(g, above);
      if (ra > best.ratio) best = critical_loop{ra, std::move(above)};
    }
  }
  return best;
}

/// T∞ = max over loops of Σ time / Σ registers; 0 if the graph has no cycle. No retiming can
/// reach a clock period below it (the loop invariant); throws on a zero-delay cycle.
constexpr double iteration_bound(const sdf_graph& g) { return find_critical_loop(g).ratio; }

}  // namespace layerpipe
