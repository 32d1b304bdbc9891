// layerpipe/sim/cost_model.hpp — how long each action takes and what each transfer costs.
//
// A cost model gives every compute action a duration (per stage and pass kind), every
// cross-device transfer a latency, and every stage an activation size per micro-batch.
// Units are the user's: seconds, or normalised to one full stage (REFERENCE §1.1). The model is
// per stage, so a device holding V chunks is described by giving chunk costs (T/V each).
// Host copies (OFFLOAD, RELOAD) take activation_bytes(stage) / host bandwidth on the device's
// copy stream (0 while no bandwidth is set); D2H and H2D share the one figure. The paired-link
// rule of REFERENCE §5.7 (two ranks sharing one host link) is not modelled: give each device the
// bandwidth it actually gets.
//
//   auto costs = layerpipe::cost_model::uniform({.forward = 1, .input_grad = 1, .weight_grad = 1})
//                    .with_p2p_latency(0.1)
//                    .with_activation_bytes(64e6);
//   double t = costs.duration(layerpipe::parse_action("2B0"));   // T_B = T_I + T_W = 2
//   costs.with_host_bandwidth(32e6);                               // bytes per time unit
//   double c = costs.duration(layerpipe::parse_action("2OFFLOAD0")); // 64e6 / 32e6 = 2
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/core/pass_costs.hpp>  // pass_costs lives in core: cost-aware generators use it too
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace layerpipe {

/// How long an OVERLAP_F_B pair lasts: T_F + T_B (no overlap credit) or max(T_F, T_B).
enum class overlap_timing { sum, max };

class cost_model {
public:
  /// The same as uniform(): T_F = T_I = T_W = 1 on every stage, no latency, 0 activation bytes.
  cost_model() = default;

  /// Every stage costs the same, per pass kind.
  static cost_model uniform(pass_costs costs = {}) {
    check_pass_costs(costs, -1);
    cost_model m;
    m.stages_.assign(1, costs);
    m.uniform_ = true;
    return m;
  }

  /// One entry per stage. Simulating a schedule with more stages than entries is an error.
  static cost_model per_stage(std::vector<pass_costs> costs) {
    if (costs.empty()) detail::fail("cost_model::per_stage needs at least one stage's costs, got 0");
    for (std::size_t s = 0; s < costs.size(); ++s) check_pass_costs(costs[s], static_cast<int>(s));
    cost_model m;
    m.stages_ = std::move(costs);
    m.uniform_ = false;
    return m;
  }

  /// Latency added to every cross-device transfer (same-device transfers are free). Default 0.
  cost_model& with_p2p_latency(double per_transfer) & {
    check_value("p2p latency", per_transfer, -1);
    latency_ = per_transfer;
    return *this;
  }
  cost_model&& with_p2p_latency(double per_transfer) && { return std::move(with_p2p_latency(per_transfer)); }

  /// Bytes one micro-batch's activation occupies on every stage. Default 0 (unknown).
  cost_model& with_activation_bytes(double bytes_per_stage_microbatch) & {
    check_value("activation bytes", bytes_per_stage_microbatch, -1);
    bytes_.assign(1, bytes_per_stage_microbatch);
    uniform_bytes_ = true;
    return *this;
  }
  cost_model&& with_activation_bytes(double bytes_per_stage_microbatch) && {
    return std::move(with_activation_bytes(bytes_per_stage_microbatch));
  }
  /// Bytes per micro-batch activation, one entry per stage.
  cost_model& with_activation_bytes(std::vector<double> bytes_per_stage) & {
    if (bytes_per_stage.empty()) detail::fail("cost_model: per-stage activation bytes need at least one entry, got 0");
    for (std::size_t s = 0; s < bytes_per_stage.size(); ++s)
      check_value("activation bytes", bytes_per_stage[s], static_cast<int>(s));
    bytes_ = std::move(bytes_per_stage);
    uniform_bytes_ = false;
    return *this;
  }
  cost_model&& with_activation_bytes(std::vector<double> bytes_per_stage) && {
    return std::move(with_activation_bytes(std::move(bytes_per_stage)));
  }

  /// Host-transfer bandwidth in bytes per time unit, for OFFLOAD (D2H) and RELOAD (H2D): a copy
  /// of stage s takes activation_bytes(s) / bandwidth. Must be finite and > 0; unset, copies take 0.
  cost_model& with_host_bandwidth(double bytes_per_time) & {
    if (!std::isfinite(bytes_per_time) || bytes_per_time <= 0.0)
      detail::fail("cost_model: host bandwidth (bytes per time unit) must be finite and > 0, got ", bytes_per_time);
    host_bandwidth_ = bytes_per_time;
    return *this;
  }
  cost_model&& with_host_bandwidth(double bytes_per_time) && { return std::move(with_host_bandwidth(bytes_per_time)); }

  cost_model& with_overlap(overlap_timing timing) & {
    overlap_ = timing;
    return *this;
  }
  cost_model&& with_overlap(overlap_timing timing) && { return std::move(with_overlap(timing)); }

  /// Costs of one stage's passes; throws if a per-stage model has no entry for it.
  const pass_costs& costs(int stage) const {
    if (uniform_) return stages_.front();
    if (stage < 0 || static_cast<std::size_t>(stage) >= stages_.size())
      detail::fail("cost_model: no costs for stage ", stage, ": the per-stage model covers stages 0..",
                   stages_.size() - 1);
    return stages_[static_cast<std::size_t>(stage)];
  }

  /// Duration of an action: F, B, I, W and OVERLAP_F_B by pass; OFFLOAD and RELOAD by the host
  /// bandwidth (on the copy stream); transfers and marker kinds take no device time (0).
  double duration(const action& a) const {
    switch (a.kind) {
      case action_kind::forward: return costs(a.stage).forward;
      case action_kind::backward: return costs(a.stage).backward();
      case action_kind::backward_input: return costs(a.stage).input_grad;
      case action_kind::backward_weight: return costs(a.stage).weight_grad;
      case action_kind::overlap_f_b: {
        const double f = costs(a.stage).forward;
        const pass_costs& c = costs(a.second_stage);
        const double b = a.second_kind == action_kind::backward_input ? c.input_grad : c.backward();
        return overlap_ == overlap_timing::sum ? f + b : std::max(f, b);
      }
      case action_kind::offload:
      case action_kind::reload: return host_copy_time(a.stage);
      default: return 0.0;
    }
  }

  /// Latency of one cross-device transfer (the engine asks only for cross-device edges).
  double latency(const detail::transfer_edge&) const noexcept { return latency_; }

  /// Bytes one micro-batch's activation occupies on `stage` (0 unless set).
  double activation_bytes(int stage) const {
    if (bytes_.empty()) return 0.0;
    if (uniform_bytes_) return bytes_.front();
    if (stage < 0 || static_cast<std::size_t>(stage) >= bytes_.size())
      detail::fail("cost_model: no activation bytes for stage ", stage, ": the per-stage sizes cover stages 0..",
                   bytes_.size() - 1);
    return bytes_[static_cast<std::size_t>(stage)];
  }

  /// Size of the message on a transfer edge: the tensor at the boundary between the two stages,
  /// i.e. the lower stage's activation. SEND_F s→s+1 carries activation_bytes(s); the gradient
  /// SEND_B s+1→s has the same shape, so it carries activation_bytes(s) too.
  double message_bytes(const detail::transfer_edge& e) const {
    return activation_bytes(e.kind == action_kind::send_b ? e.to_stage : e.from_stage);
  }

  /// Time of one host copy (D2H or H2D) of stage `stage`'s activation: bytes / bandwidth, 0 if unset.
  double host_copy_time(int stage) const {
    return host_bandwidth_ > 0.0 ? activation_bytes(stage) / host_bandwidth_ : 0.0;
  }
  /// Bytes per time unit of host copies; 0 when unset (copies are free).
  double host_bandwidth() const noexcept { return host_bandwidth_; }
  double p2p_latency() const noexcept { return latency_; }
  overlap_timing overlap() const noexcept { return overlap_; }
  bool is_uniform() const noexcept { return uniform_; }

  /// Throws unless every stage 0..stages−1 has costs (and activation sizes, if set per stage).
  void check_covers(int stages) const {
    if (!uniform_ && static_cast<std::size_t>(stages) > stages_.size())
      detail::fail("cost_model: the schedule has ", stages, " stages but the per-stage model covers only ",
                   stages_.size());
    if (!uniform_bytes_ && !bytes_.empty() && static_cast<std::size_t>(stages) > bytes_.size())
      detail::fail("cost_model: the schedule has ", stages, " stages but per-stage activation bytes cover only ",
                   bytes_.size());
  }

private:
  static void check_value(const char* what, double value, int stage) {
    if (!std::isfinite(value) || value < 0.0) {
      if (stage >= 0)
        detail::fail("cost_model: ", what, " of stage ", stage, " must be finite and >= 0, got ", value);
      detail::fail("cost_model: ", what, " must be finite and >= 0, got ", value);
    }
  }
  static void check_pass_costs(const pass_costs& c, int stage) {
    check_value("forward cost T_F", c.forward, stage);
    check_value("input-gradient cost T_I", c.input_grad, stage);
    check_value("weight-gradient cost T_W", c.weight_grad, stage);
  }

  std::vector<pass_costs> stages_ = std::vector<pass_costs>(1);  // one entry when uniform
  bool uniform_ = true;
  double latency_ = 0.0;
  double host_bandwidth_ = 0.0;     // 0: unset
  std::vector<double> bytes_;       // empty: 0 bytes everywhere; one entry when uniform
  bool uniform_bytes_ = true;
  overlap_timing overlap_ = overlap_timing::sum;
};

}  // namespace layerpipe
