// ZB-H1 and ZB-H2 (REFERENCE §5.4): exact orders worked by hand, validity over a sweep, and the
// bubble and memory formulas against the simulation.
//
// Findings (uniform stages, free communication, T_F = T_I = T_W = 1 unless stated):
//   - ZB-H1: wall-clock idle (P − 1)(T_F + T_I − T_W) on every device for every M ≥ P, exact for
//     every ratio with T_W ≤ min(T_F, T_I); for M < P it is 2P − 1 − M. Peak order-based
//     activations min(P, M) on every device.
//   - ZB-H2: span idle 0 on every device once M ≥ 2P − 1; below, the worst device has span idle
//     2P − 1 − M. Makespan 3M + P − 1 for M ≥ 2P − 1 (the start-up skew stays on the wall clock).
//     Peak order-based activations min(2P, M) on every device.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/schedule/zero_bubble.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;

namespace {

std::vector<std::vector<action>> lists(std::initializer_list<std::initializer_list<const char*>> devices) {
  std::vector<std::vector<action>> out;
  for (const auto& tokens : devices) {
    out.emplace_back();
    for (const char* t : tokens) out.back().push_back(parse_action(t));
  }
  return out;
}

/// Every (stage, micro-batch) has one F, one I, one W; W after its I on the same device.
void require_split_backward(const schedule& s) {
  for (std::size_t d = 0; d < s.actions.size(); ++d) {
    const auto& list = s.actions[d];
    REQUIRE(list.size() == static_cast<std::size_t>(3 * s.micro_batches));
    for (int m = 0; m < s.micro_batches; ++m) {
      const int stage = static_cast<int>(d);
      auto at = [&](action_kind k) {
        return std::find(list.begin(), list.end(), make_action(k, stage, m)) - list.begin();
      };
      const auto f = at(action_kind::forward), i = at(action_kind::backward_input), w = at(action_kind::backward_weight);
      const auto n = static_cast<std::ptrdiff_t>(list.size());
      REQUIRE(f < n);
      REQUIRE(i < n);
      REQUIRE(w < n);
      REQUIRE(f < i);
      REQUIRE(i < w);
    }
  }
}

}  // namespace

TEST_CASE("ZB-H1 P = 2, M = 3 and P = 3, M = 3: exact orders", "[schedule][zb_h]") {
  // P = 2: device 0 warms up 1 forward and keeps every W by its I; device 1 (d = 1) defers W0.
  const schedule s = zb_h1(2, 3);
  REQUIRE(s.name == "ZB-H1");
  REQUIRE(s.level == schedule_level::compute_only);
  REQUIRE(s.num_devices() == 2);
  REQUIRE(s.num_stages() == 2);
  REQUIRE(s.actions == lists({{"0F0", "0F1", "0I0", "0W0", "0F2", "0I1", "0W1", "0I2", "0W2"},
                              {"1F0", "1I0", "1F1", "1I1", "1W1", "1F2", "1I2", "1W2", "1W0"}}));
  // P = 3: device 2 defers W0 and W1 and emits them last-deferred first.
  const schedule t = zb_h1(3, 3);
  REQUIRE(t.actions == lists({{"0F0", "0F1", "0F2", "0I0", "0W0", "0I1", "0W1", "0I2", "0W2"},
                              {"1F0", "1F1", "1I0", "1F2", "1I1", "1W1", "1I2", "1W2", "1W0"},
                              {"2F0", "2I0", "2F1", "2I1", "2F2", "2I2", "2W2", "2W1", "2W0"}}));
}

TEST_CASE("ZB-H2 P = 2, M = 3: exact order", "[schedule][zb_h]") {
  // Unit slots. Device 0 warms up 2(P − 0) − 1 = 3 forwards (slots 0–2); device 1 warms up 1.
  // Device 1: 1F0 at slot 1, 1I0 at 2, 1F1 at 3 (0F1 done at 2), 1I1 at 4, 1F2 at 5, 1I2 at 6,
  // then its W tail. Device 0: 0I0 at 3 (1I0 done at 3), 0W0 at 4 (1I1 not done until 5),
  // 0I1 at 5, 0W1 at 6, 0I2 at 7, 0W2 at 8: no gap between its first and last pass.
  const schedule s = zb_h2(2, 3);
  REQUIRE(s.name == "ZB-H2");
  REQUIRE(s.level == schedule_level::compute_only);
  REQUIRE(s.actions == lists({{"0F0", "0F1", "0F2", "0I0", "0W0", "0I1", "0W1", "0I2", "0W2"},
                              {"1F0", "1I0", "1F1", "1I1", "1F2", "1I2", "1W0", "1W1", "1W2"}}));
}

TEST_CASE("ZB-H1 and ZB-H2 are valid for P 1..8, M 1..20", "[schedule][zb_h]") {
  for (int p = 1; p <= 8; ++p)
    for (int m = 1; m <= 20; ++m) {
      CAPTURE(p, m);
      for (const schedule& s : {zb_h1(p, m), zb_h2(p, m)}) {
        CAPTURE(s.name);
        REQUIRE_NOTHROW(validate(s));
        REQUIRE(s.placement == placement::loop(p, 1));
        REQUIRE(s.micro_batches == m);
        require_split_backward(s);
      }
    }
}

TEST_CASE("ZB-H1: idle (P − 1)(T_F + T_I − T_W) and peak min(P, M) by simulation", "[schedule][zb_h][sim]") {
  const std::vector<pass_costs> ratios{{1, 1, 1}, {1, 2, 1}, {2, 1, 1}, {2, 2, 1}, {1, 1, 0.5}, {0.5, 2, 0.5}};
  for (const pass_costs& c : ratios)
    for (int p = 1; p <= 8; ++p)
      for (int m = 1; m <= 20; ++m) {
        CAPTURE(c.forward, c.input_grad, c.weight_grad, p, m);
        const auto costs = cost_model::uniform(c);
        const schedule s = zb_h1(p, m);
        const schedule_metrics x = measure(s, simulate(s, costs), costs);
        const double unit = c.forward + c.input_grad + c.weight_grad;
        const bool equal_times = c.forward == c.input_grad && c.input_grad == c.weight_grad;
        for (int d = 0; d < p; ++d) {
          CAPTURE(d);
          const auto& dev = x.devices[static_cast<std::size_t>(d)];
          REQUIRE(close(dev.busy, m * unit));
          if (m >= p) REQUIRE(close(dev.idle, (p - 1) * (c.forward + c.input_grad - c.weight_grad)));
          else if (equal_times) REQUIRE(close(dev.idle, (2 * p - 1 - m) * c.forward));
          REQUIRE(close(dev.peak_activations, std::min(p, m)));
          REQUIRE(dev.peak_activation_count == std::min(p, m));
        }
        if (m >= p) REQUIRE(close(x.makespan, m * unit + (p - 1) * (c.forward + c.input_grad - c.weight_grad)));
      }
}

TEST_CASE("ZB-H1 idle is a third of 1F1B's and its makespan shorter, peak never above", "[schedule][zb_h][sim]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 8; ++p)
    for (int m = p; m <= 20; ++m) {
      CAPTURE(p, m);
      const schedule z = zb_h1(p, m), o = one_f_one_b(p, m);
      const schedule_metrics xz = measure(z, simulate(z, costs), costs);
      const schedule_metrics xo = measure(o, simulate(o, costs), costs);
      if (p >= 2) REQUIRE(xz.makespan < xo.makespan);
      double peak_z = 0.0, peak_o = 0.0;
      for (int d = 0; d < p; ++d) {
        const auto i = static_cast<std::size_t>(d);
        REQUIRE(close(3.0 * xz.devices[i].idle, xo.devices[i].idle));
        peak_z = std::max(peak_z, xz.devices[i].peak_activations);
        peak_o = std::max(peak_o, xo.devices[i].peak_activations);
      }
      REQUIRE(peak_z <= peak_o);
    }
}

TEST_CASE("ZB-H2: span idle 0 from M = 2P − 1, peak min(2P, M) by simulation", "[schedule][zb_h][sim]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 8; ++p)
    for (int m = 1; m <= 20; ++m) {
      CAPTURE(p, m);
      const schedule s = zb_h2(p, m);
      const schedule_metrics x = measure(s, simulate(s, costs), costs);
      REQUIRE(close(x.max_span_idle, std::max(0, 2 * p - 1 - m)));
      if (m >= 2 * p - 1) REQUIRE(close(x.makespan, 3 * m + p - 1));
      for (int d = 0; d < p; ++d) {
        CAPTURE(d);
        const auto& dev = x.devices[static_cast<std::size_t>(d)];
        REQUIRE(close(dev.busy, 3 * m));
        if (m >= 2 * p - 1) REQUIRE(close(dev.span_idle, 0.0));
        REQUIRE(close(dev.peak_activations, std::min(2 * p, m)));
        REQUIRE(dev.peak_activation_count == std::min(2 * p, m));
      }
    }
}

TEST_CASE("ZB-H1 and ZB-H2 reject P < 1 and M < 1", "[schedule][zb_h]") {
  REQUIRE_THROWS_WITH(zb_h1(0, 4), Catch::Contains("ZB-H1 needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(zb_h1(4, 0), Catch::Contains("ZB-H1 needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(zb_h2(0, 4), Catch::Contains("ZB-H2 needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(zb_h2(4, 0), Catch::Contains("ZB-H2 needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(zb_h2(-3, 2), Catch::Contains("got P = -3"));
}
