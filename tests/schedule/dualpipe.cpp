// DualPipe (REFERENCE §5.10): a hand-checked P = 4 case device by device, validity over a sweep,
// and the bubble, memory, weight-copy, message and reduction claims against the simulation.
//
// Findings (uniform per-stage costs T_F, T_I, T_W, T_B = T_I + T_W, free communication; measured
// on P = 2, 4, 6, 8, M even from 2P to 4P + 2):
//   - with overlap_timing::sum (a pair lasts T_F&B = T_F + T_B) the wall-clock idle
//     (makespan − busy) is the same on every device, and independent of M;
//   - it equals (P/2 − 1)(T_F&B + T_B − 3T_W) on every device when T_I = T_F ≥ T_W, and is then
//     also the span idle (last end − first start − busy) of devices 0 and P − 1. Outside that
//     condition the formula can be too low (2:1:1 and 1:1:2 below). P = 2 never idles;
//   - overlap_timing::max (a pair lasts max(T_F, T_B)) leaves strictly less idle on every device
//     for P ≥ 4;
//   - the order-based peak is P + 1 stage activations = P + 1 stage-units on every device;
//   - two weight copies per device, 2(P − 1) cross-device messages per micro-batch, 2P REDUCE_GRAD.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/dualpipe.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <cstddef>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;
using layerpipe::test::tokens;
using layerpipe::test::require_error;

namespace {

using list = std::vector<std::string>;

schedule_metrics run(const schedule& s, const cost_model& costs) { return measure(s, simulate(s, costs), costs); }

// The bubble formula of §5.10 with T_F&B = T_F + T_B.
double formula(int P, const pass_costs& c) {
  const double fb = c.forward + c.backward();
  return (P / 2 - 1) * (fb + c.backward() - 3.0 * c.weight_grad);
}

// Device P − 1 − r runs device r's list with the directions swapped: stage s ↔ s + P (mod 2P),
// micro-batch m ↔ m + M/2 (mod M).
action mirrored(const action& a, int P, int M) {
  action b = a;
  auto stage = [&](int s) { return (s + P) % (2 * P); };
  auto mb = [&](int m) { return m < 0 ? m : (m + M / 2) % M; };
  b.stage = stage(a.stage);
  b.micro_batch = mb(a.micro_batch);
  if (a.kind == action_kind::overlap_f_b) {
    b.second_stage = stage(a.second_stage);
    b.second_micro_batch = mb(a.second_micro_batch);
  }
  return b;
}

}  // namespace

TEST_CASE("DualPipe P=4 M=8 follows the eight steps device by device", "[generators][dualpipe]") {
  const schedule s = dualpipe(4, 8);
  CHECK(s.name == "DualPipe");
  CHECK(s.micro_batches == 8);
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::bidirectional(placement::loop(4)));
  // Micro-batches 0-3 go down replica 0 (stages 0 1 2 3 on devices 0 1 2 3), 4-7 go up replica 1
  // (stages 4 5 6 7 on devices 3 2 1 0). Device r holds stages r and 7 − r.
  CHECK(s.micro_batch_replica == std::vector<int>{0, 0, 0, 0, 1, 1, 1, 1});
  // P = 4: Ph = 2. Devices 0 and 3 have h = 0: step 1 runs 2(Ph − h − 1) = 2 forwards, steps 2, 6, 8
  // run h + 1 = 1 round, steps 3, 5, 7 run Ph − h − 1 = 1 round, step 4 runs M/2 − P + h + 1 = 1.
  // Device 0: phase 0 = stage 0 (down, micro-batches 0-3), phase 1 = stage 7 (the up direction's
  // loss, micro-batches 4-7). Step 3's W is the W its own I just deferred; step 6's first backward
  // (7B7) is full and its second (0I2) split, so steps 7 and 8 pop 0W2, then 0W3.
  CHECK(tokens(s, 0) == list{"0F0", "0F1",                                       // 1: F0 F0
                             "0F2", "7F4",                                       // 2: F0 F1
                             "7I4", "7W4", "7F5",                                // 3: I1 W F1
                             "(0F3;7B5)OVERLAP_F_B", "(7F6;0B0)OVERLAP_F_B",     // 4: (F0;B1) (F1;B0)
                             "7B6", "(7F7;0B1)OVERLAP_F_B",                      // 5: B1 (F1;B0)
                             "7B7", "0I2",                                       // 6: B1 I0
                             "0W2", "0I3",                                       // 7: W I0
                             "0W3",                                              // 8: W
                             "0REDUCE_GRAD", "7REDUCE_GRAD"});
  // Device 1 is a middle device (h = Ph − 1 = 1): steps 1, 3, 5, 7 are empty, steps 2, 6, 8 run
  // twice, step 4 twice with its first (F0;B1) issued as 1F2 then 6B4 (6 = the up loss stage).
  // Step 6: the first h + 1 = 2 backwards are full (6B6, 1B2), the last 2 split (6I7, 1I3), whose
  // W's step 8 pops in FIFO order.
  CHECK(tokens(s, 1) == list{"1F0", "6F4", "1F1", "6F5",                         // 2: (F0 F1) x2
                             "1F2", "6B4", "(6F6;1B0)OVERLAP_F_B",               // 4, first round
                             "(1F3;6B5)OVERLAP_F_B", "(6F7;1B1)OVERLAP_F_B",     // 4, second round
                             "6B6", "1B2", "6I7", "1I3",                         // 6
                             "6W7", "1W3",                                       // 8
                             "1REDUCE_GRAD", "6REDUCE_GRAD"});
  // Devices 2 and 3 lie in the second half: their phase 0 is the up direction (stages 5 and 4),
  // so each runs its mirror's list with the directions swapped.
  CHECK(tokens(s, 2) == list{"5F4", "2F0", "5F5", "2F1",                         // 2
                             "5F6", "2B0", "(2F2;5B4)OVERLAP_F_B",               // 4, first round
                             "(5F7;2B1)OVERLAP_F_B", "(2F3;5B5)OVERLAP_F_B",     // 4, second round
                             "2B2", "5B6", "2I3", "5I7",                         // 6
                             "2W3", "5W7",                                       // 8
                             "2REDUCE_GRAD", "5REDUCE_GRAD"});
  CHECK(tokens(s, 3) == list{"4F4", "4F5",                                       // 1
                             "4F6", "3F0",                                       // 2
                             "3I0", "3W0", "3F1",                                // 3
                             "(4F7;3B1)OVERLAP_F_B", "(3F2;4B4)OVERLAP_F_B",     // 4
                             "3B2", "(3F3;4B5)OVERLAP_F_B",                      // 5
                             "3B3", "4I6",                                       // 6
                             "4W6", "4I7",                                       // 7
                             "4W7",                                              // 8
                             "3REDUCE_GRAD", "4REDUCE_GRAD"});
  // A pair's halves are on different replicas' stages of one device: forward half first.
  const action pair = s.actions[0][7];
  CHECK(pair.kind == action_kind::overlap_f_b);
  CHECK(pair.first_half() == make_action(action_kind::forward, 0, 3));
  CHECK(pair.second_half() == make_action(action_kind::backward, 7, 5));
  CHECK(s.placement.replica_of(pair.stage) == 0);
  CHECK(s.placement.replica_of(pair.second_stage) == 1);
  validate(s);
}

TEST_CASE("DualPipe P=2 M=4: both devices are middle devices", "[generators][dualpipe]") {
  // Ph = 1, h = 0 on both: F0 F1, then F0 and B1 unoverlapped, one (F1;B0) pair, B1 then I0, W.
  const schedule s = dualpipe(2, 4);
  CHECK(tokens(s, 0) == list{"0F0", "3F2", "0F1", "3B2", "(3F3;0B0)OVERLAP_F_B", "3B3", "0I1", "0W1",
                             "0REDUCE_GRAD", "3REDUCE_GRAD"});
  CHECK(tokens(s, 1) == list{"2F2", "1F0", "2F3", "1B0", "(1F1;2B2)OVERLAP_F_B", "1B1", "2I3", "2W3",
                             "1REDUCE_GRAD", "2REDUCE_GRAD"});
  validate(s);
}

TEST_CASE("DualPipe is valid over a sweep, mirrored and exactly sized", "[generators][dualpipe]") {
  for (int P : {2, 4, 6, 8}) {
    for (int M = 2 * P; M <= 4 * P + 2; M += 2) {
      CAPTURE(P, M);
      const schedule s = dualpipe(P, M);
      CHECK(is_valid(s));
      REQUIRE(s.micro_batch_replica.size() == static_cast<std::size_t>(M));
      for (int m = 0; m < M; ++m) CHECK(s.micro_batch_replica[static_cast<std::size_t>(m)] == (m < M / 2 ? 0 : 1));
      for (int r = 0; r < P; ++r) {
        CAPTURE(r);
        const auto& mine = s.actions[static_cast<std::size_t>(r)];
        const auto& other = s.actions[static_cast<std::size_t>(P - 1 - r)];
        const int h = r < P / 2 ? r : P - 1 - r;
        const bool middle = h == P / 2 - 1;
        CHECK(mine.size() == static_cast<std::size_t>(M + 5 * P / 2 - 2 * h + (middle ? 1 : 0)));
        REQUIRE(mine.size() == other.size());
        // Mirror images up to the two REDUCE_GRADs, which every device lists in stage order.
        for (std::size_t i = 0; i + 2 < mine.size(); ++i) CHECK(mirrored(mine[i], P, M) == other[i]);
        // Each device's overlapped pairs: 2(M/2 − P + h + 1) in step 4 (less one on the middle
        // devices) and Ph − h − 1 in step 5.
        std::size_t pairs = 0;
        for (const action& a : mine) pairs += a.kind == action_kind::overlap_f_b ? 1u : 0u;
        CHECK(pairs == static_cast<std::size_t>(2 * (M / 2 - P + h + 1) - (middle ? 1 : 0) + P / 2 - h - 1));
      }
    }
  }
  // Lowering inserts the transfers of both directions; the result is valid too.
  for (int P : {2, 4, 6}) {
    CAPTURE(P);
    CHECK(is_valid(lower(dualpipe(P, 2 * P + 2))));
  }
}

TEST_CASE("DualPipe bubble is (P/2-1)(T_F&B + T_B - 3T_W) when T_I = T_F >= T_W", "[generators][dualpipe]") {
  // Wall-clock idle = makespan − busy, with a pair timed T_F&B = T_F + T_B (overlap_timing::sum).
  // It holds on every device; devices 0 and P − 1 start at 0 and end last, so it is their span
  // idle as well. Inner devices start later and end earlier: their span idle is smaller.
  for (const pass_costs c : {pass_costs{1, 1, 1}, pass_costs{2, 2, 1}, pass_costs{1, 1, 0.5}, pass_costs{3, 3, 1}}) {
    const cost_model costs = cost_model::uniform(c).with_overlap(overlap_timing::sum);
    for (int P : {2, 4, 6, 8}) {
      for (int M : {2 * P, 2 * P + 2, 4 * P + 2}) {
        CAPTURE(c.forward, c.input_grad, c.weight_grad, P, M);
        const schedule_metrics m = run(dualpipe(P, M), costs);
        for (const device_metrics& d : m.devices) CHECK(close(d.idle, formula(P, c)));
        CHECK(close(m.devices.front().span_idle, formula(P, c)));
        CHECK(close(m.devices.back().span_idle, formula(P, c)));
        if (P >= 4) CHECK(m.devices[1].span_idle < formula(P, c));
      }
    }
  }
  // Outside the condition the idle is still the same on every device and independent of M, but
  // the formula understates it: T_F:T_I:T_W = 2:1:1 idles 4(P/2 − 1) (formula 3(P/2 − 1)),
  // 1:1:2 idles 2(P/2 − 1) (formula P/2 − 1).
  for (int P : {4, 6, 8}) {
    CAPTURE(P);
    const double k = P / 2 - 1;
    for (int M : {2 * P, 4 * P + 2}) {
      const schedule s = dualpipe(P, M);
      const schedule_metrics a = run(s, cost_model::uniform({2, 1, 1}));
      const schedule_metrics b = run(s, cost_model::uniform({1, 1, 2}));
      for (int d = 0; d < P; ++d) {
        CHECK(close(a.devices[static_cast<std::size_t>(d)].idle, 4 * k));
        CHECK(close(b.devices[static_cast<std::size_t>(d)].idle, 2 * k));
      }
      CHECK(formula(P, {2, 1, 1}) < a.devices[0].idle);
      CHECK(formula(P, {1, 1, 2}) < b.devices[0].idle);
    }
  }
}

TEST_CASE("DualPipe with perfectly overlapped pairs idles less", "[generators][dualpipe]") {
  for (const pass_costs c : {pass_costs{1, 1, 1}, pass_costs{2, 2, 1}, pass_costs{1, 2, 1}, pass_costs{2, 1, 1}}) {
    for (int P : {2, 4, 6, 8}) {
      CAPTURE(c.forward, c.input_grad, c.weight_grad, P);
      const schedule s = dualpipe(P, 2 * P + 2);
      const schedule_metrics sum = run(s, cost_model::uniform(c).with_overlap(overlap_timing::sum));
      const schedule_metrics max = run(s, cost_model::uniform(c).with_overlap(overlap_timing::max));
      CHECK(max.makespan < sum.makespan);  // each pair is shorter by min(T_F, T_B)
      for (int d = 0; d < P; ++d) {
        const auto i = static_cast<std::size_t>(d);
        if (P == 2) {
          CHECK(sum.devices[i].idle == 0.0);  // two devices never wait for each other
          CHECK(max.devices[i].idle == 0.0);
        } else {
          CHECK(max.devices[i].idle < sum.devices[i].idle);
        }
      }
    }
  }
}

TEST_CASE("DualPipe memory, weight copies, messages and reductions", "[generators][dualpipe]") {
  const cost_model costs = cost_model::uniform({1, 1, 1});
  for (int P : {2, 4, 6, 8}) {
    for (int M : {2 * P, 2 * P + 2, 4 * P + 2}) {
      CAPTURE(P, M);
      const schedule s = dualpipe(P, M);
      const schedule_metrics m = run(s, costs);
      // Order-based peak, W frees, a pair counts its forward before its backward frees: P + 1
      // activations of one stage (1 stage-unit each, S_model = P) on every device.
      for (const device_metrics& d : m.devices) {
        CHECK(d.peak_activations == P + 1.0);
        CHECK(d.peak_activation_count == P + 1);
      }
      // Two weight copies per device: model stage r of replica 0 and model stage P − 1 − r of
      // replica 1, each the partner of a copy on device P − 1 − r.
      for (int r = 0; r < P; ++r) {
        const auto held = s.placement.stages_on(r);
        REQUIRE(held.size() == 2);
        CHECK(held[0] == r);
        CHECK(held[1] == 2 * P - 1 - r);
        CHECK(s.placement.replica_of(held[0]) == 0);
        CHECK(s.placement.replica_of(held[1]) == 1);
        CHECK(s.placement.model_stage_of(held[1]) == P - 1 - r);
        // The last two actions reduce both copies' gradients.
        const auto& mine = s.actions[static_cast<std::size_t>(r)];
        CHECK(mine[mine.size() - 2] == make_action(action_kind::reduce_grad, r));
        CHECK(mine.back() == make_action(action_kind::reduce_grad, 2 * P - 1 - r));
      }
      // One activation and one gradient per stage boundary of the micro-batch's direction.
      CHECK(m.messages == static_cast<std::size_t>(2 * (P - 1) * M));
      CHECK(m.gradient_reductions == static_cast<std::size_t>(2 * P));
    }
  }
}

TEST_CASE("DualPipe rejects bad sizes, naming the rule and the value", "[generators][dualpipe][errors]") {
  require_error([] { (void)dualpipe(0, 4); }, {"DualPipe", "P >= 1", "P = 0"});
  require_error([] { (void)dualpipe(-2, 4); }, {"P >= 1", "P = -2"});
  require_error([] { (void)dualpipe(2, 0); }, {"M >= 1", "M = 0"});
  require_error([] { (void)dualpipe(3, 12); }, {"DualPipe", "even number of devices", "P % 2 == 0", "P = 3"});
  require_error([] { (void)dualpipe(1, 4); }, {"even number of devices", "P = 1"});
  require_error([] { (void)dualpipe(4, 9); }, {"DualPipe", "even number of micro-batches", "M % 2 == 0", "M = 9"});
  require_error([] { (void)dualpipe(4, 6); }, {"DualPipe", "M >= 2P", "M = 6", "2P = 8"});
  require_error([] { (void)dualpipe(2, 2); }, {"M >= 2P", "M = 2", "2P = 4"});
  CHECK(is_valid(dualpipe(4, 8)));  // the smallest accepted M for P = 4
}
