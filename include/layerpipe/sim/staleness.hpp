// layerpipe/sim/staleness.hpp — the weight staleness a schedule (or a measured run) realises.
//
// For each stage: the largest number of its updates U(stage, ·) that run between F(stage, m) and
// the backward of the same micro-batch, B(stage, m) or I(stage, m), over all micro-batches m.
// That is how many gradients the weights the backward differentiates at have gained since the
// forward read them, the quantity delay_plan::staleness_updates predicts (retime/layerpipe.hpp,
// REFERENCE §3.5). A U without a micro-batch counts like any other update.
//
//   auto s = layerpipe::pipedream_async(4, 8);
//   layerpipe::measure_staleness(s);                  // {3, 2, 1, 0}: P − 1 − s
//   auto t = layerpipe::simulate(s, layerpipe::cost_model::uniform({1.0, 1.0, 1.0}));
//   layerpipe::measure_staleness(t, s.num_stages());  // the same, read from the timeline
//
// The schedule form reads each device's list in order (the order the device runs it); the
// timeline form orders spans by start time, ties by step, so executors' measured timelines are
// checked the same way (an update takes no time in the cost model and shares its start with the
// next pass; the step keeps them in order). Synchronous schedules (no U, or U only after every
// backward) give 0 everywhere. A backward whose forward has not run before it on the same
// ordering, an index out of range or a repeated forward throws layerpipe::error.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace layerpipe {

namespace detail {

/// Walks actions in execution order and keeps, per stage, the running update count, the count
/// each forward saw, and the largest difference a backward finds.
class staleness_counter {
public:
  explicit staleness_counter(int stages)
      : updates_(static_cast<std::size_t>(stages), 0), worst_(static_cast<std::size_t>(stages), 0) {}

  /// One plain action (not a compound); `where` names it in errors.
  template <class Where>
  void visit(action_kind k, int stage, int mb, Where&& where) {
    if (k != action_kind::forward && k != action_kind::backward && k != action_kind::backward_input &&
        k != action_kind::update)
      return;
    const auto st = static_cast<std::size_t>(stage);
    if (k == action_kind::update) {
      ++updates_[st];
      return;
    }
    const std::uint64_t key = (static_cast<std::uint64_t>(st) << 32) | static_cast<std::uint32_t>(mb);
    if (k == action_kind::forward) {
      if (!seen_.try_emplace(key, updates_[st]).second)
        fail("measure_staleness: F(", stage, ", ", mb, ") runs twice, again at ", where(),
                       " (rule: each (stage, micro-batch) runs F exactly once)");
      return;
    }
    const auto it = seen_.find(key);
    if (it == seen_.end())
      fail("measure_staleness: ", token(k), "(", stage, ", ", mb, ") at ", where(), " runs before F(", stage, ", ", mb, ") (rule: a backward follows its forward)");
    worst_[st] = std::max(worst_[st], updates_[st] - it->second);
  }

  std::vector<std::int64_t> result() && { return std::move(worst_); }

private:
  std::vector<std::int64_t> updates_;            // per stage: updates run so far
  std::vector<std::int64_t> worst_;              // per stage: largest staleness found
  std::unordered_map<std::uint64_t, std::int64_t> seen_;  // (stage, micro-batch) -> updates before its F
};

/// Range checks shared by both forms; `micro_batches` < 0 means no upper bound (timelines).
template <class Where>
void check_staleness_indices(int stages, int micro_batches, int stage, int mb, action_kind k, Where&& where) {
  if (stage < 0 || stage >= stages)
    fail("measure_staleness: ", where(), " names stage ", stage, ", out of range: there are ", stages, " stages");
  if (k == action_kind::update && mb < 0) return;  // U of the whole window
  if (mb < 0 || (micro_batches >= 0 && mb >= micro_batches))
    fail("measure_staleness: ", where(), " names micro-batch ", mb,
         micro_batches >= 0 ? ", out of range 0..M-1, M = " : " (rule: micro-batches are >= 0)",
         micro_batches >= 0 ? std::to_string(micro_batches) : std::string());
}

template <class F>
void for_each_plain(const action& a, F&& f) {
  if (a.kind == action_kind::overlap_f_b) {
    f(action_kind::forward, static_cast<int>(a.stage), static_cast<int>(a.micro_batch));
    f(a.second_kind, static_cast<int>(a.second_stage), static_cast<int>(a.second_micro_batch));
  } else {
    f(a.kind, static_cast<int>(a.stage), static_cast<int>(a.micro_batch));
  }
}

inline bool counts_for_staleness(action_kind k) noexcept {
  return k == action_kind::forward || k == action_kind::backward || k == action_kind::backward_input ||
         k == action_kind::update;
}

}  // namespace detail

/// Per stage of `s`: the largest number of U(stage, ·) between F(stage, m) and B(stage, m) (or
/// I(stage, m)) over all m, each device's list read in order.
inline std::vector<std::int64_t> measure_staleness(const schedule& s) {
  const int stages = s.num_stages();
  if (static_cast<int>(s.actions.size()) != s.num_devices())
    detail::fail("measure_staleness: schedule '", s.name, "' has ", s.actions.size(),
                 " action lists but its placement has ", s.num_devices(), " devices");
  detail::staleness_counter counter(stages);
  // A stage's actions all live on its device, so the devices can be read one after another.
  for (std::size_t d = 0; d < s.actions.size(); ++d)
    for (std::size_t i = 0; i < s.actions[d].size(); ++i)
      detail::for_each_plain(s.actions[d][i], [&](action_kind k, int st, int mb) {
        if (!detail::counts_for_staleness(k)) return;
        detail::check_staleness_indices(stages, s.micro_batches, st, mb, k, [&] {
          return "device " + std::to_string(d) + " step " + std::to_string(i);
        });
        counter.visit(k, st, mb, [&] { return "device " + std::to_string(d) + " step " + std::to_string(i); });
      });
  return std::move(counter).result();
}

/// The same over a timeline of `stages` stages: spans ordered by start time, ties by step (then
/// device), so a measured run is checked exactly as its schedule.
inline std::vector<std::int64_t> measure_staleness(const timeline& t, int stages) {
  if (stages < 1) detail::fail("measure_staleness: a timeline needs at least one stage, got ", stages);
  std::vector<std::size_t> order;
  order.reserve(t.spans.size());
  for (std::size_t i = 0; i < t.spans.size(); ++i) {
    const span& x = t.spans[i];
    bool counts = false;
    detail::for_each_plain(x.what, [&](action_kind k, int st, int mb) {
      if (!detail::counts_for_staleness(k)) return;
      counts = true;
      detail::check_staleness_indices(stages, -1, st, mb, k, [&] {
        return "span " + std::to_string(i) + " (device " + std::to_string(x.device) + " step " +
               std::to_string(x.step) + ")";
      });
    });
    if (counts) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const span& x = t.spans[a];
    const span& y = t.spans[b];
    if (x.start != y.start) return x.start < y.start;
    if (x.step != y.step) return x.step < y.step;
    return x.device < y.device;
  });
  detail::staleness_counter counter(stages);
  for (std::size_t i : order) {
    const span& x = t.spans[i];
    detail::for_each_plain(x.what, [&](action_kind k, int st, int mb) {
      counter.visit(k, st, mb, [&] {
        return "span " + std::to_string(i) + " (device " + std::to_string(x.device) + " step " +
               std::to_string(x.step) + ")";
      });
    });
  }
  return std::move(counter).result();
}

}  // namespace layerpipe
