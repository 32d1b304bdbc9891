// layerpipe/retime/detail/delay_solver.hpp — the LayerPipe retiming problem as difference
// constraints, solved by the retime/ engine; the checks of user-given delays and the witness loop
// of a delay that is too small.
//
// For an edge e: a -> b carrying w registers and needing q after retiming (training_dfg::
// min_registers: the stage boundaries it crosses; 0 = legality only), w_r(e) = w + r(b) − r(a) >= q
// is r(a) − r(b) <= w − q. The weight edge U_l -> F_l is also kept at exactly one register, which
// adds r(b) − r(a) <= q − w. A gradient feedback edge B_l -> U_l enters only when its delay d_l is
// given (check_delays); for the derivation its weight is the unknown and the edge is left out,
// so a feasible retiming then allows any d_l >= r(B_l) − r(U_l), the smallest being the delay.
//
// The engine returns the greatest solution below 0. The variables are the NEGATED lags
// x_v = −r(v), so that greatest x is the earliest retiming: r(v) is the longest demand path from
// the host to v. That minimises every r(B_l) − r(U_l) at once: the host pins each forward node to
// its stage index s(l) (input edges and forward edges demand exactly the stage difference, and the
// demands along any path telescope), and B_l then sits at the longest path through the DFG's
// F -> ... -> B part, which is F_l's own longest path to B_l plus r(F_l) — the lower bound every
// legal retiming must respect. (Without the host, two source layers in different stages could
// leave a source's F too early and inflate a delay; the host is Leiserson–Saxe's.)
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/retime/constraints.hpp>
#include <layerpipe/retime/retiming.hpp>
#include <layerpipe/retime/training_dfg.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace layerpipe::detail::layerpipe_impl {

/// The constraints of one edge a -> b (w registers, q demanded) on x = −r, handed to visit(u, v,
/// bound): x_b − x_a <= w − q, and for the weight edge also x_a − x_b <= q − w. A feedback edge
/// enters only with with_feedback, its delay capped at a value every loop accepts (no demand in a
/// P-stage DFG exceeds 2P, so a larger d_l behaves like 2P + 2 and the bounds stay small).
template <class Visit>
constexpr void edge_constraints(dfg_edge_kind kind, int from, int to, std::int64_t w, std::int64_t q,
                                bool with_feedback, std::int64_t cap, Visit&& visit) {
  if (kind == dfg_edge_kind::feedback) {
    if (with_feedback) visit(to, from, (w < cap ? w : cap) - q);
    return;
  }
  visit(to, from, w - q);                                    // r(from) − r(to) <= w − q
  if (kind == dfg_edge_kind::weight) visit(from, to, q - w);  // and w_r <= q
}

/// Appends edge_constraints to a list (lag_constraints, and the build hook the tests use).
struct constraint_writer {
  std::vector<difference_constraint>* out = nullptr;
  bool with_feedback = false;
  std::int64_t cap = 0;
  constexpr void operator()(dfg_edge_kind kind, int from, int to, std::int64_t w, std::int64_t q) const {
    edge_constraints(kind, from, to, w, q, with_feedback, cap,
                     [this](int u, int v, std::int64_t bound) { out->push_back({u, v, bound}); });
  }
};

constexpr std::int64_t feedback_cap(int stages) { return 2 * static_cast<std::int64_t>(stages) + 2; }

/// The difference constraints of t on x = −r, in edge order (topological: one pass settles them).
constexpr std::vector<difference_constraint> lag_constraints(const training_dfg& t, bool with_feedback) {
  const std::span<const sdf_edge> edges = t.dfg.edges();
  std::vector<difference_constraint> cs;
  cs.reserve(edges.size() + t.weight_edge.size());
  const constraint_writer write{&cs, with_feedback, feedback_cap(t.stages)};
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const sdf_edge& x = edges[e];
    write(t.edge_kind[e], x.from, x.to, x.delays,
          demanded(t.edge_kind[e], t.node_stage[static_cast<std::size_t>(x.from)],
                   t.node_stage[static_cast<std::size_t>(x.to)]));
  }
  return cs;
}

/// Solves constraints on x = −r; the earliest lags, or an empty retiming if infeasible.
constexpr retiming solve_lags(int nodes, std::span<const difference_constraint> cs) {
  auto s = solve_difference_constraints(nodes, cs);
  if (!s.feasible) return {};
  for (auto& x : s.values) x = -x;
  return std::move(s.values);
}

/// The earliest legal retiming meeting every stage demand (feedback edges as in lag_constraints),
/// or an empty retiming if none exists. Only called where the system is known to be feasible or
/// small: a negative cycle costs the engine |V| passes.
constexpr retiming earliest_lags(const training_dfg& t, bool with_feedback) {
  return solve_lags(t.dfg.num_nodes(), lag_constraints(t, with_feedback));
}

/// Registers demanded by an edge beyond those it carries: q − w (the lag increase it forces).
constexpr std::int64_t demand(const training_dfg& t, std::size_t e) {
  const sdf_edge& x = t.dfg.edges()[e];
  return demanded(t.edge_kind[e], t.node_stage[static_cast<std::size_t>(x.from)],
                  t.node_stage[static_cast<std::size_t>(x.to)]) -
         x.delays;
}

/// The update loop of layer l that needs the most gradient-delay registers: U_l -> F_l, then the
/// longest-demand path F_l ⇝ B_l, then B_l -> U_l. Returns its edges in order; need = the
/// registers it demands of B_l -> U_l. One sweep in edge order is a longest-path pass (the edges
/// are in topological order, weight edges answered by their reverse right after).
struct loop_witness {
  std::vector<int> edges;
  std::int64_t need = 0;
};

constexpr loop_witness update_loop(const training_dfg& t, int l) {
  const auto ul = static_cast<std::size_t>(l);
  const std::span<const sdf_edge> edges = t.dfg.edges();
  const auto n = static_cast<std::size_t>(t.dfg.num_nodes());
  constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();
  std::vector<std::int64_t> dist(n, none);
  std::vector<int> via(n, -1);  // edge that set dist; -2 marks U_l reached through F_l (reverse of the weight edge)
  const auto f = static_cast<std::size_t>(t.forward[ul]);
  dist[f] = 0;
  for (std::size_t e = 0; e < edges.size(); ++e) {
    if (t.edge_kind[e] == dfg_edge_kind::feedback) continue;
    const auto a = static_cast<std::size_t>(edges[e].from), b = static_cast<std::size_t>(edges[e].to);
    if (dist[a] != none && dist[a] + demand(t, e) > dist[b]) {
      dist[b] = dist[a] + demand(t, e);
      via[b] = static_cast<int>(e);
    }
    if (t.edge_kind[e] == dfg_edge_kind::weight && dist[b] != none && dist[b] - demand(t, e) > dist[a]) {
      dist[a] = dist[b] - demand(t, e);  // U -> F kept exact: r(U) >= r(F) too
      via[a] = -2;
    }
  }
  loop_witness w;
  const auto b = static_cast<std::size_t>(t.backward[ul]);
  w.need = dist[b];
  std::vector<int> path;
  for (std::size_t v = b; v != f;) {
    const int e = via[v];
    if (e < 0) raise("check_delays: internal error, no path F -> B in the update loop of layer ", l);
    path.push_back(e);
    v = static_cast<std::size_t>(edges[static_cast<std::size_t>(e)].from);
  }
  w.edges.push_back(t.weight_edge[ul]);
  w.edges.insert(w.edges.end(), path.rbegin(), path.rend());
  w.edges.push_back(t.feedback_edge[ul]);
  return w;
}

/// "U:a -> F:a -> F:b -> E:b -> B:b -> B:a -> U:a", shortened in the middle for long loops.
constexpr std::string describe_loop(const training_dfg& t, std::span<const int> loop) {
  const auto name = [&](int e, bool from) -> const std::string& {
    const sdf_edge& x = t.dfg.edges()[static_cast<std::size_t>(e)];
    return t.dfg.nodes()[static_cast<std::size_t>(from ? x.from : x.to)].name;
  };
  std::string out;
  if (!loop.empty()) out = name(loop.front(), true);
  constexpr std::size_t keep = 6;
  for (std::size_t i = 0; i < loop.size(); ++i) {
    if (loop.size() > 2 * keep + 4 && i == keep) {
      out += " -> ... (";
      out += decimal(static_cast<long long>(loop.size() - 2 * keep));
      out += " more)";
      i = loop.size() - keep - 1;
      continue;
    }
    out += " -> ";
    out += name(loop[i], false);
  }
  return out;
}

/// The engine's answer must meet edge e's demand: w_r >= q (so legal too: q >= 0), exactly q on a
/// weight edge. A miss is a bug here, never bad input.
constexpr void check_demand(dfg_edge_kind kind, std::size_t e, std::int64_t wr, std::int64_t q, std::string_view who) {
  if (wr < q || (kind == dfg_edge_kind::weight && wr != q))
    raise(who, ": internal error, the retiming leaves edge ", e, " with ", wr, " registers, needs ", q);
}

/// check_demand on every edge of t, after the engine's own legality check.
constexpr void check_demands(const training_dfg& t, const retiming& r, const char* who) {
  check_legal(t.dfg, r);
  const std::span<const sdf_edge> edges = t.dfg.edges();
  for (std::size_t e = 0; e < edges.size(); ++e)
    check_demand(t.edge_kind[e], e, retiming_impl::retimed_weight(t.dfg, r, static_cast<int>(e)),
                 demanded(t.edge_kind[e], t.node_stage[static_cast<std::size_t>(edges[e].from)],
                          t.node_stage[static_cast<std::size_t>(edges[e].to)]),
                 who);
}

constexpr training_dfg checked_dfg(const graph& g, const partition& p, std::span<const std::int64_t> delays,
                                   const char* who) {
  check_inputs(g, p, delays, who);
  if (delays.size() != static_cast<std::size_t>(g.num_layers()))
    raise(who, ": one gradient delay per layer is needed, got ", delays.size(), " delays for ", g.num_layers(),
          " layers");
  return build(g, p, delays, false, true, who);
}

struct short_loop {
  int layer = -1;  // -1: every update loop has its registers
  std::int64_t need = 0;
};

/// A loop short of registers is a negative cycle of the full system. Rather than have the engine
/// hunt for one (its cycle lists constraints, and may take many passes on a long chain), compare
/// each delay with the smallest legal one (one solve without the feedback edges, two passes).
/// Exact: d_l below it leaves B_l -> U_l negative under every legal retiming (delay_solver.hpp),
/// and check_delays confirms it with the loop's own demand before naming it.
constexpr short_loop first_short_loop(const training_dfg& t, std::span<const std::int64_t> delays) {
  const retiming minimal = earliest_lags(t, false);
  if (minimal.empty()) raise("check_delays: internal error, the stage demands admit no retiming");
  for (std::size_t l = 0; l < delays.size(); ++l) {
    const std::int64_t need = minimal[static_cast<std::size_t>(t.backward[l])] -
                              minimal[static_cast<std::size_t>(t.update[l])];
    if (delays[l] < need) return {static_cast<int>(l), need};
  }
  return {};
}

/// With every loop's registers in place the whole system (feedback edges included) must solve.
constexpr retiming full_retiming(const training_dfg& t) {
  retiming r = earliest_lags(t, true);
  if (r.empty()) raise("check_delays: internal error, no retiming although every loop has its registers");
  check_demands(t, r, "check_delays");
  return r;
}

}  // namespace layerpipe::detail::layerpipe_impl
