// layerpipe/layerpipe.hpp — umbrella over the core: schedules, simulation and text/trace I/O.
//
// Never includes CUDA, Thrust or MPI headers; those backends have their own entry headers.
//
//   #include <layerpipe/layerpipe.hpp>
//   auto s = layerpipe::one_f_one_b(4, 8);
//   layerpipe::validate(s);
//   auto costs = layerpipe::cost_model::uniform({1.0, 1.0, 1.0});
//   auto m = layerpipe::measure(s, layerpipe::simulate(s, costs), costs);
#pragma once

#include <layerpipe/core/config.hpp>
#include <layerpipe/core/error.hpp>
#include <layerpipe/core/version.hpp>

// networks
#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/builders.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layer.hpp>
#include <layerpipe/graph/layout.hpp>
#include <layerpipe/graph/literal.hpp>
#include <layerpipe/graph/partition.hpp>

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/families.hpp>
#include <layerpipe/schedule/generators.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/metrics.hpp>
#include <layerpipe/sim/selective_offload.hpp>
#include <layerpipe/sim/simulate.hpp>
#include <layerpipe/sim/staleness.hpp>

// retiming
#include <layerpipe/retime/constraints.hpp>
#include <layerpipe/retime/layerpipe.hpp>
#include <layerpipe/retime/min_period.hpp>
#include <layerpipe/retime/retiming.hpp>
#include <layerpipe/retime/sdf_graph.hpp>
#include <layerpipe/retime/training_dfg.hpp>

// weight versions
#include <layerpipe/weights/any_weight_history.hpp>
#include <layerpipe/weights/ema_fixed.hpp>
#include <layerpipe/weights/ema_lag_matched.hpp>
#include <layerpipe/weights/ema_updates.hpp>
#include <layerpipe/weights/error_analysis.hpp>
#include <layerpipe/weights/exact_stash.hpp>
#include <layerpipe/weights/policy.hpp>
#include <layerpipe/weights/stale.hpp>
#include <layerpipe/weights/two_buffer.hpp>
#include <layerpipe/weights/weight_history.hpp>

#include <layerpipe/io/chrome_trace.hpp>
#include <layerpipe/io/csv.hpp>
#include <layerpipe/io/text_grid.hpp>

// executors (CPU; CUDA and MPI have their own entry headers)
#include <layerpipe/exec/executor.hpp>
#include <layerpipe/exec/sequential.hpp>
#include <layerpipe/exec/stage.hpp>
#include <layerpipe/exec/threads.hpp>
