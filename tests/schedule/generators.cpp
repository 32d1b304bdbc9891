// Classic schedule generators (GPipe, 1F1B, interleaved 1F1B, looped BFS) and the name registry.
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/generators.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

using namespace layerpipe;
using namespace layerpipe::shorthand;

namespace {

using list = std::vector<action>;

const list& on(const schedule& s, int device) { return s.actions[static_cast<std::size_t>(device)]; }

/// Runs the engine with unit durations: throws layerpipe::error if the schedule is invalid.
void check_valid(const schedule& s) {
  detail::run_in_order(
      s, [](const action&) { return 1.0; }, [](const detail::transfer_edge&) { return 0.0; },
      [](int, std::size_t, const action&, double, double) {});
}

/// Finish time of the last action with a chunk forward costing 1 and a chunk backward `tb`.
double makespan(const schedule& s, double tb) {
  double end_time = 0.0;
  detail::run_in_order(
      s, [tb](const action& a) { return a.kind == action_kind::forward ? 1.0 : tb; },
      [](const detail::transfer_edge&) { return 0.0; },
      [&](int, std::size_t, const action&, double, double end) { end_time = std::max(end_time, end); });
  return end_time;
}

/// Largest number of forwards whose backward has not run yet, over a device's list.
int peak_in_flight(const list& actions) {
  int live = 0, peak = 0;
  for (const action& a : actions) {
    live += a.kind == action_kind::forward ? 1 : -1;
    peak = std::max(peak, live);
  }
  return peak;
}

/// Number of forwards before the first backward.
int leading_forwards(const list& actions) {
  int n = 0;
  while (static_cast<std::size_t>(n) < actions.size() && actions[static_cast<std::size_t>(n)].kind == action_kind::forward) ++n;
  return n;
}

list forwards_of(const list& actions) {
  list out;
  for (const action& a : actions)
    if (a.kind == action_kind::forward) out.push_back(a);
  return out;
}

bool only_kinds(const schedule& s, bool allow_backward) {
  for (const auto& l : s.actions)
    for (const action& a : l)
      if (a.kind != action_kind::forward && !(allow_backward && a.kind == action_kind::backward)) return false;
  return true;
}

bool same_schedule(const schedule& a, const schedule& b) {
  return a.name == b.name && a.placement == b.placement && a.micro_batches == b.micro_batches &&
         a.level == b.level && a.forward_only == b.forward_only && a.actions == b.actions;
}

void check_metadata(const schedule& s, std::string_view name, int p, int m, int v, bool forward_only) {
  REQUIRE(s.name == name);
  REQUIRE(s.placement == placement::loop(p, v));
  REQUIRE(s.placement.style() == placement_style::loop);
  REQUIRE(s.micro_batches == m);
  REQUIRE(s.level == schedule_level::compute_only);
  REQUIRE(s.forward_only == forward_only);
  REQUIRE(s.actions.size() == static_cast<std::size_t>(p));
}

/// Megatron's group rule as stated in REFERENCE §5.3, plus layerpipe's M < P extension.
bool group_allowed(int p, int m, int g) {
  if (g == 0) return true;
  if (m < p) return g == m;
  return g >= p && g <= m && (m % g == 0 || m % g >= p);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hand-worked cases

TEST_CASE("GPipe P=2 M=3: all forwards, then the backwards in FIFO order", "[generators][gpipe]") {
  const schedule s = gpipe(2, 3);
  check_metadata(s, "GPipe", 2, 3, 1, false);
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), F(0, 2), B(0, 0), B(0, 1), B(0, 2)});
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1), F(1, 2), B(1, 0), B(1, 1), B(1, 2)});
  check_valid(s);
}

TEST_CASE("1F1B P=3 M=4: warm-up P-d-1, steady pairs, cool-down", "[generators][1f1b]") {
  const schedule s = one_f_one_b(3, 4);
  check_metadata(s, "1F1B", 3, 4, 1, false);
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), F(0, 2), B(0, 0), F(0, 3), B(0, 1), B(0, 2), B(0, 3)});
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1), B(1, 0), F(1, 2), B(1, 1), F(1, 3), B(1, 2), B(1, 3)});
  REQUIRE(on(s, 2) == list{F(2, 0), B(2, 0), F(2, 1), B(2, 1), F(2, 2), B(2, 2), F(2, 3), B(2, 3)});
  check_valid(s);
}

TEST_CASE("1F1B with fewer micro-batches than devices caps the warm-up at M", "[generators][1f1b]") {
  const schedule s = one_f_one_b(4, 2);  // w = min(P-d-1, M) = 2, 2, 1, 0
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), B(0, 0), B(0, 1)});
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1), B(1, 0), B(1, 1)});
  REQUIRE(on(s, 2) == list{F(2, 0), F(2, 1), B(2, 0), B(2, 1)});
  REQUIRE(on(s, 3) == list{F(3, 0), B(3, 0), F(3, 1), B(3, 1)});
  check_valid(s);
}

TEST_CASE("interleaved 1F1B P=2 M=4 V=2 follows Megatron's table", "[generators][interleaved]") {
  // G = P = 2. Table k -> (mb, chunk): (0,0) (1,0) (0,1) (1,1) (2,0) (3,0) (2,1) (3,1).
  // Backward k uses chunk V-1-chunk. Warm-up W_0 = 2(P-1) + (V-1)G = 4, W_1 = 2.
  // Device 0 holds stages 0 (chunk 0) and 2 (chunk 1); device 1 holds stages 1 and 3.
  const schedule s = interleaved_1f1b(2, 4, 2);
  check_metadata(s, "Interleaved1F1B", 2, 4, 2, false);
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), F(2, 0), F(2, 1),                            // warm-up
                           F(0, 2), B(2, 0), F(0, 3), B(2, 1), F(2, 2), B(0, 0), F(2, 3), B(0, 1),  // steady
                           B(2, 2), B(2, 3), B(0, 2), B(0, 3)});                           // cool-down
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1),                                                // warm-up
                           F(3, 0), B(3, 0), F(3, 1), B(3, 1), F(1, 2), B(1, 0), F(1, 3), B(1, 1),
                           F(3, 2), B(3, 2), F(3, 3), B(3, 3),                             // steady
                           B(1, 2), B(1, 3)});                                             // cool-down
  check_valid(s);
}

TEST_CASE("interleaved 1F1B P=2 M=5 V=2 takes Megatron's last-group rule (G = 3)", "[generators][interleaved]") {
  // Megatron's docstring example "PP2 N3M5 VP2": micro-batch 0 1 2 0 1 2 3 4 3 4,
  // chunk 0 0 0 1 1 1 0 0 1 1. M % P = 1, so the automatic G is the smallest valid G >= P: 3.
  REQUIRE(interleaved_group_size(2, 5) == 3);
  const schedule s = interleaved_1f1b(2, 5, 2);
  REQUIRE(same_schedule(s, interleaved_1f1b(2, 5, 2, {.group_size = 3})));
  // W_0 = 2 + 3 = 5, W_1 = 3.
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), F(0, 2), F(2, 0), F(2, 1),
                           F(2, 2), B(2, 0), F(0, 3), B(2, 1), F(0, 4), B(2, 2), F(2, 3), B(0, 0), F(2, 4), B(0, 1),
                           B(0, 2), B(2, 3), B(2, 4), B(0, 3), B(0, 4)});
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1), F(1, 2),
                           F(3, 0), B(3, 0), F(3, 1), B(3, 1), F(3, 2), B(3, 2), F(1, 3), B(1, 0), F(1, 4), B(1, 1),
                           F(3, 3), B(1, 2), F(3, 4), B(3, 3),
                           B(3, 4), B(1, 3), B(1, 4)});
  check_valid(s);
}

TEST_CASE("interleaved 1F1B with M < P runs one group of all M micro-batches", "[generators][interleaved]") {
  // layerpipe's extension: G = M = 2. Table (0,0) (1,0) (0,1) (1,1). W = 6, 4, 2, capped at MV = 4.
  REQUIRE(interleaved_group_size(3, 2) == 2);
  const schedule s = interleaved_1f1b(3, 2, 2);
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), F(3, 0), F(3, 1), B(3, 0), B(3, 1), B(0, 0), B(0, 1)});
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1), F(4, 0), F(4, 1), B(4, 0), B(4, 1), B(1, 0), B(1, 1)});
  REQUIRE(on(s, 2) == list{F(2, 0), F(2, 1), F(5, 0), B(5, 0), F(5, 1), B(5, 1), B(2, 0), B(2, 1)});
  check_valid(s);
}

TEST_CASE("looped BFS P=2 M=2 V=2: chunk by chunk forward, reversed backward", "[generators][looped_bfs]") {
  const schedule s = looped_bfs(2, 2, 2);
  check_metadata(s, "LoopedBFS", 2, 2, 2, false);
  REQUIRE(on(s, 0) == list{F(0, 0), F(0, 1), F(2, 0), F(2, 1), B(2, 1), B(2, 0), B(0, 1), B(0, 0)});
  REQUIRE(on(s, 1) == list{F(1, 0), F(1, 1), F(3, 0), F(3, 1), B(3, 1), B(3, 0), B(1, 1), B(1, 0)});
  check_valid(s);
}

TEST_CASE("one device: every family degenerates to a local loop", "[generators]") {
  REQUIRE(on(gpipe(1, 2), 0) == list{F(0, 0), F(0, 1), B(0, 0), B(0, 1)});
  REQUIRE(on(one_f_one_b(1, 2), 0) == list{F(0, 0), B(0, 0), F(0, 1), B(0, 1)});
  // P = 1, G = 1: W = V - 1 = 1; table (0,0) (0,1) (1,0) (1,1).
  REQUIRE(on(interleaved_1f1b(1, 2, 2), 0) == list{F(0, 0), F(1, 0), B(1, 0), F(0, 1), B(0, 0), F(1, 1), B(1, 1), B(0, 1)});
  REQUIRE(on(looped_bfs(1, 2, 2), 0) == list{F(0, 0), F(0, 1), F(1, 0), F(1, 1), B(1, 1), B(1, 0), B(0, 1), B(0, 0)});
}

TEST_CASE("the validity check used by the sweeps rejects a misordered list", "[generators]") {
  schedule s = one_f_one_b(2, 2);
  auto& first = s.actions[0];
  REQUIRE(first == list{F(0, 0), F(0, 1), B(0, 0), B(0, 1)});
  std::swap(first[0], first[2]);  // 0B0 before its own 0F0
  REQUIRE_THROWS_WITH(check_valid(s), Catch::Contains("dependencies in order"));
  s = one_f_one_b(2, 2);
  s.actions[1].pop_back();  // 1B1 missing
  REQUIRE_THROWS_AS(check_valid(s), layerpipe::error);
  REQUIRE(!only_kinds(s, false));
}

// ---------------------------------------------------------------------------------------------
// Sweeps: every allowed size yields a valid schedule with the documented shape; every other
// size throws layerpipe::error.

TEST_CASE("GPipe and 1F1B are valid for every P in 1..8 and M in 1..17", "[generators][sweep]") {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 17; ++m) {
      CAPTURE(p, m);
      const schedule g = gpipe(p, m);
      const schedule o = one_f_one_b(p, m);
      check_metadata(g, "GPipe", p, m, 1, false);
      check_metadata(o, "1F1B", p, m, 1, false);
      REQUIRE_NOTHROW(check_valid(g));
      REQUIRE_NOTHROW(check_valid(o));
      REQUIRE(only_kinds(g, true));
      REQUIRE(only_kinds(o, true));
      bool shape = true;
      for (int d = 0; d < p; ++d) {
        const auto n = static_cast<std::size_t>(2 * m);
        shape = shape && on(g, d).size() == n && on(o, d).size() == n;
        shape = shape && leading_forwards(on(g, d)) == m && peak_in_flight(on(g, d)) == m;
        const int warmup = std::min(p - d - 1, m);
        shape = shape && leading_forwards(on(o, d)) == std::min(warmup + 1, m);
        shape = shape && peak_in_flight(on(o, d)) == std::min(p - d, m);
      }
      REQUIRE(shape);
      // Iteration (M + P - 1)(T_F + T_B) for both, at T_B = 2 T_F and T_B = T_F.
      REQUIRE(test::close(makespan(g, 2.0), 3.0 * (m + p - 1)));
      REQUIRE(test::close(makespan(o, 2.0), 3.0 * (m + p - 1)));
      REQUIRE(test::close(makespan(o, 1.0), 2.0 * (m + p - 1)));
    }
  }
}

TEST_CASE("interleaved 1F1B: every P, M, V, G is either valid or rejected with layerpipe::error",
          "[generators][sweep][interleaved]") {
  int built = 0, rejected = 0;
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 17; ++m) {
      for (int v = 2; v <= 4; ++v) {
        for (int g = -1; g <= m + 1; ++g) {
          CAPTURE(p, m, v, g);
          schedule s;
          try {
            s = interleaved_1f1b(p, m, v, {.group_size = g});
          } catch (const layerpipe::error&) {
            REQUIRE(!(g >= 0 && group_allowed(p, m, g)));
            ++rejected;
            continue;
          } catch (...) {
            FAIL("interleaved_1f1b threw something other than layerpipe::error");
          }
          REQUIRE(g >= 0);
          REQUIRE(group_allowed(p, m, g));
          ++built;
          check_metadata(s, "Interleaved1F1B", p, m, v, false);
          REQUIRE_NOTHROW(check_valid(s));
          REQUIRE(only_kinds(s, true));
          const int group = interleaved_group_size(p, m, g);
          REQUIRE(group_allowed(p, m, group));
          if (g != 0) REQUIRE(group == g);
          if (g == 0 && m >= p && m % p == 0) REQUIRE(group == p);
          bool shape = true;
          for (int d = 0; d < p; ++d) {
            const int total = m * v;
            const int warmup = 2 * (p - d - 1) + (v - 1) * group;  // uncapped W'_d
            shape = shape && on(s, d).size() == static_cast<std::size_t>(2 * total);
            shape = shape && leading_forwards(on(s, d)) == std::min(warmup + 1, total);
            shape = shape && peak_in_flight(on(s, d)) == std::min(warmup + 1, total);
          }
          REQUIRE(shape);
          // (V max(M, P) + min(M, P) - 1)(T_F + T_B) in chunk passes; (VM + P - 1)(...) for M >= P.
          REQUIRE(test::close(makespan(s, 2.0), 3.0 * (v * std::max(m, p) + std::min(m, p) - 1)));
        }
      }
    }
  }
  REQUIRE(built > 0);
  REQUIRE(rejected > 0);
}

TEST_CASE("interleaved 1F1B automatic group size is the smallest valid G >= P", "[generators][interleaved]") {
  for (int p = 1; p <= 8; ++p) {
    for (int m = p; m <= 40; ++m) {
      CAPTURE(p, m);
      const int g = interleaved_group_size(p, m);
      REQUIRE(group_allowed(p, m, g));
      for (int smaller = p; smaller < g; ++smaller) REQUIRE(!group_allowed(p, m, smaller));
    }
  }
  REQUIRE(interleaved_group_size(4, 8) == 4);
  REQUIRE(interleaved_group_size(4, 10) == 5);   // 10 % 4 = 2 < 4, 10 % 5 = 0
  REQUIRE(interleaved_group_size(4, 11) == 6);   // 11 % 4 = 3, 11 % 5 = 1, 11 % 6 = 5 >= 4
  REQUIRE(interleaved_group_size(4, 7) == 7);    // M < 2P: only G = M leaves 0 or >= P
  REQUIRE(interleaved_group_size(4, 13) == 7);   // 13 % 5 = 3, 13 % 6 = 1, 13 % 7 = 6 >= 4
  REQUIRE(interleaved_group_size(4, 10, 10) == 10);
}

TEST_CASE("looped BFS is valid for every P in 1..8, M in 1..17, V in 1..4", "[generators][sweep][looped_bfs]") {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 17; ++m) {
      for (int v = 1; v <= 4; ++v) {
        CAPTURE(p, m, v);
        const schedule s = looped_bfs(p, m, v);
        check_metadata(s, "LoopedBFS", p, m, v, false);
        REQUIRE_NOTHROW(check_valid(s));
        REQUIRE(only_kinds(s, true));
        bool shape = true;
        for (int d = 0; d < p; ++d) {
          shape = shape && on(s, d).size() == static_cast<std::size_t>(2 * m * v);
          shape = shape && leading_forwards(on(s, d)) == m * v && peak_in_flight(on(s, d)) == m * v;
        }
        REQUIRE(shape);
        REQUIRE(test::close(makespan(s, 2.0), 3.0 * (v * std::max(m, p) + std::min(m, p) - 1)));
      }
    }
  }
}

TEST_CASE("forward-only variants hold the forwards of the training order", "[generators][forward_only]") {
  for (int p = 1; p <= 5; ++p) {
    for (int m = 1; m <= 9; ++m) {
      for (int v = 2; v <= 3; ++v) {
        CAPTURE(p, m, v);
        const schedule train[] = {gpipe(p, m), one_f_one_b(p, m), interleaved_1f1b(p, m, v), looped_bfs(p, m, v)};
        const schedule infer[] = {gpipe(p, m, pass_mode::forward_only), one_f_one_b(p, m, pass_mode::forward_only),
                                  interleaved_1f1b(p, m, v, {.mode = pass_mode::forward_only}),
                                  looped_bfs(p, m, v, pass_mode::forward_only)};
        for (std::size_t i = 0; i < 4; ++i) {
          const int chunks = i < 2 ? 1 : v;
          check_metadata(infer[i], train[i].name, p, m, chunks, true);
          REQUIRE(only_kinds(infer[i], false));
          REQUIRE_NOTHROW(check_valid(infer[i]));
          for (int d = 0; d < p; ++d) {
            REQUIRE(on(infer[i], d).size() == static_cast<std::size_t>(m * chunks));
            REQUIRE(on(infer[i], d) == forwards_of(on(train[i], d)));
          }
        }
      }
    }
  }
  REQUIRE(on(one_f_one_b(3, 2, pass_mode::forward_only), 0) == list{F(0, 0), F(0, 1)});
  REQUIRE(on(interleaved_1f1b(2, 4, 2, {.mode = pass_mode::forward_only}), 1) ==
          list{F(1, 0), F(1, 1), F(3, 0), F(3, 1), F(1, 2), F(1, 3), F(3, 2), F(3, 3)});
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST_CASE("generators reject P < 1, M < 1 and V < 1 naming the rule and the value", "[generators][error]") {
  REQUIRE_THROWS_WITH(one_f_one_b(0, 4), Catch::Contains("1F1B needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(one_f_one_b(2, 0), Catch::Contains("1F1B needs at least one micro-batch (M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(gpipe(-1, 4), Catch::Contains("GPipe needs at least one device (P >= 1), got P = -1"));
  REQUIRE_THROWS_WITH(gpipe(2, -3), Catch::Contains("(M >= 1), got M = -3"));
  REQUIRE_THROWS_WITH(looped_bfs(0, 2, 2), Catch::Contains("LoopedBFS needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(looped_bfs(2, 0, 2), Catch::Contains("(M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(looped_bfs(2, 2, 0), Catch::Contains("(V >= 1), got V = 0"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(0, 2, 2), Catch::Contains("Interleaved1F1B needs at least one device (P >= 1), got P = 0"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(2, 0, 2), Catch::Contains("(M >= 1), got M = 0"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(2, 4, 0), Catch::Contains("(V >= 2), got V = 0"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(2, 4, -1), Catch::Contains("(V >= 2), got V = -1"));
}

TEST_CASE("interleaved 1F1B rejects V = 1 and group sizes outside Megatron's rule", "[generators][interleaved][error]") {
  REQUIRE_THROWS_WITH(interleaved_1f1b(2, 4, 1), Catch::Contains("V >= 2") && Catch::Contains("plain 1F1B"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(4, 8, 2, {.group_size = -2}), Catch::Contains("G >= 0") && Catch::Contains("G = -2"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(4, 8, 2, {.group_size = 3}), Catch::Contains("G in [P, M] = [4, 8]") && Catch::Contains("G = 3"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(4, 8, 2, {.group_size = 9}), Catch::Contains("G in [P, M] = [4, 8]") && Catch::Contains("G = 9"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(4, 10, 2, {.group_size = 4}),
                      Catch::Contains("M mod G to be 0 or at least P") && Catch::Contains("last group of 2 < P = 4"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(4, 2, 2, {.group_size = 1}),
                      Catch::Contains("M = 2 < P = 4") && Catch::Contains("G = M = 2") && Catch::Contains("got G = 1"));
  REQUIRE(interleaved_group_size(3, 7, 4) == 4);  // 7 mod 4 = 3 >= P
  REQUIRE_THROWS_WITH(interleaved_group_size(3, 7, 5), Catch::Contains("last group of 2 < P = 3"));
  REQUIRE_NOTHROW(interleaved_1f1b(4, 2, 2, {.group_size = 2}));
}

TEST_CASE("generators reject stage counts beyond a 32-bit index before allocating", "[generators][error]") {
  REQUIRE_THROWS_WITH(looped_bfs(4, 1, INT_MAX), Catch::Contains("V·P must fit in a 32-bit index"));
  REQUIRE_THROWS_WITH(interleaved_1f1b(4, 1, INT_MAX), Catch::Contains("V·P must fit in a 32-bit index"));
}

// ---------------------------------------------------------------------------------------------
// Registry

TEST_CASE("every family name and alias resolves, case-insensitively", "[families]") {
  const struct { std::string_view text, family; } cases[] = {
      {"gpipe", "gpipe"},
      {"GPipe", "gpipe"},
      {"1f1b", "1f1b"},
      {"1F1B", "1f1b"},
      {"pipedream-flush", "1f1b"},
      {"PipeDream_Flush", "1f1b"},
      {"PIPEDREAMFLUSH", "1f1b"},
      {"dapple", "1f1b"},
      {"DAPPLE", "1f1b"},
      {"one-f-one-b", "1f1b"},
      {"One F One B", "1f1b"},
      {"interleaved-1f1b", "interleaved-1f1b"},
      {"Interleaved 1F1B", "interleaved-1f1b"},
      {"interleaved", "interleaved-1f1b"},
      {"interleaved1f1b", "interleaved-1f1b"},
      {"vpp", "interleaved-1f1b"},
      {"VPP", "interleaved-1f1b"},
      {"virtual-pipeline", "interleaved-1f1b"},
      {"Virtual_Pipeline", "interleaved-1f1b"},
      {"megatron-interleaved", "interleaved-1f1b"},
      {"looped-bfs", "looped-bfs"},
      {"LoopedBFS", "looped-bfs"},
      {"loopedbfs", "looped-bfs"},
      {"bfs", "looped-bfs"},
      {"breadth-first", "looped-bfs"},
      {"Breadth First", "looped-bfs"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    REQUIRE(find_family(c.text).name == c.family);
  }
  // Each listed alias resolves to its own family, and no normalized name is claimed twice.
  std::vector<std::string> seen;
  for (const family_info& f : schedule_families()) {
    REQUIRE(&find_family(f.name) == &f);
    REQUIRE(f.make != nullptr);
    REQUIRE(!f.summary.empty());
    REQUIRE(f.header.starts_with("schedule/"));  // the compare example links it
    seen.push_back(detail::normalize_family_name(f.name));
    std::string_view rest = f.aliases;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string_view alias = rest.substr(0, comma);
      CAPTURE(alias);
      REQUIRE(!alias.empty());
      REQUIRE(&find_family(alias) == &f);
      const std::string key = detail::normalize_family_name(alias);
      if (key != detail::normalize_family_name(f.name)) seen.push_back(key);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  std::sort(seen.begin(), seen.end());
  REQUIRE(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  std::vector<std::string_view> names;
  for (const family_info& f : schedule_families()) names.push_back(f.name);
  REQUIRE(names == std::vector<std::string_view>{"gpipe", "1f1b", "interleaved-1f1b", "looped-bfs",
                                                 "pipedream-async", "layerpipe-async", "pipe-offload", "zb1p", "zb-h1", "zb-h2", "zb-v",
                                                 "zb-auto", "v-half", "v-min", "dualpipe-v", "chimera", "chimera-fd", "dualpipe", "bitpipe"});
  REQUIRE(find_family("gpipe").uses_chunks == false);
  REQUIRE(find_family("1f1b").uses_chunks == false);
  REQUIRE(find_family("vpp").uses_chunks == true);
  REQUIRE(find_family("bfs").uses_chunks == true);
}

TEST_CASE("unknown schedule names list every valid name and alias", "[families][error]") {
  for (std::string_view bad : {"nope", "", "1f1c", "---", "zero-bubble"}) {
    CAPTURE(bad);
    try {
      (void)find_family(bad);
      FAIL("find_family accepted an unknown name");
    } catch (const layerpipe::error& e) {
      const std::string what = e.what();
      REQUIRE_THAT(what, Catch::Contains("unknown schedule '" + std::string(bad) + "'; valid names:"));
      for (const family_info& f : schedule_families()) {
        REQUIRE_THAT(what, Catch::Contains(std::string(f.name)));
        std::string_view rest = f.aliases;
        while (!rest.empty()) {
          const auto comma = rest.find(',');
          REQUIRE_THAT(what, Catch::Contains(std::string(rest.substr(0, comma))));
          rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
      }
    }
  }
  REQUIRE_THROWS_AS(make_schedule("nope", {}), layerpipe::error);
}

TEST_CASE("make_schedule builds the family's schedule and rejects parameters it does not use", "[families]") {
  schedule_params p;
  p.devices = 3;
  p.micro_batches = 5;
  REQUIRE(same_schedule(make_schedule("gpipe", p), gpipe(3, 5)));
  REQUIRE(same_schedule(make_schedule("DAPPLE", p), one_f_one_b(3, 5)));
  p.mode = pass_mode::forward_only;
  REQUIRE(same_schedule(make_schedule("1f1b", p), one_f_one_b(3, 5, pass_mode::forward_only)));
  p.mode = pass_mode::training;
  p.chunks = 2;
  REQUIRE(same_schedule(make_schedule("looped-bfs", p), looped_bfs(3, 5, 2)));
  REQUIRE(same_schedule(make_schedule("vpp", p), interleaved_1f1b(3, 5, 2)));
  p.group_size = 5;
  REQUIRE(same_schedule(make_schedule("interleaved", p), interleaved_1f1b(3, 5, 2, {.group_size = 5})));
  REQUIRE_THROWS_WITH(make_schedule("looped-bfs", p), Catch::Contains("no micro-batch group size") && Catch::Contains("got 5"));

  schedule_params q;
  q.devices = 2;
  q.micro_batches = 4;
  q.chunks = 2;
  REQUIRE_THROWS_WITH(make_schedule("gpipe", q), Catch::Contains("'gpipe'") && Catch::Contains("takes no chunks") &&
                                                     Catch::Contains("got V = 2"));
  REQUIRE_THROWS_WITH(make_schedule("pipedream-flush", q), Catch::Contains("'1f1b'") && Catch::Contains("got V = 2"));
  q.chunks = 0;
  REQUIRE_THROWS_WITH(make_schedule("1f1b", q), Catch::Contains("takes no chunks") && Catch::Contains("got V = 0"));
  q.chunks = 1;
  q.group_size = 2;
  REQUIRE_THROWS_WITH(make_schedule("gpipe", q), Catch::Contains("no micro-batch group size"));
  REQUIRE_THROWS_WITH(make_schedule("1f1b", q), Catch::Contains("no micro-batch group size"));
  q.group_size = 0;
  REQUIRE_THROWS_WITH(make_schedule("interleaved-1f1b", q), Catch::Contains("plain 1F1B"));  // V = 1
  q.devices = 0;
  REQUIRE_THROWS_WITH(make_schedule("1f1b", q), Catch::Contains("P >= 1"));

  // zb-auto reads the costs, the latency and the memory cap; the others take no cap.
  schedule_params z;
  z.devices = 4;
  z.micro_batches = 8;
  z.stage_costs = {1.0, 1.0, 0.5};
  z.p2p_latency = 0.2;
  z.memory_cap = 4;
  zb_auto_options o;
  o.stage_costs = {{1.0, 1.0, 0.5}};
  o.p2p_latency = 0.2;
  o.memory_cap = 4;
  REQUIRE(same_schedule(make_schedule("ZB-auto", z), zero_bubble_auto(4, 8, o)));
  REQUIRE_THROWS_WITH(make_schedule("zb-h1", z), Catch::Contains("'zb-h1' takes no memory cap") && Catch::Contains("got 4"));
  z.memory_cap = 0;
  REQUIRE(same_schedule(make_schedule("zb-h1", z), zb_h1(4, 8)));  // costs do not change a fixed order

  // pipe-offload reads V, the group size and the offloaded chunks.
  schedule_params k;
  k.devices = 4;
  k.micro_batches = 8;
  k.chunks = 2;
  k.group_size = 2;
  k.offload_chunks = 1;
  REQUIRE(same_schedule(make_schedule("PipeOffload", k), pipe_offload(4, 8, 2, {.group_size = 2, .offload_chunks = 1})));
  REQUIRE_THROWS_WITH(make_schedule("interleaved-1f1b", k), Catch::Contains("offloads nothing") && Catch::Contains("got 1"));
}
