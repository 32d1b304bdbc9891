// Facts about small networks, stated with static_assert alone: this file passes by compiling.
// Each fact runs the same constexpr code as the run-time tests (graph validation, partition
// checks, the training DFG, the retiming engine, the delay plan) inside a constant evaluation,
// on networks declared as graph/literal.hpp literals and lowered with to_graph.
#include "layerpipe_test.hpp"

#include <layerpipe/graph/literal.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/retime/layerpipe.hpp>
#include <layerpipe/retime/training_dfg.hpp>

#include <cstdint>
#include <vector>

namespace {

using namespace layerpipe;
using delays = std::vector<std::int64_t>;

// l1 … l6 in a chain; activation bytes 10·i, weight bytes 100·i.
inline constexpr auto chain6 = chain_literal<6>({{{"l1", 1, 1, 1, 10, 100},
                                                  {"l2", 1, 1, 1, 20, 200},
                                                  {"l3", 1, 1, 1, 30, 300},
                                                  {"l4", 1, 1, 1, 40, 400},
                                                  {"l5", 1, 1, 1, 50, 500},
                                                  {"l6", 1, 1, 1, 60, 600}}});

// in -> a -> b -> out plus the skip in -> out.
inline constexpr network_literal<4, 4> skip{{{{"in", 1, 1, 1, 10, 1},
                                              {"a", 1, 1, 1, 20, 1},
                                              {"b", 1, 1, 1, 30, 1},
                                              {"out", 1, 1, 1, 40, 1}}},
                                            {{{0, 1}, {1, 2}, {2, 3}, {0, 3}}}};

// stem -> trunk -> body -> head, and trunk -> aux: two sinks, two losses.
inline constexpr network_literal<5, 4> branch{{{{"stem", 1}, {"trunk", 1}, {"aux", 1}, {"body", 1}, {"head", 1}}},
                                              {{{0, 1}, {1, 2}, {1, 3}, {3, 4}}}};

// The REFERENCE §3.4 example partition {1},{2,3,4},{5,6}.
constexpr partition reference_groups() { return partition::from_groups({{0}, {1, 2, 3}, {4, 5}}, 6); }

}  // namespace

// Graph validity and shape.
static_assert(to_graph(chain6).num_layers() == 6 && to_graph(chain6).is_chain());
static_assert(!to_graph(skip).is_chain() && to_graph(skip).sinks() == std::vector<int>{3});
static_assert(to_graph(branch).sinks() == std::vector<int>{2, 4});
static_assert(network<skip>::num_edges == 4);

// Partition checks: the partition fits, maps as declared.
static_assert((reference_groups().check(to_graph(chain6)), reference_groups().stage_of(3) == 1));
static_assert((partition({0, 1, 1, 2, 3}).check(to_graph(branch)), partition({0, 1, 1, 2, 3}).num_stages() == 4));

// The training DFG: 3 nodes per layer, one loss per sink, the host; loops unpipelined.
static_assert(build_training_dfg(to_graph(branch), partition({0, 1, 1, 2, 3})).loss.size() == 2);
static_assert(build_training_dfg(to_graph(chain6), reference_groups()).dfg.num_nodes() == 6 * 3 + 1 + 1);
static_assert([] {
  const training_dfg t = build_training_dfg(to_graph(skip), partition({0, 1, 2, 3}));
  return t.min_registers(t.forward_edge[3]) == 3 && t.min_registers(t.backward_edge[3]) == 3;  // the skip, both ways
}());

// Delays: 2·S(l) on chains, by retiming.
static_assert(derive_delays(to_graph(chain6), reference_groups()).delay_clocks == delays{4, 2, 2, 2, 0, 0});
static_assert(derive_delays(to_graph(chain6), partition({0, 1, 2, 3, 4, 5})).delay_clocks ==
              delays{10, 8, 6, 4, 2, 0});
static_assert(derive_delays(to_graph(chain6), partition({0, 0, 0, 1, 1, 1})).delay_clocks == delays{2, 2, 2, 0, 0, 0});
static_assert(derive_delays(to_graph(chain6), partition({0, 0, 0, 0, 0, 0})).delay_clocks == delays(6, 0));

// DAGs: a skip over three stages behaves like a chain; a branch ending in stage 1 needs nothing.
static_assert(derive_delays(to_graph(skip), partition({0, 1, 2, 3})).delay_clocks == delays{6, 4, 2, 0});
static_assert(derive_delays(to_graph(branch), partition({0, 1, 1, 2, 3})).delay_clocks == delays{6, 4, 0, 2, 0});

// Stash depths: the skip holds 3 forward registers and a_in for 4 micro-batches; a chain edge
// crossing a boundary one more than 2S(v) + 1.
static_assert(derive_delays(to_graph(skip), partition({0, 1, 2, 3})).stash[3].forward_registers == 3);
static_assert(derive_delays(to_graph(skip), partition({0, 1, 2, 3})).stash[3].depth == 4);
static_assert(derive_delays(to_graph(chain6), reference_groups()).stash[0].depth == 4);
static_assert(derive_delays(to_graph(chain6), reference_groups()).local_stash_depth == delays{5, 3, 3, 3, 1, 1});

// Weight versions (REFERENCE §3.6): 2S past, 2S + 1 with the current, none in the last stage.
static_assert(derive_delays(to_graph(chain6), reference_groups()).weight_versions == delays{4, 2, 2, 2, 0, 0});
static_assert(derive_delays(to_graph(chain6), reference_groups()).versions_with_current(0) == 5);
static_assert(derive_delays(to_graph(chain6), reference_groups()).weight_bytes_per_stage ==
              std::vector<double>{400, 1800, 0});

// Staleness per execution model (REFERENCE §3.5).
static_assert(derive_delays(to_graph(chain6), reference_groups()).staleness_updates(0, pipelining_style::systolic) == 4);
static_assert(derive_delays(to_graph(chain6), reference_groups()).staleness_updates(0, pipelining_style::one_f_one_b) ==
              2);

// User-given assignments: the derived one and larger ones are legal; one register less is not.
static_assert((check_delays(to_graph(chain6), reference_groups(), delays{4, 2, 2, 2, 0, 0}), true));
static_assert(delays_are_legal(to_graph(chain6), reference_groups(), delays{5, 3, 2, 2, 1, 0}));
static_assert(!delays_are_legal(to_graph(chain6), reference_groups(), delays{4, 2, 2, 1, 0, 0}));
static_assert(!delays_are_legal(to_graph(branch), partition({0, 1, 1, 2, 3}), delays{6, 3, 0, 2, 0}));
