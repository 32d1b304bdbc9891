// ZB1P (REFERENCE §5.3; PyTorch ScheduleInterleavedZeroBubble): hand-checked device lists, the
// order against a restatement of PyTorch's per-op rules, validity over a sweep, and the bubble
// and memory laws against the simulation.
//
// Findings (uniform chunk costs T_F = T_I = T_W = T, free communication, every accepted
// P ≤ 6, V ≤ 3, M ≤ 4P):
//   - M ≥ P: makespan (3MV + P − 1)·T; idle (P − 1)·T on every device, span idle (P − 1 − d)·T;
//     interleaved 1F1B (Megatron order, same V) idles 3(P − 1)·T;
//   - M < P: makespan ≥ (2VP + 2M − 1)·T, exactly (2VP + 1)·T at M = 1; below interleaved 1F1B's;
//   - order-based peak on device d: min(W_d + 1 + min(d, MV − W_d), MV) chunk activations,
//     W_d = min((V − 1)·n_r + P − 1 − d, MV); for M ≥ P the same (V − 1)·n_r + P on every device.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/schedule/zb1p.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;
using layerpipe::test::tokens;

namespace {

using list = std::vector<std::string>;

bool accepted(int p, int m) { return m % std::max(1, m / p) == 0; }

// PyTorch's rules for one rank, restated op by op the way its generator states them (stage of op
// k from ⌊k/n_r⌋ mod V, micro-batches from per-stage counters, W's from a queue of backward op
// ids), independent of the generator's table cursors.
std::vector<action> pytorch_rank_order(int p, int m, int v, int rank) {
  const int rounds = std::max(1, m / p);
  const int n_r = m / rounds;
  const int total = m * v;
  const int warmup = std::min((v - 1) * n_r + (p - 1 - rank), total);
  const auto forward_stage = [&](int op) { return ((op / n_r) % v) * p + rank; };
  const auto backward_stage = [&](int op) { return (v - 1 - ((op - warmup) / n_r) % v) * p + rank; };
  std::map<int, int> next_f, next_i, next_w;
  std::deque<int> pending;  // backward op ids whose W is not emitted yet
  std::vector<action> out;
  const auto emit_w = [&] {
    const int stage = backward_stage(pending.front());
    pending.pop_front();
    out.push_back(make_action(action_kind::backward_weight, stage, next_w[stage]++));
  };
  for (int op = 0; op < warmup + total; ++op) {
    if (op < total) {
      const int stage = forward_stage(op);
      out.push_back(make_action(action_kind::forward, stage, next_f[stage]++));
    }
    if (op < warmup) continue;
    const int stage = backward_stage(op);
    out.push_back(make_action(action_kind::backward_input, stage, next_i[stage]++));
    pending.push_back(op);
    if (op - warmup >= rank) emit_w();
  }
  while (!pending.empty()) emit_w();
  return out;
}

int warmup_of(int p, int m, int v, int d) {
  return std::min((v - 1) * zb1p_round_size(p, m) + (p - 1 - d), m * v);
}

}  // namespace

TEST_CASE("ZB1P P=2 M=4 V=2 matches PyTorch's order device by device", "[generators][zb1p]") {
  const schedule s = zb1p(2, 4, 2);
  CHECK(s.name == "ZB1P");
  CHECK(s.micro_batches == 4);
  CHECK(s.level == schedule_level::compute_only);
  CHECK_FALSE(s.forward_only);
  CHECK(s.placement == placement::loop(2, 2));
  // rounds = 2, n_r = 2. Device 0 (stages 0, 2): warm-up (V-1)·n_r + P-1 = 3 forwards; steady
  // F I W from the first step (d = 0); the cool-down I's carry their W's.
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "2F0",                                   // warm-up
                             "2F1", "2I0", "2W0", "0F2", "2I1", "2W1", "0F3", "0I0", "0W0",
                             "2F2", "0I1", "0W1", "2F3", "2I2", "2W2",              // steady
                             "2I3", "2W3", "0I2", "0W2", "0I3", "0W3"});            // cool-down
  // Device 1 (stages 1, 3): warm-up 2; the first steady step holds its W back, so every later
  // W is one I behind, and the last W drains at the end.
  CHECK(tokens(s, 1) == list{"1F0", "1F1",                                          // warm-up
                             "3F0", "3I0", "3F1", "3I1", "3W0", "1F2", "1I0", "3W1",
                             "1F3", "1I1", "1W0", "3F2", "3I2", "1W1", "3F3", "3I3", "3W2",  // steady
                             "1I2", "3W3", "1I3", "1W2",                            // cool-down
                             "1W3"});                                               // drain
  validate(s);
}

TEST_CASE("ZB1P with one chunk or fewer micro-batches than devices", "[generators][zb1p]") {
  // V = 1: the deferred W drains oldest first (ZB-H1 would end 1W1 1W0).
  const schedule one = zb1p(2, 2, 1);
  CHECK(one.placement == placement::loop(2, 1));
  CHECK(tokens(one, 0) == list{"0F0", "0F1", "0I0", "0W0", "0I1", "0W1"});
  CHECK(tokens(one, 1) == list{"1F0", "1I0", "1F1", "1I1", "1W0", "1W1"});
  validate(one);
  // M < P: one round of n_r = M; device 0's warm-up is capped at MV (all forwards first).
  const schedule few = zb1p(3, 2, 2);
  CHECK(tokens(few, 0) == list{"0F0", "0F1", "3F0", "3F1", "3I0", "3W0", "3I1", "3W1", "0I0", "0W0", "0I1", "0W1"});
  CHECK(tokens(few, 1) == list{"1F0", "1F1", "4F0", "4F1", "4I0", "4I1", "4W0", "1I0", "4W1", "1I1", "1W0", "1W1"});
  CHECK(tokens(few, 2) == list{"2F0", "2F1", "5F0", "5I0", "5F1", "5I1", "2I0", "5W0", "2I1", "5W1", "2W0", "2W1"});
  validate(few);
}

TEST_CASE("ZB1P round size follows PyTorch's rounds rule", "[generators][zb1p]") {
  CHECK(zb1p_round_size(4, 3) == 3);   // M < P: one round
  CHECK(zb1p_round_size(4, 4) == 4);
  CHECK(zb1p_round_size(4, 10) == 5);  // 2 rounds of 5 (PyTorch's own example)
  CHECK(zb1p_round_size(4, 12) == 4);
  CHECK(zb1p_round_size(1, 7) == 1);
  // P = 4, M in 1..16: rounds 2 for M in 8..11 and 3 for M in 12..15 reject exactly these.
  std::vector<int> rejected;
  for (int m = 1; m <= 16; ++m) {
    try {
      (void)zb1p(4, m, 2);
    } catch (const layerpipe::error&) {
      rejected.push_back(m);
    }
  }
  CHECK(rejected == std::vector<int>{9, 11, 13, 14});
}

TEST_CASE("ZB1P equals PyTorch's rules and is valid for every accepted P in 1..6, V in 1..3, M in 1..4P",
          "[generators][zb1p][sweep]") {
  int checked = 0;
  for (int p = 1; p <= 6; ++p) {
    for (int v = 1; v <= 3; ++v) {
      for (int m = 1; m <= 4 * p; ++m) {
        INFO("P = " << p << ", V = " << v << ", M = " << m);
        if (!accepted(p, m)) {
          REQUIRE_THROWS_AS(zb1p(p, m, v), layerpipe::error);
          continue;
        }
        const schedule s = zb1p(p, m, v);
        REQUIRE(s.num_devices() == p);
        REQUIRE(s.num_stages() == p * v);
        for (int d = 0; d < p; ++d) {
          const auto& actions = s.actions[static_cast<std::size_t>(d)];
          REQUIRE(actions.size() == static_cast<std::size_t>(3 * m * v));
          for (const action& a : actions) {
            REQUIRE(a.stage % p == d);  // loop placement: only the device's own chunks
            REQUIRE(is_compute(a.kind));
            REQUIRE(a.kind != action_kind::backward);
          }
          REQUIRE(actions == pytorch_rank_order(p, m, v, d));
        }
        REQUIRE_NOTHROW(validate(s));
        ++checked;
      }
    }
  }
  CHECK(checked == 189);  // 63 accepted (P, M) pairs × 3 values of V: the rule rejects the other 21 of 84
}

TEST_CASE("ZB1P idles (P - 1)T per device at T_F = T_I = T_W once M >= P, a third of interleaved 1F1B",
          "[generators][zb1p][sim]") {
  for (double t : {1.0, 0.5}) {
    const auto costs = cost_model::uniform({t, t, t});  // chunk costs
    for (int p = 1; p <= 6; ++p) {
      for (int v = 1; v <= 3; ++v) {
        for (int m = 1; m <= 4 * p; ++m) {
          if (!accepted(p, m)) continue;
          INFO("T = " << t << ", P = " << p << ", V = " << v << ", M = " << m);
          const schedule s = zb1p(p, m, v);
          const auto metrics = measure(s, simulate(s, costs), costs);
          const double busy = 3.0 * m * v * t;
          for (const auto& d : metrics.devices) CHECK(close(d.busy, busy));
          if (m >= p) {
            CHECK(close(metrics.makespan, busy + (p - 1) * t));
            for (std::size_t d = 0; d < metrics.devices.size(); ++d) {
              CHECK(close(metrics.devices[d].idle, (p - 1) * t));
              CHECK(close(metrics.devices[d].span_idle, (p - 1 - static_cast<int>(d)) * t));
            }
          } else {
            CHECK(metrics.makespan >= (2.0 * v * p + 2.0 * m - 1.0) * t - 1e-9);
            if (m == 1) CHECK(close(metrics.makespan, (2.0 * v * p + 1.0) * t));
          }
          if (v >= 2) {
            const schedule i = interleaved_1f1b(p, m, v);
            const double il = measure(i, simulate(i, costs), costs).makespan;
            if (m >= p) CHECK(close(il, busy + 3.0 * (p - 1) * t));
            if (p >= 2) CHECK(metrics.makespan < il - 1e-9);
            else CHECK(close(metrics.makespan, il));
          }
        }
      }
    }
  }
}

TEST_CASE("ZB1P peak activations: warm-up, one F and the d held-back W's", "[generators][zb1p][memory]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 6; ++p) {
    for (int v = 1; v <= 3; ++v) {
      for (int m = 1; m <= 4 * p; ++m) {
        if (!accepted(p, m)) continue;
        INFO("P = " << p << ", V = " << v << ", M = " << m);
        const schedule s = zb1p(p, m, v);
        const auto metrics = measure(s, simulate(s, costs), costs);
        const int total = m * v, n_r = zb1p_round_size(p, m);
        for (int d = 0; d < p; ++d) {
          const auto& dm = metrics.devices[static_cast<std::size_t>(d)];
          const int w = warmup_of(p, m, v, d);
          const int expected = std::min(w + 1 + std::min(d, total - w), total);
          CHECK(dm.peak_activation_count == expected);
          CHECK(close(dm.peak_activations, static_cast<double>(expected) / v));  // a chunk is 1/V stage
          if (m >= p) CHECK(dm.peak_activation_count == (v - 1) * n_r + p);
          if (m % p == 0) CHECK(close(dm.peak_activations, static_cast<double>(p)));
        }
      }
    }
  }
}

TEST_CASE("ZB1P rejects bad sizes naming the rule and the value", "[generators][zb1p][error]") {
  using layerpipe::test::require_error;
  require_error([] { zb1p(0, 4, 2); }, {"ZB1P needs at least one device (P >= 1)", "got P = 0"});
  require_error([] { zb1p(2, 0, 2); }, {"ZB1P needs at least one micro-batch (M >= 1)", "got M = 0"});
  require_error([] { zb1p(2, -3, 2); }, {"got M = -3"});
  require_error([] { zb1p(2, 4, 0); }, {"ZB1P needs at least one chunk per device (V >= 1)", "got V = 0"});
  require_error([] { zb1p(2, 4, -1); }, {"got V = -1"});
  require_error([] { zb1p(4, 9, 2); },
                {"multiple of the number of rounds", "M = 9", "P = 4", "give 2 rounds", "M mod 2 = 1"});
  require_error([] { zb1p(3, 7, 2); }, {"M = 7", "P = 3", "give 2 rounds"});
  require_error([] { zb1p_round_size(2, 5); }, {"M = 5", "P = 2", "give 2 rounds", "M mod 2 = 1"});
  require_error([] { zb1p(1 << 30, 1, 4); }, {"ZB1P", "32-bit index", "V·P = 4294967296"});
}
