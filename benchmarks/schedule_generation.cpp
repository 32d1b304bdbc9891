// Schedule generation speed: ns per generated action for P ∈ {4, 16, 64}, M ∈ {8, 64, 1024}.
// Target on the 2-core reference machine: ≤ 10 ns/action, linear in P·M·V.
#include <layerpipe/schedule/generators.hpp>
#include <layerpipe/schedule/lower.hpp>

#include "common.hpp"

#include <benchmark/benchmark.h>

namespace {

template <class Make>
void run_generation(benchmark::State& state, Make make) {
  try {  // a size the family does not allow (interleaved with M < P) is skipped, not crashed on
    (void)make(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  } catch (const layerpipe::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::size_t actions = 0;
  for (auto _ : state) {
    layerpipe::schedule s = make(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
    actions = s.size();
    benchmark::DoNotOptimize(s);
  }
  layerpipe::bench::per_action(state, actions);
}

void bm_gpipe(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::gpipe(p, m); });
}
void bm_1f1b(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::one_f_one_b(p, m); });
}
void bm_interleaved_v2(benchmark::State& state) {
  run_generation(state, [](int p, int m) {
    return layerpipe::interleaved_1f1b(p, m, 2);  // automatic Megatron group size
  });
}
void bm_looped_bfs_v2(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::looped_bfs(p, m, 2); });
}
void bm_zb_h1(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::zb_h1(p, m); });
}
void bm_zb_h2(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::zb_h2(p, m); });
}
void bm_zb_v(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::zb_v(p, m); });
}
void bm_layerpipe_async(benchmark::State& state) {
  run_generation(state, [](int p, int m) { return layerpipe::layerpipe_async(p, m); });
}
void bm_lower_1f1b(benchmark::State& state) {
  const auto s = layerpipe::one_f_one_b(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  std::size_t actions = 0;
  for (auto _ : state) {
    layerpipe::schedule lowered = layerpipe::lower(s);
    actions = lowered.size();
    benchmark::DoNotOptimize(lowered);
  }
  layerpipe::bench::per_action(state, actions);
}

}  // namespace

BENCHMARK(bm_gpipe)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_1f1b)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_interleaved_v2)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_looped_bfs_v2)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_zb_h1)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_zb_h2)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_zb_v)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_layerpipe_async)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK(bm_lower_1f1b)->Apply(layerpipe::bench::pipeline_sizes);
BENCHMARK_MAIN();
