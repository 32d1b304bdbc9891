// layerpipe/retime/sdf_graph.hpp — a synchronous data-flow graph (circuit) for retiming.
//
// Nodes are computations with a time d(v) >= 0; edges u -> v carry w(e) >= 0 delays (registers).
// This is G = (V, E, d, w) of Leiserson & Saxe (REFERENCE §2). The retiming engine
// (retiming.hpp, constraints.hpp, min_period.hpp) works on it alone: it knows nothing of neural
// networks, so any synchronous DFG can be retimed with it.
//
//   layerpipe::sdf_graph g;
//   int a = g.add_node("a", 3), b = g.add_node("b", 7);
//   g.add_edge(a, b, 0);
//   g.add_edge(b, a, 1);              // a loop holding one register
//   g.finalize();                     // builds the adjacency index
//   g.out_edges(a);                   // {0}
//
// Every mutation checks its input (finite times >= 0, delays >= 0, indices in range) and
// throws layerpipe::error naming the rule; validate() re-checks a whole graph. Self-loops and
// parallel edges are allowed (an accumulator is a self-loop with one register).
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/retime/detail/csr.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace layerpipe {

struct sdf_node {
  std::string name;
  double time = 0;  // computation time d(v)
};

struct sdf_edge {
  int from = 0;
  int to = 0;
  std::int64_t delays = 0;  // registers w(e)
  friend constexpr bool operator==(const sdf_edge&, const sdf_edge&) = default;
};

class sdf_graph {
public:
  constexpr sdf_graph() = default;

  /// A whole graph at once; checks every node and edge.
  constexpr sdf_graph(std::vector<sdf_node> nodes, std::vector<sdf_edge> edges)
      : nodes_(std::move(nodes)), edges_(std::move(edges)) {
    validate();
    finalize();
  }

  constexpr void reserve(int nodes, int edges) {
    if (nodes > 0) nodes_.reserve(static_cast<std::size_t>(nodes));
    if (edges > 0) edges_.reserve(static_cast<std::size_t>(edges));
  }

  /// Adds a node and returns its index (0, 1, ...).
  constexpr int add_node(std::string name, double time) {
    check_time(time, static_cast<int>(nodes_.size()), name);
    // g++ 12 rejects moving a by-value std::string parameter holding a short (SSO) string in a
    // constant evaluation ("accessing _M_allocated_capacity"); a copy is accepted.
    if (std::is_constant_evaluated())
      nodes_.push_back(sdf_node{name, time});
    else
      nodes_.push_back(sdf_node{std::move(name), time});
    indexed_ = false;
    return static_cast<int>(nodes_.size()) - 1;
  }

  /// Adds edge from -> to carrying `delays` registers and returns its index.
  constexpr int add_edge(int from, int to, std::int64_t delays) {
    const sdf_edge e{from, to, delays};
    check_edge(e, static_cast<int>(edges_.size()));
    edges_.push_back(e);
    indexed_ = false;
    return static_cast<int>(edges_.size()) - 1;
  }

  /// Replaces an edge's register count (e.g. a DLMS delay chosen after construction).
  constexpr void set_delays(int edge, std::int64_t delays) {
    check_edge_index(edge);
    sdf_edge e = edges_[static_cast<std::size_t>(edge)];
    e.delays = delays;
    check_edge(e, edge);
    edges_[static_cast<std::size_t>(edge)] = e;
  }

  constexpr int num_nodes() const noexcept { return static_cast<int>(nodes_.size()); }
  constexpr int num_edges() const noexcept { return static_cast<int>(edges_.size()); }

  constexpr const sdf_node& node(int v) const {
    check_node_index(v);
    return nodes_[static_cast<std::size_t>(v)];
  }
  constexpr const sdf_edge& edge(int e) const {
    check_edge_index(e);
    return edges_[static_cast<std::size_t>(e)];
  }
  constexpr std::span<const sdf_node> nodes() const noexcept { return nodes_; }
  constexpr std::span<const sdf_edge> edges() const noexcept { return edges_; }

  /// Builds the adjacency index behind out_edges()/in_edges() (O(V + E)). Needed after the last
  /// add_node/add_edge; the whole-graph constructor and retimed() return finalized graphs.
  constexpr void finalize() {
    out_ = detail::retiming_impl::build_csr(num_nodes(), num_edges(),
                                            [this](int e) { return edges_[static_cast<std::size_t>(e)].from; });
    in_ = detail::retiming_impl::build_csr(num_nodes(), num_edges(),
                                           [this](int e) { return edges_[static_cast<std::size_t>(e)].to; });
    indexed_ = true;
  }
  constexpr bool finalized() const noexcept { return indexed_; }

  /// Indices of the edges leaving / entering v, ascending. Needs finalize() (the index is not
  /// built behind the caller's back: const member functions stay free of hidden writes, so a
  /// finalized graph can be shared between threads).
  constexpr std::span<const int> out_edges(int v) const {
    check_node_index(v);
    check_indexed();
    return out_.of(v);
  }
  constexpr std::span<const int> in_edges(int v) const {
    check_node_index(v);
    check_indexed();
    return in_.of(v);
  }

  /// Re-checks the whole graph: times finite and >= 0, delays >= 0, edge ends in range.
  constexpr void validate() const {
    for (std::size_t v = 0; v < nodes_.size(); ++v) check_time(nodes_[v].time, static_cast<int>(v), nodes_[v].name);
    for (std::size_t e = 0; e < edges_.size(); ++e) check_edge(edges_[e], static_cast<int>(e));
  }

private:
  constexpr void check_time(double time, int v, std::string_view name) const {
    // NaN fails every comparison: time >= 0 is false for it.
    if (!(time >= 0) || time > std::numeric_limits<double>::max())
      detail::raise("sdf_graph: a node's computation time must be finite and >= 0, got time = ", time,
                    " for node ", v, " '", name, "'");
  }
  constexpr void check_edge(const sdf_edge& e, int index) const {
    const int n = num_nodes();
    if (e.from < 0 || e.from >= n || e.to < 0 || e.to >= n)
      detail::raise("sdf_graph: edge ", index, " goes ", e.from, " -> ", e.to, ", but node indices run 0..",
                    n - 1, " (", n, " nodes)");
    if (e.delays < 0 || e.delays > (std::int64_t{1} << 60))
      detail::raise("sdf_graph: an edge's delay count must be >= 0 (and <= 2^60), got delays = ", e.delays, " on edge ", index,
                    " '", nodes_[static_cast<std::size_t>(e.from)].name, "' -> '",
                    nodes_[static_cast<std::size_t>(e.to)].name, "'");
  }
  constexpr void check_node_index(int v) const {
    if (v < 0 || v >= num_nodes())
      detail::raise("sdf_graph: node index out of range, got node ", v, " but there are ", num_nodes(), " nodes");
  }
  constexpr void check_edge_index(int e) const {
    if (e < 0 || e >= num_edges())
      detail::raise("sdf_graph: edge index out of range, got edge ", e, " but there are ", num_edges(), " edges");
  }
  constexpr void check_indexed() const {
    if (!indexed_)
      detail::raise("sdf_graph: out_edges()/in_edges() need the adjacency index, call finalize() after the last "
                    "add_node/add_edge (graph has ", num_nodes(), " nodes, ", num_edges(), " edges)");
  }

  std::vector<sdf_node> nodes_;
  std::vector<sdf_edge> edges_;
  // Adjacency index derived from edges_ by finalize(); any mutation invalidates it.
  detail::retiming_impl::csr out_, in_;
  bool indexed_ = false;
};

}  // namespace layerpipe
