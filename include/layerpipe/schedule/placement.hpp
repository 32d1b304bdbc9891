// layerpipe/schedule/placement.hpp — which device runs each pipeline stage.
//
// Stages are global indices 0 … S−1 over the whole model (with V chunks per device, S = V·P).
// Three styles (REFERENCE §1.5):
//   loop  — stage s on device s mod P (interleaved 1F1B, looped BFS);
//   v     — stages climb devices 0…P−1, then descend P−1…0, and so on (ZB-V, DualPipeV);
//   explicit — any map, e.g. read from a CSV file.
// A stage's *chunk* is its local index on its device, counting the device's stages in
// ascending order (chunk 0 holds the device's lowest stage).
//
//   auto p = layerpipe::placement::loop(4, 2);   // 4 devices, 2 chunks each, 8 stages
//   p.device_of(5) == 1;  p.chunk_of(5) == 1;    // stage 5 is chunk 1 of device 1
#pragma once

#include <layerpipe/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe {

enum class placement_style { loop, v, explicit_map };

inline std::string_view to_string(placement_style s) noexcept {
  switch (s) {
    case placement_style::loop: return "loop";
    case placement_style::v: return "v";
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

  /// Any map stage → device. `devices` defaults to the largest device index + 1; every device
  /// must hold at least one stage.
  static placement from_map(std::vector<int> stage_to_device, int devices = -1) {
    if (stage_to_device.empty()) detail::fail("a placement needs at least one stage");
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
    placement p(placement_style::explicit_map, devices, std::move(stage_to_device));
    for (int d = 0; d < devices; ++d)
      if (p.stages_on(d).empty()) detail::fail("placement: device ", d, " holds no stage");
    return p;
  }

  int num_devices() const noexcept { return devices_; }
  int num_stages() const noexcept { return static_cast<int>(device_of_.size()); }
  placement_style style() const noexcept { return style_; }

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
    return a.devices_ == b.devices_ && a.device_of_ == b.device_of_;
  }

private:
  placement(placement_style style, int devices, std::vector<int> map)
      : style_(style), devices_(devices), device_of_(std::move(map)) {
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
  std::vector<int> device_of_;  // stage -> device
  std::vector<int> chunk_of_;   // stage -> local chunk index
  std::vector<int> offsets_;    // device -> first index in stages_
  std::vector<int> stages_;     // stages grouped by device, ascending
};

}  // namespace layerpipe
