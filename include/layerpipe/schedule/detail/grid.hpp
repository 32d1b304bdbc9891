// layerpipe/schedule/detail/grid.hpp — packed text grid of a schedule (steps × devices), used
// in error messages to show where a rule breaks. io/text_grid.hpp builds on it.
#pragma once

#include <layerpipe/schedule/schedule.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace layerpipe::detail {

/// Cell text per (step, device); an empty string is an idle cell.
struct grid_cells {
  std::vector<std::vector<std::string>> rows;  // rows[step][device]
};

/// One row per list position: step i of every device is its i-th action (no timing).
inline grid_cells packed_cells(const schedule& s) {
  grid_cells g;
  std::size_t steps = 0;
  for (const auto& list : s.actions) steps = std::max(steps, list.size());
  g.rows.assign(steps, std::vector<std::string>(s.actions.size()));
  for (std::size_t d = 0; d < s.actions.size(); ++d)
    for (std::size_t i = 0; i < s.actions[d].size(); ++i) g.rows[i][d] = to_string(s.actions[d][i]);
  return g;
}

/// Renders cells as an aligned table. With `mark_device >= 0`, the cell (mark_step, mark_device)
/// is bracketed and only `context` rows either side of it are printed.
inline std::string render_grid(const grid_cells& g, int mark_device = -1, std::size_t mark_step = 0,
                               std::size_t context = 6) {
  const std::size_t devices = g.rows.empty() ? 0 : g.rows.front().size();
  std::size_t width = 3;
  for (const auto& row : g.rows)
    for (const auto& cell : row) width = std::max(width, cell.size());
  width += 2;  // room for the marker brackets
  std::size_t first = 0, last = g.rows.size();
  if (mark_device >= 0) {
    first = mark_step > context ? mark_step - context : 0;
    last = std::min(g.rows.size(), mark_step + context + 1);
  }
  const std::size_t step_width = std::max<std::size_t>(4, std::to_string(g.rows.size()).size());
  auto pad = [](std::string text, std::size_t w) {
    if (text.size() < w) text.append(w - text.size(), ' ');
    return text;
  };
  std::string out = pad("step", step_width);
  for (std::size_t d = 0; d < devices; ++d) out += " |" + pad(" d" + std::to_string(d), width);
  out += '\n';
  if (first > 0) out += "... (" + std::to_string(first) + " earlier steps)\n";
  for (std::size_t i = first; i < last; ++i) {
    out += pad(std::to_string(i), step_width);
    for (std::size_t d = 0; d < devices; ++d) {
      const std::string& cell = g.rows[i][d];
      bool marked = mark_device >= 0 && static_cast<std::size_t>(mark_device) == d && i == mark_step;
      out += " |" + pad(marked ? "[" + cell + "]" : " " + cell, width);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  }
  if (last < g.rows.size()) out += "... (" + std::to_string(g.rows.size() - last) + " later steps)\n";
  return out;
}

}  // namespace layerpipe::detail
