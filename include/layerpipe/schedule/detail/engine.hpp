// layerpipe/schedule/detail/engine.hpp — the one in-order execution engine behind validation
// (unit durations) and timed simulation (cost-model durations).
//
// Each device runs its list strictly in order. An action runs once every event it requires
// (REFERENCE §6) has happened; its start is max(device free, requirements + latency), its end
// start + duration. A round over all devices without progress is a deadlock, reported with the
// waiting cycle. Every product (F done, gradient done, message sent, ...) may happen only once,
// and at the end every (stage, micro-batch) must have had its passes: so a schedule that runs
// to completion here has each (stage, micro-batch, kind) exactly once, in dependency order.
//
// OFFLOAD and RELOAD (host copies of one activation, REFERENCE §6) run on a second, per-device
// copy stream: a copy starts at the latest of its requirement, the end of the device's previous
// copy, and the end of the compute-stream action before it in the list (it is issued when the
// device reaches it); it does not occupy the compute stream. If a schedule offloads (s, m), the
// backward of (s, m) needs RELOAD(s, m) done, and the order F < OFFLOAD < RELOAD < backward on the
// stage's device is checked up front (offload_plan).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/detail/grid.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace layerpipe::detail {

/// Throws layerpipe::error naming schedule, device, step, action and rule, with the packed
/// grid printed around the offending cell.
[[noreturn]] inline void schedule_fail(const schedule& s, int device, std::size_t step,
                                       const std::string& rule) {
  std::ostringstream out;
  out << "layerpipe: invalid schedule";
  if (!s.name.empty()) out << " '" << s.name << "'";
  out << ": device " << device << ", step " << step;
  const auto d = static_cast<std::size_t>(device);
  if (d < s.actions.size() && step < s.actions[d].size()) out << ", action " << s.actions[d][step];
  out << ": " << rule << "\n" << render_grid(packed_cells(s), device, step);
  throw error(out.str());
}

/// Events an action may wait for. Each (event, stage, micro-batch) happens at most once.
enum class event : std::uint8_t {  // the three pass events first (see event_table)
  forward_done,      // F(s, m) finished
  input_grad_done,   // B(s, m) or I(s, m) finished: the gradient for stage s − 1 exists
  weight_grad_done,  // B(s, m) or W(s, m) finished
  sent_f,            // SEND_F(s, m) issued
  sent_b,            // SEND_B(s, m) issued
  posted_recv_f,     // RECV_F(s, m) posted on the receiving device
  posted_recv_b,     // RECV_B(s, m) posted
  offloaded,         // OFFLOAD(s, m) done
  reloaded,          // RELOAD(s, m) done
  count
};

inline std::string describe(event e, int stage, int mb) {
  auto st = std::to_string(stage), m = std::to_string(mb);
  switch (e) {
    case event::forward_done: return st + "F" + m;
    case event::input_grad_done: return st + "B" + m + " or " + st + "I" + m;
    case event::weight_grad_done: return st + "B" + m + " or " + st + "W" + m;
    case event::sent_f: return st + "SEND_F" + m;
    case event::sent_b: return st + "SEND_B" + m;
    case event::posted_recv_f: return st + "RECV_F" + m;
    case event::posted_recv_b: return st + "RECV_B" + m;
    case event::offloaded: return st + "OFFLOAD" + m;
    case event::reloaded: return st + "RELOAD" + m;
    case event::count: break;
  }
  return "?";
}

/// True if `a` (on its device) produces event e for (stage, mb).
inline bool produces(const action& a, event e, int stage, int mb) {
  auto plain = [&](action_kind k, int s, int m) {
    if (s != stage || m != mb) return false;
    switch (e) {
      case event::forward_done: return k == action_kind::forward;
      case event::input_grad_done: return is_input_backward(k);
      case event::weight_grad_done: return k == action_kind::backward || k == action_kind::backward_weight;
      case event::sent_f: return k == action_kind::send_f;
      case event::sent_b: return k == action_kind::send_b;
      case event::posted_recv_f: return k == action_kind::recv_f;
      case event::posted_recv_b: return k == action_kind::recv_b;
      case event::offloaded: return k == action_kind::offload;
      case event::reloaded: return k == action_kind::reload;
      case event::count: break;
    }
    return false;
  };
  if (a.kind == action_kind::overlap_f_b)
    return plain(action_kind::forward, a.stage, a.micro_batch) ||
           plain(a.second_kind, a.second_stage, a.second_micro_batch);
  return plain(a.kind, a.stage, a.micro_batch);
}

/// Dense table of event times, NaN while an event has not happened. Laid out micro-batch major,
/// then stage, then event: an action touches its own and the neighbouring stages of one
/// micro-batch, and devices advance through micro-batches roughly together, so the live part of
/// the table stays small enough for the cache even when S·M is large. A compute-only schedule
/// can only raise the three pass events, so its table keeps just those (a third of the memory).
class event_table {
public:
  /// `copies`: the schedule holds OFFLOAD/RELOAD, so a compute-only table needs every event too.
  event_table(int stages, int micro_batches, schedule_level level, bool copies = false)
      : stages_(static_cast<std::size_t>(stages)),
        events_(level == schedule_level::compute_only && !copies ? compute_events
                                                                 : static_cast<std::size_t>(event::count)),
        times_(events_ * stages_ * static_cast<std::size_t>(micro_batches),
               std::numeric_limits<double>::quiet_NaN()) {}
  double& at(event e, int stage, int mb) noexcept {
    return times_[(static_cast<std::size_t>(mb) * stages_ + static_cast<std::size_t>(stage)) * events_ +
                  static_cast<std::size_t>(e)];
  }
  bool happened(event e, int stage, int mb) noexcept { return !std::isnan(at(e, stage, mb)); }

private:
  // forward_done, input_grad_done, weight_grad_done come first in `event`.
  static constexpr std::size_t compute_events = 3;
  std::size_t stages_, events_;
  std::vector<double> times_;
};

/// OFFLOAD and RELOAD run on the device's copy stream, not its compute stream.
constexpr bool is_host_copy(action_kind k) noexcept { return k == action_kind::offload || k == action_kind::reload; }

inline void check_action_range(const schedule& s, int device, std::size_t step, const action& a);
template <class F>
void for_each_half(const action& a, F&& f);

/// Which (stage, micro-batch) activations a schedule sends to host memory. Built by one scan of
/// the lists (nothing is allocated for a schedule without OFFLOAD/RELOAD), which also checks the
/// order rule for each offloaded activation on its stage's device: F < OFFLOAD < RELOAD < backward
/// (B or I; W follows I anyway). Throws with the grid on a broken rule.
class offload_plan {
public:
  offload_plan() = default;
  explicit offload_plan(const schedule& s) {
    bool copies = false;
    for (const auto& list : s.actions)
      for (const action& a : list) copies = copies || is_host_copy(a.kind);
    if (!copies) return;
    mbs_ = static_cast<std::size_t>(s.micro_batches);
    const std::size_t cells = static_cast<std::size_t>(s.num_stages()) * mbs_;
    constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    std::vector<std::size_t> off(cells, none), rel(cells, none), back(cells, none);
    const int devices = std::min(s.num_devices(), static_cast<int>(s.actions.size()));
    for (int d = 0; d < devices; ++d) {
      const auto& list = s.actions[static_cast<std::size_t>(d)];
      for (std::size_t i = 0; i < list.size(); ++i) {
        const action& a = list[i];
        if (!is_host_copy(a.kind) && !is_input_backward(a.kind) && a.kind != action_kind::overlap_f_b) continue;
        check_action_range(s, d, i, a);  // indices are safe to use below
        for_each_half(a, [&](action_kind k, int st, int mb) {
          if (!is_host_copy(k) && !is_input_backward(k)) return;
          auto& slot = k == action_kind::offload ? off : k == action_kind::reload ? rel : back;
          auto& first = slot[cell(st, mb)];
          if (first == none) first = i;  // a duplicate is the engine's "runs twice"
        });
      }
    }
    marks_.assign(cells, 0);
    for (int st = 0; st < s.num_stages(); ++st)
      for (std::size_t m = 0; m < mbs_; ++m) {
        const std::size_t c = cell(st, static_cast<int>(m));
        if (off[c] == none && rel[c] == none) continue;
        const int d = s.placement.device_of(st);
        const std::string what = "(stage " + std::to_string(st) + ", micro-batch " + std::to_string(m) + ")";
        if (off[c] == none)
          schedule_fail(s, d, rel[c], "RELOAD of " + what + " without an OFFLOAD (rule: a RELOAD follows its OFFLOAD)");
        if (rel[c] == none)
          schedule_fail(s, d, off[c], "OFFLOAD of " + what +
                                          " without a RELOAD (rule: every OFFLOAD has its RELOAD before the backward)");
        if (rel[c] < off[c])
          schedule_fail(s, d, rel[c], "RELOAD of " + what + " before its OFFLOAD at step " + std::to_string(off[c]) +
                                          " (rule: a RELOAD follows its OFFLOAD)");
        if (back[c] != none && back[c] < rel[c])
          schedule_fail(s, d, back[c],
                        "the backward of " + what + " would run while its activation is on the host: " +
                            (back[c] < off[c] ? "its OFFLOAD comes later, at step " + std::to_string(off[c])
                                              : "its RELOAD comes later, at step " + std::to_string(rel[c])) +
                            " (rule: F, OFFLOAD, RELOAD, then the backward)");
        marks_[c] = 1;
      }
  }
  /// True if the schedule holds any OFFLOAD or RELOAD.
  bool any() const noexcept { return !marks_.empty(); }
  /// True if (stage, mb) goes to the host; indices must be in range.
  bool offloaded(int stage, int mb) const noexcept { return !marks_.empty() && marks_[cell(stage, mb)] != 0; }

private:
  std::size_t cell(int stage, int mb) const noexcept {
    return static_cast<std::size_t>(stage) * mbs_ + static_cast<std::size_t>(mb);
  }
  std::size_t mbs_ = 0;
  std::vector<unsigned char> marks_;  // empty: nothing offloaded
};

/// Where an action's input comes from when it crosses devices: the transfer kind and stages.
struct transfer_edge {
  action_kind kind = action_kind::send_f;  // send_f (activation) or send_b (gradient)
  int from_stage = -1;
  int to_stage = -1;
};

/// Calls need(event, stage, mb, edge*) for each requirement of one plain (non-compound) action.
/// `edge` is non-null when a cross-device latency applies to that requirement. With `offloads`,
/// the backward of an offloaded activation also needs its RELOAD.
template <class Need>
void for_each_requirement(const schedule& s, action_kind kind, int stage, int mb, Need&& need,
                          const offload_plan* offloads = nullptr) {
  const bool lowered = s.level == schedule_level::lowered;
  // A micro-batch enters at the first stage of its replica and turns at the last one.
  switch (kind) {
    case action_kind::forward:
      if (!s.placement.is_first_in_replica(stage)) {
        transfer_edge edge{action_kind::send_f, stage - 1, stage};
        if (s.placement.same_device(stage - 1, stage)) {
          need(event::forward_done, stage - 1, mb, nullptr);
        } else if (!lowered) {
          need(event::forward_done, stage - 1, mb, &edge);
        } else {
          need(event::posted_recv_f, stage, mb, nullptr);
          need(event::sent_f, stage - 1, mb, &edge);
        }
      }
      break;
    case action_kind::backward:
    case action_kind::backward_input:
      need(event::forward_done, stage, mb, nullptr);
      if (offloads && offloads->offloaded(stage, mb)) need(event::reloaded, stage, mb, nullptr);
      if (!s.placement.is_last_in_replica(stage)) {
        transfer_edge edge{action_kind::send_b, stage + 1, stage};
        if (s.placement.same_device(stage + 1, stage)) {
          need(event::input_grad_done, stage + 1, mb, nullptr);
        } else if (!lowered) {
          need(event::input_grad_done, stage + 1, mb, &edge);
        } else {
          need(event::posted_recv_b, stage, mb, nullptr);
          need(event::sent_b, stage + 1, mb, &edge);
        }
      }
      break;
    case action_kind::backward_weight: need(event::input_grad_done, stage, mb, nullptr); break;
    case action_kind::send_f: need(event::forward_done, stage, mb, nullptr); break;
    case action_kind::send_b: need(event::input_grad_done, stage, mb, nullptr); break;
    case action_kind::offload: need(event::forward_done, stage, mb, nullptr); break;
    case action_kind::reload: need(event::offloaded, stage, mb, nullptr); break;
    case action_kind::update:
      if (mb >= 0) {
        need(event::weight_grad_done, stage, mb, nullptr);
      } else {
        const int replica = s.placement.num_replicas() == 1 ? 0 : s.placement.replica_of(stage);
        for (int m = 0; m < s.micro_batches; ++m)
          if (s.replica_of_micro_batch(m) == replica) need(event::weight_grad_done, stage, m, nullptr);
      }
      break;
    case action_kind::reduce_grad:
      // A reduction across replicas (an all-reduce between the copies of one model stage): it
      // completes once every replica's copy has every weight gradient it will get, so each
      // copy's REDUCE_GRAD waits for the others' backwards too.
      if (mb >= 0) {
        need(event::weight_grad_done, stage, mb, nullptr);
      } else {
        const placement& p = s.placement;
        const int model_stage = p.num_replicas() == 1 ? stage : p.model_stage_of(stage);
        for (int m = 0; m < s.micro_batches; ++m)
          need(event::weight_grad_done, p.stage_in_replica(s.replica_of_micro_batch(m), model_stage), m, nullptr);
      }
      break;
    case action_kind::recv_f:
    case action_kind::recv_b:
    case action_kind::unshard:
    case action_kind::reshard:
    case action_kind::overlap_f_b: break;
  }
}

template <class Produce>
void for_each_product(action_kind kind, int stage, int mb, Produce&& produce) {
  switch (kind) {
    case action_kind::forward: produce(event::forward_done, stage, mb); break;
    case action_kind::backward:
      produce(event::input_grad_done, stage, mb);
      produce(event::weight_grad_done, stage, mb);
      break;
    case action_kind::backward_input: produce(event::input_grad_done, stage, mb); break;
    case action_kind::backward_weight: produce(event::weight_grad_done, stage, mb); break;
    case action_kind::send_f: produce(event::sent_f, stage, mb); break;
    case action_kind::send_b: produce(event::sent_b, stage, mb); break;
    case action_kind::recv_f: produce(event::posted_recv_f, stage, mb); break;
    case action_kind::recv_b: produce(event::posted_recv_b, stage, mb); break;
    case action_kind::offload: produce(event::offloaded, stage, mb); break;
    case action_kind::reload: produce(event::reloaded, stage, mb); break;
    default: break;
  }
}

/// Calls f(kind, stage, mb) for each plain half of an action (two for OVERLAP_F_B).
template <class F>
void for_each_half(const action& a, F&& f) {
  if (a.kind == action_kind::overlap_f_b) {
    f(action_kind::forward, a.stage, a.micro_batch);
    f(a.second_kind, a.second_stage, a.second_micro_batch);
  } else {
    f(a.kind, a.stage, a.micro_batch);
  }
}

/// Kinds a compute_only schedule may hold: the passes, U (the optimizer step asynchronous
/// schedules interleave with them), REDUCE_GRAD (the gradient reduction between replicas that
/// bidirectional schedules place in their bubbles) and OFFLOAD/RELOAD (host copies of one
/// device's own activations). None needs a point-to-point transfer, so lowering passes them
/// through.
constexpr bool allowed_in_compute_only(action_kind k) noexcept {
  return is_compute(k) || k == action_kind::update || k == action_kind::reduce_grad ||
         k == action_kind::offload || k == action_kind::reload;
}

/// A replicated placement needs one replica per micro-batch, each in range.
inline void check_routing(const schedule& s) {
  const int replicas = s.placement.num_replicas();
  if (s.micro_batch_replica.empty()) return;
  if (s.micro_batch_replica.size() != static_cast<std::size_t>(s.micro_batches))
    fail("schedule '", s.name, "' routes ", s.micro_batch_replica.size(), " micro-batches but has M = ",
         s.micro_batches, " (rule: micro_batch_replica has one entry per micro-batch, or none)");
  for (std::size_t m = 0; m < s.micro_batch_replica.size(); ++m)
    if (s.micro_batch_replica[m] < 0 || s.micro_batch_replica[m] >= replicas)
      fail("schedule '", s.name, "' routes micro-batch ", m, " through replica ", s.micro_batch_replica[m],
           " but its placement has ", replicas, " replica(s) (rule: 0 <= replica < R)");
}

/// Checks the indices of one action against the schedule; throws with the grid on failure.
inline void check_action_range(const schedule& s, int device, std::size_t step, const action& a) {
  for_each_half(a, [&](action_kind k, int stage, int mb) {
    if (stage < 0 || stage >= s.num_stages())
      schedule_fail(s, device, step,
                    "stage " + std::to_string(stage) + " out of range: the placement has " +
                        std::to_string(s.num_stages()) + " stages");
    if (s.placement.device_of(stage) != device)
      schedule_fail(s, device, step,
                    "stage " + std::to_string(stage) + " belongs to device " +
                        std::to_string(s.placement.device_of(stage)) + ", not device " +
                        std::to_string(device) + " (placement rule)");
    if (has_no_micro_batch(k) || ((k == action_kind::update || k == action_kind::reduce_grad) && mb < 0)) return;
    if (mb < 0 || mb >= s.micro_batches)
      schedule_fail(s, device, step,
                    "micro-batch " + std::to_string(mb) + " out of range: the schedule has M = " +
                        std::to_string(s.micro_batches));
    if (s.placement.num_replicas() > 1 && s.placement.replica_of(stage) != s.replica_of_micro_batch(mb))
      schedule_fail(s, device, step,
                    "micro-batch " + std::to_string(mb) + " travels through replica " +
                        std::to_string(s.replica_of_micro_batch(mb)) + ", but stage " + std::to_string(stage) +
                        " belongs to replica " + std::to_string(s.placement.replica_of(stage)) +
                        " (rule: a micro-batch stays in its replica's pipeline)");
    if (s.forward_only && k != action_kind::forward && !is_communication(k))
      schedule_fail(s, device, step,
                    std::string("a forward-only schedule holds only F and forward transfers, not ") +
                        std::string(token(k)));
    if (s.level == schedule_level::compute_only && !allowed_in_compute_only(k))
      schedule_fail(s, device, step,
                    std::string("a compute_only schedule holds only F, B, I, W, U, REDUCE_GRAD, OFFLOAD, RELOAD and OVERLAP_F_B, not ") +
                        std::string(token(k)) + " (lower it, or mark it lowered)");
  });
}

/// Finds and reports the waiting cycle (or the missing or misordered action) of a deadlock.
[[noreturn]] inline void report_deadlock(const schedule& s, const std::vector<std::size_t>& pos,
                                         event_table& table, const offload_plan* offloads = nullptr) {
  const int devices = s.num_devices();
  struct wait { event e; int stage; int mb; };
  std::vector<wait> waits(static_cast<std::size_t>(devices), wait{event::count, -1, -1});
  for (int d = 0; d < devices; ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    const auto p = pos[static_cast<std::size_t>(d)];
    if (p >= list.size()) continue;
    for_each_half(list[p], [&](action_kind k, int st, int mb) {
      for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const transfer_edge*) {
        if (waits[static_cast<std::size_t>(d)].e == event::count && !table.happened(e, rs, rm))
          waits[static_cast<std::size_t>(d)] = {e, rs, rm};
      }, offloads);
    });
  }
  // Where is the producer of each awaited event?
  auto locate = [&](int d) -> std::pair<int, std::size_t> {  // device, step (or -1)
    const auto& w = waits[static_cast<std::size_t>(d)];
    const int owner = s.placement.device_of(w.stage);
    const auto& list = s.actions[static_cast<std::size_t>(owner)];
    for (std::size_t i = pos[static_cast<std::size_t>(owner)]; i < list.size(); ++i)
      if (produces(list[i], w.e, w.stage, w.mb)) return {owner, i};
    return {-1, 0};
  };
  for (int d = 0; d < devices; ++d) {
    const auto& w = waits[static_cast<std::size_t>(d)];
    if (w.e == event::count) continue;
    auto [owner, step] = locate(d);
    const auto here = pos[static_cast<std::size_t>(d)];
    if (owner < 0)
      schedule_fail(s, d, here,
                    "waits for " + describe(w.e, w.stage, w.mb) +
                        ", which no device runs (rule: every dependency must be scheduled; every "
                        "RECV needs its SEND)");
    if (owner == d)
      schedule_fail(s, d, here,
                    "needs " + describe(w.e, w.stage, w.mb) + ", which device " + std::to_string(d) +
                        " runs later, at step " + std::to_string(step) +
                        " (rule: dependencies in order)");
  }
  // Every waiting device waits on another one: follow the chain to a cycle.
  int start = 0;
  while (start < devices && waits[static_cast<std::size_t>(start)].e == event::count) ++start;
  std::vector<int> seen(static_cast<std::size_t>(devices), -1);
  int d = start;
  for (int hop = 0; seen[static_cast<std::size_t>(d)] < 0; ++hop) {
    seen[static_cast<std::size_t>(d)] = hop;
    d = locate(d).first;
  }
  std::ostringstream cycle;
  const int first = d;
  do {
    const auto& w = waits[static_cast<std::size_t>(d)];
    auto [owner, step] = locate(d);
    cycle << "device " << d << " (at " << s.actions[static_cast<std::size_t>(d)][pos[static_cast<std::size_t>(d)]]
          << ") waits for " << describe(w.e, w.stage, w.mb) << " on device " << owner << " step " << step
          << "; ";
    d = owner;
  } while (d != first);
  std::string text = cycle.str();
  text.resize(text.size() - 2);
  schedule_fail(s, first, pos[static_cast<std::size_t>(first)], "deadlock: " + text);
}

/// Runs the schedule in order. `duration(action)` and `latency(transfer_edge)` give times;
/// `on_run(device, step, action, start, end)` sees every action once, in a dependency-respecting
/// order. Throws layerpipe::error (with the grid) on a duplicate, a deadlock or a missing pass.
template <class Duration, class Latency, class OnRun>
void run_in_order(const schedule& s, Duration&& duration, Latency&& latency, OnRun&& on_run) {
  const int devices = s.num_devices();
  if (static_cast<int>(s.actions.size()) != devices)
    detail::fail("schedule '", s.name, "' has ", s.actions.size(), " action lists but its placement has ",
                 devices, " devices");
  if (s.micro_batches < 1) detail::fail("schedule '", s.name, "' needs M >= 1 micro-batches, got M = ", s.micro_batches);
  check_routing(s);
  const offload_plan offloads(s);
  const offload_plan* plan = offloads.any() ? &offloads : nullptr;
  event_table table(s.num_stages(), s.micro_batches, s.level, offloads.any());
  std::vector<std::size_t> pos(static_cast<std::size_t>(devices), 0);
  std::vector<std::size_t> range_checked(static_cast<std::size_t>(devices), 0);  // first unchecked step
  std::vector<double> free_at(static_cast<std::size_t>(devices), 0.0);   // compute stream
  std::vector<double> copy_free_at(plan ? static_cast<std::size_t>(devices) : 0u, 0.0);  // copy stream
  // Whole-stage actions (REDUCE_GRAD, an iteration's U) need the weight gradients of every
  // micro-batch: a count per stage lets a waiting one be re-checked in O(replicas), not O(M).
  const placement& where = s.placement;
  std::vector<int> weight_grads(static_cast<std::size_t>(s.num_stages()), 0);
  std::vector<int> routed(static_cast<std::size_t>(where.num_replicas()), 0);
  for (int m = 0; m < s.micro_batches; ++m) ++routed[static_cast<std::size_t>(s.replica_of_micro_batch(m))];
  auto stage_complete = [&](int st) {
    return weight_grads[static_cast<std::size_t>(st)] >= routed[static_cast<std::size_t>(where.replica_of(st))];
  };
  auto gradients_missing = [&](const action& a) {
    if (a.micro_batch >= 0) return false;
    if (a.kind == action_kind::update) return !stage_complete(a.stage);
    if (a.kind != action_kind::reduce_grad) return false;
    const int model_stage = where.model_stage_of(a.stage);
    for (int r = 0; r < where.num_replicas(); ++r)
      if (!stage_complete(where.stage_in_replica(r, model_stage))) return true;
    return false;
  };
  std::size_t remaining = s.size();
  for (int round = 0; remaining > 0; ++round) {
    bool progress = false;
    // Sweep up, then down: activations flow to higher devices and gradients back, so each
    // direction lets one kind of dependency chain resolve within a single sweep.
    for (int i = 0; i < devices; ++i) {
      const int d = round % 2 == 0 ? i : devices - 1 - i;
      const auto& list = s.actions[static_cast<std::size_t>(d)];
      auto& p = pos[static_cast<std::size_t>(d)];
      while (p < list.size()) {
        const action& a = list[p];
        // An action waiting for its inputs is retried every round: check its indices only once.
        if (p == range_checked[static_cast<std::size_t>(d)]) {
          check_action_range(s, d, p, a);
          ++range_checked[static_cast<std::size_t>(d)];
        }
        if (gradients_missing(a)) break;
        double ready = 0.0;
        bool ok = true;
        for_each_half(a, [&](action_kind k, int st, int mb) {
          for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const transfer_edge* edge) {
            const double t = table.at(e, rs, rm);
            if (std::isnan(t)) { ok = false; return; }
            ready = std::max(ready, edge ? t + latency(*edge) : t);
          }, plan);
        });
        if (!ok) break;
        double& compute_free = free_at[static_cast<std::size_t>(d)];
        double start = 0.0, end = 0.0;
        if (plan && is_host_copy(a.kind)) {  // copy stream: issued after the compute before it
          double& copy_free = copy_free_at[static_cast<std::size_t>(d)];
          start = std::max({copy_free, compute_free, ready});
          end = start + duration(a);
          copy_free = end;
        } else {
          start = std::max(compute_free, ready);
          end = start + duration(a);
          compute_free = end;
        }
        for_each_half(a, [&](action_kind k, int st, int mb) {
          for_each_product(k, st, mb, [&](event e, int ps, int pm) {
            double& slot = table.at(e, ps, pm);
            if (!std::isnan(slot))
              schedule_fail(s, d, p,
                            describe(e, ps, pm) + " runs twice (rule: each (stage, micro-batch, kind) exactly once)");
            slot = end;
            if (e == event::weight_grad_done) ++weight_grads[static_cast<std::size_t>(ps)];
          });
        });
        on_run(d, p, a, start, end);
        ++p;
        --remaining;
        progress = true;
      }
    }
    if (!progress) report_deadlock(s, pos, table, plan);
  }
  // Every (stage, micro-batch) must have had its passes.
  for (int st = 0; st < s.num_stages(); ++st) {
    const int d = s.placement.device_of(st);
    const auto end_step = s.actions[static_cast<std::size_t>(d)].empty() ? 0 : s.actions[static_cast<std::size_t>(d)].size() - 1;
    const int replica = s.placement.num_replicas() == 1 ? 0 : s.placement.replica_of(st);
    for (int m = 0; m < s.micro_batches; ++m) {
      if (s.replica_of_micro_batch(m) != replica) continue;
      if (!table.happened(event::forward_done, st, m))
        schedule_fail(s, d, end_step,
                      "stage " + std::to_string(st) + " never runs F for micro-batch " + std::to_string(m) +
                          " (rule: each (stage, micro-batch) runs F exactly once)");
      if (s.forward_only) continue;
      const bool input = table.happened(event::input_grad_done, st, m);
      const bool weight = table.happened(event::weight_grad_done, st, m);
      if (!input || !weight)
        schedule_fail(s, d, end_step,
                      "stage " + std::to_string(st) + " never runs " + (input ? "W" : "B (or I)") +
                          " for micro-batch " + std::to_string(m) +
                          " (rule: each (stage, micro-batch) runs B, or I and W, exactly once)");
    }
  }
}

}  // namespace layerpipe::detail
