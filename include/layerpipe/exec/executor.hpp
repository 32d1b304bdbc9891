// layerpipe/exec/executor.hpp — what every executor is: a cheap handle, handed out by a context
// that owns the resources (threads, CUDA streams and events, an MPI communicator), which runs a
// whole schedule against the user's stages and returns the measured timeline.
//
//   layerpipe::thread_context ctx;                      // or cuda_context, mpi_context
//   auto ex = ctx.get_executor();                       // copyable, comparable, cheap
//   static_assert(layerpipe::pipeline_executor<decltype(ex)>);
//   layerpipe::timeline t = ex.run(layerpipe::one_f_one_b(4, 8), my_stages);
//
// Contract shared by the threads, CUDA and MPI executors:
//   - run(s, stages) lowers a compute-only schedule, validates it and checks it against the
//     stages (detail::prepare_run), runs each device's list in order and returns one span per
//     action of the lowered schedule, in a dependency-respecting order (simulate()'s type, so
//     measure() and the Chrome trace read measured and simulated runs alike);
//   - a stage that throws stops the run without hanging; the caller gets the first error;
//   - for the same schedule and stages every executor computes the same numbers: a synchronous
//     schedule gives the weights of sequential training with gradient accumulation.
// Why a whole schedule and not submit(action)/wait(): every backend needs the schedule's
// dependency structure up front (mailbox sizes for threads, events for CUDA, message tags and
// peers for MPI), and a per-action submit would move that bookkeeping into every caller.
#pragma once

#include <layerpipe/exec/stage.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/timeline.hpp>

#include <concepts>
#include <string_view>

namespace layerpipe {

/// A handle to an execution context: copyable, comparable (equal handles run on the same
/// resources) and named ("threads", "cuda", "mpi").
template <class E>
concept pipeline_executor = std::copyable<E> && std::equality_comparable<E> && requires(const E& e) {
  { e.name() } -> std::convertible_to<std::string_view>;
};

/// An executor that can run a schedule against `Stages`.
template <class E, class Stages>
concept executor_for = pipeline_executor<E> && requires(const E& e, const schedule& s, Stages& stages) {
  { e.run(s, stages) } -> std::same_as<timeline>;
};

}  // namespace layerpipe
