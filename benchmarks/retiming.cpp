// Networks, partitions and retiming: LayerPipe delay derivation on chains of 10^3…10^6 layers
// and on DAGs with skips of ~10^5 layers, minimum-period retiming on circuits of 10^2…10^3
// nodes, and the balanced partitioner on 10^6 layers into 64 stages.
// Targets on the 2-core reference machine: chains ≥ 10^7 layers/s; a 10^5-node DAG ≤ 50 ms.
#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/builders.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/retime/layerpipe.hpp>
#include <layerpipe/retime/min_period.hpp>
#include <layerpipe/retime/sdf_graph.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

layerpipe::graph uniform_chain(int layers) {
  std::vector<layerpipe::layer> list(static_cast<std::size_t>(layers));
  for (int i = 0; i < layers; ++i) {
    auto& l = list[static_cast<std::size_t>(i)];
    l.name = "l" + std::to_string(i);
    l.forward = 1.0 + (i % 7) * 0.25;  // uneven, so the partitioner has work to do
    l.input_grad = l.weight_grad = l.forward;
    l.activation_bytes = 4096;
    l.weight_bytes = 65536;
  }
  return layerpipe::graph::chain(std::move(list));
}

/// P equal contiguous groups (the last one takes the remainder).
layerpipe::partition equal_groups(int layers, int stages) {
  std::vector<int> sizes(static_cast<std::size_t>(stages), layers / stages);
  sizes.back() += layers % stages;
  return layerpipe::partition::contiguous(std::move(sizes));
}

void layers_per_second(benchmark::State& state, int layers) {
  state.counters["layers_per_s"] = benchmark::Counter(static_cast<double>(layers),
                                                      benchmark::Counter::kIsIterationInvariantRate);
}

void bm_derive_delays_chain(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0));
  const auto g = uniform_chain(layers);
  const auto part = equal_groups(layers, 64 < layers ? 64 : layers);
  for (auto _ : state) {
    auto plan = layerpipe::derive_delays(g, part);
    benchmark::DoNotOptimize(plan);
  }
  layers_per_second(state, layers);
}

void bm_derive_delays_resnet_dag(benchmark::State& state) {
  const auto g = layerpipe::resnet_like(static_cast<int>(state.range(0)));
  const auto part = equal_groups(g.num_layers(), 64);
  for (auto _ : state) {
    auto plan = layerpipe::derive_delays(g, part);
    benchmark::DoNotOptimize(plan);
  }
  state.counters["layers"] = g.num_layers();
  state.counters["edges"] = g.num_edges();
  layers_per_second(state, g.num_layers());
}

void bm_graph_build_chain(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0));
  const auto g = uniform_chain(layers);
  std::vector<layerpipe::layer> list(g.layers().begin(), g.layers().end());
  std::vector<layerpipe::edge> edges(g.edges().begin(), g.edges().end());
  for (auto _ : state) {
    layerpipe::graph copy(list, edges);  // validation, CSR, topological order
    benchmark::DoNotOptimize(copy);
  }
  layers_per_second(state, layers);
}

void bm_balanced_partition(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0));
  const auto g = uniform_chain(layers);
  for (auto _ : state) {
    auto part = layerpipe::balanced_partition(g, 64);
    benchmark::DoNotOptimize(part);
  }
  layers_per_second(state, layers);
}

/// A synchronous circuit: a ring of n nodes with one register every 8 edges, plus chords that
/// skip ahead (with registers) — deterministic, so runs are comparable.
layerpipe::sdf_graph circuit(int n) {
  layerpipe::sdf_graph g;
  std::uint32_t seed = 12345;
  auto next = [&seed] { seed = seed * 1103515245u + 12345u; return (seed >> 8) & 0xffffu; };
  for (int v = 0; v < n; ++v) g.add_node("v" + std::to_string(v), 1.0 + static_cast<double>(next() % 7));
  for (int v = 0; v < n; ++v) g.add_edge(v, (v + 1) % n, v % 8 == 7 ? 1 : 0);
  for (int v = 0; v < n; v += 3) {
    const int to = (v + 2 + static_cast<int>(next() % 11)) % n;
    if (to != v) g.add_edge(v, to, 1 + static_cast<std::int64_t>(next() % 3));
  }
  return g;
}

void bm_min_period_retiming(benchmark::State& state) {
  const auto g = circuit(static_cast<int>(state.range(0)));
  double period = 0.0;
  for (auto _ : state) {
    auto result = layerpipe::min_period_retiming(g);
    period = result.period;
    benchmark::DoNotOptimize(result);
  }
  state.counters["period"] = period;
  state.counters["nodes"] = g.num_nodes();
}

}  // namespace

BENCHMARK(bm_derive_delays_chain)->RangeMultiplier(10)->Range(1000, 1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_derive_delays_resnet_dag)->Arg(1000)->Arg(50000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_graph_build_chain)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_balanced_partition)->Arg(1000000)->Unit(benchmark::kMillisecond);
BENCHMARK(bm_min_period_retiming)->Arg(100)->Arg(300)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
