// tests/exec/executor_checks.hpp — what every executor test checks of a run, shared by the
// threads (g++), MPI (own main) and CUDA (nvcc) tests: no Catch2 here.
#pragma once

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <string>
#include <tuple>
#include <utility>

namespace layerpipe::test {

/// The lowered schedule with one U per stage appended to its device's list.
inline schedule with_updates(const schedule& s) {
  schedule out = lower(s);
  for (int st = 0; st < out.num_stages(); ++st)
    out.actions[static_cast<std::size_t>(out.placement.device_of(st))].push_back(
        make_action(action_kind::update, st));
  return out;
}

/// Empty string if every action of `s` has one span, some span was measured (all-zero times
/// would pass every order check), each device's spans follow its list, and each requirement
/// ended before its consumer began; `slack` absorbs a clock's resolution (CUDA events).
inline std::string check_timeline(const schedule& s, const timeline& t, double slack = 0.0) {
  using detail::event;
  if (t.spans.size() != s.size()) return "span count " + std::to_string(t.spans.size());
  if (std::none_of(t.spans.begin(), t.spans.end(), [](const span& x) { return x.end > 0.0; }))
    return "no span was measured (every end time is 0)";
  std::map<std::pair<int, std::size_t>, const span*> at;
  for (const auto& x : t.spans) {
    if (!(x.start >= 0.0 && x.start <= x.end)) return "bad span " + to_string(x.what);
    if (!(s.actions[static_cast<std::size_t>(x.device)][x.step] == x.what)) return "wrong action " + to_string(x.what);
    if (!at.emplace(std::pair{x.device, x.step}, &x).second) return "duplicate span " + to_string(x.what);
  }
  std::map<std::tuple<int, int, int>, const span*> product;
  for (const auto& x : t.spans)
    detail::for_each_half(x.what, [&](action_kind k, int st, int mb) {
      detail::for_each_product(k, st, mb, [&](event e, int ps, int pm) { product[{static_cast<int>(e), ps, pm}] = &x; });
    });
  for (const auto& x : t.spans) {
    if (x.step > 0 && at.at({x.device, x.step - 1})->end > x.start + slack) return "device order at " + to_string(x.what);
    std::string bad;
    detail::for_each_half(x.what, [&](action_kind k, int st, int mb) {
      detail::for_each_requirement(s, k, st, mb, [&](event e, int rs, int rm, const detail::transfer_edge*) {
        auto it = product.find({static_cast<int>(e), rs, rm});
        if (it == product.end()) bad = "missing producer for " + to_string(x.what);
        else if (it->second->end > x.start + slack)
          bad = to_string(it->second->what) + " ends after " + to_string(x.what) + " starts";
      });
    });
    if (!bad.empty()) return bad;
  }
  return "";
}

}  // namespace layerpipe::test
