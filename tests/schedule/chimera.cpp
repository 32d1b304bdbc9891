// Chimera (REFERENCE §5.8): hand-checked grids (a basic unit; a doubled unit), validity and
// completeness over a sweep with and without forward doubling, and the bubble, memory, message
// and reduction claims against the simulation.
//
// Findings (cost T_F = 1, T_I = T_W = 1/2 so T_B = T_F: one slot per pass; free communication;
// measured on D = 2, 4, 6, 8, M = D, 2D, 3D, 4D):
//   - every pass starts at its slot 2D·u + 2i + s (F) or 2D·u + 2i + 2D − 1 − s (B) for
//     micro-batch i of its direction in unit u on model stage s (units concatenated directly,
//     2D slots apart), except some forwards of the first unit, which nothing holds back and
//     which start earlier; nothing starts later;
//   - makespan 2M + D − 2, so the wall-clock bubble ratio (makespan − busy of the busiest device)
//     / makespan is (D − 2)/(2N + D − 2) with N = M, the iteration's micro-batches, for one unit
//     (N = D) and for several alike; every device idles D − 2 slots;
//   - order-based peak activations on device d: D/2 + 1 + min(d, D − 1 − d) stage-units,
//     independent of the number of units (D/2 + 1 at the two ends, D in the middle);
//   - 2(D − 1) messages per micro-batch, 2D gradient reductions, 2 stages (weight copies) per device;
//   - with T_B = 2T_F instead: makespan 3M + (M/D + 1)(D − 2) (D − 2 more idle per extra unit).
// Forward doubling (T_F = 1, T_I = T_W = 1 so T_B = 2; same sweep):
//   - makespan 3M + 3(D − 2)/2 for even M/D, 3M + 2(D − 2) for odd M/D (a basic unit first;
//     M = D is the basic unit itself); every device busy 3M and idle the rest; strictly below
//     direct concatenation for M >= 2D, D >= 4, and below 1F1B's 3(M + D − 1) for all D, M;
//   - at T_F = T_B it matches direct concatenation, 2M + D − 2;
//   - peak activations D/2 + 1 + min(d, D − 1 − d) + D once a doubled unit runs (M >= 2D);
//   - no pass starts later than its planned slot.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/chimera.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
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

// One slot per pass: T_F = 1 and T_B = T_I + T_W = 1.
cost_model slot_costs() { return cost_model::uniform({.forward = 1.0, .input_grad = 0.5, .weight_grad = 0.5}); }

// Every (stage, micro-batch) of a micro-batch's own replica has exactly one F and one B, on the
// stage's device; one REDUCE_GRAD per stage copy, after the copy's last backward.
void require_complete(const schedule& s, int D, int M) {
  REQUIRE(s.num_devices() == D);
  REQUIRE(s.num_stages() == 2 * D);
  REQUIRE(s.micro_batch_replica.size() == static_cast<std::size_t>(M));
  for (int m = 0; m < M; ++m) REQUIRE(s.micro_batch_replica[static_cast<std::size_t>(m)] == (m % D < D / 2 ? 0 : 1));
  const auto cells = static_cast<std::size_t>(2 * D) * static_cast<std::size_t>(M);
  std::vector<int> forwards(cells, 0), backwards(cells, 0);
  for (int d = 0; d < D; ++d) {
    const auto& actions = s.actions[static_cast<std::size_t>(d)];
    REQUIRE(actions.size() == static_cast<std::size_t>(2 * M + 2));
    int reductions = 0, left[2] = {M / 2, M / 2};  // backwards still to come per local stage
    for (const action& a : actions) {
      REQUIRE(s.placement.device_of(a.stage) == d);
      const int local = a.stage == d ? 0 : 1;
      if (a.kind == action_kind::reduce_grad) {
        REQUIRE(left[local] == 0);
        ++reductions;
        continue;
      }
      REQUIRE(s.placement.replica_of(a.stage) == s.replica_of_micro_batch(a.micro_batch));
      const auto cell = static_cast<std::size_t>(a.stage) * static_cast<std::size_t>(M) +
                        static_cast<std::size_t>(a.micro_batch);
      if (a.kind == action_kind::forward) {
        ++forwards[cell];
      } else {
        REQUIRE(a.kind == action_kind::backward);
        ++backwards[cell];
        --left[local];
      }
    }
    REQUIRE(reductions == 2);
  }
  for (int st = 0; st < 2 * D; ++st)
    for (int m = 0; m < M; ++m) {
      const auto cell = static_cast<std::size_t>(st) * static_cast<std::size_t>(M) + static_cast<std::size_t>(m);
      const int expected = s.placement.replica_of(st) == s.replica_of_micro_batch(m) ? 1 : 0;
      REQUIRE(forwards[cell] == expected);
      REQUIRE(backwards[cell] == expected);
    }
}

}  // namespace

TEST_CASE("Chimera D=4 M=4 is one basic unit, checked slot by slot", "[generators][chimera]") {
  const schedule s = chimera(4, 4);
  CHECK(s.name == "Chimera");
  CHECK(s.micro_batches == 4);
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::bidirectional(placement::loop(4)));
  // Micro-batches 0, 1 go down (replica 0: stage s on device s), 2, 3 go up (replica 1: global
  // stage 4 + s on device 3 − s). Device d holds down stage d and up stage 7 − d.
  CHECK(s.micro_batch_replica == std::vector<int>{0, 0, 1, 1});
  // Slots (one per pass): a micro-batch enters its pipeline every 2 slots, moves one device per
  // slot and turns at the last stage. Down micro-batch i: F on device d at 2i + d, B at
  // 2i + 7 − d; up micro-batch 2 + i: F on device d at 2i + 3 − d, B at 2i + 4 + d.
  // Device 0, as (slot) token, "-" an idle slot:
  //   (0) 0F0 (1) - (2) 0F1 (3) 7F2 (4) 7B2 (5) 7F3 (6) 7B3 (7) 0B0 (8) - (9) 0B1
  // 7B3 is the up copy's last backward: its REDUCE_GRAD goes to the first idle slot after it,
  // slot 8; 0B1 ends the list and the down copy's REDUCE_GRAD follows it.
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "7F2", "7B2", "7F3", "7B3", "0B0", "7REDUCE_GRAD", "0B1", "0REDUCE_GRAD"});
  // Device 1: (1) 1F0 (2) 6F2 (3) 1F1 (4) 6F3 (5) 6B2 (6) 1B0 (7) 6B3 (8) 1B1, no idle slot
  // in between, so both reductions come at the end (up copy first, as it finished first).
  CHECK(tokens(s, 1) == list{"1F0", "6F2", "1F1", "6F3", "6B2", "1B0", "6B3", "1B1", "6REDUCE_GRAD", "1REDUCE_GRAD"});
  // Device 2, the mirror of device 1: (1) 5F2 (2) 2F0 (3) 5F3 (4) 2F1 (5) 2B0 (6) 5B2 (7) 2B1 (8) 5B3.
  CHECK(tokens(s, 2) == list{"5F2", "2F0", "5F3", "2F1", "2B0", "5B2", "2B1", "5B3", "5REDUCE_GRAD", "2REDUCE_GRAD"});
  // Device 3, the mirror of device 0: (0) 4F2 (2) 4F3 (3) 3F0 (4) 3B0 (5) 3F1 (6) 3B1 (7) 4B2
  // (8) - (9) 4B3. The down copy (stage 3) finishes at slot 6: its REDUCE_GRAD takes slot 8.
  CHECK(tokens(s, 3) == list{"4F2", "4F3", "3F0", "3B0", "3F1", "3B1", "4B2", "3REDUCE_GRAD", "4B3", "4REDUCE_GRAD"});
  validate(s);
  validate(lower(s));

  // The simulation runs each pass at its slot, except that the end devices' second forward
  // (0F1, 4F3), which nothing holds back, runs at 1 instead of 2; the idle slot moves to 2, so
  // each device still idles 2 slots and the bubble is (D − 2)/(2N + D − 2) = 2/10 with N = 4.
  const cost_model costs = slot_costs();
  const timeline t = simulate(s, costs);
  CHECK(t.makespan() == 10.0);
  const std::vector<std::vector<double>> starts{{0, 1, 3, 4, 5, 6, 7, 8, 9, 10},
                                                {1, 2, 3, 4, 5, 6, 7, 8, 9, 9},
                                                {1, 2, 3, 4, 5, 6, 7, 8, 9, 9},
                                                {0, 1, 3, 4, 5, 6, 7, 8, 9, 10}};
  for (const span& x : t.spans) {
    INFO(x.what << " on device " << x.device);
    // A REDUCE_GRAD waits for the other copy's last backward: model stage s ends its backwards
    // on both copies at slot 3 − s + 6, so the reductions of stages 0/4 and 3/7 start at 10 and 7
    // at the earliest; each starts when its device reaches it.
    CHECK(x.start == starts[static_cast<std::size_t>(x.device)][x.step]);
  }
  const schedule_metrics m = measure(s, t, costs);
  CHECK(close(m.bubble_ratio, 0.2));
  CHECK(m.messages == 4u * 2u * 3u);  // 2(D − 1) per micro-batch
  CHECK(m.gradient_reductions == 8u);
  // Order-based: device 0 holds 0F0, 0F1, 7F2 before 7B2 frees one (peak D/2 + 1 = 3);
  // device 1 runs four forwards before its first backward (peak D = 4).
  CHECK(m.devices[0].peak_activations == 3.0);
  CHECK(m.devices[1].peak_activations == 4.0);
  CHECK(m.devices[2].peak_activations == 4.0);
  CHECK(m.devices[3].peak_activations == 3.0);
}

TEST_CASE("Chimera on two devices has no bubble", "[generators][chimera]") {
  // D = 2: device 0 holds stages 0 (down) and 3 (up, the up pipeline's last stage); device 1
  // holds 1 (down's last) and 2 (up's first). Each unit is one micro-batch per direction.
  const schedule s = chimera(2, 4);
  CHECK(s.micro_batch_replica == std::vector<int>{0, 1, 0, 1});
  // Units follow each other 2D = 4 slots apart with no idle slot, so every reduction waits for
  // the end of its device's list.
  CHECK(tokens(s, 0) == list{"0F0", "3F1", "3B1", "0B0", "0F2", "3F3", "3B3", "0B2", "3REDUCE_GRAD", "0REDUCE_GRAD"});
  CHECK(tokens(s, 1) == list{"2F1", "1F0", "1B0", "2B1", "2F3", "1F2", "1B2", "2B3", "2REDUCE_GRAD", "1REDUCE_GRAD"});
  validate(s);
  const cost_model costs = slot_costs();
  const schedule_metrics m = measure(s, simulate(s, costs), costs);
  CHECK(m.makespan == 8.0);
  CHECK(m.bubble_ratio == 0.0);
  CHECK(m.devices[0].peak_activations == 2.0);
}

TEST_CASE("Chimera is valid and complete for D in {2,4,6,8}, M up to 4D", "[generators][chimera][sweep]") {
  // Includes D >= 6 with M > 2D, where the public generator drops operations.
  const cost_model costs = slot_costs();
  for (int D = 2; D <= 8; D += 2) {
    for (int M = D; M <= 4 * D; M += D) {
      INFO("D = " << D << ", M = " << M);
      const schedule s = chimera(D, M);
      require_complete(s, D, M);
      validate(s);
      validate(lower(s));

      // Direct concatenation: every pass starts at its slot, computed here from the pipelines'
      // description, not from the generator's per-device tracks; only forwards of the first
      // unit that nothing holds back start earlier.
      const timeline t = simulate(s, costs);
      for (const span& x : t.spans) {
        if (x.what.kind == action_kind::reduce_grad) continue;
        const int st = s.placement.model_stage_of(x.what.stage);
        const int unit = x.what.micro_batch / D, i = x.what.micro_batch % D % (D / 2);
        const bool forward = x.what.kind == action_kind::forward;
        const int slot = 2 * D * unit + 2 * i + (forward ? st : 2 * D - 1 - st);
        INFO(x.what);
        REQUIRE(x.start <= static_cast<double>(slot));
        if (unit > 0 || !forward) REQUIRE(x.start == static_cast<double>(slot));
      }
      // Each REDUCE_GRAD sits at the device's first idle slot after its copy's last backward:
      // the passes from that backward up to the reduction run back to back, and the next pass
      // (if any) starts after a gap.
      for (int d = 0; d < D; ++d) {
        const auto& actions = s.actions[static_cast<std::size_t>(d)];
        std::vector<const span*> at(actions.size());
        for (const span& x : t.spans)
          if (x.device == d) at[x.step] = &x;
        for (std::size_t k = 0; k < actions.size(); ++k) {
          if (actions[k].kind != action_kind::reduce_grad) continue;
          std::size_t last_backward = k;  // the copy's last pass before its reduction
          while (actions[last_backward].kind == action_kind::reduce_grad || actions[last_backward].stage != actions[k].stage)
            --last_backward;
          const span* previous = at[last_backward];
          for (std::size_t j = last_backward + 1; j < k; ++j)
            if (actions[j].kind != action_kind::reduce_grad) {
              REQUIRE(at[j]->start == previous->end);
              previous = at[j];
            }
          for (std::size_t j = k + 1; j < actions.size(); ++j)
            if (actions[j].kind != action_kind::reduce_grad) {
              REQUIRE(at[j]->start > previous->end);
              break;
            }
        }
      }
    }
  }
}

TEST_CASE("Chimera's bubble, memory and communication match the simulation", "[generators][chimera][formulas]") {
  const cost_model costs = slot_costs();
  for (int D = 2; D <= 8; D += 2) {
    for (int M = D; M <= 4 * D; M += D) {
      INFO("D = " << D << ", M = " << M);
      const schedule s = chimera(D, M);
      const schedule_metrics m = measure(s, simulate(s, costs), costs);
      // Wall-clock bubble with N = M (one unit: N = D; several units concatenated: N = M).
      CHECK(m.makespan == static_cast<double>(2 * M + D - 2));
      CHECK(close(m.bubble_ratio, static_cast<double>(D - 2) / static_cast<double>(2 * M + D - 2)));
      double lowest = static_cast<double>(D), highest = 0.0;
      for (int d = 0; d < D; ++d) {
        const device_metrics& dm = m.devices[static_cast<std::size_t>(d)];
        CHECK(dm.busy == static_cast<double>(2 * M));
        CHECK(dm.idle == static_cast<double>(D - 2));
        // Peak: D/2 + 1 + min(d, D − 1 − d), in [D/2 + 1, D].
        CHECK(dm.peak_activations == static_cast<double>(D / 2 + 1 + std::min(d, D - 1 - d)));
        lowest = std::min(lowest, dm.peak_activations);
        highest = std::max(highest, dm.peak_activations);
        // Two weight copies per device: down model stage d and up model stage D − 1 − d.
        const auto held = s.placement.stages_on(d);
        REQUIRE(held.size() == 2u);
        CHECK(s.placement.model_stage_of(held[0]) == d);
        CHECK(s.placement.model_stage_of(held[1]) == D - 1 - d);
      }
      // The ends are lowest: D/2 + 1 there, D in the middle.
      CHECK(m.devices.front().peak_activations == lowest);
      CHECK(m.devices.back().peak_activations == lowest);
      CHECK(lowest == static_cast<double>(D / 2 + 1));
      CHECK(highest == static_cast<double>(D));
      CHECK(m.messages == static_cast<std::size_t>(2 * (D - 1) * M));
      CHECK(m.gradient_reductions == static_cast<std::size_t>(2 * D));
    }
  }
  // With T_B = 2T_F direct concatenation leaves D − 2 more idle slots per extra unit (the
  // intermediate bubbles the paper removes with forward doubling): makespan
  // 3M + (M/D + 1)(D − 2) in units of T_F.
  const cost_model slow_backward = cost_model::uniform({1.0, 1.0, 1.0});
  for (int D = 2; D <= 8; D += 2)
    for (int M = D; M <= 4 * D; M += D) {
      INFO("T_B = 2T_F, D = " << D << ", M = " << M);
      const schedule s = chimera(D, M);
      const schedule_metrics m = measure(s, simulate(s, slow_backward), slow_backward);
      for (const device_metrics& dm : m.devices) CHECK(dm.busy == 3.0 * M);
      CHECK(m.makespan == static_cast<double>(3 * M + (M / D + 1) * (D - 2)));
    }
}

TEST_CASE("Chimera with forward doubling, D=4 M=8, checked slot by slot", "[generators][chimera][doubling]") {
  const schedule s = chimera(4, 8, {.forward_doubling = true});
  // Same routing as without doubling: m mod D < D/2 goes down.
  CHECK(s.micro_batch_replica == std::vector<int>{0, 0, 1, 1, 0, 0, 1, 1});
  // One doubled unit: each direction's 4 micro-batches (down 0, 1, 4, 5; up 2, 3, 6, 7) enter as
  // 2 pairs, one pair every 2 slots, a pair's two F's filling one slot (a slot = one B). Track A
  // of device d (slots d + 2j) holds the down pairs then the 4 up B's, track B (slots 3 − d + 2j)
  // the up pairs then the 4 down B's. Device 0 (down stage 0, up stage 7), "-" an idle slot:
  //   (0) 0F0 0F1 (1) - (2) 0F4 0F5 (3) 7F2 7F3 (4) 7B2 (5) 7F6 7F7 (6) 7B3 (7) 0B0 (8) 7B6
  //   (9) 0B1 (10) 7B7 (11) 0B4 (12) - (13) 0B5
  // so the steady state alternates a doubled forward and a backward; the up copy's REDUCE_GRAD
  // takes the idle slot 12, the down copy's follows the list.
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "0F4", "0F5", "7F2", "7F3", "7B2", "7F6", "7F7", "7B3", "0B0", "7B6",
                             "0B1", "7B7", "0B4", "7REDUCE_GRAD", "0B5", "0REDUCE_GRAD"});
  // Device 1: (1) 1F0 1F1 (2) 6F2 6F3 (3) 1F4 1F5 (4) 6F6 6F7 (5) 6B2 (6) 1B0 (7) 6B3 (8) 1B1
  // (9) 6B6 (10) 1B4 (11) 6B7 (12) 1B5: no idle slot, both reductions at the end.
  CHECK(tokens(s, 1) == list{"1F0", "1F1", "6F2", "6F3", "1F4", "1F5", "6F6", "6F7", "6B2", "1B0", "6B3", "1B1",
                             "6B6", "1B4", "6B7", "1B5", "6REDUCE_GRAD", "1REDUCE_GRAD"});
  // Devices 2 and 3 mirror 1 and 0 (down and up swapped).
  CHECK(tokens(s, 2) == list{"5F2", "5F3", "2F0", "2F1", "5F6", "5F7", "2F4", "2F5", "2B0", "5B2", "2B1", "5B3",
                             "2B4", "5B6", "2B5", "5B7", "5REDUCE_GRAD", "2REDUCE_GRAD"});
  CHECK(tokens(s, 3) == list{"4F2", "4F3", "4F6", "4F7", "3F0", "3F1", "3B0", "3F4", "3F5", "3B1", "4B2", "3B4",
                             "4B3", "3B5", "4B6", "3REDUCE_GRAD", "4B7", "4REDUCE_GRAD"});
  validate(s);
  validate(lower(s));

  // T_F = 1, T_B = 2. Device 0 runs its four down forwards at 0..3 (nothing holds them); 7F2
  // waits for up micro-batch 2 (4F2 at 0, 5F2 at 1, 6F2 at 3 behind 1F0 and 1F1), so it starts
  // at 4; 7F6 waits for 6F6 (7 to 8); 0B0 waits for 1B0 (11 to 13). The middle devices run
  // without a gap from 1 to 25. Makespan 27 = 3M + 3(D − 2)/2, against 30 for direct
  // concatenation and 33 for 1F1B; every device idles 3.
  const cost_model costs = cost_model::uniform({1.0, 1.0, 1.0});
  const timeline t = simulate(s, costs);
  const std::vector<double> ends{0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 13, 15, 17, 19, 21, 23, 25, 27};
  const std::vector<double> middle{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 15, 17, 19, 21, 23, 25, 25};
  for (const span& x : t.spans) {
    INFO(x.what << " on device " << x.device);
    CHECK(x.start == (x.device == 0 || x.device == 3 ? ends : middle)[x.step]);
  }
  const schedule_metrics m = measure(s, t, costs);
  CHECK(m.makespan == 27.0);
  for (const device_metrics& dm : m.devices) CHECK(dm.idle == 3.0);
  CHECK(m.messages == 8u * 2u * 3u);
  CHECK(m.gradient_reductions == 8u);
  // Device 0 holds 0F0, 0F1, 0F4, 0F5, 7F2, 7F3 before 7B2 frees one, then adds 7F6, 7F7: 7;
  // device 1 runs its eight forwards before its first backward: 8 (twice the basic unit's 4).
  CHECK(m.devices[0].peak_activations == 7.0);
  CHECK(m.devices[1].peak_activations == 8.0);
  CHECK(m.devices[2].peak_activations == 8.0);
  CHECK(m.devices[3].peak_activations == 7.0);
}

TEST_CASE("Chimera with forward doubling is valid and complete for D in {2,4,6,8}, M up to 4D",
          "[generators][chimera][doubling][sweep]") {
  const cost_model costs = cost_model::uniform({1.0, 1.0, 1.0});  // T_F = 1, T_B = 2
  for (int D = 2; D <= 8; D += 2) {
    for (int M = D; M <= 4 * D; M += D) {
      INFO("D = " << D << ", M = " << M);
      const schedule s = chimera(D, M, {.forward_doubling = true});
      require_complete(s, D, M);
      validate(s);
      validate(lower(s));
      // One basic unit (M = D) is left as it is.
      if (M == D) CHECK(s.actions == chimera(D, M).actions);

      // Planned slots (2 time units: one B, or the two F's of a doubled forward), from the
      // pipelines' description: ⌊M/2D⌋ doubled units of D micro-batches per direction (3D slots
      // each), after one basic unit of D/2 (2D slots) when M/D is odd. In a unit starting at
      // slot o, the direction's k-th micro-batch runs F on model stage s at o + s + 2k (basic)
      // or o + s + 2⌊k/2⌋, second half of the slot for odd k (doubled), and B at
      // o + 2D − 1 − s + 2k. The simulation starts no pass later than its plan.
      const int half = D / 2;
      const bool basic_first = M / D % 2 == 1;
      const timeline t = simulate(s, costs);
      for (const span& x : t.spans) {
        if (x.what.kind == action_kind::reduce_grad) continue;
        const int st = s.placement.model_stage_of(x.what.stage);
        const int k = x.what.micro_batch / D * half + x.what.micro_batch % D % half;  // index in its direction
        bool doubled = true;
        int offset = 0, kk = k;
        if (basic_first && k < half) {
          doubled = false;
        } else {
          const int after = basic_first ? k - half : k;
          offset = (basic_first ? 2 * D : 0) + 3 * D * (after / D);
          kk = after % D;
        }
        double plan = 0.0;
        if (x.what.kind == action_kind::forward)
          plan = doubled ? 2.0 * (offset + st + 2 * (kk / 2)) + kk % 2 : 2.0 * (offset + st + 2 * kk);
        else
          plan = 2.0 * (offset + 2 * D - 1 - st + 2 * kk);
        INFO(x.what);
        REQUIRE(x.start <= plan);
      }
    }
  }
}

TEST_CASE("Chimera's forward doubling removes the intermediate bubbles at T_B = 2T_F", "[generators][chimera][doubling][formulas]") {
  // Stage costs T_F = 1, T_I = T_W = 1 (T_B = 2).
  const cost_model costs = cost_model::uniform({1.0, 1.0, 1.0});
  const cost_model equal = slot_costs();  // T_F = T_B = 1
  for (int D = 2; D <= 8; D += 2) {
    for (int M = D; M <= 4 * D; M += D) {
      INFO("D = " << D << ", M = " << M);
      const schedule s = chimera(D, M, {.forward_doubling = true});
      const schedule_metrics m = measure(s, simulate(s, costs), costs);
      const schedule plain = chimera(D, M);
      const schedule_metrics direct = measure(plain, simulate(plain, costs), costs);
      const schedule ofob = one_f_one_b(D, M);
      const double one_f_one_b_makespan = measure(ofob, simulate(ofob, costs), costs).makespan;
      REQUIRE(one_f_one_b_makespan == 3.0 * (M + D - 1));  // (M + D − 1)(T_F + T_B)
      // Measured law: 3M + 3(D − 2)/2 when M/D is even (every unit doubled); 3M + 2(D − 2) when
      // M/D is odd (a basic unit first, which costs (D − 2)/2 more; M = D is direct Chimera).
      const double idle = M / D % 2 == 0 ? 1.5 * (D - 2) : 2.0 * (D - 2);
      CHECK(m.makespan == 3.0 * M + idle);
      // Every device works 3M and idles the same amount: no intermediate bubble is left.
      for (const device_metrics& dm : m.devices) {
        CHECK(dm.busy == 3.0 * M);
        CHECK(dm.idle == idle);
      }
      if (M / D % 2 == 0) CHECK(close(m.bubble_ratio, static_cast<double>(D - 2) / (2.0 * M + D - 2)));
      if (M >= 2 * D && D >= 4) CHECK(m.makespan < direct.makespan);
      if (M == D) CHECK(m.makespan == direct.makespan);
      CHECK(m.makespan < one_f_one_b_makespan);

      // Peak activations: the basic unit's D/2 + 1 + min(d, D − 1 − d) plus D once a doubled
      // unit runs (3D/2 + 1 at the ends, 2D in the middle; 1F1B holds D on its first device).
      for (int d = 0; d < D; ++d)
        CHECK(m.devices[static_cast<std::size_t>(d)].peak_activations ==
              static_cast<double>(D / 2 + 1 + std::min(d, D - 1 - d) + (M >= 2 * D ? D : 0)));
      CHECK(m.messages == static_cast<std::size_t>(2 * (D - 1) * M));
      CHECK(m.gradient_reductions == static_cast<std::size_t>(2 * D));

      // At T_F = T_B the doubled forwards cost a slot each and the result matches direct
      // concatenation: 2M + D − 2.
      CHECK(measure(s, simulate(s, equal), equal).makespan == static_cast<double>(2 * M + D - 2));
    }
  }
}

TEST_CASE("Chimera's options keep the two-argument call", "[generators][chimera][doubling]") {
  for (int D = 2; D <= 8; D += 2)
    for (int M = D; M <= 4 * D; M += D) {
      INFO("D = " << D << ", M = " << M);
      const schedule plain = chimera(D, M);
      CHECK(chimera(D, M, {}).actions == plain.actions);
      CHECK(chimera(D, M, {.forward_doubling = false}).actions == plain.actions);
      CHECK(chimera(D, M, {.forward_doubling = true}).micro_batch_replica == plain.micro_batch_replica);
      if (M >= 2 * D) CHECK(chimera(D, M, {.forward_doubling = true}).actions != plain.actions);
    }
}

TEST_CASE("Chimera rejects bad sizes naming the rule", "[generators][chimera][errors]") {
  require_error([] { (void)chimera(3, 6); }, {"Chimera needs an even number of devices, D >= 2", "got D = 3"});
  require_error([] { (void)chimera(1, 2); }, {"even number of devices, D >= 2", "got D = 1"});
  require_error([] { (void)chimera(0, 4); }, {"even number of devices, D >= 2", "got D = 0"});
  require_error([] { (void)chimera(-2, 4); }, {"got D = -2"});
  require_error([] { (void)chimera(4, 0); }, {"Chimera needs at least one micro-batch (M >= 1), got M = 0"});
  require_error([] { (void)chimera(4, 6); }, {"whole basic units (M a multiple of D = 4), got M = 6"});
  require_error([] { (void)chimera(4, 2); }, {"M a multiple of D = 4", "got M = 2"});
  // Forward doubling accepts the same sizes and rejects the others with the same rules.
  require_error([] { (void)chimera(3, 6, {.forward_doubling = true}); }, {"even number of devices, D >= 2", "got D = 3"});
  require_error([] { (void)chimera(4, 0, {.forward_doubling = true}); }, {"at least one micro-batch (M >= 1), got M = 0"});
  require_error([] { (void)chimera(4, 6, {.forward_doubling = true}); }, {"M a multiple of D = 4", "got M = 6"});
  // 2D stages must fit a 32-bit index: rejected before anything is allocated.
  require_error([] { (void)chimera(1 << 30, 1 << 30); }, {"V·P must fit in a 32-bit index", "2147483648"});
}
