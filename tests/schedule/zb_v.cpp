// ZB-V (REFERENCE §5.5): hand-checked device lists, validity over a sweep, and the bubble and
// memory claims against the simulation.
//
// Findings (uniform chunk costs T_F = T_I = T_W = T, free communication):
//   - the largest span idle is 2(2P − 1 − M)·T for M < 2P − 1 and 0 from M = 2P − 1 on
//     (REFERENCE says M ≥ 2P; one fewer micro-batch already suffices);
//   - the order-based peak is exactly P stage-units on every device from M = 2P − 1 on;
//   - the makespan is below interleaved 1F1B's (V = 2, same chunk costs) for every P in 2..6 and
//     every M in 1..4P; with P = 1 both are a local loop of equal length.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/schedule/zb_v.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;
using layerpipe::test::tokens;

namespace {

using list = std::vector<std::string>;

}  // namespace

TEST_CASE("ZB-V P=2 M=4 follows the reference table phase by phase", "[generators][zb_v]") {
  const schedule s = zb_v(2, 4);
  CHECK(s.name == "ZB-V");
  CHECK(s.micro_batches == 4);
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::v(2, 2));
  // Device 0 holds stages 0 and 3: warm-up 1 three 0F, no warm-up 2, warm-up 3 two [3F 3I 3W],
  // two steady rounds (the second without a chunk-0 forward), cool-down 2 two [0I 0W].
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "0F2",                                    // warm-up 1
                             "3F0", "3I0", "3W0", "3F1", "3I1", "3W1",               // warm-up 3
                             "0F3", "0I0", "0W0", "3F2", "3I2", "3W2",               // steady
                             "0I1", "0W1", "3F3", "3I3", "3W3",                      // steady, no F0 left
                             "0I2", "0W2", "0I3", "0W3"});                           // cool-down 2
  // Device 1 holds stages 1 and 2 (the local turn): one 1F, one [2F 1F], one [2F 2I 2W], two
  // steady rounds, cool-down 1 [1I 2I] with W's deferred, cool-down 2 [1I 1W], then the tail.
  CHECK(tokens(s, 1) == list{"1F0",                                                  // warm-up 1
                             "2F0", "1F1",                                           // warm-up 2
                             "2F1", "2I0", "2W0",                                    // warm-up 3
                             "1F2", "1I0", "1W0", "2F2", "2I1", "2W1",               // steady
                             "1F3", "1I1", "1W1", "2F3", "2I2", "2W2",               // steady
                             "1I2", "2I3",                                           // cool-down 1
                             "1I3", "1W2",                                           // cool-down 2
                             "2W3", "1W3"});                                         // tail
  validate(s);
}

TEST_CASE("ZB-V with M < 2P - 1 drops the padding micro-batches' ops and keeps the order", "[generators][zb_v]") {
  const schedule s = zb_v(2, 1);
  CHECK(tokens(s, 0) == list{"0F0", "3F0", "3I0", "3W0", "0I0", "0W0"});
  CHECK(tokens(s, 1) == list{"1F0", "2F0", "2I0", "2W0", "1I0", "1W0"});
  validate(s);
  const schedule one = zb_v(1, 2);  // one device: stages 0 and 1, a local loop
  CHECK(tokens(one, 0) == list{"0F0", "1F0", "1I0", "1W0", "0F1", "0I0", "0W0", "1F1", "1I1", "1W1", "0I1", "0W1"});
  validate(one);
}

TEST_CASE("ZB-V is valid for every P in 1..8 and M in 1..24", "[generators][zb_v][sweep]") {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 24; ++m) {
      INFO("P = " << p << ", M = " << m);
      const schedule s = zb_v(p, m);
      REQUIRE(s.num_devices() == p);
      REQUIRE(s.num_stages() == 2 * p);
      for (int d = 0; d < p; ++d) {
        // chunk 0 = stage d, chunk 1 = stage 2P - 1 - d, and nothing else on the device
        REQUIRE(s.actions[static_cast<std::size_t>(d)].size() == static_cast<std::size_t>(6 * m));
        for (const action& a : s.actions[static_cast<std::size_t>(d)]) {
          REQUIRE((a.stage == d || a.stage == 2 * p - 1 - d));
          REQUIRE(is_compute(a.kind));
          REQUIRE(a.kind != action_kind::backward);
        }
      }
      REQUIRE_NOTHROW(validate(s));
    }
  }
}

TEST_CASE("ZB-V span idle is 0 at T_F = T_I = T_W from M = 2P - 1 on, 2(2P-1-M)T below",
          "[generators][zb_v][sim]") {
  for (double t : {1.0, 0.5}) {
    const auto costs = cost_model::uniform({t, t, t});  // chunk costs
    for (int p = 1; p <= 6; ++p) {
      for (int m = 1; m <= 4 * p; ++m) {
        INFO("T = " << t << ", P = " << p << ", M = " << m);
        const schedule s = zb_v(p, m);
        const auto metrics = measure(s, simulate(s, costs), costs);
        const int threshold = 2 * p - 1;
        const double expected = m >= threshold ? 0.0 : 2.0 * (threshold - m) * t;
        CHECK(close(metrics.max_span_idle, expected));
        if (m >= threshold) {
          for (const auto& d : metrics.devices) CHECK(close(d.span_idle, 0.0));
        }
      }
    }
  }
}

TEST_CASE("ZB-V holds P stage-units of activations on every device once M >= 2P - 1",
          "[generators][zb_v][memory]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 6; ++p) {
    for (int m = 2 * p - 1; m <= 4 * p; ++m) {
      INFO("P = " << p << ", M = " << m);
      const schedule s = zb_v(p, m);
      const auto metrics = measure(s, simulate(s, costs), costs);
      for (const auto& d : metrics.devices) {
        CHECK(close(d.peak_activations, static_cast<double>(p)));
        CHECK(d.peak_activation_count == 2 * p);  // 2P half-size chunks
      }
    }
    for (int m = 1; m < 2 * p - 1; ++m) {  // below the threshold: never more than min(M, P)
      INFO("P = " << p << ", M = " << m);
      const schedule s = zb_v(p, m);
      const auto metrics = measure(s, simulate(s, costs), costs);
      for (const auto& d : metrics.devices) CHECK(d.peak_activations <= std::min(m, p) + 1e-9);
    }
  }
}

TEST_CASE("ZB-V finishes before interleaved 1F1B (V = 2) at equal chunk costs", "[generators][zb_v][sim]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 2; p <= 6; ++p) {
    for (int m = 1; m <= 4 * p; ++m) {
      INFO("P = " << p << ", M = " << m);
      const schedule z = zb_v(p, m);
      const schedule i = interleaved_1f1b(p, m, 2);
      const double zb = measure(z, simulate(z, costs), costs).makespan;
      const double il = measure(i, simulate(i, costs), costs).makespan;
      CHECK(zb < il - 1e-9);
    }
  }
}

TEST_CASE("ZB-V rejects P < 1 and M < 1 naming the rule and the value", "[generators][zb_v][error]") {
  REQUIRE_THROWS_AS(zb_v(0, 4), layerpipe::error);
  REQUIRE_THROWS_WITH(zb_v(0, 4), Catch::Contains("ZB-V needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(zb_v(-2, 4), Catch::Contains("got P = -2"));
  REQUIRE_THROWS_WITH(zb_v(2, 0), Catch::Contains("ZB-V needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(zb_v(2, -1), Catch::Contains("got M = -1"));
}
