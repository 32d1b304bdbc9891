// The cost-aware zero-bubble generator (schedule/zb_auto.hpp): time per call and per generated
// action at P = 8, M = 64 and at the size P = 32, M = 256 (target: <= 1 s per call on
// the 2-core reference machine). Two cost settings: equal times, and unequal stages with a slow
// stage, T_W > T_F and a transfer latency.
#include <layerpipe/schedule/zb_auto.hpp>

#include "common.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

namespace {

layerpipe::zb_auto_options options(int p, bool unequal) {
  layerpipe::zb_auto_options o;
  o.stage_costs.assign(static_cast<std::size_t>(p), layerpipe::pass_costs{1.0, 1.0, 1.0});
  if (unequal) {
    for (auto& c : o.stage_costs) c = {1.0, 1.2, 1.5};
    o.stage_costs[static_cast<std::size_t>(p / 2)] = {1.5, 1.8, 2.2};
    o.p2p_latency = 0.05;
  }
  return o;  // memory_cap 0: 2P
}

void run(benchmark::State& state, bool unequal) {
  const int p = static_cast<int>(state.range(0)), m = static_cast<int>(state.range(1));
  const layerpipe::zb_auto_options o = options(p, unequal);
  std::size_t actions = 0;
  for (auto _ : state) {
    layerpipe::schedule s = layerpipe::zero_bubble_auto(p, m, o);
    actions = s.size();
    benchmark::DoNotOptimize(s);
  }
  layerpipe::bench::per_action(state, actions);
}

void bm_zb_auto_equal(benchmark::State& state) { run(state, false); }
void bm_zb_auto_unequal(benchmark::State& state) { run(state, true); }

void sizes(benchmark::internal::Benchmark* b) {
  b->Args({8, 64})->Args({32, 256})->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(bm_zb_auto_equal)->Apply(sizes);
BENCHMARK(bm_zb_auto_unequal)->Apply(sizes);
BENCHMARK_MAIN();
