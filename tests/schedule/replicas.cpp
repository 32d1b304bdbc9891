// Replicated placements (REFERENCE §5.8–5.10): two copies of the model in opposite directions,
// micro-batches routed through one of them, REDUCE_GRAD combining the copies' gradients. A
// hand-made two-device schedule goes through validation, lowering, simulation and metrics.
#include "layerpipe_test.hpp"

#include <layerpipe/io/csv.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::require_error;

namespace {

std::vector<action> parse_list(const std::vector<std::string>& tokens) {
  std::vector<action> out;
  for (const auto& t : tokens) out.push_back(parse_action(t));
  return out;
}

// P = 2, two replicas of a two-stage model. Replica 0: stage 0 on device 0, stage 1 on device 1.
// Replica 1 (stages 2, 3 = model stages 0, 1): stage 2 on device 1, stage 3 on device 0.
// Micro-batch 0 goes down (replica 0), micro-batch 1 up (replica 1).
schedule two_way() {
  schedule s;
  s.name = "two-way";
  s.placement = placement::bidirectional(placement::loop(2));
  s.micro_batches = 2;
  s.micro_batch_replica = {0, 1};
  s.actions = {parse_list({"0F0", "3F1", "3B1", "0B0", "0REDUCE_GRAD", "3REDUCE_GRAD"}),
               parse_list({"2F1", "1F0", "1B0", "2B1", "1REDUCE_GRAD", "2REDUCE_GRAD"})};
  return s;
}

}  // namespace

TEST_CASE("bidirectional placement mirrors the devices of the second replica", "[placement][replicas]") {
  const placement chimera = placement::bidirectional(placement::loop(4));
  CHECK(chimera.style() == placement_style::bidirectional);
  CHECK(chimera.num_replicas() == 2);
  CHECK(chimera.model_stages() == 4);
  CHECK(chimera.num_stages() == 8);
  for (int s = 0; s < 4; ++s) {
    CHECK(chimera.device_of(s) == s);          // down: stage s on device s
    CHECK(chimera.device_of(4 + s) == 3 - s);  // up: stage s on device D - 1 - s
    CHECK(chimera.replica_of(4 + s) == 1);
    CHECK(chimera.model_stage_of(4 + s) == s);
    CHECK(chimera.stage_in_replica(1, s) == 4 + s);
  }
  CHECK(chimera.is_first_in_replica(4));
  CHECK(chimera.is_last_in_replica(3));
  CHECK_FALSE(chimera.is_last_in_replica(4));
  // BitPipe's: two opposite V's. Device d holds down stages d and 2P-1-d, up stages P-1-d and P+d.
  const placement bit = placement::bidirectional(placement::v(4, 2));
  CHECK(bit.model_stages() == 8);
  for (int d = 0; d < 4; ++d) {
    std::vector<int> mine;
    for (int st : bit.stages_on(d)) mine.push_back(st);
    CHECK(mine == std::vector<int>{d, 7 - d, 8 + 3 - d, 8 + 4 + d});
  }
  CHECK(placement::loop(3).num_replicas() == 1);
  CHECK(placement::loop(3).model_stages() == 3);
  CHECK_FALSE(chimera == placement::from_map({0, 1, 2, 3, 3, 2, 1, 0}));  // same map, one replica
  CHECK(chimera == placement::from_map({0, 1, 2, 3, 3, 2, 1, 0}, 4, 2));
}

TEST_CASE("a two-way schedule validates, lowers and simulates", "[validate][replicas]") {
  const schedule s = two_way();
  validate(s);
  const schedule low = lower(s);
  validate(low);
  CHECK(low.micro_batch_replica == s.micro_batch_replica);
  // Replica 1 sends from stage 2 (device 1) to stage 3 (device 0), not from stage 1 to 2.
  auto holds = [&](int device, const char* token) {
    for (const action& a : low.actions[static_cast<std::size_t>(device)])
      if (to_string(a) == token) return true;
    return false;
  };
  CHECK(holds(1, "2SEND_F1"));
  CHECK(holds(0, "3RECV_F1"));
  CHECK(holds(0, "3SEND_B1"));
  CHECK(holds(1, "2RECV_B1"));
  CHECK_FALSE(holds(1, "1SEND_F0"));  // stage 1 ends replica 0: nothing goes on to stage 2
  const auto costs = cost_model::uniform({1.0, 1.0, 1.0});
  for (const schedule* x : {&s, &low}) {
    const timeline t = simulate(*x, costs);
    CHECK(t.makespan() == 6.0);  // F, F, B(2), B(2): each device is busy all the time
    const schedule_metrics m = measure(*x, t, costs);
    CHECK(m.messages == 4);            // one activation and one gradient per micro-batch
    CHECK(m.gradient_reductions == 4);  // one per stage copy
    // Each device holds two half-model stages' activations at once: 2 · P/S_model = 2 units.
    CHECK(m.devices[0].peak_activations == 2.0);
    CHECK(m.devices[1].peak_activation_count == 2);
    CHECK(m.bubble_ratio == 0.0);
  }
  // REDUCE_GRAD of stage 0 (device 0) waits for the other copy, stage 2 on device 1: ends at 6.
  const timeline t = simulate(s, costs);
  for (const span& x : t.spans)
    if (x.what.kind == action_kind::reduce_grad) CHECK(x.start == 6.0);
}

TEST_CASE("replica rules are enforced with clear errors", "[validate][replicas][errors]") {
  {
    schedule s = two_way();
    s.actions[0][1] = parse_action("3F0");  // micro-batch 0 goes down, stage 3 is up
    require_error([&] { validate(s); }, {"micro-batch 0 travels through replica 0, but stage 3 belongs to replica 1"});
  }
  {
    schedule s = two_way();
    s.micro_batch_replica = {0};
    require_error([&] { validate(s); }, {"routes 1 micro-batches but has M = 2"});
    s.micro_batch_replica = {0, 2};
    require_error([&] { validate(s); }, {"routes micro-batch 1 through replica 2 but its placement has 2 replica(s)"});
  }
  {
    schedule s = two_way();  // a reduction before the device's own backward
    std::swap(s.actions[0][3], s.actions[0][4]);
    require_error([&] { validate(s); }, {"0B0 or 0W0, which device 0 runs later"});
  }
  {
    schedule s = lower(two_way());
    s.actions[1].insert(s.actions[1].begin() + 2, parse_action("1SEND_F0"));  // stage 1 ends replica 0
    require_error([&] { validate(s); }, {"there is no next stage to talk to"});
  }
  require_error([] { (void)placement::bidirectional(placement::bidirectional(placement::loop(2))); },
                {"mirrors a one-replica placement, got one with 2 replicas"});
  require_error([] { (void)placement::from_map({0, 1, 0}, 2, 2); }, {"3 stages do not split into 2 equal replicas"});
  require_error([] { (void)placement::from_map({0, 1}, 2, 0); }, {"number of replicas must be >= 1, got 0"});
  require_error([] { (void)placement::loop(2).stage_in_replica(1, 0); }, {"replica 1 out of range 0..0"});
}

TEST_CASE("a replicated schedule round-trips through CSV with replicas = 2", "[csv][replicas]") {
  const schedule s = two_way();
  const schedule back = parse_csv(to_csv(s), csv_format::compute_only, {.name = "two-way", .replicas = 2});
  CHECK(back.placement == s.placement);
  CHECK(back.placement.style() == placement_style::bidirectional);
  CHECK(back.micro_batch_replica == s.micro_batch_replica);
  CHECK(back.actions == s.actions);
  const schedule low = lower(s);
  const schedule low_back = parse_csv(to_csv(low), csv_format::compute_comms, {.replicas = 2});
  CHECK(low_back.actions == low.actions);
  // Read as one replica, the up pipeline's stage 2 has no predecessor on stage 1.
  require_error([&] { (void)parse_csv(to_csv(s), csv_format::compute_only); }, {"invalid schedule"});
  require_error([&] { (void)parse_csv("0F0,1F0\n2F0,3F0\n", csv_format::compute_only, {.replicas = 2}); },
                {"micro-batch 0 in '2F0' runs on replica 1 but also on replica 0"});
}
