// Asynchronous pipelines (PipeDream without flush, LayerPipe systolic) and the staleness they
// realise, measured from the schedule order and from simulated timelines, against the delay
// the retiming derives (REFERENCE §3.3–§3.5, §3.7, §5.2).
//
// Thresholds found and pinned below: the steady-state staleness is reached on every stage once
// M ≥ P (pipedream: P − 1 − s) and once M ≥ 2P − 1 (layerpipe: 2(P − 1 − s)); below that every
// stage measures min(steady, M − 1), the start-up of the window.
#include "layerpipe_test.hpp"

#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/builders.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/retime/layerpipe.hpp>
#include <layerpipe/schedule/async_pipelines.hpp>
#include <layerpipe/schedule/families.hpp>
#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>
#include <layerpipe/sim/staleness.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using namespace layerpipe;
using namespace layerpipe::shorthand;

namespace {

using counts = std::vector<std::int64_t>;

constexpr action U(int stage, int mb) noexcept { return make_action(action_kind::update, stage, mb); }

// Steady-state staleness per stage: P − 1 − s (pipedream) or 2(P − 1 − s) (layerpipe), capped by
// the window's start-up at M − 1.
counts expected(int devices, int micro_batches, std::int64_t factor) {
  counts out;
  for (int s = 0; s < devices; ++s)
    out.push_back(std::min<std::int64_t>(factor * (devices - 1 - s), micro_batches - 1));
  return out;
}

// Every (stage, micro-batch) has exactly one F, one B and one U, all on the stage's device, and
// U(s, m) comes right after B(s, m).
void require_once_each(const schedule& s) {
  const int P = s.num_devices();
  const int M = s.micro_batches;
  REQUIRE(s.num_stages() == P);
  for (int d = 0; d < P; ++d) {
    const auto& list = s.actions[static_cast<std::size_t>(d)];
    REQUIRE(list.size() == static_cast<std::size_t>(3 * M));
    std::vector<int> f(static_cast<std::size_t>(M), 0), b(f), u(f);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const action& a = list[i];
      CAPTURE(d, i, a);
      REQUIRE(a.stage == d);
      REQUIRE(a.micro_batch >= 0);
      REQUIRE(a.micro_batch < M);
      const auto m = static_cast<std::size_t>(a.micro_batch);
      if (a.kind == action_kind::forward) ++f[m];
      else if (a.kind == action_kind::backward) {
        ++b[m];
        REQUIRE(i + 1 < list.size());
        REQUIRE(list[i + 1] == U(d, a.micro_batch));
      } else {
        REQUIRE(a.kind == action_kind::update);
        ++u[m];
      }
    }
    for (int m = 0; m < M; ++m) {
      CAPTURE(d, m);
      REQUIRE(f[static_cast<std::size_t>(m)] == 1);
      REQUIRE(b[static_cast<std::size_t>(m)] == 1);
      REQUIRE(u[static_cast<std::size_t>(m)] == 1);
    }
  }
}

// The schedule has one pipeline stage per partition stage: every layer's retimed staleness must
// equal what the two generators realise on its stage.
void require_matches_retiming(const graph& g, const partition& p, int micro_batches) {
  const delay_plan plan = derive_delays(g, p);
  const int P = p.num_stages();
  const counts pipedream = measure_staleness(pipedream_async(P, micro_batches));
  const counts systolic = measure_staleness(layerpipe_async(P, micro_batches));
  REQUIRE(pipedream.size() == static_cast<std::size_t>(P));
  REQUIRE(systolic.size() == static_cast<std::size_t>(P));
  for (int l = 0; l < g.num_layers(); ++l) {
    const auto s = static_cast<std::size_t>(p.stage_of(l));
    CAPTURE(l, s, P, micro_batches);
    REQUIRE(plan.staleness_updates(l, pipelining_style::one_f_one_b) == pipedream[s]);
    REQUIRE(plan.staleness_updates(l, pipelining_style::systolic) == systolic[s]);
  }
}

graph chain_of(int layers) {
  std::vector<layer> list;
  for (int i = 1; i <= layers; ++i)
    list.push_back(layer{"l" + std::to_string(i), 1.0 * i, 1, 1, 100.0 * i, 1000.0 * i, layer_kind::generic});
  return graph::chain(std::move(list));
}

}  // namespace

TEST_CASE("asynchronous generators: exact device lists for P = 2, M = 3", "[async][staleness]") {
  // PipeDream: device 0 warms up with one forward, then (F, B, U) triples, then B, U.
  const schedule a = pipedream_async(2, 3);
  REQUIRE(a.name == "PipeDream-async");
  REQUIRE(a.actions[0] == std::vector<action>{F(0, 0), F(0, 1), B(0, 0), U(0, 0), F(0, 2), B(0, 1), U(0, 1),
                                              B(0, 2), U(0, 2)});
  REQUIRE(a.actions[1] == std::vector<action>{F(1, 0), B(1, 0), U(1, 0), F(1, 1), B(1, 1), U(1, 1), F(1, 2),
                                              B(1, 2), U(1, 2)});
  // LayerPipe, P = 2: F(s, k) at clock k + s, B(s, k) at clock k + 2 − s. Clocks 0..4:
  //   device 0: F0 | F1 | F2 B0 U0 | B1 U1 | B2 U2
  //   device 1:    | F0 B0 U0 | F1 B1 U1 | F2 B2 U2 |
  const schedule b = layerpipe_async(2, 3);
  REQUIRE(b.name == "LayerPipe-async");
  REQUIRE(b.actions[0] == std::vector<action>{F(0, 0), F(0, 1), F(0, 2), B(0, 0), U(0, 0), B(0, 1), U(0, 1),
                                              B(0, 2), U(0, 2)});
  REQUIRE(b.actions[1] == std::vector<action>{F(1, 0), B(1, 0), U(1, 0), F(1, 1), B(1, 1), U(1, 1), F(1, 2),
                                              B(1, 2), U(1, 2)});
  // By hand: pipedream stage 0, micro-batch 1 sees U(0, 0) between F and B: 1. LayerPipe stage 0,
  // micro-batch 2: U(0, 0) and U(0, 1) between F(0, 2) and B(0, 2): 2.
  REQUIRE(measure_staleness(a) == counts{1, 0});
  REQUIRE(measure_staleness(b) == counts{2, 0});
}

TEST_CASE("layerpipe_async follows the clock rule F at k + s, B at k + 2(P - 1) - s", "[async][staleness]") {
  for (int P = 1; P <= 6; ++P) {
    for (int M = 1; M <= 9; ++M) {
      const schedule s = layerpipe_async(P, M);
      for (int d = 0; d < P; ++d) {
        // Rebuild the list from the clock formulas: per clock F, then B, then U.
        std::vector<action> want;
        for (int c = 0; c < M + 2 * (P - 1); ++c) {
          const int f = c - d;
          const int b = c - (2 * (P - 1) - d);
          if (f >= 0 && f < M) want.push_back(F(d, f));
          if (b >= 0 && b < M) {
            want.push_back(B(d, b));
            want.push_back(U(d, b));
          }
        }
        CAPTURE(P, M, d);
        REQUIRE(s.actions[static_cast<std::size_t>(d)] == want);
      }
    }
  }
}

TEST_CASE("asynchronous generators validate, lower and simulate for P 1..8, M 1..24", "[async][staleness]") {
  const cost_model costs = cost_model::uniform({1.0, 1.0, 1.0});
  for (int P = 1; P <= 8; ++P) {
    for (int M = 1; M <= 24; ++M) {
      CAPTURE(P, M);
      for (const schedule& s : {pipedream_async(P, M), layerpipe_async(P, M)}) {
        CAPTURE(s.name);
        REQUIRE(s.level == schedule_level::compute_only);
        REQUIRE_FALSE(s.forward_only);
        REQUIRE(s.placement == placement::loop(P, 1));
        REQUIRE_NOTHROW(validate(s));
        require_once_each(s);
        const timeline t = simulate(s, costs);
        REQUIRE(t.spans.size() == s.size());
        // Lowering passes U through; the lowered schedule and its timeline measure the same.
        const schedule l = lower(s);
        REQUIRE_NOTHROW(validate(l));
        const counts want = measure_staleness(s);
        REQUIRE(measure_staleness(t, s.num_stages()) == want);
        REQUIRE(measure_staleness(l) == want);
        REQUIRE(measure_staleness(simulate(l, costs), l.num_stages()) == want);
      }
    }
  }
}

TEST_CASE("measured staleness: P - 1 - s (pipedream), 2(P - 1 - s) (layerpipe), from M >= P and M >= 2P - 1",
          "[async][staleness]") {
  for (int P = 1; P <= 8; ++P) {
    for (int M = 1; M <= 24; ++M) {
      CAPTURE(P, M);
      const counts pipedream = measure_staleness(pipedream_async(P, M));
      const counts systolic = measure_staleness(layerpipe_async(P, M));
      REQUIRE(pipedream == expected(P, M, 1));
      REQUIRE(systolic == expected(P, M, 2));
      // The thresholds: at and above them every stage has its steady-state value.
      if (M >= P) {
        for (int s = 0; s < P; ++s) REQUIRE(pipedream[static_cast<std::size_t>(s)] == P - 1 - s);
      }
      if (M >= 2 * P - 1) {
        for (int s = 0; s < P; ++s) REQUIRE(systolic[static_cast<std::size_t>(s)] == 2 * (P - 1 - s));
      } else {
        REQUIRE(systolic[0] < 2 * (P - 1));  // stage 0 needs the full window to reach 2S
      }
      // The last stage updates between no forward and its backward.
      REQUIRE(pipedream.back() == 0);
      REQUIRE(systolic.back() == 0);
    }
  }
}

TEST_CASE("measured staleness equals the retimed delay, groups and uneven partitions included", "[async][staleness]") {
  const int M = 24;  // ≥ 2P − 1 for every P below: steady state on every stage
  SECTION("chain of 6, {1}, {2, 3, 4}, {5, 6}") {
    const graph g = chain_of(6);
    const partition p = partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6);
    const delay_plan plan = derive_delays(g, p);
    REQUIRE(plan.delay_clocks == counts{4, 2, 2, 2, 0, 0});
    REQUIRE(measure_staleness(layerpipe_async(3, M)) == counts{4, 2, 0});
    REQUIRE(measure_staleness(pipedream_async(3, M)) == counts{2, 1, 0});
    require_matches_retiming(g, p, M);
  }
  SECTION("chain of 6, one layer per stage") {
    const graph g = chain_of(6);
    require_matches_retiming(g, partition::from_groups({{0}, {1}, {2}, {3}, {4}, {5}}, 6), M);
  }
  SECTION("chain of 7, uneven {1, 2, 3, 4}, {5}, {6, 7}") {
    require_matches_retiming(chain_of(7), partition::from_groups({{0, 1, 2, 3}, {4}, {5, 6}}, 7), M);
  }
  SECTION("transformer_like(10) balanced into 4 stages") {
    const graph g = transformer_like(10);
    const partition p = balanced_partition(g, 4);
    REQUIRE(p.num_stages() == 4);
    require_matches_retiming(g, p, M);
  }
  SECTION("resnet_like(6) balanced into 3 stages (skip edges)") {
    const graph g = resnet_like(6);
    const partition p = balanced_partition(g, 3);
    REQUIRE(p.num_stages() == 3);
    require_matches_retiming(g, p, M);
  }
  SECTION("resnet_like(6) into 5 stages, contiguous uneven") {
    const graph g = resnet_like(6);  // 15 layers
    require_matches_retiming(g, partition::contiguous({2, 5, 1, 4, 3}), M);
  }
  SECTION("a single stage is plain SGD: no staleness") {
    const graph g = chain_of(4);
    require_matches_retiming(g, partition::from_groups({{0, 1, 2, 3}}, 4), M);
    REQUIRE(measure_staleness(pipedream_async(1, M)) == counts{0});
    REQUIRE(measure_staleness(layerpipe_async(1, M)) == counts{0});
  }
}

TEST_CASE("synchronous schedules measure zero staleness", "[async][staleness]") {
  for (int P = 1; P <= 5; ++P) {
    for (int M = 1; M <= 8; ++M) {
      CAPTURE(P, M);
      const counts zero(static_cast<std::size_t>(P), 0);
      const schedule g = gpipe(P, M);
      REQUIRE(measure_staleness(g) == zero);
      // 1F1B with a flush: one window-wide U per stage after its last backward.
      schedule flushed = one_f_one_b(P, M);
      for (int d = 0; d < P; ++d) flushed.actions[static_cast<std::size_t>(d)].push_back(make_action(action_kind::update, d));
      REQUIRE_NOTHROW(validate(flushed));
      REQUIRE(measure_staleness(flushed) == zero);
      REQUIRE(measure_staleness(simulate(flushed, cost_model::uniform({1.0, 1.0, 1.0})), P) == zero);
    }
  }
}

TEST_CASE("measure_staleness counts a mid-window update between F and B", "[async][staleness]") {
  // A hand-made one-stage schedule: F0 F1 B0 U0 B1 U1 — micro-batch 1's backward sees U0.
  schedule s = one_f_one_b(1, 2);
  s.actions[0] = {F(0, 0), F(0, 1), B(0, 0), U(0, 0), B(0, 1), U(0, 1)};
  REQUIRE_NOTHROW(validate(s));
  REQUIRE(measure_staleness(s) == counts{1});
  // A split backward: I counts as the backward.
  s.actions[0] = {F(0, 0), F(0, 1), I(0, 0), W(0, 0), U(0, 0), I(0, 1), W(0, 1), U(0, 1)};
  REQUIRE_NOTHROW(validate(s));
  REQUIRE(measure_staleness(s) == counts{1});
  // Timeline ties: a zero-length U shares its start with the next pass; the step orders them.
  timeline t;
  t.num_devices = 1;
  t.spans = {span{0, 4, B(0, 1), 2.0, 3.0}, span{0, 0, F(0, 0), 0.0, 1.0}, span{0, 3, U(0, 0), 2.0, 2.0},
             span{0, 1, F(0, 1), 1.0, 2.0}, span{0, 2, B(0, 0), 1.0, 2.0}};
  // Order by (start, step): F0(0) F1(1,s1) B0(1,s2) U0(2,s3) B1(2,s4) -> micro-batch 1 sees U0.
  REQUIRE(measure_staleness(t, 1) == counts{1});
}

TEST_CASE("the registry resolves the asynchronous families", "[async][families]") {
  schedule_params p;
  p.devices = 4;
  p.micro_batches = 9;
  for (const char* name : {"pipedream-async", "PipeDream", "async-1f1b", "Async_1F1B"}) {
    CAPTURE(name);
    REQUIRE(find_family(name).name == "pipedream-async");
    REQUIRE_FALSE(find_family(name).uses_chunks);
    const schedule s = make_schedule(name, p);
    REQUIRE(s.actions == pipedream_async(4, 9).actions);
  }
  for (const char* name : {"layerpipe-async", "LayerPipe", "systolic", "SYSTOLIC"}) {
    CAPTURE(name);
    REQUIRE(find_family(name).name == "layerpipe-async");
    REQUIRE_FALSE(find_family(name).uses_chunks);
    const schedule s = make_schedule(name, p);
    REQUIRE(s.actions == layerpipe_async(4, 9).actions);
  }
  // Parameters they do not use.
  p.chunks = 2;
  REQUIRE_THROWS_WITH(make_schedule("pipedream", p), Catch::Contains("takes no chunks"));
  p.chunks = 1;
  p.group_size = 3;
  REQUIRE_THROWS_WITH(make_schedule("systolic", p), Catch::Contains("no micro-batch group size"));
  p.group_size = 0;
  p.mode = pass_mode::forward_only;
  REQUIRE_THROWS_WITH(make_schedule("layerpipe", p), Catch::Contains("no forward-only form"));
  REQUIRE_THROWS_WITH(make_schedule("async-1f1b", p), Catch::Contains("no forward-only form"));
}

TEST_CASE("asynchronous generators reject bad sizes", "[async][error]") {
  REQUIRE_THROWS_WITH(pipedream_async(0, 4),
                      Catch::Contains("PipeDream-async needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(pipedream_async(2, 0),
                      Catch::Contains("PipeDream-async needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(layerpipe_async(-1, 4),
                      Catch::Contains("LayerPipe-async needs at least one device (P >= 1), got P = -1"));
  REQUIRE_THROWS_WITH(layerpipe_async(3, -2),
                      Catch::Contains("LayerPipe-async needs at least one micro-batch (M >= 1), got M = -2"));
}

TEST_CASE("measure_staleness rejects malformed input", "[staleness][error]") {
  schedule s = one_f_one_b(1, 2);
  SECTION("backward before its forward") {
    s.actions[0] = {F(0, 0), B(0, 1), F(0, 1), B(0, 0)};
    REQUIRE_THROWS_WITH(measure_staleness(s), Catch::Contains("B(0, 1) at device 0 step 1 runs before F(0, 1)"));
  }
  SECTION("forward twice") {
    s.actions[0] = {F(0, 0), F(0, 0), B(0, 0)};
    REQUIRE_THROWS_WITH(measure_staleness(s), Catch::Contains("F(0, 0) runs twice"));
  }
  SECTION("stage out of range") {
    s.actions[0] = {F(3, 0)};
    REQUIRE_THROWS_WITH(measure_staleness(s), Catch::Contains("names stage 3, out of range: there are 1 stages"));
  }
  SECTION("micro-batch out of range") {
    s.actions[0] = {F(0, 2)};
    REQUIRE_THROWS_WITH(measure_staleness(s), Catch::Contains("names micro-batch 2, out of range 0..M-1, M = 2"));
  }
  SECTION("wrong number of lists") {
    s.actions.push_back({});
    REQUIRE_THROWS_WITH(measure_staleness(s), Catch::Contains("has 2 action lists but its placement has 1 devices"));
  }
  SECTION("timeline: no stages, bad stage, negative micro-batch, backward first") {
    timeline t;
    t.num_devices = 1;
    REQUIRE_THROWS_WITH(measure_staleness(t, 0), Catch::Contains("at least one stage, got 0"));
    t.spans = {span{0, 0, F(1, 0), 0.0, 1.0}};
    REQUIRE_THROWS_WITH(measure_staleness(t, 1), Catch::Contains("names stage 1, out of range"));
    t.spans = {span{0, 0, F(0, -1), 0.0, 1.0}};
    REQUIRE_THROWS_WITH(measure_staleness(t, 1), Catch::Contains("names micro-batch -1"));
    t.spans = {span{0, 1, F(0, 0), 1.0, 2.0}, span{0, 0, B(0, 0), 0.0, 1.0}};
    REQUIRE_THROWS_WITH(measure_staleness(t, 1), Catch::Contains("runs before F(0, 0)"));
  }
}
