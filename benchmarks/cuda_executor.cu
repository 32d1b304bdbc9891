// The CUDA executor's figures, for scripts/gpu-check (a fixed set of runs and a table rather than
// Google Benchmark, so it finishes in seconds and prints one table last):
//   (1) overhead per action: stages that enqueue nothing, so the host time of run() is all
//       planning, event waits and records, issuing and the final synchronisation; divided by the
//       lowered schedule's action count (SEND/RECV included). Streams and graph capture.
//   (2) measured vs simulated makespan: each F, I and W launches one single-thread kernel that
//       spins on the GPU's global timer for a known time (F = I = W = 200 µs, so B = 400 µs);
//       the makespan measured with CUDA events against simulate() under the same uniform cost
//       model (ratio 1 would be a perfect executor; streams of one GPU run concurrently, each
//       spin kernel holding one SM).
//
//   layerpipe_bench_cuda_executor [--table FILE]   # also writes the table to FILE
//
// Without a GPU it says so and exits 77.
#include <layerpipe/exec/cuda.cuh>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// Spins one thread until `ns` nanoseconds of the GPU's global timer have passed.
__global__ void spin_for(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

/// Stages that enqueue nothing: only the executor's own work is timed.
struct empty_stages {
  using tensor = int;
  int input(int mb, cudaStream_t) { return mb; }
  int forward(int, int, const int& in, cudaStream_t) { return in; }
  int loss_gradient(int, const int& out, cudaStream_t) { return out; }
  int backward_input(int, int, const int& g, cudaStream_t) { return g; }
  void backward_weight(int, int, cudaStream_t) {}
  void update(int, cudaStream_t) {}
};

/// Stages whose passes take a known time on the GPU.
struct spin_stages {
  using tensor = int;
  unsigned long long f_ns, i_ns, w_ns;
  int input(int mb, cudaStream_t) { return mb; }
  int forward(int, int, const int& in, cudaStream_t s) {
    spin_for<<<1, 1, 0, s>>>(f_ns);
    return in;
  }
  int loss_gradient(int, const int& out, cudaStream_t) { return out; }
  int backward_input(int, int, const int& g, cudaStream_t s) {
    spin_for<<<1, 1, 0, s>>>(i_ns);
    return g;
  }
  void backward_weight(int, int, cudaStream_t s) { spin_for<<<1, 1, 0, s>>>(w_ns); }
  void update(int, cudaStream_t) {}
};

struct row {
  std::string run, mode;
  std::size_t actions = 0;
  double overhead_us = -1, measured_ms = -1, simulated_ms = -1;
};

layerpipe::cuda_options mode_options(bool graph) {
  layerpipe::cuda_options o;
  o.capture_graph = graph;
  return o;
}

row overhead(const std::string& name, const layerpipe::schedule& s, bool graph) {
  layerpipe::cuda_context ctx(mode_options(graph));
  empty_stages st;
  ctx.run(s, st);  // warm-up: creates streams and events
  constexpr int reps = 20;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) ctx.run(s, st);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row r{name, graph ? "graph" : "streams", layerpipe::lower(s).size()};
  r.overhead_us = 1e6 * secs / reps / static_cast<double>(r.actions);
  return r;
}

row makespan(const std::string& name, const layerpipe::schedule& s, bool graph) {
  constexpr double f = 200e-6, i = 200e-6, w = 200e-6;
  const layerpipe::timeline sim = layerpipe::simulate(s, layerpipe::cost_model::uniform({f, i, w}));
  layerpipe::cuda_context ctx(mode_options(graph));
  spin_stages st{200000, 200000, 200000};
  ctx.run(s, st);  // warm-up
  std::vector<double> measured;
  for (int k = 0; k < 5; ++k) measured.push_back(ctx.run(s, st).makespan());
  std::sort(measured.begin(), measured.end());
  row r{name, graph ? "graph" : "streams", layerpipe::lower(s).size()};
  r.measured_ms = 1e3 * measured[measured.size() / 2];  // the median of 5
  r.simulated_ms = 1e3 * sim.makespan();
  return r;
}

std::string format(const std::vector<row>& rows, const std::string& card) {
  std::ostringstream out;
  out << "CUDA executor on " << card << "\n";
  out << "| run                  | mode    | actions | overhead/action | measured  | simulated | ratio |\n";
  out << "|----------------------|---------|---------|-----------------|-----------|-----------|-------|\n";
  char line[256];
  for (const row& r : rows) {
    char over[32] = "-", meas[32] = "-", sim[32] = "-", ratio[32] = "-";
    if (r.overhead_us >= 0) std::snprintf(over, sizeof over, "%.2f us", r.overhead_us);
    if (r.measured_ms >= 0) {
      std::snprintf(meas, sizeof meas, "%.3f ms", r.measured_ms);
      std::snprintf(sim, sizeof sim, "%.3f ms", r.simulated_ms);
      std::snprintf(ratio, sizeof ratio, "%.3f", r.measured_ms / r.simulated_ms);
    }
    std::snprintf(line, sizeof line, "| %-20s | %-7s | %7zu | %15s | %9s | %9s | %5s |\n", r.run.c_str(), r.mode.c_str(),
                  r.actions, over, meas, sim, ratio);
    out << line;
  }
  return out.str();
}

int run(int argc, char** argv) {
  std::string table_file;
  for (int k = 1; k < argc; ++k) {
    const std::string_view a = argv[k];
    if (a == "--table" && k + 1 < argc) {
      table_file = argv[++k];
    } else {
      std::cerr << "usage: layerpipe_bench_cuda_executor [--table FILE]\n";
      return 2;
    }
  }
  int gpus = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&gpus); e != cudaSuccess || gpus == 0) {
    std::cerr << "layerpipe_bench_cuda_executor: no CUDA device (" << (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices")
              << "); skipped (exit 77)\n";
    return 77;
  }
  cudaDeviceProp prop{};
  if (const cudaError_t e = cudaGetDeviceProperties(&prop, 0); e != cudaSuccess) {
    std::cerr << "cudaGetDeviceProperties: " << cudaGetErrorString(e) << "\n";
    return 1;
  }
  const std::string card = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
                           std::to_string(prop.multiProcessorCount) + " SMs)";
  std::vector<row> rows;
  rows.push_back(overhead("1F1B P=4 M=64", layerpipe::one_f_one_b(4, 64), false));
  rows.push_back(overhead("1F1B P=4 M=64", layerpipe::one_f_one_b(4, 64), true));
  rows.push_back(overhead("interleaved P=4 M=64", layerpipe::interleaved_1f1b(4, 64, 2), false));
  rows.push_back(makespan("GPipe P=4 M=16", layerpipe::gpipe(4, 16), false));
  rows.push_back(makespan("1F1B P=4 M=16", layerpipe::one_f_one_b(4, 16), false));
  rows.push_back(makespan("1F1B P=4 M=16", layerpipe::one_f_one_b(4, 16), true));
  rows.push_back(makespan("interleaved P=4 M=16", layerpipe::interleaved_1f1b(4, 16, 2), false));
  const std::string table = format(rows, card);
  std::cout << table;
  if (!table_file.empty()) {
    std::ofstream file(table_file);
    file << table;
    if (!file) {
      std::cerr << "cannot write " << table_file << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "layerpipe_bench_cuda_executor: " << e.what() << '\n';
    return 1;
  }
}
