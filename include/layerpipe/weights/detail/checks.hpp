// layerpipe/weights/detail/checks.hpp — the input rules every weight-history policy shares.
//
// One place for the messages, so every policy names a broken rule the same way.
#pragma once

#include <algorithm>
#include <layerpipe/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string_view>

namespace layerpipe::detail::weights_impl {

/// d >= 0: a layer cannot need weights from the future.
inline void check_delay(std::string_view policy, std::int64_t delay) {
  if (delay < 0)
    fail("weight history '", policy, "': the delay must be >= 0 optimizer updates, got d = ", delay);
}

/// An EMA decay lies in [0, 1): beta = 1 never forgets its start, beta < 0 oscillates (NaN fails too).
inline void check_beta(std::string_view policy, double beta) {
  if (!(beta >= 0.0 && beta < 1.0))
    fail("weight history '", policy, "': the EMA decay must lie in [0, 1), got beta = ", beta);
}

/// Two-buffer: a new version every m >= 1 updates.
inline void check_period(std::int64_t period) {
  if (period < 1) fail("weight history 'two-buffer': the version period must be m >= 1 updates, got m = ", period);
}

/// Every span handed to a policy has exactly the size it was built for.
inline void check_span(std::string_view policy, std::string_view what, std::size_t got, std::size_t size) {
  if (got != size)
    fail("weight history '", policy, "': the ", what, " span must have the policy's size ", size,
         " elements, got ", got);
}

/// The output of a reconstruction may be the current weights themselves (computed in place) but
/// must not partly overlap them: the element loops would read values they already overwrote.
template <class T>
void check_output(std::string_view policy, std::span<const T> current, std::span<T> out) {
  if (current.empty() || out.data() == current.data()) return;
  const std::less<const T*> before;
  const T* out_begin = out.data();
  const T* cur_begin = current.data();
  if (before(out_begin, cur_begin + current.size()) && before(cur_begin, out_begin + out.size()))
    fail("weight history '", policy,
         "': the output span must be disjoint from the current weights or the same span, got a partial overlap "
         "at offset ", out_begin - cur_begin, " elements");
}

/// The arguments of record(): weights and update both of the policy's size.
template <class T>
void check_record(std::string_view policy, std::span<const T> weights, std::span<const T> delta, std::size_t size) {
  check_span(policy, "weights", weights.size(), size);
  check_span(policy, "delta", delta.size(), size);
}

/// The arguments of reconstruct(), then the case every policy shares: with no history to undo
/// (d = 0, or no update recorded yet) the answer is W(n) itself. Returns true when it wrote it.
template <class T>
bool reconstruct_current(std::string_view policy, std::span<const T> current, std::span<T> out, std::size_t size,
                         bool no_history) {
  check_span(policy, "current weights", current.size(), size);
  check_span(policy, "output", out.size(), size);
  check_output(policy, current, out);
  if (!no_history) return false;
  if (out.data() != current.data()) std::copy(current.begin(), current.end(), out.begin());
  return true;
}

/// buffers × size × element_bytes, or an error when it does not fit std::size_t.
inline std::size_t buffer_bytes(std::string_view policy, std::uint64_t buffers, std::size_t size,
                                std::size_t element_bytes) {
  constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
  if (buffers == 0 || size == 0 || element_bytes == 0) return 0;
  if (buffers > max / size || buffers * size > max / element_bytes)
    fail("weight history '", policy, "': buffers x size x element bytes overflows std::size_t (", buffers,
         " buffers of ", size, " elements of ", element_bytes, " bytes)");
  return static_cast<std::size_t>(buffers) * size * element_bytes;
}

}  // namespace layerpipe::detail::weights_impl
