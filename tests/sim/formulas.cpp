// Each schedule family's closed-form bubble and memory formulas (REFERENCE §5.1–§5.3) against
// the simulation, over sweeps of (P, M, V) and cost ratios.
//
// Findings, all with uniform stages and free communication (T_B = T_I + T_W, a chunk pass costs
// T/V): every formula below is exact for every ratio tried — T_B/T_F ∈ {½, 1, 2, 3}, T_W/T_I ∈
// {½, 1, 2} — not only at T_B = 2T_F. What the sweep pins down beyond the table:
//   - "idle (P−1)(T_F+T_B)" is the wall-clock idle (makespan − busy), equal on every device; the
//     span idle (last end − first start − busy) is (P−1−d)(T_F+T_B), zero on the last device.
//   - interleaved 1F1B and looped BFS: (VM+P−1)(T_F+T_B)/V for every M ≥ P (not only M % P = 0)
//     and every allowed group size; for M < P it is (VP+M−1)(T_F+T_B)/V.
//   - with a P2P latency c, GPipe is exactly (M+P−1)(T_F+T_B) + 2(P−1)c; 1F1B is longer (its
//     steady state waits for round trips), so that expression is only a lower bound for it.
//   - with non-uniform stages the uniform formulas fail; GPipe is exactly
//     ΣT_F + (M−1)·max T_F + ΣT_B + (M−1)·max T_B, and 1F1B stays within
//     Σ(T_F+T_B) + (M−1)·max(T_F+T_B) (REFERENCE §8).
#include "layerpipe_test.hpp"

#include <layerpipe/schedule/gpipe.hpp>
#include <layerpipe/schedule/interleaved_1f1b.hpp>
#include <layerpipe/schedule/looped_bfs.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/one_f_one_b.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

using namespace layerpipe;
using layerpipe::test::close;

namespace {

const std::vector<int> device_counts{1, 2, 3, 4, 5, 8};
const std::vector<int> micro_batch_counts{1, 2, 3, 4, 5, 7, 8, 12, 16};
const std::vector<double> backward_ratios{0.5, 1.0, 2.0, 3.0};  // T_B / T_F
const std::vector<double> weight_ratios{0.5, 1.0, 2.0};         // T_W / T_I

/// Full-stage times T_F = 1, T_B = ratio; the cost model gets chunk costs (÷ V).
struct stage_times {
  double forward, backward, input_grad, weight_grad;
  stage_times(double b_ratio, double w_ratio)
      : forward(1.0), backward(b_ratio), input_grad(b_ratio / (1.0 + w_ratio)),
        weight_grad(b_ratio - b_ratio / (1.0 + w_ratio)) {}
  cost_model chunk_costs(int v) const {
    return cost_model::uniform({forward / v, input_grad / v, weight_grad / v});
  }
};

/// Durations plus latencies along the critical path.
double critical_length(const schedule_metrics& m) {
  double sum = m.critical_path_latency;
  for (const auto& x : m.critical_path) sum += x.duration();
  return sum;
}

}  // namespace

TEST_CASE("GPipe and 1F1B: makespan, bubble, idle and peak formulas", "[sim][formulas]") {
  for (double rb : backward_ratios)
    for (double rw : weight_ratios)
      for (int p : device_counts)
        for (int m : micro_batch_counts)
          for (bool one_f : {false, true}) {
            CAPTURE(rb, rw, p, m, one_f);
            const stage_times t(rb, rw);
            const auto costs = t.chunk_costs(1);
            const schedule s = one_f ? one_f_one_b(p, m) : gpipe(p, m);
            const timeline tl = simulate(s, costs);
            const schedule_metrics x = measure(s, tl, costs);
            const double pass = t.forward + t.backward;
            REQUIRE(close(x.makespan, (m + p - 1) * pass));
            REQUIRE(close(x.bubble_ratio, double(p - 1) / double(m + p - 1)));
            REQUIRE(close(x.max_span_idle, (p - 1) * pass));
            for (int d = 0; d < p; ++d) {
              CAPTURE(d);
              const auto& dev = x.devices[static_cast<std::size_t>(d)];
              REQUIRE(close(dev.busy, m * pass));
              REQUIRE(close(dev.idle, (p - 1) * pass));           // wall-clock, every device
              REQUIRE(close(dev.span_idle, (p - 1 - d) * pass));  // span definition
              REQUIRE(close(dev.peak_activations, one_f ? std::min(p - d, m) : m));
              REQUIRE(dev.peak_activation_count == (one_f ? std::min(p - d, m) : m));
            }
            REQUIRE(x.messages == static_cast<std::size_t>(2 * (p - 1) * m));
            REQUIRE(close(critical_length(x), x.makespan));
          }
}

TEST_CASE("GPipe and 1F1B forward-only: (M + P − 1) T_F", "[sim][formulas]") {
  for (int p : device_counts)
    for (int m : micro_batch_counts)
      for (bool one_f : {false, true}) {
        CAPTURE(p, m, one_f);
        const schedule s = one_f ? one_f_one_b(p, m, pass_mode::forward_only) : gpipe(p, m, pass_mode::forward_only);
        const auto costs = cost_model::uniform({1.5, 1.0, 1.0});
        const schedule_metrics x = measure(s, simulate(s, costs), costs);
        REQUIRE(close(x.makespan, (m + p - 1) * 1.5));
        REQUIRE(close(x.bubble_ratio, double(p - 1) / double(m + p - 1)));
        REQUIRE(x.messages == static_cast<std::size_t>((p - 1) * m));
        REQUIRE(close(critical_length(x), x.makespan));
      }
}

TEST_CASE("interleaved 1F1B: makespan, idle and peak formulas with chunk costs T/V", "[sim][formulas]") {
  for (double rb : backward_ratios)
    for (double rw : weight_ratios)
      for (int p : device_counts)
        for (int m : micro_batch_counts)
          for (int v : {2, 3, 4}) {
            CAPTURE(rb, rw, p, m, v);
            const stage_times t(rb, rw);
            const auto costs = t.chunk_costs(v);
            const schedule s = interleaved_1f1b(p, m, v);
            const schedule_metrics x = measure(s, simulate(s, costs), costs);
            const double pass = t.forward + t.backward;
            // (V·max(M, P) + min(M, P) − 1)(T_F + T_B)/V: (VM + P − 1)(T_F + T_B)/V once M ≥ P.
            const double expected = (v * std::max(m, p) + std::min(m, p) - 1) * pass / v;
            REQUIRE(close(x.makespan, expected));
            if (m >= p) REQUIRE(close(x.bubble_ratio, double(p - 1) / double(v * m + p - 1)));
            const int g = interleaved_group_size(p, m);
            for (int d = 0; d < p; ++d) {
              CAPTURE(d);
              const auto& dev = x.devices[static_cast<std::size_t>(d)];
              REQUIRE(close(dev.busy, m * pass));
              if (m % p == 0) REQUIRE(close(dev.idle, (p - 1) * pass / v));
              // Peak: warm-up plus one chunk activation, capped at all M·V; G = P gives
              // (VP + P − 1 − 2d)/V stage-units.
              const int chunks = std::min(2 * (p - d - 1) + (v - 1) * g + 1, m * v);
              REQUIRE(close(dev.peak_activations, double(chunks) / v));
              if (m % p == 0 && chunks < m * v) REQUIRE(close(dev.peak_activations, double(v * p + p - 1 - 2 * d) / v));
              REQUIRE(dev.peak_activation_count == chunks);
            }
            REQUIRE(x.messages == (p == 1 ? 0u : static_cast<std::size_t>(2 * (v * p - 1) * m)));  // one device: all local
            REQUIRE(close(critical_length(x), x.makespan));
          }
}

TEST_CASE("interleaved 1F1B: every allowed group size keeps the formulas", "[sim][formulas]") {
  for (int p : {2, 3, 4})
    for (int m = p; m <= 12; ++m)
      for (int g = p; g <= m; ++g) {
        if (m % g != 0 && m % g < p) continue;  // Megatron's group rule
        for (int v : {2, 3})
          for (double rb : {1.0, 2.0, 3.0}) {
            CAPTURE(p, m, g, v, rb);
            const stage_times t(rb, 1.0);
            const auto costs = t.chunk_costs(v);
            const schedule s = interleaved_1f1b(p, m, v, {g});
            const schedule_metrics x = measure(s, simulate(s, costs), costs);
            const double pass = t.forward + t.backward;
            REQUIRE(close(x.makespan, (v * m + p - 1) * pass / v));
            for (int d = 0; d < p; ++d) {
              CAPTURE(d);
              REQUIRE(close(x.devices[static_cast<std::size_t>(d)].idle, (p - 1) * pass / v));
              const int chunks = std::min(2 * (p - d - 1) + (v - 1) * g + 1, m * v);
              REQUIRE(close(x.devices[static_cast<std::size_t>(d)].peak_activations, double(chunks) / v));
            }
          }
      }
}

TEST_CASE("looped BFS: makespan and peak formulas", "[sim][formulas]") {
  for (double rb : backward_ratios)
    for (int p : device_counts)
      for (int m : micro_batch_counts)
        for (int v : {1, 2, 3, 4}) {
          CAPTURE(rb, p, m, v);
          const stage_times t(rb, 1.0);
          const auto costs = t.chunk_costs(v);
          const schedule s = looped_bfs(p, m, v);
          const schedule_metrics x = measure(s, simulate(s, costs), costs);
          const double pass = t.forward + t.backward;
          REQUIRE(close(x.makespan, (v * std::max(m, p) + std::min(m, p) - 1) * pass / v));
          for (int d = 0; d < p; ++d) {
            CAPTURE(d);
            const auto& dev = x.devices[static_cast<std::size_t>(d)];
            if (m >= p) REQUIRE(close(dev.idle, (p - 1) * pass / v));
            REQUIRE(close(dev.peak_activations, double(m)));  // all M·V chunks = M stage-units
            REQUIRE(dev.peak_activation_count == m * v);
          }
          REQUIRE(x.messages == (p == 1 ? 0u : static_cast<std::size_t>(2 * (v * p - 1) * m)));  // one device: all local
          REQUIRE(close(critical_length(x), x.makespan));
        }
}

TEST_CASE("interleaved 1F1B and looped BFS forward-only", "[sim][formulas]") {
  for (int p : device_counts)
    for (int m : micro_batch_counts)
      for (int v : {2, 3}) {
        CAPTURE(p, m, v);
        const auto costs = cost_model::uniform({1.0 / v, 1.0, 1.0});  // T_F = 1 per stage
        for (const schedule& s : {interleaved_1f1b(p, m, v, {0, pass_mode::forward_only}),
                                  looped_bfs(p, m, v, pass_mode::forward_only)}) {
          CAPTURE(s.name);
          const schedule_metrics x = measure(s, simulate(s, costs), costs);
          REQUIRE(close(x.makespan, (v * std::max(m, p) + std::min(m, p) - 1) * 1.0 / v));
          REQUIRE(close(critical_length(x), x.makespan));
        }
      }
}

TEST_CASE("P2P latency: exact for GPipe, a lower bound for 1F1B", "[sim][formulas]") {
  for (double c : {0.1, 0.5, 2.0})
    for (int p : {2, 3, 4, 8})
      for (int m : {1, 2, 4, 8, 16}) {
        CAPTURE(c, p, m);
        const auto costs = cost_model::uniform({1.0, 1.0, 1.0}).with_p2p_latency(c);
        const double estimate = (m + p - 1) * 3.0 + 2 * (p - 1) * c;
        const schedule g = gpipe(p, m);
        const schedule_metrics xg = measure(g, simulate(g, costs), costs);
        REQUIRE(close(xg.makespan, estimate));
        REQUIRE(close(critical_length(xg), xg.makespan));
        const schedule o = one_f_one_b(p, m);
        const schedule_metrics xo = measure(o, simulate(o, costs), costs);
        REQUIRE(xo.makespan >= estimate - 1e-9);
        REQUIRE(close(critical_length(xo), xo.makespan));
        if (m == 1) REQUIRE(close(xo.makespan, estimate));  // no steady state to stall
      }
}

TEST_CASE("non-uniform stages: GPipe's exact form and 1F1B's bound", "[sim][formulas]") {
  // Deterministic spread of stage costs in [0.5, 2.5).
  unsigned seed = 12345u;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return 0.5 + 2.0 * static_cast<double>((seed >> 8) % 1000u) / 1000.0;
  };
  for (int trial = 0; trial < 40; ++trial)
    for (int p : {2, 3, 5})
      for (int m : {1, 2, 4, 9}) {
        CAPTURE(trial, p, m);
        std::vector<pass_costs> stages;
        double sum_f = 0, sum_b = 0, max_f = 0, max_b = 0, sum_fb = 0, max_fb = 0;
        for (int s = 0; s < p; ++s) {
          pass_costs c{next(), next(), next()};
          stages.push_back(c);
          sum_f += c.forward;
          sum_b += c.backward();
          max_f = std::max(max_f, c.forward);
          max_b = std::max(max_b, c.backward());
          sum_fb += c.forward + c.backward();
          max_fb = std::max(max_fb, c.forward + c.backward());
        }
        const auto costs = cost_model::per_stage(stages);
        const schedule g = gpipe(p, m);
        REQUIRE(close(simulate(g, costs).makespan(), sum_f + (m - 1) * max_f + sum_b + (m - 1) * max_b));
        const schedule o = one_f_one_b(p, m);
        const schedule_metrics xo = measure(o, simulate(o, costs), costs);
        REQUIRE(xo.makespan <= sum_fb + (m - 1) * max_fb + 1e-9);
        REQUIRE(close(critical_length(xo), xo.makespan));
      }
}

TEST_CASE("lowered generator schedules keep the makespan and the messages", "[sim][formulas][lowered]") {
  for (int p : {1, 2, 3, 4})
    for (int m : {1, 3, 4, 8})
      for (double c : {0.0, 0.25}) {
        CAPTURE(p, m, c);
        const auto costs = cost_model::uniform({0.5, 0.25, 0.5}).with_p2p_latency(c).with_activation_bytes(3.0);
        for (const schedule& s : {gpipe(p, m), one_f_one_b(p, m), interleaved_1f1b(p, m, 2), looped_bfs(p, m, 3)}) {
          CAPTURE(s.name);
          const schedule low = lower(s);
          const schedule_metrics a = measure(s, simulate(s, costs), costs);
          const schedule_metrics b = measure(low, simulate(low, costs), costs);
          REQUIRE(close(a.makespan, b.makespan));
          REQUIRE(a.messages == b.messages);
          REQUIRE(close(a.message_bytes, b.message_bytes));
          REQUIRE(close(a.message_bytes, 3.0 * static_cast<double>(a.messages)));
          for (std::size_t d = 0; d < a.devices.size(); ++d) {
            REQUIRE(close(a.devices[d].busy, b.devices[d].busy));
            REQUIRE(close(a.devices[d].span_idle, b.devices[d].span_idle));
            REQUIRE(close(a.devices[d].peak_activations, b.devices[d].peak_activations));
          }
          REQUIRE(close(critical_length(b), b.makespan));
        }
      }
}
