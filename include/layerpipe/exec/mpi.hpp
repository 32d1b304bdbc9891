// layerpipe/exec/mpi.hpp — the MPI executor: one rank per pipeline device, the distributed
// engine for a job that outgrows one machine (component layerpipe::mpi, LAYERPIPE_HAS_MPI).
//
//   MPI_Init(&argc, &argv);                                   // the user initialises MPI
//   {
//     layerpipe::mpi_context ctx;                             // MPI_COMM_WORLD, one rank per device
//     my_stages st{...};                                      // every rank builds the same stages
//     layerpipe::timeline t = ctx.get_executor().run(layerpipe::one_f_one_b(4, 8), st);
//     if (ctx.pipeline_rank() == 0) layerpipe::write_chrome_trace(std::cout, t);
//   }                                                         // frees its communicators
//   MPI_Finalize();
//   // mpirun -np 4 ./train        (mpi_context(MPI_COMM_WORLD, 2) with -np 8: P = 4, dp = 2)
//
// Ranks. The context's communicator (MPI_COMM_WORLD by default) holds P·dp ranks; rank w is
// pipeline device w mod P of data-parallel replica ⌊w / P⌋, so consecutive ranks (usually one
// machine's slots) form one pipeline. Two communicators are split off: the pipeline one (P ranks,
// point-to-point traffic) and the data-parallel one (dp ranks holding the same device, gradient
// all-reduce). run() is collective over the whole communicator: every rank calls it with the
// same schedule and a Stages object of the same shape. MPI is called from the calling thread only.
//
// run(s, stages) checks like every executor (detail::prepare_run; replicated placements and
// REDUCE_GRAD are accepted here), then device r's rank runs device r's list in order with the
// semantics of detail::execute (exec/sequential.hpp); only the stages placed on r are called.
//   SEND    MPI_Isend of the tensor's bytes; the tensor is kept until the send completes, and
//           every send has completed when run returns.
//   RECV    a marker; the compute that needs the data receives it with MPI_Mprobe + MPI_Mrecv.
//           Why not an MPI_Irecv posted at RECV: the receiver does not know a tensor's size
//           before it arrives, and a matched probe gives the size and the message together with
//           no size handshake and no preallocated buffers; until then MPI holds the message
//           (eager) or leaves it at the sender (rendezvous), so memory stays bounded by the
//           schedule's own in-flight count. A blocked probe keeps MPI's progress engine running
//           for this rank's pending sends. An OVERLAP_F_B pair receives its backward half's
//           remote gradient before its forward half starts: the engine starts a pair once both
//           halves' inputs are there, and so does its measured span.
//   Tags    (kind·S + stage)·M + micro-batch, kind 0 = activation into a stage, 1 = gradient
//           into a stage, 2 = a replicated stage's gradient copy (micro-batch 0): unique per
//           (kind, stage, micro-batch) and at most 3·S·M − 1, checked against the communicator's
//           MPI_TAG_UB (queried on MPI_COMM_WORLD; a schedule needing more is an error naming both).
//   Tensors the stages' tensor must satisfy mpi_tensor (a contiguous range of trivially copyable
//           elements with resize(n), e.g. std::vector<double>); it travels as raw bytes between
//           ranks of one architecture.
//
// Gradients. A Stages type may expose each stage's accumulated gradient as one buffer,
// `std::span<float or double> gradient_buffer(int stage)` (concept has_gradient_buffer):
//   - data parallelism (dp > 1): each local stage's buffer is summed in place over the
//     data-parallel communicator (MPI_Allreduce) immediately before each U of that stage in the
//     device's list, the all-reduce counting in that U's span; a local stage with no U in the
//     list is reduced after the device's last action, before run returns, so the caller's own
//     optimizer step sees the sum. Every replica runs the same schedule, so the collectives match.
//   - replicated placements (Chimera, BitPipe, DualPipe: R copies of each model stage): once a
//     copy's last B or W in its device's list is done, its buffer is copied (a snapshot) and sent
//     to each other device that runs a REDUCE_GRAD of the same model stage; REDUCE_GRAD(s) then
//     writes copy 0 + copy 1 (+ …, in replica order) into s's buffer, so all copies end bitwise
//     equal. Sending at the last backward rather than at REDUCE_GRAD is what the schedule's
//     dependency model says (a REDUCE_GRAD waits for the other copies' backwards, not for their
//     REDUCE_GRADs) and avoids a deadlock where two devices run their reductions in crossed order.
// A schedule with REDUCE_GRAD, or dp > 1, needs has_gradient_buffer (a clear error otherwise).
//
// Timeline. Each rank times its actions from its clock read right after a barrier (steady
// clock, seconds, as detail::execute measures). The spans are gathered with MPI_Gatherv onto
// pipeline rank 0, whose run() returns the whole timeline (one span per action, in a dependency-
// respecting order); every other rank gets its own device's spans, in list order. Clocks of
// different machines are only roughly aligned by the barrier, so rank 0 shifts each device's
// spans by the smallest offset that puts every received message's consumer after its sender
// (detail::align_device_clocks, plus 1 ns); on one machine the shifts are at most the barrier's
// exit skew. With dp > 1, each replica's pipeline rank 0 gets that replica's timeline.
//
// Failure. A stage (or anything inside the run) that throws on one rank cannot be reported to
// the others, which may be blocked in receives that MPI cannot portably cancel; so that rank
// prints "layerpipe mpi: rank <w> failed at action <token> (device <r>, step <k>): <what>" to
// stderr and calls MPI_Abort(communicator, 1): the whole job ends with a non-zero status instead
// of hanging. Errors found before the first message (an invalid schedule, a size mismatch) are
// the same on every rank and thrown as layerpipe::error, as by the other executors.
//
// Internals: detail/mpi_transport.hpp (tags, sends, receives, abort; includes <mpi.h> without
// the deprecated MPI-2 C++ bindings) and detail/mpi_plan.hpp (replica plan, clock alignment).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/exec/detail/mpi_plan.hpp>
#include <layerpipe/exec/detail/mpi_transport.hpp>
#include <layerpipe/exec/executor.hpp>
#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/stage.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <algorithm>
#include <climits>
#include <concepts>
#include <cstddef>
#include <exception>
#include <map>
#include <ranges>
#include <span>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace layerpipe {

/// A tensor the MPI executor can move between ranks as raw bytes.
template <class T>
concept mpi_tensor = std::default_initializable<T> && std::movable<T> && std::ranges::contiguous_range<T> &&
                     std::ranges::sized_range<T> && std::is_trivially_copyable_v<std::ranges::range_value_t<T>> &&
                     requires(T& t, std::size_t n) { t.resize(n); };

namespace detail {
template <class T>
struct is_gradient_span : std::false_type {};
template <class T>
  requires(std::same_as<T, float> || std::same_as<T, double>)
struct is_gradient_span<std::span<T>> : std::true_type {};
}  // namespace detail

/// Stages that expose each stage's accumulated gradient as one float or double buffer, which
/// the MPI executor sums across data-parallel replicas and across a stage's replicated copies.
template <class S>
concept has_gradient_buffer = requires(S& s, int stage) { s.gradient_buffer(stage); } &&
                              detail::is_gradient_span<std::remove_cvref_t<decltype(std::declval<S&>().gradient_buffer(0))>>::value;

namespace detail {

/// The element type of a Stages type's gradient buffers (double when it has none).
template <class S>
struct gradient_value {
  using type = double;
};
template <has_gradient_buffer S>
struct gradient_value<S> {
  using type = typename decltype(std::declval<S&>().gradient_buffer(0))::element_type;
};

/// Checks what only the MPI executor needs: replicas and their reductions, gradient buffers.
template <class Stages>
void check_mpi_schedule(const schedule& s, int data_parallel) {
  bool reduces = false;
  for (std::size_t d = 0; d < s.actions.size(); ++d)
    for (std::size_t i = 0; i < s.actions[d].size(); ++i) {
      const action& a = s.actions[d][i];
      if (a.kind != action_kind::reduce_grad) continue;
      reduces = true;
      if (s.placement.num_replicas() < 2)
        schedule_fail(s, static_cast<int>(d), i,
                      "REDUCE_GRAD combines the copies of a replicated stage, but the placement holds one "
                      "replica (rule: REDUCE_GRAD only with replicated placements)");
    }
  if constexpr (!has_gradient_buffer<Stages>) {
    if (reduces)
      fail("mpi executor: schedule '", s.name,
           "' has REDUCE_GRAD actions but the stages have no gradient_buffer(stage) returning std::span<float> "
           "or std::span<double> (rule: a reduced gradient lives in a buffer the executor can sum)");
    if (data_parallel > 1)
      fail("mpi executor: the context has ", data_parallel,
           " data-parallel replicas but the stages have no gradient_buffer(stage) returning std::span<float> "
           "or std::span<double> (rule: a reduced gradient lives in a buffer the executor can sum)");
  }
}

}  // namespace detail

class mpi_context;

/// A cheap, copyable, comparable handle on an mpi_context (STYLE §2.3); it refers to the
/// context, so it must not outlive it. Handles compare equal when they share a context.
class mpi_executor {
public:
  explicit mpi_executor(const mpi_context& ctx) noexcept : ctx_(&ctx) {}
  template <pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) const;
  static constexpr std::string_view name() noexcept { return "mpi"; }
  friend bool operator==(const mpi_executor&, const mpi_executor&) = default;

private:
  const mpi_context* ctx_;
};

/// Owns the pipeline and data-parallel communicators split off the user's communicator (which
/// it neither initialises nor frees). Construction is collective over that communicator.
class mpi_context {
public:
  /// `comm`'s size must be P · `data_parallel`; throws layerpipe::error if MPI is not
  /// initialised (call MPI_Init first) or the size does not split.
  explicit mpi_context(MPI_Comm comm = MPI_COMM_WORLD, int data_parallel = 1) : comm_(comm) {
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (!initialised || finalised)
      detail::fail("mpi_context: MPI is ", finalised ? "already finalised" : "not initialised",
                   " (rule: call MPI_Init before creating an mpi_context and MPI_Finalize after destroying it)");
    if (data_parallel < 1)
      detail::fail("mpi_context: the data-parallel degree must be >= 1, got ", data_parallel);
    int size = 0;
    detail::mpi_check(MPI_Comm_rank(comm, &world_rank_), "MPI_Comm_rank");
    detail::mpi_check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
    if (size % data_parallel != 0)
      detail::fail("mpi_context: ", size, " ranks do not split into ", data_parallel,
                   " data-parallel replicas (rule: communicator size = P x data-parallel degree)");
    const int p = size / data_parallel;
    detail::mpi_check(MPI_Comm_split(comm, world_rank_ / p, world_rank_, &pipeline_), "MPI_Comm_split");
    detail::mpi_check(MPI_Comm_split(comm, world_rank_ % p, world_rank_, &data_parallel_), "MPI_Comm_split");
    MPI_Comm_rank(pipeline_, &pipeline_rank_);
    MPI_Comm_size(pipeline_, &pipeline_size_);
    MPI_Comm_rank(data_parallel_, &data_parallel_rank_);
    MPI_Comm_size(data_parallel_, &data_parallel_size_);
  }
  mpi_context(const mpi_context&) = delete;  // executors point at it; communicators are owned
  mpi_context& operator=(const mpi_context&) = delete;
  ~mpi_context() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (finalised) return;  // too late to free; MPI_Finalize released them
    MPI_Comm_free(&pipeline_);
    MPI_Comm_free(&data_parallel_);
  }

  mpi_executor get_executor() const noexcept { return mpi_executor(*this); }
  static constexpr std::string_view name() noexcept { return "mpi"; }

  MPI_Comm communicator() const noexcept { return comm_; }
  MPI_Comm pipeline_communicator() const noexcept { return pipeline_; }
  MPI_Comm data_parallel_communicator() const noexcept { return data_parallel_; }
  int rank() const noexcept { return world_rank_; }                      ///< in the user's communicator
  int pipeline_rank() const noexcept { return pipeline_rank_; }          ///< = the device this rank runs
  int pipeline_size() const noexcept { return pipeline_size_; }          ///< P
  int data_parallel_rank() const noexcept { return data_parallel_rank_; }  ///< the replica this rank is in
  int data_parallel_size() const noexcept { return data_parallel_size_; }  ///< dp

  /// Runs `s` against `stages` on this rank's device (see the top of this header). Collective.
  /// Returns the whole timeline on pipeline rank 0, this device's spans elsewhere.
  template <pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) const {
    using tensor = typename Stages::tensor;
    static_assert(mpi_tensor<tensor>,
                  "layerpipe::mpi_context: the stages' tensor type must be a contiguous range of trivially "
                  "copyable elements with resize(n), e.g. std::vector<double> (concept layerpipe::mpi_tensor): "
                  "it travels between ranks as raw bytes");
    const schedule lowered = detail::prepare_run(s, stages, true);
    if (lowered.num_devices() != pipeline_size_)
      detail::fail("mpi executor: the pipeline communicator has ", pipeline_size_, " ranks but schedule '",
                   lowered.name, "' has ", lowered.num_devices(), " devices (rule: one rank per pipeline device)");
    detail::check_mpi_schedule<Stages>(lowered, data_parallel_size_);
    const detail::mpi_tags tags = detail::plan_mpi_tags(lowered, detail::mpi_tag_ub());
    const int me = pipeline_rank_;
    const auto& list = lowered.actions[static_cast<std::size_t>(me)];
    const detail::replica_plan replicas = detail::plan_replicas(lowered, me);

    detail::mpi_mailer mail(pipeline_);
    detail::mpi_io<tensor> io(mail, lowered, tags);
    std::vector<double> times(2 * list.size(), 0.0);  // start, end per step
    detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier");
    const auto t0 = detail::run_clock::now();
    std::size_t step = 0;
    try {
      gradient_copies<Stages> copies;
      copies.complete(stages, replicas, 0, mail, tags);
      for (; step < list.size(); ++step) {
        const action& a = list[step];
        double start = 0.0, end = 0.0;
        if (a.kind == action_kind::reduce_grad) {
          if constexpr (has_gradient_buffer<Stages>) {
            copies.gather(lowered, a.stage, me, mail, tags);
            start = detail::seconds_since(t0);
            copies.reduce(lowered, stages, a.stage);
            end = detail::seconds_since(t0);
          }
        } else {
          double before = -1.0;
          if (a.kind == action_kind::update && data_parallel_size_ > 1) {
            before = detail::seconds_since(t0);
            all_reduce(stages, a.stage);
          }
          detail::prefetch_pair_gradient(lowered, a, io);  // a pair waits for both halves' inputs
          std::tie(start, end) = detail::execute(lowered, stages, a, io, t0);
          if (before >= 0.0) start = before;
        }
        times[2 * step] = start;
        times[2 * step + 1] = end;
        copies.complete(stages, replicas, step + 1, mail, tags);
        mail.reap();
      }
      if (data_parallel_size_ > 1) {
        for (int st : lowered.placement.stages_on(me)) {
          const bool updated = std::any_of(list.begin(), list.end(), [&](const action& a) {
            return a.kind == action_kind::update && a.stage == st;
          });
          if (!updated) all_reduce(stages, st);
        }
      }
      mail.finish();
    } catch (const std::exception& e) {
      const std::size_t at = std::min(step, list.empty() ? 0 : list.size() - 1);
      detail::mpi_abort_run(comm_, world_rank_, me, at, list.empty() ? action{} : list[at], e.what());
    } catch (...) {
      const std::size_t at = std::min(step, list.empty() ? 0 : list.size() - 1);
      detail::mpi_abort_run(comm_, world_rank_, me, at, list.empty() ? action{} : list[at], "unknown exception");
    }
    return gather(lowered, times);
  }

private:
  template <class Stages>
  void all_reduce(Stages& stages, int stage) const {
    if constexpr (has_gradient_buffer<Stages>) {
      auto buffer = stages.gradient_buffer(stage);
      using value = std::remove_cv_t<typename decltype(buffer)::element_type>;
      if (buffer.size() > static_cast<std::size_t>(INT_MAX))
        detail::fail("mpi executor: the gradient of stage ", stage, " has ", buffer.size(),
                     " elements, more than one MPI_Allreduce can take (", INT_MAX, ")");
      detail::mpi_check(MPI_Allreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(buffer.size()),
                                      detail::mpi_type_of<value>(), MPI_SUM, data_parallel_),
                        "MPI_Allreduce");
    }
  }

  /// Snapshots of replicated stages' gradients: this device's copies and those received.
  template <class Stages>
  struct gradient_copies {
    using value = typename detail::gradient_value<Stages>::type;
    std::map<int, std::vector<value>> copy;  // stage -> its gradient once complete

    void complete(Stages& stages, const detail::replica_plan& plan, std::size_t after, detail::mpi_mailer& mail,
                  const detail::mpi_tags& tags) {
      if constexpr (has_gradient_buffer<Stages>) {
        if (!plan.any) return;
        for (int st : plan.complete_after[after]) {
          auto buffer = stages.gradient_buffer(st);
          std::vector<value> snapshot(buffer.begin(), buffer.end());
          auto to = plan.send_to.find(st);
          if (to != plan.send_to.end())
            for (int d : to->second) mail.post(d, tags.gradient_copy(st), snapshot);
          copy[st] = std::move(snapshot);
        }
      } else {
        (void)stages, (void)plan, (void)after, (void)mail, (void)tags;
      }
    }
    void gather(const schedule& s, int stage, int me, detail::mpi_mailer& mail, const detail::mpi_tags& tags) {
      const placement& p = s.placement;
      for (int r = 0; r < p.num_replicas(); ++r) {
        const int other = p.stage_in_replica(r, p.model_stage_of(stage));
        if (copy.count(other) == 0 && p.device_of(other) != me)
          copy[other] = mail.receive<std::vector<value>>(p.device_of(other), tags.gradient_copy(other));
      }
    }
    void reduce(const schedule& s, Stages& stages, int stage) {
      if constexpr (has_gradient_buffer<Stages>) {
        const placement& p = s.placement;
        auto buffer = stages.gradient_buffer(stage);
        std::vector<value> sum(buffer.size(), value{});
        for (int r = 0; r < p.num_replicas(); ++r) {
          const int other = p.stage_in_replica(r, p.model_stage_of(stage));
          const std::vector<value>& c = copy.at(other);
          if (c.size() != buffer.size())
            detail::fail("mpi executor: REDUCE_GRAD of stage ", stage, ": its gradient has ", buffer.size(),
                         " elements but copy stage ", other, "'s has ", c.size(),
                         " (rule: the copies of a stage have the same shape)");
          for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = r == 0 ? c[i] : sum[i] + c[i];
        }
        std::copy(sum.begin(), sum.end(), buffer.begin());
      } else {
        (void)s, (void)stages, (void)stage;
      }
    }
  };

  /// Spans of every device onto pipeline rank 0 (Gatherv of (start, end) pairs in list order).
  timeline gather(const schedule& s, const std::vector<double>& times) const {
    const std::size_t devices = static_cast<std::size_t>(s.num_devices());
    const int me = pipeline_rank_;
    std::vector<int> counts(devices), offsets(devices);
    long long total = 0;
    for (std::size_t d = 0; d < devices; ++d) {
      const long long n = 2LL * static_cast<long long>(s.actions[d].size());
      if (total + n > INT_MAX)
        detail::fail("mpi executor: schedule '", s.name, "' has too many actions to gather (", total + n,
                     " values, at most ", INT_MAX, ")");
      counts[d] = static_cast<int>(n);
      offsets[d] = static_cast<int>(total);
      total += n;
    }
    std::vector<double> all(me == 0 ? static_cast<std::size_t>(total) : 0u);
    detail::mpi_check(MPI_Gatherv(times.data(), static_cast<int>(times.size()), MPI_DOUBLE, all.data(),
                                  counts.data(), offsets.data(), MPI_DOUBLE, 0, pipeline_),
                      "MPI_Gatherv");
    timeline out;
    out.num_devices = s.num_devices();
    auto make = [&](const std::vector<double>& from, std::size_t base, std::size_t d) {
      std::vector<span> v;
      v.reserve(s.actions[d].size());
      for (std::size_t i = 0; i < s.actions[d].size(); ++i)
        v.push_back(span{static_cast<int>(d), i, s.actions[d][i], from[base + 2 * i], from[base + 2 * i + 1]});
      return v;
    };
    if (me != 0) {
      out.spans = make(times, 0, static_cast<std::size_t>(me));
      return out;
    }
    std::vector<std::vector<span>> by_device(devices);
    for (std::size_t d = 0; d < devices; ++d)
      by_device[d] = make(all, static_cast<std::size_t>(offsets[d]), d);
    detail::align_device_clocks(s, by_device);
    out.spans.reserve(s.size());
    detail::run_in_order(
        s, [](const action&) { return 1.0; }, [](const detail::transfer_edge&) { return 0.0; },
        [&](int d, std::size_t step, const action&, double, double) {
          out.spans.push_back(by_device[static_cast<std::size_t>(d)][step]);
        });
    return out;
  }

  MPI_Comm comm_;
  MPI_Comm pipeline_ = MPI_COMM_NULL;
  MPI_Comm data_parallel_ = MPI_COMM_NULL;
  int world_rank_ = 0;
  int pipeline_rank_ = 0;
  int pipeline_size_ = 0;
  int data_parallel_rank_ = 0;
  int data_parallel_size_ = 0;
};

template <pipeline_stages Stages>
timeline mpi_executor::run(const schedule& s, Stages& stages) const {
  return ctx_->run(s, stages);
}

static_assert(pipeline_executor<mpi_executor>);

}  // namespace layerpipe
