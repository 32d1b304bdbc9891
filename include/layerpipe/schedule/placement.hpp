// layerpipe/schedule/placement.hpp — which device runs each pipeline stage.
//
// Stages are global indices 0 … S−1 over the whole model (with V chunks per device, S = V·P).
// Styles (REFERENCE §1.5):
//   loop  — stage s on device s mod P (interleaved 1F1B, looped BFS);
//   v     — stages climb devices 0…P−1, then descend P−1…0, and so on (ZB-V, DualPipeV);
//   bidirectional — two replicas of the model running in opposite directions (Chimera, BitPipe,
//           DualPipe): replica 0 follows a loop or v placement, replica 1 the same with device d
//           mirrored to P−1−d, so every device holds each of its model stages twice over;
//   explicit — any map, e.g. read from a CSV file.
// A stage's *chunk* is its local index on its device, counting the device's stages in
// ascending order (chunk 0 holds the device's lowest stage).
//
// Replicas: with R replicas the stage indices are replica-major, stage = r·S_model + s, so
// replica r's pipeline is the contiguous range r·S_model … (r+1)·S_model − 1 and model stage s
// exists once per replica. A micro-batch travels through one replica (schedule::micro_batch_replica);
// the replicas' gradients of a model stage are combined by REDUCE_GRAD.
//
//   auto p = layerpipe::placement::loop(4, 2);   // 4 devices, 2 chunks each, 8 stages
//   p.device_of(5) == 1;  p.chunk_of(5) == 1;    // stage 5 is chunk 1 of device 1
//   auto c = layerpipe::placement::bidirectional(layerpipe::placement::loop(4));  // Chimera's
//   c.device_of(4) == 3;                         // replica 1's model stage 0 runs on device 3
#pragma once

#include <layerpipe/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe {

enum class placement_style { loop, v, bidirectional, explicit_map };

inline std::string_view to_string(placement_style s) noexcept {
  switch (s) {
    case placement_style::loop: return "loop";
    case placement_style::v: return "v";
    case placement_style::bidirectional: return "bidirectional";
    case placement_style::explicit_map: return "explicit";
  }
  return "?";
}

class placement {
public:
  placement() = default;

  /// Stage s on device s mod P; `stages_per_device` = V chunks each.
  static placement loop(int devices, int stages_per_device = 1) {
    check_sizes("loop", devices, stages_per_device);
    std::vector<int> map(static_cast<std::size_t>(devices) * static_cast<std::size_t>(stages_per_device));
    for (std::size_t s = 0; s < map.size(); ++s) map[s] = static_cast<int>(s % static_cast<std::size_t>(devices));
    return placement(placement_style::loop, devices, std::move(map));
  }

  /// Stages zig-zag over the devices: 0…P−1, then P−1…0, … (`stages_per_device` rounds).
  static placement v(int devices, int stages_per_device = 2) {
    check_sizes("v", devices, stages_per_device);
    std::vector<int> map(static_cast<std::size_t>(devices) * static_cast<std::size_t>(stages_per_device));
    for (std::size_t s = 0; s < map.size(); ++s) {
      auto round = s / static_cast<std::size_t>(devices);
      auto pos = static_cast<int>(s % static_cast<std::size_t>(devices));
      map[s] = round % 2 == 0 ? pos : devices - 1 - pos;
    }
    return placement(placement_style::v, devices, std::move(map));
  }

  /// Two replicas in opposite directions: replica 0 is `down` (one replica), replica 1 is `down`
  /// with device d mirrored to P − 1 − d. Stage r·S + s is model stage s of replica r.
  static placement bidirectional(const placement& down) {
    if (down.num_replicas() != 1)
      detail::fail("placement::bidirectional mirrors a one-replica placement, got one with ", down.num_replicas(),
                   " replicas");
    const int devices = down.num_devices();
    std::vector<int> map(2 * down.device_of_.size());
    for (std::size_t s = 0; s < down.device_of_.size(); ++s) {
      map[s] = down.device_of_[s];
      map[s + down.device_of_.size()] = devices - 1 - down.device_of_[s];
    }
    return placement(placement_style::bidirectional, devices, std::move(map), 2);
  }

  /// Any map stage → device. `devices` defaults to the largest device index + 1; every device
  /// must hold at least one stage. With `replicas` R > 1 the map lists replica 0's stages, then
  /// replica 1's, ... (replica-major); its size must be a multiple of R.
  static placement from_map(std::vector<int> stage_to_device, int devices = -1, int replicas = 1) {
    if (stage_to_device.empty()) detail::fail("a placement needs at least one stage");
    if (replicas < 1) detail::fail("placement: the number of replicas must be >= 1, got ", replicas);
    if (stage_to_device.size() % static_cast<std::size_t>(replicas) != 0)
      detail::fail("placement: ", stage_to_device.size(), " stages do not split into ", replicas,
                   " equal replicas (rule: every replica holds every model stage once)");
    int largest = -1;
    for (std::size_t s = 0; s < stage_to_device.size(); ++s) {
      if (stage_to_device[s] < 0)
        detail::fail("placement: stage ", s, " is mapped to device ", stage_to_device[s],
                     "; device indices start at 0");
      largest = std::max(largest, stage_to_device[s]);
    }
    if (devices < 0) devices = largest + 1;
    if (largest >= devices)
      detail::fail("placement: a stage is mapped to device ", largest, " but there are only ",
                   devices, " devices");
    placement p(placement_style::explicit_map, devices, std::move(stage_to_device), replicas);
    for (int d = 0; d < devices; ++d)
      if (p.stages_on(d).empty()) detail::fail("placement: device ", d, " holds no stage");
    return p;
  }

  int num_devices() const noexcept { return devices_; }
  /// All stage instances, over every replica: R·S_model.
  int num_stages() const noexcept { return static_cast<int>(device_of_.size()); }
  placement_style style() const noexcept { return style_; }
  /// R: how many copies of the model the placement holds (1 except for bidirectional ones).
  int num_replicas() const noexcept { return replicas_; }
  /// S_model: the stages of one replica, i.e. how many pieces the model is cut into.
  int model_stages() const noexcept { return model_stages_; }
  /// The replica a stage belongs to, and its index within that replica.
  int replica_of(int stage) const {
    (void)checked(stage);
    return stage / model_stages_;
  }
  int model_stage_of(int stage) const {
    (void)checked(stage);
    return stage % model_stages_;
  }
  /// The stage that runs model stage `model_stage` in replica `replica`.
  int stage_in_replica(int replica, int model_stage) const {
    if (replica < 0 || replica >= replicas_)
      detail::fail("placement: replica ", replica, " out of range 0..", replicas_ - 1);
    if (model_stage < 0 || model_stage >= model_stages_)
      detail::fail("placement: model stage ", model_stage, " out of range 0..", model_stages_ - 1);
    return replica * model_stages_ + model_stage;
  }
  /// First and last stage of the stage's replica: where micro-batches enter and turn around.
  /// Unchecked (the execution engine calls them per action on checked stages).
  bool is_first_in_replica(int stage) const noexcept {
    return replicas_ == 1 ? stage == 0 : stage % model_stages_ == 0;
  }
  bool is_last_in_replica(int stage) const noexcept {
    return replicas_ == 1 ? stage == model_stages_ - 1 : stage % model_stages_ == model_stages_ - 1;
  }

  int device_of(int stage) const { return device_of_[checked(stage)]; }
  int chunk_of(int stage) const { return chunk_of_[checked(stage)]; }
  /// The stages a device holds, ascending; their positions are the chunk indices.
  std::span<const int> stages_on(int device) const {
    if (device < 0 || device >= devices_)
      detail::fail("placement: device ", device, " out of range 0..", devices_ - 1);
    auto b = static_cast<std::size_t>(offsets_[static_cast<std::size_t>(device)]);
    auto e = static_cast<std::size_t>(offsets_[static_cast<std::size_t>(device) + 1]);
    return std::span<const int>(stages_.data() + b, e - b);
  }
  /// Stage-to-device map, one entry per stage.
  std::span<const int> map() const noexcept { return device_of_; }
  /// True if stages a and b run on one device, so a transfer between them is local.
  bool same_device(int a, int b) const { return device_of(a) == device_of(b); }

  friend bool operator==(const placement& a, const placement& b) noexcept {
    return a.devices_ == b.devices_ && a.replicas_ == b.replicas_ && a.device_of_ == b.device_of_;
  }

private:
  placement(placement_style style, int devices, std::vector<int> map, int replicas = 1)
      : style_(style), devices_(devices), replicas_(replicas), device_of_(std::move(map)) {
    model_stages_ = static_cast<int>(device_of_.size()) / replicas_;
    chunk_of_.assign(device_of_.size(), 0);
    offsets_.assign(static_cast<std::size_t>(devices_) + 1, 0);
    for (int d : device_of_) ++offsets_[static_cast<std::size_t>(d) + 1];
    for (std::size_t d = 0; d < static_cast<std::size_t>(devices_); ++d) offsets_[d + 1] += offsets_[d];
    stages_.assign(device_of_.size(), 0);
    std::vector<int> fill(offsets_.begin(), offsets_.end() - 1);
    for (std::size_t s = 0; s < device_of_.size(); ++s) {
      auto d = static_cast<std::size_t>(device_of_[s]);
      chunk_of_[s] = fill[d] - offsets_[d];
      stages_[static_cast<std::size_t>(fill[d]++)] = static_cast<int>(s);
    }
  }
  static void check_sizes(std::string_view style, int devices, int per_device) {
    if (devices < 1) detail::fail(style, " placement needs at least one device (P >= 1), got P = ", devices);
    if (per_device < 1)
      detail::fail(style, " placement needs at least one stage per device (V >= 1), got V = ", per_device);
  }
  std::size_t checked(int stage) const {
    if (stage < 0 || stage >= num_stages())
      detail::fail("placement: stage ", stage, " out of range 0..", num_stages() - 1);
    return static_cast<std::size_t>(stage);
  }

  placement_style style_ = placement_style::loop;
  int devices_ = 0;
  int replicas_ = 1;
  int model_stages_ = 0;
  std::vector<int> device_of_;  // stage -> device
  std::vector<int> chunk_of_;   // stage -> local chunk index
  std::vector<int> offsets_;    // device -> first index in stages_
  std::vector<int> stages_;     // stages grouped by device, ascending
};

}  // namespace layerpipe
