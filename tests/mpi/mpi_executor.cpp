// The MPI executor under `mpiexec -n 4`: the same weights as the threads executor for GPipe,
// 1F1B, interleaved 1F1B and asynchronous LayerPipe; a whole timeline on rank 0; the gradient
// all-reduce over data-parallel replicas (P = 2 x dp = 2); REDUCE_GRAD of Chimera, BitPipe and
// DualPipe (with OVERLAP_F_B pairs); the errors.
// Own main (MPI must be initialised around the tests): prints "N passed, N failed" on rank 0 and
// returns non-zero on every rank if any rank failed.
//
// With `--before-init` (one process, no MPI_Init) it prints the error of an mpi_context made too
// early. With `--fail-on-rank R` it instead runs 1F1B with a stage that throws on rank R: the job must
// abort with "layerpipe mpi: rank R failed at action ..." (tests/mpi/expect_abort.cmake).
#include "exec/executor_checks.hpp"

#include <layerpipe/exec/mpi.hpp>
#include <layerpipe/exec/threads.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/bitpipe.hpp>
#include <layerpipe/schedule/chimera.hpp>
#include <layerpipe/schedule/dualpipe.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

using layerpipe::test::check_timeline;
using layerpipe::test::with_updates;

namespace {

using vec = std::vector<double>;
constexpr std::size_t width = 3;

int passed = 0, failed = 0, world_rank = 0;

void check(bool ok, const std::string& what, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "rank %d: FAILED line %d: %s\n", world_rank, line, what.c_str());
  }
}
#define CHECK(cond, what) check((cond), std::string(what) + " [" #cond "]", __LINE__)

/// Runs `f`, expecting a layerpipe::error whose message contains `part`.
template <class F>
void check_error(F&& f, std::string_view part, int line) {
  std::string what = "no exception";
  try {
    f();
  } catch (const layerpipe::error& e) {
    what = e.what();
  }
  check(what.find(part) != std::string::npos, "expected an error with '" + std::string(part) + "', got: " + what, line);
}

/// y = W x + b per stage, MSE at a replica's last stage. Unlike tests/exec/threads.cpp's model,
/// each stage accumulates its weight gradient (dW then db) in one buffer in call order, which
/// the MPI executor can reduce; `model_stages` makes the copies of a replicated stage start
/// equal; `seed` gives each data-parallel replica its own data.
struct dense_net {
  struct layer {
    vec w, b, grad;
    std::map<int, vec> x, g;
  };
  std::vector<layer> layers;
  std::vector<vec> inputs, targets;
  double lr = 0.05;

  dense_net(int stages, int micro_batches, int model_stages, int seed = 0) : layers(static_cast<std::size_t>(stages)) {
    for (std::size_t s = 0; s < layers.size(); ++s) {
      const std::size_t m = s % static_cast<std::size_t>(model_stages);
      layers[s].w.resize(width * width);
      layers[s].b.resize(width);
      layers[s].grad.assign(width * width + width, 0.0);
      for (std::size_t i = 0; i < width * width; ++i) layers[s].w[i] = 0.1 * static_cast<double>((3 * m + 7 * i) % 11) - 0.45;
      for (std::size_t i = 0; i < width; ++i) layers[s].b[i] = 0.01 * static_cast<double>(m + i);
    }
    for (int k = 0; k < micro_batches; ++k) {
      vec in(width), t(width);
      for (std::size_t i = 0; i < width; ++i) {
        in[i] = 0.3 * static_cast<double>(k) - 0.2 * static_cast<double>(i) + 0.1 + 0.7 * seed;
        t[i] = 0.5 - 0.1 * static_cast<double>(k + static_cast<int>(i)) - 0.3 * seed;
      }
      inputs.push_back(in);
      targets.push_back(t);
    }
  }
};

struct net_stages {
  using tensor = vec;
  dense_net& net;
  int num_stages() const { return static_cast<int>(net.layers.size()); }
  tensor input(int mb) { return net.inputs[static_cast<std::size_t>(mb)]; }
  tensor forward(int stage, int mb, const tensor& in) {
    auto& l = net.layers[static_cast<std::size_t>(stage)];
    l.x[mb] = in;
    vec y(l.b);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) y[r] += l.w[r * width + c] * in[c];
    return y;
  }
  tensor loss_gradient(int mb, const tensor& y) {
    vec g(width);
    for (std::size_t i = 0; i < width; ++i) g[i] = y[i] - net.targets[static_cast<std::size_t>(mb)][i];
    return g;
  }
  tensor backward_input(int stage, int mb, const tensor& g) {
    auto& l = net.layers[static_cast<std::size_t>(stage)];
    l.g[mb] = g;
    vec out(width, 0.0);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) out[c] += l.w[r * width + c] * g[r];
    return out;
  }
  void backward_weight(int stage, int mb) {
    auto& l = net.layers[static_cast<std::size_t>(stage)];
    const vec& x = l.x.at(mb);
    const vec& g = l.g.at(mb);
    for (std::size_t r = 0; r < width; ++r)
      for (std::size_t c = 0; c < width; ++c) l.grad[r * width + c] += g[r] * x[c];
    for (std::size_t r = 0; r < width; ++r) l.grad[width * width + r] += g[r];
    l.x.erase(mb);
    l.g.erase(mb);
  }
  void update(int stage) {
    auto& l = net.layers[static_cast<std::size_t>(stage)];
    for (std::size_t i = 0; i < l.w.size(); ++i) l.w[i] -= net.lr * l.grad[i];
    for (std::size_t i = 0; i < l.b.size(); ++i) l.b[i] -= net.lr * l.grad[width * width + i];
    std::fill(l.grad.begin(), l.grad.end(), 0.0);
  }
};

/// The same stages with the gradient buffer the MPI executor reduces.
struct reducible_stages : net_stages {
  std::span<double> gradient_buffer(int stage) { return net.layers[static_cast<std::size_t>(stage)].grad; }
};

static_assert(layerpipe::pipeline_stages<reducible_stages>);
static_assert(layerpipe::has_gradient_buffer<reducible_stages>);
static_assert(!layerpipe::has_gradient_buffer<net_stages>);
static_assert(layerpipe::mpi_tensor<std::vector<double>>);
static_assert(layerpipe::mpi_tensor<std::vector<float>>);
static_assert(!layerpipe::mpi_tensor<std::list<double>>);       // not contiguous
static_assert(!layerpipe::mpi_tensor<std::vector<std::string>>);  // not trivially copyable
static_assert(layerpipe::executor_for<layerpipe::mpi_executor, reducible_stages>);
static_assert(layerpipe::executor_for<layerpipe::mpi_executor, net_stages>);

bool same_layer(const dense_net::layer& a, const dense_net::layer& b) {
  return a.w == b.w && a.b == b.b && a.grad == b.grad;  // bitwise
}

/// Rank 0 holds the whole timeline; the others their own device's spans in list order.
void check_gathered(const layerpipe::schedule& lowered, const layerpipe::timeline& t, int me, const char* name) {
  CHECK(t.num_devices == lowered.num_devices(), name);
  if (me == 0) {
    const std::string bad = check_timeline(lowered, t);
    CHECK(bad.empty(), std::string(name) + ": timeline " + bad);
    return;
  }
  const auto& list = lowered.actions[static_cast<std::size_t>(me)];
  bool ok = t.spans.size() == list.size();
  for (std::size_t i = 0; ok && i < list.size(); ++i)
    ok = t.spans[i].device == me && t.spans[i].step == i && t.spans[i].what == list[i] && t.spans[i].start <= t.spans[i].end;
  CHECK(ok, std::string(name) + ": own spans on rank " + std::to_string(me));
}

void families(const layerpipe::mpi_context& ctx) {
  struct family {
    const char* name;
    layerpipe::schedule s;
  };
  const int p = ctx.pipeline_size();
  const family all[] = {
      {"GPipe", with_updates(layerpipe::gpipe(p, 8))},
      {"1F1B", with_updates(layerpipe::one_f_one_b(p, 8))},
      {"Interleaved1F1B", with_updates(layerpipe::interleaved_1f1b(p, 8, 2))},
      {"LayerPipe-async", layerpipe::lower(layerpipe::layerpipe_async(p, 8))},  // U after every B
  };
  const int me = ctx.pipeline_rank();
  for (const auto& f : all) {
    const int stages = f.s.num_stages();
    dense_net mine(stages, 8, stages), ref(stages, 8, stages);
    net_stages st{mine}, rs{ref};
    const layerpipe::timeline t = ctx.get_executor().run(f.s, st);
    layerpipe::thread_context{}.run(f.s, rs);  // the reference, run whole on every rank
    bool same = true;
    for (int s : f.s.placement.stages_on(me))
      same = same && same_layer(mine.layers[static_cast<std::size_t>(s)], ref.layers[static_cast<std::size_t>(s)]);
    CHECK(same, std::string(f.name) + ": weights equal the threads executor's bitwise");
    check_gathered(f.s, t, me, f.name);
  }
  // A compute_only schedule is lowered by the executor, as by the others.
  dense_net mine(p, 4, p), ref(p, 4, p);
  net_stages st{mine}, rs{ref};
  const layerpipe::timeline t = ctx.get_executor().run(layerpipe::one_f_one_b(p, 4), st);
  layerpipe::thread_context{}.run(layerpipe::one_f_one_b(p, 4), rs);
  const auto s = static_cast<std::size_t>(me);
  CHECK(same_layer(mine.layers[s], ref.layers[s]), "compute_only 1F1B: same gradients as threads");
  check_gathered(layerpipe::lower(layerpipe::one_f_one_b(p, 4)), t, me, "compute_only 1F1B");
}

/// P = 2 x dp = 2: each replica trains on its own data; the gradient all-reduce makes both hold
/// the sum, before each U (with updates) or at the end of the run (without).
void data_parallel() {
  const layerpipe::mpi_context ctx(MPI_COMM_WORLD, 2);
  CHECK(ctx.pipeline_size() == 2 && ctx.data_parallel_size() == 2, "P x dp split");
  CHECK(ctx.pipeline_rank() == ctx.rank() % 2 && ctx.data_parallel_rank() == ctx.rank() / 2, "rank layout");
  const int me = ctx.pipeline_rank();
  const auto s = static_cast<std::size_t>(me);
  for (bool updates : {false, true}) {
    const layerpipe::schedule plain = layerpipe::lower(layerpipe::one_f_one_b(2, 4));
    const layerpipe::schedule sched = updates ? with_updates(layerpipe::one_f_one_b(2, 4)) : plain;
    dense_net mine(2, 4, 2, ctx.data_parallel_rank());
    reducible_stages st{{mine}};
    const layerpipe::timeline t = ctx.get_executor().run(sched, st);
    // Reference: each replica's gradients computed alone, summed, then (with updates) one step.
    dense_net r0(2, 4, 2, 0), r1(2, 4, 2, 1);
    net_stages s0{r0}, s1{r1};
    layerpipe::thread_context{}.run(plain, s0);
    layerpipe::thread_context{}.run(plain, s1);
    for (std::size_t i = 0; i < r0.layers[s].grad.size(); ++i) r0.layers[s].grad[i] += r1.layers[s].grad[i];
    if (updates) s0.update(me);
    CHECK(same_layer(mine.layers[s], r0.layers[s]),
          std::string("dp = 2 ") + (updates ? "with U: weights" : "without U: gradients") + " from the summed gradient");
    check_gathered(sched, t, me, "dp = 2");
  }
  dense_net plain_net(2, 4, 2);
  net_stages no_buffer{plain_net};
  check_error([&] { ctx.get_executor().run(layerpipe::one_f_one_b(2, 4), no_buffer); },
              "2 data-parallel replicas but the stages have no gradient_buffer(stage)", __LINE__);
}

/// Replicated placements (Chimera, P = 4, M = 4; BitPipe and DualPipe): after REDUCE_GRAD both
/// copies of each model stage hold copy 0's gradient + copy 1's, each accumulated in the order
/// its device runs its weight-gradient passes, bitwise.
void replicated(const layerpipe::mpi_context& ctx, const layerpipe::schedule& compute_only) {
  using layerpipe::action_kind;
  const layerpipe::schedule s = layerpipe::lower(compute_only);
  const layerpipe::placement& p = s.placement;
  const int stages = s.num_stages(), model = p.model_stages(), mbs = s.micro_batches;
  const std::string name = s.name;
  const int me = ctx.pipeline_rank();
  dense_net mine(stages, mbs, model);
  reducible_stages st{{mine}};
  const layerpipe::timeline t = ctx.get_executor().run(s, st);
  // Reference on every rank: each copy's gradient by plain training, added in the order of the
  // copy's B and W passes on its device.
  dense_net ref(stages, mbs, model);
  net_stages rs{ref};
  for (int copy = 0; copy < stages; ++copy) {
    std::vector<int> order;
    for (const layerpipe::action& a : s.actions[static_cast<std::size_t>(p.device_of(copy))])
      layerpipe::detail::for_each_half(a, [&](action_kind k, int stage, int mb) {
        if (stage == copy && (k == action_kind::backward || k == action_kind::backward_weight)) order.push_back(mb);
      });
    const int r = p.replica_of(copy);
    for (int mb : order) {
      vec x = rs.input(mb);
      for (int m = 0; m < model; ++m) x = rs.forward(p.stage_in_replica(r, m), mb, x);
      vec g = rs.loss_gradient(mb, x);
      for (int m = model - 1; m >= p.model_stage_of(copy); --m) g = rs.backward_input(p.stage_in_replica(r, m), mb, g);
      rs.backward_weight(copy, mb);
      for (auto& l : ref.layers) l.x.clear(), l.g.clear();
    }
  }
  bool same = true, nonzero = true;
  for (int copy : p.stages_on(me)) {
    const int m = p.model_stage_of(copy);
    vec sum = ref.layers[static_cast<std::size_t>(p.stage_in_replica(0, m))].grad;
    const vec& other = ref.layers[static_cast<std::size_t>(p.stage_in_replica(1, m))].grad;
    for (std::size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
    same = same && mine.layers[static_cast<std::size_t>(copy)].grad == sum;
    nonzero = nonzero && std::any_of(sum.begin(), sum.end(), [](double v) { return v != 0.0; });
  }
  CHECK(nonzero, name + ": the reference gradients are not trivially zero");
  CHECK(same, name + ": both copies hold copy 0 + copy 1 after REDUCE_GRAD (rank " + std::to_string(me) + ")");
  check_gathered(s, t, me, name.c_str());
  // Without gradient buffers REDUCE_GRAD cannot be run.
  dense_net plain_net(stages, mbs, model);
  net_stages no_buffer{plain_net};
  check_error([&] { ctx.get_executor().run(s, no_buffer); }, "has REDUCE_GRAD actions but the stages have no gradient_buffer",
              __LINE__);
}

void errors(const layerpipe::mpi_context& ctx) {
  const layerpipe::mpi_executor ex = ctx.get_executor();
  CHECK(ex == ctx.get_executor() && ex.name() == "mpi" && ctx.name() == "mpi", "handle: equal and named");
  dense_net net(2, 2, 2);
  reducible_stages st{{net}};
  check_error([&] { ex.run(layerpipe::one_f_one_b(2, 2), st); },
              "the pipeline communicator has 4 ranks but schedule '1F1B' has 2 devices", __LINE__);
  check_error([&] { layerpipe::mpi_context bad(MPI_COMM_WORLD, 3); }, "4 ranks do not split into 3 data-parallel replicas",
              __LINE__);
  check_error([&] { layerpipe::mpi_context bad(MPI_COMM_WORLD, 0); }, "data-parallel degree must be >= 1, got 0", __LINE__);
  // Tags: 3 x S x M of them must fit under MPI_TAG_UB.
  const layerpipe::schedule big = layerpipe::lower(layerpipe::one_f_one_b(4, 10));
  CHECK(layerpipe::detail::plan_mpi_tags(big, 119).micro_batches == 10, "120 tags fit under 119");
  check_error([&] { layerpipe::detail::plan_mpi_tags(big, 118); },
              "needs message tags up to 119 (3 x 4 stages x 10 micro-batches) but the communicator's MPI_TAG_UB is 118",
              __LINE__);
  {  // the executor's bound is MPI_COMM_WORLD's attribute (split communicators may lack it)
    void* value = nullptr;
    int found = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &value, &found);
    CHECK(found && layerpipe::detail::mpi_tag_ub() == *static_cast<int*>(value) && layerpipe::detail::mpi_tag_ub() >= 32767,
          "MPI_TAG_UB of MPI_COMM_WORLD");
  }
  // REDUCE_GRAD on a one-replica schedule.
  dense_net four(4, 2, 4);
  reducible_stages st4{{four}};
  layerpipe::schedule r = layerpipe::lower(layerpipe::one_f_one_b(4, 2));
  r.actions[0].push_back(layerpipe::make_action(layerpipe::action_kind::reduce_grad, 0));
  check_error([&] { ex.run(r, st4); }, "REDUCE_GRAD combines the copies of a replicated stage", __LINE__);
  // The threads executor keeps its one-replica rule.
  dense_net eight(8, 4, 4);
  net_stages st8{eight};
  check_error([&] { layerpipe::thread_context{}.run(layerpipe::chimera(4, 4), st8); }, "one replica per model stage",
              __LINE__);
}

/// A message that is not a whole number of the receiver's elements (3 bytes into doubles).
void mailer_errors() {
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  {
    layerpipe::detail::mpi_mailer mail(comm);
    if (world_rank == 0) mail.post(1, 7, std::vector<char>{'a', 'b', 'c'});
    if (world_rank == 1)
      check_error([&] { (void)mail.receive<std::vector<double>>(0, 7); },
                  "a message of 3 bytes from device 0 is not a whole number of 8-byte elements", __LINE__);
    mail.finish();
  }
  MPI_Comm_free(&comm);
}

/// Throws from the forward of (stage 2, micro-batch 1) when it runs on rank `bad`.
struct failing_stages : net_stages {
  int bad;
  tensor forward(int stage, int mb, const tensor& in) {
    if (stage == bad && mb == 1) throw std::runtime_error("boom in stage " + std::to_string(stage));
    return net_stages::forward(stage, mb, in);
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--before-init") {  // one process, no mpiexec
    std::string what = "no error";
    try {
      const layerpipe::mpi_context ctx;
    } catch (const layerpipe::error& e) {
      what = e.what();
    }
    std::printf("%s\n", what.c_str());
    return 0;
  }
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc == 3 && std::string_view(argv[1]) == "--fail-on-rank") {
    const layerpipe::mpi_context ctx;
    dense_net net(size, 4, size);
    failing_stages st{{net}, std::atoi(argv[2])};
    ctx.get_executor().run(layerpipe::one_f_one_b(size, 4), st);
    std::printf("rank %d: the run returned although a stage threw\n", world_rank);
    MPI_Finalize();
    return 0;
  }
  if (size != 4) {
    if (world_rank == 0) std::fprintf(stderr, "run me with mpiexec -n 4 (got %d ranks)\n", size);
    MPI_Finalize();
    return 2;
  }
  try {
    const layerpipe::mpi_context ctx;
    families(ctx);
    replicated(ctx, layerpipe::chimera(4, 4));
    replicated(ctx, layerpipe::bitpipe(4, 8));
    replicated(ctx, layerpipe::dualpipe(4, 8));
    errors(ctx);
    mailer_errors();
    data_parallel();
  } catch (const std::exception& e) {
    check(false, std::string("unexpected exception: ") + e.what(), __LINE__);
  }
  int counts[2] = {passed, failed}, total[2] = {0, 0};
  MPI_Allreduce(counts, total, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (world_rank == 0) std::printf("%d passed, %d failed\n", total[0], total[1]);
  MPI_Finalize();
  return total[1] == 0 ? 0 : 1;
}
