// layerpipe-train — the flagship example: really trains an 8-layer MLP pipelined over 4 stages
// with LayerPipe's asynchronous (systolic) schedule on the CPU threads executor, and compares the
// weight-history policies that feed the backward pass its old weights (REFERENCE §3.5–§4.4).
//
//   layerpipe-train                      # full run (≈ 10–30 s on two cores)
//   layerpipe-train --quick              # a few windows, for the test suite
//   layerpipe-train --trace my.json      # Chrome trace of one measured window
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
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>
#include <layerpipe/weights/any_weight_history.hpp>
#include <layerpipe/weights/exact_stash.hpp>

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
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace nn = layerpipe::nn;
using real = float;
using matrix = nn::matrix_view<real>;
using cmatrix = nn::matrix_view<const real>;

constexpr int layers_total = 8;
constexpr int stages_total = 4;
constexpr std::size_t width = 32;   // input and hidden width
constexpr std::size_t outputs = 8;  // regression targets

struct settings {
  int windows = 40;
  int micro_batches = 32;  // per window (M >= 2P − 1 reaches the steady state)
  std::size_t batch = 16;  // rows per micro-batch
  double lr_sgd = 0.05;
  double lr_momentum = 0.005;
  bool quick = false;
  std::string trace = "layerpipe_train.json";
};

std::size_t fan_in(int) { return width; }
std::size_t fan_out(int l) { return l + 1 == layers_total ? outputs : width; }
bool has_tanh(int l) { return l + 1 < layers_total; }

/// Parameters of one dense layer, W (out × in, row-major) then b, in one vector: the unit the
/// weight histories track.
std::vector<real> random_layer(int l, std::mt19937_64& rng, double gain) {
  const std::size_t in = fan_in(l), out = fan_out(l);
  std::normal_distribution<double> normal(0.0, gain / std::sqrt(static_cast<double>(in)));
  std::vector<real> p(out * in + out, real(0));
  for (std::size_t i = 0; i < out * in; ++i) p[i] = static_cast<real>(normal(rng));
  return p;
}

cmatrix weights_of(const std::vector<real>& p, int l) { return {p.data(), fan_out(l), fan_in(l)}; }
std::span<const real> bias_of(const std::vector<real>& p, int l) {
  return std::span<const real>(p).subspan(fan_out(l) * fan_in(l), fan_out(l));
}

/// y = act(W x + b) for one layer, on the host through Thrust's CPP system.
std::vector<real> layer_forward(const std::vector<real>& p, int l, const std::vector<real>& x, std::size_t rows) {
  std::vector<real> y(rows * fan_out(l));
  matrix yv{y.data(), rows, fan_out(l)};
  nn::dense_forward(thrust::cpp::par, weights_of(p, l), bias_of(p, l), cmatrix{x.data(), rows, fan_in(l)}, yv);
  if (has_tanh(l)) nn::tanh_forward(thrust::cpp::par, cmatrix(yv), yv);
  return y;
}

struct batch_data {
  std::vector<real> x, target;
};

/// The teacher's labels for fresh N(0, 1) inputs; the same seed gives every run the same data.
batch_data make_batch(const std::vector<std::vector<real>>& teacher, std::size_t rows, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  batch_data b;
  b.x.resize(rows * width);
  for (auto& v : b.x) v = static_cast<real>(normal(rng));
  std::vector<real> a = b.x;
  for (int l = 0; l < layers_total; ++l) a = layer_forward(teacher[static_cast<std::size_t>(l)], l, a, rows);
  b.target = std::move(a);
  return b;
}

double norm_of_difference(std::span<const real> a, std::span<const real> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += d * d;
  }
  return std::sqrt(s);
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

struct layer_state {
  int index = 0;
  std::int64_t delay = 0;
  std::vector<real> params, grad, velocity, delta, w_hat, w_ref;
  layerpipe::any_weight_history<real> history;
  layerpipe::exact_stash<real> reference;  // measurement only: the true W(n − d)
  std::map<int, std::vector<real>> inputs, outputs;  // per micro-batch, from F to B
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
             double momentum, std::size_t batch)
      : lr_(lr), momentum_(momentum), batch_(batch), stage_layers_(stages_total) {
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
    const tensor& target = at(mb).target;
    const cmatrix y{out.data(), batch_, outputs}, t{target.data(), batch_, outputs};
    window_loss_ += static_cast<double>(nn::mse_loss(thrust::cpp::par, y, t));
    ++window_count_;
    tensor g(out.size());
    nn::mse_gradient(thrust::cpp::par, y, t, matrix{g.data(), batch_, outputs});
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
      matrix gv{g.data(), batch_, out};
      if (has_tanh(l)) nn::tanh_backward(thrust::cpp::par, cmatrix{y.data(), batch_, out}, cmatrix(gv), gv);
      // Weight gradient from the stashed activations (accumulating: zero first).
      thrust::fill(thrust::cpp::par, s.grad.begin(), s.grad.end(), real(0));
      nn::dense_backward_weight(thrust::cpp::par, cmatrix{x.data(), batch_, in}, cmatrix(gv),
                                matrix{s.grad.data(), out, in}, std::span<real>(s.grad).subspan(out * in, out));
      // Input gradient with the reconstructed old weights Ŵ ≈ W(n − d).
      s.history.reconstruct(s.params, s.w_hat);
      measure(s, out * in);
      tensor dx(batch_ * in);
      nn::dense_backward_input(thrust::cpp::par, cmatrix{s.w_hat.data(), out, in}, cmatrix(gv),
                               matrix{dx.data(), batch_, in});
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
      for (std::size_t i = 0; i < s.params.size(); ++i) {
        s.velocity[i] = static_cast<real>(momentum_) * s.velocity[i] + s.grad[i];
        s.delta[i] = static_cast<real>(lr_) * s.velocity[i];
      }
      s.reference.record(s.params, s.delta);  // W(n), Δ(n) before the update, like the policy
      layerpipe::apply_update(s.history, std::span<real>(s.params), std::span<const real>(s.delta));
    }
  }

  const std::vector<layer_state>& layers() const { return layers_; }

  /// Mean MSE of the current weights on held-out data.
  double evaluate(const batch_data& b, std::size_t rows) const {
    std::vector<real> a = b.x;
    for (int l = 0; l < layers_total; ++l) a = layer_forward(layers_[static_cast<std::size_t>(l)].params, l, a, rows);
    return static_cast<double>(nn::mse_loss(thrust::cpp::par, cmatrix{a.data(), rows, outputs},
                                            cmatrix{b.target.data(), rows, outputs}));
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
  double error = 0;       // median relative reconstruction error (layers with d > 0)
  std::optional<layerpipe::timeline> window;  // one measured window (async runs)
};

struct experiment {
  const settings& cfg;
  const layerpipe::partition& part;
  const std::vector<std::int64_t>& delays;
  const std::vector<std::vector<real>>& teacher;
  const std::vector<std::vector<real>>& init;
  const batch_data& held_out;
  std::size_t held_rows;

  std::vector<batch_data> window_data(int w) const {
    std::vector<batch_data> data;
    for (int m = 0; m < cfg.micro_batches; ++m)
      data.push_back(make_batch(teacher, cfg.batch,
                                1000003ULL * static_cast<std::uint64_t>(w) + static_cast<std::uint64_t>(m) + 17));
    return data;
  }

  /// Plain per-micro-batch SGD: no pipeline, no staleness (every d = 0), one micro-batch at a
  /// time through every stage, then every stage's update.
  run_result sequential(double lr, double momentum) const {
    const std::vector<std::int64_t> zero(delays.size(), 0);
    mlp_stages st(part, zero, layerpipe::weight_policy::stale, init, lr, momentum, cfg.batch);
    double last = 0;
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      st.set_window(&data);
      for (int m = 0; m < cfg.micro_batches; ++m) {
        std::vector<real> a = st.input(m);
        for (int s = 0; s < stages_total; ++s) a = st.forward(s, m, a);
        std::vector<real> g = st.loss_gradient(m, a);
        for (int s = stages_total - 1; s >= 0; --s) g = st.backward(s, m, g);
        for (int s = 0; s < stages_total; ++s) st.update(s);
      }
      last = st.window_loss();
      progress(w);
    }
    return {"sequential SGD", last, st.evaluate(held_out, held_rows), 0.0, std::nullopt};
  }

  run_result async(layerpipe::weight_policy policy, double lr, double momentum) const {
    mlp_stages st(part, delays, policy, init, lr, momentum, cfg.batch);
    const layerpipe::schedule sched = layerpipe::layerpipe_async(stages_total, cfg.micro_batches);
    layerpipe::thread_context ctx;
    run_result r;
    r.name = "async + " + std::string(layerpipe::to_string(policy));
    for (int w = 0; w < cfg.windows; ++w) {
      const auto data = window_data(w);
      st.set_window(&data);
      layerpipe::timeline t = ctx.run(sched, st);
      if (w == cfg.windows / 2) r.window = std::move(t);  // a window after warm-up
      r.train_loss = st.window_loss();
      progress(w);
    }
    r.eval_loss = st.evaluate(held_out, held_rows);
    std::vector<double> all;
    for (const auto& s : st.layers()) all.insert(all.end(), s.errors.begin(), s.errors.end());
    r.error = median(all);
    return r;
  }

  void progress(int w) const {
    std::cout << (w + 1 == cfg.windows ? ".\n" : ".") << std::flush;
  }
};

void print_help() {
  std::cout << "usage: layerpipe-train [--quick] [--windows N] [-m M] [--lr X] [--lr-momentum X] [--trace FILE]\n"
               "  --quick        a few short windows (test suite)\n"
               "  --windows N    training windows per run (default 40)\n"
               "  -m M           micro-batches per window (default 32; >= 7 reaches the steady state)\n"
               "  --lr X         learning rate of plain SGD (default 0.05)\n"
               "  --lr-momentum X  learning rate with momentum 0.9 (default 0.005)\n"
               "  --trace FILE   Chrome trace of one measured window (default layerpipe_train.json)\n";
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
    } else if (a == "--trace") {
      cfg.trace = value();
    } else if (a == "--help" || a == "-h") {
      print_help();
      std::exit(0);
    } else {
      layerpipe::detail::fail("unknown option '", a, "' (see --help)");
    }
  }
  return cfg;
}

int run(int argc, char** argv) {
  const settings cfg = parse(argc, argv);
  const auto started = std::chrono::steady_clock::now();

  // Partition and delays: the library's planner, not hand-written numbers.
  std::vector<layerpipe::layer> spec;
  for (int l = 0; l < layers_total; ++l) {
    const double params = static_cast<double>(fan_in(l) * fan_out(l) + fan_out(l));
    spec.push_back({"dense" + std::to_string(l), 1.0, 1.0, 1.0,
                    static_cast<double>(cfg.batch * fan_out(l) * sizeof(real)), params * sizeof(real)});
  }
  const layerpipe::graph g = layerpipe::graph::chain(spec);
  const layerpipe::partition part = layerpipe::balanced_partition(g, stages_total);
  const layerpipe::delay_plan plan = layerpipe::derive_delays(g, part);
  std::vector<std::int64_t> delays;
  for (int l = 0; l < layers_total; ++l) delays.push_back(plan.staleness_updates(l, layerpipe::pipelining_style::systolic));

  std::cout << "layerpipe-train: " << layers_total << "-layer MLP (width " << width << ", " << outputs
            << " outputs, dense+tanh), teacher-student MSE, micro-batch " << cfg.batch << ", M = "
            << cfg.micro_batches << " per window, " << cfg.windows << " windows\n";
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

  std::mt19937_64 rng_teacher(7), rng_student(11);
  std::vector<std::vector<real>> teacher, init;
  for (int l = 0; l < layers_total; ++l) {
    teacher.push_back(random_layer(l, rng_teacher, 1.5));
    init.push_back(random_layer(l, rng_student, 1.0));
  }
  const std::size_t held_rows = 512;
  const batch_data held_out = make_batch(teacher, held_rows, 99991);
  const experiment ex{cfg, part, delays, teacher, init, held_out, held_rows};

  struct optimizer {
    std::string name;
    double lr, momentum;
  };
  const optimizer optimizers[] = {{"SGD", cfg.lr_sgd, 0.0}, {"momentum 0.9", cfg.lr_momentum, 0.9}};
  std::vector<std::pair<std::string, run_result>> results;
  std::optional<layerpipe::timeline> measured;
  for (const auto& o : optimizers) {
    std::cout << "training with " << o.name << " (lr " << o.lr << ")\n";
    std::cout << "  sequential SGD ";
    results.emplace_back(o.name, ex.sequential(o.lr, o.momentum));
    for (auto p : policies) {
      std::cout << "  async + " << layerpipe::to_string(p) << " ";
      run_result r = ex.async(p, o.lr, o.momentum);
      if (!measured && p == layerpipe::weight_policy::exact_stash) measured = r.window;
      results.emplace_back(o.name, std::move(r));
    }
  }

  std::printf("\nsummary (train loss: mean MSE of the last window; eval: held-out MSE, %zu rows;\n"
              "         recon error: median of |W^ - W(n-d)| / |W(n) - W(n-d)| over every backward, d > 0)\n",
              held_rows);
  std::printf("%-14s %-26s %12s %12s %12s\n", "optimizer", "run", "train loss", "eval loss", "recon error");
  for (const auto& [opt, r] : results)
    std::printf("%-14s %-26s %12.5f %12.5f %12.3f\n", opt.c_str(), r.name.c_str(), r.train_loss, r.eval_loss, r.error);
  const double initial = [&] {
    const mlp_stages fresh(part, delays, layerpipe::weight_policy::stale, init, 0, 0, cfg.batch);
    return fresh.evaluate(held_out, held_rows);
  }();
  std::printf("(eval loss of the initial weights: %.5f)\n", initial);

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

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "layerpipe-train: " << e.what() << '\n';
    return 1;
  }
}
