// layerpipe/io/csv.hpp — schedules as PyTorch-compatible CSV files (REFERENCE §1.4).
//
// One row per rank (device), one cell per action in execution order, in PyTorch's action-token
// grammar (`0F0`, `1SEND_F3`, `(0F7;7B3)OVERLAP_F_B`). Two formats, as in PyTorch's
// `_load_csv`/`_dump_csv`: `compute_only` (F, B, I, W, OVERLAP_F_B, and layerpipe's U for the
// asynchronous pipelines' per-micro-batch updates) and `compute_comms`
// (the lowered form, any token). Writing follows the schedule's level and is byte-for-byte what
// PyTorch's `csv.writer` writes: cells joined by ',', each row ended by "\r\n".
//
// Reading:
//   - empty cells are idle steps that only align ranks in time: they are skipped, so a device's
//     step k (in validation messages) is its k-th non-empty cell; rank r is row r, line r + 1;
//   - cells may carry blanks around them or be quoted ("0F0", "" for a quote); LF and CRLF line
//     ends, a UTF-8 byte-order mark and blank lines at the very end are accepted;
//   - the stage → rank map is inferred from the row each stage appears in (a stage on two ranks
//     is an error; so is a rank with no action, and a stage index that appears nowhere); the
//     number of stages is the largest stage index + 1; the placement style is `loop` or `v` when
//     the map is exactly placement::loop or placement::v, `explicit` otherwise;
//   - with csv_read_options::replicas R > 1 (bidirectional schedules) the stages split into R
//     replica-major ranges, the placement is `bidirectional` when it is exactly the mirror of a
//     loop or v placement, and each micro-batch's replica is that of the stages it runs on;
//   - M is csv_read_options::micro_batches, or the largest micro-batch index + 1 when that is 0;
//   - the schedule is forward-only when the file holds no backward pass or transfer at all;
//   - then validate() runs, unless csv_read_options::validate is false.
// Malformed text throws layerpipe::error with "line L, column C" (1-based; the column is the cell
// number) and the offending text.
//
//   std::ofstream("1f1b.csv") << layerpipe::to_csv(layerpipe::one_f_one_b(4, 8));
//   std::ifstream in("1f1b.csv");
//   auto s = layerpipe::read_csv(in, layerpipe::csv_format::compute_only, {.name = "1f1b.csv"});
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/schedule/action.hpp>
#include <layerpipe/schedule/placement.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <istream>
#include <iterator>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe {

/// PyTorch's two CSV formats: compute actions only, or the lowered form with communication.
enum class csv_format { compute_only, compute_comms };

struct csv_read_options {
  std::string name = "csv";  ///< the schedule's name, also used in error messages
  int micro_batches = 0;     ///< M; 0 infers it as the largest micro-batch index + 1
  bool validate = true;      ///< run validate() on the loaded schedule
  /// Model replicas R (2 for Chimera, BitPipe, DualPipe files): stages are replica-major and each
  /// micro-batch's replica is read from the stages it runs on. PyTorch files have R = 1.
  int replicas = 1;
};

/// Writes one row per device, cells in execution order, as PyTorch's `_dump_csv` does.
inline void write_csv(std::ostream& out, const schedule& s) {
  std::string row;
  for (const auto& list : s.actions) {
    row.clear();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i > 0) row += ',';
      row += to_string(list[i]);
    }
    row += "\r\n";
    out << row;
  }
}

/// The CSV text of a schedule (compute_only or compute_comms, following its level).
inline std::string to_csv(const schedule& s) {
  std::ostringstream out;
  write_csv(out, s);
  return out.str();
}

namespace detail {

/// The text with control and non-ASCII bytes escaped, so an error message shows stray bytes.
inline std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(u));
      out += buf;
    } else out += c;
  }
  return out;
}

struct csv_cell {
  action what;
  int line = 0;
  int column = 0;
};

struct csv_reader {
  const csv_read_options& options;
  csv_format format;

  [[noreturn]] void fail_at(int line, int column, const std::string& what) const {
    detail::fail(options.name, ": line ", line, ", column ", column, ": ", what);
  }

  static bool blank(char c) noexcept { return c == ' ' || c == '\t'; }
  static std::string_view trim(std::string_view t) noexcept {
    while (!t.empty() && blank(t.front())) t.remove_prefix(1);
    while (!t.empty() && blank(t.back())) t.remove_suffix(1);
    return t;
  }

  /// Appends the actions of one line (one rank) to `out`.
  void parse_line(std::string_view line, int line_no, std::vector<csv_cell>& out) const {
    std::size_t i = 0;
    int column = 1;
    while (true) {
      while (i < line.size() && blank(line[i])) ++i;
      std::string quoted;
      std::string_view cell;
      if (i < line.size() && line[i] == '"') {
        bool closed = false;
        for (++i; i < line.size(); ++i) {
          if (line[i] != '"') {
            quoted += line[i];
          } else if (i + 1 < line.size() && line[i + 1] == '"') {
            quoted += '"';
            ++i;
          } else {
            closed = true;
            ++i;
            break;
          }
        }
        if (!closed)
          fail_at(line_no, column,
                  "unterminated quote in \"" + printable(quoted) + " (a quoted cell ends on its own line)");
        while (i < line.size() && blank(line[i])) ++i;
        if (i < line.size() && line[i] != ',')
          fail_at(line_no, column,
                  "stray text '" + printable(line.substr(i, line.find(',', i) - i)) + "' after the closing quote");
        cell = trim(quoted);
      } else {
        std::size_t end = std::min(line.find(',', i), line.size());
        cell = trim(line.substr(i, end - i));
        i = end;
        if (cell.find('"') != std::string_view::npos)
          fail_at(line_no, column, "stray quote in '" + printable(cell) + "' (quote a whole cell or none of it)");
      }
      if (!cell.empty()) {
        std::string why;
        auto a = try_parse_action(cell, why);
        if (!a) fail_at(line_no, column, "cannot parse '" + printable(cell) + "': " + why);
        if (format == csv_format::compute_only && !allowed_in_compute_only(a->kind))
          fail_at(line_no, column,
                  "'" + std::string(cell) +
                      "' is not a compute action: a compute_only file holds only F, B, I, W, U and "
                      "OVERLAP_F_B (read a lowered file as csv_format::compute_comms)");
        out.push_back({*a, line_no, column});
      }
      if (i >= line.size()) break;
      ++i;  // past the ','
      ++column;
    }
  }

  schedule read(std::string_view text) const {
    if (options.micro_batches < 0)
      detail::fail(options.name, ": csv_read_options::micro_batches must be >= 0 (0 infers M), got ",
                   options.micro_batches);
    if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos < text.size();) {
      std::size_t end = std::min(text.find('\n', pos), text.size());
      std::string_view line = text.substr(pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines.push_back(line);
      pos = end + 1;
    }
    while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
    if (lines.empty()) detail::fail(options.name, ": empty CSV: a schedule file holds one row per rank");

    const int ranks = static_cast<int>(lines.size());
    std::vector<std::vector<csv_cell>> rows(lines.size());
    std::size_t halves = 0;  // a bound on the number of distinct stages and micro-batches
    for (std::size_t r = 0; r < lines.size(); ++r) {
      const int line_no = static_cast<int>(r) + 1;
      parse_line(lines[r], line_no, rows[r]);
      if (rows[r].empty())
        detail::fail(options.name, ": line ", line_no, ": rank ", r,
                     " has no action (rule: every rank holds at least one stage)");
      for (const auto& c : rows[r]) halves += c.what.kind == action_kind::overlap_f_b ? 2 : 1;
    }

    // Stage -> rank from the row each stage appears in; micro-batch range; forward-only.
    struct owner { int rank = -1, line = 0, column = 0; };
    std::vector<owner> owners;
    int largest_mb = -1;
    bool backward = false;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (const auto& c : rows[r]) {
        for_each_half(c.what, [&](action_kind k, int st, int mb) {
          if (static_cast<std::size_t>(st) >= halves)
            fail_at(c.line, c.column,
                    "stage " + std::to_string(st) + " in '" + to_string(c.what) +
                        "' cannot be right: stages are numbered 0..S-1 without gaps and this file names at most " +
                        std::to_string(halves) + " stages");
          if (static_cast<std::size_t>(st) >= owners.size()) owners.resize(static_cast<std::size_t>(st) + 1);
          owner& o = owners[static_cast<std::size_t>(st)];
          if (o.rank < 0) {
            o = {static_cast<int>(r), c.line, c.column};
          } else if (o.rank != static_cast<int>(r)) {
            fail_at(c.line, c.column,
                    "stage " + std::to_string(st) + " in '" + to_string(c.what) + "' is on rank " +
                        std::to_string(r) + " but also on rank " + std::to_string(o.rank) + " (line " +
                        std::to_string(o.line) + ", column " + std::to_string(o.column) +
                        ") (rule: a stage runs on exactly one rank)");
          }
          if (options.micro_batches > 0 && mb >= options.micro_batches)
            fail_at(c.line, c.column,
                    "micro-batch " + std::to_string(mb) + " in '" + to_string(c.what) +
                        "' out of range: M = " + std::to_string(options.micro_batches) +
                        " (csv_read_options::micro_batches)");
          largest_mb = std::max(largest_mb, mb);
          backward = backward || is_input_backward(k) || k == action_kind::backward_weight ||
                     k == action_kind::send_b || k == action_kind::recv_b;
        });
      }
    }
    for (std::size_t st = 0; st < owners.size(); ++st)
      if (owners[st].rank < 0)
        detail::fail(options.name, ": stage ", st,
                     " appears in no row: stages are numbered 0..S-1 without gaps (the largest stage here is ",
                     owners.size() - 1, ")");
    const int micro_batches = options.micro_batches > 0 ? options.micro_batches : largest_mb + 1;
    if (micro_batches < 1)
      detail::fail(options.name,
                   ": no action carries a micro-batch, so M cannot be inferred; set csv_read_options::micro_batches");

    std::vector<int> map(owners.size());
    for (std::size_t st = 0; st < owners.size(); ++st) map[st] = owners[st].rank;
    schedule s;
    s.placement = infer_placement(std::move(map), ranks, options.replicas);
    s.micro_batches = micro_batches;
    if (options.replicas > 1) {
      s.micro_batch_replica.assign(static_cast<std::size_t>(micro_batches), -1);
      for (const auto& row : rows)
        for (const auto& c : row)
          for_each_half(c.what, [&](action_kind, int st, int mb) {
            if (mb < 0) return;
            int& r = s.micro_batch_replica[static_cast<std::size_t>(mb)];
            const int here = s.placement.replica_of(st);
            if (r >= 0 && r != here)
              fail_at(c.line, c.column,
                      "micro-batch " + std::to_string(mb) + " in '" + to_string(c.what) + "' runs on replica " +
                          std::to_string(here) + " but also on replica " + std::to_string(r) +
                          " (rule: a micro-batch stays in one replica)");
            r = here;
          });
      for (std::size_t m = 0; m < s.micro_batch_replica.size(); ++m)
        if (s.micro_batch_replica[m] < 0)
          detail::fail(options.name, ": micro-batch ", m, " appears in no cell, so its replica is unknown");
    }
    s.level = format == csv_format::compute_only ? schedule_level::compute_only : schedule_level::lowered;
    s.forward_only = !backward;
    s.name = options.name;
    s.actions.resize(rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      s.actions[r].reserve(rows[r].size());
      for (const auto& c : rows[r]) s.actions[r].push_back(c.what);
    }
    if (options.validate) layerpipe::validate(s);
    return s;
  }

  /// `loop` or `v` (mirrored into `bidirectional` with replicas) when the map is exactly that
  /// style, `explicit` otherwise.
  static placement infer_placement(std::vector<int> map, int ranks, int replicas) {
    if (replicas < 1) detail::fail("csv_read_options::replicas must be >= 1, got ", replicas);
    const int stages = static_cast<int>(map.size());
    if (stages % (ranks * replicas) == 0) {
      const int per_device = stages / (ranks * replicas);
      for (auto candidate : {placement::loop(ranks, per_device), placement::v(ranks, per_device)}) {
        if (replicas == 2) candidate = placement::bidirectional(candidate);
        if (candidate.num_replicas() != replicas) continue;
        auto m = candidate.map();
        if (std::equal(m.begin(), m.end(), map.begin(), map.end())) return candidate;
      }
    }
    return placement::from_map(std::move(map), ranks, replicas);
  }
};

}  // namespace detail

/// Parses CSV text (see the top of this header for the rules).
inline schedule parse_csv(std::string_view text, csv_format format, const csv_read_options& options = {}) {
  return detail::csv_reader{options, format}.read(text);
}

/// Reads a whole stream as CSV text and parses it.
inline schedule read_csv(std::istream& in, csv_format format, const csv_read_options& options = {}) {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) detail::fail(options.name, ": the stream could not be read");
  return parse_csv(text, format, options);
}

}  // namespace layerpipe
