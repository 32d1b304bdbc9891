// layerpipe-train-mpi — trains a small MLP pipelined over MPI ranks, one rank per stage, with the
// MPI executor (exec/mpi.hpp), and checks the result against the threads executor.
//
//   mpirun -np 4 layerpipe-train-mpi                          # LayerPipe async, P = 4
//   mpirun -np 4 layerpipe-train-mpi --schedule 1f1b          # synchronous 1F1B + one U per stage
//   mpirun -np 8 layerpipe-train-mpi --dp 2                   # P = 4 stages x 2 data-parallel replicas
//   mpirun -np 4 --hostfile hosts layerpipe-train-mpi --trace run.json
//
//   rank 0 ─F→ rank 1 ─F→ rank 2 ─F→ rank 3 ─┐ loss
//   rank 0 ←B─ rank 1 ←B─ rank 2 ←B─ rank 3 ←┘          (one dense + tanh layer per stage)
//
// Task: teacher–student regression (a fixed random teacher of the same shape labels inputs).
// Each stage is dense + tanh of width 16 (the last one dense only), SGD, gradients accumulated in
// one buffer per stage (gradient_buffer, which the executor all-reduces with --dp). Every rank
// builds the same stages object; the executor calls only the stages placed on its rank. After
// the run every rank replays the same windows with the threads executor on the whole model (its
// own replica's data, gradients summed over replicas by hand) and compares its own stages'
// weights: they must be bitwise equal ("max weight difference vs threads: 0").
#include <layerpipe/exec/mpi.hpp>
#include <layerpipe/exec/threads.hpp>
#include <layerpipe/io/chrome_trace.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using vec = std::vector<double>;
constexpr std::size_t width = 16;

struct layer {
  vec w, b, grad;                // grad: dW then db, accumulated over a window
  std::map<int, vec> x, y, g;    // per micro-batch: input, output (after tanh), output gradient
};

/// A chain of `stages` dense(+tanh) layers; micro-batch m of window k is sample k·M + m.
struct mlp {
  std::vector<layer> layers;
  int micro_batches = 0, window = 0, seed = 0;
  double lr = 0.02, loss = 0.0;

  mlp(int stages, int m, int data_seed) : layers(static_cast<std::size_t>(stages)), micro_batches(m), seed(data_seed) {
    std::mt19937 gen(7);
    std::normal_distribution<double> n(0.0, 1.0 / std::sqrt(double(width)));
    for (auto& l : layers) {
      l.w.resize(width * width);
      for (double& v : l.w) v = n(gen);
      l.b.assign(width, 0.0);
      l.grad.assign(width * width + width, 0.0);
    }
  }
  bool last(int stage) const { return stage + 1 == static_cast<int>(layers.size()); }
  vec sample(int mb, unsigned salt) const {  // deterministic input (salt 0) or teacher noise
    std::mt19937 gen(static_cast<unsigned>((window * micro_batches + mb) * 7919 + seed * 104729) + salt);
    std::normal_distribution<double> n(0.0, 1.0);
    vec v(width);
    for (double& x : v) x = n(gen);
    return v;
  }
};

/// The teacher: a fixed tanh map of the input, the target every student output is fitted to.
vec teacher(const vec& x) {
  vec t(width);
  for (std::size_t i = 0; i < width; ++i) t[i] = std::tanh(x[i] + 0.5 * x[(i + 1) % width]) - 0.3 * x[(i + 3) % width];
  return t;
}

struct mlp_stages {
  using tensor = vec;
  mlp& net;
  int num_stages() const { return static_cast<int>(net.layers.size()); }
  tensor input(int mb) { return net.sample(mb, 0); }
  tensor forward(int stage, int mb, const tensor& in) {
    layer& l = net.layers[static_cast<std::size_t>(stage)];
    vec y(l.b);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) y[r] += l.w[r * width + c] * in[c];
    if (!net.last(stage))
      for (double& v : y) v = std::tanh(v);
    l.x[mb] = in;
    l.y[mb] = y;
    return y;
  }
  tensor loss_gradient(int mb, const tensor& out) {  // MSE 0.5 |out - teacher(x)|^2
    const vec t = teacher(net.sample(mb, 0));
    vec g(width);
    for (std::size_t i = 0; i < width; ++i) {
      g[i] = out[i] - t[i];
      net.loss += 0.5 * g[i] * g[i] / net.micro_batches;
    }
    return g;
  }
  tensor backward_input(int stage, int mb, const tensor& grad_out) {
    layer& l = net.layers[static_cast<std::size_t>(stage)];
    vec g = grad_out;
    if (!net.last(stage)) {
      const vec& y = l.y.at(mb);
      for (std::size_t i = 0; i < width; ++i) g[i] *= 1.0 - y[i] * y[i];
    }
    vec dx(width, 0.0);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) dx[c] += l.w[r * width + c] * g[r];
    l.g[mb] = std::move(g);
    l.y.erase(mb);
    return dx;
  }
  void backward_weight(int stage, int mb) {
    layer& l = net.layers[static_cast<std::size_t>(stage)];
    const vec& x = l.x.at(mb);
    const vec& g = l.g.at(mb);
    for (std::size_t r = 0; r < width; ++r) {
      for (std::size_t c = 0; c < width; ++c) l.grad[r * width + c] += g[r] * x[c];
      l.grad[width * width + r] += g[r];
    }
    l.x.erase(mb);
    l.g.erase(mb);
  }
  void update(int stage) {
    layer& l = net.layers[static_cast<std::size_t>(stage)];
    for (std::size_t i = 0; i < l.w.size(); ++i) l.w[i] -= net.lr * l.grad[i];
    for (std::size_t i = 0; i < width; ++i) l.b[i] -= net.lr * l.grad[width * width + i];
    std::fill(l.grad.begin(), l.grad.end(), 0.0);
  }
  std::span<double> gradient_buffer(int stage) { return net.layers[static_cast<std::size_t>(stage)].grad; }
};

struct settings {
  std::string schedule = "layerpipe";
  int micro_batches = 8, windows = 20, dp = 1;
  std::string trace;
};

int run(int argc, char** argv) {
  settings cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) layerpipe::detail::fail("layerpipe-train-mpi: ", a, " needs a value");
      return argv[++i];
    };
    if (a == "--schedule") cfg.schedule = value();
    else if (a == "-m") cfg.micro_batches = std::stoi(value());
    else if (a == "--windows") cfg.windows = std::stoi(value());
    else if (a == "--dp") cfg.dp = std::stoi(value());
    else if (a == "--trace") cfg.trace = value();
    else layerpipe::detail::fail("layerpipe-train-mpi: unknown option '", a,
                                 "' (options: --schedule layerpipe|1f1b|gpipe, -m M, --windows N, --dp D, --trace FILE)");
  }
  const layerpipe::mpi_context ctx(MPI_COMM_WORLD, cfg.dp);
  const int p = ctx.pipeline_size(), m = cfg.micro_batches;
  // A synchronous schedule gets one U per stage after its device's last action.
  auto with_updates = [](layerpipe::schedule s) {
    s = layerpipe::lower(s);
    for (int st = 0; st < s.num_stages(); ++st)
      s.actions[static_cast<std::size_t>(s.placement.device_of(st))].push_back(
          layerpipe::make_action(layerpipe::action_kind::update, st));
    return s;
  };
  layerpipe::schedule s;
  if (cfg.schedule == "layerpipe") s = layerpipe::lower(layerpipe::layerpipe_async(p, m));
  else if (cfg.schedule == "1f1b") s = with_updates(layerpipe::one_f_one_b(p, m));
  else if (cfg.schedule == "gpipe") s = with_updates(layerpipe::gpipe(p, m));
  else layerpipe::detail::fail("layerpipe-train-mpi: unknown schedule '", cfg.schedule, "' (layerpipe, 1f1b or gpipe)");
  if (cfg.dp > 1 && cfg.schedule == "layerpipe")
    layerpipe::detail::fail("layerpipe-train-mpi: --dp needs a synchronous schedule (1f1b or gpipe): LayerPipe's "
                            "per-micro-batch updates would all-reduce after every backward");

  const bool root = ctx.rank() == 0;
  if (root)
    std::printf("%s on %d ranks: P = %d pipeline stages x dp = %d, M = %d, %d windows\n", s.name.c_str(), p * cfg.dp, p,
                cfg.dp, m, cfg.windows);
  mlp net(p, m, ctx.data_parallel_rank());
  mlp_stages stages{net};
  layerpipe::timeline last;
  for (int k = 0; k < cfg.windows; ++k) {
    net.window = k;
    net.loss = 0.0;
    last = ctx.get_executor().run(s, stages);
    double loss = 0.0;  // only the last stage's rank of each replica has a non-zero share
    MPI_Reduce(&net.loss, &loss, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (root && (k % 5 == 0 || k + 1 == cfg.windows))
      std::printf("window %3d: train loss %.6f\n", k, loss / cfg.dp);
  }

  // The same windows with the threads executor, every replica's data, gradients summed by hand.
  std::vector<mlp> replicas;
  for (int r = 0; r < cfg.dp; ++r) replicas.emplace_back(p, m, r);
  layerpipe::schedule local = s;  // each replica without U; the summed step is taken here
  for (auto& list : local.actions)
    std::erase_if(list, [](const layerpipe::action& a) { return a.kind == layerpipe::action_kind::update; });
  for (int k = 0; k < cfg.windows; ++k) {
    if (cfg.dp == 1) {
      replicas[0].window = k;
      mlp_stages st{replicas[0]};
      layerpipe::thread_context{}.run(s, st);
      continue;
    }
    for (auto& r : replicas) {
      r.window = k;
      mlp_stages st{r};
      layerpipe::thread_context{}.run(local, st);
    }
    for (std::size_t l = 0; l < replicas[0].layers.size(); ++l) {
      vec sum = replicas[0].layers[l].grad;
      for (std::size_t r = 1; r < replicas.size(); ++r)
        for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += replicas[r].layers[l].grad[i];
      for (auto& r : replicas) {
        r.layers[l].grad = sum;
        mlp_stages{r}.update(static_cast<int>(l));
      }
    }
  }
  double diff = 0.0;
  const auto mine = static_cast<std::size_t>(ctx.pipeline_rank());
  for (std::size_t i = 0; i < width * width; ++i)
    diff = std::max(diff, std::abs(net.layers[mine].w[i] - replicas[static_cast<std::size_t>(ctx.data_parallel_rank())].layers[mine].w[i]));
  double worst = 0.0;
  MPI_Reduce(&diff, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (root) {
    std::printf("last window: makespan %.6f s over %zu spans\n", last.makespan(), last.spans.size());
    std::printf("max weight difference vs threads: %g\n", worst);
    if (!cfg.trace.empty()) {
      std::ofstream out(cfg.trace);
      layerpipe::write_chrome_trace(out, last);
      std::printf("wrote %s\n", cfg.trace.c_str());
    }
  }
  // dp <= 2: both sum a + b, bitwise; more replicas may be summed in another association.
  return worst <= (cfg.dp > 2 ? 1e-9 : 0.0) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int status = 0;
  try {
    status = run(argc, argv);
  } catch (const std::exception& e) {  // the same bad option on every rank: rank 0 reports, all exit
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) std::fprintf(stderr, "%s\n", e.what());
    status = 2;
  }
  MPI_Finalize();
  return status;
}
