// Every registered schedule family, straight from the registry: generation and timed simulation
// in ns per action at P = 64, M = 1024 (the size; V = 2 where a family takes chunks) and
// at P = 8, M = 32. Targets on the 2-core reference machine: generation ≤ 10 ns/action,
// simulation ≤ 50 ns/action. A family added to the registry is benchmarked without an edit here.
//
//   layerpipe_bench_families --benchmark_filter='generate/dualpipe' --benchmark_min_time=0.2
#include <layerpipe/schedule/families.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>

#include "common.hpp"

#include <benchmark/benchmark.h>

#include <string>

namespace {

using layerpipe::bench::per_action;

layerpipe::schedule build(const layerpipe::family_info& f, int devices, int micro_batches) {
  layerpipe::schedule_params p;
  p.devices = devices;
  p.micro_batches = micro_batches;
  p.chunks = f.uses_chunks ? 2 : 1;
  return layerpipe::make_schedule(f.name, p);
}

void generate(benchmark::State& state, const layerpipe::family_info* f) {
  const int p = static_cast<int>(state.range(0)), m = static_cast<int>(state.range(1));
  std::size_t actions = 0;
  try {  // a size the family does not allow is reported, not crashed on
    actions = build(*f, p, m).size();
  } catch (const layerpipe::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  for (auto _ : state) {
    layerpipe::schedule s = build(*f, p, m);
    benchmark::DoNotOptimize(s);
  }
  per_action(state, actions);
}

void simulate(benchmark::State& state, const layerpipe::family_info* f) {
  layerpipe::schedule s;
  try {
    s = build(*f, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  } catch (const layerpipe::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  const auto costs = layerpipe::cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(0.1);
  for (auto _ : state) {
    layerpipe::timeline t = layerpipe::simulate(s, costs);
    benchmark::DoNotOptimize(t);
  }
  per_action(state, s.size());
}

}  // namespace

int main(int argc, char** argv) {
  for (const layerpipe::family_info& f : layerpipe::schedule_families()) {
    const std::string name(f.name);
    benchmark::RegisterBenchmark(("generate/" + name).c_str(), generate, &f)->Args({8, 32})->Args({64, 1024});
    benchmark::RegisterBenchmark(("simulate/" + name).c_str(), simulate, &f)->Args({8, 32})->Args({64, 1024});
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
