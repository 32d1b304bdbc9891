// layerpipe/graph/graph.hpp — a network: layers plus directed edges, validated once.
//
// Chains are the common case; skip connections (ResNet, U-Net) and branches that merge are just
// more edges. The constructor rejects what would make later passes wrong — no layers, empty or
// duplicate names, negative or non-finite costs, dangling edges, self-loops, duplicate edges and
// cycles (naming the cycle) — and builds the adjacency (CSR) and a topological order (Kahn) once,
// in linear time. Everything is constexpr: a graph can be a local of a constexpr function or of a
// static_assert expression (never a constexpr variable: it owns vectors; graph/literal.hpp has
// the constexpr-variable form).
//
//   auto g = layerpipe::graph({{"in", 1, 1, 1}, {"a", 2, 2, 2}, {"b", 2, 2, 2}, {"out", 1, 1, 1}},
//                             {{0, 1}, {0, 2}, {1, 3}, {2, 3}});   // a branch that merges
//   g.successors(0);            // {1, 2}
//   g.index_of("out") == 3;
//   auto c = layerpipe::graph::chain({{"x", 1}, {"y", 1}});       // x -> y
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/detail/name_table.hpp>
#include <layerpipe/graph/detail/text.hpp>
#include <layerpipe/graph/layer.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe {

struct edge {
  int from = 0;
  int to = 0;
  friend constexpr bool operator==(edge, edge) = default;
};

class graph {
public:
  constexpr graph() = default;

  constexpr graph(std::vector<layer> layers, std::vector<edge> edges)
      : layers_(std::move(layers)), edges_(std::move(edges)) {
    validate_layers();
    build_adjacency();
    build_topological_order();
  }

  /// Layers in the given order, each feeding the next.
  static constexpr graph chain(std::vector<layer> layers) {
    std::vector<edge> edges;
    if (layers.size() > 1 && layers.size() <= static_cast<std::size_t>(INT_MAX)) {
      edges.reserve(layers.size() - 1);
      for (int i = 0; i + 1 < static_cast<int>(layers.size()); ++i) edges.push_back({i, i + 1});
    }
    return graph(std::move(layers), std::move(edges));
  }

  constexpr int num_layers() const { return static_cast<int>(layers_.size()); }
  constexpr int num_edges() const { return static_cast<int>(edges_.size()); }

  constexpr const layer& at(int i) const {
    check_layer(i);
    return layers_[static_cast<std::size_t>(i)];
  }
  constexpr std::span<const layer> layers() const { return layers_; }
  constexpr std::span<const edge> edges() const { return edges_; }
  constexpr const edge& edge_at(int e) const {
    if (e < 0 || e >= num_edges())
      detail::raise("graph: edge index ", e, " is out of range, the graph has ", num_edges(), " edges");
    return edges_[static_cast<std::size_t>(e)];
  }

  /// Neighbours and incident edge indices, in ascending edge-index order.
  constexpr std::span<const int> successors(int l) const { return row(succ_, out_offset_, l); }
  constexpr std::span<const int> predecessors(int l) const { return row(pred_, in_offset_, l); }
  constexpr std::span<const int> out_edges(int l) const { return row(out_edge_, out_offset_, l); }
  constexpr std::span<const int> in_edges(int l) const { return row(in_edge_, in_offset_, l); }

  /// Layers without predecessors (inputs) and without successors (outputs, e.g. losses).
  constexpr std::vector<int> sources() const {
    std::vector<int> out;
    for (int l = 0; l < num_layers(); ++l)
      if (in_offset_[static_cast<std::size_t>(l) + 1] == in_offset_[static_cast<std::size_t>(l)]) out.push_back(l);
    return out;
  }
  constexpr std::vector<int> sinks() const {
    std::vector<int> out;
    for (int l = 0; l < num_layers(); ++l)
      if (out_offset_[static_cast<std::size_t>(l) + 1] == out_offset_[static_cast<std::size_t>(l)]) out.push_back(l);
    return out;
  }

  constexpr int find(std::string_view name) const {
    return names_.find(name, [this](int i) { return std::string_view(layers_[static_cast<std::size_t>(i)].name); });
  }
  constexpr int index_of(std::string_view name) const {
    const int i = find(name);
    if (i < 0) detail::raise("graph: no layer is named '", name, "'");
    return i;
  }

  /// Kahn's order, sources first in index order; a chain gives 0, 1, …, n−1.
  constexpr std::span<const int> topological_order() const { return topo_; }

  /// True when the edges are exactly i -> i+1 for every consecutive pair of layers.
  constexpr bool is_chain() const {
    if (layers_.empty() || edges_.size() + 1 != layers_.size()) return false;
    for (const edge& e : edges_)
      if (e.to != e.from + 1) return false;  // no duplicates (validated), so n−1 such edges cover all
    return true;
  }

  /// True when every edge goes from a lower to a higher layer index, so that index order is a
  /// topological order (what contiguous partitions and layout strings rely on).
  constexpr bool is_index_ordered() const {
    for (const edge& e : edges_)
      if (e.from > e.to) return false;
    return true;
  }

  /// Two graphs are equal when their layers and edges are, in the same order.
  friend constexpr bool operator==(const graph& a, const graph& b) {
    return a.layers_ == b.layers_ && a.edges_ == b.edges_;
  }

private:
  constexpr void check_layer(int l) const {
    if (l < 0 || l >= num_layers())
      detail::raise("graph: layer index ", l, " is out of range, the graph has ", num_layers(), " layers");
  }
  constexpr std::span<const int> row(const std::vector<int>& data, const std::vector<int>& offset, int l) const {
    check_layer(l);
    const auto u = static_cast<std::size_t>(l);
    return std::span<const int>(data).subspan(static_cast<std::size_t>(offset[u]),
                                              static_cast<std::size_t>(offset[u + 1] - offset[u]));
  }

  static constexpr void check_quantity(const layer& l, const char* what, double value) {
    if (!(value - value == 0.0))  // NaN and ±inf (std::isfinite is not constexpr in g++ 12)
      detail::raise("graph: layer '", l.name, "' has a non-finite ", what, " ", value);
    if (value < 0) detail::raise("graph: layer '", l.name, "' has a negative ", what, " ", value);
  }

  constexpr void validate_layers() {
    if (layers_.empty()) detail::raise("graph: a network needs at least one layer, got 0");
    if (layers_.size() > static_cast<std::size_t>(INT_MAX / 2) || edges_.size() > static_cast<std::size_t>(INT_MAX / 2))
      detail::raise("graph: too many layers or edges for int indices, got ", layers_.size(), " layers and ",
                    edges_.size(), " edges");
    names_ = detail::name_table(layers_.size());
    const auto name_of = [this](int i) { return std::string_view(layers_[static_cast<std::size_t>(i)].name); };
    // Hashes run `ahead` layers in front of the inserts, whose table slots are prefetched.
    constexpr int ahead = 16;
    std::uint64_t hashes[ahead]{};
    for (int i = 0; i < ahead && i < num_layers(); ++i) hashes[i] = detail::name_hash(name_of(i));
    for (int i = 0; i < num_layers(); ++i) {
      const layer& l = layers_[static_cast<std::size_t>(i)];
      const std::uint64_t hash = hashes[i % ahead];
      if (i + ahead < num_layers()) {
        hashes[i % ahead] = detail::name_hash(name_of(i + ahead));
        names_.prefetch(hashes[i % ahead]);
      }
      if (l.name.empty()) detail::raise("graph: layer ", i, " has an empty name; every layer needs a unique name");
      check_quantity(l, "forward cost", l.forward);
      check_quantity(l, "input-gradient cost", l.input_grad);
      check_quantity(l, "weight-gradient cost", l.weight_grad);
      check_quantity(l, "activation bytes", l.activation_bytes);
      check_quantity(l, "weight bytes", l.weight_bytes);
      const int before = names_.insert_hashed(hash, l.name, i, name_of);
      if (before >= 0) detail::raise("graph: duplicate layer name '", l.name, "' (layers ", before, " and ", i, ")");
    }
  }

  constexpr void build_adjacency() {
    const int n = num_layers();
    const auto un = static_cast<std::size_t>(n);
    for (int e = 0; e < num_edges(); ++e) {
      const edge& x = edges_[static_cast<std::size_t>(e)];
      if (x.from < 0 || x.from >= n || x.to < 0 || x.to >= n)
        detail::raise("graph: dangling edge ", e, ": ", x.from, " -> ", x.to, ", but there are ", n, " layers");
      if (x.from == x.to)
        detail::raise("graph: edge ", e, " is a self-loop on layer '", layers_[static_cast<std::size_t>(x.from)].name, "'");
    }
    // Counting sort by endpoint: stable, so each row lists its edges in ascending index order.
    out_offset_.assign(un + 1, 0);
    in_offset_.assign(un + 1, 0);
    for (const edge& x : edges_) {
      ++out_offset_[static_cast<std::size_t>(x.from) + 1];
      ++in_offset_[static_cast<std::size_t>(x.to) + 1];
    }
    for (std::size_t i = 0; i < un; ++i) {
      out_offset_[i + 1] += out_offset_[i];
      in_offset_[i + 1] += in_offset_[i];
    }
    const auto m = edges_.size();
    out_edge_.resize(m);
    succ_.resize(m);
    in_edge_.resize(m);
    pred_.resize(m);
    {
      std::vector<int> out_fill(out_offset_.begin(), out_offset_.end() - 1);
      std::vector<int> in_fill(in_offset_.begin(), in_offset_.end() - 1);
      for (int e = 0; e < num_edges(); ++e) {
        const edge& x = edges_[static_cast<std::size_t>(e)];
        const auto o = static_cast<std::size_t>(out_fill[static_cast<std::size_t>(x.from)]++);
        out_edge_[o] = e;
        succ_[o] = x.to;
        const auto i = static_cast<std::size_t>(in_fill[static_cast<std::size_t>(x.to)]++);
        in_edge_[i] = e;
        pred_[i] = x.from;
      }
    }
    // Duplicate edges: within one source row, remember which edge last reached each target.
    std::vector<int> seen_from(un, -1), seen_edge(un, -1);
    for (int u = 0; u < n; ++u) {
      for (int k = out_offset_[static_cast<std::size_t>(u)]; k < out_offset_[static_cast<std::size_t>(u) + 1]; ++k) {
        const auto v = static_cast<std::size_t>(succ_[static_cast<std::size_t>(k)]);
        if (seen_from[v] == u)
          detail::raise("graph: duplicate edge ", out_edge_[static_cast<std::size_t>(k)], ": '",
                        layers_[static_cast<std::size_t>(u)].name, "' -> '", layers_[v].name, "' (same as edge ",
                        seen_edge[v], ")");
        seen_from[v] = u;
        seen_edge[v] = out_edge_[static_cast<std::size_t>(k)];
      }
    }
  }

  constexpr void build_topological_order() {
    const int n = num_layers();
    const auto un = static_cast<std::size_t>(n);
    std::vector<int> indegree(un);
    for (std::size_t v = 0; v < un; ++v) indegree[v] = in_offset_[v + 1] - in_offset_[v];
    topo_.clear();
    topo_.reserve(un);
    for (int v = 0; v < n; ++v)
      if (indegree[static_cast<std::size_t>(v)] == 0) topo_.push_back(v);
    for (std::size_t head = 0; head < topo_.size(); ++head) {  // topo_ doubles as the FIFO queue
      const auto u = static_cast<std::size_t>(topo_[head]);
      for (int k = out_offset_[u]; k < out_offset_[u + 1]; ++k) {
        const int v = succ_[static_cast<std::size_t>(k)];
        if (--indegree[static_cast<std::size_t>(v)] == 0) topo_.push_back(v);
      }
    }
    if (topo_.size() != un) report_cycle(indegree);
  }

  // Every layer Kahn could not remove keeps a predecessor that was not removed either, so walking
  // such predecessors backwards must revisit a layer: that closes a cycle.
  constexpr void report_cycle(const std::vector<int>& indegree) const {
    const auto un = layers_.size();
    int start = 0;
    while (indegree[static_cast<std::size_t>(start)] == 0) ++start;
    std::vector<int> step_of(un, -1), path;
    int v = start;
    while (step_of[static_cast<std::size_t>(v)] < 0) {
      step_of[static_cast<std::size_t>(v)] = static_cast<int>(path.size());
      path.push_back(v);
      for (int p : predecessors(v))
        if (indegree[static_cast<std::size_t>(p)] > 0) {
          v = p;
          break;
        }
    }
    // path[j..] walked backwards from v: reversed, it is the cycle in edge direction.
    std::vector<int> cycle(path.begin() + step_of[static_cast<std::size_t>(v)], path.end());
    std::reverse(cycle.begin(), cycle.end());
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    std::string text;
    for (int c : cycle) {
      text += layers_[static_cast<std::size_t>(c)].name;
      text += " -> ";
    }
    text += layers_[static_cast<std::size_t>(cycle.front())].name;
    detail::raise("graph: the network has a cycle: ", text);
  }

  std::vector<layer> layers_;
  std::vector<edge> edges_;
  std::vector<int> out_offset_, out_edge_, succ_;  // CSR by source: row l is [offset[l], offset[l+1])
  std::vector<int> in_offset_, in_edge_, pred_;    // CSR by target
  std::vector<int> topo_;
  detail::name_table names_;
};

namespace detail {
/// "edge 5 'a' -> 'b'", for messages about one edge of a graph.
constexpr std::string describe_edge(const graph& g, int e) {
  const edge& x = g.edge_at(e);
  std::string out = "edge ";
  out += decimal(e);
  out += " '";
  out += g.at(x.from).name;
  out += "' -> '";
  out += g.at(x.to).name;
  out += "'";
  return out;
}
}  // namespace detail

}  // namespace layerpipe
