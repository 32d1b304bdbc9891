// layerpipe/graph/builders.hpp — ready-made example networks with plausible made-up costs.
//
// For tests, examples and benchmarks: shapes that exercise chains, skips and merges, with costs
// and bytes of a realistic profile (not measured on any hardware). All constexpr.
//   resnet_like(B)      stem, B residual blocks of two conv layers with a skip edge around each,
//                       pool, head: 2B + 3 layers (51 for B = 24)
//   transformer_like(B) embedding, B transformer layers, head, as a chain: B + 2 layers
//   unet_like(D)        D encoder levels, a bottleneck, D decoder levels, head, with a skip edge
//                       from each encoder level to its decoder level: 2D + 2 layers
//
//   auto g = layerpipe::resnet_like(24);       // g.num_layers() == 51, 50 + 24 edges
//   auto p = layerpipe::balanced_partition(g, 4);
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/detail/text.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layer.hpp>

#include <utility>
#include <vector>

namespace layerpipe {

namespace detail {
inline constexpr int builder_max = 1 << 24;  // keeps 2·blocks + 3 far inside int

constexpr void check_builder_size(const char* what, const char* parameter, int value) {
  if (value < 1 || value > builder_max)
    detail::raise(what, ": ", parameter, " must be in [1, ", builder_max, "], got ", value);
}

constexpr std::vector<edge> chain_edges(int layers) {
  std::vector<edge> edges;
  edges.reserve(static_cast<std::size_t>(layers));
  for (int i = 0; i + 1 < layers; ++i) edges.push_back({i, i + 1});
  return edges;
}
}  // namespace detail

/// Four resolution stages as in ResNet: each halves the activations and quadruples the weights
/// of a conv layer while compute stays about level.
constexpr graph resnet_like(int blocks) {
  detail::check_builder_size("resnet_like", "blocks", blocks);
  constexpr double mib = 1024.0 * 1024.0;
  std::vector<layer> layers;
  layers.reserve(static_cast<std::size_t>(2 * blocks + 3));
  layers.push_back({"stem", 3.0, 3.0, 2.0, 12.0 * mib, 0.04 * mib, layer_kind::conv});
  for (int b = 0; b < blocks; ++b) {
    const int level = static_cast<int>(4LL * b / blocks);  // 0 … 3
    double activation = 8.0 * mib, weights = 0.14 * mib;
    for (int k = 0; k < level; ++k) {
      activation /= 2;
      weights *= 4;
    }
    const double compute = 2.0 + 0.25 * level;
    const std::string prefix = detail::numbered("block", b);
    layers.push_back({prefix + ".conv1", compute, compute, 0.8 * compute, activation, weights, layer_kind::conv});
    layers.push_back({prefix + ".conv2", compute, compute, 0.8 * compute, activation, weights, layer_kind::conv});
  }
  layers.push_back({"pool", 0.2, 0.2, 0.0, 0.01 * mib, 0.0, layer_kind::pool});
  layers.push_back({"head", 0.5, 0.5, 0.5, 0.004 * mib, 7.8 * mib, layer_kind::head});
  std::vector<edge> edges = detail::chain_edges(2 * blocks + 3);
  for (int b = 0; b < blocks; ++b) edges.push_back({2 * b, 2 * b + 3});  // block input -> after the block
  return graph(std::move(layers), std::move(edges));
}

/// A GPT-like stack: large embedding and head, identical transformer layers, a chain.
constexpr graph transformer_like(int blocks) {
  detail::check_builder_size("transformer_like", "blocks", blocks);
  constexpr double mib = 1024.0 * 1024.0;
  std::vector<layer> layers;
  layers.reserve(static_cast<std::size_t>(blocks + 2));
  layers.push_back({"embedding", 1.0, 0.0, 1.5, 16.0 * mib, 200.0 * mib, layer_kind::embedding});
  for (int b = 0; b < blocks; ++b)
    layers.push_back({detail::numbered("layer", b), 4.0, 4.0, 4.0, 16.0 * mib, 96.0 * mib, layer_kind::transformer});
  layers.push_back({"head", 3.0, 3.0, 3.0, 64.0 * mib, 200.0 * mib, layer_kind::head});
  return graph::chain(std::move(layers));
}

/// Each level down halves the activations and quadruples the weights; each decoder level takes
/// the matching encoder level's output through a skip edge.
constexpr graph unet_like(int depth) {
  detail::check_builder_size("unet_like", "depth", depth);
  constexpr double mib = 1024.0 * 1024.0;
  // Level i's activation and weight bytes. Layers are pushed in order: g++ 12 rejects assigning
  // over a std::string in constant evaluation, so no slot is written twice.
  const auto activation = [](int level) {
    double a = 32.0 * mib;
    for (int k = 0; k < level; ++k) a /= 2;
    return a;
  };
  const auto weights = [](int level) {
    double w = 0.15 * mib;
    for (int k = 0; k < level; ++k) w *= 4;
    return w;
  };
  std::vector<layer> layers;
  layers.reserve(static_cast<std::size_t>(2 * depth + 2));
  for (int i = 0; i < depth; ++i)
    layers.push_back({detail::numbered("enc", i), 3.0, 3.0, 2.5, activation(i), weights(i), layer_kind::conv});
  layers.push_back({"bottleneck", 3.0, 3.0, 2.5, activation(depth), weights(depth), layer_kind::conv});
  for (int i = depth - 1; i >= 0; --i)  // decoder level i concatenates the skip: 1.5x compute
    layers.push_back({detail::numbered("dec", i), 4.5, 4.5, 3.5, activation(i), 1.5 * weights(i), layer_kind::conv});
  layers.push_back({"head", 0.5, 0.5, 0.3, 32.0 * mib, 0.01 * mib, layer_kind::head});
  std::vector<edge> edges = detail::chain_edges(2 * depth + 2);
  for (int i = 0; i < depth; ++i) edges.push_back({i, 2 * depth - i});
  return graph(std::move(layers), std::move(edges));
}

}  // namespace layerpipe
