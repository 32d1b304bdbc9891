// layerpipe/exec/sequential.hpp — the in-thread reference executor every backend is tested
// against, and the action semantics all executors share.
//
// `run_sequential(s, stages)` validates the schedule (a compute_only one is lowered first), then
// executes every action on the calling thread in the order of the in-order engine
// (detail::run_in_order), which respects every dependency. It records one span per action with
// measured start/end times (steady_clock, seconds since the run started) and returns the
// timeline. A stage's exception propagates unchanged.
//
//   my_stages st{...};                                    // satisfies layerpipe::pipeline_stages
//   layerpipe::timeline t = layerpipe::run_sequential(layerpipe::one_f_one_b(4, 8), st);
//
// What each action does (shared by every executor, see detail::execute):
//   F(s,m)   in = stages.input(m) at s = 0, else the activation from s−1; out = forward(s,m,in),
//            kept for s+1 (or, at the last stage, for loss_gradient at its backward);
//   B/I(s,m) g = loss_gradient(m, output) at the last stage, else the gradient from s+1;
//            the result of backward(s,m,g) (B) or backward_input(s,m,g) (I) is kept for s−1
//            (dropped at s = 0); with replicas (MPI executor) a replica's first and last stage
//            play the parts of stages 0 and S − 1;
//   W(s,m)   backward_weight(s,m);  U(s) update(s);  OVERLAP_F_B its forward half, then its
//            backward half;
//   SEND     hands the kept tensor to the receiving device; RECV posts the receive (a marker: the
//            compute that needs the data waits for it, docs/design-notes.md "RECV posts, compute
//            waits"); OFFLOAD/RELOAD are markers (a CPU executor keeps activations in host memory);
//   UNSHARD, RESHARD, REDUCE_GRAD (replicated or sharded stages) are rejected with an error.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/exec/stage.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe {

namespace detail {

/// Which tensor a key names: the input activation of a stage (stage S: the last stage's output,
/// waiting for the loss) or the output gradient of a stage.
enum class tensor_slot : std::uint8_t { activation, gradient };

struct tensor_key {
  tensor_slot slot = tensor_slot::activation;
  int stage = 0;
  int micro_batch = 0;
  friend auto operator<=>(const tensor_key&, const tensor_key&) = default;
};

/// The lowered, validated schedule an executor runs; checks what every executor checks first.
/// `replicated` (the MPI executor, which holds each copy of a stage on its own rank) accepts
/// replicated placements and REDUCE_GRAD; the other executors keep the one-copy rule.
template <class Stages>
schedule prepare_run(const schedule& s, const Stages& stages, bool replicated = false) {
  if (!replicated && s.placement.num_replicas() != 1)
    fail("executor: schedule '", s.name, "' places ", s.placement.num_replicas(),
         " replicas of the model (a bidirectional schedule); the sequential and threads executors run one "
         "copy of each stage (rule: one replica per model stage)");
  schedule lowered = s.level == schedule_level::compute_only ? lower(s) : s;
  validate(lowered);
  if constexpr (has_stage_count<Stages>) {
    const int n = static_cast<int>(stages.num_stages());
    if (n != lowered.num_stages())
      fail("executor: the stages have ", n, " stages but schedule '", lowered.name, "' has ",
           lowered.num_stages(), " (rule: the schedule's placement covers exactly the user's stages)");
  }
  if constexpr (has_stage_devices<Stages>) {
    for (int st = 0; st < lowered.num_stages(); ++st) {
      const int wanted = static_cast<int>(stages.device_of(st));
      if (wanted != lowered.placement.device_of(st))
        fail("executor: stage ", st, " was built for device ", wanted, " but schedule '", lowered.name,
             "' places it on device ", lowered.placement.device_of(st),
             " (rule: the schedule's placement matches the stages' devices)");
    }
  }
  for (std::size_t d = 0; d < lowered.actions.size(); ++d)
    for (std::size_t i = 0; i < lowered.actions[d].size(); ++i) {
      const action_kind k = lowered.actions[d][i].kind;
      if (k == action_kind::unshard || k == action_kind::reshard || (!replicated && k == action_kind::reduce_grad))
        schedule_fail(lowered, static_cast<int>(d), i,
                      std::string(token(k)) +
                          " is not supported by layerpipe's executors (rule: one unsharded copy of "
                          "each stage's weights)");
    }
  return lowered;
}

using run_clock = std::chrono::steady_clock;

inline double seconds_since(run_clock::time_point t0) {
  return std::chrono::duration<double>(run_clock::now() - t0).count();
}

/// Runs one action against the stages. `io` moves tensors: io.take(key, from_other_device)
/// (blocks for a remote one in a threaded executor), io.keep(key, tensor), io.send(key, device).
/// An OVERLAP_F_B pair may start only once both halves' inputs are there (the engine's rule, so
/// measured and simulated spans agree): a threaded or distributed executor calls this before
/// execute() to receive the backward half's remote gradient first (`io.prefetch(key)` moves it
/// out of the mailbox; the following take() finds it).
template <class Io>
void prefetch_pair_gradient(const schedule& s, const action& a, Io& io) {
  if (a.kind != action_kind::overlap_f_b) return;
  const action b = a.second_half();
  if (!s.placement.is_last_in_replica(b.stage) && !s.placement.same_device(b.stage + 1, b.stage))
    io.prefetch({tensor_slot::gradient, b.stage, b.micro_batch});
}

/// Returns the span's (start, end): start once the inputs are in hand, end after the call (a SEND
/// ends when it hands the tensor over, so its receiver never starts before it ends).
template <class Stages, class Io>
std::pair<double, double> execute(const schedule& s, Stages& stages, const action& a, Io& io,
                                  run_clock::time_point t0) {
  using tensor = typename Stages::tensor;
  // A micro-batch enters at the first stage of its replica and turns at its last (stage 0 and
  // S − 1 with one replica).
  auto first = [&](int st) { return s.placement.is_first_in_replica(st); };
  auto last = [&](int st) { return s.placement.is_last_in_replica(st); };
  auto remote = [&](int a_stage, int b_stage) { return !s.placement.same_device(a_stage, b_stage); };
  double start = -1.0;
  double finish = -1.0;  // set by a SEND: its span must end before the receiver can start
  auto begin = [&] {
    if (start < 0.0) start = seconds_since(t0);
  };
  auto forward = [&](int st, int mb) {
    if (first(st)) {
      begin();
      tensor in = stages.input(mb);
      io.keep({tensor_slot::activation, st + 1, mb}, stages.forward(st, mb, in));
    } else {
      tensor in = io.take({tensor_slot::activation, st, mb}, remote(st - 1, st));
      begin();
      io.keep({tensor_slot::activation, st + 1, mb}, stages.forward(st, mb, in));
    }
  };
  auto backward = [&](action_kind k, int st, int mb) {
    tensor grad = [&]() -> tensor {
      if (last(st)) {
        tensor out = io.take({tensor_slot::activation, st + 1, mb}, false);
        begin();
        return stages.loss_gradient(mb, out);
      }
      tensor g = io.take({tensor_slot::gradient, st, mb}, remote(st + 1, st));
      begin();
      return g;
    }();
    tensor result = [&]() -> tensor {
      if (k == action_kind::backward_input) return stages.backward_input(st, mb, grad);
      if constexpr (has_fused_backward<Stages>) {
        return stages.backward(st, mb, grad);
      } else {
        tensor r = stages.backward_input(st, mb, grad);
        stages.backward_weight(st, mb);
        return r;
      }
    }();
    if (!first(st)) io.keep({tensor_slot::gradient, st - 1, mb}, std::move(result));
  };
  auto plain = [&](action_kind k, int st, int mb) {
    switch (k) {
      case action_kind::forward: forward(st, mb); break;
      case action_kind::backward:
      case action_kind::backward_input: backward(k, st, mb); break;
      case action_kind::backward_weight: begin(); stages.backward_weight(st, mb); break;
      case action_kind::update: begin(); stages.update(st); break;
      case action_kind::send_f:
        begin();
        finish = seconds_since(t0);
        io.send({tensor_slot::activation, st + 1, mb}, s.placement.device_of(st + 1));
        break;
      case action_kind::send_b:
        begin();
        finish = seconds_since(t0);
        io.send({tensor_slot::gradient, st - 1, mb}, s.placement.device_of(st - 1));
        break;
      default: begin(); break;  // RECV, OFFLOAD, RELOAD: markers (see the top of this header)
    }
  };
  for_each_half(a, plain);
  begin();
  return {start, finish >= 0.0 ? finish : seconds_since(t0)};
}

/// Tensors of the sequential executor: one map, every transfer already in place.
template <class Tensor>
class sequential_io {
public:
  Tensor take(const tensor_key& key, bool) {
    auto it = items_.find(key);
    if (it == items_.end())
      fail("executor: tensor (stage ", key.stage, ", micro-batch ", key.micro_batch,
           ") taken before it was produced (internal: dependency order)");
    Tensor t = std::move(it->second);
    items_.erase(it);
    return t;
  }
  void keep(const tensor_key& key, Tensor t) { items_.insert_or_assign(key, std::move(t)); }
  void send(const tensor_key&, int) {}  // one address space, one thread: nothing to move

private:
  std::map<tensor_key, Tensor> items_;
};

}  // namespace detail

/// Executes `s` (lowered, or compute_only and then lowered here) on the calling thread in a
/// dependency-respecting order; returns the measured timeline. Throws layerpipe::error for an
/// invalid schedule or a stage count mismatch, and rethrows whatever a stage throws.
template <pipeline_stages Stages>
timeline run_sequential(const schedule& s, Stages& stages) {
  const schedule lowered = detail::prepare_run(s, stages);
  timeline out;
  out.num_devices = lowered.num_devices();
  out.spans.reserve(lowered.size());
  detail::sequential_io<typename Stages::tensor> io;
  const auto t0 = detail::run_clock::now();
  detail::run_in_order(
      lowered, [](const action&) { return 1.0; }, [](const detail::transfer_edge&) { return 0.0; },
      [&](int d, std::size_t step, const action& a, double, double) {
        auto [start, end] = detail::execute(lowered, stages, a, io, t0);
        out.spans.push_back(span{d, step, a, start, end});
      });
  return out;
}

/// The reference executor as a handle (STYLE §2.3 shape): copyable, comparable, named.
struct sequential_executor {
  template <pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) const {
    return run_sequential(s, stages);
  }
  static constexpr std::string_view name() noexcept { return "sequential"; }
  friend constexpr bool operator==(sequential_executor, sequential_executor) noexcept { return true; }
};

}  // namespace layerpipe
