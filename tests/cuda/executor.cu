// The CUDA executor (exec/cuda.cuh) against the threads executor: one small dense model written
// once over a backend (host vectors + thrust::cpp::par, or cuda_buffer + par_nosync.on(stream)),
// trained one step by GPipe, 1F1B and interleaved 1F1B, with and without graph capture; plus the
// timeline, the handle, and the error paths. Runs only with a GPU (tests/cuda/main.cu returns 77
// without one).
#include "layerpipe_test.hpp"
#include "exec/executor_checks.hpp"

#include <layerpipe/exec/cuda.cuh>
#include <layerpipe/exec/threads.hpp>
#include <layerpipe/nn/activation.hpp>
#include <layerpipe/nn/dense.hpp>
#include <layerpipe/nn/loss.hpp>
#include <layerpipe/nn/matrix.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>

#include <thrust/functional.h>
#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/transform.h>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using layerpipe::test::check_timeline;
using layerpipe::test::with_updates;

namespace {

namespace nn = layerpipe::nn;
using host_vec = std::vector<double>;

void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

struct host_backend {
  using vec = host_vec;
  vec make(std::size_t n) const { return vec(n, 0.0); }
  vec from_host(const host_vec& v, int) const { return v; }
  host_vec to_host(const vec& v) const { return v; }
  void copy(vec& dst, const vec& src) const { std::copy(src.begin(), src.end(), dst.begin()); }
  void zero(vec& v) const { std::fill(v.begin(), v.end(), 0.0); }
  auto policy() const { return thrust::cpp::par; }
};

struct device_backend {
  using vec = layerpipe::cuda_buffer<double>;
  cudaStream_t stream = nullptr;
  std::vector<int> gpu_of_stage;  // where from_host puts a stage's data (empty: current GPU)

  vec make(std::size_t n) const { return vec(n); }
  vec from_host(const host_vec& v, int stage) const {  // outside a step: synchronous is fine
    if (!gpu_of_stage.empty()) cuda_ok(cudaSetDevice(gpu_of_stage[static_cast<std::size_t>(stage)]), "cudaSetDevice");
    vec d(v.size());
    cuda_ok(cudaMemcpy(d.data(), v.data(), v.size() * sizeof(double), cudaMemcpyHostToDevice), "upload");
    // From pageable memory cudaMemcpy may return before the DMA lands, and the executor's
    // non-blocking streams do not wait for the default stream: wait for it here.
    cuda_ok(cudaStreamSynchronize(nullptr), "upload (wait for the copy)");
    return d;
  }
  host_vec to_host(const vec& d) const {
    host_vec v(d.size());
    cuda_ok(cudaMemcpy(v.data(), d.data(), v.size() * sizeof(double), cudaMemcpyDeviceToHost), "download");
    return v;
  }
  void copy(vec& dst, const vec& src) const {
    cuda_ok(cudaMemcpyAsync(dst.data(), src.data(), src.size_bytes(), cudaMemcpyDeviceToDevice, stream), "copy");
  }
  void zero(vec& v) const { cuda_ok(cudaMemsetAsync(v.data(), 0, v.size_bytes(), stream), "zero"); }
  auto policy() const { return thrust::cuda::par_nosync.on(stream); }
};

struct sgd_step {
  double lr;
  LAYERPIPE_HD double operator()(double w, double g) const { return w - lr * g; }
};

/// One dense layer (width 4, 2 rows per micro-batch) per stage, tanh after every stage but the
/// last, MSE at the end, one SGD step per stage with the sum of the micro-batch gradients taken
/// in micro-batch order, so every schedule computes bitwise the same weights on one backend.
/// Nothing is freed inside a step (the CUDA contract): stashes live until end_step().
template <class Backend>
struct mlp {
  using vec = typename Backend::vec;
  static constexpr std::size_t width = 4, rows = 2, n = width * rows;
  struct stage_state {
    vec w, b;
    std::map<int, vec> x, y, dz, dw, db;
    std::vector<vec> scratch;
  };
  Backend be;
  int stages;
  std::vector<stage_state> st;
  std::vector<vec> inputs, targets;
  double lr = 0.1;

  mlp(int stage_count, int micro_batches, Backend backend = {})
      : be(std::move(backend)), stages(stage_count), st(static_cast<std::size_t>(stage_count)) {
    for (int s = 0; s < stages; ++s) {
      host_vec w(width * width), b(width);
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.07 * static_cast<double>((5 * s + 3 * static_cast<int>(i)) % 13) - 0.4;
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.02 * static_cast<double>(s) - 0.01 * static_cast<double>(i);
      st[static_cast<std::size_t>(s)].w = be.from_host(w, s);
      st[static_cast<std::size_t>(s)].b = be.from_host(b, s);
    }
    for (int m = 0; m < micro_batches; ++m) {
      host_vec in(n), t(n);
      for (std::size_t i = 0; i < n; ++i) {
        in[i] = 0.25 * static_cast<double>(m % 5) - 0.15 * static_cast<double>(i) + 0.3;
        t[i] = 0.4 - 0.08 * static_cast<double>(m + static_cast<int>(i));
      }
      inputs.push_back(be.from_host(in, 0));
      targets.push_back(be.from_host(t, stages - 1));
    }
  }

  static nn::matrix_view<const double> cm(const vec& v, std::size_t r, std::size_t c) { return {v.data(), r, c}; }
  static nn::matrix_view<double> m(vec& v, std::size_t r, std::size_t c) { return {v.data(), r, c}; }
  vec copy_of(const vec& v) {
    vec out = be.make(v.size());
    be.copy(out, v);
    return out;
  }

  vec input(int mb) { return copy_of(inputs[static_cast<std::size_t>(mb)]); }
  vec forward(int s, int mb, const vec& in) {
    stage_state& l = st[static_cast<std::size_t>(s)];
    vec x = copy_of(in);
    vec y = be.make(n);
    nn::dense_forward(be.policy(), cm(l.w, width, width), std::span<const double>(l.b.data(), width), cm(x, rows, width),
                      m(y, rows, width));
    if (s + 1 < stages) nn::tanh_forward(be.policy(), cm(y, rows, width), m(y, rows, width));
    l.x[mb] = std::move(x);
    l.y[mb] = copy_of(y);
    return y;
  }
  vec loss_gradient(int mb, const vec& out) {
    vec g = be.make(n);
    nn::mse_gradient(be.policy(), cm(out, rows, width), cm(targets[static_cast<std::size_t>(mb)], rows, width), m(g, rows, width));
    return g;
  }
  vec backward_input(int s, int mb, const vec& g) {
    stage_state& l = st[static_cast<std::size_t>(s)];
    vec dz = be.make(n);
    if (s + 1 < stages)
      nn::tanh_backward(be.policy(), cm(l.y.at(mb), rows, width), cm(g, rows, width), m(dz, rows, width));
    else
      be.copy(dz, g);
    vec dx = be.make(n);
    nn::dense_backward_input(be.policy(), cm(l.w, width, width), cm(dz, rows, width), m(dx, rows, width));
    l.dz[mb] = std::move(dz);
    return dx;
  }
  void backward_weight(int s, int mb) {
    stage_state& l = st[static_cast<std::size_t>(s)];
    vec dw = be.make(width * width), db = be.make(width);
    be.zero(dw);
    be.zero(db);
    nn::dense_backward_weight(be.policy(), cm(l.x.at(mb), rows, width), cm(l.dz.at(mb), rows, width),
                              m(dw, width, width), std::span<double>(db.data(), width));
    l.dw[mb] = std::move(dw);
    l.db[mb] = std::move(db);
  }
  void update(int s) {
    stage_state& l = st[static_cast<std::size_t>(s)];
    auto step = [&](vec& param, std::map<int, vec>& grads) {
      vec sum = copy_of(grads.begin()->second);
      for (auto it = std::next(grads.begin()); it != grads.end(); ++it)
        thrust::transform(be.policy(), sum.data(), sum.data() + sum.size(), it->second.data(), sum.data(),
                          thrust::plus<double>());
      thrust::transform(be.policy(), param.data(), param.data() + param.size(), sum.data(), param.data(), sgd_step{lr});
      l.scratch.push_back(std::move(sum));
    };
    step(l.w, l.dw);
    step(l.b, l.db);
  }
  /// After run() returns: drop the step's stashes (for CUDA, after the executor's final sync).
  void end_step() {
    for (auto& l : st) {
      l.x.clear();
      l.y.clear();
      l.dz.clear();
      l.dw.clear();
      l.db.clear();
      l.scratch.clear();
    }
  }
  std::vector<host_vec> weights() const {
    std::vector<host_vec> out;
    for (const auto& l : st) {
      out.push_back(be.to_host(l.w));
      out.push_back(be.to_host(l.b));
    }
    return out;
  }
};

struct host_stages {
  using tensor = host_vec;
  mlp<host_backend>& model;
  int num_stages() const { return model.stages; }
  tensor input(int mb) { return model.input(mb); }
  tensor forward(int s, int mb, const tensor& in) { return model.forward(s, mb, in); }
  tensor loss_gradient(int mb, const tensor& out) { return model.loss_gradient(mb, out); }
  tensor backward_input(int s, int mb, const tensor& g) { return model.backward_input(s, mb, g); }
  void backward_weight(int s, int mb) { model.backward_weight(s, mb); }
  void update(int s) { model.update(s); }
};

__global__ void empty_kernel() {}

/// The same model on the CUDA executor; it can be told to throw, or to make a bad launch, at one
/// (stage, micro-batch) forward.
struct cuda_stages {
  using tensor = layerpipe::cuda_buffer<double>;
  mlp<device_backend>& model;
  int fail_stage = -1, fail_mb = -1;
  bool bad_launch = false;

  int num_stages() const { return model.stages; }
  tensor input(int mb, cudaStream_t s) { return on(s).input(mb); }
  tensor forward(int st, int mb, const tensor& in, cudaStream_t s) {
    const bool fail = st == fail_stage && mb == fail_mb;
    if (fail && !bad_launch)
      throw std::runtime_error("test stage failed at stage " + std::to_string(st) + ", micro-batch " + std::to_string(mb));
    tensor out = on(s).forward(st, mb, in);
    // Last, so no Thrust call of this stage sees the pending error first.
    if (fail) empty_kernel<<<1, 4096, 0, s>>>();  // more threads per block than any GPU allows
    return out;
  }
  tensor loss_gradient(int mb, const tensor& out, cudaStream_t s) { return on(s).loss_gradient(mb, out); }
  tensor backward_input(int st, int mb, const tensor& g, cudaStream_t s) { return on(s).backward_input(st, mb, g); }
  void backward_weight(int st, int mb, cudaStream_t s) { on(s).backward_weight(st, mb); }
  void update(int st, cudaStream_t s) { on(s).update(st); }

private:
  mlp<device_backend>& on(cudaStream_t s) {
    model.be.stream = s;
    return model;
  }
};

static_assert(layerpipe::pipeline_stages<host_stages>);
static_assert(layerpipe::cuda_pipeline_stages<cuda_stages>);
static_assert(!layerpipe::cuda_pipeline_stages<host_stages>);
static_assert(!layerpipe::cuda_has_fused_backward<cuda_stages>);
static_assert(layerpipe::executor_for<layerpipe::cuda_executor, cuda_stages>);

/// Largest |a - b| over all weights.
double max_difference(const std::vector<host_vec>& a, const std::vector<host_vec>& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].size(); ++j) worst = std::max(worst, std::fabs(a[i][j] - b[i][j]));
  return worst;
}

struct family {
  const char* name;
  layerpipe::schedule schedule;
};

std::vector<family> families() {  // four stages each
  return {{"GPipe", with_updates(layerpipe::gpipe(4, 8))},
          {"1F1B", with_updates(layerpipe::one_f_one_b(4, 8))},
          {"Interleaved1F1B", with_updates(layerpipe::interleaved_1f1b(2, 8, 2))}};
}

constexpr int steps = 2;  // two steps: the context's streams and events are reused

std::vector<host_vec> train_on_threads(const layerpipe::schedule& s) {
  mlp<host_backend> model(s.num_stages(), s.micro_batches);
  host_stages st{model};
  layerpipe::thread_context ctx;
  for (int i = 0; i < steps; ++i) {
    ctx.run(s, st);
    model.end_step();
  }
  return model.weights();
}

std::vector<host_vec> train_on_cuda(layerpipe::cuda_context& ctx, const layerpipe::schedule& s,
                                    std::vector<layerpipe::timeline>* timelines = nullptr, device_backend be = {}) {
  mlp<device_backend> model(s.num_stages(), s.micro_batches, std::move(be));
  cuda_stages st{model};
  for (int i = 0; i < steps; ++i) {
    layerpipe::timeline t = ctx.get_executor().run(s, st);
    model.end_step();
    if (timelines) timelines->push_back(std::move(t));
  }
  return model.weights();
}

layerpipe::cuda_options captured() {
  layerpipe::cuda_options o;
  o.capture_graph = true;
  return o;
}

}  // namespace

TEST_CASE("cuda executor: GPipe, 1F1B and interleaved train like the threads executor", "[cuda][exec]") {
  layerpipe::cuda_context plain;
  layerpipe::cuda_context graph(captured());
  std::vector<host_vec> first_cuda;
  for (const family& f : families()) {
    CAPTURE(f.name);
    const std::vector<host_vec> host = train_on_threads(f.schedule);
    std::vector<layerpipe::timeline> timelines;
    const std::vector<host_vec> cuda = train_on_cuda(plain, f.schedule, &timelines);
    const std::vector<host_vec> cuda_graph = train_on_cuda(graph, f.schedule, &timelines);
    // Host and device round differently (fused multiply-add, tanh): a tolerance far below what a
    // missed or repeated micro-batch would move (about 1e-3 here).
    CHECK(max_difference(host, cuda) < 1e-9);
    // Same device arithmetic in the same order: bitwise, with or without graph capture, and
    // whatever the schedule (gradients are summed in micro-batch order).
    CHECK(cuda == cuda_graph);
    if (first_cuda.empty()) first_cuda = cuda;
    CHECK(cuda == first_cuda);
    mlp<host_backend> untouched(4, 8);
    CHECK(max_difference(untouched.weights(), cuda) > 1e-6);  // the steps really updated
    REQUIRE(timelines.size() == 2 * steps);
    for (const auto& t : timelines) {
      CHECK(t.num_devices == f.schedule.num_devices());
      CHECK(check_timeline(f.schedule, t, 1e-6) == "");
    }
  }
}

TEST_CASE("cuda executor: a compute_only schedule is lowered, the handle is cheap and named", "[cuda][exec]") {
  layerpipe::cuda_context ctx;
  const layerpipe::cuda_executor ex = ctx.get_executor();
  REQUIRE(ex == ctx.get_executor());
  layerpipe::cuda_context other;
  REQUIRE_FALSE(ex == other.get_executor());
  REQUIRE(ex.name() == "cuda");
  REQUIRE(ctx.options() == layerpipe::cuda_options{});
  const layerpipe::schedule s = layerpipe::one_f_one_b(2, 4);  // compute_only, no U
  mlp<device_backend> model(2, 4);
  cuda_stages st{model};
  const layerpipe::timeline t = ex.run(s, st);
  model.end_step();
  CHECK(check_timeline(layerpipe::lower(s), t, 1e-6) == "");
}

TEST_CASE("cuda executor: a stage's exception stops the step and reaches the caller", "[cuda][exec]") {
  const layerpipe::schedule s = with_updates(layerpipe::one_f_one_b(4, 8));
  const std::vector<host_vec> expected = train_on_threads(s);
  for (bool capture : {false, true}) {
    CAPTURE(capture);
    layerpipe::cuda_context ctx(capture ? captured() : layerpipe::cuda_options{});
    {
      mlp<device_backend> model(4, 8);
      cuda_stages st{model, 2, 5};
      REQUIRE_THROWS_WITH(ctx.run(s, st), "test stage failed at stage 2, micro-batch 5");
      model.end_step();
    }
    // The context stays usable, and a clean run gives the right weights.
    CHECK(max_difference(train_on_cuda(ctx, s), expected) < 1e-9);
  }
}

TEST_CASE("cuda executor: a bad launch by a stage is a layerpipe::error naming the action", "[cuda][exec]") {
  const layerpipe::schedule s = with_updates(layerpipe::one_f_one_b(4, 8));
  layerpipe::cuda_context ctx;
  {
    mlp<device_backend> model(4, 8);
    cuda_stages st{model, 1, 3, true};
    layerpipe::test::require_error([&] { ctx.run(s, st); },
                                   {"cuda executor:", "cudaGetLastError", "action 1F3", "cudaErrorInvalidConfiguration"});
    model.end_step();
  }
  CHECK(max_difference(train_on_cuda(ctx, s), train_on_threads(s)) < 1e-9);
}

TEST_CASE("cuda executor: one GPU per pipeline device, or the rule it breaks", "[cuda][exec]") {
  int gpus = 0;
  REQUIRE(cudaGetDeviceCount(&gpus) == cudaSuccess);
  layerpipe::cuda_options o;
  o.placement = layerpipe::cuda_placement::gpu_per_device;
  layerpipe::cuda_context ctx(o);
  const layerpipe::schedule s = with_updates(layerpipe::one_f_one_b(2, 4));
  if (gpus < 2) {
    mlp<device_backend> model(2, 4);
    cuda_stages st{model};
    layerpipe::test::require_error([&] { ctx.run(s, st); }, {"gpu_per_device", "has 2 devices", "devices <= GPUs"});
    return;
  }
  device_backend be;
  be.gpu_of_stage = {0, 1};  // stage d on GPU d, as the placement puts it
  std::vector<layerpipe::timeline> timelines;
  const std::vector<host_vec> cuda = train_on_cuda(ctx, s, &timelines, be);
  CHECK(max_difference(cuda, train_on_threads(s)) < 1e-9);
  for (const auto& t : timelines) CHECK(t.spans.size() == s.size());
}
