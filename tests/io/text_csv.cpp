// Text grid (time-aligned steps × devices) and PyTorch-compatible CSV.
#include "layerpipe_test.hpp"

#include <layerpipe/io/csv.hpp>
#include <layerpipe/io/text_grid.hpp>
#include <layerpipe/schedule/generators.hpp>
#include <layerpipe/schedule/lower.hpp>
#include <layerpipe/schedule/validate.hpp>

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace layerpipe;

namespace {

using layerpipe::test::require_error;

using table = std::vector<std::vector<std::string>>;

schedule make(placement p, int micro_batches, const table& tokens) {
  schedule s;
  s.name = "hand";
  s.placement = std::move(p);
  s.micro_batches = micro_batches;
  for (const auto& row : tokens) {
    s.actions.emplace_back();
    for (const auto& t : row) s.actions.back().push_back(parse_action(t));
  }
  return s;
}

std::string trim(std::string_view t) {
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return std::string(t);
}

/// The body of a rendered grid as cells: rows[step][device], the step column checked and dropped.
table grid_cells(const std::string& grid, std::size_t devices) {
  std::istringstream in(grid);
  std::string line;
  std::getline(in, line);
  REQUIRE(line.rfind("step", 0) == 0);
  table rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::size_t start = 0;
    for (std::size_t bar = line.find('|'); bar != std::string::npos; bar = line.find('|', start)) {
      cells.push_back(trim(std::string_view(line).substr(start, bar - start)));
      start = bar + 1;
    }
    cells.push_back(trim(std::string_view(line).substr(start)));
    REQUIRE(cells.front() == std::to_string(rows.size()));
    cells.erase(cells.begin());
    cells.resize(devices);  // trailing idle cells are trimmed away by the renderer
    rows.push_back(cells);
  }
  return rows;
}

void require_same(const schedule& a, const schedule& b) {
  REQUIRE(a.placement == b.placement);
  REQUIRE(a.placement.style() == b.placement.style());
  REQUIRE(a.micro_batches == b.micro_batches);
  REQUIRE(a.level == b.level);
  REQUIRE(a.forward_only == b.forward_only);
  REQUIRE(a.actions == b.actions);
}

}  // namespace

TEST_CASE("text grid of 1F1B (P = 2, M = 2), worked by hand", "[text_grid]") {
  // Unit passes: 0F0 at 0; 0F1 and 1F0 at 1; 1B0 at 2; 0B0 (waits for 1B0) and 1F1 (device 1
  // busy until 3) at 3; 1B1 at 4; 0B1 at 5.
  const schedule s = one_f_one_b(2, 2);
  const std::string grid = text_grid(s);
  REQUIRE(grid_cells(grid, 2) == table{{"0F0", ""}, {"0F1", "1F0"}, {"", "1B0"}, {"0B0", "1F1"}, {"", "1B1"}, {"0B1", ""}});
  // Lowered: a SEND shares its producer's cell, a RECV its consumer's (1RECV_F1 is posted before
  // 1B0 but consumed by 1F1), each in list order around the compute token.
  REQUIRE(grid_cells(text_grid(lower(s)), 2) == table{{"0F0 0SEND_F0", ""},
                                                      {"0F1 0SEND_F1", "1RECV_F0 1F0"},
                                                      {"", "1B0 1SEND_B0"},
                                                      {"0RECV_B0 0B0", "1RECV_F1 1F1"},
                                                      {"", "1B1 1SEND_B1"},
                                                      {"0RECV_B1 0B1", ""}});
}

TEST_CASE("text grid shows the 1F1B staircase and its length", "[text_grid]") {
  for (int p : {2, 3, 4}) {
    for (int m : {1, 4, 8}) {
      CAPTURE(p, m);
      const schedule s = one_f_one_b(p, m);
      for (const schedule& t : {s, lower(s)}) {
        const table rows = grid_cells(text_grid(t), static_cast<std::size_t>(p));
        // With unit passes an iteration of 1F1B lasts (M + P - 1)(T_F + T_B) = 2(M + P - 1) steps.
        REQUIRE(rows.size() == static_cast<std::size_t>(2 * (m + p - 1)));
        for (int d = 0; d < p; ++d) {
          std::size_t first = 0, busy = 0;
          while (rows[first][static_cast<std::size_t>(d)].empty()) ++first;
          for (const auto& row : rows) busy += row[static_cast<std::size_t>(d)].empty() ? 0 : 1;
          REQUIRE(first == static_cast<std::size_t>(d));  // the warm-up staircase
          REQUIRE(busy == 2 * static_cast<std::size_t>(m));
          REQUIRE(rows[first][static_cast<std::size_t>(d)].find(std::to_string(d) + "F0") != std::string::npos);
        }
      }
    }
  }
}

TEST_CASE("text grid of an invalid schedule falls back to list order", "[text_grid]") {
  const schedule s = make(placement::loop(2), 2, {{"0F0", "0B0", "0F1", "0B1"}, {"1F1", "1B1", "1F0", "1B0"}});
  REQUIRE(!is_valid(s));
  std::string grid;
  REQUIRE_NOTHROW(grid = text_grid(s));
  REQUIRE(grid.rfind("(invalid schedule", 0) == 0);
  const std::string body = grid.substr(grid.find('\n') + 1);
  REQUIRE(grid_cells(body, 2) == table{{"0F0", "1F1"}, {"0B0", "1B1"}, {"0F1", "1F0"}, {"0B1", "1B0"}});
}

TEST_CASE("CSV is written as PyTorch's _dump_csv writes it", "[csv]") {
  const schedule s = one_f_one_b(2, 2);
  REQUIRE(to_csv(s) == "0F0,0F1,0B0,0B1\r\n1F0,1B0,1F1,1B1\r\n");
  REQUIRE(to_csv(lower(s)) ==
          "0F0,0SEND_F0,0F1,0SEND_F1,0RECV_B0,0B0,0RECV_B1,0B1\r\n"
          "1RECV_F0,1F0,1RECV_F1,1B0,1SEND_B0,1F1,1B1,1SEND_B1\r\n");
  std::ostringstream out;
  write_csv(out, s);
  REQUIRE(out.str() == to_csv(s));
}

TEST_CASE("CSV round trips in both formats", "[csv]") {
  schedule overlapped = one_f_one_b(3, 3);
  auto& middle = overlapped.actions[1];  // 1F0 1F1 1B0 1F2 1B1 1B2
  middle[3] = overlap(middle[3], middle[4]);
  middle.erase(middle.begin() + 4);
  const std::vector<schedule> cases{
      one_f_one_b(4, 8),
      one_f_one_b(3, 5, pass_mode::forward_only),
      gpipe(3, 4),
      interleaved_1f1b(2, 4, 2),
      looped_bfs(3, 3, 2),
      make(placement::v(2, 2), 1, {{"0F0", "3F0", "3B0", "0B0"}, {"1F0", "2F0", "2B0", "1B0"}}),
      make(placement::from_map({0, 0, 1, 1}), 1, {{"0F0", "1F0", "1B0", "0B0"}, {"2F0", "3F0", "3B0", "2B0"}}),
      overlapped,
  };
  for (const schedule& s : cases) {
    CAPTURE(s.name, to_csv(s));
    REQUIRE(is_valid(s));
    const schedule a = parse_csv(to_csv(s), csv_format::compute_only, {.name = s.name});
    require_same(a, s);
    REQUIRE(a.name == s.name);
    const schedule l = lower(s);
    const schedule b = parse_csv(to_csv(l), csv_format::compute_comms, {.name = s.name});
    require_same(b, l);
    std::stringstream io;
    write_csv(io, l);
    require_same(read_csv(io, csv_format::compute_comms), l);
  }
  REQUIRE(parse_csv(to_csv(cases[5]), csv_format::compute_only).placement.style() == placement_style::v);
  REQUIRE(parse_csv(to_csv(cases[6]), csv_format::compute_only).placement.style() == placement_style::explicit_map);
  REQUIRE(parse_csv(to_csv(cases[3]), csv_format::compute_only).placement.style() == placement_style::loop);
}

TEST_CASE("a CSV file in PyTorch's exact format loads", "[csv]") {
  // As PyTorch's csv.writer writes a compute_only pipeline_order with idle (None) cells: ranks
  // padded with empty cells, CRLF line ends. Two ranks, four stages in a loop, split backward.
  const std::string file =
      "0F0,0F1,2F0,,2F1,2I0,2W0,2I1,2W1,0I0,0W0,0I1,0W1\r\n"
      ",1F0,1F1,3F0,3I0,3F1,3I1,3W0,,1I0,3W1,1I1,1W0,1W1\r\n";
  const schedule s = parse_csv(file, csv_format::compute_only, {.name = "zb"});
  REQUIRE(s.name == "zb");
  REQUIRE(s.num_devices() == 2);
  REQUIRE(s.num_stages() == 4);
  REQUIRE(s.micro_batches == 2);
  REQUIRE(s.placement.style() == placement_style::loop);
  REQUIRE(s.level == schedule_level::compute_only);
  REQUIRE(!s.forward_only);
  REQUIRE(s.actions[0].size() == 12);  // idle cells dropped
  REQUIRE(s.actions[1].size() == 12);
  REQUIRE(s.actions[1][0] == parse_action("1F0"));
  REQUIRE(to_csv(s) ==
          "0F0,0F1,2F0,2F1,2I0,2W0,2I1,2W1,0I0,0W0,0I1,0W1\r\n"
          "1F0,1F1,3F0,3I0,3F1,3I1,3W0,1I0,3W1,1I1,1W0,1W1\r\n");
  REQUIRE(is_valid(lower(s)));

  // The lowered 1F1B of PyTorch's runtime, compute_comms format, old "BW" spelling of B.
  const schedule l = parse_csv(
      "0F0,0SEND_F0,0F1,0SEND_F1,0RECV_B0,0BW0,0RECV_B1,0BW1\r\n"
      "1RECV_F0,1F0,1RECV_F1,1BW0,1SEND_B0,1F1,1BW1,1SEND_B1\r\n",
      csv_format::compute_comms);
  require_same(l, lower(one_f_one_b(2, 2)));

  // Forward-only inference: no backward anywhere.
  const schedule f = parse_csv("0F0,0F1\n1F0,1F1\n", csv_format::compute_only);
  REQUIRE(f.forward_only);
  REQUIRE(is_valid(f));
}

TEST_CASE("CSV reading tolerates LF, CRLF, blanks, quotes, a BOM and trailing blank lines", "[csv]") {
  const schedule expected = one_f_one_b(2, 2);
  for (std::string text : {"0F0,0F1,0B0,0B1\n1F0,1B0,1F1,1B1", "0F0,0F1,0B0,0B1\r\n1F0,1B0,1F1,1B1\r\n\r\n\n",
                           "\xEF\xBB\xBF 0F0 , \"0F1\",0B0,\t0B1,\n\"1F0\" ,1B0,,1F1,1B1\n  \n"}) {
    CAPTURE(text);
    require_same(parse_csv(text, csv_format::compute_only, {.name = "1F1B"}), expected);
  }
  schedule m3 = parse_csv("0F0,0F1\n1F0,1F1\n", csv_format::compute_only, {.micro_batches = 3, .validate = false});
  REQUIRE(m3.micro_batches == 3);
  require_error([] { (void)parse_csv("0F0,0F1\n1F0,1F1\n", csv_format::compute_only, {.micro_batches = 3}); },
                {"stage 0 runs F for only 2 of its M = 3"});
}

TEST_CASE("malformed CSV names line, column and the offending text", "[csv][error]") {
  const auto only = csv_format::compute_only;
  SECTION("bad token") {
    require_error([&] { (void)parse_csv("0F0,0F1,0B0,0B1\n1F0,1B0,1X1,1B1\n", only); },
                  {"line 2, column 3", "'1X1'", "unknown action type 'X'"});
    require_error([&] { (void)parse_csv("0F0,0F1x\n", only); }, {"line 1, column 2", "'0F1x'", "nothing after it"});
    require_error([&] { (void)parse_csv("0F0,0F1\x01\n", only); }, {"line 1, column 2", "'0F1\\x01'"});
    require_error([&] { (void)parse_csv("0F0\r0F1\n", only); }, {"line 1, column 1", "'0F0\\r0F1'"});
  }
  SECTION("quotes") {
    require_error([&] { (void)parse_csv("0F0,0\"F1\n", only); }, {"line 1, column 2", "stray quote", "0\"F1"});
    require_error([&] { (void)parse_csv("0F0\n1F0,\"1F1\n", only); }, {"line 2, column 2", "unterminated quote"});
    require_error([&] { (void)parse_csv("\"0F0\"x,0F1\n", only); }, {"line 1, column 1", "stray text 'x'"});
  }
  SECTION("compute_only file containing SEND") {
    require_error([&] { (void)parse_csv("0F0,0SEND_F0,0B0\n1RECV_F0,1F0,1B0\n", only); },
                  {"line 1, column 2", "'0SEND_F0' is not a compute action", "compute_comms"});
  }
  SECTION("a stage on two ranks") {
    require_error([&] { (void)parse_csv("0F0,1F0,1B0,0B0\n1F1,1B1\n", only); },
                  {"line 2, column 1", "stage 1", "on rank 1 but also on rank 0 (line 1, column 2)",
                   "exactly one rank"});
  }
  SECTION("micro-batch out of range") {
    require_error([&] { (void)parse_csv("0F0,0F1,0F2\n", only, {.micro_batches = 2}); },
                  {"line 1, column 3", "micro-batch 2", "'0F2'", "M = 2"});
  }
  SECTION("empty file") {
    require_error([&] { (void)parse_csv("", only); }, {"empty CSV"});
    require_error([&] { (void)parse_csv("\r\n \n\n", only); }, {"empty CSV"});
    std::istringstream in;
    require_error([&] { (void)read_csv(in, only); }, {"empty CSV"});
  }
  SECTION("a rank without actions, a missing stage, a huge stage") {
    require_error([&] { (void)parse_csv("0F0,0B0\n\n1F0,1B0\n", only); }, {"line 2: rank 1 has no action"});
    require_error([&] { (void)parse_csv("0F0,0B0\n,,\n", only); }, {"line 2: rank 1 has no action"});
    require_error([&] { (void)parse_csv("0F0,0B0\n2F0,2B0\n", only); }, {"stage 1 appears in no row"});
    require_error([&] { (void)parse_csv("0F0,99999999F0\n", only); }, {"line 1, column 2", "stage 99999999", "cannot be right"});
  }
  SECTION("no micro-batch to infer M from, bad options") {
    require_error([&] { (void)parse_csv("0UNSHARD\n", csv_format::compute_comms); }, {"M cannot be inferred"});
    require_error([&] { (void)parse_csv("0F0\n", only, {.micro_batches = -1}); }, {"micro_batches must be >= 0", "-1"});
  }
  SECTION("an invalid schedule is reported by validation, with the grid") {
    const std::string text = "0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n";
    require_error([&] { (void)parse_csv(text, only, {.name = "mine.csv"}); },
                  {"invalid schedule 'mine.csv'", "deadlock", "device 0, step 1, action 0B0", "[0B0]"});
    REQUIRE_NOTHROW(parse_csv(text, only, {.validate = false}));
  }
}

TEST_CASE("asynchronous schedules with per-micro-batch updates round-trip as compute_only CSV", "[csv][async]") {
  for (const auto& s : {layerpipe::pipedream_async(3, 5), layerpipe::layerpipe_async(3, 5)}) {
    const std::string text = layerpipe::to_csv(s);
    CAPTURE(s.name, text);
    REQUIRE(text.find("0U0") != std::string::npos);
    const layerpipe::schedule back = layerpipe::parse_csv(text, layerpipe::csv_format::compute_only);
    REQUIRE(back.actions == s.actions);
    REQUIRE(back.placement == s.placement);
    REQUIRE(layerpipe::to_csv(layerpipe::lower(back)) == layerpipe::to_csv(layerpipe::lower(s)));
  }
}
