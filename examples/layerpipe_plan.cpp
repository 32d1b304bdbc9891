// layerpipe-plan — generate a pipeline schedule by name, check it, simulate it and print it.
//
//   layerpipe-plan --schedule 1f1b -p 4 -m 8                 grid and metrics
//   layerpipe-plan --schedule 1f1b -p 4 -m 8 --csv -         compute-only CSV on stdout
//   layerpipe-plan -s interleaved -p 4 -m 8 -v 2 --trace t.json   Chrome trace for Perfetto
//
//   device 0  F0 F1 F2 F3 B0 F4 B1 ...        (1F1B, P = 4: warm-up, steady 1F1B, cool-down)
//   device 3        F0 B0 F1 B1 ...
#include <layerpipe/layerpipe.hpp>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view usage = R"(usage: layerpipe-plan [options]

Generates a pipeline-parallel schedule, validates it, simulates it under a simple cost model,
and prints the step grid (rows: steps, columns: devices) and its metrics.

schedule
  -s, --schedule NAME       schedule family, case-insensitive (default 1f1b); --list shows all
                            names and aliases
  -p, --devices P           pipeline devices (default 4)
  -m, --micro-batches M     micro-batches per iteration (default 8)
  -v, --chunks V            model chunks per device, for interleaved-1f1b, looped-bfs and
                            pipe-offload
                            (default 2 there, 1 elsewhere)
  -g, --group-size G        micro-batch group size: Megatron's for interleaved-1f1b (default: P
                            when M % P == 0, else the smallest valid size), g for pipe-offload
                            (default: the smallest g >= P/2 that keeps the pipeline busy)
      --memory-cap N        activations a device may hold, for zb-auto (default 2P)
      --offload-chunks K    pipe-offload: send the activations of chunks 0..K-1 to host memory
      --forward-only        inference variant: forward passes only
      --lowered             insert SEND/RECV actions (the form executors run)

costs (one pipeline stage = 1/P of the model; a chunk costs 1/V of that)
      --tf T                forward time of a stage (default 1)
      --ti T                input-gradient time (default 1)
      --tw T                weight-gradient time (default 1); a full backward takes ti + tw
      --latency C           point-to-point latency of each cross-device transfer (default 0)
      --activation-bytes N  bytes of one micro-batch's activation on a stage (default 0)
      --host-bandwidth B    bytes per time unit of a device's host link, for OFFLOAD/RELOAD
                            copies (default: copies take no time)

output
      --csv FILE            write the schedule as PyTorch-compatible CSV (compute_only, or
                            compute_comms with --lowered); FILE '-' writes it to stdout and
                            nothing else
      --trace FILE          write the simulated timeline as Chrome trace JSON (opens in Perfetto)
      --no-grid             leave out the step grid
      --list                list schedule families and exit
  -h, --help                show this help and exit
)";

struct options {
  std::string schedule = "1f1b";
  int devices = 4;
  int micro_batches = 8;
  std::optional<int> chunks;
  int group_size = 0;
  double memory_cap = 0.0;
  int offload_chunks = 0;
  bool forward_only = false;
  bool lowered = false;
  layerpipe::pass_costs costs{};
  double latency = 0.0;
  double activation_bytes = 0.0;
  double host_bandwidth = 0.0;
  std::optional<std::string> csv;
  std::optional<std::string> trace;
  bool grid = true;
  bool list = false;
  bool help = false;
};

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || p != text.data() + text.size()) {
    layerpipe::detail::fail(flag, " expects ", std::is_integral_v<T> ? "an integer" : "a number", ", got '",
                            text, "'");
  }
  return value;
}

options parse_options(int argc, char** argv) {
  options o;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view flag = args[i];
    std::string_view value;
    if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string_view::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    auto next = [&]() -> std::string_view {
      if (!value.empty()) return value;
      if (i + 1 >= args.size()) layerpipe::detail::fail(flag, " needs a value (see --help)");
      return args[++i];
    };
    if (flag == "-h" || flag == "--help") o.help = true;
    else if (flag == "--list") o.list = true;
    else if (flag == "-s" || flag == "--schedule") o.schedule = next();
    else if (flag == "-p" || flag == "--devices") o.devices = parse_number<int>(flag, next());
    else if (flag == "-m" || flag == "--micro-batches") o.micro_batches = parse_number<int>(flag, next());
    else if (flag == "-v" || flag == "--chunks") o.chunks = parse_number<int>(flag, next());
    else if (flag == "-g" || flag == "--group-size") o.group_size = parse_number<int>(flag, next());
    else if (flag == "--memory-cap") o.memory_cap = parse_number<double>(flag, next());
    else if (flag == "--offload-chunks") o.offload_chunks = parse_number<int>(flag, next());
    else if (flag == "--forward-only") o.forward_only = true;
    else if (flag == "--lowered") o.lowered = true;
    else if (flag == "--tf") o.costs.forward = parse_number<double>(flag, next());
    else if (flag == "--ti") o.costs.input_grad = parse_number<double>(flag, next());
    else if (flag == "--tw") o.costs.weight_grad = parse_number<double>(flag, next());
    else if (flag == "--latency") o.latency = parse_number<double>(flag, next());
    else if (flag == "--activation-bytes") o.activation_bytes = parse_number<double>(flag, next());
    else if (flag == "--host-bandwidth") o.host_bandwidth = parse_number<double>(flag, next());
    else if (flag == "--csv") o.csv = std::string(next());
    else if (flag == "--trace") o.trace = std::string(next());
    else if (flag == "--no-grid") o.grid = false;
    else layerpipe::detail::fail("unknown option '", args[i], "' (see --help)");
  }
  return o;
}

void list_families(std::ostream& out) {
  out << "schedule families (names are case-insensitive; '-' and '_' are optional):\n";
  for (const auto& f : layerpipe::schedule_families()) {
    out << "  " << std::left << std::setw(18) << f.name << f.summary << '\n';
    if (!f.aliases.empty()) out << "  " << std::setw(18) << "" << "aliases: " << f.aliases << '\n';
  }
}

void write_to(const std::string& path, const std::string& what, const std::string& text) {
  std::ofstream file(path, std::ios::binary);
  if (!file) layerpipe::detail::fail("cannot open '", path, "' to write the ", what);
  file << text;
  if (!file.flush()) layerpipe::detail::fail("cannot write the ", what, " to '", path, "'");
}

std::string format_number(double x) {
  std::ostringstream out;
  out << std::setprecision(6) << x;
  return out.str();
}

void print_report(std::ostream& out, const options& o, const layerpipe::schedule& s,
                  const layerpipe::schedule_metrics& m, int chunks) {
  out << "schedule      " << s.name << "  (P = " << s.num_devices() << ", M = " << s.micro_batches
      << ", V = " << chunks << ", " << to_string(s.placement.style()) << " placement"
      << (s.forward_only ? ", forward only" : "") << ")\n";
  out << "costs         T_F = " << format_number(o.costs.forward) << ", T_I = " << format_number(o.costs.input_grad)
      << ", T_W = " << format_number(o.costs.weight_grad) << " per stage"
      << (chunks > 1 ? " (divided by V per chunk)" : "") << ", latency " << format_number(o.latency) << "\n";
  out << "actions       " << s.size() << (s.level == layerpipe::schedule_level::lowered ? " (lowered)" : "")
      << ", messages " << m.messages << " (" << format_number(m.message_bytes) << " bytes)";
  if (m.host_copies > 0)
    out << ", host copies " << m.host_copies << " (" << format_number(m.host_copy_bytes) << " bytes)";
  if (s.placement.num_replicas() > 1)
    out << ", " << s.placement.num_replicas() << " model replicas, " << m.gradient_reductions
        << " gradient all-reduces";
  out << "\n";
  out << "makespan      " << format_number(m.makespan) << "\n";
  out << "bubble        " << std::fixed << std::setprecision(4) << m.bubble_ratio << std::defaultfloat
      << " wall-clock (makespan - busiest device's busy time) / makespan\n";
  out << "span idle     " << format_number(m.max_span_idle)
      << " on the worst device (last end - first start - busy)\n";
  bool updates = false;
  for (const auto& list : s.actions)
    for (const auto& a : list) updates = updates || a.kind == layerpipe::action_kind::update;
  if (updates) {  // asynchronous pipelines: how many updates each stage's backward lags its forward
    out << "staleness    ";
    for (const auto st : layerpipe::measure_staleness(s)) out << ' ' << st;
    out << " updates per stage (measured: updates between F and B of a micro-batch)\n";
  }
  out << "\ndevice      busy   span-idle   peak activations (stage-units / count / bytes)\n";
  for (std::size_t d = 0; d < m.devices.size(); ++d) {
    const auto& x = m.devices[d];
    out << std::setw(6) << d << std::setw(10) << format_number(x.busy) << std::setw(12)
        << format_number(x.span_idle) << std::setw(12) << format_number(x.peak_activations) << " / "
        << x.peak_activation_count << " / " << format_number(x.peak_activation_bytes) << '\n';
  }
  out << "\ncritical path (" << m.critical_path.size() << " actions):";
  std::size_t shown = 0;
  for (const auto& x : m.critical_path) {
    if (++shown > 24) { out << " ..."; break; }
    out << ' ' << x.what;
  }
  out << '\n';
}

int run(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  if (o.help) { std::cout << usage; return 0; }
  if (o.list) { list_families(std::cout); return 0; }

  const auto& family = layerpipe::find_family(o.schedule);
  const int requested_chunks = o.chunks.value_or(family.uses_chunks ? 2 : 1);
  layerpipe::schedule_params params;
  params.devices = o.devices;
  params.micro_batches = o.micro_batches;
  params.chunks = requested_chunks;
  params.group_size = o.group_size;
  params.mode = o.forward_only ? layerpipe::pass_mode::forward_only : layerpipe::pass_mode::training;
  params.stage_costs = o.costs;  // cost-aware families (zb-auto) plan with them; the others ignore them
  params.p2p_latency = o.latency;
  params.memory_cap = o.memory_cap;
  params.offload_chunks = o.offload_chunks;
  layerpipe::schedule s = layerpipe::make_schedule(family.name, params);
  if (o.lowered) s = layerpipe::lower(s);
  layerpipe::validate(s);

  if (o.csv && *o.csv == "-") {  // stdout carries the CSV alone, so it can be piped
    std::cout << layerpipe::to_csv(s);
    return 0;
  }

  // Per-stage costs; a chunk of a V-chunk placement is 1/V of a stage's work. V comes from the
  // schedule itself, so families with a fixed layout (two chunks per device for V placements)
  // are costed right too.
  // With two replicas (Chimera, BitPipe, DualPipe) a device's stages double, not its share of
  // the model: a stage is S_model/P of a device's work.
  const int chunks = s.placement.model_stages() / s.num_devices();
  const double per_chunk = static_cast<double>(s.num_devices()) / s.placement.model_stages();
  const layerpipe::pass_costs chunk_costs{o.costs.forward * per_chunk, o.costs.input_grad * per_chunk,
                                          o.costs.weight_grad * per_chunk};
  auto costs = layerpipe::cost_model::uniform(chunk_costs)
                   .with_p2p_latency(o.latency)
                   .with_activation_bytes(o.activation_bytes * per_chunk);
  if (o.host_bandwidth != 0.0) costs.with_host_bandwidth(o.host_bandwidth);
  const layerpipe::timeline t = layerpipe::simulate(s, costs);
  const layerpipe::schedule_metrics m = layerpipe::measure(s, t, costs);

  if (o.grid) std::cout << layerpipe::text_grid(s) << '\n';
  print_report(std::cout, o, s, m, chunks);
  if (o.csv) {
    write_to(*o.csv, "CSV", layerpipe::to_csv(s));
    std::cout << "wrote " << *o.csv << '\n';
  }
  if (o.trace) {
    write_to(*o.trace, "Chrome trace", layerpipe::chrome_trace(t));
    std::cout << "wrote " << *o.trace << " (open it in Perfetto)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const layerpipe::error& e) {
    std::cerr << e.what() << '\n';
    return 2;
  }
}
