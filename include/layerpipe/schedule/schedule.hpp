// layerpipe/schedule/schedule.hpp — a pipeline schedule: placement plus one action list per device.
//
// Two levels: `compute_only` (F, B, I, W and overlapped pairs — what generators produce) and
// `lowered` (communication actions inserted — what executors run; see lower.hpp). Each device
// runs its list strictly in order.
//
//   layerpipe::schedule s = layerpipe::one_f_one_b(4, 8);   // generators return this type
//   for (int d = 0; d < s.num_devices(); ++d)
//     for (const layerpipe::action& a : s.actions[d]) std::cout << a << ' ';
#pragma once

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/placement.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace layerpipe {

enum class schedule_level {
  compute_only,  ///< F, B, I, W and OVERLAP_F_B only
  lowered,       ///< plus SEND/RECV (and later offload, reduce) actions
};

inline std::string_view to_string(schedule_level l) noexcept {
  return l == schedule_level::compute_only ? "compute_only" : "lowered";
}

/// Whether a schedule trains (forward and backward passes) or only infers (forward passes).
enum class pass_mode { training, forward_only };

struct schedule {
  layerpipe::placement placement;          ///< stage -> device
  int micro_batches = 0;                   ///< M: micro-batches per iteration
  schedule_level level = schedule_level::compute_only;
  bool forward_only = false;               ///< inference: F only, no backward passes
  std::string name;                        ///< family name, e.g. "1F1B"
  std::vector<std::vector<action>> actions;  ///< actions[device], in execution order
  /// With a replicated placement (Chimera, BitPipe, DualPipe): the replica each micro-batch
  /// travels through, one entry per micro-batch. Empty = every micro-batch uses replica 0.
  std::vector<int> micro_batch_replica;

  int num_devices() const noexcept { return placement.num_devices(); }
  int num_stages() const noexcept { return placement.num_stages(); }
  /// The replica micro-batch m travels through (0 without replicas). Unchecked: the engine checks
  /// the routing once (detail::check_routing) before it runs.
  int replica_of_micro_batch(int m) const noexcept {
    return micro_batch_replica.empty() ? 0 : micro_batch_replica[static_cast<std::size_t>(m)];
  }
  /// Total number of actions over all devices.
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const auto& list : actions) n += list.size();
    return n;
  }
};

}  // namespace layerpipe
