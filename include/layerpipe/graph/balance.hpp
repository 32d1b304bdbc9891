// layerpipe/graph/balance.hpp — the balanced partitioner: contiguous stages, smallest bottleneck.
//
// Cuts the layers, in index order, into `stages` non-empty runs so that the largest stage cost
// (Σ layer::total_cost(), summed in layer order) is as small as possible — exactly, not greedily:
// the optimum is the smallest double B for which a greedy furthest-reach probe fits the layers
// into `stages` runs of cost <= B, found by bisection over the bit patterns of non-negative
// doubles (which sort like the values), so about 60 O(n) probes. Among the cuts that reach the
// optimum, an even one is returned: each stage takes as near an equal share of the cost still to
// place as the optimum allows (so non-bottleneck stages are balanced too, not packed first). An optional per-stage memory cap
// bounds Σ (weight_bytes + activation_bytes) of each stage; when no cut fits it, the error names
// the smallest cap that would. Layer index order must be topological (every edge i -> j, i < j).
//
//   auto g = layerpipe::transformer_like(30);                       // 32 layers
//   auto p = layerpipe::balanced_partition(g, 4);                   // minimises the bottleneck
//   auto q = layerpipe::balanced_partition(g, 8, {.memory_cap = 4e9});
//   layerpipe::stage_costs(g, p);                                   // per stage, in layer order
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/partition.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace layerpipe {

struct balance_options {
  double memory_cap = std::numeric_limits<double>::infinity();  // bytes per stage
};

/// Σ total_cost() of each stage's layers, summed in ascending layer order.
constexpr std::vector<double> stage_costs(const graph& g, const partition& p) {
  p.check(g, true);
  std::vector<double> out(static_cast<std::size_t>(p.num_stages()), 0.0);
  for (int l = 0; l < g.num_layers(); ++l) out[static_cast<std::size_t>(p.stage_of(l))] += g.at(l).total_cost();
  return out;
}

/// Σ memory_bytes() (weights + activations) of each stage's layers, in ascending layer order.
constexpr std::vector<double> stage_memory(const graph& g, const partition& p) {
  p.check(g, true);
  std::vector<double> out(static_cast<std::size_t>(p.num_stages()), 0.0);
  for (int l = 0; l < g.num_layers(); ++l) out[static_cast<std::size_t>(p.stage_of(l))] += g.at(l).memory_bytes();
  return out;
}

/// The largest stage cost: what balanced_partition minimises.
constexpr double max_stage_cost(const graph& g, const partition& p) {
  double worst = 0;
  for (double c : stage_costs(g, p)) worst = c > worst ? c : worst;
  return worst;
}

namespace detail {
// Non-negative doubles sort like their bit patterns; -0.0 is mapped to +0.0 first.
constexpr std::uint64_t order_bits(double x) { return x == 0 ? 0 : std::bit_cast<std::uint64_t>(x); }
constexpr double from_order_bits(std::uint64_t b) { return std::bit_cast<double>(b); }

// Greedy furthest reach: each run takes layers while its cost stays <= limit and its memory
// <= cap. With non-negative weights this uses the fewest runs, so it decides feasibility.
// Returns whether the layers fit into at most `stages` runs.
constexpr bool fits(const std::vector<double>& cost, const std::vector<double>& memory, double limit, double cap,
                    int stages) {
  const std::size_t n = cost.size();
  std::size_t i = 0;
  for (int used = 0; i < n; ++used) {
    if (used == stages) return false;
    double c = 0, m = 0;
    const std::size_t first = i;
    while (i < n) {
      const double nc = c + cost[i], nm = m + memory[i];
      if (nc > limit || nm > cap) break;
      c = nc;
      m = nm;
      ++i;
    }
    if (i == first) return false;  // one layer alone breaks a limit
  }
  return true;
}

// The smallest limit in [lo, hi] (hi known to fit) for which fits() holds, exact to the bit.
template <class Fits>
constexpr double smallest_fitting(double lo, double hi, const Fits& fits_with) {
  std::uint64_t a = order_bits(lo), b = order_bits(hi);
  while (a < b) {
    const std::uint64_t mid = a + (b - a) / 2;
    if (fits_with(from_order_bits(mid))) b = mid;
    else a = mid + 1;
  }
  return from_order_bits(b);
}
}  // namespace detail

constexpr partition balanced_partition(const graph& g, int stages, balance_options o = {}) {
  const int n = g.num_layers();
  if (n < 1) detail::raise("balanced_partition: the graph has no layers");
  if (stages < 1) detail::raise("balanced_partition: the number of stages must be >= 1, got ", stages);
  if (stages > n)
    detail::raise("balanced_partition: ", stages, " stages cannot all be non-empty with ", n, " layers");
  if (!(o.memory_cap >= 0)) detail::raise("balanced_partition: the memory cap must be >= 0, got ", o.memory_cap);
  for (int e = 0; e < g.num_edges(); ++e) {
    const edge& x = g.edges()[static_cast<std::size_t>(e)];
    if (x.from > x.to)
      detail::raise("balanced_partition: contiguous stages need layers in topological index order, but ",
                    detail::describe_edge(g, e), " goes from a higher index to a lower one");
  }
  const auto un = static_cast<std::size_t>(n);
  std::vector<double> cost(un), memory(un);
  double total = 0, largest = 0, total_memory = 0, largest_memory = 0;
  for (std::size_t i = 0; i < un; ++i) {
    const layer& l = g.layers()[i];
    cost[i] = l.total_cost() + 0.0;  // + 0.0 turns -0.0 into +0.0
    memory[i] = l.memory_bytes() + 0.0;
    total += cost[i];
    total_memory += memory[i];
    largest = cost[i] > largest ? cost[i] : largest;
    largest_memory = memory[i] > largest_memory ? memory[i] : largest_memory;
  }
  constexpr double unlimited = std::numeric_limits<double>::infinity();
  if (!detail::fits(cost, memory, unlimited, o.memory_cap, stages)) {
    // Every run is a sub-run of the whole, so the total always fits in one stage.
    const double smallest = detail::smallest_fitting(largest_memory, total_memory, [&](double cap) {
      return detail::fits(cost, memory, unlimited, cap, stages);
    });
    detail::raise("balanced_partition: no ", stages, " contiguous stages fit the memory cap of ", o.memory_cap,
                  " bytes per stage; the smallest cap that fits is ", smallest, " bytes");
  }
  // Any run's in-order sum is at most the total's, so `total` fits; `largest` is a lower bound.
  const double bottleneck = detail::smallest_fitting(largest, total, [&](double limit) {
    return detail::fits(cost, memory, limit, o.memory_cap, stages);
  });
  // Rebuild a cut with that bottleneck. Among the cuts that reach it, take an even one: each
  // stage aims at an equal share of the cost still to place, as near as the bounds allow.
  // `earliest[r]` is the first position from which the last r stages can still be packed
  // (greedy from the right, which needs the fewest runs), so a boundary in
  // [max(earliest[r], start + 1), min(furthest reach, n − r)] keeps the rest feasible. The
  // right-to-left sums round differently from the in-order stage sums, so the even cut is
  // checked, and in the rare case it misses by an ulp the furthest-reach cut (always exact) is
  // used instead.
  const auto fits_run = [&](double c, double m) { return c <= bottleneck && m <= o.memory_cap; };
  std::vector<std::size_t> earliest(static_cast<std::size_t>(stages), un);
  for (std::size_t r = 1; r < static_cast<std::size_t>(stages); ++r) {
    std::size_t j = earliest[r - 1];
    double c = 0, m = 0;
    while (j > 0 && fits_run(c + cost[j - 1], m + memory[j - 1])) {
      c += cost[j - 1];
      m += memory[j - 1];
      --j;
    }
    earliest[r] = j;
  }
  std::vector<int> stage_of(un);
  std::size_t i = 0;
  double running = 0;  // cost of the stages cut so far
  bool even = true;
  for (int s = 0; s < stages && even; ++s) {
    const auto later = static_cast<std::size_t>(stages - 1 - s);
    const std::size_t lowest = std::max(i + 1, earliest[later]);
    const std::size_t highest = un - later;
    const double target = running + (total - running) / static_cast<double>(stages - s);
    double c = 0, m = 0;
    std::size_t end = i;
    while (end < highest && fits_run(c + cost[end], m + memory[end])) {
      const double nc = c + cost[end];
      // Stop before a layer that takes the running cost further from the target than it is.
      if (end + 1 > lowest && running + nc - target > target - (running + c)) break;
      c = nc;
      m += memory[end];
      ++end;
    }
    even = end >= lowest && (s + 1 < stages || end == un);
    for (; i < end; ++i) stage_of[i] = s;
    running += c;
  }
  if (!even) {  // furthest reach, leaving one layer for each later stage
    i = 0;
    for (int s = 0; s < stages; ++s) {
      const std::size_t end = un - static_cast<std::size_t>(stages - 1 - s);
      double c = 0, m = 0;
      const std::size_t first = i;
      while (i < end) {
        const double nc = c + cost[i], nm = m + memory[i];
        if (i > first && (nc > bottleneck || nm > o.memory_cap)) break;
        c = nc;
        m = nm;
        stage_of[i++] = s;
      }
    }
  }
  if (i != un) detail::raise("balanced_partition: internal error, the cut covers ", i, " of ", n, " layers");
  return partition(std::move(stage_of), stages);
}

}  // namespace layerpipe
