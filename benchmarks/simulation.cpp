// Timed simulation and validation speed: ns per simulated action for P ∈ {4, 16, 64},
// M ∈ {8, 64, 1024}. Target on the 2-core reference machine: ≤ 50 ns/action, linear in P·M·V.
#include <layerpipe/schedule/generators.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include "common.hpp"

#include <benchmark/benchmark.h>

namespace {

using layerpipe::bench::per_action;

layerpipe::schedule interleaved_v2(int p, int m) {
  return layerpipe::interleaved_1f1b(p, m, 2);  // automatic Megatron group size
}

const layerpipe::cost_model costs =
    layerpipe::cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(0.1).with_activation_bytes(1 << 20);

void bm_simulate_1f1b(benchmark::State& state) {
  const auto s = layerpipe::one_f_one_b(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    layerpipe::timeline t = layerpipe::simulate(s, costs);
    benchmark::DoNotOptimize(t);
  }
  per_action(state, s.size());
}
void bm_simulate_interleaved_v2(benchmark::State& state) {
  layerpipe::schedule s;
  try {  // a size the family does not allow (M < P) is skipped, not crashed on
    s = interleaved_v2(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  } catch (const layerpipe::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    layerpipe::timeline t = layerpipe::simulate(s, costs);
    benchmark::DoNotOptimize(t);
  }
  per_action(state, s.size());
}
template <class Make>
void simulate_family(benchmark::State& state, Make make) {
  const auto s = make(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    layerpipe::timeline t = layerpipe::simulate(s, costs);
    benchmark::DoNotOptimize(t);
  }
  per_action(state, s.size());
}
void bm_simulate_zb_h1(benchmark::State& state) { simulate_family(state, layerpipe::zb_h1); }
void bm_simulate_zb_h2(benchmark::State& state) { simulate_family(state, layerpipe::zb_h2); }
void bm_simulate_zb_v(benchmark::State& state) { simulate_family(state, layerpipe::zb_v); }
void bm_simulate_lowered_1f1b(benchmark::State& state) {
  const auto s = layerpipe::lower(layerpipe::one_f_one_b(static_cast<int>(state.range(0)), static_cast<int>(state.range(1))));
  for (auto _ : state) {
    layerpipe::timeline t = layerpipe::simulate(s, costs);
    benchmark::DoNotOptimize(t);
  }
  per_action(state, s.size());
}
void bm_validate_1f1b(benchmark::State& state) {
  const auto s = layerpipe::one_f_one_b(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    layerpipe::validate(s);
    benchmark::ClobberMemory();
  }
  per_action(state, s.size());
}
void bm_measure_1f1b(benchmark::State& state) {
  const auto s = layerpipe::one_f_one_b(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  const auto t = layerpipe::simulate(s, costs);
  for (auto _ : state) {
    layerpipe::schedule_metrics m = layerpipe::measure(s, t, costs);
    benchmark::DoNotOptimize(m);
  }
  per_action(state, s.size());
}

}  // namespace

BENCHMARK(bm_simulate_1f1b)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_simulate_interleaved_v2)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_simulate_zb_h1)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_simulate_zb_h2)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_simulate_zb_v)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_simulate_lowered_1f1b)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_validate_1f1b)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_measure_1f1b)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK_MAIN();
