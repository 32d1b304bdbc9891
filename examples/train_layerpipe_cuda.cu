// layerpipe-train-cuda — the flagship model (train_layerpipe_model.hpp: 8-layer MLP, width 32,
// 4 stages, LayerPipe's systolic delays) trained on ONE GPU with the CUDA executor: a stream per
// pipeline stage, CUDA events for every dependency, one synchronisation per window.
//
//   layerpipe-train-cuda                  # full run
//   layerpipe-train-cuda --quick          # a few short windows (test suite, gpu-check)
//   layerpipe-train-cuda --trace my.json  # Chrome trace of one measured async window
//
//     stream 0: F F F F B F B F B ...   stage 0 (layers 0,1)        events carry each
//     stream 1:   F F F B F B F B ...   stage 1 (layers 2,3)        activation down and
//     stream 2:     F F B F B F B ...   stage 2 (layers 4,5)        each gradient up;
//     stream 3:       F B F B F B ...   stage 3 (layers 6,7) + MSE  the host never waits
//
// The task is the host example's regression (teacher–student, MSE, same data and seeds). Runs:
//   1. synchronous 1F1B: one_f_one_b(4, M) plus one U per device; the window's M gradients are
//      summed and each stage updates once with their mean. It must equal sequential training
//      with the same accumulation, computed here on the host with the same layer maths
//      (thrust::cpp::par); the program prints the largest weight difference (float rounding,
//      fused multiply-adds on the GPU) and fails beyond 1e-3;
//   2. the same with the step captured as a CUDA graph: bitwise the same weights (fails if not);
//   3. LayerPipe's asynchronous pipeline, layerpipe_async(4, M): SGD after every micro-batch;
//      the backward propagates with the exact weights W(n − d) of each layer (a ring of the last
//      d versions on the device), d from derive_delays. The held-out loss must fall.
// Losses are read back after each window (a reduction inside a step would synchronise the host).
// Without a GPU the program says so and exits 77 (skipped).
#include "train_layerpipe_model.hpp"

#include <layerpipe/exec/cuda.cuh>
#include <layerpipe/io/chrome_trace.hpp>
#include <layerpipe/nn/loss.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/transform.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <limits>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace layerpipe_train;  // model, data and layer maths shared with layerpipe-train
using buffer = layerpipe::cuda_buffer<real>;

struct settings {
  int windows = 20;
  int micro_batches = 32;
  std::size_t batch = 16;
  double lr = 0.05;    // async: SGD per micro-batch
  int sync_scale = 8;  // sync runs: lr x 8 with the mean of M gradients (as layerpipe-train)
  std::string trace = "layerpipe_train_cuda.json";
};

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) layerpipe::detail::fail("train-cuda: ", what, ": ", cudaGetErrorString(e));
}

buffer upload(const std::vector<real>& v) {  // outside a step: synchronous is fine
  buffer d(v.size());
  cuda_ok(cudaMemcpy(d.data(), v.data(), v.size() * sizeof(real), cudaMemcpyHostToDevice), "upload");
  // From pageable memory cudaMemcpy may return before the DMA lands, and the executor's
  // non-blocking streams do not wait for the default stream: wait for it here.
  cuda_ok(cudaStreamSynchronize(nullptr), "upload (wait for the copy)");
  return d;
}
std::vector<real> download(const buffer& d) {
  std::vector<real> v(d.size());
  cuda_ok(cudaMemcpy(v.data(), d.data(), v.size() * sizeof(real), cudaMemcpyDeviceToHost), "download");
  return v;
}

/// w -= lr * (g * inv): SGD with the mean of the accumulated gradients (inv = 1 / count).
struct sgd_mean {
  real lr, inv;
  LAYERPIPE_HD real operator()(real w, real g) const { return w - lr * (g * inv); }
};

/// The model's stages on one GPU (layerpipe::cuda_pipeline_stages). Every call only enqueues on
/// its stream; buffers made during a window are kept until end_window(), after the executor's
/// final synchronisation (the CUDA stage contract).
class device_stages {
public:
  using tensor = buffer;

  device_stages(const model_plan& plan, const std::vector<std::vector<real>>& init, double lr, std::size_t batch,
                bool accumulate, bool stale_weights)
      : lr_(static_cast<real>(lr)), batch_(batch), accumulate_(accumulate), stage_layers_(stages_total) {
    for (int l = 0; l < layers_total; ++l) {
      layer s;
      s.params = upload(init[static_cast<std::size_t>(l)]);
      s.grad = buffer(layer_size(l));
      s.delay = stale_weights ? plan.delays[static_cast<std::size_t>(l)] : 0;
      for (std::int64_t k = 0; k < s.delay; ++k) s.ring.emplace_back(layer_size(l));
      layers_.push_back(std::move(s));
      stage_layers_[static_cast<std::size_t>(plan.part.stage_of(l))].push_back(l);
    }
  }

  int num_stages() const { return stages_total; }
  void set_window(std::vector<buffer> inputs, std::vector<buffer> targets) {
    inputs_ = std::move(inputs);
    targets_ = std::move(targets);
  }

  tensor input(int mb, cudaStream_t s) { return copy(inputs_[static_cast<std::size_t>(mb)], s); }

  tensor forward(int stage, int mb, const tensor& in, cudaStream_t s) {
    const real* a = in.data();
    tensor out;
    for (int l : stage_layers_[static_cast<std::size_t>(stage)]) {
      layer& L = layers_[static_cast<std::size_t>(l)];
      tensor y(batch_ * fan_out(l));
      layer_forward_into(thrust::cuda::par_nosync.on(s), L.params.data(), l, a, y.data(), batch_);
      L.inputs[mb] = copy_from(a, batch_ * fan_in(l), s);
      L.outputs[mb] = copy(y, s);
      a = y.data();
      keep_.push_back(std::move(out));
      out = std::move(y);
    }
    if (stage + 1 == stages_total) last_outputs_[mb] = copy(out, s);  // for the window's loss
    return out;
  }

  tensor loss_gradient(int mb, const tensor& out, cudaStream_t s) {
    tensor g(out.size());
    const cmatrix y{out.data(), batch_, outputs};
    nn::mse_gradient(thrust::cuda::par_nosync.on(s), y, cmatrix{targets_[static_cast<std::size_t>(mb)].data(), batch_, outputs},
                     matrix{g.data(), batch_, outputs});
    return g;
  }

  tensor backward_input(int stage, int mb, const tensor& grad_out, cudaStream_t s) {
    tensor g = copy(grad_out, s);  // the activation backward works in place
    const auto& mine = stage_layers_[static_cast<std::size_t>(stage)];
    for (auto it = mine.rbegin(); it != mine.rend(); ++it) {
      const int l = *it;
      layer& L = layers_[static_cast<std::size_t>(l)];
      const auto policy = thrust::cuda::par_nosync.on(s);
      layer_activation_backward(policy, l, L.outputs.at(mb).data(), g.data(), batch_);
      if (!accumulate_ || L.accumulated == 0) {
        cuda_ok(cudaMemsetAsync(L.grad.data(), 0, L.grad.size_bytes(), s), "cudaMemsetAsync");
        L.accumulated = 0;
      }
      ++L.accumulated;
      layer_weight_gradient(policy, l, L.inputs.at(mb).data(), g.data(), L.grad.data(), batch_);
      tensor dx(batch_ * fan_in(l));
      layer_input_gradient(policy, l, old_weights(L), g.data(), dx.data(), batch_);
      keep_.push_back(std::move(g));
      g = std::move(dx);
    }
    return g;
  }
  tensor backward(int stage, int mb, const tensor& grad_out, cudaStream_t s) { return backward_input(stage, mb, grad_out, s); }
  void backward_weight(int, int, cudaStream_t) {}  // formed in backward_input (fused B)

  void update(int stage, cudaStream_t s) {
    for (int l : stage_layers_[static_cast<std::size_t>(stage)]) {
      layer& L = layers_[static_cast<std::size_t>(l)];
      if (L.accumulated == 0) layerpipe::detail::fail("train-cuda: update without a gradient on layer ", l);
      if (L.delay > 0) {  // keep W(n) before it changes: the ring holds W(n − d + 1) … W(n)
        buffer& slot = L.ring[static_cast<std::size_t>(L.updates % L.delay)];
        cuda_ok(cudaMemcpyAsync(slot.data(), L.params.data(), L.params.size_bytes(), cudaMemcpyDeviceToDevice, s),
                "cudaMemcpyAsync");
      }
      const real inv = real(1) / static_cast<real>(L.accumulated);
      thrust::transform(thrust::cuda::par_nosync.on(s), L.params.data(), L.params.data() + L.params.size(),
                        L.grad.data(), L.params.data(), sgd_mean{lr_, inv});
      L.accumulated = 0;
      ++L.updates;
    }
  }

  /// After run() returns: the window's mean loss (read back now, outside the step), then the
  /// window's buffers are freed.
  double end_window() {
    double sum = 0;
    for (const auto& [mb, y] : last_outputs_)
      sum += static_cast<double>(nn::mse_loss(thrust::cuda::par, cmatrix{y.data(), batch_, outputs},
                                              cmatrix{targets_[static_cast<std::size_t>(mb)].data(), batch_, outputs}));
    const double loss = last_outputs_.empty() ? std::nan("") : sum / static_cast<double>(last_outputs_.size());
    for (auto& L : layers_) {
      L.inputs.clear();
      L.outputs.clear();
    }
    last_outputs_.clear();
    keep_.clear();
    return loss;
  }

  std::vector<std::vector<real>> params() const {
    std::vector<std::vector<real>> out;
    for (const auto& L : layers_) out.push_back(download(L.params));
    return out;
  }

private:
  struct layer {
    buffer params, grad;
    std::int64_t delay = 0, updates = 0;
    std::vector<buffer> ring;  // exact stash: W(n − d) … W(n − 1)
    std::map<int, buffer> inputs, outputs;
    int accumulated = 0;
  };

  /// W(n − d) for the backward (W(0) while fewer than d updates exist; the current weights for
  /// d = 0): the first out × in entries are the weights.
  const real* old_weights(const layer& L) const {
    if (L.delay == 0 || L.updates == 0) return L.params.data();
    const std::int64_t back = std::max<std::int64_t>(L.updates - L.delay, 0);
    return L.ring[static_cast<std::size_t>(back % L.delay)].data();
  }
  tensor copy(const buffer& b, cudaStream_t s) { return copy_from(b.data(), b.size(), s); }
  tensor copy_from(const real* p, std::size_t n, cudaStream_t s) {
    tensor out(n);
    cuda_ok(cudaMemcpyAsync(out.data(), p, n * sizeof(real), cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync");
    return out;
  }

  real lr_;
  std::size_t batch_;
  bool accumulate_;
  std::vector<std::vector<int>> stage_layers_;
  std::vector<layer> layers_;
  std::vector<buffer> inputs_, targets_;
  std::map<int, buffer> last_outputs_;
  std::vector<buffer> keep_;  // temporaries of the window, freed by end_window()
};
static_assert(layerpipe::cuda_pipeline_stages<device_stages>);
static_assert(layerpipe::cuda_has_fused_backward<device_stages>);

struct run_result {
  std::string name;
  double train_loss = 0, eval_loss = 0;
  std::vector<std::vector<real>> params;
  std::optional<layerpipe::timeline> window;
};

double eval_loss(const std::vector<std::vector<real>>& params, const batch_data& held, std::size_t rows) {
  std::vector<real> a = held.x;
  for (int l = 0; l < layers_total; ++l) a = layer_forward(params[static_cast<std::size_t>(l)], l, a, rows);
  return static_cast<double>(nn::mse_loss(thrust::cpp::par, cmatrix{a.data(), rows, outputs},
                                          cmatrix{held.target.data(), rows, outputs}));
}

double max_difference(const std::vector<std::vector<real>>& a, const std::vector<std::vector<real>>& b) {
  double m = 0;
  for (std::size_t l = 0; l < a.size(); ++l)
    for (std::size_t i = 0; i < a[l].size(); ++i) {
      const double d = std::abs(static_cast<double>(a[l][i]) - static_cast<double>(b[l][i]));
      m = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(m, d);
    }
  return m;
}

struct experiment {
  const settings& cfg;
  const model_plan& plan;
  const std::vector<std::vector<real>>& teacher;
  const std::vector<std::vector<real>>& init;
  const batch_data& held;
  std::size_t held_rows;

  std::vector<batch_data> window_data(int w) const {
    std::vector<batch_data> data;
    for (int m = 0; m < cfg.micro_batches; ++m) data.push_back(make_batch(teacher, cfg.batch, batch_seed(w, m)));
    return data;
  }

  /// Sequential training with gradient accumulation on the host: the reference of the sync runs.
  std::vector<std::vector<real>> host_reference(double lr) const {
    std::vector<std::vector<real>> params = init;
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      std::vector<std::vector<real>> grad;
      for (int l = 0; l < layers_total; ++l) grad.emplace_back(layer_size(l), real(0));
      for (const batch_data& b : data) {
        std::vector<std::vector<real>> acts{b.x};
        for (int l = 0; l < layers_total; ++l) acts.push_back(layer_forward(params[static_cast<std::size_t>(l)], l, acts.back(), cfg.batch));
        std::vector<real> g(acts.back().size());
        nn::mse_gradient(thrust::cpp::par, cmatrix{acts.back().data(), cfg.batch, outputs},
                         cmatrix{b.target.data(), cfg.batch, outputs}, matrix{g.data(), cfg.batch, outputs});
        for (int l = layers_total - 1; l >= 0; --l) {
          const auto lu = static_cast<std::size_t>(l);
          layer_activation_backward(thrust::cpp::par, l, acts[lu + 1].data(), g.data(), cfg.batch);
          layer_weight_gradient(thrust::cpp::par, l, acts[lu].data(), g.data(), grad[lu].data(), cfg.batch);
          std::vector<real> dx(cfg.batch * fan_in(l));
          layer_input_gradient(thrust::cpp::par, l, params[lu].data(), g.data(), dx.data(), cfg.batch);
          g = std::move(dx);
        }
      }
      const sgd_mean step{static_cast<real>(lr), real(1) / static_cast<real>(cfg.micro_batches)};
      for (std::size_t l = 0; l < params.size(); ++l)
        for (std::size_t i = 0; i < params[l].size(); ++i) params[l][i] = step(params[l][i], grad[l][i]);
    }
    return params;
  }

  run_result train(const std::string& name, layerpipe::cuda_context& ctx, const layerpipe::schedule& sched, double lr,
                   bool accumulate, bool stale) const {
    device_stages st(plan, init, lr, cfg.batch, accumulate, stale);
    run_result r;
    r.name = name;
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      std::vector<buffer> xs, ts;
      for (const auto& b : data) {
        xs.push_back(upload(b.x));
        ts.push_back(upload(b.target));
      }
      st.set_window(std::move(xs), std::move(ts));
      layerpipe::timeline t = ctx.run(sched, st);
      if (w == cfg.windows / 2) r.window = std::move(t);
      r.train_loss = st.end_window();
      std::cout << (w + 1 == cfg.windows ? ".\n" : ".") << std::flush;
    }
    r.params = st.params();
    r.eval_loss = eval_loss(r.params, held, held_rows);
    return r;
  }
};

settings parse(int argc, char** argv) {
  settings cfg;
  auto number = [&](int& i, std::string_view flag) {
    if (i + 1 >= argc) layerpipe::detail::fail(flag, " needs a value");
    char* end = nullptr;
    const double v = std::strtod(argv[++i], &end);
    if (end == argv[i] || *end != '\0' || !(v > 0)) layerpipe::detail::fail(flag, " expects a positive number, got '", argv[i], "'");
    return v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") {
      cfg.windows = 3;
      cfg.micro_batches = 16;
    } else if (a == "--windows") {
      cfg.windows = static_cast<int>(number(i, a));
    } else if (a == "-m") {
      cfg.micro_batches = static_cast<int>(number(i, a));
    } else if (a == "--lr") {
      cfg.lr = number(i, a);
    } else if (a == "--trace") {
      if (i + 1 >= argc) layerpipe::detail::fail(a, " needs a value");
      cfg.trace = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: layerpipe-train-cuda [--quick] [--windows N] [-m M] [--lr X] [--trace FILE]\n";
      std::exit(0);
    } else {
      layerpipe::detail::fail("unknown option '", a, "' (see --help)");
    }
  }
  return cfg;
}

int run(int argc, char** argv) {
  const settings cfg = parse(argc, argv);
  int gpus = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&gpus); e != cudaSuccess || gpus == 0) {
    std::cerr << "layerpipe-train-cuda: no CUDA device (" << (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices")
              << "); nothing to run, skipped (exit 77)\n";
    return 77;
  }
  cudaDeviceProp prop{};
  cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const model_plan plan = plan_model(cfg.batch);
  const auto [teacher, init] = teacher_and_init();
  const std::size_t held_rows = 512;
  const batch_data held = make_batch(teacher, held_rows, 99991);
  const experiment ex{cfg, plan, teacher, init, held, held_rows};
  std::cout << "layerpipe-train-cuda on " << prop.name << ": " << layers_total << "-layer MLP, regression, micro-batch "
            << cfg.batch << ", M = " << cfg.micro_batches << ", " << cfg.windows << " windows\ndelays per layer:";
  for (auto d : plan.delays) std::cout << ' ' << d;
  std::cout << "\n";

  layerpipe::schedule sync = layerpipe::one_f_one_b(stages_total, cfg.micro_batches);
  for (int d = 0; d < stages_total; ++d)
    sync.actions[static_cast<std::size_t>(d)].push_back(layerpipe::make_action(layerpipe::action_kind::update, d));
  const double sync_lr = cfg.lr * cfg.sync_scale;
  layerpipe::cuda_context streams;
  layerpipe::cuda_options graph_options;
  graph_options.capture_graph = true;
  layerpipe::cuda_context graph(graph_options);

  std::cout << "  host sequential, accumulate M (reference) " << std::flush;
  const auto reference = ex.host_reference(sync_lr);
  std::cout << "done\n  1F1B sync, CUDA streams ";
  const run_result s1 = ex.train("1F1B sync, streams", streams, sync, sync_lr, true, false);
  std::cout << "  1F1B sync, CUDA graph ";
  const run_result s2 = ex.train("1F1B sync, graph", graph, sync, sync_lr, true, false);
  std::cout << "  LayerPipe async + exact stash, CUDA streams ";
  const run_result a1 = ex.train("async + exact-stash", streams, layerpipe::layerpipe_async(stages_total, cfg.micro_batches),
                                 cfg.lr, false, true);

  const double initial = eval_loss(init, held, held_rows);
  std::printf("\n%-24s %11s %11s\n", "run", "train loss", "eval loss");
  std::printf("%-24s %11s %11.5f\n", "initial weights", "-", initial);
  for (const run_result* r : {&s1, &s2, &a1}) std::printf("%-24s %11.5f %11.5f\n", r->name.c_str(), r->train_loss, r->eval_loss);
  const double diff = max_difference(s1.params, reference);
  std::printf("max |W(1F1B sync, CUDA) - W(host sequential accumulate)| = %.3g\n", diff);
  if (!(diff <= 1e-3)) layerpipe::detail::fail("train-cuda: 1F1B sync on CUDA must match sequential accumulation, got ", diff);
  if (s1.params != s2.params) layerpipe::detail::fail("train-cuda: graph capture changed the weights");
  std::printf("graph capture: bitwise the same weights as streams\n");
  if (!(a1.eval_loss < initial)) layerpipe::detail::fail("train-cuda: the async run did not learn (eval loss ", a1.eval_loss, ")");

  if (a1.window) {  // measured window vs the simulator fed with its mean pass times
    std::vector<double> sum(3 * stages_total, 0.0), count(3 * stages_total, 0.0);
    for (const auto& sp : a1.window->spans) {
      const int k = sp.what.kind == layerpipe::action_kind::forward    ? 0
                    : sp.what.kind == layerpipe::action_kind::backward ? 1
                    : sp.what.kind == layerpipe::action_kind::update   ? 2
                                                                       : -1;
      if (k < 0) continue;
      sum[static_cast<std::size_t>(3 * sp.what.stage + k)] += sp.duration();
      count[static_cast<std::size_t>(3 * sp.what.stage + k)] += 1;
    }
    std::vector<layerpipe::pass_costs> costs;
    for (std::size_t s = 0; s < static_cast<std::size_t>(stages_total); ++s) {
      auto mean = [&](std::size_t k) { return count[3 * s + k] > 0 ? sum[3 * s + k] / count[3 * s + k] : 0.0; };
      costs.push_back({mean(0), mean(1), mean(2)});
    }
    const layerpipe::timeline sim = layerpipe::simulate(layerpipe::layerpipe_async(stages_total, cfg.micro_batches),
                                                        layerpipe::cost_model::per_stage(costs));
    std::printf("one async window: measured makespan %.3f ms (CUDA events), simulated %.3f ms\n",
                1e3 * a1.window->makespan(), 1e3 * sim.makespan());
    std::ofstream file(cfg.trace);
    if (!file) layerpipe::detail::fail("cannot open trace file '", cfg.trace, "'");
    layerpipe::write_chrome_trace(file, *a1.window);
    std::cout << "wrote " << cfg.trace << " (open in ui.perfetto.dev)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "layerpipe-train-cuda: " << e.what() << '\n';
    return 1;
  }
}
