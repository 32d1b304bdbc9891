// DualPipeV (REFERENCE §5.11): hand-checked device lists, validity over a sweep, and the bubble,
// memory and message claims against the simulation.
//
// Findings (uniform chunk costs T_F, T_I, T_W, T_B = T_I + T_W, free communication; measured on
// P = 1..7, M = 2P..4P+3 and T_F, T_I, T_W in {0.5, 1, ..., 3}):
//   - with overlap_timing::sum (a pair lasts T_F&B = T_F + T_B) the wall-clock idle
//     (makespan − busy) is the same on every device, and independent of M;
//   - it equals (P − 1)(T_F&B + T_B − 3T_W) = (P − 1)(T_F + 2T_I − T_W) on every device when
//     T_I = T_F ≥ T_W (device 0 also has that span idle; device d > 0 starts later and stops
//     earlier, so its span idle is smaller). Outside that condition the formula is not the idle:
//     when T_I ≤ min(T_F, T_W) the idle is 2(P − 1)T_F on every device, more than the formula
//     unless T_I = T_F = T_W;
//   - overlap_timing::max (a pair lasts max(T_F, T_B)) leaves strictly less idle on every device
//     for P ≥ 2;
//   - the order-based peak is 2P + 1 chunk activations = P + 1/2 stage-units on every device;
//   - 2(2P − 2) cross-device messages per micro-batch.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/dualpipe_v.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <climits>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;
using layerpipe::test::tokens;

namespace {

using list = std::vector<std::string>;

schedule_metrics run(const schedule& s, const cost_model& costs) { return measure(s, simulate(s, costs), costs); }

}  // namespace

TEST_CASE("DualPipeV P=2 M=4 follows the eight steps device by device", "[generators][dualpipe_v]") {
  const schedule s = dualpipe_v(2, 4);
  CHECK(s.name == "DualPipeV");
  CHECK(s.micro_batches == 4);
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::v(2, 2));
  // Device 0 (r = 0) holds stages 0 (chunk 0) and 3 (chunk 1, the loss). Counts: step 1
  // 2(P−r−1) = 2, steps 2, 6, 8 r+1 = 1, steps 3, 5, 7 P−r−1 = 1, step 4 M−2P+r+1 = 1.
  // Step 3's W is the one its I just deferred; step 6 (even r, ⌊(r+1)/2⌋ = 0) keeps B for chunk 1
  // and switches chunk 0 to I at once, so 0I2 and (step 7) 0I3 leave W's for steps 7 and 8.
  CHECK(tokens(s, 0) == list{"0F0", "0F1",                                           // 1: F0 F0
                             "0F2", "3F0",                                           // 2: F0 F1
                             "3I0", "3W0", "3F1",                                    // 3: I1 W F1
                             "(0F3;3B1)OVERLAP_F_B", "(3F2;0B0)OVERLAP_F_B",         // 4
                             "3B2", "(3F3;0B1)OVERLAP_F_B",                          // 5: B1 (F1;B0)
                             "3B3", "0I2",                                           // 6: B1 I0
                             "0W2", "0I3",                                           // 7: W I0
                             "0W3"});                                                // 8: W
  // Device 1 (r = 1 = P − 1) holds stages 1 and 2, the local turn. Steps 1, 3, 5, 7 are empty;
  // step 2 runs twice; step 4 runs M−2P+r+1 = 2 times, the first (F0;B1) split into 1F2, 2B0 as
  // the last device does; step 6 (odd r, ⌊(r+1)/2⌋ = 1) is B B, then I I; step 8 two W's, FIFO.
  CHECK(tokens(s, 1) == list{"1F0", "2F0", "1F1", "2F1",                             // 2: F0 F1 twice
                             "1F2", "2B0", "(2F2;1B0)OVERLAP_F_B",                   // 4, first round
                             "(1F3;2B1)OVERLAP_F_B", "(2F3;1B1)OVERLAP_F_B",         // 4, second round
                             "2B2", "1B2", "2I3", "1I3",                             // 6
                             "2W3", "1W3"});                                         // 8
  // 16 = 2M + 5P − 2r − 2 actions on device 0, one more on the last device.
  CHECK(s.actions[0].size() == 16);
  CHECK(s.actions[1].size() == 15);
  // Overlapped pairs are compound actions: the forward half first, the backward half a full B.
  const action pair = s.actions[0][7];
  CHECK(pair.kind == action_kind::overlap_f_b);
  CHECK(pair.first_half() == make_action(action_kind::forward, 0, 3));
  CHECK(pair.second_half() == make_action(action_kind::backward, 3, 1));
  CHECK(parse_action("(0F3;3B1)OVERLAP_F_B") == pair);
  validate(s);
}

TEST_CASE("DualPipeV on one device is a local loop over stages 0 and 1", "[generators][dualpipe_v]") {
  // P = 1, M = 2: step 2 once, step 4 once with the first pair split (the device is the last),
  // step 6 as B1 then I0 (r = 0 is even), step 8 the one deferred W.
  const schedule s = dualpipe_v(1, 2);
  CHECK(tokens(s, 0) == list{"0F0", "1F0", "0F1", "1B0", "(1F1;0B0)OVERLAP_F_B", "1B1", "0I1", "0W1"});
  validate(s);
}

TEST_CASE("DualPipeV is valid for every P in 1..8 and M in 2P..4P+3", "[generators][dualpipe_v][sweep]") {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 2 * p; m <= 4 * p + 3; ++m) {
      INFO("P = " << p << ", M = " << m);
      const schedule s = dualpipe_v(p, m);
      REQUIRE(s.num_devices() == p);
      REQUIRE(s.num_stages() == 2 * p);
      for (int r = 0; r < p; ++r) {
        const auto& actions = s.actions[static_cast<std::size_t>(r)];
        const int stage0 = r, stage1 = 2 * p - 1 - r;
        const bool last = r == p - 1;
        REQUIRE(actions.size() == static_cast<std::size_t>(2 * m + 5 * p - 2 * r - 2 + (last ? 1 : 0)));
        // Per chunk: M forwards, M backwards (B or I), one W per I, W's in the order of their I's.
        int forwards[2] = {0, 0}, backwards[2] = {0, 0}, pairs = 0;
        std::vector<std::pair<int, int>> inputs, weights;
        auto chunk = [&](int stage) {
          REQUIRE((stage == stage0 || stage == stage1));
          return stage == stage0 ? 0 : 1;
        };
        for (const action& a : actions) {
          if (a.kind == action_kind::overlap_f_b) {
            ++pairs;
            REQUIRE(a.second_kind == action_kind::backward);
            REQUIRE(chunk(a.stage) != chunk(a.second_stage));  // F of one chunk, B of the other
            ++forwards[chunk(a.stage)];
            ++backwards[chunk(a.second_stage)];
            continue;
          }
          const int c = chunk(a.stage);
          switch (a.kind) {
            case action_kind::forward: ++forwards[c]; break;
            case action_kind::backward: ++backwards[c]; break;
            case action_kind::backward_input:
              ++backwards[c];
              inputs.emplace_back(a.stage, a.micro_batch);
              break;
            case action_kind::backward_weight: weights.emplace_back(a.stage, a.micro_batch); break;
            default: FAIL("unexpected action " << to_string(a));
          }
        }
        REQUIRE(forwards[0] == m);
        REQUIRE(forwards[1] == m);
        REQUIRE(backwards[0] == m);
        REQUIRE(backwards[1] == m);
        REQUIRE(weights == inputs);  // FIFO: W's come in the order their I's were issued
        REQUIRE(inputs.size() == static_cast<std::size_t>(2 * (p - r - 1) + r + 1));
        REQUIRE(pairs == 2 * (m - 2 * p + r + 1) - (last ? 1 : 0) + (p - r - 1));
      }
      REQUIRE_NOTHROW(validate(s));
    }
  }
}

TEST_CASE("DualPipeV idle is (P-1)(T_F&B + T_B - 3T_W) on every device when T_I = T_F >= T_W",
          "[generators][dualpipe_v][sim]") {
  // Chunk costs {T_F, T_I, T_W} with T_I = T_F >= T_W; pairs last T_F&B = T_F + T_B.
  for (const pass_costs c : {pass_costs{1, 1, 1}, pass_costs{1, 1, 0.5}, pass_costs{1, 1, 0.25},
                             pass_costs{2, 2, 1.5}}) {
    const auto costs = cost_model::uniform(c);  // overlap_timing::sum is the default
    REQUIRE(costs.overlap() == overlap_timing::sum);
    const double t_fb = c.forward + c.backward();
    for (int p = 1; p <= 8; ++p) {
      for (int m = 2 * p; m <= 4 * p + 3; ++m) {
        INFO("T = " << c.forward << ":" << c.input_grad << ":" << c.weight_grad << ", P = " << p << ", M = " << m);
        const schedule s = dualpipe_v(p, m);
        const auto metrics = run(s, costs);
        const double expected = (p - 1) * (t_fb + c.backward() - 3 * c.weight_grad);
        // Wall-clock idle (makespan − busy) on every device.
        for (const auto& d : metrics.devices) CHECK(close(d.idle, expected));
        // Span idle: the formula on device 0, which starts first and finishes last; less on the
        // others (they start d forwards late).
        CHECK(close(metrics.devices[0].span_idle, expected));
        CHECK(close(metrics.max_span_idle, expected));
        for (std::size_t d = 1; d < metrics.devices.size(); ++d) CHECK(metrics.devices[d].span_idle < expected - 1e-9);
      }
    }
  }
}

TEST_CASE("DualPipeV idle is 2(P-1)T_F, not the formula, when T_I <= min(T_F, T_W)", "[generators][dualpipe_v][sim]") {
  // The reference formula assumes the steady state sets the drain; with a cheap I the forwards'
  // start-up skew dominates instead.
  for (const pass_costs c : {pass_costs{2, 1, 1}, pass_costs{1, 1, 2}, pass_costs{1, 0.5, 0.5}, pass_costs{1, 0.25, 1}}) {
    const auto costs = cost_model::uniform(c);
    const double formula_per_device = c.forward + 2 * c.backward() - 3 * c.weight_grad;
    for (int p = 2; p <= 7; ++p) {
      for (int m = 2 * p; m <= 4 * p + 3; ++m) {
        INFO("T = " << c.forward << ":" << c.input_grad << ":" << c.weight_grad << ", P = " << p << ", M = " << m);
        const auto metrics = run(dualpipe_v(p, m), costs);
        for (const auto& d : metrics.devices) {
          CHECK(close(d.idle, 2.0 * (p - 1) * c.forward));
          CHECK(d.idle > (p - 1) * formula_per_device + 1e-9);
        }
      }
    }
  }
}

TEST_CASE("DualPipeV with perfect overlap (max) idles less than with sum", "[generators][dualpipe_v][sim]") {
  for (const pass_costs c : {pass_costs{1, 1, 1}, pass_costs{1, 2, 1}, pass_costs{2, 1, 1}, pass_costs{1, 1, 0.25}}) {
    const auto sum = cost_model::uniform(c).with_overlap(overlap_timing::sum);
    const auto max = cost_model::uniform(c).with_overlap(overlap_timing::max);
    for (int p = 2; p <= 6; ++p) {
      for (int m = 2 * p; m <= 4 * p + 3; ++m) {
        INFO("T = " << c.forward << ":" << c.input_grad << ":" << c.weight_grad << ", P = " << p << ", M = " << m);
        const schedule s = dualpipe_v(p, m);
        const auto with_sum = run(s, sum);
        const auto with_max = run(s, max);
        for (std::size_t d = 0; d < with_sum.devices.size(); ++d)
          CHECK(with_max.devices[d].idle < with_sum.devices[d].idle - 1e-9);
        CHECK(with_max.makespan < with_sum.makespan - 1e-9);
      }
    }
  }
}

TEST_CASE("DualPipeV holds 2P + 1 chunk activations = P + 1/2 stage-units on every device",
          "[generators][dualpipe_v][memory]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 8; ++p) {
    for (int m = 2 * p; m <= 4 * p + 3; ++m) {
      INFO("P = " << p << ", M = " << m);
      const auto metrics = run(dualpipe_v(p, m), costs);
      for (const auto& d : metrics.devices) {
        CHECK(d.peak_activation_count == 2 * p + 1);
        CHECK(close(d.peak_activations, p + 0.5));
      }
    }
  }
}

TEST_CASE("DualPipeV sends 2(2P - 2) messages per micro-batch", "[generators][dualpipe_v][comm]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 8; ++p) {
    for (int m = 2 * p; m <= 2 * p + 3; ++m) {
      INFO("P = " << p << ", M = " << m);
      const auto metrics = run(dualpipe_v(p, m), costs);
      // 2P − 1 stage boundaries, one of them (the turn on device P − 1) local, each crossed by
      // an activation and a gradient.
      CHECK(metrics.messages == static_cast<std::size_t>(2 * (2 * p - 2) * m));
    }
  }
}

TEST_CASE("DualPipeV rejects P < 1 and M < 2P naming the rule and the value", "[generators][dualpipe_v][error]") {
  REQUIRE_THROWS_AS(dualpipe_v(0, 4), layerpipe::error);
  REQUIRE_THROWS_WITH(dualpipe_v(0, 4), Catch::Contains("DualPipeV needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(dualpipe_v(-3, 4), Catch::Contains("got P = -3"));
  REQUIRE_THROWS_WITH(dualpipe_v(2, 0), Catch::Contains("DualPipeV needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_AS(dualpipe_v(2, 3), layerpipe::error);
  REQUIRE_THROWS_WITH(dualpipe_v(2, 3),
                      Catch::Contains("DualPipeV needs at least as many micro-batches as stages (M >= 2P), got M = 3 "
                                      "with 2P = 4"));
  REQUIRE_THROWS_WITH(dualpipe_v(1, 1), Catch::Contains("got M = 1 with 2P = 2"));
  REQUIRE_NOTHROW(dualpipe_v(2, 4));  // the boundary itself is accepted
  // 2P overflows an int here: the rule is still checked, in 64 bits, before anything is allocated.
  REQUIRE_THROWS_WITH(dualpipe_v(INT_MAX, INT_MAX), Catch::Contains("with 2P = 4294967294"));
}
