// layerpipe/schedule/lower.hpp — inserts SEND/RECV pairs into a compute-only schedule.
//
// `lower(s)` returns a copy at level `lowered` with the point-to-point transfers executors run,
// placed by PyTorch's `_add_send_recv` policy (torch.distributed.pipelining, REFERENCE §1.4):
//   - ranks are visited round-robin, 0 … P−1, round after round; each visit places at most one
//     compute action, the device's next one, once its input is local or already received;
//   - placing a producer whose consumer stage is on another device appends its SEND to the
//     producer's list right after it AND the matching RECV to the consumer's list in the same
//     move, so all pairs share one global order and the result cannot deadlock:
//       F on stage s       → SEND_F(s,m) here, RECV_F(s+1,m) on s+1's device (s+1 elsewhere),
//       B or I on stage s  → SEND_B(s,m) here, RECV_B(s−1,m) on s−1's device (s−1 elsewhere);
//   - transfers between stages on one device (the turn of a V placement, looped chunks sharing a
//     device) need no message and get none; W needs no input from another device;
//   - OVERLAP_F_B waits for the inputs of both halves and sends for both, forward half first.
// The input is validated first (validate.hpp: a malformed schedule throws with the broken rule and
// the grid); a round without progress would mean a malformed schedule and throws too. Lowering an
// already lowered schedule is an error. Differences from PyTorch: a schedule holds no idle cells
// (CSV loading drops them), whereas PyTorch spends a round-robin visit on each idle cell, so a
// file with idle cells may lower to another (equally valid) SEND/RECV order; and split backwards
// are kept as I and W (PyTorch's `_merge_bw` would fuse an adjacent I, W pair into B).
// Cost: O(actions + P × rounds) time, S × M flags of memory (dense (stage, micro-batch) tables,
// no sets of actions).
//
//   auto s = layerpipe::lower(layerpipe::one_f_one_b(2, 2));
//   // device 0: 0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1
//   // device 1: 1RECV_F0 1F0 1RECV_F1 1B0 1SEND_B0 1F1 1B1 1SEND_B1
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <cstddef>
#include <vector>

namespace layerpipe {

/// The lowered form of a valid compute-only schedule: same placement, M, name and mode, with
/// SEND/RECV pairs inserted by PyTorch's round-robin policy (see the top of this header).
inline schedule lower(const schedule& compute_only) {
  const schedule& in = compute_only;
  if (in.level == schedule_level::lowered)
    detail::fail("lower: schedule '", in.name,
                 "' is already lowered; lower() takes a compute_only schedule (rule: lower once)");
  validate(in);

  const int devices = in.num_devices();
  const int stages = in.num_stages();
  const std::size_t mbs = static_cast<std::size_t>(in.micro_batches);
  schedule out;
  out.placement = in.placement;
  out.micro_batches = in.micro_batches;
  out.level = schedule_level::lowered;
  out.forward_only = in.forward_only;
  out.name = in.name;
  out.micro_batch_replica = in.micro_batch_replica;
  out.actions.resize(static_cast<std::size_t>(devices));
  for (std::size_t d = 0; d < out.actions.size(); ++d) out.actions[d].reserve(2 * in.actions[d].size());

  // Which producers have been placed; a consumer's RECV is appended in the producer's move, so
  // "producer placed" is exactly "input local or already received".
  std::vector<unsigned char> forward_placed(static_cast<std::size_t>(stages) * mbs, 0);
  std::vector<unsigned char> gradient_placed(static_cast<std::size_t>(stages) * mbs, 0);
  auto at = [&](int st, int mb) { return static_cast<std::size_t>(st) * mbs + static_cast<std::size_t>(mb); };
  auto ready = [&](action_kind k, int st, int mb) {
    if (k == action_kind::forward) return in.placement.is_first_in_replica(st) || forward_placed[at(st - 1, mb)] != 0;
    if (is_input_backward(k)) return in.placement.is_last_in_replica(st) || gradient_placed[at(st + 1, mb)] != 0;
    return true;  // W follows its own I on the same device: validated already
  };
  auto place = [&](int d, const action& a) {
    auto& list = out.actions[static_cast<std::size_t>(d)];
    list.push_back(a);
    detail::for_each_half(a, [&](action_kind k, int st, int mb) {
      if (k == action_kind::forward) {
        forward_placed[at(st, mb)] = 1;
        if (!in.placement.is_last_in_replica(st) && !in.placement.same_device(st, st + 1)) {
          list.push_back(make_action(action_kind::send_f, st, mb));
          out.actions[static_cast<std::size_t>(in.placement.device_of(st + 1))].push_back(
              make_action(action_kind::recv_f, st + 1, mb));
        }
      } else if (is_input_backward(k)) {
        gradient_placed[at(st, mb)] = 1;
        if (!in.placement.is_first_in_replica(st) && !in.placement.same_device(st, st - 1)) {
          list.push_back(make_action(action_kind::send_b, st, mb));
          out.actions[static_cast<std::size_t>(in.placement.device_of(st - 1))].push_back(
              make_action(action_kind::recv_b, st - 1, mb));
        }
      }
    });
  };

  std::vector<std::size_t> next(static_cast<std::size_t>(devices), 0);
  std::size_t remaining = in.size();
  while (remaining > 0) {
    bool progress = false;
    for (int d = 0; d < devices; ++d) {
      const auto& list = in.actions[static_cast<std::size_t>(d)];
      auto& i = next[static_cast<std::size_t>(d)];
      if (i >= list.size()) continue;
      bool ok = true;
      detail::for_each_half(list[i], [&](action_kind k, int st, int mb) { ok = ok && ready(k, st, mb); });
      if (!ok) continue;
      place(d, list[i]);
      ++i;
      --remaining;
      progress = true;
    }
    if (!progress) {
      int d = 0;
      while (next[static_cast<std::size_t>(d)] >= in.actions[static_cast<std::size_t>(d)].size()) ++d;
      detail::schedule_fail(in, d, next[static_cast<std::size_t>(d)],
                            "lowering made no progress: no device's next action has its input "
                            "(malformed schedule; rule: dependencies in order, no deadlock)");
    }
  }
  return out;
}

}  // namespace layerpipe
