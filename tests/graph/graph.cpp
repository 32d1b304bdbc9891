// Layers, graphs (validation, adjacency, topological order), compile-time literals, builders.
#include "layerpipe_test.hpp"

#include <layerpipe/graph/builders.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layer.hpp>
#include <layerpipe/graph/literal.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace layerpipe;

namespace {

// in -> a -> out and in -> b -> out: a branch that merges.
constexpr graph diamond() {
  return graph({{"in", 1, 1, 1}, {"a", 2, 2, 2}, {"b", 3, 3, 3}, {"out", 1, 1, 1}}, {{0, 1}, {0, 2}, {1, 3}, {2, 3}});
}

template <class Span>
constexpr std::vector<int> to_vector(Span s) {
  return std::vector<int>(s.begin(), s.end());
}

constexpr bool diamond_adjacency() {
  const graph g = diamond();
  return g.num_layers() == 4 && g.num_edges() == 4 && to_vector(g.successors(0)) == std::vector{1, 2} &&
         to_vector(g.predecessors(3)) == std::vector{1, 2} && to_vector(g.out_edges(0)) == std::vector{0, 1} &&
         to_vector(g.in_edges(3)) == std::vector{2, 3} && g.successors(3).empty() && g.predecessors(0).empty() &&
         g.sources() == std::vector{0} && g.sinks() == std::vector{3} && !g.is_chain() && g.is_index_ordered();
}

constexpr std::vector<int> diamond_order() { return to_vector(diamond().topological_order()); }

constexpr int find_in_diamond(std::string_view name) { return diamond().find(name); }

// Layers listed against the edge direction: topological order must not be index order.
constexpr std::vector<int> reversed_chain_order() {
  return to_vector(graph({{"c"}, {"b"}, {"a"}}, {{2, 1}, {1, 0}}).topological_order());
}

inline constexpr auto literal_net = chain_literal<3>({{{"embed", 1, 0, 1, 8, 100, layer_kind::embedding},
                                                       {"block", 4, 4, 4, 8, 50, layer_kind::transformer},
                                                       {"head", 2, 2, 2, 8, 100, layer_kind::head}}});
inline constexpr network_literal<4, 4> literal_diamond{
    {{{"in", 1, 1, 1}, {"a", 2, 2, 2}, {"b", 3, 3, 3}, {"out", 1, 1, 1}}}, {{{0, 1}, {0, 2}, {1, 3}, {2, 3}}}};

constexpr bool literal_lowers_to_runtime_graph() {
  return to_graph(literal_diamond) == diamond() && to_graph(literal_net).is_chain() &&
         to_graph(literal_net).at(2).kind == layer_kind::head && to_graph(literal_net).index_of("block") == 1;
}

constexpr bool has_edge(const graph& g, std::string_view from, std::string_view to) {
  const int u = g.index_of(from), v = g.index_of(to);
  for (int s : g.successors(u))
    if (s == v) return true;
  return false;
}

constexpr bool resnet_shape() {
  const graph g = resnet_like(24);
  return g.num_layers() == 51 && g.num_edges() == 50 + 24 && has_edge(g, "stem", "block0.conv1") &&
         has_edge(g, "stem", "block1.conv1") && has_edge(g, "block0.conv2", "block2.conv1") &&
         has_edge(g, "block23.conv2", "head") == false && has_edge(g, "block22.conv2", "pool") &&
         g.at(g.index_of("head")).kind == layer_kind::head && g.sinks() == std::vector{50};
}

constexpr bool unet_shape() {
  const graph g = unet_like(3);
  return g.num_layers() == 8 && g.num_edges() == 7 + 3 && has_edge(g, "enc0", "dec0") && has_edge(g, "enc2", "dec2") &&
         has_edge(g, "bottleneck", "dec2") && g.index_of("dec0") == 6 && g.is_index_ordered() && !g.is_chain();
}

constexpr bool transformer_shape() {
  const graph g = transformer_like(6);
  return g.num_layers() == 8 && g.is_chain() && g.at(0).kind == layer_kind::embedding &&
         g.at(3).kind == layer_kind::transformer && g.at(7).kind == layer_kind::head && g.find("layer5") == 6;
}

}  // namespace

TEST_CASE("layer kinds print and parse, costs add up", "[graph]") {
  STATIC_REQUIRE(parse_layer_kind("transformer") == layer_kind::transformer);
  REQUIRE(parse_layer_kind("transformer") == layer_kind::transformer);
  for (auto k : {layer_kind::generic, layer_kind::embedding, layer_kind::attention, layer_kind::mlp,
                 layer_kind::transformer, layer_kind::norm, layer_kind::conv, layer_kind::pool, layer_kind::head})
    REQUIRE(parse_layer_kind(to_string(k)) == k);
  REQUIRE_THROWS_WITH(parse_layer_kind("lstm"), Catch::Contains("unknown kind 'lstm'"));
  // A layer owns a std::string: a local of a constant expression, never a constexpr variable.
  STATIC_REQUIRE(layer{"x", 2.0, 1.5, 0.5, 10, 20, layer_kind::mlp}.backward() == 2.0);
  STATIC_REQUIRE(layer{"x", 2.0, 1.5, 0.5, 10, 20, layer_kind::mlp}.total_cost() == 4.0);
  STATIC_REQUIRE(layer{"x", 2.0, 1.5, 0.5, 10, 20, layer_kind::mlp}.memory_bytes() == 30);
  const layer l{"x", 2.0, 1.5, 0.5, 10, 20, layer_kind::mlp};
  REQUIRE(l.backward() == 2.0);
  REQUIRE(l.total_cost() == 4.0);
  REQUIRE(l.memory_bytes() == 30);
}

TEST_CASE("a graph's adjacency is the same at compile time and at run time", "[graph]") {
  STATIC_REQUIRE(diamond_adjacency());
  REQUIRE(diamond_adjacency());
  STATIC_REQUIRE(diamond_order() == std::vector{0, 1, 2, 3});
  REQUIRE(diamond_order() == std::vector{0, 1, 2, 3});
  STATIC_REQUIRE(find_in_diamond("b") == 2);
  REQUIRE(find_in_diamond("b") == 2);
  STATIC_REQUIRE(find_in_diamond("nope") == -1);
  REQUIRE(find_in_diamond("nope") == -1);
  STATIC_REQUIRE(reversed_chain_order() == std::vector{2, 1, 0});
  REQUIRE(reversed_chain_order() == std::vector{2, 1, 0});

  const graph c = graph::chain({{"x", 1}, {"y", 2}, {"z", 3}});
  REQUIRE(c.is_chain());
  REQUIRE(c.edges()[1] == edge{1, 2});
  REQUIRE(to_vector(c.topological_order()) == std::vector{0, 1, 2});
  REQUIRE(graph::chain({{"only"}}).is_chain());
  REQUIRE_FALSE(graph({{"x"}, {"y"}}, {}).is_chain());
  REQUIRE(diamond() == diamond());
  REQUIRE_FALSE(diamond() == c);
}

TEST_CASE("the topological order of a random DAG respects every edge", "[graph]") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<int> rank(static_cast<std::size_t>(n));  // a hidden order the edges follow
    for (int i = 0; i < n; ++i) rank[static_cast<std::size_t>(i)] = i;
    std::shuffle(rank.begin(), rank.end(), rng);
    std::vector<layer> layers;
    for (int i = 0; i < n; ++i) layers.push_back({"n" + std::to_string(i), 1});
    std::vector<edge> edges;
    for (int u = 0; u < n; ++u)
      for (int v = 0; v < n; ++v)
        if (rank[static_cast<std::size_t>(u)] < rank[static_cast<std::size_t>(v)] && rng() % 5 == 0) edges.push_back({u, v});
    const graph g(layers, edges);
    std::vector<int> position(static_cast<std::size_t>(n), -1);
    const auto order = g.topological_order();
    REQUIRE(order.size() == static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < order.size(); ++i) position[static_cast<std::size_t>(order[i])] = static_cast<int>(i);
    REQUIRE(std::count(position.begin(), position.end(), -1) == 0);
    for (const edge& e : g.edges()) REQUIRE(position[static_cast<std::size_t>(e.from)] < position[static_cast<std::size_t>(e.to)]);
    std::size_t degree_sum = 0;
    for (int l = 0; l < n; ++l) {
      degree_sum += g.successors(l).size();
      for (int k = 0; k < static_cast<int>(g.out_edges(l).size()); ++k) {
        const edge& e = g.edges()[static_cast<std::size_t>(g.out_edges(l)[static_cast<std::size_t>(k)])];
        REQUIRE(e.from == l);
        REQUIRE(e.to == g.successors(l)[static_cast<std::size_t>(k)]);
      }
      for (int k = 0; k < static_cast<int>(g.in_edges(l).size()); ++k)
        REQUIRE(g.edges()[static_cast<std::size_t>(g.in_edges(l)[static_cast<std::size_t>(k)])].from ==
                g.predecessors(l)[static_cast<std::size_t>(k)]);
      REQUIRE(g.index_of("n" + std::to_string(l)) == l);
    }
    REQUIRE(degree_sum == edges.size());
  }
}

TEST_CASE("a cycle is rejected, naming it", "[graph][errors]") {
  REQUIRE_THROWS_WITH(graph({{"in"}, {"a"}, {"b"}, {"c"}, {"out"}}, {{0, 1}, {1, 2}, {2, 3}, {3, 1}, {3, 4}}),
                      Catch::Contains("the network has a cycle: a -> b -> c -> a"));
  REQUIRE_THROWS_WITH(graph({{"x"}, {"y"}}, {{1, 0}, {0, 1}}), Catch::Contains("cycle: x -> y -> x"));
  REQUIRE_THROWS_WITH(graph({{"x"}, {"y"}}, {{1, 1}}), Catch::Contains("edge 0 is a self-loop on layer 'y'"));
}

TEST_CASE("duplicate layer names are rejected, naming both layers", "[graph][errors]") {
  REQUIRE_THROWS_WITH(graph::chain({{"a"}, {"b"}, {"c"}, {"b"}}), Catch::Contains("duplicate layer name 'b' (layers 1 and 3)"));
  REQUIRE_THROWS_WITH(graph::chain({{"a"}, {""}}), Catch::Contains("layer 1 has an empty name"));
}

TEST_CASE("dangling and duplicate edges are rejected, naming the edge", "[graph][errors]") {
  REQUIRE_THROWS_WITH(graph({{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}, {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {2, 9}}),
                      Catch::Contains("dangling edge 4: 2 -> 9, but there are 5 layers"));
  REQUIRE_THROWS_WITH(graph({{"a"}, {"b"}}, {{-1, 1}}), Catch::Contains("dangling edge 0: -1 -> 1"));
  REQUIRE_THROWS_WITH(graph({{"a"}, {"b"}, {"c"}}, {{0, 1}, {1, 2}, {0, 1}}),
                      Catch::Contains("duplicate edge 2: 'a' -> 'b' (same as edge 0)"));
}

TEST_CASE("negative or non-finite costs and bytes are rejected, naming layer and field", "[graph][errors]") {
  REQUIRE_THROWS_WITH(graph::chain({{"a", 1}, {"x", -1}}), Catch::Contains("layer 'x' has a negative forward cost -1"));
  REQUIRE_THROWS_WITH(graph::chain({{"x", 1, 1, -2}}), Catch::Contains("layer 'x' has a negative weight-gradient cost -2"));
  REQUIRE_THROWS_WITH(graph::chain({{"x", 1, 1, 1, -8}}), Catch::Contains("negative activation bytes -8"));
  REQUIRE_THROWS_WITH(graph::chain({{"x", 1, std::numeric_limits<double>::infinity()}}),
                      Catch::Contains("layer 'x' has a non-finite input-gradient cost inf"));
  REQUIRE_THROWS_WITH(graph::chain({{"x", 1, 1, 1, 1, std::numeric_limits<double>::quiet_NaN()}}),
                      Catch::Contains("non-finite weight bytes"));
}

TEST_CASE("empty graphs, unknown names and bad indices are rejected", "[graph][errors]") {
  REQUIRE_THROWS_WITH(graph({}, {}), Catch::Contains("at least one layer"));
  REQUIRE_THROWS_WITH(graph::chain({}), Catch::Contains("at least one layer"));
  const graph g = diamond();
  REQUIRE_THROWS_WITH(g.index_of("missing"), Catch::Contains("no layer is named 'missing'"));
  REQUIRE_THROWS_WITH(g.at(4), Catch::Contains("layer index 4 is out of range, the graph has 4 layers"));
  REQUIRE_THROWS_WITH(g.successors(-1), Catch::Contains("layer index -1 is out of range"));
  REQUIRE(graph().num_layers() == 0);
  REQUIRE(graph().find("x") == -1);
}

TEST_CASE("network literals lower to the run-time graph", "[graph][literal]") {
  STATIC_REQUIRE(literal_lowers_to_runtime_graph());
  REQUIRE(literal_lowers_to_runtime_graph());
  using net = network<literal_net>;
  STATIC_REQUIRE(net::num_layers == 3);
  STATIC_REQUIRE(net::num_edges == 2);
  STATIC_REQUIRE(net::to_graph().at(0).weight_bytes == 100);
  REQUIRE(net::to_graph() == to_graph(literal_net));
  STATIC_REQUIRE(literal_net.edges[1] == edge{1, 2});

  auto broken = literal_diamond;  // from here on a run-time value: same validation
  broken.edges[3] = {3, 0};
  REQUIRE_THROWS_WITH(to_graph(broken), Catch::Contains("cycle: in -> a -> out -> in"));
  broken.layers[2].name = "a";
  REQUIRE_THROWS_WITH(to_graph(broken), Catch::Contains("duplicate layer name 'a' (layers 1 and 2)"));
}

TEST_CASE("the builders make the shapes they promise", "[graph][builders]") {
  STATIC_REQUIRE(resnet_shape());
  REQUIRE(resnet_shape());
  STATIC_REQUIRE(unet_shape());
  REQUIRE(unet_shape());
  STATIC_REQUIRE(transformer_shape());
  REQUIRE(transformer_shape());
  REQUIRE(resnet_like(1).num_layers() == 5);
  REQUIRE(unet_like(1).num_layers() == 4);
  REQUIRE(transformer_like(100).num_layers() == 102);
  REQUIRE_THROWS_WITH(resnet_like(0), Catch::Contains("resnet_like: blocks must be in [1, "));
  REQUIRE_THROWS_WITH(unet_like(-2), Catch::Contains("unet_like: depth must be in [1, "));
  REQUIRE_THROWS_WITH(transformer_like(0), Catch::Contains("got 0"));
}
