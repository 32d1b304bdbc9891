// benchmarks/common.hpp — what the schedule benchmarks share: the (P, M) sweep of the targets
// and the per-action counter every figure in benchmarks/README.md is read from.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>

namespace layerpipe::bench {

/// Time per action (printed with its unit, e.g. 3.2ns) and the action count.
inline void per_action(benchmark::State& state, std::size_t actions) {
  state.counters["actions"] = static_cast<double>(actions);
  state.counters["per_action"] = benchmark::Counter(
      static_cast<double>(actions), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

/// P ∈ {4, 16, 64} × M ∈ {8, 64, 1024}, the sizes the targets name.
inline void pipeline_sizes(benchmark::internal::Benchmark* b) {
  for (int p : {4, 16, 64})
    for (int m : {8, 64, 1024}) b->Args({p, m});
}

}  // namespace layerpipe::bench
