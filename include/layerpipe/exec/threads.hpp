// layerpipe/exec/threads.hpp — the CPU threads executor: one std::thread per device.
//
// `thread_context::run(s, stages)` validates the schedule (a compute_only one is lowered first;
// a Stages type with num_stages() must match the schedule's stage count), starts one thread per
// device, and each thread runs its device's list in order with the semantics of
// detail::execute (exec/sequential.hpp). Transfers: SEND moves the tensor into the receiving
// device's mailbox, keyed by (kind, stage, micro-batch); RECV only posts the receive; the compute
// that needs the data blocks (condition variable) until it arrives. Each action becomes one span
// with measured start/end (steady_clock, seconds since the run started) in the returned timeline,
// the simulator's type, so metrics and io/chrome_trace.hpp read it as they read a simulation.
//
//   layerpipe::thread_context ctx;
//   my_stages st{...};                                        // satisfies layerpipe::pipeline_stages
//   layerpipe::timeline t = ctx.run(layerpipe::interleaved_1f1b(4, 8, 2), st);
//   layerpipe::write_chrome_trace(std::cout, t);
//   auto ex = ctx.get_executor();                             // cheap copyable handle, same run()
//
// Bounded mailboxes. A message lives from its SEND to the start of the compute that consumes it.
// Its SEND can only have happened once the receiving device d has finished every action the SEND
// transitively depends on (the latest such position q on d's list, found with vector clocks over
// one in-order pass of the engine), and it is gone once d starts its consumer (position p). So
// while d has finished c actions, only messages with q < c <= p can be waiting, whatever the
// timing; the capacity of d's mailbox is the maximum over c of that count (detail::mailbox_plan).
// It is the schedule's own in-flight bound: M for GPipe's forward phase (device 0 may send every
// activation before device 1 takes one), about P for 1F1B. A put beyond it would be an internal
// error and throws instead of growing.
//
// Errors. A stage that throws stops the run: a shared stop flag is raised, every wait (all are
// condition-variable waits on a mailbox) wakes up and gives up, each thread stops before its next
// action, all threads are joined, and the first exception is rethrown to the caller.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/exec/executor.hpp>
#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/stage.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace layerpipe {

namespace detail {

/// What the threads executor derives from a lowered schedule before it starts: the mailbox
/// capacity per device (see the top of this header) and a dependency-respecting order of all
/// (device, step) pairs, used to list the measured spans the way the simulator lists its own.
struct mailbox_plan {
  std::vector<std::size_t> capacity;                   // per device
  std::vector<std::pair<int, std::size_t>> order;      // (device, step)
};

inline mailbox_plan plan_mailboxes(const schedule& s) {
  const std::size_t devices = static_cast<std::size_t>(s.num_devices());
  const std::size_t stages = static_cast<std::size_t>(s.num_stages());
  const std::size_t mbs = static_cast<std::size_t>(s.micro_batches);
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> first(devices + 1, 0);  // id of (d, 0)
  for (std::size_t d = 0; d < devices; ++d) first[d + 1] = first[d] + s.actions[d].size();
  // clock[id * devices + e]: last position on device e the action depends on (inclusive), -1 none.
  std::vector<long> clock(first[devices] * devices, -1);
  const std::size_t events = static_cast<std::size_t>(event::count);
  std::vector<std::size_t> producer(events * stages * mbs, none);
  auto at = [&](event e, int st, int mb) {
    return (static_cast<std::size_t>(e) * stages + static_cast<std::size_t>(st)) * mbs + static_cast<std::size_t>(mb);
  };
  mailbox_plan plan;
  plan.order.reserve(first[devices]);
  run_in_order(
      s, [](const action&) { return 1.0; }, [](const transfer_edge&) { return 0.0; },
      [&](int d, std::size_t step, const action& a, double, double) {
        const std::size_t du = static_cast<std::size_t>(d);
        const std::size_t id = first[du] + step;
        long* c = &clock[id * devices];
        if (step > 0) std::copy_n(&clock[(id - 1) * devices], devices, c);
        c[du] = static_cast<long>(step);
        for_each_half(a, [&](action_kind k, int st, int mb) {
          for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const transfer_edge*) {
            const std::size_t p = producer[at(e, rs, rm)];
            if (p == none) return;
            for (std::size_t x = 0; x < devices; ++x) c[x] = std::max(c[x], clock[p * devices + x]);
          });
        });
        for_each_half(a, [&](action_kind k, int st, int mb) {
          for_each_product(k, st, mb, [&](event e, int ps, int pm) { producer[at(e, ps, pm)] = id; });
        });
        plan.order.emplace_back(d, step);
      });
  // Live ranges [q + 1, p] of each message on its receiver's list, as a difference array.
  plan.capacity.assign(devices, 0);
  for (std::size_t d = 0; d < devices; ++d) {
    const auto& list = s.actions[d];
    std::vector<long> delta(list.size() + 2, 0);
    for (std::size_t p = 0; p < list.size(); ++p) {
      for_each_half(list[p], [&](action_kind k, int st, int mb) {
        event sent = event::count;
        int from = -1;
        if (k == action_kind::forward && st > 0 && !s.placement.same_device(st - 1, st)) {
          sent = event::sent_f;
          from = st - 1;
        } else if (is_input_backward(k) && st + 1 < s.num_stages() && !s.placement.same_device(st + 1, st)) {
          sent = event::sent_b;
          from = st + 1;
        }
        if (from < 0) return;
        const std::size_t sender = producer[at(sent, from, mb)];
        const long q = clock[sender * devices + d];
        delta[static_cast<std::size_t>(q + 1)] += 1;
        delta[p + 1] -= 1;
      });
    }
    long live = 0, most = 0;
    for (long x : delta) most = std::max(most, live += x);
    plan.capacity[d] = static_cast<std::size_t>(most);
  }
  return plan;
}

/// Thrown inside a worker whose wait was interrupted by the stop flag; never reaches the caller.
struct run_stopped {};

/// The receiving side of one device: a bounded map of tensors keyed by (kind, stage, mb).
template <class Tensor>
struct mailbox {
  std::mutex mutex;
  std::condition_variable arrived;
  std::map<tensor_key, Tensor> items;
  std::size_t capacity = 0;
};

/// State shared by the threads of one run.
template <class Tensor>
struct thread_run {
  std::vector<std::unique_ptr<mailbox<Tensor>>> boxes;
  std::atomic<bool> stop{false};
  std::mutex error_mutex;
  std::exception_ptr first_error;

  void fail_with(std::exception_ptr e) {
    {
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::move(e);
    }
    request_stop();
  }
  void request_stop() {
    stop.store(true);
    for (auto& box : boxes) {
      { std::lock_guard lock(box->mutex); }  // a waiter is either before its check or asleep
      box->arrived.notify_all();
    }
  }
};

/// Tensors of one device thread: its own kept tensors, its mailbox for remote ones.
template <class Tensor>
class thread_io {
public:
  thread_io(thread_run<Tensor>& run, int device) : run_(run), device_(device) {}

  Tensor take(const tensor_key& key, bool from_other_device) {
    if (!from_other_device) return local_.take(key, false);
    if (auto it = early_.find(key); it != early_.end()) {
      Tensor t = std::move(it->second);
      early_.erase(it);
      return t;
    }
    auto& box = *run_.boxes[static_cast<std::size_t>(device_)];
    std::unique_lock lock(box.mutex);
    box.arrived.wait(lock, [&] { return run_.stop.load() || box.items.count(key) != 0; });
    auto it = box.items.find(key);
    if (it == box.items.end()) throw run_stopped{};
    Tensor t = std::move(it->second);
    box.items.erase(it);
    return t;
  }
  void keep(const tensor_key& key, Tensor t) { local_.keep(key, std::move(t)); }
  /// Receives a remote tensor now, for a take() that follows (see detail::prefetch_pair_gradient).
  void prefetch(const tensor_key& key) { early_.insert_or_assign(key, take(key, true)); }
  void send(const tensor_key& key, int to) {
    Tensor t = local_.take(key, false);
    auto& box = *run_.boxes[static_cast<std::size_t>(to)];
    {
      std::lock_guard lock(box.mutex);
      if (box.items.size() >= box.capacity)
        fail("threads executor: mailbox of device ", to, " is over its bound of ", box.capacity,
             " messages (internal: the schedule's in-flight bound)");
      box.items.insert_or_assign(key, std::move(t));
    }
    box.arrived.notify_all();
  }

private:
  thread_run<Tensor>& run_;
  int device_;
  sequential_io<Tensor> local_;
  std::map<tensor_key, Tensor> early_;  // received ahead of their action by prefetch()
};

}  // namespace detail

class thread_context;

/// A cheap, copyable, comparable handle on a thread_context (STYLE §2.3); it refers to the
/// context, so it must not outlive it. Handles compare equal when they share a context.
class thread_executor {
public:
  explicit thread_executor(const thread_context& ctx) noexcept : ctx_(&ctx) {}
  template <pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) const;
  static constexpr std::string_view name() noexcept { return "threads"; }
  friend bool operator==(const thread_executor&, const thread_executor&) = default;

private:
  const thread_context* ctx_;
};

/// Owns nothing between runs: each run starts one thread per device and joins them all.
class thread_context {
public:
  thread_executor get_executor() const noexcept { return thread_executor(*this); }
  static constexpr std::string_view name() noexcept { return "threads"; }

  /// Runs `s` against `stages` (see the top of this header) and returns the measured timeline,
  /// its spans in a dependency-respecting order. Throws layerpipe::error for an invalid
  /// schedule or a stage count mismatch; rethrows the first exception a stage throws.
  template <pipeline_stages Stages>
  timeline run(const schedule& s, Stages& stages) const {
    using tensor = typename Stages::tensor;
    const schedule lowered = detail::prepare_run(s, stages);
    const detail::mailbox_plan plan = detail::plan_mailboxes(lowered);
    const std::size_t devices = static_cast<std::size_t>(lowered.num_devices());

    detail::thread_run<tensor> shared;
    for (std::size_t d = 0; d < devices; ++d) {
      shared.boxes.push_back(std::make_unique<detail::mailbox<tensor>>());
      shared.boxes.back()->capacity = plan.capacity[d];
    }
    std::vector<std::vector<span>> spans(devices);  // spans[d][step], written by d's thread only
    for (std::size_t d = 0; d < devices; ++d) spans[d].resize(lowered.actions[d].size());

    const auto t0 = detail::run_clock::now();
    auto work = [&](int d) {
      try {
        detail::thread_io<tensor> io(shared, d);
        const auto& list = lowered.actions[static_cast<std::size_t>(d)];
        for (std::size_t step = 0; step < list.size() && !shared.stop.load(); ++step) {
          detail::prefetch_pair_gradient(lowered, list[step], io);  // a pair waits for both inputs
          auto [start, end] = detail::execute(lowered, stages, list[step], io, t0);
          spans[static_cast<std::size_t>(d)][step] = span{d, step, list[step], start, end};
        }
      } catch (const detail::run_stopped&) {
        // another device failed first; its exception is the one reported
      } catch (...) {
        shared.fail_with(std::current_exception());
      }
    };
    std::vector<std::thread> threads;
    threads.reserve(devices);
    try {
      for (std::size_t d = 0; d < devices; ++d) threads.emplace_back(work, static_cast<int>(d));
    } catch (...) {  // could not start a thread: stop and join the others, then report
      shared.request_stop();
      for (auto& t : threads) t.join();
      throw;
    }
    for (auto& t : threads) t.join();
    if (shared.first_error) std::rethrow_exception(shared.first_error);

    timeline out;
    out.num_devices = lowered.num_devices();
    out.spans.reserve(plan.order.size());
    for (auto [d, step] : plan.order) out.spans.push_back(spans[static_cast<std::size_t>(d)][step]);
    return out;
  }
};

template <pipeline_stages Stages>
timeline thread_executor::run(const schedule& s, Stages& stages) const {
  return ctx_->run(s, stages);
}

static_assert(pipeline_executor<thread_executor>);

}  // namespace layerpipe
