// The automatic zero-bubble scheduler (REFERENCE §5.4): validity and the memory cap over sweeps,
// never slower than the handcrafted schedules that fit the cap (equal and unequal costs, with and
// without latency), an exact order where the cap leaves one choice, and every rejected input.
// Makespans and peaks are read from layerpipe::simulate and layerpipe::measure (W frees the
// activation, measure()'s default accounting), not from the generator's own bookkeeping.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/schedule/zb_auto.hpp>
#include <layerpipe/schedule/zero_bubble.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::require_error;

namespace {

cost_model model(const std::vector<pass_costs>& stages, double latency) {
  return cost_model::per_stage(stages).with_p2p_latency(latency);
}

double makespan(const schedule& s, const cost_model& c) { return simulate(s, c).makespan(); }

/// Largest order-based peak over devices, in stage-units (one stage per device).
double peak(const schedule& s, const cost_model& c) {
  const auto m = measure(s, simulate(s, c), c);
  double out = 0.0;
  for (const auto& d : m.devices) out = std::max(out, d.peak_activations);
  return out;
}

/// Every (stage, micro-batch) has one F, one I and one W on its device, and nothing else.
void require_split_passes(const schedule& s) {
  REQUIRE(s.name == "ZB-auto");
  REQUIRE(s.level == schedule_level::compute_only);
  REQUIRE(s.num_stages() == s.num_devices());
  for (std::size_t d = 0; d < s.actions.size(); ++d) {
    REQUIRE(s.actions[d].size() == static_cast<std::size_t>(3 * s.micro_batches));
    for (const action& a : s.actions[d]) {
      REQUIRE(a.stage == static_cast<int>(d));
      REQUIRE((a.kind == action_kind::forward || a.kind == action_kind::backward_input ||
               a.kind == action_kind::backward_weight));
    }
  }
}

/// The loop-placement schedules a user could pick by hand, fused B's included.
std::vector<schedule> handcrafted(int p, int m) {
  return {zb_h1(p, m), zb_h2(p, m), one_f_one_b(p, m), gpipe(p, m)};
}

}  // namespace

TEST_CASE("ZB-auto at equal costs: no slower than ZB-H1 with cap P and ZB-H2 with cap 2P", "[generators][zb_auto]") {
  for (int p = 1; p <= 8; ++p) {
    for (int m : {1, 2, 3, 5, 8, 13, 16, 24}) {
      CAPTURE(p, m);
      const std::vector<pass_costs> equal(static_cast<std::size_t>(p), pass_costs{1, 1, 1});
      const cost_model c = model(equal, 0.0);

      const schedule one = zero_bubble_auto(p, m, {equal, 0.0, static_cast<double>(p)});
      validate(one);
      require_split_passes(one);
      REQUIRE(makespan(one, c) <= makespan(zb_h1(p, m), c));
      REQUIRE(peak(one, c) <= p);

      const schedule two = zero_bubble_auto(p, m, {equal, 0.0, 2.0 * p});
      validate(two);
      require_split_passes(two);
      REQUIRE(makespan(two, c) <= makespan(zb_h2(p, m), c));
      REQUIRE(peak(two, c) <= 2 * p);

      // The default options: unit costs, cap 2P.
      const schedule deflt = zero_bubble_auto(p, m);
      REQUIRE(makespan(deflt, c) == makespan(two, c));
      REQUIRE(peak(deflt, c) <= 2 * p);
    }
  }
}

TEST_CASE("ZB-auto keeps every cap from 1 to beyond M", "[generators][zb_auto]") {
  const std::vector<pass_costs> costs{{1, 1, 1}, {1, 2, 1}, {2, 1, 1.5}, {1, 1, 0.5}, {1, 1, 2}};
  const double latency = 0.25;
  const cost_model c = model(costs, latency);
  for (int m : {1, 4, 7, 12}) {
    for (double cap : {1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 11.0, 14.0, std::numeric_limits<double>::infinity()}) {
      CAPTURE(m, cap);
      const schedule s = zero_bubble_auto(5, m, {costs, latency, cap});
      validate(s);
      require_split_passes(s);
      REQUIRE(peak(s, c) <= std::floor(cap));  // whole activations: a cap of 1.5 holds 1
      // ZB-H1 holds min(P, M), ZB-H2 min(2P, M): where they fit, they bound the result.
      const double t = makespan(s, c);
      if (cap >= std::min(5, m)) REQUIRE(t <= makespan(zb_h1(5, m), c));
      if (cap >= std::min(10, m)) REQUIRE(t <= makespan(zb_h2(5, m), c));
    }
  }
}

TEST_CASE("ZB-auto with a cap of 1 runs F, I, W of one micro-batch before the next F", "[generators][zb_auto]") {
  // With one activation per device the order is forced: the exact lists, worked by hand.
  const schedule s = zero_bubble_auto(2, 2, {{}, 0.0, 1.0});
  auto lists = [](std::initializer_list<std::initializer_list<const char*>> devices) {
    std::vector<std::vector<action>> out;
    for (const auto& tokens : devices) {
      out.emplace_back();
      for (const char* t : tokens) out.back().push_back(parse_action(t));
    }
    return out;
  };
  REQUIRE(s.actions == lists({{"0F0", "0I0", "0W0", "0F1", "0I1", "0W1"}, {"1F0", "1I0", "1W0", "1F1", "1I1", "1W1"}}));
  // Unit costs, by hand: 0F0 [0,1], 1F0 [1,2], 1I0 [2,3], 0I0 [3,4], 0W0 [4,5], 0F1 [5,6],
  // 1F1 [6,7], 1I1 [7,8], 0I1 [8,9], 0W1 [9,10] (1W0, 1W1 fit in device 1's waits): 10.
  REQUIRE(makespan(s, cost_model::uniform({1, 1, 1})) == Approx(10.0));
}

TEST_CASE("ZB-auto with unequal stage costs: no slower than any handcrafted schedule that fits", "[generators][zb_auto]") {
  struct scenario {
    const char* what;
    std::vector<pass_costs> costs;
    double latency;
  };
  for (int p : {2, 4, 6}) {
    std::vector<pass_costs> slow(static_cast<std::size_t>(p), pass_costs{1, 1, 1});
    slow[static_cast<std::size_t>(p / 2)] = {2, 2, 2};
    std::vector<pass_costs> long_w(static_cast<std::size_t>(p), pass_costs{1, 1, 2});
    std::vector<pass_costs> short_w(static_cast<std::size_t>(p), pass_costs{1, 1, 0.5});
    std::vector<pass_costs> mixed(static_cast<std::size_t>(p), pass_costs{1, 1.5, 2.5});
    mixed[1] = {1.5, 2, 3};
    mixed.back() = {0.5, 0.5, 0.5};
    const std::vector<scenario> cases{{"one slow stage", slow, 0.0},
                                      {"T_W > T_F", long_w, 0.0},
                                      {"T_W < T_F, latency", short_w, 0.2},
                                      {"mixed, latency", mixed, 0.1}};
    for (const scenario& x : cases) {
      for (int m : {1, 3, 8, 17}) {
        for (double cap : {static_cast<double>(p), 2.0 * p, 0.0, static_cast<double>(m)}) {
          CAPTURE(x.what, p, m, cap);
          const cost_model c = model(x.costs, x.latency);
          const schedule s = zero_bubble_auto(p, m, {x.costs, x.latency, cap});
          validate(s);
          const double limit = cap == 0.0 ? 2.0 * p : cap;
          REQUIRE(peak(s, c) <= limit);
          const double t = makespan(s, c);
          for (const schedule& h : handcrafted(p, m)) {
            CAPTURE(h.name);
            if (peak(h, c) <= limit) REQUIRE(t <= makespan(h, c));
          }
        }
      }
    }
  }
}

TEST_CASE("ZB-auto's greedy beats every handcrafted schedule where W is short and transfers cost", "[generators][zb_auto]") {
  // T_W = T_F / 2 and latency 0.2 at P = 4, M = 8, cap 2P: ZB-H2's fixed order (built for equal
  // times) leaves gaps the cost-aware greedy fills. A strict improvement, so the greedy is doing
  // the work here, not a handcrafted candidate.
  const std::vector<pass_costs> costs(4, pass_costs{1, 1, 0.5});
  const cost_model c = model(costs, 0.2);
  const schedule s = zero_bubble_auto(4, 8, {costs, 0.2, 8.0});
  const double t = makespan(s, c);
  for (const schedule& h : handcrafted(4, 8)) {
    CAPTURE(h.name);
    REQUIRE(t < makespan(h, c));
  }
}

TEST_CASE("ZB-auto with latency is valid and no slower than ZB-H1", "[generators][zb_auto]") {
  for (int p : {1, 2, 3, 5, 8}) {
    for (int m : {1, 4, 9, 20}) {
      for (double latency : {0.1, 0.5, 2.0}) {
        CAPTURE(p, m, latency);
        const std::vector<pass_costs> costs(1, pass_costs{1, 1, 1});  // one entry: every stage
        const cost_model c = cost_model::uniform({1, 1, 1}).with_p2p_latency(latency);
        for (double cap : {static_cast<double>(p), 0.0}) {
          const schedule s = zero_bubble_auto(p, m, {costs, latency, cap});
          validate(s);
          require_split_passes(s);
          REQUIRE(makespan(s, c) <= makespan(zb_h1(p, m), c));
          REQUIRE(peak(s, c) <= (cap == 0.0 ? 2 * p : p));
        }
      }
    }
  }
}

TEST_CASE("ZB-auto rejects bad sizes, costs, latency and caps", "[generators][zb_auto]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  require_error([] { (void)zero_bubble_auto(0, 4); }, {"ZB-auto needs at least one device (P >= 1)", "got P = 0"});
  require_error([] { (void)zero_bubble_auto(4, 0); }, {"ZB-auto needs at least one micro-batch (M >= 1)", "got M = 0"});
  require_error([] { (void)zero_bubble_auto(4, 8, {std::vector<pass_costs>(3), 0.0, 0.0}); },
                {"stage_costs needs no entry, one entry (every stage) or one per stage (P = 4)", "got 3"});
  require_error([] { (void)zero_bubble_auto(2, 8, {{{1, 1, 1}, {-1, 1, 1}}, 0.0, 0.0}); },
                {"forward cost T_F of stage 1 must be finite and >= 0", "got -1"});
  require_error([&] { (void)zero_bubble_auto(2, 8, {{{1, nan, 1}}, 0.0, 0.0}); },
                {"input-gradient cost T_I must be finite and >= 0", "got nan"});
  require_error([&] { (void)zero_bubble_auto(2, 8, {{{1, 1, inf}, {1, 1, 1}}, 0.0, 0.0}); },
                {"weight-gradient cost T_W of stage 0 must be finite and >= 0", "got inf"});
  require_error([] { (void)zero_bubble_auto(2, 8, {{}, -0.5, 0.0}); }, {"p2p_latency must be finite and >= 0", "got -0.5"});
  require_error([&] { (void)zero_bubble_auto(2, 8, {{}, nan, 0.0}); }, {"p2p_latency must be finite and >= 0", "got nan"});
  for (double cap : {0.5, -1.0, nan}) {
    CAPTURE(cap);
    require_error([&] { (void)zero_bubble_auto(2, 8, {{}, 0.0, cap}); },
                  {"memory_cap must be at least 1 activation per device", "or 0 for the default 2P; got"});
  }
  require_error([] { (void)zero_bubble_auto(2, 8, {{}, 0.0, 0.25}); }, {"got 0.25"});
}
