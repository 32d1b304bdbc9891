// Executors: the threads executor against the sequential reference and against plain
// sequential training with gradient accumulation, on a tiny deterministic model.
#include "layerpipe_test.hpp"
#include "exec/executor_checks.hpp"

#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/stage.hpp>
#include <layerpipe/exec/threads.hpp>
#include <layerpipe/io/chrome_trace.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/families.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using layerpipe::test::check_timeline;
using layerpipe::test::with_updates;

namespace {

using vec = std::vector<double>;
constexpr std::size_t width = 3;

/// One dense layer y = W x + b per stage, MSE loss 0.5 |y - target|^2 at the last stage, SGD.
/// Gradients are stored per micro-batch and summed in micro-batch order at update time, so the
/// accumulated gradient (and the updated weights) do not depend on the order the schedule runs
/// the micro-batches in: any executor must reproduce plain sequential training bit for bit.
struct dense_model {
  struct layer {
    vec w, b;                              // w row-major width x width
    std::map<int, vec> x, g;               // stashed input and output gradient per micro-batch
    std::map<int, std::pair<vec, vec>> grad;  // (dW, db) per micro-batch
  };
  std::vector<layer> layers;
  std::vector<vec> inputs, targets;
  double lr = 0.05;

  dense_model(int stages, int micro_batches) : layers(static_cast<std::size_t>(stages)) {
    for (std::size_t s = 0; s < layers.size(); ++s) {
      layers[s].w.resize(width * width);
      layers[s].b.resize(width);
      for (std::size_t i = 0; i < width * width; ++i)
        layers[s].w[i] = 0.1 * static_cast<double>((3 * s + 7 * i) % 11) - 0.45;
      for (std::size_t i = 0; i < width; ++i) layers[s].b[i] = 0.01 * static_cast<double>(s + i);
    }
    for (int m = 0; m < micro_batches; ++m) {
      vec in(width), t(width);
      for (std::size_t i = 0; i < width; ++i) {
        in[i] = 0.3 * static_cast<double>(m) - 0.2 * static_cast<double>(i) + 0.1;
        t[i] = 0.5 - 0.1 * static_cast<double>(m + static_cast<int>(i));
      }
      inputs.push_back(in);
      targets.push_back(t);
    }
  }

  vec apply(std::size_t s, const vec& x) const {
    vec y(layers[s].b);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) y[r] += layers[s].w[r * width + c] * x[c];
    return y;
  }
  vec transpose_apply(std::size_t s, const vec& g) const {
    vec out(width, 0.0);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) out[c] += layers[s].w[r * width + c] * g[r];
    return out;
  }
  void weight_gradient(std::size_t s, int mb) {
    auto& l = layers[s];
    const vec& x = l.x.at(mb);
    const vec& g = l.g.at(mb);
    vec dw(width * width);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) dw[r * width + c] = g[r] * x[c];
    l.grad[mb] = {dw, g};
    l.x.erase(mb);
    l.g.erase(mb);
  }
  void step(std::size_t s) {  // sums in micro-batch order (std::map is ordered)
    auto& l = layers[s];
    vec dw(width * width, 0.0), db(width, 0.0);
    for (const auto& [mb, gr] : l.grad) {
      for (std::size_t i = 0; i < dw.size(); ++i) dw[i] += gr.first[i];
      for (std::size_t i = 0; i < db.size(); ++i) db[i] += gr.second[i];
    }
    for (std::size_t i = 0; i < dw.size(); ++i) l.w[i] -= lr * dw[i];
    for (std::size_t i = 0; i < db.size(); ++i) l.b[i] -= lr * db[i];
    l.grad.clear();
  }
  vec loss_grad(int mb, const vec& y) const {
    vec g(width);
    for (std::size_t i = 0; i < width; ++i) g[i] = y[i] - targets[static_cast<std::size_t>(mb)][i];
    return g;
  }
};

/// The model as pipeline stages; Fused adds a fused backward, Counted adds num_stages().
template <bool Fused>
struct dense_stages {
  using tensor = vec;
  dense_model& model;
  std::vector<int> fused_calls;

  explicit dense_stages(dense_model& m) : model(m), fused_calls(m.layers.size(), 0) {}
  int num_stages() const { return static_cast<int>(model.layers.size()); }
  tensor input(int mb) { return model.inputs[static_cast<std::size_t>(mb)]; }
  tensor forward(int stage, int mb, const tensor& in) {
    const auto s = static_cast<std::size_t>(stage);
    model.layers[s].x[mb] = in;
    return model.apply(s, in);
  }
  tensor loss_gradient(int mb, const tensor& out) { return model.loss_grad(mb, out); }
  tensor backward_input(int stage, int mb, const tensor& g) {
    const auto s = static_cast<std::size_t>(stage);
    model.layers[s].g[mb] = g;
    return model.transpose_apply(s, g);
  }
  void backward_weight(int stage, int mb) { model.weight_gradient(static_cast<std::size_t>(stage), mb); }
  tensor backward(int stage, int mb, const tensor& g)
    requires Fused
  {
    ++fused_calls[static_cast<std::size_t>(stage)];
    tensor r = backward_input(stage, mb, g);
    backward_weight(stage, mb);
    return r;
  }
  void update(int stage) { model.step(static_cast<std::size_t>(stage)); }
};

static_assert(layerpipe::pipeline_stages<dense_stages<false>>);
static_assert(layerpipe::pipeline_stages<dense_stages<true>>);
static_assert(layerpipe::has_fused_backward<dense_stages<true>>);
static_assert(!layerpipe::has_fused_backward<dense_stages<false>>);
static_assert(layerpipe::has_stage_count<dense_stages<false>>);
static_assert(!layerpipe::pipeline_stages<int>);

/// Plain sequential training: every micro-batch forward then backward, then one step per stage.
dense_model reference_step(int stages, int micro_batches) {
  dense_model m(stages, micro_batches);
  dense_stages<false> st(m);
  for (int mb = 0; mb < micro_batches; ++mb) {
    vec x = st.input(mb);
    for (int s = 0; s < stages; ++s) x = st.forward(s, mb, x);
    vec g = st.loss_gradient(mb, x);
    for (int s = stages - 1; s >= 0; --s) {
      g = st.backward_input(s, mb, g);
      st.backward_weight(s, mb);
    }
  }
  for (int s = 0; s < stages; ++s) st.update(s);
  return m;
}

bool same_weights(const dense_model& a, const dense_model& b) {
  for (std::size_t s = 0; s < a.layers.size(); ++s)
    if (a.layers[s].w != b.layers[s].w || a.layers[s].b != b.layers[s].b) return false;  // bitwise
  return true;
}

/// Turns a hang into a failure: aborts the process if not disarmed within a generous limit.
class watchdog {
public:
  explicit watchdog(int seconds)
      : thread_([this, seconds] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) {
            std::fputs("watchdog: executor run did not return (hang)\n", stderr);
            std::abort();
          }
        }) {}
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

struct family {
  const char* name;
  layerpipe::schedule (*make)(int p, int m);
};
const family families[] = {
    {"GPipe", [](int p, int m) { return layerpipe::gpipe(p, m); }},
    {"1F1B", [](int p, int m) { return layerpipe::one_f_one_b(p, m); }},
    {"Interleaved1F1B", [](int p, int m) { return layerpipe::interleaved_1f1b(p, m, 2); }},
};

}  // namespace

static_assert(layerpipe::executor_for<layerpipe::thread_executor, dense_stages<false>>);
static_assert(layerpipe::executor_for<layerpipe::thread_executor, dense_stages<true>>);

TEST_CASE("threads and sequential executors train like sequential gradient accumulation", "[exec]") {
  for (const auto& f : families) {
    for (int p = 1; p <= 4; ++p) {
      for (int m = 1; m <= 8; ++m) {
        const layerpipe::schedule s = with_updates(f.make(p, m));
        const int stages = s.num_stages();
        CAPTURE(f.name, p, m);
        const dense_model expected = reference_step(stages, m);

        dense_model seq_model(stages, m);
        dense_stages<false> seq(seq_model);
        const layerpipe::timeline seq_t = layerpipe::run_sequential(s, seq);
        REQUIRE(same_weights(seq_model, expected));
        REQUIRE(check_timeline(s, seq_t) == "");

        dense_model thr_model(stages, m);
        dense_stages<true> thr(thr_model);
        layerpipe::thread_context ctx;
        layerpipe::timeline thr_t;
        {
          watchdog guard(120);
          thr_t = ctx.run(s, thr);
        }
        REQUIRE(same_weights(thr_model, expected));
        REQUIRE(thr_t.num_devices == p);
        REQUIRE(check_timeline(s, thr_t) == "");
        for (int st = 0; st < stages; ++st) REQUIRE(thr.fused_calls[static_cast<std::size_t>(st)] == m);
        REQUIRE(layerpipe::chrome_trace(thr_t).find("\"ph\":\"X\"") != std::string::npos);
      }
    }
  }
}

TEST_CASE("split-backward, V-shaped and overlapped families train like sequential accumulation", "[exec]") {
  // Every one-replica family beyond the classics, by name (V = 2 where a family takes chunks),
  // at sizes each accepts: weights bitwise equal to sequential training, a timeline that respects
  // every dependency — including OVERLAP_F_B pairs (DualPipeV), whose span may only start once
  // both halves' inputs are there.
  for (const char* name : {"zb-h1", "zb-h2", "zb-v", "zb-auto", "zb1p", "v-half", "v-min", "dualpipe-v",
                           "pipe-offload"}) {
    int ran = 0;
    for (int p = 1; p <= 4; ++p) {
      for (int m : {2 * p, 2 * p + 3}) {
        layerpipe::schedule_params params;
        params.devices = p;
        params.micro_batches = m;
        params.chunks = layerpipe::find_family(name).uses_chunks ? 2 : 1;
        layerpipe::schedule compute_only;
        try {
          compute_only = layerpipe::make_schedule(name, params);
        } catch (const layerpipe::error&) {
          continue;  // a size the family does not take (each family must still run somewhere)
        }
        const layerpipe::schedule s = with_updates(compute_only);
        CAPTURE(name, p, m);
        const dense_model expected = reference_step(s.num_stages(), m);
        dense_model thr_model(s.num_stages(), m);
        dense_stages<false> thr(thr_model);
        layerpipe::timeline t;
        {
          watchdog guard(120);
          t = layerpipe::thread_context{}.run(s, thr);
        }
        REQUIRE(same_weights(thr_model, expected));
        REQUIRE(check_timeline(s, t) == "");
        ++ran;
      }
    }
    CAPTURE(name);
    REQUIRE(ran >= 4);
  }
}

TEST_CASE("a compute_only schedule is lowered by the executor", "[exec]") {
  const layerpipe::schedule s = layerpipe::one_f_one_b(3, 5);
  dense_model model(3, 5);
  dense_stages<false> st(model);
  const layerpipe::thread_context ctx;
  const layerpipe::thread_executor ex = ctx.get_executor();
  REQUIRE(ex == ctx.get_executor());
  REQUIRE(layerpipe::sequential_executor{}.name() == "sequential");
  REQUIRE(ex.name() == "threads");
  const layerpipe::timeline t = ex.run(s, st);
  REQUIRE(check_timeline(layerpipe::lower(s), t) == "");
  for (int stage = 0; stage < 3; ++stage) st.update(stage);  // no U in the schedule: step by hand
  REQUIRE(same_weights(model, reference_step(3, 5)));
}

TEST_CASE("mailbox capacity is the schedule's in-flight bound", "[exec]") {
  // GPipe: device 0 may send all M activations before device 1 takes one.
  REQUIRE(layerpipe::detail::plan_mailboxes(layerpipe::lower(layerpipe::gpipe(2, 6))).capacity ==
          std::vector<std::size_t>{6, 6});
  // 1F1B: device 0 runs at most P forwards ahead of its backwards, whatever M is.
  const auto one = layerpipe::detail::plan_mailboxes(layerpipe::lower(layerpipe::one_f_one_b(2, 8))).capacity;
  REQUIRE(one.size() == 2);
  REQUIRE(one[0] <= 3);
  REQUIRE(one[1] <= 3);
  REQUIRE(one[0] >= 1);
  REQUIRE(one[1] >= 1);
}

namespace {
struct stage_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws stage_failure from forward (or backward) of one (stage, micro-batch).
struct failing_stages : dense_stages<false> {
  int bad_stage, bad_mb;
  bool in_backward;
  failing_stages(dense_model& m, int s, int mb, bool backward)
      : dense_stages<false>(m), bad_stage(s), bad_mb(mb), in_backward(backward) {}
  tensor forward(int stage, int mb, const tensor& in) {
    if (!in_backward && stage == bad_stage && mb == bad_mb) throw stage_failure("boom at " + std::to_string(stage));
    return dense_stages<false>::forward(stage, mb, in);
  }
  tensor backward_input(int stage, int mb, const tensor& g) {
    if (in_backward && stage == bad_stage && mb == bad_mb) throw stage_failure("boom at " + std::to_string(stage));
    return dense_stages<false>::backward_input(stage, mb, g);
  }
};
}  // namespace

TEST_CASE("a stage's exception stops every device and reaches the caller", "[exec]") {
  for (const auto& f : families) {
    const layerpipe::schedule s = f.make(4, 6);
    for (int stage = 0; stage < s.num_stages(); ++stage) {
      for (bool backward : {false, true}) {
        for (int mb : {0, 5}) {
          CAPTURE(f.name, stage, backward, mb);
          dense_model model(s.num_stages(), 6);
          failing_stages st(model, stage, mb, backward);
          const std::string expected = "boom at " + std::to_string(stage);
          std::string what;
          {
            watchdog guard(120);
            try {
              layerpipe::thread_context{}.run(s, st);
            } catch (const stage_failure& e) {
              what = e.what();
            } catch (...) {
              what = "another exception";
            }
          }
          REQUIRE(what == expected);
          dense_model model2(s.num_stages(), 6);
          failing_stages seq(model2, stage, mb, backward);
          REQUIRE_THROWS_WITH(layerpipe::run_sequential(s, seq), expected);
        }
      }
    }
  }
}

TEST_CASE("executors reject a schedule for another number of stages", "[exec]") {
  dense_model model(3, 4);
  dense_stages<false> st(model);
  const layerpipe::schedule s = layerpipe::one_f_one_b(4, 4);
  REQUIRE_THROWS_WITH(layerpipe::thread_context{}.run(s, st),
                      Catch::Contains("the stages have 3 stages but schedule") && Catch::Contains("has 4"));
  REQUIRE_THROWS_WITH(layerpipe::run_sequential(s, st), Catch::Contains("the stages have 3 stages"));
}

TEST_CASE("executors reject invalid and unsupported schedules", "[exec]") {
  dense_model model(2, 2);
  dense_stages<false> st(model);
  layerpipe::schedule s = layerpipe::lower(layerpipe::one_f_one_b(2, 2));
  s.actions[1].erase(s.actions[1].begin());  // drop 1RECV_F0
  REQUIRE_THROWS_WITH(layerpipe::thread_context{}.run(s, st), Catch::Contains("invalid schedule"));
  layerpipe::schedule r = layerpipe::lower(layerpipe::one_f_one_b(2, 2));
  r.actions[0].push_back(layerpipe::make_action(layerpipe::action_kind::reduce_grad, 0));
  REQUIRE_THROWS_WITH(layerpipe::thread_context{}.run(r, st), Catch::Contains("REDUCE_GRAD is not supported"));
  REQUIRE_THROWS_WITH(layerpipe::run_sequential(r, st), Catch::Contains("REDUCE_GRAD is not supported"));
}
