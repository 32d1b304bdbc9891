// layerpipe-delays — LayerPipe gradient delays, activation stashes and weight versions of a
// partitioned network, derived by retiming its training data-flow graph.
//
//   layerpipe-delays --network resnet --stages 4            a ResNet-like network, 52 layers
//   layerpipe-delays --network transformer --layout 'E|t*4|t*4|t*4|t*3L'
//   layerpipe-delays --network net.json --stages 8 --json-out plan.json
//
//   stage 0 | stage 1 | stage 2 | stage 3        forward  →  F runs at clock k + s
//   F ───────► F ───────► F ───────► F ─┐        loss at the last stage
//   B ◄─────── B ◄─────── B ◄─────── B ◄┘        backward ←  B of stage s sees a gradient
//   delay 6     delay 4     delay 2     delay 0               2·(P − 1 − s) clocks old
#include <layerpipe/layerpipe.hpp>
#if defined(LAYERPIPE_HAS_JSON)
#include <layerpipe/io/json.hpp>
#endif

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

constexpr std::string_view usage = R"(usage: layerpipe-delays [options]

Partitions a network into pipeline stages and derives, by retiming its training data-flow graph,
the smallest legal gradient delay of every layer (in pipeline clocks), the staleness in weight
updates, the activation stash of every edge and the weight versions each layer keeps, with the
memory they cost per layer and per stage.

network
  -n, --network NAME|FILE   resnet (ResNet-like, skip connections; default), transformer
                            (transformer-like chain), unet (U-Net-like, long skips), or a JSON
                            network file (format layerpipe.network)
      --blocks N            blocks of the built-in network (default: resnet 24, transformer 12,
                            unet 4)

partition (one of)
  -p, --stages P            balanced partition into P stages (default 4): contiguous layers,
                            minimising the largest stage cost
      --memory-cap BYTES    with --stages: per-stage memory cap (weights + activations)
      --layout STRING       Megatron-style layout, e.g. 'E|t*4|t*4|t*4|t*3L'

output
      --json-out FILE       write the delay plan as JSON (needs the json component)
      --quiet               leave out the per-layer table
  -h, --help                show this help and exit
)";

struct options {
  std::string network = "resnet";
  std::optional<int> blocks;
  int stages = 4;
  std::optional<double> memory_cap;
  std::optional<std::string> layout;
  std::optional<std::string> json_out;
  bool quiet = false;
  bool help = false;
};

template <class T>
T parse_number(std::string_view flag, std::string_view text) {
  T value{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || p != text.data() + text.size())
    layerpipe::detail::fail(flag, " expects ", std::is_integral_v<T> ? "an integer" : "a number", ", got '", text, "'");
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
    else if (flag == "-n" || flag == "--network") o.network = next();
    else if (flag == "--blocks") o.blocks = parse_number<int>(flag, next());
    else if (flag == "-p" || flag == "--stages") o.stages = parse_number<int>(flag, next());
    else if (flag == "--memory-cap") o.memory_cap = parse_number<double>(flag, next());
    else if (flag == "--layout") o.layout = std::string(next());
    else if (flag == "--json-out") o.json_out = std::string(next());
    else if (flag == "--quiet") o.quiet = true;
    else layerpipe::detail::fail("unknown option '", args[i], "' (see --help)");
  }
  return o;
}

layerpipe::graph load_network(const options& o) {
  if (o.network == "resnet") return layerpipe::resnet_like(o.blocks.value_or(24));
  if (o.network == "transformer") return layerpipe::transformer_like(o.blocks.value_or(12));
  if (o.network == "unet") return layerpipe::unet_like(o.blocks.value_or(4));
#if defined(LAYERPIPE_HAS_JSON)
  std::ifstream file(o.network);
  if (!file)
    layerpipe::detail::fail("--network: '", o.network,
                            "' is neither a built-in network (resnet, transformer, unet) nor a readable file");
  return layerpipe::read_network(file, o.network);
#else
  layerpipe::detail::fail("--network: '", o.network,
                          "' is not a built-in network (resnet, transformer, unet); JSON files need the "
                          "json component (nlohmann-json3-dev)");
#endif
}

std::string bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024.0 && u < 4) { b /= 1024.0; ++u; }
  std::ostringstream out;
  out << std::fixed << std::setprecision(u == 0 ? 0 : 1) << b << ' ' << units[u];
  return out.str();
}

int run(int argc, char** argv) {
  const options o = parse_options(argc, argv);
  if (o.help) { std::cout << usage; return 0; }

  const layerpipe::graph g = load_network(o);
  layerpipe::partition part;
  if (o.layout) {
    part = layerpipe::partition_from_layout(g, *o.layout);
  } else {
    layerpipe::balance_options balance;
    if (o.memory_cap) balance.memory_cap = *o.memory_cap;
    part = layerpipe::balanced_partition(g, o.stages, balance);
  }
  const layerpipe::delay_plan plan = layerpipe::derive_delays(g, part);

  std::cout << "network   " << g.num_layers() << " layers, " << g.num_edges() << " edges"
            << (g.is_chain() ? " (a chain)" : " (with skip connections or branches)") << "\n";
  std::cout << "partition " << part.num_stages() << " stages\n";
  for (int s = 0; s < part.num_stages(); ++s) {
    const auto layers = part.layers_of(s);
    double cost = 0.0;
    for (int l : layers) cost += g.at(l).total_cost();
    std::cout << "  stage " << s << ": " << layers.size() << " layers, cost " << cost << ", "
              << g.at(layers.front()).name << " .. " << g.at(layers.back()).name << '\n';
  }

  if (!o.quiet) {
    std::cout << "\nlayer                 stage  delay  stale(systolic/1F1B)  weight versions  weight bytes  stash bytes\n";
    for (int l = 0; l < g.num_layers(); ++l) {
      const auto ul = static_cast<std::size_t>(l);
      std::cout << std::left << std::setw(22) << g.at(l).name << std::right << std::setw(5) << part.stage_of(l)
                << std::setw(7) << plan.delay_clocks[ul] << std::setw(11)
                << plan.staleness_updates(l, layerpipe::pipelining_style::systolic) << " / " << std::left
                << std::setw(8) << plan.staleness_updates(l, layerpipe::pipelining_style::one_f_one_b) << std::right
                << std::setw(15) << plan.weight_versions[ul] << std::setw(14) << bytes(plan.weight_bytes_per_layer[ul])
                << std::setw(13) << bytes(plan.stash_bytes_per_layer[ul]) << '\n';
    }
    bool header = false;
    for (const auto& e : plan.stash) {
      const auto& edge = g.edges()[static_cast<std::size_t>(e.edge)];
      if (part.stage_of(edge.from) == part.stage_of(edge.to)) continue;  // only edges that cross stages
      if (!header) {
        std::cout << "\nedges crossing stages             forward registers  stash depth (micro-batches)  stash bytes\n";
        header = true;
      }
      std::cout << "  " << std::left << std::setw(34) << (g.at(edge.from).name + " -> " + g.at(edge.to).name)
                << std::right << std::setw(10) << e.forward_registers << std::setw(22) << e.depth << std::setw(20)
                << bytes(e.bytes) << '\n';
    }
  }

  std::cout << "\nper stage        weight versions (extra)   activation stash\n";
  double weights = 0.0, stash = 0.0;
  for (int s = 0; s < part.num_stages(); ++s) {
    const auto us = static_cast<std::size_t>(s);
    weights += plan.weight_bytes_per_stage[us];
    stash += plan.stash_bytes_per_stage[us];
    std::cout << "  stage " << std::left << std::setw(9) << s << std::right << std::setw(20)
              << bytes(plan.weight_bytes_per_stage[us]) << std::setw(21) << bytes(plan.stash_bytes_per_stage[us]) << '\n';
  }
  std::cout << "  total " << std::setw(29) << bytes(weights) << std::setw(21) << bytes(stash) << '\n';

  if (o.json_out) {
#if defined(LAYERPIPE_HAS_JSON)
    std::ofstream file(*o.json_out, std::ios::binary);
    if (!file) layerpipe::detail::fail("cannot open '", *o.json_out, "' to write the delay plan");
    file << layerpipe::delay_plan_to_json(g, part, plan);
    if (!file.flush()) layerpipe::detail::fail("cannot write the delay plan to '", *o.json_out, "'");
    std::cout << "wrote " << *o.json_out << '\n';
#else
    layerpipe::detail::fail("--json-out needs the json component (nlohmann-json3-dev)");
#endif
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
