// layerpipe/graph/literal.hpp — networks declared at compile time, lowered to the value graph.
//
// A network_literal is a plain aggregate of string views, numbers and edges, so it can be a
// constexpr variable (a graph cannot: it owns vectors). to_graph() lowers it to the same
// layerpipe::graph the run-time path builds — same validation, same algorithms, nothing written
// twice. network<Net> is the type-level surface: naming it validates the network at compile time.
//
//   inline constexpr auto net = layerpipe::chain_literal<3>({{{"embed", 1}, {"block", 4}, {"head", 1}}});
//   static_assert(layerpipe::to_graph(net).index_of("head") == 2);
//   using checked = layerpipe::network<net>;     // ill-formed if net has a cycle, a bad edge, …
//   static_assert(checked::num_layers == 3);
#pragma once

#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layer.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace layerpipe {

struct layer_literal {
  std::string_view name;
  double forward = 0, input_grad = 0, weight_grad = 0, activation_bytes = 0, weight_bytes = 0;
  layer_kind kind = layer_kind::generic;

  /// The run-time layer with the same fields.
  constexpr layer to_layer() const {
    return layer{std::string(name), forward, input_grad, weight_grad, activation_bytes, weight_bytes, kind};
  }
};

template <std::size_t Layers, std::size_t Edges>
struct network_literal {
  std::array<layer_literal, Layers> layers{};
  std::array<edge, Edges> edges{};
};

/// Layers in order, each feeding the next.
template <std::size_t L>
constexpr network_literal<L, L - 1> chain_literal(std::array<layer_literal, L> layers) {
  static_assert(L >= 1, "layerpipe: a chain needs at least one layer");
  network_literal<L, L - 1> net{layers, {}};
  for (std::size_t i = 0; i + 1 < L; ++i) net.edges[i] = edge{static_cast<int>(i), static_cast<int>(i + 1)};
  return net;
}

template <std::size_t L, std::size_t E>
constexpr graph to_graph(const network_literal<L, E>& net) {
  std::vector<layer> layers;
  layers.reserve(L);
  for (const layer_literal& l : net.layers) layers.push_back(l.to_layer());
  return graph(std::move(layers), std::vector<edge>(net.edges.begin(), net.edges.end()));
}

/// Type-level surface over a network_literal constant (taken by reference: string views make the
/// literal non-structural). Instantiating it runs the graph validation at compile time.
template <const auto& Network>
struct network {
  static constexpr const auto& value = Network;
  static constexpr std::size_t num_layers = Network.layers.size();
  static constexpr std::size_t num_edges = Network.edges.size();
  static constexpr graph to_graph() { return layerpipe::to_graph(Network); }
  static_assert((layerpipe::to_graph(Network), true), "layerpipe: the network literal is not a valid graph");
};

}  // namespace layerpipe
