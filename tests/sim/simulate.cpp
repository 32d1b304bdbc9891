// Cost models, timed simulation and metrics on cases worked by hand (REFERENCE §6).
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>


using namespace layerpipe;
using layerpipe::test::close;

namespace {

/// A schedule from token lists, one list per device.
schedule make(placement p, int micro_batches, const std::vector<std::vector<std::string>>& lists,
              schedule_level level = schedule_level::compute_only) {
  schedule s;
  s.placement = std::move(p);
  s.micro_batches = micro_batches;
  s.level = level;
  s.name = "hand";
  for (const auto& list : lists) {
    s.actions.emplace_back();
    for (const auto& token : list) s.actions.back().push_back(parse_action(token));
  }
  return s;
}

/// The span of `token` on any device (each action runs once).
const span& find(const timeline& t, const std::string& token) {
  for (const auto& x : t.spans)
    if (to_string(x.what) == token) return x;
  FAIL("no span " << token);
  return t.spans.front();
}

void require_span(const timeline& t, const std::string& token, int device, double start, double end) {
  CAPTURE(token);
  const span& x = find(t, token);
  REQUIRE(x.device == device);
  REQUIRE(close(x.start, start));
  REQUIRE(close(x.end, end));
}

/// 1F1B, P = 2, M = 2: device 0 warms up with one forward (REFERENCE §5.2).
schedule one_f_one_b_2x2() {
  return make(placement::loop(2), 2, {{"0F0", "0F1", "0B0", "0B1"}, {"1F0", "1B0", "1F1", "1B1"}});
}

}  // namespace

TEST_CASE("pass costs and the cost model's queries", "[sim][cost_model]") {
  using namespace layerpipe::shorthand;
  STATIC_REQUIRE(pass_costs{1.0, 2.0, 3.0}.backward() == 5.0);
  const auto c = cost_model::uniform({1.0, 0.5, 1.5});
  REQUIRE(c.duration(F(7, 0)) == 1.0);
  REQUIRE(c.duration(B(7, 0)) == 2.0);
  REQUIRE(c.duration(I(3, 1)) == 0.5);
  REQUIRE(c.duration(W(3, 1)) == 1.5);
  REQUIRE(c.duration(parse_action("1SEND_F0")) == 0.0);
  REQUIRE(c.duration(parse_action("1RECV_B0")) == 0.0);
  REQUIRE(c.duration(parse_action("0REDUCE_GRAD")) == 0.0);
  REQUIRE(c.duration(overlap(F(0, 1), B(1, 0))) == 3.0);  // sum by default
  auto m = cost_model::uniform({1.0, 0.5, 1.5}).with_overlap(overlap_timing::max);
  REQUIRE(m.duration(overlap(F(0, 1), B(1, 0))) == 2.0);
  REQUIRE(m.duration(overlap(F(0, 1), I(1, 0))) == 1.0);

  auto per = cost_model::per_stage({{1, 1, 1}, {2, 3, 4}}).with_p2p_latency(0.25).with_activation_bytes({10.0, 20.0});
  REQUIRE(per.duration(B(1, 0)) == 7.0);
  REQUIRE(per.duration(overlap(F(0, 0), I(1, 0))) == 4.0);
  REQUIRE(per.latency({action_kind::send_f, 0, 1}) == 0.25);
  REQUIRE(per.activation_bytes(1) == 20.0);
  REQUIRE(per.message_bytes({action_kind::send_f, 0, 1}) == 10.0);  // the boundary tensor 0|1
  REQUIRE(per.message_bytes({action_kind::send_b, 1, 0}) == 10.0);  // its gradient, same shape
  REQUIRE(cost_model::uniform().activation_bytes(5) == 0.0);        // unknown unless set
  REQUIRE(cost_model{}.duration(B(4, 0)) == 2.0);                   // default: uniform()
  REQUIRE(cost_model::uniform().with_activation_bytes(8.0).activation_bytes(99) == 8.0);
}

TEST_CASE("bad costs name the rule and the value", "[sim][cost_model][error]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(cost_model::uniform({-1.0, 1.0, 1.0}), Catch::Contains("T_F") && Catch::Contains("-1"));
  REQUIRE_THROWS_WITH(cost_model::uniform({1.0, nan, 1.0}), Catch::Contains("T_I") && Catch::Contains("nan"));
  REQUIRE_THROWS_WITH(cost_model::uniform({1.0, 1.0, inf}), Catch::Contains("T_W") && Catch::Contains("inf"));
  REQUIRE_THROWS_WITH(cost_model::per_stage({{1, 1, 1}, {1, -2, 1}}),
                      Catch::Contains("stage 1") && Catch::Contains("-2"));
  REQUIRE_THROWS_WITH(cost_model::per_stage({}), Catch::Contains("at least one stage"));
  REQUIRE_THROWS_WITH(cost_model::uniform().with_p2p_latency(-0.5), Catch::Contains("latency") && Catch::Contains("-0.5"));
  REQUIRE_THROWS_WITH(cost_model::uniform().with_activation_bytes(inf), Catch::Contains("activation bytes"));
  REQUIRE_THROWS_WITH(cost_model::uniform().with_activation_bytes(std::vector<double>{1.0, -3.0}),
                      Catch::Contains("stage 1") && Catch::Contains("-3"));
  REQUIRE_THROWS_WITH(cost_model::uniform().with_activation_bytes(std::vector<double>{}),
                      Catch::Contains("at least one entry"));
  // A per-stage model shorter than the schedule is an error at use.
  const auto s = one_f_one_b_2x2();
  REQUIRE_THROWS_WITH(simulate(s, cost_model::per_stage({{1, 1, 1}})),
                      Catch::Contains("2 stages") && Catch::Contains("covers only 1"));
  REQUIRE_THROWS_WITH(cost_model::per_stage({{1, 1, 1}}).duration(parse_action("3F0")),
                      Catch::Contains("no costs for stage 3"));
  const auto short_bytes = cost_model::uniform().with_activation_bytes(std::vector<double>{1.0});
  REQUIRE_THROWS_WITH(measure(s, simulate(s, cost_model::uniform()), short_bytes),
                      Catch::Contains("activation bytes cover only 1"));
}

TEST_CASE("1F1B P=2 M=2 with T_F=1, T_B=2, worked by hand", "[sim]") {
  const auto s = one_f_one_b_2x2();
  const auto costs = cost_model::uniform({1.0, 1.0, 1.0});  // T_B = T_I + T_W = 2
  const timeline t = simulate(s, costs);
  REQUIRE(t.num_devices == 2);
  REQUIRE(t.spans.size() == 8);
  require_span(t, "0F0", 0, 0, 1);
  require_span(t, "0F1", 0, 1, 2);
  require_span(t, "1F0", 1, 1, 2);
  require_span(t, "1B0", 1, 2, 4);
  require_span(t, "0B0", 0, 4, 6);
  require_span(t, "1F1", 1, 4, 5);
  require_span(t, "1B1", 1, 5, 7);
  require_span(t, "0B1", 0, 7, 9);
  REQUIRE(close(t.makespan(), 9.0));  // (M + P − 1)(T_F + T_B)
  for (const auto& x : t.spans) REQUIRE(s.actions[static_cast<std::size_t>(x.device)][x.step] == x.what);

  SECTION("latency c on every cross-device edge") {
    const double c = 0.5;
    const timeline tc = simulate(s, cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(c));
    require_span(tc, "0F0", 0, 0, 1);
    require_span(tc, "0F1", 0, 1, 2);
    require_span(tc, "1F0", 1, 1 + c, 2 + c);
    require_span(tc, "1B0", 1, 2 + c, 4 + c);
    require_span(tc, "0B0", 0, 4 + 2 * c, 6 + 2 * c);
    require_span(tc, "1F1", 1, 4 + c, 5 + c);
    require_span(tc, "1B1", 1, 5 + c, 7 + c);
    require_span(tc, "0B1", 0, 7 + 2 * c, 9 + 2 * c);
  }
}

TEST_CASE("latency applies to cross-device edges only (V placement)", "[sim]") {
  // placement::v(2, 2): stage 0 and 3 on device 0, stages 1 and 2 on device 1; 1→2 and 2→1 are local.
  const auto s = make(placement::v(2, 2), 1, {{"0F0", "3F0", "3B0", "0B0"}, {"1F0", "2F0", "2B0", "1B0"}});
  const double c = 0.25;
  const timeline t = simulate(s, cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(c));
  require_span(t, "0F0", 0, 0, 1);
  require_span(t, "1F0", 1, 1 + c, 2 + c);
  require_span(t, "2F0", 1, 2 + c, 3 + c);  // local: no latency
  require_span(t, "3F0", 0, 3 + 2 * c, 4 + 2 * c);
  require_span(t, "3B0", 0, 4 + 2 * c, 6 + 2 * c);
  require_span(t, "2B0", 1, 6 + 3 * c, 8 + 3 * c);
  require_span(t, "1B0", 1, 8 + 3 * c, 10 + 3 * c);  // local
  require_span(t, "0B0", 0, 10 + 4 * c, 12 + 4 * c);

  const auto m = measure(s, t, cost_model::uniform().with_p2p_latency(c).with_activation_bytes(3.0));
  REQUIRE(m.messages == 4);  // 0→1, 2→3, 3→2, 1→0; the turn 1↔2 is local
  REQUIRE(close(m.message_bytes, 12.0));
  // Chunk activations count 1/V: device 0 holds two chunk activations = 1 stage-unit.
  REQUIRE(close(m.devices[0].peak_activations, 1.0));
  REQUIRE(m.devices[0].peak_activation_count == 2);
  REQUIRE(close(m.devices[0].peak_activation_bytes, 6.0));
}

TEST_CASE("per-stage costs", "[sim]") {
  // Stage 1 is twice as slow: device 0's second forward and backward wait for it.
  const auto s = one_f_one_b_2x2();
  const timeline t = simulate(s, cost_model::per_stage({{1, 1, 1}, {2, 2, 2}}));
  require_span(t, "0F0", 0, 0, 1);
  require_span(t, "1F0", 1, 1, 3);
  require_span(t, "1B0", 1, 3, 7);
  require_span(t, "1F1", 1, 7, 9);
  require_span(t, "1B1", 1, 9, 13);
  require_span(t, "0B0", 0, 7, 9);
  require_span(t, "0B1", 0, 13, 15);
}

TEST_CASE("OVERLAP_F_B pairs last T_F + T_B or max(T_F, T_B)", "[sim]") {
  const auto s = make(placement::loop(2), 2,
                      {{"0F0", "0F1", "0B0", "0B1"}, {"1F0", "(1F1;1B0)OVERLAP_F_B", "1B1"}});
  const timeline sum = simulate(s, cost_model::uniform({1.0, 1.0, 1.0}));
  require_span(sum, "(1F1;1B0)OVERLAP_F_B", 1, 2, 5);  // waits for 0F1 (2) and 1F0 (2)
  require_span(sum, "1B1", 1, 5, 7);
  require_span(sum, "0B0", 0, 5, 7);
  require_span(sum, "0B1", 0, 7, 9);
  const timeline max = simulate(s, cost_model::uniform({1.0, 1.0, 1.0}).with_overlap(overlap_timing::max));
  require_span(max, "(1F1;1B0)OVERLAP_F_B", 1, 2, 4);
  require_span(max, "1B1", 1, 4, 6);
  require_span(max, "0B0", 0, 4, 6);
  require_span(max, "0B1", 0, 6, 8);
  REQUIRE(close(sum.makespan(), 9.0));
  REQUIRE(close(max.makespan(), 8.0));
  // A pair waits for both halves' inputs: delay 0F1 and the pair moves with it.
  const timeline slow = simulate(s, cost_model::per_stage({{3, 1, 1}, {1, 1, 1}}));
  require_span(slow, "(1F1;1B0)OVERLAP_F_B", 1, 6, 9);
  // Order-based memory: the pair applies both halves (its forward counted before the free).
  const auto m = measure(s, sum, cost_model::uniform());
  REQUIRE(close(m.devices[1].peak_activations, 2.0));
  REQUIRE(close(m.devices[0].peak_activations, 2.0));
}

TEST_CASE("deadlocks and invalid schedules surface as the engine's errors", "[sim][error]") {
  // Device 0 waits at 0B0 for 1B0; device 1 waits at 1F1 for 0F1: a cycle.
  const auto dead = make(placement::loop(2), 2, {{"0F0", "0B0", "0F1", "0B1"}, {"1F1", "1B1", "1F0", "1B0"}});
  REQUIRE_THROWS_WITH(simulate(dead, cost_model::uniform()),
                      Catch::Contains("deadlock") && Catch::Contains("waits for 1B0 or 1I0") &&
                          Catch::Contains("waits for 0F1") && Catch::Contains("[0B0]"));
  const auto missing = make(placement::loop(2), 1, {{"0F0", "0B0"}, {"1F0"}});
  REQUIRE_THROWS_WITH(simulate(missing, cost_model::uniform()), Catch::Contains("1B0"));
  const auto wrong_device = make(placement::loop(2), 1, {{"0F0", "1F0", "1B0", "0B0"}, {}});
  REQUIRE_THROWS_WITH(simulate(wrong_device, cost_model::uniform()), Catch::Contains("belongs to device 1"));
}

TEST_CASE("metrics of 1F1B P=2 M=2 by hand", "[sim][metrics]") {
  const auto s = one_f_one_b_2x2();
  const auto costs = cost_model::uniform({1.0, 1.0, 1.0}).with_activation_bytes({10.0, 20.0});
  const timeline t = simulate(s, costs);
  const schedule_metrics m = measure(s, t, costs);
  REQUIRE(close(m.makespan, 9.0));
  REQUIRE(close(m.bubble_ratio, 3.0 / 9.0));  // (P − 1)/(M + P − 1)
  REQUIRE(m.devices.size() == 2);
  REQUIRE(close(m.devices[0].busy, 6.0));
  REQUIRE(close(m.devices[0].first_start, 0.0));
  REQUIRE(close(m.devices[0].last_end, 9.0));
  REQUIRE(close(m.devices[0].span_idle, 3.0));
  REQUIRE(close(m.devices[0].idle, 3.0));
  REQUIRE(close(m.devices[1].busy, 6.0));
  REQUIRE(close(m.devices[1].first_start, 1.0));
  REQUIRE(close(m.devices[1].last_end, 7.0));
  REQUIRE(close(m.devices[1].span_idle, 0.0));
  REQUIRE(close(m.devices[1].idle, 3.0));
  REQUIRE(close(m.max_span_idle, 3.0));
  // Peak min(P − d, M): two on device 0, one on device 1.
  REQUIRE(close(m.devices[0].peak_activations, 2.0));
  REQUIRE(m.devices[0].peak_activation_count == 2);
  REQUIRE(close(m.devices[0].peak_activation_bytes, 20.0));
  REQUIRE(close(m.devices[1].peak_activations, 1.0));
  REQUIRE(close(m.devices[1].peak_activation_bytes, 20.0));
  // 2 forward + 2 backward transfers across the 0|1 boundary, 10 bytes each.
  REQUIRE(m.messages == 4);
  REQUIRE(close(m.message_bytes, 40.0));
  // Critical path: 0F0 → 1F0 → 1B0 → 1F1 → 1B1 → 0B1 (1 + 1 + 2 + 1 + 2 + 2 = 9).
  std::vector<std::string> path;
  double sum = 0.0;
  for (const auto& x : m.critical_path) {
    path.push_back(to_string(x.what));
    sum += x.duration();
  }
  REQUIRE(path == std::vector<std::string>{"0F0", "1F0", "1B0", "1F1", "1B1", "0B1"});
  REQUIRE(close(m.critical_path_latency, 0.0));
  REQUIRE(close(sum, m.makespan));

  SECTION("with latency the path picks up two transfers") {
    const auto lc = cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(0.75);
    const timeline tl = simulate(s, lc);
    const auto ml = measure(s, tl, lc);
    double d = 0.0;
    for (const auto& x : ml.critical_path) d += x.duration();
    REQUIRE(close(ml.makespan, 9.0 + 2 * 0.75));
    REQUIRE(close(ml.critical_path_latency, 2 * 0.75));
    REQUIRE(close(d + ml.critical_path_latency, ml.makespan));
    REQUIRE(to_string(ml.critical_path.front().what) == "0F0");
    REQUIRE(to_string(ml.critical_path.back().what) == "0B1");
  }
}

TEST_CASE("split backward: activation accounting", "[sim][metrics]") {
  // Device 1 runs F0 I0 F1 I1 W0 W1; device 0 runs F0 F1 I0 W0 I1 W1.
  const auto s = make(placement::loop(2), 2,
                      {{"0F0", "0F1", "0I0", "0W0", "0I1", "0W1"}, {"1F0", "1I0", "1F1", "1I1", "1W0", "1W1"}});
  const auto costs = cost_model::uniform({1.0, 1.0, 1.0}).with_activation_bytes(4.0);
  const timeline t = simulate(s, costs);
  const auto at_w = measure(s, t, costs);
  REQUIRE(close(at_w.devices[1].peak_activations, 2.0));  // I frees nothing
  REQUIRE(at_w.devices[1].peak_activation_count == 2);
  REQUIRE(close(at_w.devices[1].peak_activation_bytes, 8.0));
  REQUIRE(close(at_w.devices[0].peak_activations, 2.0));
  const auto half = measure(s, t, costs, activation_accounting::split_input_weight);
  REQUIRE(close(half.devices[1].peak_activations, 1.5));  // 1, ½, 1½, 1, ½, 0
  REQUIRE(half.devices[1].peak_activation_count == 2);    // still held until W
  REQUIRE(close(half.devices[1].peak_activation_bytes, 6.0));
  REQUIRE(close(half.devices[0].peak_activations, 2.0));  // both F before any I
  const auto quarter = measure(s, t, costs, activation_accounting::split_input_weight, 0.25);
  REQUIRE(close(quarter.devices[1].peak_activations, 1.75));
  REQUIRE_THROWS_WITH(measure(s, t, costs, activation_accounting::split_input_weight, 1.5),
                      Catch::Contains("input_grad_share") && Catch::Contains("1.5"));
  // Times: I, W = 1 each. Device 1: 1F0 [1,2], 1I0 [2,3], 1F1 [3,4], 1I1 [4,5], 1W0 [5,6], 1W1 [6,7].
  require_span(t, "1W1", 1, 6, 7);
  require_span(t, "0I1", 0, 5, 6);
  require_span(t, "0W1", 0, 6, 7);
  REQUIRE(close(at_w.makespan, 7.0));
}

TEST_CASE("a forward-only schedule: no backward, no stash", "[sim][metrics]") {
  auto s = make(placement::loop(3), 2, {{"0F0", "0F1"}, {"1F0", "1F1"}, {"2F0", "2F1"}});
  s.forward_only = true;
  const auto costs = cost_model::uniform({2.0, 1.0, 1.0}).with_activation_bytes(1.0);
  const timeline t = simulate(s, costs);
  REQUIRE(close(t.makespan(), (2 + 3 - 1) * 2.0));  // (M + P − 1) T_F
  const auto m = measure(s, t, costs);
  REQUIRE(m.messages == 4);  // forward transfers only
  REQUIRE(close(m.devices[2].peak_activations, 0.0));
  REQUIRE(close(m.bubble_ratio, (8.0 - 4.0) / 8.0));
}

TEST_CASE("measure rejects a timeline that is not of the schedule", "[sim][metrics][error]") {
  const auto s = one_f_one_b_2x2();
  const auto costs = cost_model::uniform();
  timeline t = simulate(s, costs);
  timeline fewer = t;
  fewer.spans.pop_back();
  REQUIRE_THROWS_WITH(measure(s, fewer, costs), Catch::Contains("7 spans") && Catch::Contains("8 actions"));
  timeline other = t;
  other.spans[0].what = parse_action("0F5");
  REQUIRE_THROWS_WITH(measure(s, other, costs), Catch::Contains("runs 0F5"));
  timeline twice = t;
  twice.spans[1] = twice.spans[0];
  REQUIRE_THROWS_WITH(measure(s, twice, costs), Catch::Contains("two spans"));
  timeline devices = t;
  devices.num_devices = 3;
  REQUIRE_THROWS_WITH(measure(s, devices, costs), Catch::Contains("3 devices"));
}

TEST_CASE("a lowered schedule simulates to the compute-only times", "[sim][lowered]") {
  const auto compute = one_f_one_b_2x2();
  const auto lowered = make(placement::loop(2), 2,
                            {{"0F0", "0SEND_F0", "0F1", "0SEND_F1", "0RECV_B0", "0B0", "0RECV_B1", "0B1"},
                             {"1RECV_F0", "1F0", "1B0", "1SEND_B0", "1RECV_F1", "1F1", "1B1", "1SEND_B1"}},
                            schedule_level::lowered);
  for (double c : {0.0, 0.5}) {
    CAPTURE(c);
    const auto costs = cost_model::uniform({1.0, 0.5, 1.5}).with_p2p_latency(c).with_activation_bytes(2.0);
    const timeline a = simulate(compute, costs), b = simulate(lowered, costs);
    for (const auto& x : a.spans) {
      const span& y = find(b, to_string(x.what));
      REQUIRE(y.device == x.device);
      REQUIRE(close(y.start, x.start));
      REQUIRE(close(y.end, x.end));
    }
    const auto ma = measure(compute, a, costs), mb = measure(lowered, b, costs);
    REQUIRE(ma.messages == mb.messages);
    REQUIRE(close(ma.message_bytes, mb.message_bytes));
    REQUIRE(close(ma.makespan, mb.makespan));
    REQUIRE(close(ma.devices[1].first_start, mb.devices[1].first_start));  // RECV at 0 is not work
    REQUIRE(close(ma.max_span_idle, mb.max_span_idle));
    double d = 0.0;
    for (const auto& x : mb.critical_path) d += x.duration();
    REQUIRE(close(d + mb.critical_path_latency, mb.makespan));
  }
}

TEST_CASE("lower() keeps every compute span's time", "[sim][lowered]") {
  for (int devices : {1, 2, 3, 4}) {
    for (int m : {1, 3, 4}) {
      for (auto p : {placement::loop(devices), placement::v(devices, 2)}) {
        CAPTURE(devices, m, to_string(p.style()));
        schedule s;
        s.placement = p;
        s.micro_batches = m;
        s.name = "gpipe-by-hand";
        s.actions.resize(static_cast<std::size_t>(devices));
        // GPipe over any placement: per device, forwards by stage then backwards in reverse.
        for (int d = 0; d < devices; ++d) {
          auto& list = s.actions[static_cast<std::size_t>(d)];
          const auto stages = p.stages_on(d);
          for (int st : stages)
            for (int mb = 0; mb < m; ++mb) list.push_back(make_action(action_kind::forward, st, mb));
          for (auto it = stages.rbegin(); it != stages.rend(); ++it)
            for (int mb = 0; mb < m; ++mb) list.push_back(make_action(action_kind::backward, *it, mb));
        }
        const schedule low = lower(s);
        REQUIRE(low.level == schedule_level::lowered);
        const auto costs = cost_model::uniform({1.0, 0.75, 1.25}).with_p2p_latency(0.3).with_activation_bytes(5.0);
        const timeline a = simulate(s, costs), b = simulate(low, costs);
        std::size_t compute_spans = 0;
        for (const auto& y : b.spans) compute_spans += is_compute(y.what.kind) ? 1u : 0u;
        REQUIRE(compute_spans == a.spans.size());
        for (const auto& x : a.spans) {
          const span& y = find(b, to_string(x.what));
          REQUIRE(close(y.start, x.start));
          REQUIRE(close(y.end, x.end));
        }
        const auto ma = measure(s, a, costs), mb = measure(low, b, costs);
        REQUIRE(ma.messages == mb.messages);
        REQUIRE(close(ma.message_bytes, mb.message_bytes));
        std::size_t sends = 0;
        for (const auto& list : low.actions)
          for (const auto& x : list)
            sends += x.kind == action_kind::send_f || x.kind == action_kind::send_b ? 1u : 0u;
        REQUIRE(sends == mb.messages);
      }
    }
  }
  // Overlapped pairs wait for both halves' inputs in the lowered form too.
  const auto pair = make(placement::loop(2), 2, {{"0F0", "0F1", "0B0", "0B1"}, {"1F0", "(1F1;1B0)OVERLAP_F_B", "1B1"}});
  for (auto timing : {overlap_timing::sum, overlap_timing::max}) {
    const auto costs = cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(0.5).with_overlap(timing);
    const timeline a = simulate(pair, costs), b = simulate(lower(pair), costs);
    for (const auto& x : a.spans) {
      const span& y = find(b, to_string(x.what));
      REQUIRE(close(y.start, x.start));
      REQUIRE(close(y.end, x.end));
    }
  }
}
