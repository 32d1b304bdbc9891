// V-Half and V-Min (REFERENCE §5.6): hand-checked device lists, validity over a sweep, and the
// memory, bubble and communication claims against the simulation.
//
// Findings (chunk costs T_F = T_I = T_W = T, free communication; 1F1B at the same model size, a
// stage pass 2T, idles 6(P − 1)T on every device for every M):
//   - every device idles the same wall-clock time (all do 6M passes and share the makespan);
//     V-Half: 3(P − 1)T for even P, (3P − 4)T for odd P ≥ 3, 0 for P = 1, once M ≥ P: exactly ½
//     of 1F1B's for even P, ½ minus T for odd P. V-Min: (4P − 5)T, or (4P − 3)T when P % 3 = 0,
//     once M ≥ 2 (M = 1: (4P − 5)T): ⅔ of 1F1B's minus T, or plus T when P % 3 = 0. For
//     every M both stay within 1F1B's idle;
//   - the largest peak over devices is min(M, ⌊P/2⌋ + 1) stage-units for V-Half and
//     min(M, ⌊(P + 1)/3⌋ + 1) for V-Min (2·that many chunk activations), never above ZB-V's;
//   - 2(2P − 2) messages per micro-batch, twice 1F1B's.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/v_shape.hpp>
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

schedule make(bool half, int p, int m) { return half ? v_half(p, m) : v_min(p, m); }

/// Wall-clock idle of each device, in units of T, with chunk costs T = 1.
std::vector<double> idle_per_device(const schedule& s) {
  const auto costs = cost_model::uniform({1, 1, 1});
  const auto metrics = measure(s, simulate(s, costs), costs);
  std::vector<double> out;
  for (const auto& d : metrics.devices) out.push_back(d.idle);
  return out;
}

/// 1F1B's idle per device at the same model size: one stage = two chunks, so passes cost 2T.
double one_f_one_b_idle(int p, int m) {
  const auto costs = cost_model::uniform({2, 2, 2});
  const schedule s = one_f_one_b(p, m);
  const auto metrics = measure(s, simulate(s, costs), costs);
  double worst = 0.0;
  for (const auto& d : metrics.devices) worst = std::max(worst, d.idle);
  return worst;
}

}  // namespace

TEST_CASE("V-Half P=2 M=4: the block order with W's in the waits", "[generators][v_half]") {
  const schedule s = v_half(2, 4);
  CHECK(s.name == "V-Half");
  CHECK(s.micro_batches == 4);
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::v(2, 2));
  // Block (P = 2, δ = 3): device 0 puts F0, F1, I1, I0 of micro-batch m at slots 0, 4, 8, 13
  // (+ 6m), so its F/I order is 0F0 3F0 0F1 3I0 3F1 0F2 0I0 3I1 3F2 0F3 0I1 3I2 3F3 0I2 3I3 0I3.
  // Run at unit cost, a W takes each step in which the next F/I pass cannot start: 3W0 runs in
  // step 6 because 3F1 waits for 2F1, which device 1 runs in that step; 0W0 because 3F2 waits
  // for 2F2. In the block, device 0 holds at most 4 chunks (its cap); the run never exceeds it.
  CHECK(tokens(s, 0) == list{"0F0", "3F0", "0F1", "3I0", "3W0", "3F1", "0F2", "0I0", "3I1", "0W0", "3W1", "3F2",
                             "0F3", "0I1", "3I2", "0W1", "3W2", "3F3", "0I2", "3I3", "0W2", "3W3", "0I3", "0W3"});
  // Device 1 (slots 2, 3, 10, 12 + 6m): F/I order 1F0 2F0 1F1 2F1 2I0 1I0 1F2 2F2 2I1 1I1 1F3
  // 2F3 2I2 1I2 2I3 1I3, cap 4. After 1I0 it holds 4 chunks, so 1F2, though ready, waits for
  // 2W0 to free one; likewise 1W0 before 2F2. The last W's drain in the order of their I's.
  CHECK(tokens(s, 1) == list{"1F0", "2F0", "1F1", "2F1", "2I0", "1I0", "2W0", "1F2", "1W0", "2F2", "2I1", "1I1",
                             "2W1", "1F3", "1W1", "2F3", "2I2", "1I2", "2W2", "1W2", "2I3", "1I3", "2W3", "1W3"});
  validate(s);
}

TEST_CASE("V-Min P=2 M=3: the block order with W's in the waits", "[generators][v_min]") {
  const schedule s = v_min(2, 3);
  CHECK(s.name == "V-Min");
  CHECK(s.placement == placement::v(2, 2));
  // Block (P = 2, δ = 0): device 0 at slots 0, 3, 4, 7 (+ 6m): F/I order 0F0 3F0 3I0 0F1 0I0
  // 3F1 3I1 0F2 0I1 3F2 3I2 0I2. The block holds at most 2 chunks there (cap 2), so each W
  // follows its I: after 3I0 the next 0F1 is ready but would hold a third activation.
  CHECK(tokens(s, 0) == list{"0F0", "3F0", "3I0", "3W0", "0F1", "0I0", "0W0", "3F1", "3I1", "3W1",
                             "0F2", "0I1", "0W1", "3F2", "3I2", "3W2", "0I2", "0W2"});
  // Device 1 at slots 1, 2, 5, 6 (+ 6m): F/I order 1F0 2F0 2I0 1I0 1F1 2F1 2I1 1I1 1F2 2F2 2I2
  // 1I2, cap 4; 2W0 and 1W0 fill the two steps in which 2I1 waits for 3I1 from device 0.
  CHECK(tokens(s, 1) == list{"1F0", "2F0", "2I0", "1I0", "1F1", "2F1", "2W0", "1W0", "2I1", "1I1",
                             "1F2", "2F2", "2W1", "1W1", "2I2", "1I2", "2W2", "1W2"});
  validate(s);
  // One device (stages 0 and 1, a local loop): slots 0, 1, 2, 3 (+ 6m), cap 2. After 0I0 the
  // next 0F1 would hold a third activation, so 1W0 runs first; likewise 0W0 before 1F1.
  const schedule one = v_min(1, 2);
  CHECK(tokens(one, 0) == list{"0F0", "1F0", "1I0", "0I0", "1W0", "0F1", "0W0", "1F1", "1I1", "0I1", "1W1", "0W1"});
  validate(one);
}

TEST_CASE("V-Half and V-Min are valid for every P in 1..8 and M in 1..24", "[generators][v_half][v_min][sweep]") {
  for (bool half : {true, false}) {
    for (int p = 1; p <= 8; ++p) {
      for (int m = 1; m <= 24; ++m) {
        INFO((half ? "V-Half" : "V-Min") << ", P = " << p << ", M = " << m);
        const schedule s = make(half, p, m);
        REQUIRE(s.num_devices() == p);
        REQUIRE(s.num_stages() == 2 * p);
        REQUIRE(s.placement == placement::v(p, 2));
        for (int d = 0; d < p; ++d) {
          // chunk 0 = stage d, chunk 1 = stage 2P - 1 - d; one F, I, W per (stage, micro-batch)
          REQUIRE(s.actions[static_cast<std::size_t>(d)].size() == static_cast<std::size_t>(6 * m));
          for (const action& a : s.actions[static_cast<std::size_t>(d)]) {
            REQUIRE((a.stage == d || a.stage == 2 * p - 1 - d));
            REQUIRE((a.kind == action_kind::forward || a.kind == action_kind::backward_input ||
                     a.kind == action_kind::backward_weight));
          }
        }
        REQUIRE_NOTHROW(validate(s));
      }
    }
  }
}

TEST_CASE("V-Half idles 3(P-1)T (even P) or (3P-4)T (odd P) once M >= P: half of 1F1B's",
          "[generators][v_half][sim]") {
  for (int p = 1; p <= 10; ++p) {
    for (int m = 1; m <= 3 * p + 2; ++m) {
      INFO("P = " << p << ", M = " << m);
      const std::vector<double> idle = idle_per_device(v_half(p, m));
      const double reference = one_f_one_b_idle(p, m);
      CHECK(close(reference, 6.0 * (p - 1)));
      for (double x : idle) {
        CHECK(close(x, idle.front()));  // the same on every device
        CHECK(x <= reference + 1e-9);   // never worse than 1F1B, whatever M
      }
      if (m < p) continue;
      const double expected = p == 1 ? 0.0 : p % 2 == 0 ? 3.0 * (p - 1) : 3.0 * p - 4.0;
      CHECK(close(idle.front(), expected));
      if (p % 2 == 0) CHECK(close(2.0 * idle.front(), reference));
      else CHECK(close(2.0 * idle.front(), p == 1 ? 0.0 : reference - 2.0));
    }
  }
}

TEST_CASE("V-Min idles (4P-5)T, or (4P-3)T when 3 divides P, once M >= 2: two thirds of 1F1B's",
          "[generators][v_min][sim]") {
  for (int p = 1; p <= 10; ++p) {
    for (int m = 1; m <= 3 * p + 2; ++m) {
      INFO("P = " << p << ", M = " << m);
      const std::vector<double> idle = idle_per_device(v_min(p, m));
      const double reference = one_f_one_b_idle(p, m);
      for (double x : idle) {
        CHECK(close(x, idle.front()));
        CHECK(x <= reference + 1e-9);
      }
      const bool third = p % 3 == 0 && m >= 2;
      const double expected = p == 1 ? 0.0 : 4.0 * p - 5.0 + (third ? 2.0 : 0.0);
      CHECK(close(idle.front(), expected));
      // 3·idle = 2·(1F1B idle) − 3T, or + 3T when 3 divides P
      if (p > 1) CHECK(close(3.0 * idle.front(), 2.0 * reference + (third ? 3.0 : -3.0)));
    }
  }
}

TEST_CASE("V-Half and V-Min peaks: min(M, floor(P/2)+1) and min(M, floor((P+1)/3)+1) stage-units",
          "[generators][v_half][v_min][memory]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 10; ++p) {
    for (int m = 1; m <= 3 * p + 2; ++m) {
      const schedule z = zb_v(p, m);
      double zb_peak = 0.0;
      for (const auto& d : measure(z, simulate(z, costs), costs).devices) zb_peak = std::max(zb_peak, d.peak_activations);
      for (bool half : {true, false}) {
        INFO((half ? "V-Half" : "V-Min") << ", P = " << p << ", M = " << m);
        const schedule s = make(half, p, m);
        const auto metrics = measure(s, simulate(s, costs), costs);
        const int law = std::min(m, half ? p / 2 + 1 : (p + 1) / 3 + 1);
        double peak = 0.0;
        int count = 0;
        for (const auto& d : metrics.devices) {
          peak = std::max(peak, d.peak_activations);
          count = std::max(count, d.peak_activation_count);
        }
        CHECK(close(peak, static_cast<double>(law)));
        CHECK(count == 2 * law);             // chunk activations: half a stage-unit each
        CHECK(peak <= zb_peak + 1e-9);       // never above ZB-V's (P once M >= 2P - 1)
        CHECK(peak <= static_cast<double>(p) + 1e-9);
      }
    }
  }
}

TEST_CASE("V-Half and V-Min send 2(2P-2) messages per micro-batch, twice 1F1B's", "[generators][v_half][v_min][comm]") {
  const auto costs = cost_model::uniform({1, 1, 1});
  for (int p = 1; p <= 8; ++p) {
    for (int m : {1, 3, 2 * p, 4 * p}) {
      const schedule f = one_f_one_b(p, m);
      const std::size_t reference = measure(f, simulate(f, costs), costs).messages;
      for (bool half : {true, false}) {
        INFO((half ? "V-Half" : "V-Min") << ", P = " << p << ", M = " << m);
        const schedule s = make(half, p, m);
        const std::size_t messages = measure(s, simulate(s, costs), costs).messages;
        CHECK(messages == static_cast<std::size_t>(m) * 2u * static_cast<std::size_t>(2 * p - 2));
        CHECK(messages == 2u * reference);
      }
    }
  }
}

TEST_CASE("V-Half and V-Min reject P < 1, M < 1 and too many stages, naming the rule and the value",
          "[generators][v_half][v_min][error]") {
  REQUIRE_THROWS_AS(v_half(0, 4), layerpipe::error);
  REQUIRE_THROWS_WITH(v_half(0, 4), Catch::Contains("V-Half needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(v_half(-3, 4), Catch::Contains("got P = -3"));
  REQUIRE_THROWS_WITH(v_half(2, 0), Catch::Contains("V-Half needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(v_half(2, -1), Catch::Contains("got M = -1"));
  REQUIRE_THROWS_AS(v_min(0, 4), layerpipe::error);
  REQUIRE_THROWS_WITH(v_min(0, 4), Catch::Contains("V-Min needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(v_min(3, 0), Catch::Contains("V-Min needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(v_min(3, -7), Catch::Contains("got M = -7"));
  // 2P stages must fit a 32-bit stage index: checked before anything is allocated.
  REQUIRE_THROWS_WITH(v_half(1 << 30, 1),
                      Catch::Contains("V-Half: the number of stages V·P must fit in a 32-bit index, got V·P = 2147483648"));
  REQUIRE_THROWS_WITH(v_min(1 << 30, 1), Catch::Contains("V-Min: the number of stages V·P must fit"));
}
