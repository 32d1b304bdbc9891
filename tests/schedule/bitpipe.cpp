// BitPipe (REFERENCE §5.9): a hand-checked grid, validity over a sweep, and the bubble, memory,
// message and gradient-reduction claims against the simulation.
//
// Findings (measured on P in {2, 4, 6, 8}, M in {P, 2P, 3P, 4P}; free communication; cost model
// per chunk, i.e. per each of the 4P stages: T_F = 1, T_B = T_I + T_W = 0.5 + 0.5 = 1, so the
// "T_F = T_B" slots of the paper are chunk passes; a stage-unit of work costs twice that):
//   - every device is busy 4M (2M chunk forwards and 2M chunk backwards) and the makespan is
//     exactly 4M + P − 2, so the wall-clock bubble ratio is (D − 2)/(4N + D − 2) with D = P
//     devices and N = M micro-batches (all of them, both directions), for every M, not only
//     M = P: the middle units' partial drains cost nothing at T_F = T_B. The idle P − 2 chunk
//     slots are (P − 2)/2 stage slots: half Chimera's D − 2 at the same stage-slot costs;
//   - at T_B = 2 T_F (chunk T_F = T_I = T_W = 1) the drains do cost: the makespan is
//     6M + (P − 2)(M/P + 1), i.e. P − 2 more idle slots per middle unit (measured, same sweep);
//   - span idle of device d is P − 2 − 2h chunk slots, h = min(d, P − 1 − d): P − 2 at the ends,
//     0 in the middle; the eager REDUCE_GRADs add no wait;
//   - order-based peak activations on device d are (3P + 2 + 2h)/4 stage-units, whatever M:
//     (3P + 2)/4 on devices 0 and P − 1, rising by 1/2 per device to P on the middle two;
//   - 2(2P − 2) messages per micro-batch (the V turns are local), 4P gradient reductions.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/bitpipe.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/validate.hpp>
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
using layerpipe::test::require_error;

namespace {

using list = std::vector<std::string>;

// Chunk passes cost 1 forward and 1 backward: the paper's T_F = T_B slots.
cost_model chunk_slots() { return cost_model::uniform({.forward = 1.0, .input_grad = 0.5, .weight_grad = 0.5}); }

}  // namespace

TEST_CASE("BitPipe P=4 M=4 follows the reference construction step by step", "[generators][bitpipe]") {
  const schedule s = bitpipe(4, 4);
  CHECK(s.name == "BitPipe");
  CHECK(s.micro_batches == 4);
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::bidirectional(placement::v(4, 2)));
  // x mod P < P/2 goes down: micro-batches 0, 1 down (replica 0), 2, 3 up (replica 1).
  CHECK(s.micro_batch_replica == std::vector<int>{0, 0, 1, 1});
  // Stages: down V 0..7 (0 1 2 3 on devices 0 1 2 3, then 4 5 6 7 back on 3 2 1 0), up V 8..15
  // (8 9 10 11 on devices 3 2 1 0, then 12 13 14 15 on 0 1 2 3). Device d's chunks:
  // 0 = down d, 1 = up 11 − d, 2 = down 7 − d, 3 = up 12 + d.
  //
  // Device 0 (a = 0, h = 0, u = 2, warm-up W = 6). Forward order of the unit: u × chunk 0
  // (0F0 0F1), u × [chunk 1, chunk 3] (11F2 12F2 11F3 12F3: the up micro-batches turn locally
  // from stage 11 to 12), u × chunk 2 (7F0 7F1). The first six are the warm-up; then u × (F, B)
  // pairs: stage 7 ends the down V, so each 7F is followed by its own 7B. The cool-down runs the
  // remaining backwards in order [chunk 3, chunk 1] × u, u × chunk 0, each stage's REDUCE_GRAD
  // right after its last backward.
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "11F2", "12F2", "11F3", "12F3",   // warm-up
                             "7F0", "7B0", "7F1", "7B1", "7REDUCE_GRAD",    // u × (F, B)
                             "12B2", "11B2", "12B3", "12REDUCE_GRAD", "11B3", "11REDUCE_GRAD",
                             "0B0", "0B1", "0REDUCE_GRAD"});                 // cool-down
  // Device 1 (a = 0, h = 1, u = 1, W = 7): forwards 1F0, [10F2 1F1], [10F3 13F2], [6F0 13F3],
  // 6F1 — warm-up takes seven, the one (F, B) pair is 6F1 6B0; backwards 6B0, [13B2 6B1],
  // [13B3 10B2], [1B0 10B3], 1B1.
  CHECK(tokens(s, 1) == list{"1F0", "10F2", "1F1", "10F3", "13F2", "6F0", "13F3",  // warm-up
                             "6F1", "6B0",                                         // u × (F, B)
                             "13B2", "6B1", "6REDUCE_GRAD", "13B3", "13REDUCE_GRAD", "10B2", "1B0",
                             "10B3", "10REDUCE_GRAD", "1B1", "1REDUCE_GRAD"});
  // Devices 2 and 3 mirror 1 and 0 with the directions swapped (a = 1: chunk 1 leads).
  CHECK(tokens(s, 2) == list{"9F2", "2F0", "9F3", "2F1", "5F0", "14F2", "5F1",
                             "14F3", "14B2",
                             "5B0", "14B3", "14REDUCE_GRAD", "5B1", "5REDUCE_GRAD", "2B0", "9B2",
                             "2B1", "2REDUCE_GRAD", "9B3", "9REDUCE_GRAD"});
  CHECK(tokens(s, 3) == list{"8F2", "8F3", "3F0", "4F0", "3F1", "4F1",
                             "15F2", "15B2", "15F3", "15B3", "15REDUCE_GRAD",
                             "4B0", "3B0", "4B1", "4REDUCE_GRAD", "3B1", "3REDUCE_GRAD",
                             "8B2", "8B3", "8REDUCE_GRAD"});
  validate(s);
  // At chunk slots T_F = T_B = 1: 16 busy slots per device, makespan 4M + P − 2 = 18.
  const auto costs = chunk_slots();
  const schedule_metrics m = measure(s, simulate(s, costs), costs);
  CHECK(close(m.makespan, 18.0));
  CHECK(close(m.devices[0].span_idle, 2.0));
  CHECK(close(m.devices[1].span_idle, 0.0));
}

TEST_CASE("BitPipe middle units drain and refill as the reference describes", "[generators][bitpipe]") {
  // P = 4, M = 8, device 0 (W = 6, u = 2): after the warm-up, a middle unit is u × (F, B),
  // (W − u + 1) = 5 × B, (u − 1) = 1 × (F, B), 5 × F; then the final u × (F, B) and the cool-down.
  const schedule s = bitpipe(4, 8);
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "11F2", "12F2", "11F3", "12F3",             // warm-up
                             "7F0", "7B0", "7F1", "7B1",                               // u × (F, B)
                             "12B2", "11B2", "12B3", "11B3", "0B0",                    // 5 × B
                             "0F4", "0B1",                                             // 1 × (F, B)
                             "0F5", "11F6", "12F6", "11F7", "12F7",                    // 5 × F
                             "7F4", "7B4", "7F5", "7B5", "7REDUCE_GRAD",               // final unit
                             "12B6", "11B6", "12B7", "12REDUCE_GRAD", "11B7", "11REDUCE_GRAD",
                             "0B4", "0B5", "0REDUCE_GRAD"});
  CHECK(s.micro_batch_replica == std::vector<int>{0, 0, 1, 1, 0, 0, 1, 1});
}

TEST_CASE("BitPipe is valid, routed and eagerly synchronised over a sweep", "[generators][bitpipe]") {
  for (int P : {2, 4, 6, 8})
    for (int M = P; M <= 4 * P; M += P) {
      CAPTURE(P, M);
      const schedule s = bitpipe(P, M);
      validate(s);
      REQUIRE(s.micro_batch_replica.size() == static_cast<std::size_t>(M));
      for (int m = 0; m < M; ++m) CHECK(s.micro_batch_replica[static_cast<std::size_t>(m)] == (m % P < P / 2 ? 0 : 1));
      for (int d = 0; d < P; ++d) {
        const auto& actions = s.actions[static_cast<std::size_t>(d)];
        CHECK(actions.size() == static_cast<std::size_t>(4 * M + 4));
        // One REDUCE_GRAD per stage copy on the device, directly after that copy's last backward.
        for (int stage : s.placement.stages_on(d)) {
          CAPTURE(d, stage);
          std::size_t reduce = actions.size(), last_b = actions.size();
          int reductions = 0, backwards = 0;
          for (std::size_t i = 0; i < actions.size(); ++i) {
            if (actions[i].stage != stage) continue;
            if (actions[i].kind == action_kind::reduce_grad) ++reductions, reduce = i;
            if (actions[i].kind == action_kind::backward) ++backwards, last_b = i;
          }
          CHECK(reductions == 1);
          CHECK(backwards == M / 2);
          CHECK(reduce == last_b + 1);
        }
      }
      if (M == 2 * P) validate(lower(s));
    }
}

TEST_CASE("BitPipe's bubble is (D - 2)/(4N + D - 2) at T_F = T_B chunk slots", "[generators][bitpipe][bubble]") {
  const auto costs = chunk_slots();
  for (int P : {2, 4, 6, 8})
    for (int M = P; M <= 4 * P; M += P) {
      CAPTURE(P, M);
      const schedule s = bitpipe(P, M);
      const schedule_metrics m = measure(s, simulate(s, costs), costs);
      CHECK(close(m.makespan, 4.0 * M + P - 2));
      CHECK(close(m.bubble_ratio, static_cast<double>(P - 2) / (4.0 * M + P - 2)));
      for (int d = 0; d < P; ++d) {
        CAPTURE(d);
        const int h = std::min(d, P - 1 - d);
        const auto& dm = m.devices[static_cast<std::size_t>(d)];
        CHECK(close(dm.busy, 4.0 * M));
        CHECK(close(dm.span_idle, static_cast<double>(P - 2 - 2 * h)));
      }
      // With the backward twice the forward, each middle unit adds P − 2 idle slots.
      const auto heavy = cost_model::uniform({.forward = 1.0, .input_grad = 1.0, .weight_grad = 1.0});
      CHECK(close(simulate(s, heavy).makespan(), 6.0 * M + (P - 2) * (M / P + 1)));
    }
}

TEST_CASE("BitPipe's peak memory, messages and gradient reductions", "[generators][bitpipe][memory]") {
  const auto costs = chunk_slots();
  for (int P : {2, 4, 6, 8})
    for (int M = P; M <= 4 * P; M += P) {
      CAPTURE(P, M);
      const schedule s = bitpipe(P, M);
      const schedule_metrics m = measure(s, simulate(s, costs), costs);
      for (int d = 0; d < P; ++d) {
        CAPTURE(d);
        const int h = std::min(d, P - 1 - d);
        // A chunk is half a stage-unit: (3P + 2 + 2h)/2 chunk activations at once.
        CHECK(close(m.devices[static_cast<std::size_t>(d)].peak_activations, (3.0 * P + 2 + 2 * h) / 4.0));
        CHECK(m.devices[static_cast<std::size_t>(d)].peak_activation_count == (3 * P + 2 + 2 * h) / 2);
      }
      CHECK(close(m.devices[0].peak_activations, (3.0 * P + 2) / 4.0));               // the ends
      CHECK(close(m.devices[static_cast<std::size_t>(P / 2)].peak_activations, P));  // the middle
      CHECK(m.messages == static_cast<std::size_t>(2 * (2 * P - 2) * M));
      CHECK(m.gradient_reductions == static_cast<std::size_t>(4 * P));
    }
}

TEST_CASE("BitPipe rejects sizes it cannot schedule", "[generators][bitpipe][errors]") {
  require_error([] { (void)bitpipe(0, 4); }, {"BitPipe needs at least one device (P >= 1), got P = 0"});
  require_error([] { (void)bitpipe(4, 0); }, {"BitPipe needs at least one micro-batch (M >= 1), got M = 0"});
  require_error([] { (void)bitpipe(3, 6); }, {"P must be even (P >= 2), got P = 3"});
  require_error([] { (void)bitpipe(1, 1); }, {"P must be even (P >= 2), got P = 1"});
  require_error([] { (void)bitpipe(4, 6); }, {"M must be a multiple of P (M % P == 0), got M = 6 with P = 4"});
  require_error([] { (void)bitpipe(4, 2); }, {"M must be a multiple of P (M % P == 0), got M = 2 with P = 4"});
  require_error([] { (void)bitpipe(1 << 30, 1 << 30); }, {"V·P must fit in a 32-bit index"});
}
