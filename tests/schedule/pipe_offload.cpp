// PipeOffload (REFERENCE §5.7) and host copies: the engine's copy stream on a hand-timed
// schedule, its order rules, the cost model's host bandwidth, the order-based memory with
// offloads, the generator (hand-checked lists, relation to interleaved 1F1B, validity sweep,
// makespan and memory laws) and selective offload under a memory cap.
//
// Laws measured here (chunk passes T_F = T_I = T_W = t, free communication):
//   - g = P, M % P == 0: makespan (3·M·V + 2P − 2)·t with free copies;
//   - g = P, M % P == 0: device d's order-based peak is min(P·(V − K) − d, (V − K)·M) chunk
//     activations wherever that is at least 3 (each offloaded chunk removes P of them, linearly in
//     K), and at most 2 otherwise (the F just run before its OFFLOAD and one reloaded activation);
//   - any g, M % g == 0, no offload: device d holds min(g·(V − 1) + P − d, M·V) chunk activations;
//   - for every g the peak never rises with K;
//   - copies hidden: with a large host bandwidth the makespan equals the no-offload one; it grows
//     as the bandwidth falls.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/schedule/pipe_offload.hpp>
#include <layerpipe/schedule/validate.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/selective_offload.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;
using layerpipe::test::tokens;
using layerpipe::test::require_error;

namespace {

using list = std::vector<std::string>;

/// A compute-only schedule from token lists, one per device.
schedule hand(const placement& where, int micro_batches, const std::vector<list>& rows) {
  schedule s;
  s.placement = where;
  s.micro_batches = micro_batches;
  s.name = "hand";
  for (const auto& row : rows) {
    s.actions.emplace_back();
    for (const auto& t : row) s.actions.back().push_back(parse_action(t));
  }
  return s;
}

/// The actions of one device with the given kind, in order.
std::vector<action> only(const schedule& s, int device, action_kind kind) {
  std::vector<action> out;
  for (const action& a : s.actions[static_cast<std::size_t>(device)])
    if (a.kind == kind) out.push_back(a);
  return out;
}

const span& span_of(const timeline& t, const std::string& what, int device) {
  for (const span& x : t.spans)
    if (x.device == device && to_string(x.what) == what) return x;
  FAIL("no span " << what << " on device " << device);
  return t.spans.front();
}

double peak_count(const schedule_metrics& m) {
  int top = 0;
  for (const auto& d : m.devices) top = std::max(top, d.peak_activation_count);
  return top;
}

}  // namespace

TEST_CASE("host copies run on a copy stream: serialised, issued in list order, awaited by the backward",
          "[generators][offload][engine]") {
  // T_F = T_I = T_W = 1; each activation is 1 byte and the host link moves 0.5 byte per time
  // unit, so a copy takes 2. Times worked by hand:
  //   device 0: 0F0 [0,1]; 0OFFLOAD0 [1,3] on the copy stream; 0F1 [1,2]: the compute stream is
  //   not held by the copy; 0OFFLOAD1 waits for the copy stream: [3,5]; 0RELOAD0 [5,7];
  //   0I0 needs its RELOAD: [7,8]; 0W0 [8,9]; 0RELOAD1 is issued after 0W0: [9,11];
  //   0I1 [11,12]; 0W1 [12,13].
  //   device 1: 1F0 [1,2] 1I0 [2,3] 1W0 [3,4] 1F1 [4,5] 1I1 [5,6] 1W1 [6,7].
  const schedule s = hand(placement::loop(2), 2,
                          {{"0F0", "0OFFLOAD0", "0F1", "0OFFLOAD1", "0RELOAD0", "0I0", "0W0", "0RELOAD1", "0I1", "0W1"},
                           {"1F0", "1I0", "1W0", "1F1", "1I1", "1W1"}});
  validate(s);
  const auto costs = cost_model::uniform({1, 1, 1}).with_activation_bytes(1.0).with_host_bandwidth(0.5);
  CHECK(close(costs.duration(parse_action("0OFFLOAD0")), 2.0));
  const timeline t = simulate(s, costs);
  struct expected {
    const char* what;
    int device;
    double start, end;
  };
  for (const expected& e : {expected{"0F0", 0, 0, 1}, {"0OFFLOAD0", 0, 1, 3}, {"0F1", 0, 1, 2}, {"0OFFLOAD1", 0, 3, 5},
                            {"0RELOAD0", 0, 5, 7}, {"0I0", 0, 7, 8}, {"0W0", 0, 8, 9}, {"0RELOAD1", 0, 9, 11},
                            {"0I1", 0, 11, 12}, {"0W1", 0, 12, 13}, {"1F0", 1, 1, 2}, {"1I0", 1, 2, 3},
                            {"1W0", 1, 3, 4}, {"1F1", 1, 4, 5}, {"1I1", 1, 5, 6}, {"1W1", 1, 6, 7}}) {
    CAPTURE(e.what);
    const span& x = span_of(t, e.what, e.device);
    CHECK(close(x.start, e.start));
    CHECK(close(x.end, e.end));
  }
  const schedule_metrics m = measure(s, t, costs);
  CHECK(close(m.makespan, 13.0));
  CHECK(close(m.devices[0].busy, 6.0));  // copies are not compute
  // Offloaded from OFFLOAD to RELOAD: never more than one activation on device 0, two on the host.
  CHECK(m.devices[0].peak_activation_count == 1);
  CHECK(close(m.devices[0].peak_activation_bytes, 1.0));
  CHECK(m.devices[0].peak_host_activation_count == 2);
  CHECK(close(m.devices[0].peak_host_activation_bytes, 2.0));
  CHECK(m.devices[1].peak_host_activation_count == 0);
  CHECK(m.host_copies == 4);
  CHECK(close(m.host_copy_bytes, 4.0));
  // The critical path runs through the copy stream and the issue point of 0RELOAD1.
  list path;
  for (const span& x : m.critical_path) path.push_back(to_string(x.what));
  CHECK(path == list{"0F0", "0OFFLOAD0", "0OFFLOAD1", "0RELOAD0", "0I0", "0W0", "0RELOAD1", "0I1", "0W1"});
  CHECK(close(m.critical_path_latency, 0.0));

  // Without a bandwidth the copies are free and the timing is the schedule's without them.
  const auto free_copies = cost_model::uniform({1, 1, 1}).with_activation_bytes(1.0);
  const schedule plain = hand(placement::loop(2), 2,
                              {{"0F0", "0F1", "0I0", "0W0", "0I1", "0W1"}, {"1F0", "1I0", "1W0", "1F1", "1I1", "1W1"}});
  CHECK(close(simulate(s, free_copies).makespan(), simulate(plain, free_copies).makespan()));
  CHECK(measure(plain, simulate(plain, free_copies), free_copies).devices[0].peak_activation_count == 2);
}

TEST_CASE("the engine names the broken offload rule", "[generators][offload][engine][errors]") {
  const auto check = [](const list& device0, const char* rule) {
    const schedule s = hand(placement::loop(2), 1, {device0, {"1F0", "1I0", "1W0"}});
    CAPTURE(rule);
    require_error([&] { validate(s); }, {rule});
    require_error([&] { simulate(s, cost_model::uniform()); }, {rule});
  };
  check({"0F0", "0OFFLOAD0", "0I0", "0W0"}, "without a RELOAD (rule: every OFFLOAD has its RELOAD before the backward)");
  check({"0F0", "0RELOAD0", "0I0", "0W0"}, "without an OFFLOAD (rule: a RELOAD follows its OFFLOAD)");
  check({"0F0", "0RELOAD0", "0OFFLOAD0", "0I0", "0W0"}, "before its OFFLOAD at step 2 (rule: a RELOAD follows its OFFLOAD)");
  check({"0F0", "0OFFLOAD0", "0I0", "0RELOAD0", "0W0"},
        "would run while its activation is on the host: its RELOAD comes later, at step 3");
  check({"0F0", "0I0", "0OFFLOAD0", "0RELOAD0", "0W0"},
        "its OFFLOAD comes later, at step 2 (rule: F, OFFLOAD, RELOAD, then the backward)");
  check({"0OFFLOAD0", "0F0", "0RELOAD0", "0I0", "0W0"}, "needs 0F0, which device 0 runs later");
  check({"0F0", "0OFFLOAD0", "0OFFLOAD0", "0RELOAD0", "0I0", "0W0"}, "0OFFLOAD0 runs twice");
  // A fused backward needs its RELOAD too.
  const schedule fused = hand(placement::loop(2), 1, {{"0F0", "0OFFLOAD0", "0B0", "0RELOAD0"}, {"1F0", "1B0"}});
  require_error([&] { validate(fused); }, {"would run while its activation is on the host"});
}

TEST_CASE("the cost model times host copies from the activation bytes and the bandwidth", "[generators][offload][cost]") {
  auto costs = cost_model::per_stage({{1, 1, 1}, {2, 2, 2}}).with_activation_bytes(std::vector<double>{8.0, 4.0});
  CHECK(costs.host_bandwidth() == 0.0);
  CHECK(costs.duration(parse_action("0OFFLOAD0")) == 0.0);  // unset: copies are free
  costs.with_host_bandwidth(2.0);
  CHECK(close(costs.duration(parse_action("0OFFLOAD3")), 4.0));
  CHECK(close(costs.duration(parse_action("1RELOAD0")), 2.0));
  CHECK(close(costs.host_copy_time(1), 2.0));
  CHECK(close(costs.duration(parse_action("1F0")), 2.0));  // passes unchanged
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()})
    require_error([&] { cost_model::uniform().with_host_bandwidth(bad); },
                  {"host bandwidth (bytes per time unit) must be finite and > 0"});
}

TEST_CASE("PipeOffload P=2 M=2 V=2 follows the building block slot by slot", "[generators][offload]") {
  // g = 2, D_0 = g(V−1) + P − 1 = 3, D_1 = 2. Entries: 0 = (mb 0, chunk 0), 1 = (1, 0),
  // 2 = (0, 1), 3 = (1, 1); step t holds F(entry t), then I, W of entry t − D_d mirrored.
  const schedule s = pipe_offload(2, 2, 2, {.group_size = 2});
  CHECK(s.name == "PipeOffload");
  CHECK(s.level == schedule_level::compute_only);
  CHECK(s.placement == placement::loop(2, 2));
  CHECK(tokens(s, 0) == list{"0F0", "0F1", "2F0", "2F1", "2I0", "2W0", "2I1", "2W1", "0I0", "0W0", "0I1", "0W1"});
  CHECK(tokens(s, 1) == list{"1F0", "1F1", "3F0", "3I0", "3W0", "3F1", "3I1", "3W1", "1I0", "1W0", "1I1", "1W1"});
  // K = 1: chunk 0 goes to the host after its F; RELOAD two compute passes ahead of its I.
  const schedule o = pipe_offload(2, 2, 2, {.group_size = 2, .offload_chunks = 1});
  CHECK(tokens(o, 0) == list{"0F0", "0OFFLOAD0", "0F1", "0OFFLOAD1", "2F0", "2F1", "2I0", "2W0", "0RELOAD0", "2I1",
                             "2W1", "0RELOAD1", "0I0", "0W0", "0I1", "0W1"});
  CHECK(tokens(o, 1) == list{"1F0", "1OFFLOAD0", "1F1", "1OFFLOAD1", "3F0", "3I0", "3W0", "3F1", "1RELOAD0", "3I1",
                             "3W1", "1RELOAD1", "1I0", "1W0", "1I1", "1W1"});
  // reload_lead = 0: each RELOAD right before its I; an I closer than the lead to its F gets
  // its RELOAD right after the OFFLOAD.
  const schedule z = pipe_offload(2, 2, 2, {.group_size = 2, .offload_chunks = 2, .reload_lead = 0});
  CHECK(tokens(z, 1) == list{"1F0", "1OFFLOAD0", "1F1", "1OFFLOAD1", "3F0", "3OFFLOAD0", "3RELOAD0", "3I0", "3W0",
                             "3F1", "3OFFLOAD1", "3RELOAD1", "3I1", "3W1", "1RELOAD0", "1I0", "1W0", "1RELOAD1",
                             "1I1", "1W1"});
  validate(o);
  validate(z);
}

TEST_CASE("PipeOffload with g = P has interleaved 1F1B's F and backward orders, W right after I",
          "[generators][offload]") {
  for (int p : {2, 4, 6, 8})
    for (int v : {1, 2, 3, 4})
      for (int m : {p, 2 * p, 3 * p}) {
        CAPTURE(p, v, m);
        const schedule s = pipe_offload(p, m, v, {.group_size = p});
        const schedule ref = v >= 2 ? interleaved_1f1b(p, m, v, {.group_size = p}) : one_f_one_b(p, m);
        for (int d = 0; d < p; ++d) {
          CAPTURE(d);
          CHECK(only(s, d, action_kind::forward) == only(ref, d, action_kind::forward));
          std::vector<action> backwards;
          for (const action& b : only(ref, d, action_kind::backward))
            backwards.push_back(make_action(action_kind::backward_input, b.stage, b.micro_batch));
          CHECK(only(s, d, action_kind::backward_input) == backwards);
          const auto& row = s.actions[static_cast<std::size_t>(d)];
          std::size_t warmup = 0;
          while (row[warmup].kind == action_kind::forward) ++warmup;
          // ZB1P's warm-up: Megatron's 2(P − 1 − d) becomes P − 1 − d, plus the F before the first I.
          CHECK(warmup == static_cast<std::size_t>((v - 1) * p + p - d));
          for (std::size_t i = 0; i < row.size(); ++i)
            if (row[i].kind == action_kind::backward_input)
              CHECK(row[i + 1] == make_action(action_kind::backward_weight, row[i].stage, row[i].micro_batch));
        }
      }
}

TEST_CASE("PipeOffload is valid and exactly sized for every accepted input of a sweep", "[generators][offload][sweep]") {
  for (int p = 1; p <= 8; ++p)
    for (int v = 1; v <= 4; ++v)
      for (int m = 1; m <= 2 * p + 1; ++m)
        for (int g = (p + 1) / 2; g <= p; ++g)
          for (int k = 0; k <= (p % 2 == 0 ? v : 0); ++k)
            for (int lead : {0, 2, 5}) {
              CAPTURE(p, v, m, g, k, lead);
              const schedule s = pipe_offload(p, m, v, {.group_size = g, .offload_chunks = k, .reload_lead = lead});
              REQUIRE(is_valid(s));
              for (int d = 0; d < p; ++d) {
                const auto& row = s.actions[static_cast<std::size_t>(d)];
                REQUIRE(row.size() == static_cast<std::size_t>(3 * m * v + 2 * m * k));
                std::size_t copies = 0;
                for (const action& a : row)
                  if (a.kind == action_kind::offload) {
                    ++copies;
                    CHECK(a.stage / p < k);
                  }
                CHECK(copies == static_cast<std::size_t>(m * k));
              }
            }
  // Lowering passes the copies through, and the lowered schedule is valid too.
  const schedule s = pipe_offload(4, 8, 2, {.offload_chunks = 1});
  const schedule l = lower(s);
  validate(l);
  const auto costs = cost_model::uniform({1, 1, 1}).with_activation_bytes(1.0).with_host_bandwidth(0.5);
  CHECK(close(simulate(l, costs).makespan(), simulate(s, costs).makespan()));
}

TEST_CASE("PipeOffload's makespan and memory laws against the simulation", "[generators][offload][memory]") {
  const double t = 0.5;  // one chunk pass
  const auto costs = cost_model::uniform({t, t, t}).with_activation_bytes(2.0);
  for (int p : {2, 4, 6, 8})
    for (int v : {1, 2, 3, 4})
      for (int m : {p, 2 * p, 4 * p}) {
        std::vector<int> previous;  // peaks at K − 1
        for (int k = 0; k <= v; ++k) {
          CAPTURE(p, v, m, k);
          const schedule s = pipe_offload(p, m, v, {.group_size = p, .offload_chunks = k});
          const schedule_metrics x = measure(s, simulate(s, costs), costs);
          CHECK(close(x.makespan, (3.0 * m * v + 2 * p - 2) * t));  // copies free: no bandwidth set
          std::vector<int> peaks;
          for (int d = 0; d < p; ++d) {
            CAPTURE(d);
            const auto& dm = x.devices[static_cast<std::size_t>(d)];
            const int law = std::min(p * (v - k) - d, (v - k) * m);
            if (k == 0 || law >= 3)
              CHECK(dm.peak_activation_count == law);
            else
              CHECK(dm.peak_activation_count <= 2);
            CHECK(close(dm.peak_activation_bytes, 2.0 * dm.peak_activation_count));
            CHECK(close(dm.peak_activations, dm.peak_activation_count / static_cast<double>(v)));
            CHECK((dm.peak_host_activation_count > 0) == (k > 0));
            peaks.push_back(dm.peak_activation_count);
            if (!previous.empty()) CHECK(dm.peak_activation_count <= previous[static_cast<std::size_t>(d)]);
          }
          previous = peaks;
        }
      }
  // Smaller groups: without offload device d holds min(g·(V − 1) + P − d, M·V) chunk
  // activations when M % g == 0, below g = P's figure; and the peak never rises with K.
  for (int p : {4, 6, 8})
    for (int g = (p + 1) / 2; g < p; ++g)
      for (int v : {2, 3}) {
        CAPTURE(p, g, v);
        double before = std::numeric_limits<double>::infinity();
        for (int k = 0; k <= v; ++k) {
          const schedule s = pipe_offload(p, 3 * g, v, {.group_size = g, .offload_chunks = k});
          const schedule_metrics x = measure(s, simulate(s, costs), costs);
          if (k == 0)
            for (int d = 0; d < p; ++d)
              CHECK(x.devices[static_cast<std::size_t>(d)].peak_activation_count == std::min(g * (v - 1) + p - d, 3 * g * v));
          const double now = peak_count(x);
          CHECK(now <= before);
          before = now;
        }
      }
}

TEST_CASE("PipeOffload's copies hide behind compute when the host link is fast, and cost time when it is slow",
          "[generators][offload][bandwidth]") {
  const auto base = cost_model::uniform({1, 1, 1}).with_activation_bytes(1.0);
  for (int p : {2, 4}) {
    const schedule none = pipe_offload(p, 4 * p, 2);
    const double plain = simulate(none, base).makespan();
    for (int k = 1; k <= 2; ++k) {
      CAPTURE(p, k);
      const schedule s = pipe_offload(p, 4 * p, 2, {.offload_chunks = k});
      CHECK(close(simulate(s, cost_model(base).with_host_bandwidth(1e12)).makespan(), plain));
      double previous = plain;
      for (double bandwidth : {1.0, 0.5, 0.25, 0.1}) {  // copies of 1, 2, 4, 10 pass times
        const double now = simulate(s, cost_model(base).with_host_bandwidth(bandwidth)).makespan();
        CHECK(now >= previous - 1e-9);
        previous = now;
      }
      CHECK(previous > plain);
    }
  }
}

TEST_CASE("PipeOffload's automatic group size and its rules", "[generators][offload][errors]") {
  CHECK(pipe_offload_group_size(8) == 4);
  CHECK(pipe_offload_group_size(7) == 4);
  CHECK(pipe_offload_group_size(1) == 1);
  // §5.7: g rises until (T_F + T_I + T_W)·g >= P·max(T_F, T_I): 1.2·g >= 8 gives g = 7.
  CHECK(pipe_offload_group_size(8, {.chunk_costs = {0.1, 1.0, 0.1}}) == 7);
  CHECK(pipe_offload_group_size(8, {.group_size = 6}) == 6);
  CHECK(pipe_offload(8, 16, 2).actions[0] == pipe_offload(8, 16, 2, {.group_size = 4}).actions[0]);

  require_error([] { pipe_offload(0, 4, 2); }, {"PipeOffload needs at least one device (P >= 1), got P = 0"});
  require_error([] { pipe_offload(4, 0, 2); }, {"PipeOffload needs at least one micro-batch (M >= 1), got M = 0"});
  require_error([] { pipe_offload(4, 4, 0); }, {"at least one chunk per device (V >= 1), got V = 0"});
  require_error([] { pipe_offload(4, 4, 2, {.offload_chunks = 3}); }, {"needs 0 <= K <= V = 2, got K = 3"});
  require_error([] { pipe_offload(4, 4, 2, {.offload_chunks = -1}); }, {"needs 0 <= K <= V = 2, got K = -1"});
  require_error([] { pipe_offload(3, 4, 2, {.offload_chunks = 1}); },
                {"shared host link", "needs an even number of devices, got P = 3"});
  require_error([] { pipe_offload(8, 4, 2, {.group_size = 3}); }, {"g in [ceil(P/2), P] = [4, 8]", "got g = 3"});
  require_error([] { pipe_offload(8, 4, 2, {.group_size = 9}); }, {"g in [ceil(P/2), P] = [4, 8]", "got g = 9"});
  require_error([] { pipe_offload(8, 4, 2, {.group_size = -2}); }, {"got g = -2"});
  require_error([] { pipe_offload(4, 4, 2, {.reload_lead = -1}); }, {"reload_lead >= 0", "got -1"});
  require_error([] { pipe_offload(4, 4, 2, {.chunk_costs = {-1.0, 1.0, 1.0}}); },
                {"chunk pass times must be finite and >= 0, got -1"});
  // An odd P without offload is an ordinary grouped interleaved schedule.
  CHECK(is_valid(pipe_offload(3, 5, 2)));
}

TEST_CASE("selective offload meets every reachable cap and names the smallest one", "[generators][offload][selective]") {
  const auto costs = cost_model::uniform({1, 1, 1}).with_activation_bytes(2.0).with_host_bandwidth(2.0);
  for (const schedule& s : {pipe_offload(4, 16, 2), pipe_offload(4, 8, 4, {.group_size = 4}), one_f_one_b(4, 8)}) {
    CAPTURE(s.name);
    const schedule_metrics base = measure(s, simulate(s, costs), costs);
    double top = 0.0;
    for (const auto& d : base.devices) top = std::max(top, d.peak_activation_bytes);
    // At or above the peak nothing moves.
    const offload_selection same = selective_offload(s, costs, top);
    CHECK(same.activations == 0);
    CHECK(same.offloaded.actions == s.actions);
    CHECK(close(same.makespan, base.makespan));
    CHECK(close(same.baseline_makespan, base.makespan));
    std::size_t previous = 0;
    double cap = top - 2.0;
    for (;; cap -= 2.0) {
      CAPTURE(cap);
      offload_selection pick;
      try {
        pick = selective_offload(s, costs, cap);
      } catch (const error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find("the smallest cap reachable with reload_lead = 2 is " +
                                         std::to_string(static_cast<int>(cap + 2.0))) != std::string::npos);
        break;
      }
      validate(pick.offloaded);
      const schedule_metrics m = measure(pick.offloaded, simulate(pick.offloaded, costs), costs);
      for (const auto& d : m.devices) CHECK(d.peak_activation_bytes <= cap + 1e-9);
      CHECK(pick.peak_bytes.size() == static_cast<std::size_t>(s.num_devices()));
      CHECK(pick.activations > previous);  // a lower cap needs more offloads
      CHECK(m.host_copies == 2 * pick.activations);
      CHECK(close(pick.makespan, m.makespan));
      CHECK(pick.makespan >= base.makespan - 1e-9);
      previous = pick.activations;
      REQUIRE(cap > 0.0);
    }
    CHECK(cap < top - 2.0);  // at least one cap below the peak was reachable
  }
  // A slow host link: the caps are still met, and the copies now cost time.
  const auto slow = cost_model::uniform({1, 1, 1}).with_activation_bytes(2.0).with_host_bandwidth(0.2);
  const schedule s = pipe_offload(4, 16, 2);
  const offload_selection pick = selective_offload(s, slow, 4.0);
  CHECK(*std::max_element(pick.peak_bytes.begin(), pick.peak_bytes.end()) <= 4.0);
  CHECK(pick.makespan > pick.baseline_makespan);
}

TEST_CASE("selective offload rejects bad input", "[generators][offload][selective][errors]") {
  const auto costs = cost_model::uniform().with_activation_bytes(1.0);
  const schedule s = pipe_offload(4, 8, 2);
  require_error([&] { selective_offload(s, costs, -1.0); }, {"cap must be finite and >= 0 bytes, got -1"});
  require_error([&] { selective_offload(s, costs, std::numeric_limits<double>::infinity()); }, {"cap must be finite"});
  require_error([&] { selective_offload(s, costs, 4.0, {.reload_lead = -1}); }, {"reload_lead >= 0", "got -1"});
  require_error([&] { selective_offload(pipe_offload(4, 8, 2, {.offload_chunks = 1}), costs, 4.0); },
                {"already holds 0OFFLOAD0", "rule: choose offloads on a schedule without OFFLOAD/RELOAD"});
  require_error([&] { selective_offload(s, costs, 0.0); }, {"the smallest cap reachable with reload_lead = 2 is 2 bytes"});
  schedule broken = s;
  broken.actions[0].pop_back();
  require_error([&] { selective_offload(broken, costs, 4.0); }, {"invalid schedule"});
}
