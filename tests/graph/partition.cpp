// Partitions: explicit groups and sizes, edge-order checks, layout strings, the balanced
// partitioner (checked optimal against exhaustive search on small random cases).
#include "layerpipe_test.hpp"

#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/builders.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layout.hpp>
#include <layerpipe/graph/partition.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace layerpipe;

namespace {

template <class Span>
constexpr std::vector<int> to_vector(Span s) {
  return std::vector<int>(s.begin(), s.end());
}

constexpr graph chain_of(std::vector<double> costs) {
  std::vector<layer> layers;
  for (std::size_t i = 0; i < costs.size(); ++i) layers.push_back({detail::numbered("l", static_cast<long long>(i)), costs[i]});
  return graph::chain(std::move(layers));
}

// 0 -> 1 -> 2 -> 3 with a skip 0 -> 3 and a branch 1 -> 3.
constexpr graph skip_net() {
  return graph({{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}}, {{0, 1}, {1, 2}, {2, 3}, {0, 3}, {1, 3}});
}

constexpr bool groups_and_sizes_agree() {
  const partition p = partition::contiguous({1, 2, 1});
  const partition q = partition::from_groups({{0}, {2, 1}, {3}}, 4);
  const partition r({0, 1, 1, 2});
  p.check(skip_net());
  return p == q && q == r && p.num_stages() == 3 && p.num_layers() == 4 && p.stage_of(2) == 1 &&
         to_vector(p.layers_of(1)) == std::vector{1, 2} && p.stage_size(2) == 1 && p.is_contiguous();
}

constexpr std::vector<int> layout_sizes(std::string_view text) { return parse_layout(text).layers_per_stage(); }
constexpr std::string layout_expanded(std::string_view text) { return parse_layout(text).to_string(); }
constexpr std::vector<int> layout_stage_map(std::string_view text) {
  return to_vector(partition_from_layout(transformer_like(6), text).stage_map());
}

constexpr std::vector<int> balanced_map(std::vector<double> costs, int stages, double cap = std::numeric_limits<double>::infinity()) {
  return to_vector(balanced_partition(chain_of(std::move(costs)), stages, {cap}).stage_map());
}

constexpr double balanced_bottleneck(const graph& g, int stages) { return max_stage_cost(g, balanced_partition(g, stages)); }

// Exhaustive search: every way to cut n layers into k non-empty runs; stage sums in layer order.
double best_bottleneck(const std::vector<double>& cost, const std::vector<double>& memory, int k, double cap) {
  const int n = static_cast<int>(cost.size());
  double best = std::numeric_limits<double>::infinity();
  std::vector<int> cuts(static_cast<std::size_t>(k - 1));  // ascending cut positions in 1 … n−1
  for (int i = 0; i < k - 1; ++i) cuts[static_cast<std::size_t>(i)] = i + 1;
  while (true) {
    double worst = 0;
    bool fits = true;
    int start = 0;
    for (int s = 0; s < k; ++s) {
      const int end = s + 1 < k ? cuts[static_cast<std::size_t>(s)] : n;
      double c = 0, m = 0;
      for (int i = start; i < end; ++i) {
        c += cost[static_cast<std::size_t>(i)];
        m += memory[static_cast<std::size_t>(i)];
      }
      worst = std::max(worst, c);
      fits = fits && m <= cap;
      start = end;
    }
    if (fits) best = std::min(best, worst);
    int j = k - 2;  // next combination
    while (j >= 0 && cuts[static_cast<std::size_t>(j)] == n - (k - 1 - j)) --j;
    if (j < 0) break;
    ++cuts[static_cast<std::size_t>(j)];
    for (int i = j + 1; i < k - 1; ++i) cuts[static_cast<std::size_t>(i)] = cuts[static_cast<std::size_t>(i) - 1] + 1;
  }
  return best;
}

}  // namespace

TEST_CASE("partitions from a stage map, from groups and from sizes agree", "[partition]") {
  STATIC_REQUIRE(groups_and_sizes_agree());
  REQUIRE(groups_and_sizes_agree());
  const partition p({2, 0, 2}, 4);  // stage 1 and 3 empty: allowed only on request
  REQUIRE(p.num_stages() == 4);
  REQUIRE(to_vector(p.layers_of(2)) == std::vector{0, 2});
  REQUIRE(p.layers_of(3).empty());
  REQUIRE_FALSE(p.is_contiguous());
  REQUIRE(partition({0, 0, 3}).num_stages() == 4);
  REQUIRE(partition::contiguous({2, 0, 1}).stage_map().size() == 3);
  REQUIRE_THROWS_WITH(partition({0, -1}), Catch::Contains("layer 1 has a negative stage -1"));
  REQUIRE_THROWS_WITH(partition({0, 3}, 2), Catch::Contains("layer 1 is in stage 3 but there are only 2 stages"));
  REQUIRE_THROWS_WITH(partition::from_groups({{0, 1}, {1, 2}}, 3), Catch::Contains("layer 1 is in groups 0 and 1"));
  REQUIRE_THROWS_WITH(partition::from_groups({{0}, {2}}, 3), Catch::Contains("layer 1 is in no group"));
  REQUIRE_THROWS_WITH(partition::from_groups({{0, 5}}, 3), Catch::Contains("group 0 names layer 5, but there are 3 layers"));
  REQUIRE_THROWS_WITH(partition::contiguous({1, -2}), Catch::Contains("stage 1 has a negative number of layers -2"));
  REQUIRE_THROWS_WITH(p.layers_of(4), Catch::Contains("stage index 4 is out of range"));
  REQUIRE_THROWS_WITH(p.stage_of(3), Catch::Contains("layer index 3 is out of range"));
}

TEST_CASE("a partition that breaks edge order names the edge", "[partition][errors]") {
  const graph g = skip_net();
  partition::contiguous({1, 1, 1, 1}).check(g);
  partition::from_groups({{0, 1}, {2, 3}}, 4).check(g);
  // 'c' before 'b' in stage order: edge 1 b -> c goes back.
  REQUIRE_THROWS_WITH(partition({0, 1, 0, 1}).check(g), Catch::Contains("edge 1 'b' -> 'c' goes from stage 1 back to stage 0"));
  // The skip 0 -> 3 goes back although the chain edges look fine from stage 1 on.
  REQUIRE_THROWS_WITH(partition({1, 1, 1, 0}).check(g), Catch::Contains("edge 2 'c' -> 'd' goes from stage 1 back to stage 0"));
  REQUIRE_THROWS_WITH(partition({0, 1, 2, 3}, 4).check(chain_of({1, 1, 1})),
                      Catch::Contains("the partition covers 4 layers but the graph has 3"));
}

TEST_CASE("empty stages are rejected unless allowed", "[partition][errors]") {
  const graph g = skip_net();
  const partition p = partition::contiguous({2, 0, 2});
  REQUIRE_THROWS_WITH(p.check(g), Catch::Contains("stage 1 of 3 is empty"));
  p.check(g, true);
  REQUIRE_THROWS_WITH(partition().check(graph::chain({{"x"}})), Catch::Contains("covers 0 layers but the graph has 1"));
}

TEST_CASE("layout strings expand repeats and groups", "[partition][layout]") {
  STATIC_REQUIRE(layout_sizes("E|t*3|t*3|L") == std::vector{1, 3, 3, 1});
  REQUIRE(layout_sizes("E|t*3|t*3|L") == std::vector{1, 3, 3, 1});
  STATIC_REQUIRE(layout_expanded("E|(tt|)*2L") == "E|tt|tt|L");
  REQUIRE(layout_expanded("E|(tt|)*2L") == "E|tt|tt|L");
  REQUIRE(layout_expanded("E t * 2 | ((t)*2|)*2 L") == "Ett|tt|tt|L");
  REQUIRE(layout_expanded("x") == "x");
  REQUIRE(parse_layout("Et|tL").positions == std::vector{0, 1, 3, 4});
  STATIC_REQUIRE(layout_stage_map("E|t*3|t*3|L") == std::vector{0, 1, 1, 1, 2, 2, 2, 3});
  REQUIRE(layout_stage_map("E|t*3|t*3|L") == std::vector{0, 1, 1, 1, 2, 2, 2, 3});
  REQUIRE(layout_stage_map("Ett|ttt|tL") == std::vector{0, 0, 0, 1, 1, 1, 2, 2});
  // A U-Net laid out in index order: the skips point forward, so any contiguous layout is fine.
  REQUIRE(partition_from_layout(unet_like(3), "xxx|xx|xxx").num_stages() == 3);
}

TEST_CASE("a bad layout string is rejected at its position", "[partition][layout][errors]") {
  const auto at = [](const char* text, const char* what) {
    REQUIRE_THROWS_WITH(parse_layout(text), Catch::Contains(what));
  };
  at("E||L", "stage 1 is empty: the '|' at position 2");
  at("E|t|", "stage 2 is empty: the text ends at position 4");
  at("E|t*|L", "'*' at position 3 needs a repeat count");
  at("E|t*0|L", "the repeat count at position 4 must be >= 1");
  at("E|(tt|L", "the '(' at position 2 is never closed");
  at("E|tt)|L", "')' at position 4 closes no '('");
  at("E|()*2|L", "the group opened at position 2 is empty");
  at("E|t#|L", "unexpected character '#' at position 3");
  at("E|t3|L", "unexpected digit '3' at position 3");
  at("*E", "'*' at position 0 follows nothing it could repeat");
  at("", "stage 0 is empty: the text ends at position 0");
  at("t*99999999999", "the repeat count at position 2 is too large");
  at("((t*1000)*1000)*1000", "the repeat at position 15 expands");
}

TEST_CASE("a layout must match the graph's layer count and kinds", "[partition][layout][errors]") {
  const graph g = transformer_like(6);
  REQUIRE_THROWS_WITH(partition_from_layout(g, "E|t*3|t*2|L"), Catch::Contains("has 7 layer symbols but the graph has 8 layers"));
  REQUIRE_THROWS_WITH(partition_from_layout(g, "t|t*3|t*3|L"),
                      Catch::Contains("symbol 't' at position 0 of 't|t*3|t*3|L' cannot stand for layer 0 'embedding' of kind embedding"));
  REQUIRE_THROWS_WITH(partition_from_layout(g, "E|t*3|t*2E|L"), Catch::Contains("symbol 'E' at position 9"));
  REQUIRE_THROWS_WITH(partition_from_layout(g, "E|t*1000000|L"),
                      Catch::Contains("expands 'E|t*1000000|L' to more layer symbols than the graph's 8 layers"));
  // Layers out of index order: a layout (contiguous in index order) breaks the edge.
  const graph back({{"x"}, {"y"}}, {{1, 0}});
  REQUIRE_THROWS_WITH(partition_from_layout(back, "x|y"), Catch::Contains("edge 0 'y' -> 'x' goes from stage 1 back to stage 0"));
}

TEST_CASE("the balanced partitioner minimises the bottleneck", "[partition][balance]") {
  // 1 5 2 2 3 into 3 stages: {1 5} {2 2} {3}, bottleneck 6 (a greedy fill at 13/3 would give 7).
  STATIC_REQUIRE(balanced_map({1, 5, 2, 2, 3}, 3) == std::vector{0, 0, 1, 1, 2});
  REQUIRE(balanced_map({1, 5, 2, 2, 3}, 3) == std::vector{0, 0, 1, 1, 2});
  STATIC_REQUIRE(balanced_map({4, 4, 4, 4}, 4) == std::vector{0, 1, 2, 3});
  REQUIRE(balanced_map({4, 4, 4, 4}, 4) == std::vector{0, 1, 2, 3});
  REQUIRE(balanced_map({0, 0, 0}, 2) == std::vector{0, 0, 1});
  REQUIRE(balanced_map({7}, 1) == std::vector{0});
  STATIC_REQUIRE(balanced_bottleneck(resnet_like(8), 4) > 0);
  REQUIRE(balanced_bottleneck(resnet_like(8), 4) == balanced_bottleneck(resnet_like(8), 4));
  const graph r = resnet_like(24);
  const partition p = balanced_partition(r, 6);
  p.check(r);  // skips point forward in index order, so contiguous stages keep them forward
  REQUIRE(p.is_contiguous());
  REQUIRE(max_stage_cost(r, p) < max_stage_cost(r, partition::contiguous({9, 9, 9, 8, 8, 8})));
  // The cap bites: each stage may hold 2 units of memory.
  std::vector<layer> ls;
  for (int i = 0; i < 6; ++i) ls.push_back({detail::numbered("m", i), i == 0 ? 10.0 : 1.0, 0, 0, 0, 1});
  const graph m = graph::chain(ls);
  // Bottleneck 10 (the first layer); the other two stages share the remaining 5 evenly.
  REQUIRE(to_vector(balanced_partition(m, 3).stage_map()) == std::vector{0, 1, 1, 1, 2, 2});
  REQUIRE(to_vector(balanced_partition(m, 3, {2}).stage_map()) == std::vector{0, 0, 1, 1, 2, 2});
  REQUIRE(stage_memory(m, balanced_partition(m, 3, {2})) == std::vector<double>{2, 2, 2});
  REQUIRE(stage_costs(m, balanced_partition(m, 3, {2})) == std::vector<double>{11, 2, 2});
}

TEST_CASE("the balanced partitioner is optimal on random small cases", "[partition][balance]") {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 400; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 10);
    const int k = 1 + static_cast<int>(rng() % static_cast<unsigned>(n));
    // Integers (exact sums), uniform doubles, and costs a few ulps apart, where only an exact
    // bottleneck search (not one stopped at a tolerance) finds the optimum.
    const int mode = trial % 4;
    std::vector<double> cost, memory;
    std::vector<layer> layers;
    for (int i = 0; i < n; ++i) {
      const double c = mode == 0   ? static_cast<double>(rng() % 20)
                       : mode == 1 ? std::uniform_real_distribution<double>(0, 10)(rng)
                                   : 1.0 + static_cast<double>(rng() % 16) * 0x1p-48;
      const double w = static_cast<double>(rng() % 8);
      cost.push_back(c);
      memory.push_back(w);
      layers.push_back({detail::numbered("l", i), c, 0, 0, 0, w});
    }
    const graph g = graph::chain(layers);
    const double cap = trial % 3 != 1 ? std::numeric_limits<double>::infinity() : static_cast<double>(rng() % 20);
    const double best = best_bottleneck(cost, memory, k, cap);
    if (best == std::numeric_limits<double>::infinity()) {
      REQUIRE_THROWS_WITH(balanced_partition(g, k, {cap}), Catch::Contains("the smallest cap that fits is"));
      continue;
    }
    const partition p = balanced_partition(g, k, {cap});
    p.check(g);
    REQUIRE(p.num_stages() == k);
    REQUIRE(p.is_contiguous());
    REQUIRE(max_stage_cost(g, p) == best);
    for (double bytes : stage_memory(g, p)) REQUIRE(bytes <= cap);
  }
}

TEST_CASE("an unsatisfiable memory cap names the smallest one that fits", "[partition][balance][errors]") {
  std::vector<layer> ls;
  for (int i = 0; i < 6; ++i) ls.push_back({detail::numbered("m", i), 1, 0, 0, 1, 2});  // 3 bytes each
  const graph g = graph::chain(ls);
  REQUIRE_THROWS_WITH(balanced_partition(g, 2, {8}),
                      Catch::Contains("no 2 contiguous stages fit the memory cap of 8 bytes per stage; the smallest cap that fits is 9"));
  REQUIRE(max_stage_cost(g, balanced_partition(g, 2, {9})) == 3);
  REQUIRE_THROWS_WITH(balanced_partition(g, 6, {2.5}), Catch::Contains("the smallest cap that fits is 3"));
}

TEST_CASE("the balanced partitioner rejects bad stage counts and non-index-ordered graphs", "[partition][balance][errors]") {
  const graph g = chain_of({1, 2, 3});
  REQUIRE_THROWS_WITH(balanced_partition(g, 0), Catch::Contains("the number of stages must be >= 1, got 0"));
  REQUIRE_THROWS_WITH(balanced_partition(g, 4), Catch::Contains("4 stages cannot all be non-empty with 3 layers"));
  REQUIRE_THROWS_WITH(balanced_partition(g, 2, {-1}), Catch::Contains("the memory cap must be >= 0, got -1"));
  const graph back({{"x", 1}, {"y", 1}, {"z", 1}}, {{0, 2}, {2, 1}});
  REQUIRE_THROWS_WITH(balanced_partition(back, 2), Catch::Contains("edge 1 'z' -> 'y' goes from a higher index"));
  REQUIRE_THROWS_WITH(balanced_partition(graph(), 1), Catch::Contains("the graph has no layers"));
}
