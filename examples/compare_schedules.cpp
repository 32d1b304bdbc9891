// compare_schedules — every registered synchronous schedule family side by side, P = 8, M = 32.
//
//   schedule_families() ──► f.make(params) ──► simulate(costs) ──► measure ──► one table row
//        gpipe, 1f1b,             (V = 2 where      per-stage costs,      makespan, bubble,
//        interleaved, ...          it has chunks)    a chunk costs 1/V     peak, copies, messages
//
// Two cost settings: T_F = T_I = T_W (so T_B = 2 T_F) and T_B = T_F (T_I = T_W = T_F / 2).
// Asynchronous families (those whose schedules contain U actions) are skipped: they never flush,
// so a per-iteration makespan does not compare. With `--markdown-out FILE` the whole docs page
// (docs/comparison.md) is written to FILE as well.
#include <layerpipe/layerpipe.hpp>

#include <algorithm>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

constexpr int devices = 8, micro_batches = 32, chunks = 2;

std::string fixed(double x, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << x;
  return out.str();
}

bool is_asynchronous(const layerpipe::schedule& s) {
  for (const auto& list : s.actions)
    for (const layerpipe::action& a : list)
      if (a.kind == layerpipe::action_kind::update) return true;
  return false;
}

// Where each family's construction and formulas are documented (docs/schedules.md lists the same).
std::string_view header_of(std::string_view family) {
  if (family == "gpipe") return "schedule/gpipe.hpp";
  if (family == "1f1b") return "schedule/one_f_one_b.hpp";
  if (family == "interleaved-1f1b") return "schedule/interleaved_1f1b.hpp";
  if (family == "looped-bfs") return "schedule/looped_bfs.hpp";
  if (family == "zb-h1" || family == "zb-h2") return "schedule/zero_bubble.hpp";
  if (family == "zb-v") return "schedule/zb_v.hpp";
  return "schedule/families.hpp";
}

// The family's schedule at P, M (V = 2 where it takes chunks).
layerpipe::schedule build(const layerpipe::family_info& f) {
  layerpipe::schedule_params p;
  p.devices = devices;
  p.micro_batches = micro_batches;
  p.chunks = f.uses_chunks ? chunks : 1;
  return f.make(p);
}

// One Markdown table for one cost setting; `forward`, `input_grad`, `weight_grad` are per full stage.
std::string table(layerpipe::pass_costs stage_costs) {
  std::ostringstream out;
  out << "| family | makespan | bubble ratio | worst span idle | peak activations | weight copies/device "
         "| P2P messages/micro-batch | gradient all-reduces |\n"
      << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const layerpipe::family_info& f : layerpipe::schedule_families()) {
    const layerpipe::schedule s = build(f);
    if (is_asynchronous(s)) continue;

    // A stage of the model is 1/S_model of it; per-stage costs are given per 1/P of the model,
    // so a stage costs P/S_model of them (1/V for V chunks, 1/2 for BitPipe's four half-chunks).
    const double share = static_cast<double>(s.num_devices()) / s.placement.model_stages();
    const auto costs = layerpipe::cost_model::uniform(
        {stage_costs.forward * share, stage_costs.input_grad * share, stage_costs.weight_grad * share});
    const layerpipe::schedule_metrics m = layerpipe::measure(
        s, layerpipe::simulate(s, costs), costs, layerpipe::activation_accounting::free_at_weight_grad);

    double peak = 0.0, copies = 0.0;
    for (int d = 0; d < s.num_devices(); ++d) {
      peak = std::max(peak, m.devices[static_cast<std::size_t>(d)].peak_activations);
      // Stages held (replicas count twice) × the fraction of a device's share of the model each is.
      copies = std::max(copies, static_cast<double>(s.placement.stages_on(d).size()) * share);
    }
    out << "| `" << f.name << "`" << (f.uses_chunks ? " (V = 2)" : "") << " | " << fixed(m.makespan, 2) << " | "
        << fixed(m.bubble_ratio, 3) << " | " << fixed(m.max_span_idle, 2) << " | " << fixed(peak, 2) << " | "
        << fixed(copies, 2) << " | " << fixed(static_cast<double>(m.messages) / micro_batches, 2) << " | "
        << m.gradient_reductions << " |\n";
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string markdown_out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--markdown-out" && i + 1 < argc) {
      markdown_out = argv[++i];
    } else {
      std::cerr << "usage: layerpipe-compare [--markdown-out FILE]\n";
      return 2;
    }
  }
  try {
    const std::string equal = table({1.0, 1.0, 1.0});  // T_B = 2 T_F
    const std::string cheap = table({1.0, 0.5, 0.5});  // T_B = T_F
    std::cout << "## T_F = T_I = T_W = 1 (T_B = 2)\n\n" << equal << "\n## T_F = 1, T_I = T_W = 0.5 (T_B = 1)\n\n"
              << cheap;
    if (markdown_out.empty()) return 0;

    std::string skipped;  // the asynchronous families, named from the registry
    for (const layerpipe::family_info& f : layerpipe::schedule_families())
      if (is_asynchronous(build(f)))
        skipped += (skipped.empty() ? "`" : ", `") + std::string(f.name) + "`";

    std::ofstream page(markdown_out);
    page << "# Schedule comparison\n\n"
         << "Generated by `build/ci/examples/layerpipe-compare --markdown-out docs/comparison.md`; do not edit by "
            "hand.\n\n"
         << "Every registered synchronous schedule family for P = " << devices << " devices and M = " << micro_batches
         << " micro-batches, simulated with `layerpipe::simulate` and read with `layerpipe::measure`. Families with "
            "chunks use V = "
         << chunks << ". Costs are per model stage; a chunk costs 1/V of them. Asynchronous families ("
         << skipped << ") are left out: they never flush, so there is no per-iteration makespan.\n\n"
         << "- **bubble ratio**: (makespan − busy time of the busiest device) / makespan.\n"
         << "- **worst span idle**: the largest (last end − first start − busy) over devices.\n"
         << "- **peak activations**: order-based, in stage-units of 1/P of the model (a chunk counts 1/V), max over devices; a "
            "split backward frees its activation at W (`activation_accounting::free_at_weight_grad`).\n"
         << "- **weight copies/device**: stages on the device × the stage's size in units of 1/P of the model "
            "(`stages_on(d).size() · P / S_model`), max over devices: 2 where each device holds two replicas.\n"
         << "- **P2P messages/micro-batch**: cross-device transfers (`metrics.messages`) / M.\n"
         << "- **gradient all-reduces**: REDUCE_GRAD actions between the replicas of a stage "
            "(`metrics.gradient_reductions`), per iteration.\n\n"
         << "## T_F = T_I = T_W = 1 (T_B = 2)\n\n" << equal << "\n## T_F = 1, T_I = T_W = 0.5 (T_B = 1)\n\n" << cheap
         << "\n## Where each family is defined\n\n";
    for (const layerpipe::family_info& f : layerpipe::schedule_families())
      if (!is_asynchronous(build(f))) page << "- `" << f.name << "`: `include/layerpipe/" << header_of(f.name) << "`\n";
    if (!page.flush()) {
      std::cerr << "layerpipe-compare: could not write " << markdown_out << '\n';
      return 1;
    }
    std::cout << "\nwrote " << markdown_out << '\n';
  } catch (const layerpipe::error& e) {
    std::cerr << "layerpipe: " << e.what() << '\n';
    return 1;
  }
}
