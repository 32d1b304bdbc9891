// layerpipe/graph/layer.hpp — one layer of a network: its name, its costs and its memory.
//
// Costs are in any consistent time unit (the simulator's); bytes are per micro-batch for
// activations and per copy for weights. The kind is optional: layout strings (graph/layout.hpp)
// use it to check that an `E` lands on an embedding and an `L` on the head.
//
//   layerpipe::layer l{"block3", 2.0, 2.0, 1.5, 4e6, 8e6, layerpipe::layer_kind::transformer};
//   l.backward() == 3.5;  l.total_cost() == 5.5;
//   layerpipe::parse_layer_kind("conv") == layerpipe::layer_kind::conv;
#pragma once

#include <layerpipe/core/error.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace layerpipe {

enum class layer_kind : std::uint8_t { generic, embedding, attention, mlp, transformer, norm, conv, pool, head };

namespace detail {
inline constexpr std::array<std::string_view, 9> layer_kind_names{
    "generic", "embedding", "attention", "mlp", "transformer", "norm", "conv", "pool", "head"};
}  // namespace detail

constexpr std::string_view to_string(layer_kind k) {
  const auto i = static_cast<std::size_t>(k);
  return i < detail::layer_kind_names.size() ? detail::layer_kind_names[i] : std::string_view("?");
}

/// The inverse of to_string(layer_kind); throws on an unknown name, listing the known ones.
constexpr layer_kind parse_layer_kind(std::string_view name) {
  for (std::size_t i = 0; i < detail::layer_kind_names.size(); ++i)
    if (detail::layer_kind_names[i] == name) return static_cast<layer_kind>(i);
  detail::raise("layer kind: unknown kind '", name,
                "' (known: generic, embedding, attention, mlp, transformer, norm, conv, pool, head)");
  return layer_kind::generic;
}

struct layer {
  std::string name;
  double forward = 0, input_grad = 0, weight_grad = 0;  // F, I (gradient w.r.t. the input), W
  double activation_bytes = 0;                          // bytes of this layer's output per micro-batch
  double weight_bytes = 0;                              // bytes of one copy of its weights
  layer_kind kind = layer_kind::generic;

  constexpr double backward() const { return input_grad + weight_grad; }
  constexpr double total_cost() const { return forward + input_grad + weight_grad; }
  /// What a pipeline stage holding this layer keeps resident (balance.hpp's memory cap).
  constexpr double memory_bytes() const { return weight_bytes + activation_bytes; }

  friend constexpr bool operator==(const layer&, const layer&) = default;
};

}  // namespace layerpipe
