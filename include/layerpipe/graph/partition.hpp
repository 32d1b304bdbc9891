// layerpipe/graph/partition.hpp — which pipeline stage holds each layer.
//
// A partition maps layer -> stage (0-based) and keeps the inverse, each stage's layers in
// ascending order. It is built from a stage map, from explicit groups, or from stage sizes in
// layer order (graph/layout.hpp and graph/balance.hpp build the others). check() ties it to a
// graph: sizes agree, no stage is empty (unless allowed) and every edge points forward in stage
// order — otherwise it names the edge that goes back.
//
//   auto g = layerpipe::graph::chain({{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}});
//   auto p = layerpipe::partition::contiguous({1, 2, 1});       // {a} {b c} {d}
//   p.check(g);
//   p.stage_of(2) == 1;  p.layers_of(1);                         // {1, 2}
//   auto q = layerpipe::partition::from_groups({{0}, {1, 2}, {3}}, 4);   // q == p
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/graph.hpp>

#include <climits>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace layerpipe {

class partition {
public:
  constexpr partition() = default;

  /// stages = 0: as many stages as the highest stage used + 1. Stages may be empty here;
  /// check() decides whether that is allowed.
  constexpr partition(std::vector<int> stage_of_layer, int stages = 0) : stage_(std::move(stage_of_layer)) {
    if (stages < 0) detail::raise("partition: the number of stages must be >= 0 (0: derive it), got ", stages);
    if (stage_.size() > static_cast<std::size_t>(INT_MAX / 2))
      detail::raise("partition: too many layers for int indices, got ", stage_.size());
    int highest = -1;
    for (std::size_t l = 0; l < stage_.size(); ++l) {
      if (stage_[l] < 0) detail::raise("partition: layer ", l, " has a negative stage ", stage_[l]);
      if (stages > 0 && stage_[l] >= stages)
        detail::raise("partition: layer ", l, " is in stage ", stage_[l], " but there are only ", stages, " stages");
      highest = stage_[l] > highest ? stage_[l] : highest;
    }
    stages_ = stages > 0 ? stages : highest + 1;
    // Counting sort of the layers by stage: stable, so each stage's layers come out ascending.
    const auto s = static_cast<std::size_t>(stages_);
    offset_.assign(s + 1, 0);
    for (int st : stage_) ++offset_[static_cast<std::size_t>(st) + 1];
    for (std::size_t i = 0; i < s; ++i) offset_[i + 1] += offset_[i];
    members_.resize(stage_.size());
    std::vector<int> fill(offset_.begin(), offset_.end() - 1);
    for (std::size_t l = 0; l < stage_.size(); ++l)
      members_[static_cast<std::size_t>(fill[static_cast<std::size_t>(stage_[l])]++)] = static_cast<int>(l);
  }

  /// groups[s] lists the layers of stage s (any order); every layer of 0 … layers−1 must appear
  /// exactly once.
  static constexpr partition from_groups(const std::vector<std::vector<int>>& groups, int layers) {
    if (layers < 0) detail::raise("partition: the number of layers must be >= 0, got ", layers);
    if (groups.size() > static_cast<std::size_t>(INT_MAX / 2))
      detail::raise("partition: too many groups for int indices, got ", groups.size());
    std::vector<int> stage(static_cast<std::size_t>(layers), -1);
    for (std::size_t s = 0; s < groups.size(); ++s)
      for (int l : groups[s]) {
        if (l < 0 || l >= layers)
          detail::raise("partition: group ", s, " names layer ", l, ", but there are ", layers, " layers");
        if (stage[static_cast<std::size_t>(l)] >= 0)
          detail::raise("partition: layer ", l, " is in groups ", stage[static_cast<std::size_t>(l)], " and ", s);
        stage[static_cast<std::size_t>(l)] = static_cast<int>(s);
      }
    for (int l = 0; l < layers; ++l)
      if (stage[static_cast<std::size_t>(l)] < 0)
        detail::raise("partition: layer ", l, " is in no group (", groups.size(), " groups over ", layers, " layers)");
    return partition(std::move(stage), static_cast<int>(groups.size()));
  }

  /// Consecutive runs of layers: sizes {2, 3} puts layers 0–1 in stage 0 and 2–4 in stage 1.
  static constexpr partition contiguous(std::vector<int> layers_per_stage) {
    long long total = 0;
    for (std::size_t s = 0; s < layers_per_stage.size(); ++s) {
      if (layers_per_stage[s] < 0)
        detail::raise("partition: stage ", s, " has a negative number of layers ", layers_per_stage[s]);
      total += layers_per_stage[s];
      if (total > INT_MAX / 2) detail::raise("partition: too many layers for int indices, got ", total);
    }
    if (layers_per_stage.size() > static_cast<std::size_t>(INT_MAX / 2))
      detail::raise("partition: too many stages for int indices, got ", layers_per_stage.size());
    std::vector<int> stage;
    stage.reserve(static_cast<std::size_t>(total));
    for (std::size_t s = 0; s < layers_per_stage.size(); ++s)
      stage.insert(stage.end(), static_cast<std::size_t>(layers_per_stage[s]), static_cast<int>(s));
    return partition(std::move(stage), static_cast<int>(layers_per_stage.size()));
  }

  constexpr int num_stages() const { return stages_; }
  constexpr int num_layers() const { return static_cast<int>(stage_.size()); }

  constexpr int stage_of(int l) const {
    if (l < 0 || l >= num_layers())
      detail::raise("partition: layer index ", l, " is out of range, the partition covers ", num_layers(), " layers");
    return stage_[static_cast<std::size_t>(l)];
  }
  constexpr std::span<const int> stage_map() const { return stage_; }

  /// The layers of stage s, ascending.
  constexpr std::span<const int> layers_of(int s) const {
    check_stage(s);
    const auto u = static_cast<std::size_t>(s);
    return std::span<const int>(members_).subspan(static_cast<std::size_t>(offset_[u]),
                                                  static_cast<std::size_t>(offset_[u + 1] - offset_[u]));
  }
  constexpr int stage_size(int s) const { return static_cast<int>(layers_of(s).size()); }

  /// True when every stage is a run of consecutive layers and stages follow layer order.
  constexpr bool is_contiguous() const {
    for (std::size_t l = 1; l < stage_.size(); ++l)
      if (stage_[l] != stage_[l - 1] && stage_[l] != stage_[l - 1] + 1) return false;
    return stage_.empty() || stage_.front() == 0;
  }

  /// Ties the partition to a graph; throws naming the first rule broken.
  constexpr void check(const graph& g, bool allow_empty_stages = false) const {
    if (num_layers() != g.num_layers())
      detail::raise("partition: the partition covers ", num_layers(), " layers but the graph has ", g.num_layers());
    if (stages_ < 1) detail::raise("partition: a partition needs at least one stage, got ", stages_);
    if (!allow_empty_stages)
      for (int s = 0; s < stages_; ++s)
        if (offset_[static_cast<std::size_t>(s) + 1] == offset_[static_cast<std::size_t>(s)])
          detail::raise("partition: stage ", s, " of ", stages_, " is empty (no layers); every stage needs a layer");
    for (int e = 0; e < g.num_edges(); ++e) {
      const edge& x = g.edges()[static_cast<std::size_t>(e)];
      const int from = stage_[static_cast<std::size_t>(x.from)], to = stage_[static_cast<std::size_t>(x.to)];
      if (from > to)
        detail::raise("partition: ", detail::describe_edge(g, e), " goes from stage ", from, " back to stage ", to);
    }
  }

  friend constexpr bool operator==(const partition& a, const partition& b) {
    return a.stages_ == b.stages_ && a.stage_ == b.stage_;
  }

private:
  constexpr void check_stage(int s) const {
    if (s < 0 || s >= stages_)
      detail::raise("partition: stage index ", s, " is out of range, the partition has ", stages_, " stages");
  }

  std::vector<int> stage_;    // layer -> stage
  int stages_ = 0;
  std::vector<int> offset_;   // stage s holds members_[offset_[s] .. offset_[s+1])
  std::vector<int> members_;
};

}  // namespace layerpipe
