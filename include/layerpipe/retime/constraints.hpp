// layerpipe/retime/constraints.hpp — systems of difference constraints x_u - x_v <= b, solved
// by shortest paths (REFERENCE §2).
//
// Each constraint is an edge v -> u of weight b in the constraint graph; Bellman-Ford from a
// virtual source joined to every variable by a 0-weight edge gives a solution (all values
// <= 0), or a negative cycle proves the system infeasible. Retiming problems (legality, a target
// clock period, the LayerPipe delay derivation) are all such systems.
//
//   std::vector<layerpipe::difference_constraint> cs{
//       {0, 1, 2},    // x0 - x1 <= 2
//       {1, 0, -1}};  // x1 - x0 <= -1
//   auto s = layerpipe::solve_difference_constraints(2, cs);   // s.feasible, s.values {0, -1}
//   cs.push_back({0, 1, 0});                                   // x0 - x1 <= 0: contradicts x1 - x0 <= -1
//   layerpipe::solve_difference_constraints(2, cs).negative_cycle;   // {1, 2}: constraints in cycle order
//   layerpipe::solve_or_throw(2, cs);   // throws, listing both constraints and their sum -1 < 0
//   // Constraints generated rather than stored: the enumerator calls visit(u, v, bound) for each,
//   // in the same order every time (x_{i+1} - x_i <= -1 along a chain of 1000 variables).
//   layerpipe::solve_difference_constraints(1000, [](auto&& visit) {
//     for (int i = 0; i + 1 < 1000; ++i) visit(i + 1, i, -1);
//   });                                                        // values 0, -1, ..., -999
//
// Speed: one pass is a single sweep over the constraints in the order given, updating values
// in place (so a constraint list in topological order settles in one or two passes), and the
// solver stops at the first pass that changes nothing. Memory: the values and one predecessor
// link per variable (none while unlinked passes are asked for); nothing is allocated per
// constraint, and the enumerator form needs no constraint list at all.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/retime/detail/text.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace layerpipe {

/// x_u - x_v <= bound.
struct difference_constraint {
  int u = 0;
  int v = 0;
  std::int64_t bound = 0;
  friend constexpr bool operator==(const difference_constraint&, const difference_constraint&) = default;
};

struct constraint_solution {
  bool feasible = false;
  std::vector<std::int64_t> values;  // a solution when feasible (every value <= 0)
  /// When infeasible: indices of constraints forming a cycle c_1, ..., c_k with c_i.u == c_{i+1}.v
  /// and c_k.u == c_1.v, whose bounds sum to < 0 (adding them up gives 0 <= negative).
  std::vector<int> negative_cycle;
};

namespace detail::retiming_impl {

/// |bound| <= this keeps every intermediate value within 64 bits (see the solver).
constexpr std::int64_t max_bound(int variables) {
  return std::numeric_limits<std::int64_t>::max() / (2 * (static_cast<std::int64_t>(variables) + 1));
}

constexpr void append_constraint(std::string& out, const difference_constraint& c, int index,
                                 std::span<const std::string> names) {
  const auto var = [&](int x) {
    if (static_cast<std::size_t>(x) < names.size() && !names[static_cast<std::size_t>(x)].empty()) {
      out += "x['";
      out += names[static_cast<std::size_t>(x)];
      out += "']";
    } else {
      out += "x";
      append_int(out, x);
    }
  };
  var(c.u);
  out += " - ";
  var(c.v);
  out += " <= ";
  append_int(out, c.bound);
  out += " (constraint ";
  append_int(out, index);
  out += ')';
}

}  // namespace detail::retiming_impl

/// "x3 - x5 <= -1 (constraint 7), x5 - x3 <= 0 (constraint 9); the bounds sum to -1 < 0".
/// `names` (optional) names the variables.
constexpr std::string describe_constraint_cycle(std::span<const difference_constraint> constraints,
                                                std::span<const int> cycle,
                                                std::span<const std::string> names = {}) {
  std::string out;
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < cycle.size(); ++i) {
    const auto& c = constraints[static_cast<std::size_t>(cycle[i])];
    if (i > 0) out += ", ";
    detail::retiming_impl::append_constraint(out, c, cycle[i], names);
    sum += c.bound;
  }
  out += "; the bounds sum to ";
  detail::retiming_impl::append_int(out, sum);
  out += " < 0";
  return out;
}

namespace detail::retiming_impl {

/// The constraint that last lowered a variable, and that constraint's v (where the walk goes next).
struct predecessor {
  int constraint = -1;
  int from = -1;
};

/// Index of a vertex on a cycle of the predecessor graph (v -> pred[v].from), or -1.
/// O(n): each vertex is walked once; `mark` is scratch of size n.
constexpr int find_predecessor_cycle(std::span<const predecessor> pred, std::vector<int>& mark) {
  const auto n = pred.size();
  mark.assign(n, -1);  // -1: unvisited; otherwise the walk that reached the vertex first
  for (std::size_t start = 0; start < n; ++start) {
    if (mark[start] >= 0) continue;
    int x = static_cast<int>(start);
    while (x >= 0 && mark[static_cast<std::size_t>(x)] < 0) {
      mark[static_cast<std::size_t>(x)] = static_cast<int>(start);
      x = pred[static_cast<std::size_t>(x)].from;
    }
    if (x >= 0 && mark[static_cast<std::size_t>(x)] == static_cast<int>(start)) return x;
  }
  return -1;
}

/// Why constraint i breaks the input rules (constraint_ok is false).
constexpr void reject_constraint(std::size_t i, int u, int v, std::int64_t bound, int variables, std::int64_t limit) {
  if (u < 0 || u >= variables || v < 0 || v >= variables)
    detail::raise("difference constraints: constraint ", i, " (x", u, " - x", v, " <= ", bound,
                  ") names a variable outside 0..", variables - 1);
  if (bound > limit || bound < -limit)
    detail::raise("difference constraints: constraint ", i, " has |bound| = ", bound,
                  " beyond the 64-bit safe limit ", limit, " for ", variables, " variables");
}

/// Raises for constraint `index` of the enumeration, which broke the input rules.
template <class Enumerate>
constexpr void reject_nth(Enumerate& for_each_constraint, std::size_t index, int variables, std::int64_t limit) {
  std::size_t i = 0;
  for_each_constraint([&](int u, int v, std::int64_t bound) {
    if (i++ == index) reject_constraint(index, u, v, bound, variables, limit);
  });
  detail::raise("difference constraints: constraint ", index,
                " broke the input rules in one enumeration but not in the next; an enumerator must repeat itself");
}

/// The input rules, checked on each constraint before it is first used: variables in range, |bound| <= limit.
/// (The test is kept apart from the message so that the solver's inner loop stays small.)
constexpr bool constraint_ok(int u, int v, std::int64_t bound, int variables, std::int64_t limit) {
  return u >= 0 && u < variables && v >= 0 && v < variables && bound <= limit && bound >= -limit;
}

inline constexpr std::size_t no_constraint = static_cast<std::size_t>(-1);

struct sweep_result {
  bool changed = false;
  int witness = -1;  // a variable whose predecessor walk proves a negative cycle; relaxing stopped there
  std::size_t rejected = no_constraint;  // the first constraint breaking the input rules (Check)
};

/// One Bellman-Ford pass: every constraint in enumeration order, relaxed in place. Once a change
/// proves a negative cycle (in the last pass, or a value below `floor`) the pass stops relaxing.
/// Track: record predecessor links; Check: apply the input rules (the first pass), skipping and
/// reporting a constraint that breaks them (the message is built outside the loop, which stays small).
template <bool Track, bool Check, class Enumerate>
constexpr sweep_result sweep(Enumerate& for_each_constraint, std::int64_t* x, predecessor* pred, bool last_pass,
                             std::int64_t floor, int variables, std::int64_t limit) {
  bool changed = false;
  int witness = -1;
  std::size_t rejected = no_constraint;
  std::size_t i = 0;  // the next constraint's index, counted only where it is used
  for_each_constraint([&](int u, int v, std::int64_t bound) {
    const std::size_t index = i;
    if constexpr (Track || Check) ++i;
    if constexpr (Check)
      if (!constraint_ok(u, v, bound, variables, limit)) {
        if (rejected == no_constraint) rejected = index;
        return;
      }
    if (witness >= 0) return;
    const std::int64_t cand = x[v] + bound;
    if (cand < x[u]) {
      x[u] = cand;
      if constexpr (Track) pred[u] = {static_cast<int>(index), v};
      changed = true;
      if (last_pass || cand < floor) witness = u;
    }
  });
  return {changed, witness, rejected};
}

}  // namespace detail::retiming_impl

/// Bellman-Ford from a virtual source (every x starts at 0) over constraints given by an
/// enumerator: for_each_constraint(visit) must call visit(u, v, bound) (x_u - x_v <= bound) once
/// per constraint, in the same order on every call; constraint indices (negative_cycle, messages)
/// are positions in that order. Nothing is stored per constraint, so a caller that can generate
/// its constraints (the LayerPipe derivation) need not hold them. Passes sweep the constraints in
/// order, in place, and stop as soon as a pass changes nothing.
///
/// Infeasibility is a negative cycle, found from the predecessor links (the constraint that last
/// lowered each variable), which always form negative cycles when they form any:
/// - after passes that changed something (each of the first 8, then every 8th), an
///   O(variables) search of the predecessor graph usually catches the cycle within a few passes;
/// - as a guarantee, a change in pass `variables` (impossible without a negative cycle) starts a
///   walk of `variables` predecessor steps, which must end on a cycle: the pass in which a
///   node's predecessor last changed is at most one below its own, and untouched nodes (pass 0)
///   have none;
/// - a value falling below -variables·max|bound| also proves a negative cycle on its
///   predecessor walk (no simple path is that short) and keeps the arithmetic inside 64 bits.
/// The cycle is returned in order (constraint c_i's u is c_{i+1}'s v).
///
/// The links serve only that detection, and a feasible system never has a predecessor cycle, so
/// `unlinked_passes` > 0 first tries that many passes without them (no link written, no search
/// run); a system that needs more starts over with the links. Either way the answer is the same,
/// the linked run's. Worth it where the constraints come in an order that settles at once: listed
/// in topological order they settle in pass 1 and pass 2 confirms (derive_delays asks for 2);
/// elsewhere it wastes up to that many passes, hence the default 0.
///
/// Errors: variables < 0, a constraint naming a variable out of range, |bound| too large for
/// 64-bit sums (> INT64_MAX / (2·(variables + 1))); every constraint is checked in the first pass,
/// before any answer.
template <class Enumerate>
  requires(!std::convertible_to<Enumerate, std::span<const difference_constraint>>)
constexpr constraint_solution solve_difference_constraints(int variables, Enumerate&& for_each_constraint,
                                                           int unlinked_passes = 0) {
  using detail::retiming_impl::predecessor;
  using detail::retiming_impl::sweep;
  if (variables < 0) detail::raise("difference constraints: the number of variables must be >= 0, got ", variables);
  const std::int64_t limit = detail::retiming_impl::max_bound(variables);
  const auto n = static_cast<std::size_t>(variables);
  const std::int64_t floor = -static_cast<std::int64_t>(variables) * limit;
  constraint_solution s;
  s.values.assign(n, 0);
  std::int64_t* x = s.values.data();
  bool checked = false;  // pass 1 checks the input, once
  const auto reject = [&](const detail::retiming_impl::sweep_result& r) {
    if (r.rejected != detail::retiming_impl::no_constraint)
      detail::retiming_impl::reject_nth(for_each_constraint, r.rejected, variables, limit);
  };

  // Without links, if asked for.
  for (std::size_t pass = 1; pass <= static_cast<std::size_t>(unlinked_passes > 0 ? unlinked_passes : 0); ++pass) {
    const auto r = checked ? sweep<false, false>(for_each_constraint, x, nullptr, pass == n, floor, variables, limit)
                           : sweep<false, true>(for_each_constraint, x, nullptr, pass == n, floor, variables, limit);
    reject(r);
    checked = true;
    if (!r.changed) {
      s.feasible = true;
      return s;
    }
    if (r.witness >= 0) break;
  }
  if (checked) {  // start over
    s.values.assign(n, 0);
    x = s.values.data();
  }

  // With links. Pass 1 runs even without variables, to check the input.
  std::vector<predecessor> pred(n);
  std::vector<int> scratch;
  int on_cycle = -1;
  for (std::size_t pass = 1; pass <= n || pass == 1; ++pass) {
    const auto r = checked ? sweep<true, false>(for_each_constraint, x, pred.data(), pass == n, floor, variables, limit)
                           : sweep<true, true>(for_each_constraint, x, pred.data(), pass == n, floor, variables, limit);
    reject(r);
    checked = true;
    if (!r.changed) {
      s.feasible = true;
      return s;
    }
    if (r.witness >= 0) {
      on_cycle = r.witness;
      for (std::size_t step = 0; step < n; ++step) {
        on_cycle = pred[static_cast<std::size_t>(on_cycle)].from;
        if (on_cycle < 0) detail::raise("difference constraints: internal error, a predecessor walk left the cycle");
      }
      break;
    }
    // The O(variables) search after passes 1..8, then every 8th: early detection for the
    // common case, at most 1/8 extra work on long runs.
    if (pass <= 8 || pass % 8 == 0) {
      on_cycle = detail::retiming_impl::find_predecessor_cycle(pred, scratch);
      if (on_cycle >= 0) break;
    }
  }
  if (on_cycle < 0) detail::raise("difference constraints: internal error, no pass settled and no cycle was found");
  int z = on_cycle;
  do {
    const predecessor& link = pred[static_cast<std::size_t>(z)];
    s.negative_cycle.push_back(link.constraint);
    z = link.from;
  } while (z != on_cycle);
  std::reverse(s.negative_cycle.begin(), s.negative_cycle.end());
  s.values.clear();
  return s;
}

/// The same solver over a stored list, in the order given (the engine's usual entry point).
constexpr constraint_solution solve_difference_constraints(int variables,
                                                           std::span<const difference_constraint> constraints) {
  return solve_difference_constraints(variables, [constraints](auto&& visit) {
    for (const difference_constraint& c : constraints) visit(c.u, c.v, c.bound);
  });
}

/// The solution's values, or layerpipe::error listing the constraints of a negative cycle
/// ("infeasible difference constraints: x['a'] - x['b'] <= -1 (constraint 4), ...").
constexpr std::vector<std::int64_t> solve_or_throw(int variables, std::span<const difference_constraint> constraints,
                                                   std::span<const std::string> names = {}) {
  auto s = solve_difference_constraints(variables, constraints);
  if (!s.feasible)
    detail::raise("difference constraints are infeasible, a cycle of constraints adds up to 0 <= negative: ",
                  describe_constraint_cycle(constraints, s.negative_cycle, names));
  return std::move(s.values);
}

}  // namespace layerpipe
