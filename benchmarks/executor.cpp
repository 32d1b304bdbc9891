// Executors: (1) the overhead per action of run_sequential and thread_context with stages that do
// nothing (P ∈ {2, 4, 8}, M = 64, 1F1B and interleaved V = 2); (2) the threads executor on
// synthetic stages of known duration (F = 200 µs, B = 400 µs of busy-waiting), its measured
// makespan against simulate() under the same uniform cost model. Target for (2): ratio ≤ 1.05
// while there are at least as many cores as devices; with more devices than cores the busy
// threads share the cores and the ratio is bounded below by core_bound (see README.md).
#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/threads.hpp>
#include <layerpipe/schedule/generators.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>

#include "common.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <thread>

namespace {

// ---- (1) overhead: stages that do nothing ----------------------------------------------------

struct empty_stages {
  using tensor = int;  // trivially copyable: the executor's own bookkeeping is all that is timed
  int input(int mb) { return mb; }
  int forward(int, int, const int& in) { return in; }
  int loss_gradient(int, const int& out) { return out; }
  int backward_input(int, int, const int& g) { return g; }
  int backward(int, int, const int& g) { return g; }
  void backward_weight(int, int) {}
  void update(int) {}
};

using layerpipe::bench::per_action;

void devices(benchmark::internal::Benchmark* b) {
  for (int p : {2, 4, 8}) b->Args({p, 64});
}

layerpipe::schedule make(bool interleaved, benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const int m = static_cast<int>(state.range(1));
  return interleaved ? layerpipe::interleaved_1f1b(p, m, 2) : layerpipe::one_f_one_b(p, m);
}

// Each run lowers, validates and (threads) plans the mailboxes, starts and joins P threads: all of
// it is the executor's overhead. Actions are counted in the lowered schedule (SEND/RECV included),
// as the executors run it.
template <class Executor>
void overhead(benchmark::State& state, bool interleaved) {
  const layerpipe::schedule s = make(interleaved, state);
  const Executor ex{};
  empty_stages st;
  for (auto _ : state) {
    layerpipe::timeline t = ex.run(s, st);
    benchmark::DoNotOptimize(t);
  }
  per_action(state, layerpipe::lower(s).size());
}

struct sequential_runner {
  layerpipe::timeline run(const layerpipe::schedule& s, empty_stages& st) const {
    return layerpipe::run_sequential(s, st);
  }
};
struct threads_runner {
  layerpipe::thread_context ctx;
  layerpipe::timeline run(const layerpipe::schedule& s, empty_stages& st) const { return ctx.run(s, st); }
};

void bm_sequential_1f1b(benchmark::State& state) { overhead<sequential_runner>(state, false); }
void bm_threads_1f1b(benchmark::State& state) { overhead<threads_runner>(state, false); }
void bm_sequential_interleaved_v2(benchmark::State& state) { overhead<sequential_runner>(state, true); }
void bm_threads_interleaved_v2(benchmark::State& state) { overhead<threads_runner>(state, true); }

// ---- (2) synthetic stages of known duration ------------------------------------------------

using std::chrono::steady_clock;

// Busy-waits (does not sleep) until `d` has passed on steady_clock, so the thread keeps its core.
void busy_for(steady_clock::duration d) {
  const auto until = steady_clock::now() + d;
  while (steady_clock::now() < until) {
  }
}

constexpr std::chrono::microseconds t_f{200}, t_i{200}, t_w{200};  // T_B = T_I + T_W = 400 µs

struct busy_stages {
  using tensor = int;
  int input(int mb) { return mb; }
  int forward(int, int, const int& in) {
    busy_for(t_f);
    return in;
  }
  int loss_gradient(int, const int& out) { return out; }
  int backward_input(int, int, const int& g) {
    busy_for(t_i);
    return g;
  }
  int backward(int, int, const int& g) {
    busy_for(t_i + t_w);
    return g;
  }
  void backward_weight(int, int) { busy_for(t_w); }
  void update(int) {}
};

double seconds(std::chrono::microseconds d) { return std::chrono::duration<double>(d).count(); }

// Counters in ms: measured (mean over the iterations), simulated, their ratio, and core_bound,
// the least ratio possible on this machine: the schedule's busy time spread over its cores,
// max(simulated, total busy time / cores) / simulated (1 when there are at least P cores);
// cores_used tells whether the run had the cores to itself; launch_ms is the part of the measured
// makespan before the first action starts (thread start-up), ratio_after_launch the ratio without it.
void bm_threads_busy_1f1b(benchmark::State& state) {
  const int p = static_cast<int>(state.range(0));
  const int m = static_cast<int>(state.range(1));
  const layerpipe::schedule s = layerpipe::one_f_one_b(p, m);
  const layerpipe::cost_model costs =
      layerpipe::cost_model::uniform({seconds(t_f), seconds(t_i), seconds(t_w)});
  const layerpipe::timeline sim = layerpipe::simulate(s, costs);
  double busy = 0.0;
  for (const auto& x : sim.spans) busy += x.duration();
  const double cores = std::max(1u, std::thread::hardware_concurrency());

  const layerpipe::thread_context ctx;
  busy_stages st;
  double measured = 0.0;
  double launch = 0.0;  // time to the first span's start: starting the threads (t0 is after planning)
  const std::clock_t cpu0 = std::clock();  // CPU time of the whole process, all threads
  const auto wall0 = steady_clock::now();
  for (auto _ : state) {
    layerpipe::timeline t = ctx.run(s, st);
    measured += t.makespan();
    double first = t.makespan();
    for (const auto& x : t.spans) first = std::min(first, x.start);
    launch += first;
    benchmark::DoNotOptimize(t);
  }
  const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  const double wall = std::chrono::duration<double>(steady_clock::now() - wall0).count();
  const double mean = measured / static_cast<double>(state.iterations());
  const double mean_launch = launch / static_cast<double>(state.iterations());
  state.counters["measured_ms"] = mean * 1e3;
  state.counters["simulated_ms"] = sim.makespan() * 1e3;
  state.counters["ratio"] = mean / sim.makespan();
  state.counters["launch_ms"] = mean_launch * 1e3;
  state.counters["ratio_after_launch"] = (mean - mean_launch) / sim.makespan();
  state.counters["core_bound"] = std::max(sim.makespan(), busy / cores) / sim.makespan();
  // Cores this process kept busy on average: near 1 instead of near 2 when other processes took
  // cores from the run (a shared machine), which inflates the ratio too.
  state.counters["cores_used"] = cpu / wall;
}

void busy_sizes(benchmark::internal::Benchmark* b) {
  for (int p : {2, 4, 8})  // P = 8 (and 4) oversubscribe a 2-core machine: see core_bound
    for (int m : {8, 16}) b->Args({p, m});
}

}  // namespace

BENCHMARK(bm_sequential_1f1b)->Apply(devices);
BENCHMARK(bm_threads_1f1b)->Apply(devices)->UseRealTime();
BENCHMARK(bm_sequential_interleaved_v2)->Apply(devices);
BENCHMARK(bm_threads_interleaved_v2)->Apply(devices)->UseRealTime();
// A few runs of 5–40 ms each, whatever --benchmark_min_time says, so the smoke run stays short.
BENCHMARK(bm_threads_busy_1f1b)->Apply(busy_sizes)->Iterations(20)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
