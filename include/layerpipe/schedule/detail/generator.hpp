// layerpipe/schedule/detail/generator.hpp — the checks and the empty schedule every generator
// starts from, so each family states its rules in the same words and fills exact-size lists.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>

namespace layerpipe::detail {

/// P ≥ 1 and M ≥ 1, in the family's name: "1F1B needs at least one device (P >= 1), got P = 0".
inline void check_pipeline_sizes(std::string_view family, int devices, int micro_batches) {
  if (devices < 1) fail(family, " needs at least one device (P >= 1), got P = ", devices);
  if (micro_batches < 1) fail(family, " needs at least one micro-batch (M >= 1), got M = ", micro_batches);
}

/// V·P stages must fit the 32-bit stage index of an action.
inline void check_stage_count(std::string_view family, int devices, int chunks) {
  const std::int64_t stages = static_cast<std::int64_t>(devices) * chunks;
  if (stages > std::numeric_limits<std::int32_t>::max())
    fail(family, ": the number of stages V·P must fit in a 32-bit index, got V·P = ", stages);
}

/// A compute-only schedule whose every device list already has `per_device` slots: generators
/// fill them with plain stores (no capacity checks, no reallocation), which keeps generation at a
/// few ns per action.
inline schedule empty_schedule(std::string_view name, placement where, int micro_batches, pass_mode mode,
                               std::size_t per_device) {
  schedule s;
  s.name = std::string(name);
  s.placement = std::move(where);
  s.micro_batches = micro_batches;
  s.level = schedule_level::compute_only;
  s.forward_only = mode == pass_mode::forward_only;
  s.actions.assign(static_cast<std::size_t>(s.placement.num_devices()), {});
  for (auto& list : s.actions) list.resize(per_device);
  return s;
}

}  // namespace layerpipe::detail
