// layerpipe/schedule/validate.hpp — checks a schedule before anyone runs it.
//
// `validate(s)` accepts both levels. It first checks structure — one action list per device,
// M >= 1, indices in range, every stage on its own device, a compute_only schedule holds no
// transfers; at the lowered level every SEND matched by exactly one RECV on the peer device
// (SEND_F(s,m) <-> RECV_F(s+1,m), SEND_B(s,m) <-> RECV_B(s-1,m)), no transfer between stages
// that share a device, and each cross-device input received earlier on the consumer's device —
// then runs the schedule once through the in-order engine (unit durations), which checks each
// (stage, micro-batch, kind) exactly once, dependency order and deadlock freedom (reporting the
// waiting cycle). Every failure throws layerpipe::error naming device, step, action and rule,
// with the packed grid printed and the offending cell marked `[...]`.
//
//   auto s = layerpipe::one_f_one_b(4, 8);
//   layerpipe::validate(s);                  // throws on the first broken rule
//   layerpipe::validate(layerpipe::lower(s));
//   if (!layerpipe::is_valid(s)) { ... }     // the same checks, as a bool
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace layerpipe {

namespace detail {

/// Where one transfer action sits: device -1 while none has been seen.
struct transfer_site {
  int device = -1;
  std::size_t step = 0;
};

/// The stage at the other end of a transfer: SEND_F and RECV_B talk to s + 1, RECV_F and
/// SEND_B to s − 1.
constexpr int peer_stage(action_kind k, int stage) noexcept {
  return k == action_kind::send_f || k == action_kind::recv_b ? stage + 1 : stage - 1;
}

/// The action that completes a transfer: SEND_F(s,m) <-> RECV_F(s+1,m), SEND_B(s,m) <-> RECV_B(s-1,m).
constexpr action matching_transfer(action_kind k, int stage, int mb) noexcept {
  action_kind other = k;
  switch (k) {
    case action_kind::send_f: other = action_kind::recv_f; break;
    case action_kind::recv_f: other = action_kind::send_f; break;
    case action_kind::send_b: other = action_kind::recv_b; break;
    case action_kind::recv_b: other = action_kind::send_b; break;
    default: break;
  }
  return make_action(other, peer_stage(k, stage), mb);
}

/// Checks one SEND/RECV of a lowered schedule: stage range, an existing peer on another device,
/// and the action on the device of its own stage.
inline void check_transfer(const schedule& s, int device, std::size_t step, const action& a) {
  const int stages = s.num_stages();
  if (a.stage < 0 || a.stage >= stages)
    schedule_fail(s, device, step,
                  "stage " + std::to_string(a.stage) + " out of range: the placement has " +
                      std::to_string(stages) + " stages");
  const int peer = peer_stage(a.kind, a.stage);
  const bool toward_next = peer > a.stage;
  // The peer must be in the same replica: a micro-batch never crosses from one to another.
  if (toward_next ? s.placement.is_last_in_replica(a.stage) : s.placement.is_first_in_replica(a.stage))
    schedule_fail(s, device, step,
                  std::string(token(a.kind)) + " on stage " + std::to_string(a.stage) + ": there is no " +
                      (toward_next ? "next" : "previous") +
                      " stage to talk to (rule: SEND_F and RECV_B need a stage before the last of its "
                      "replica, RECV_F and SEND_B one after the first)");
  const int own = s.placement.device_of(a.stage);
  if (s.placement.device_of(peer) == own)
    schedule_fail(s, device, step,
                  "stages " + std::to_string(std::min(a.stage, peer)) + " and " +
                      std::to_string(std::max(a.stage, peer)) + " both run on device " + std::to_string(own) +
                      ": a transfer between stages on one device is local and takes no SEND/RECV "
                      "(rule: SEND/RECV only between devices)");
  if (own != device) {
    const bool is_send = a.kind == action_kind::send_f || a.kind == action_kind::send_b;
    schedule_fail(s, device, step,
                  to_string(a) + " must run on device " + std::to_string(own) + ", which holds stage " +
                      std::to_string(a.stage) + (is_send ? " (the sender)" : " (the receiver)") +
                      ", not on device " + std::to_string(device) +
                      " (rule: a SEND runs on the sender's device, a RECV on the receiver's)");
  }
  if (s.forward_only && (a.kind == action_kind::send_b || a.kind == action_kind::recv_b))
    schedule_fail(s, device, step, "a forward-only schedule has no backward transfers (SEND_B/RECV_B)");
}

/// Structural checks before the engine runs; see validate().
inline void validate_structure(const schedule& s) {
  const int devices = s.num_devices();
  if (devices < 1) detail::fail("schedule '", s.name, "' has no devices: its placement is empty");
  if (static_cast<int>(s.actions.size()) != devices)
    detail::fail("schedule '", s.name, "' has ", s.actions.size(), " action lists but its placement has ",
                 devices, " devices (rule: one action list per device)");
  if (s.micro_batches < 1)
    detail::fail("schedule '", s.name, "' needs M >= 1 micro-batches, got M = ", s.micro_batches);

  const int stages = s.num_stages();
  const bool lowered = s.level == schedule_level::lowered;
  check_routing(s);
  // Forwards per stage: a stage with fewer than its micro-batches is incomplete, and counting
  // them first keeps the engine's S x M tables bounded by the schedule's size whatever M claims.
  std::vector<std::size_t> forwards(static_cast<std::size_t>(stages), 0);
  std::vector<std::size_t> routed(static_cast<std::size_t>(s.placement.num_replicas()), 0);
  for (int m = 0; m < s.micro_batches; ++m) ++routed[static_cast<std::size_t>(s.replica_of_micro_batch(m))];
  for (int d = 0; d < devices; ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    for (std::size_t i = 0; i < list.size(); ++i) {
      const action& a = list[i];
      if (!lowered && !detail::allowed_in_compute_only(a.kind))
        schedule_fail(s, d, i,
                      std::string("a compute_only schedule holds only F, B, I, W, U and OVERLAP_F_B, not ") +
                          std::string(token(a.kind)) + " (lower it, or mark it lowered)");
      if (is_communication(a.kind)) check_transfer(s, d, i, a);
      check_action_range(s, d, i, a);
      for_each_half(a, [&](action_kind k, int st, int) {
        if (k == action_kind::forward) ++forwards[static_cast<std::size_t>(st)];
      });
    }
  }
  for (int st = 0; st < stages; ++st) {
    const std::size_t expected = routed[static_cast<std::size_t>(s.placement.replica_of(st))];
    if (forwards[static_cast<std::size_t>(st)] >= expected) continue;
    const int d = s.placement.device_of(st);
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    schedule_fail(s, d, list.empty() ? 0 : list.size() - 1,
                  "stage " + std::to_string(st) + " runs F for only " +
                      std::to_string(forwards[static_cast<std::size_t>(st)]) +
                      (s.placement.num_replicas() == 1
                           ? " of its M = " + std::to_string(expected) + " micro-batches"
                           : " of the " + std::to_string(expected) + " micro-batches routed through its replica") +
                      " (rule: each (stage, micro-batch) runs F exactly once)");
  }
  if (!lowered) return;

  // Lowered: where each transfer sits, dense over (stage, micro-batch).
  const std::size_t mbs = static_cast<std::size_t>(s.micro_batches);
  const std::size_t cells = static_cast<std::size_t>(stages) * mbs;
  std::vector<transfer_site> send_f(cells), recv_f(cells), send_b(cells), recv_b(cells);
  // Through a pointer: nvcc's front end misreads `return send_f;` from a by-reference lambda as
  // returning a local (#836-D, an error under -Werror=all-warnings).
  auto table = [&](action_kind k) -> std::vector<transfer_site>& {
    std::vector<transfer_site>* t = &recv_b;
    switch (k) {
      case action_kind::send_f: t = &send_f; break;
      case action_kind::recv_f: t = &recv_f; break;
      case action_kind::send_b: t = &send_b; break;
      default: break;
    }
    return *t;
  };
  auto at = [&](int st, int mb) { return static_cast<std::size_t>(st) * mbs + static_cast<std::size_t>(mb); };
  for (int d = 0; d < devices; ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    for (std::size_t i = 0; i < list.size(); ++i) {
      const action& a = list[i];
      if (!is_communication(a.kind)) continue;
      transfer_site& site = table(a.kind)[at(a.stage, a.micro_batch)];
      if (site.device >= 0)
        schedule_fail(s, d, i,
                      to_string(a) + " appears twice (first at device " + std::to_string(site.device) +
                          ", step " + std::to_string(site.step) + ") (rule: each transfer exactly once)");
      site = {d, i};
    }
  }
  // Every SEND has its RECV and every RECV its SEND.
  for (int d = 0; d < devices; ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    for (std::size_t i = 0; i < list.size(); ++i) {
      const action& a = list[i];
      if (!is_communication(a.kind)) continue;
      const action other = matching_transfer(a.kind, a.stage, a.micro_batch);
      if (table(other.kind)[at(other.stage, other.micro_batch)].device >= 0) continue;
      const bool is_send = a.kind == action_kind::send_f || a.kind == action_kind::send_b;
      schedule_fail(s, d, i,
                    to_string(a) + " has no matching " + to_string(other) + " on device " +
                        std::to_string(s.placement.device_of(other.stage)) +
                        (is_send ? " (rule: every SEND is matched by exactly one RECV on the peer device)"
                                 : " (rule: every RECV is matched by exactly one SEND on the peer device)"));
    }
  }
  // Each cross-device input is received earlier on the consumer's device.
  for (int d = 0; d < devices; ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    for (std::size_t i = 0; i < list.size(); ++i) {
      for_each_half(list[i], [&](action_kind k, int st, int mb) {
        action needed{};
        if (k == action_kind::forward && !s.placement.is_first_in_replica(st) && !s.placement.same_device(st - 1, st)) {
          needed = make_action(action_kind::recv_f, st, mb);
        } else if (is_input_backward(k) && !s.placement.is_last_in_replica(st) &&
                   !s.placement.same_device(st + 1, st)) {
          needed = make_action(action_kind::recv_b, st, mb);
        } else {
          return;
        }
        const transfer_site& site = table(needed.kind)[at(st, mb)];
        const int from = s.placement.device_of(k == action_kind::forward ? st - 1 : st + 1);
        if (site.device < 0)
          schedule_fail(s, d, i,
                        "needs " + to_string(needed) + " earlier on device " + std::to_string(d) +
                            ": its input comes from device " + std::to_string(from) +
                            " (rule: each cross-device input has its RECV before its consumer)");
        if (site.step > i)
          schedule_fail(s, d, i,
                        "needs " + to_string(needed) + ", which device " + std::to_string(d) +
                            " posts later, at step " + std::to_string(site.step) +
                            " (rule: each cross-device input has its RECV before its consumer)");
      });
    }
  }
}

}  // namespace detail

/// Checks every rule of a schedule at its level; throws layerpipe::error (device, step, action,
/// rule, marked grid) on the first violation. Runs in time about linear in the number of actions.
inline void validate(const schedule& s) {
  detail::validate_structure(s);
  detail::run_in_order(
      s, [](const action&) { return 1.0; }, [](const detail::transfer_edge&) { return 0.0; },
      [](int, std::size_t, const action&, double, double) {});
}

/// validate() as a predicate: false where validate() would throw layerpipe::error.
inline bool is_valid(const schedule& s) {
  try {
    validate(s);
    return true;
  } catch (const error&) {
    return false;
  }
}

}  // namespace layerpipe
