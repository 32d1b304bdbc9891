// layerpipe/io/text_grid.hpp — a schedule as a time-aligned text table (steps × devices).
//
// Rows are time steps, one column per device, idle cells blank. The times come from one run of
// the in-order engine in which every compute action (F, B, I, W, OVERLAP_F_B) takes one step and
// everything else takes none, with free transfers: a compute action sits in the row of its start,
// so the warm-up staircase, the steady 1F1B pairs and the bubbles read straight off the table.
// At the lowered level a non-compute action shares the cell of the compute action it serves,
// written before or after that action's token in list order:
//   - a SEND joins its producer (`0F0 0SEND_F0`), a RECV its consumer (`1RECV_F0 1F0`);
//   - any other non-compute action (U, OFFLOAD, RELOAD, ...) joins the compute action before it
//     on its device (the one after it when none comes before).
// An invalid schedule does not throw: it is shown packed (step i = the i-th action of each
// device's list, no timing) under a first line saying so; validate() tells what is wrong.
//
//   std::cout << layerpipe::text_grid(layerpipe::one_f_one_b(3, 4));
//   // step | d0   | d1   | d2
//   // 0    | 0F0  |      |
//   // 1    | 0F1  | 1F0  |
//   // 2    | 0F2  | 1F1  | 2F0
//   // 3    |      |      | 2B0
//   // 4    |      | 1B0  | 2F1
//   // ...
//   std::cout << layerpipe::text_grid(layerpipe::lower(layerpipe::one_f_one_b(2, 2)));
//   // step | d0            | d1
//   // 0    | 0F0 0SEND_F0  |
//   // 1    | 0F1 0SEND_F1  | 1RECV_F0 1F0
//   // 2    |               | 1B0 1SEND_B0
//   // 3    | 0RECV_B0 0B0  | 1RECV_F1 1F1
//   // ...
#pragma once

#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/detail/engine.hpp>
#include <layerpipe/schedule/detail/grid.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace layerpipe {

namespace detail {

/// Time-aligned cells of a valid schedule (see the top of text_grid.hpp for the rule).
inline grid_cells aligned_cells(const schedule& s) {
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  const std::size_t devices = s.actions.size();
  const std::size_t mbs = static_cast<std::size_t>(s.micro_batches);
  const std::size_t cells = static_cast<std::size_t>(s.num_stages()) * mbs;
  std::vector<std::vector<std::size_t>> row_of(devices);  // [device][step] -> row, none if not compute
  for (std::size_t d = 0; d < devices; ++d) row_of[d].assign(s.actions[d].size(), none);
  std::vector<std::size_t> forward_step(cells, none), gradient_step(cells, none);  // [stage, mb] -> step
  auto at = [&](int st, int mb) { return static_cast<std::size_t>(st) * mbs + static_cast<std::size_t>(mb); };
  std::size_t rows = 0;
  run_in_order(
      s, [](const action& a) { return is_compute(a.kind) ? 1.0 : 0.0; },
      [](const transfer_edge&) { return 0.0; },
      [&](int device, std::size_t step, const action& a, double start, double end) {
        if (!is_compute(a.kind)) return;
        row_of[static_cast<std::size_t>(device)][step] = static_cast<std::size_t>(std::llround(start));
        rows = std::max(rows, static_cast<std::size_t>(std::llround(end)));
        for_each_half(a, [&](action_kind k, int st, int mb) {
          if (k == action_kind::forward) forward_step[at(st, mb)] = step;
          if (is_input_backward(k)) gradient_step[at(st, mb)] = step;
        });
      });

  grid_cells g;
  g.rows.assign(rows, std::vector<std::string>(devices));
  for (std::size_t d = 0; d < devices; ++d) {
    const auto& list = s.actions[d];
    std::vector<std::string> before(list.size()), after(list.size());
    std::size_t previous = none, first = none;
    for (std::size_t i = 0; i < list.size() && first == none; ++i)
      if (row_of[d][i] != none) first = i;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const action& a = list[i];
      if (row_of[d][i] != none) {
        previous = i;
        continue;
      }
      std::size_t anchor = none;
      if (a.kind == action_kind::send_f || a.kind == action_kind::recv_f) anchor = forward_step[at(a.stage, a.micro_batch)];
      if (a.kind == action_kind::send_b || a.kind == action_kind::recv_b) anchor = gradient_step[at(a.stage, a.micro_batch)];
      if (anchor == none) anchor = previous != none ? previous : first;
      if (anchor == none) continue;  // a device without compute actions has no row to join
      std::string& side = i < anchor ? before[anchor] : after[anchor];
      side += (i < anchor ? "" : " ") + to_string(a) + (i < anchor ? " " : "");
    }
    for (std::size_t i = 0; i < list.size(); ++i)
      if (row_of[d][i] != none) g.rows[row_of[d][i]][d] = before[i] + to_string(list[i]) + after[i];
  }
  return g;
}

}  // namespace detail

/// The schedule as a steps × devices table, time-aligned (packed, with a note, if it is invalid).
inline std::string text_grid(const schedule& s) {
  if (!is_valid(s))
    return "(invalid schedule, shown in list order and not aligned in time: validate() says why)\n" +
           detail::render_grid(detail::packed_cells(s));
  return detail::render_grid(detail::aligned_cells(s));
}

}  // namespace layerpipe
