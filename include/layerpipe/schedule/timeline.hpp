// layerpipe/schedule/timeline.hpp — what ran where and when: one span per executed action.
//
// The simulator produces a timeline; every executor records one too, so metrics, what-if
// analysis and renderers read simulated and measured runs with the same code. Times are in the
// cost model's unit (seconds for measured runs).
//
//   layerpipe::timeline t = layerpipe::simulate(s, layerpipe::cost_model::uniform({}));
//   for (const layerpipe::span& x : t.spans) std::cout << x.device << ' ' << x.what << ' ' << x.start << '\n';
#pragma once

#include <layerpipe/schedule/action.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace layerpipe {

struct span {
  int device = 0;
  std::size_t step = 0;  ///< index of the action in its device's list
  action what{};
  double start = 0.0;
  double end = 0.0;
  double duration() const noexcept { return end - start; }
};

struct timeline {
  int num_devices = 0;
  std::vector<span> spans;  ///< in a dependency-respecting order (not sorted by time)

  /// Time of the last end (0 for an empty timeline).
  double makespan() const noexcept {
    double m = 0.0;
    for (const auto& x : spans) m = std::max(m, x.end);
    return m;
  }
};

}  // namespace layerpipe
