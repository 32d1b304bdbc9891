// layerpipe-train — the flagship example: really trains an 8-layer MLP pipelined over 4 stages
// with LayerPipe's asynchronous (systolic) schedule on the CPU threads executor, and compares the
// weight-history policies that feed the backward pass its old weights (REFERENCE §3.5–§4.4).
//
//   layerpipe-train                      # full run (≈ 10–30 s on two cores)
//   layerpipe-train --quick              # a few windows, for the test suite
//   layerpipe-train --trace my.json      # Chrome trace of one measured window
//   mpirun -np 4 layerpipe-train --executor mpi   # one MPI rank per stage (mpi component only)
//
// The task: teacher–student regression. A fixed random teacher MLP (same shape) labels inputs
// x ~ N(0, 1); the student learns with MSE. Layers are dense + tanh (the last one dense only),
// width 32. The partition comes from graph::chain + balanced_partition, the per-layer gradient
// delays from derive_delays (systolic staleness 6,6,4,4,2,2,0,0). Each stage object keeps its
// layers' weights and one weight-history policy per layer with d = the layer's staleness:
//   F  uses the current weights W(n);
//   B  propagates the input gradient with Ŵ = history.reconstruct(W(n)) ≈ W(n − d) and forms
//      the weight gradient from the activations it stashed at F;
//   U  applies SGD (or momentum SGD) through apply_update(history, W, Δ).
// A side exact stash per layer (measurement only) gives W(n − d), so every backward records the
// relative reconstruction error ‖Ŵ − W(n−d)‖ / ‖W(n) − W(n−d)‖ (stash 0, stale 1 by construction).
//
// Windows: the executor runs one layerpipe_async(P, M) window per call, which fills and drains,
// so within a window micro-batch k < d really sees staleness k, not d (the schedule's start-up);
// the policies still reconstruct d updates back, as a deployed fixed-delay policy would.
//
// A second task, classification: a Gaussian mixture in R^32 (8 classes, 2 random centres each,
// unit noise, overlapping), softmax cross-entropy on the 8 outputs; held-out loss and accuracy.
// Both tasks also run synchronous 1F1B: one_f_one_b(4, M) plus one U per device after its last
// backward, gradients summed over the window and one update per stage with their mean
// (staleness 0, no weight history). It must equal sequential training with the same
// accumulation; the example prints the max weight difference between the two.
//
// MPI mode (--executor mpi, built with the mpi component): the pipelined runs use the MPI
// executor (exec/mpi.hpp) on the same schedules, one rank per stage. Every rank builds the same
// stages but updates only its own, so after each run the weights, reconstruction errors and the
// last stage's window loss are broadcast from the owning ranks (share_from_owners); rank 0 runs
// the sequential references, evaluates and prints the report, the same as the threads run.
#include "train_layerpipe_model.hpp"

#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/threads.hpp>
#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/io/chrome_trace.hpp>
#include <layerpipe/nn/activation.hpp>
#include <layerpipe/nn/dense.hpp>
#include <layerpipe/nn/loss.hpp>
#include <layerpipe/nn/matrix.hpp>
#include <layerpipe/retime/layerpipe.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>
#include <layerpipe/weights/any_weight_history.hpp>
#include <layerpipe/weights/exact_stash.hpp>
#if defined(LAYERPIPE_HAS_MPI)
#include <layerpipe/exec/mpi.hpp>
#endif

#include <thrust/fill.h>
#include <thrust/system/cpp/execution_policy.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace layerpipe_train;  // the model, its data and its layer maths (shared with the CUDA example)

/// Regression (teacher–student, MSE) or classification (Gaussian mixture, softmax
/// cross-entropy over `outputs` classes); the network is the same.
enum class task { regression, classification };

struct settings {
  int windows = 40;
  int micro_batches = 32;  // per window (M >= 2P − 1 reaches the steady state)
  std::size_t batch = 16;  // rows per micro-batch
  double lr_sgd = 0.05;
  double lr_momentum = 0.005;
  double lr_sgd_cls = 0.1;
  double lr_momentum_cls = 0.01;
  // Learning-rate factor of the one-update-per-window runs: they take M times fewer steps, each
  // with the mean of M gradients. The linear rule (x M = 32) diverges here with plain SGD
  // (classification loss 14.5); x 8 is stable for both tasks and both optimizers.
  int sync_scale = 8;
  bool quick = false;
  bool mpi = false;  // --executor mpi
  std::string trace = "layerpipe_train.json";
};

struct layer_state {
  int index = 0;
  std::int64_t delay = 0;
  std::vector<real> params, grad, velocity, delta, w_hat, w_ref;
  layerpipe::any_weight_history<real> history;
  layerpipe::exact_stash<real> reference;  // measurement only: the true W(n − d)
  std::map<int, std::vector<real>> inputs, outputs;  // per micro-batch, from F to B
  int accumulated = 0;  // micro-batch gradients summed in grad since the last update
  std::vector<double> errors;
};

/// The pipeline's stages on std::vector tensors (exec/stage.hpp). Every member a stage touches
/// belongs to that stage, so the threads executor needs no locks here; the window's data is
/// read-only during a run.
class mlp_stages {
public:
  using tensor = std::vector<real>;

  mlp_stages(const layerpipe::partition& part, const std::vector<std::int64_t>& delays,
             layerpipe::weight_policy policy, const std::vector<std::vector<real>>& init, double lr,
             double momentum, std::size_t batch, task kind = task::regression, bool accumulate = false)
      : lr_(lr), momentum_(momentum), batch_(batch), task_(kind), accumulate_(accumulate),
        stage_layers_(stages_total) {
    for (int l = 0; l < layers_total; ++l) {
      layer_state s;
      s.index = l;
      s.delay = delays[static_cast<std::size_t>(l)];
      s.params = init[static_cast<std::size_t>(l)];
      const std::size_t n = s.params.size();
      s.grad.assign(n, 0);
      s.velocity.assign(n, 0);
      s.delta.assign(n, 0);
      s.w_hat.assign(n, 0);
      s.w_ref.assign(n, 0);
      s.history = layerpipe::make_weight_history<real>(policy, n, s.delay);
      s.reference = layerpipe::exact_stash<real>(n, s.delay);
      layers_.push_back(std::move(s));
      stage_layers_[static_cast<std::size_t>(part.stage_of(l))].push_back(l);
    }
  }

  int num_stages() const { return stages_total; }
  void set_window(const std::vector<batch_data>* data) {
    data_ = data;
    window_loss_ = 0;
    window_count_ = 0;
  }
  double window_loss() const { return window_count_ ? window_loss_ / window_count_ : std::nan(""); }

  tensor input(int mb) const { return at(mb).x; }

  tensor forward(int stage, int mb, const tensor& in) {
    tensor a = in;
    for (int l : stage_layers_[static_cast<std::size_t>(stage)]) {
      layer_state& s = layers_[static_cast<std::size_t>(l)];
      tensor y = layer_forward(s.params, l, a, batch_);
      s.inputs[mb] = std::move(a);
      s.outputs[mb] = y;
      a = std::move(y);
    }
    return a;
  }

  tensor loss_gradient(int mb, const tensor& out) {
    const cmatrix y{out.data(), batch_, outputs};
    tensor g(out.size());
    if (task_ == task::classification) {
      const std::span<const int> labels(at(mb).labels);
      window_loss_ += static_cast<double>(nn::softmax_cross_entropy_loss(thrust::cpp::par, y, labels));
      nn::softmax_cross_entropy_gradient(thrust::cpp::par, y, labels, matrix{g.data(), batch_, outputs});
    } else {
      const tensor& target = at(mb).target;
      const cmatrix t{target.data(), batch_, outputs};
      window_loss_ += static_cast<double>(nn::mse_loss(thrust::cpp::par, y, t));
      nn::mse_gradient(thrust::cpp::par, y, t, matrix{g.data(), batch_, outputs});
    }
    ++window_count_;
    return g;
  }

  tensor backward(int stage, int mb, const tensor& grad_out) {
    tensor g = grad_out;
    const auto& mine = stage_layers_[static_cast<std::size_t>(stage)];
    for (auto it = mine.rbegin(); it != mine.rend(); ++it) {
      const int l = *it;
      layer_state& s = layers_[static_cast<std::size_t>(l)];
      const std::size_t in = fan_in(l), out = fan_out(l);
      tensor x = take(s.inputs, mb), y = take(s.outputs, mb);
      layer_activation_backward(thrust::cpp::par, l, y.data(), g.data(), batch_);
      // Weight gradient from the stashed activations. dense_backward_weight adds to grad: per
      // micro-batch SGD zeroes it first; gradient accumulation sums the window's micro-batches
      // and update() zeroes it.
      if (!accumulate_ || s.accumulated == 0) {
        thrust::fill(thrust::cpp::par, s.grad.begin(), s.grad.end(), real(0));
        s.accumulated = 0;
      }
      ++s.accumulated;
      layer_weight_gradient(thrust::cpp::par, l, x.data(), g.data(), s.grad.data(), batch_);
      // Input gradient with the reconstructed old weights Ŵ ≈ W(n − d).
      s.history.reconstruct(s.params, s.w_hat);
      measure(s, out * in);
      tensor dx(batch_ * in);
      layer_input_gradient(thrust::cpp::par, l, s.w_hat.data(), g.data(), dx.data(), batch_);
      g = std::move(dx);
    }
    return g;
  }
  // The executor calls the fused backward above; these satisfy the concept's unfused form.
  tensor backward_input(int stage, int mb, const tensor& grad_out) { return backward(stage, mb, grad_out); }
  void backward_weight(int, int) {}

  void update(int stage) {
    for (int l : stage_layers_[static_cast<std::size_t>(stage)]) {
      layer_state& s = layers_[static_cast<std::size_t>(l)];
      if (s.accumulated == 0) layerpipe::detail::fail("train example: update without a gradient on layer ", l);
      // Accumulated: the mean of the window's micro-batch gradients (dividing by 1 is exact, so
      // per-micro-batch SGD is unchanged).
      const real inv = real(1) / static_cast<real>(s.accumulated);
      for (std::size_t i = 0; i < s.params.size(); ++i) {
        s.velocity[i] = static_cast<real>(momentum_) * s.velocity[i] + s.grad[i] * inv;
        s.delta[i] = static_cast<real>(lr_) * s.velocity[i];
      }
      s.accumulated = 0;
      s.reference.record(s.params, s.delta);  // W(n), Δ(n) before the update, like the policy
      layerpipe::apply_update(s.history, std::span<real>(s.params), std::span<const real>(s.delta));
    }
  }

  const std::vector<layer_state>& layers() const { return layers_; }

#if defined(LAYERPIPE_HAS_MPI)
  /// After an MPI run each rank has updated only the stages placed on it: broadcast every
  /// layer's weights and reconstruction errors from the rank that owns its stage, and the
  /// window loss from the last stage's rank, so every rank holds what one threads run holds.
  void share_from_owners(const layerpipe::placement& where, MPI_Comm comm) {
    static_assert(std::is_same_v<real, float>, "the weights travel as MPI_FLOAT");
    for (int st = 0; st < stages_total; ++st) {
      const int owner = where.device_of(st);
      for (int l : stage_layers_[static_cast<std::size_t>(st)]) {
        layer_state& s = layers_[static_cast<std::size_t>(l)];
        MPI_Bcast(s.params.data(), static_cast<int>(s.params.size()), MPI_FLOAT, owner, comm);
        unsigned long long count = s.errors.size();
        MPI_Bcast(&count, 1, MPI_UNSIGNED_LONG_LONG, owner, comm);
        if (count > static_cast<unsigned long long>(std::numeric_limits<int>::max()))
          layerpipe::detail::fail("train example: too many reconstruction errors to broadcast on layer ", l, ": ", count);
        s.errors.resize(static_cast<std::size_t>(count));
        MPI_Bcast(s.errors.data(), static_cast<int>(count), MPI_DOUBLE, owner, comm);
      }
    }
    const int last = where.device_of(stages_total - 1);
    MPI_Bcast(&window_loss_, 1, MPI_DOUBLE, last, comm);
    MPI_Bcast(&window_count_, 1, MPI_INT, last, comm);
  }
#endif

  /// Held-out loss of the current weights (mean MSE or cross-entropy) and, for classification,
  /// the fraction of rows whose largest logit is the label (NaN for regression).
  std::pair<double, double> evaluate(const batch_data& b, std::size_t rows) const {
    std::vector<real> a = b.x;
    for (int l = 0; l < layers_total; ++l) a = layer_forward(layers_[static_cast<std::size_t>(l)].params, l, a, rows);
    const cmatrix y{a.data(), rows, outputs};
    if (task_ == task::regression)
      return {static_cast<double>(nn::mse_loss(thrust::cpp::par, y, cmatrix{b.target.data(), rows, outputs})),
              std::nan("")};
    std::size_t right = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const real* row = a.data() + r * outputs;
      const auto best = std::max_element(row, row + outputs) - row;
      if (best == b.labels[r]) ++right;
    }
    return {static_cast<double>(nn::softmax_cross_entropy_loss(thrust::cpp::par, y, std::span<const int>(b.labels))),
            static_cast<double>(right) / static_cast<double>(rows)};
  }

private:
  const batch_data& at(int mb) const { return (*data_)[static_cast<std::size_t>(mb)]; }
  static tensor take(std::map<int, tensor>& m, int mb) {
    auto it = m.find(mb);
    if (it == m.end()) layerpipe::detail::fail("train example: no stashed activation for micro-batch ", mb);
    tensor t = std::move(it->second);
    m.erase(it);
    return t;
  }
  void measure(layer_state& s, std::size_t w_elems) {
    if (s.delay == 0 || s.reference.updates() < s.delay) return;  // W(n − d) exists from n = d on
    s.reference.reconstruct(s.params, s.w_ref);
    const std::span<const real> w(s.params.data(), w_elems), hat(s.w_hat.data(), w_elems),
        ref(s.w_ref.data(), w_elems);
    const double moved = norm_of_difference(w, ref);
    if (moved > 0) s.errors.push_back(norm_of_difference(hat, ref) / moved);
  }

  double lr_, momentum_;
  std::size_t batch_;
  task task_;
  bool accumulate_;
  std::vector<std::vector<int>> stage_layers_;
  std::vector<layer_state> layers_;
  const std::vector<batch_data>* data_ = nullptr;
  double window_loss_ = 0;
  int window_count_ = 0;
};
static_assert(layerpipe::pipeline_stages<mlp_stages>);
static_assert(layerpipe::has_fused_backward<mlp_stages>);

struct run_result {
  std::string name;
  double train_loss = 0;  // mean over the last window's micro-batches
  double eval_loss = 0;   // held-out, final weights
  double accuracy = std::nan("");  // held-out, classification only
  double error = 0;       // median relative reconstruction error (layers with d > 0)
  std::optional<layerpipe::timeline> window;  // one measured window (async runs)
  std::vector<std::vector<real>> params;      // final weights, per layer
};

/// Where the pipelined runs execute: the threads executor, or (MPI mode) this rank's devices of
/// the MPI executor. Rank 0 is the one that runs the sequential references and reports.
class window_executor {
public:
  window_executor() = default;
#if defined(LAYERPIPE_HAS_MPI)
  explicit window_executor(const layerpipe::mpi_context& mpi) : mpi_(&mpi) {}
#endif

  bool reports() const {
#if defined(LAYERPIPE_HAS_MPI)
    if (mpi_) return mpi_->pipeline_rank() == 0;
#endif
    return true;
  }

  layerpipe::timeline run(const layerpipe::schedule& s, mlp_stages& st) const {
#if defined(LAYERPIPE_HAS_MPI)
    if (mpi_) return mpi_->get_executor().run(s, st);
#endif
    return threads_.run(s, st);
  }

  /// After the last window: the weights, errors and loss from their owners (MPI only).
  void share(mlp_stages& st, const layerpipe::schedule& s) const {
#if defined(LAYERPIPE_HAS_MPI)
    if (mpi_) st.share_from_owners(s.placement, mpi_->pipeline_communicator());
#else
    (void)st, (void)s;
#endif
  }

private:
  layerpipe::thread_context threads_;
#if defined(LAYERPIPE_HAS_MPI)
  const layerpipe::mpi_context* mpi_ = nullptr;
#endif
};

struct experiment {
  const settings& cfg;
  const window_executor& exec;
  task kind;
  const layerpipe::partition& part;
  const std::vector<std::int64_t>& delays;
  const std::vector<std::vector<real>>& teacher;  // regression labels
  const std::vector<std::vector<real>>& centres;  // classification data
  const std::vector<std::vector<real>>& init;
  const batch_data& held_out;
  std::size_t held_rows;

  batch_data make(std::size_t rows, std::uint64_t seed) const {
    return kind == task::classification ? make_class_batch(centres, rows, seed) : make_batch(teacher, rows, seed);
  }

  std::vector<batch_data> window_data(int w) const {
    std::vector<batch_data> data;
    for (int m = 0; m < cfg.micro_batches; ++m)
      data.push_back(make(cfg.batch, batch_seed(w, m)));
    return data;
  }

  void finish(run_result& r, const mlp_stages& st) const {
    if (!exec.reports()) return;
    std::tie(r.eval_loss, r.accuracy) = st.evaluate(held_out, held_rows);
    for (const auto& s : st.layers()) r.params.push_back(s.params);
  }

  /// No pipeline, no staleness (every d = 0), one micro-batch at a time through every stage.
  /// Plain SGD updates every stage after each micro-batch; with `accumulate` the window's M
  /// gradients are summed and every stage updates once, with their mean, at the window's end.
  run_result sequential(double lr, double momentum, bool accumulate = false) const {
    if (!exec.reports()) return {};  // MPI mode: the references run on rank 0 only
    const std::vector<std::int64_t> zero(delays.size(), 0);
    mlp_stages st(part, zero, layerpipe::weight_policy::stale, init, lr, momentum, cfg.batch, kind, accumulate);
    run_result r;
    r.name = accumulate ? "sequential, accumulate M" : "sequential SGD";
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      st.set_window(&data);
      for (int m = 0; m < cfg.micro_batches; ++m) {
        std::vector<real> a = st.input(m);
        for (int s = 0; s < stages_total; ++s) a = st.forward(s, m, a);
        std::vector<real> g = st.loss_gradient(m, a);
        for (int s = stages_total - 1; s >= 0; --s) g = st.backward(s, m, g);
        if (!accumulate)
          for (int s = 0; s < stages_total; ++s) st.update(s);
      }
      if (accumulate)
        for (int s = 0; s < stages_total; ++s) st.update(s);
      r.train_loss = st.window_loss();
      progress(w);
    }
    finish(r, st);
    return r;
  }

  /// Synchronous 1F1B (PipeDream-Flush) on the executor: one_f_one_b(P, M) with a U
  /// action appended to each device's list after its last backward. U without a micro-batch
  /// waits for all M weight gradients of its stage, so every F and B of a window sees the same
  /// weights (staleness 0, no weight history) and each stage updates once per window with the
  /// mean of the M micro-batch gradients — the same arithmetic, in the same order per stage, as
  /// sequential(lr, momentum, true).
  run_result sync_1f1b(double lr, double momentum) const {
    const std::vector<std::int64_t> zero(delays.size(), 0);
    mlp_stages st(part, zero, layerpipe::weight_policy::stale, init, lr, momentum, cfg.batch, kind, true);
    layerpipe::schedule sched = layerpipe::one_f_one_b(stages_total, cfg.micro_batches);
    for (int d = 0; d < stages_total; ++d)
      sched.actions[static_cast<std::size_t>(d)].push_back(layerpipe::make_action(layerpipe::action_kind::update, d));
    run_result r;
    r.name = "1F1B sync, accumulate M";
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      st.set_window(&data);
      exec.run(sched, st);
      r.train_loss = st.window_loss();
      progress(w);
    }
    exec.share(st, sched);
    r.train_loss = st.window_loss();
    finish(r, st);
    return r;
  }

  run_result async(layerpipe::weight_policy policy, double lr, double momentum) const {
    mlp_stages st(part, delays, policy, init, lr, momentum, cfg.batch, kind);
    const layerpipe::schedule sched = layerpipe::layerpipe_async(stages_total, cfg.micro_batches);
    run_result r;
    r.name = "async + " + std::string(layerpipe::to_string(policy));
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      st.set_window(&data);
      layerpipe::timeline t = exec.run(sched, st);
      if (w == cfg.windows / 2) r.window = std::move(t);  // a window after warm-up (whole on rank 0)
      r.train_loss = st.window_loss();
      progress(w);
    }
    exec.share(st, sched);
    r.train_loss = st.window_loss();
    finish(r, st);
    std::vector<double> all;
    for (const auto& s : st.layers()) all.insert(all.end(), s.errors.begin(), s.errors.end());
    r.error = median(all);
    return r;
  }

  void progress(int w) const {
    std::cout << (w + 1 == cfg.windows ? ".\n" : ".") << std::flush;
  }
};

double max_weight_difference(const run_result& a, const run_result& b) {
  double m = 0;
  for (std::size_t l = 0; l < a.params.size(); ++l)
    for (std::size_t i = 0; i < a.params[l].size(); ++i) {
      const double x = a.params[l][i], y = b.params[l][i];
      if (std::isnan(x) && std::isnan(y)) continue;  // both diverged alike
      m = std::max(m, std::isnan(x) || std::isnan(y) ? std::numeric_limits<double>::infinity() : std::abs(x - y));
    }
  return m;
}

void print_help() {
  std::cout << "usage: layerpipe-train [--quick] [--windows N] [-m M] [--lr X] [--lr-momentum X] [--lr-cls X]\n"
               "         [--lr-momentum-cls X] [--sync-scale K] [--trace FILE] [--executor threads|mpi]\n"
               "  --quick        a few short windows (test suite)\n"
               "  --windows N    training windows per run (default 40)\n"
               "  -m M           micro-batches per window (default 32; >= 7 reaches the steady state)\n"
               "  --lr X         learning rate of plain SGD (default 0.05)\n"
               "  --lr-momentum X  learning rate with momentum 0.9 (default 0.005)\n"
               "  --lr-cls X, --lr-momentum-cls X  the same for classification (default 0.1, 0.01)\n"
               "  --sync-scale K  learning-rate factor of the one-update-per-window runs (default 8)\n"
               "  --trace FILE   Chrome trace of one measured window (default layerpipe_train.json)\n"
               "  --executor E   threads (default) or mpi: one rank per stage, under mpirun -np 4\n"
               "                 (needs the mpi component; rank 0 prints the report)\n";
}

int parse_int(std::string_view flag, const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 100000)
    layerpipe::detail::fail(flag, " expects an integer in [1, 100000], got '", text, "'");
  return static_cast<int>(v);
}

double parse_rate(std::string_view flag, const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(v > 0 && v < 10))
    layerpipe::detail::fail(flag, " expects a learning rate in (0, 10), got '", text, "'");
  return v;
}

settings parse(int argc, char** argv) {
  settings cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) layerpipe::detail::fail(a, " needs a value");
      return argv[++i];
    };
    if (a == "--quick") {
      cfg.quick = true;
      cfg.windows = 3;
      cfg.micro_batches = 16;
    } else if (a == "--windows") {
      cfg.windows = parse_int(a, value());
    } else if (a == "-m") {
      cfg.micro_batches = parse_int(a, value());
    } else if (a == "--lr") {
      cfg.lr_sgd = parse_rate(a, value());
    } else if (a == "--lr-momentum") {
      cfg.lr_momentum = parse_rate(a, value());
    } else if (a == "--lr-cls") {
      cfg.lr_sgd_cls = parse_rate(a, value());
    } else if (a == "--lr-momentum-cls") {
      cfg.lr_momentum_cls = parse_rate(a, value());
    } else if (a == "--sync-scale") {
      cfg.sync_scale = parse_int(a, value());
    } else if (a == "--trace") {
      cfg.trace = value();
    } else if (a == "--executor") {
      const std::string_view e = value();
      if (e == "mpi") {
#if defined(LAYERPIPE_HAS_MPI)
        cfg.mpi = true;
#else
        layerpipe::detail::fail("--executor mpi needs the mpi component (layerpipe::mpi), which this build lacks: "
                                "configure with Open MPI installed and -DLAYERPIPE_ENABLE_MPI=ON");
#endif
      } else if (e == "threads") {
        cfg.mpi = false;
      } else {
        layerpipe::detail::fail("--executor expects threads or mpi, got '", e, "'");
      }
    } else if (a == "--help" || a == "-h") {
      print_help();
      std::exit(0);
    } else {
      layerpipe::detail::fail("unknown option '", a, "' (see --help)");
    }
  }
  return cfg;
}

int run(const settings& cfg, const window_executor& exec) {
  const auto started = std::chrono::steady_clock::now();
  // MPI mode: every rank runs the same code (the collectives must match); rank 0 alone prints.
  const bool root = exec.reports();
  if (!root) std::cout.setstate(std::ios::badbit);

  // Partition and delays: the library's planner, not hand-written numbers (plan_model).
  const auto [part, delays] = plan_model(cfg.batch);

  std::cout << "layerpipe-train: " << layers_total << "-layer MLP (width " << width << ", " << outputs
            << " outputs, dense+tanh), two tasks, micro-batch " << cfg.batch << ", M = "
            << cfg.micro_batches << " per window, " << cfg.windows << " windows\n";
  if (cfg.mpi)
    std::cout << "executor: mpi, " << stages_total
              << " ranks, one per stage (rank 0 runs the sequential references and reports)\n";
  std::cout << "partition:";
  for (int s = 0; s < stages_total; ++s) {
    std::cout << " stage " << s << " {";
    const auto ls = part.layers_of(s);
    for (std::size_t i = 0; i < ls.size(); ++i) std::cout << (i ? "," : "") << ls[i];
    std::cout << "}";
  }
  std::cout << "\ndelays (systolic staleness, updates) per layer:";
  for (auto d : delays) std::cout << ' ' << d;
  std::cout << "\n";

  // Weight memory beyond the current weights, per policy.
  std::cout << "weight-history memory (bytes, all layers):";
  const layerpipe::weight_policy policies[] = {layerpipe::weight_policy::exact_stash,
                                               layerpipe::weight_policy::ema_updates,
                                               layerpipe::weight_policy::ema_lag_matched,
                                               layerpipe::weight_policy::stale};
  for (auto p : policies) {
    std::size_t bytes = 0;
    for (int l = 0; l < layers_total; ++l)
      bytes += layerpipe::weight_history_bytes(p, fan_in(l) * fan_out(l) + fan_out(l), delays[static_cast<std::size_t>(l)],
                                               sizeof(real));
    std::cout << "  " << layerpipe::to_string(p) << " " << bytes;
  }
  std::cout << "\n";

  const auto [teacher, init] = teacher_and_init();
  const std::vector<std::vector<real>> centres = make_centres();
  const std::size_t held_rows = 512;
  const double sync_scale = cfg.sync_scale;

  struct optimizer {
    std::string name;
    double lr, momentum;
  };
  struct row {
    std::string task, opt;
    run_result r;
  };
  std::vector<row> results;
  std::vector<std::string> checks;
  std::optional<layerpipe::timeline> measured;
  for (const task kind : {task::regression, task::classification}) {
    const bool cls = kind == task::classification;
    const std::string tname = cls ? "classify" : "regress";
    const batch_data held_out =
        cls ? make_class_batch(centres, held_rows, 99991) : make_batch(teacher, held_rows, 99991);
    const experiment ex{cfg, exec, kind, part, delays, teacher, centres, init, held_out, held_rows};
    if (cls)
      std::cout << "classification: Gaussian mixture, " << outputs << " classes x " << modes_per_class
                << " modes, softmax cross-entropy\n";
    else
      std::cout << "regression: teacher-student, MSE\n";
    const optimizer optimizers[] = {{"SGD", cls ? cfg.lr_sgd_cls : cfg.lr_sgd, 0.0},
                                    {"momentum 0.9", cls ? cfg.lr_momentum_cls : cfg.lr_momentum, 0.9}};
    for (const auto& o : optimizers) {
      char label[64];
      std::snprintf(label, sizeof label, "%s %g", o.name == "SGD" ? "SGD" : "mom", o.lr);
      std::cout << " training with " << o.name << " (lr " << o.lr << "; one-update-per-window runs lr "
                << o.lr * sync_scale << ")\n";
      std::cout << "  sequential SGD ";
      results.push_back({tname, label, ex.sequential(o.lr, o.momentum)});
      std::cout << "  sequential, accumulate M ";
      run_result seq_acc = ex.sequential(o.lr * sync_scale, o.momentum, true);
      std::cout << "  1F1B sync ";
      run_result sync = ex.sync_1f1b(o.lr * sync_scale, o.momentum);
      // Same arithmetic in the same order per stage: anything beyond rounding is a bug, and the
      // error stops the run before the summary (so ctest's example.train_quick fails too).
      if (root) {
        const double diff = max_weight_difference(sync, seq_acc);
        if (!(diff <= 1e-5))
          layerpipe::detail::fail("train example: 1F1B sync must equal sequential accumulation, max weight difference ",
                                  diff);
        char line[160];
        std::snprintf(line, sizeof line, "%s, %s: max |W(1F1B sync) - W(sequential accumulate)| = %.3g",
                      tname.c_str(), label, diff);
        checks.emplace_back(line);
      }
      results.push_back({tname, label, std::move(seq_acc)});
      results.push_back({tname, label, std::move(sync)});
      for (auto p : policies) {
        std::cout << "  async + " << layerpipe::to_string(p) << " ";
        run_result r = ex.async(p, o.lr, o.momentum);
        if (!measured && p == layerpipe::weight_policy::exact_stash) measured = r.window;
        results.push_back({tname, label, std::move(r)});
      }
    }
    const mlp_stages fresh(part, delays, layerpipe::weight_policy::stale, init, 0, 0, cfg.batch, kind);
    const auto [l0, a0] = fresh.evaluate(held_out, held_rows);
    char line[160];
    if (cls)
      std::snprintf(line, sizeof line, "classify: initial weights: eval loss %.5f, accuracy %.3f (chance %.3f)", l0, a0,
                    1.0 / static_cast<double>(outputs));
    else
      std::snprintf(line, sizeof line, "regress: initial weights: eval loss %.5f", l0);
    checks.emplace_back(line);
  }

  if (!root) return 0;  // MPI mode: the other ranks' share is done (their stages were broadcast)
  std::printf("\nsummary (train loss: mean loss of the last window; eval: held-out loss, %zu rows; regress: MSE,\n"
              "         classify: cross-entropy, acc = held-out accuracy; recon error: median of\n"
              "         |W^ - W(n-d)| / |W(n) - W(n-d)| over every backward, d > 0; the two 'accumulate M'\n"
              "         rows update once per window, with the mean gradient, at lr x %g)\n",
              held_rows, sync_scale);
  std::printf("%-9s %-11s %-26s %11s %11s %11s %7s\n", "task", "optimizer", "run", "train loss", "eval loss",
              "recon error", "acc");
  for (const auto& [tn, opt, r] : results) {
    char acc[16] = "-";
    if (!std::isnan(r.accuracy)) std::snprintf(acc, sizeof acc, "%.3f", r.accuracy);
    std::printf("%-9s %-11s %-26s %11.5f %11.5f %11.3f %7s\n", tn.c_str(), opt.c_str(), r.name.c_str(), r.train_loss,
                r.eval_loss, r.error, acc);
  }
  for (const auto& c : checks) std::printf("%s\n", c.c_str());

  // Measured window vs the simulator fed with the measured mean pass times.
  if (measured) {
    std::vector<double> sum(3 * stages_total, 0.0), count(3 * stages_total, 0.0);
    for (const auto& sp : measured->spans) {
      int k = -1;
      if (sp.what.kind == layerpipe::action_kind::forward) k = 0;
      if (sp.what.kind == layerpipe::action_kind::backward) k = 1;
      if (sp.what.kind == layerpipe::action_kind::update) k = 2;
      if (k < 0) continue;
      const auto i = static_cast<std::size_t>(3 * sp.what.stage + k);
      sum[i] += sp.duration();
      count[i] += 1;
    }
    std::vector<layerpipe::pass_costs> costs;
    for (std::size_t s = 0; s < static_cast<std::size_t>(stages_total); ++s) {
      auto mean = [&](std::size_t k) { return count[3 * s + k] > 0 ? sum[3 * s + k] / count[3 * s + k] : 0.0; };
      // The cost model has no U cost: the update's mean time rides on T_W, so T_B + T_W = B + U.
      costs.push_back({mean(0), mean(1), mean(2)});
    }
    const layerpipe::timeline sim =
        layerpipe::simulate(layerpipe::layerpipe_async(stages_total, cfg.micro_batches), layerpipe::cost_model::per_stage(costs));
    std::printf("\none window (async + exact-stash, SGD, M = %d): measured makespan %.3f ms, simulated %.3f ms "
                "(cost model from measured mean F/B/U per stage)\n",
                cfg.micro_batches, 1e3 * measured->makespan(), 1e3 * sim.makespan());
    for (std::size_t s = 0; s < costs.size(); ++s)
      std::printf("  stage %zu: mean F %.1f us, B %.1f us, U %.1f us\n", s, 1e6 * costs[s].forward,
                  1e6 * costs[s].input_grad, 1e6 * costs[s].weight_grad);
    std::ofstream file(cfg.trace);
    if (!file) layerpipe::detail::fail("cannot open trace file '", cfg.trace, "'");
    layerpipe::write_chrome_trace(file, *measured);
    std::cout << "wrote " << cfg.trace << " (open in ui.perfetto.dev)\n";
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("total time %.1f s\n", secs);
  return 0;
}

}  // namespace

#if defined(LAYERPIPE_HAS_MPI)
/// --executor mpi: one rank per stage on MPI_COMM_WORLD.
int run_mpi(int& argc, char**& argv, const settings& cfg) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0, status = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    if (size != stages_total) {  // the same on every rank: rank 0 says it, all exit cleanly
      if (rank == 0)
        std::cerr << "layerpipe-train: --executor mpi runs one rank per pipeline stage: start it with mpirun -np "
                  << stages_total << ", not " << size << " rank" << (size == 1 ? "" : "s") << '\n';
      status = 1;
    } else {
      const layerpipe::mpi_context ctx(MPI_COMM_WORLD);
      status = run(cfg, window_executor(ctx));
    }
  } catch (const std::exception& e) {
    // The other ranks may be waiting in a collective this rank will never join: end the job.
    std::cerr << "layerpipe-train: rank " << rank << ": " << e.what() << '\n';
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return status;
}
#endif

int main(int argc, char** argv) {
  try {
    const settings cfg = parse(argc, argv);
#if defined(LAYERPIPE_HAS_MPI)
    if (cfg.mpi) return run_mpi(argc, argv, cfg);
#endif
    return run(cfg, window_executor{});
  } catch (const std::exception& e) {
    std::cerr << "layerpipe-train: " << e.what() << '\n';
    return 1;
  }
}
