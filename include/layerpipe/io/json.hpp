// layerpipe/io/json.hpp — networks, partitions and delay plans as JSON (component layerpipe::json).
//
// Needs nlohmann-json 3 (Debian: nlohmann-json3-dev): link layerpipe::json. Not part of the
// umbrella <layerpipe/layerpipe.hpp>, so the core never needs nlohmann. Run time only.
//
//   std::ifstream in("gpt.json");
//   layerpipe::graph g = layerpipe::read_network(in, "gpt.json");
//   auto p = layerpipe::partition_from_json(g, R"({"format": "layerpipe.partition", "version": 1,
//                                                   "balanced": 4})");
//   std::cout << layerpipe::delay_plan_to_json(g, p, layerpipe::derive_delays(g, p));
//
// Schemas, version 1. Every document is an object with "format" and "version" first; unknown
// keys are errors (a misspelt "foward" must not silently become 0), and so is a key repeated in
// one object.
//
//   Network: {"format": "layerpipe.network", "version": 1, "name": "gpt",   ("name" optional)
//             "layers": [{"name": "embed", "kind": "embedding", "forward": 1.0, "input_grad": 1.0,
//                         "weight_grad": 1.0, "activation_bytes": 4096, "weight_bytes": 1e6}, ...],
//             "edges": [["embed", "block0"], ...]    or    "edges": {"chain": true}}
//     Only "name" is required in a layer; numbers default to 0 and must be >= 0; "kind" is one
//     of generic (default), embedding, attention, mlp, transformer, norm, conv, pool, head.
//     "edges" is required: a list of [from, to] layer names (possibly empty), or the chain
//     shorthand for layer i -> layer i+1 in the order listed. The writer uses the shorthand
//     exactly when the edges are 0->1, 1->2, ... in that order, so graphs round-trip equal.
//   Partition: {"format": "layerpipe.partition", "version": 1, and exactly one of
//       "stages": [["embed", "block0"], ["block1", "head"]]     layer names per stage, or
//       "layout": "E|t*3|t*3|L"                                 graph/layout.hpp, or
//       "balanced": 4, "memory_cap": 8e9                       graph/balance.hpp (cap optional)}
//     The result always passes partition::check(g) (no empty stage, no edge going back).
//     The writer uses "stages".
//   Delay plan (written only): {"format": "layerpipe.delay_plan", "version": 1, "stages": P,
//       "layers": [{"name", "stage", "delay_clocks", "staleness": {"systolic", "one_f_one_b"},
//                   "weight_versions", "local_stash_depth", "activation_stash_bytes",
//                   "weight_stash_bytes"}, ...],                                   per layer
//       "edges": [{"from", "to", "forward_registers", "forward_bytes", "stash_depth",
//                  "stash_bytes"}, ...],                                in the network's edge order
//       "stage_totals": [{"stage", "layers", "activation_stash_bytes", "weight_stash_bytes"}, ...],
//       "totals": {"activation_stash_bytes", "weight_stash_bytes"}}
//     The fields are delay_plan's (retime/layerpipe.hpp), staleness in optimizer updates per
//     pipelining_style; the lags (per training-DFG node) are not written.
//
// Numbers: a double is written as an integer when it is one (below 2^53), otherwise in the
// shortest form that reads back to the same double, so values round-trip exactly.
// Errors (layerpipe::error) start with the source name given to the reader: malformed JSON gives
// "line L, column C" (1-based, columns in UTF-8 characters); schema errors name the JSON path
// ("layers[3].forward must be a non-negative number, got \"x\""); unknown layer names in edges
// and stages name theirs; graph and partition validation errors come through unchanged.
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layer.hpp>
#include <layerpipe/graph/layout.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/io/detail/json.hpp>
#include <layerpipe/retime/layerpipe.hpp>

#include <cstddef>
#include <cstdint>
#include <istream>
#include <iterator>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace layerpipe {

/// A network document: the graph and the document's optional "name".
struct network_document {
  std::string name;
  graph network;
};

// ---------------------------------------------------------------------------------------------
// Networks

/// Parses a "layerpipe.network" document, name included. `source` prefixes error messages.
inline network_document network_document_from_json(std::string_view text, std::string_view source = "network JSON") {
  using detail::json_io::json;
  const detail::json_io::reader r{source};
  const json doc = detail::json_io::parse(text, source);
  r.header(doc, "layerpipe.network", 1);
  r.known_keys(doc, "", {"format", "version", "name", "layers", "edges"});

  network_document out;
  if (const auto n = doc.find("name"); n != doc.end()) out.name = r.string(*n, "name");

  const auto layers_it = doc.find("layers");
  if (layers_it == doc.end()) detail::fail(source, ": the document has no \"layers\" (a list of layer objects)");
  const json& layers = r.array(*layers_it, "layers");
  if (layers.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 2))
    detail::fail(source, ": too many layers for int indices, got ", layers.size());
  std::vector<layer> list;
  list.reserve(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string path = r.element("layers", i);
    const json& l = r.object(layers[i], path);
    r.known_keys(l, path, {"name", "kind", "forward", "input_grad", "weight_grad", "activation_bytes", "weight_bytes"});
    layer x;
    const auto name = l.find("name");
    if (name == l.end()) detail::fail(source, ": ", path, " has no \"name\"");
    x.name = r.string(*name, r.member(path, "name"));
    if (const auto k = l.find("kind"); k != l.end()) {
      const std::string& kind = r.string(*k, r.member(path, "kind"));
      try {
        x.kind = parse_layer_kind(kind);
      } catch (const error& e) {
        std::string_view why = e.what();
        if (why.starts_with("layerpipe: ")) why.remove_prefix(11);
        detail::fail(source, ": ", r.member(path, "kind"), ": ", why);
      }
    }
    const auto number = [&](const char* key, double& field) {
      if (const auto v = l.find(key); v != l.end()) field = r.non_negative(*v, r.member(path, key));
    };
    number("forward", x.forward);
    number("input_grad", x.input_grad);
    number("weight_grad", x.weight_grad);
    number("activation_bytes", x.activation_bytes);
    number("weight_bytes", x.weight_bytes);
    list.push_back(std::move(x));
  }

  const auto edges_it = doc.find("edges");
  if (edges_it == doc.end())
    detail::fail(source, ": the document has no \"edges\": list [from, to] layer names, or write "
                         "\"edges\": {\"chain\": true} for a chain");
  const json& edges = *edges_it;
  if (edges.is_object()) {
    r.known_keys(edges, "edges", {"chain"});
    const auto c = edges.find("chain");
    if (c == edges.end() || !c->is_boolean() || !c->get<bool>())
      r.fail_at("edges.chain", "must be true (otherwise list the edges as [from, to] pairs)",
                c == edges.end() ? json(nullptr) : *c);
    out.network = graph::chain(std::move(list));
    return out;
  }
  if (!edges.is_array()) r.fail_at("edges", "must be a list of [from, to] pairs or {\"chain\": true}", edges);

  std::unordered_map<std::string_view, int> index;  // first layer of each name; graph() rejects duplicates
  index.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) index.emplace(list[i].name, static_cast<int>(i));
  std::vector<edge> pairs;
  pairs.reserve(edges.size());
  for (std::size_t e = 0; e < edges.size(); ++e) {
    const std::string path = r.element("edges", e);
    const json& pair = edges[e];
    if (!pair.is_array() || pair.size() != 2) r.fail_at(path, "must be a [from, to] pair of layer names", pair);
    int ends[2] = {0, 0};
    for (std::size_t k = 0; k < 2; ++k) {
      const std::string end_path = r.element(path, k);
      const auto it = index.find(r.string(pair[k], end_path));
      if (it == index.end())
        detail::fail(source, ": ", end_path, " names no layer of the network: ", detail::json_io::describe(pair[k]));
      ends[k] = it->second;
    }
    pairs.push_back({ends[0], ends[1]});
  }
  out.network = graph(std::move(list), std::move(pairs));
  return out;
}

/// Parses a "layerpipe.network" document into a graph (validated by graph's constructor).
inline graph network_from_json(std::string_view text, std::string_view source = "network JSON") {
  return network_document_from_json(text, source).network;
}

/// Reads the whole stream as a network document.
inline graph read_network(std::istream& in, std::string_view source = "network JSON") {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) detail::fail(source, ": the stream could not be read");
  return network_from_json(text, source);
}

namespace detail::json_io {
inline bool edges_form_chain(const graph& g) {
  const auto edges = g.edges();
  if (static_cast<int>(edges.size()) != g.num_layers() - 1) return false;
  for (std::size_t i = 0; i < edges.size(); ++i)
    if (edges[i].from != static_cast<int>(i) || edges[i].to != static_cast<int>(i) + 1) return false;
  return true;
}
}  // namespace detail::json_io

/// The "layerpipe.network" document of a graph; `name`, when not empty, is written as "name".
inline std::string network_to_json(const graph& g, std::string_view name = {}) {
  using detail::json_io::ordered_json;
  using detail::json_io::number;
  ordered_json doc;
  doc["format"] = "layerpipe.network";
  doc["version"] = 1;
  if (!name.empty()) doc["name"] = std::string(name);
  ordered_json layers = ordered_json::array();
  for (const layer& l : g.layers()) {
    ordered_json x;
    x["name"] = l.name;
    x["kind"] = std::string(to_string(l.kind));
    x["forward"] = number(l.forward);
    x["input_grad"] = number(l.input_grad);
    x["weight_grad"] = number(l.weight_grad);
    x["activation_bytes"] = number(l.activation_bytes);
    x["weight_bytes"] = number(l.weight_bytes);
    layers.push_back(std::move(x));
  }
  doc["layers"] = std::move(layers);
  if (detail::json_io::edges_form_chain(g)) {
    doc["edges"] = ordered_json{{"chain", true}};
  } else {
    ordered_json edges = ordered_json::array();
    for (const edge& e : g.edges()) edges.push_back(ordered_json::array({g.at(e.from).name, g.at(e.to).name}));
    doc["edges"] = std::move(edges);
  }
  return detail::json_io::write_document(doc);
}

inline void write_network(std::ostream& out, const graph& g, std::string_view name = {}) {
  out << network_to_json(g, name);
}

// ---------------------------------------------------------------------------------------------
// Partitions

/// Parses a "layerpipe.partition" document for `g`; the result passes p.check(g).
inline partition partition_from_json(const graph& g, std::string_view text, std::string_view source = "partition JSON") {
  using detail::json_io::json;
  const detail::json_io::reader r{source};
  const json doc = detail::json_io::parse(text, source);
  r.header(doc, "layerpipe.partition", 1);
  r.known_keys(doc, "", {"format", "version", "stages", "layout", "balanced", "memory_cap"});
  const int forms = static_cast<int>(doc.contains("stages")) + static_cast<int>(doc.contains("layout")) +
                    static_cast<int>(doc.contains("balanced"));
  if (forms != 1)
    detail::fail(source, ": a partition needs exactly one of \"stages\", \"layout\" and \"balanced\", got ", forms);
  if (doc.contains("memory_cap") && !doc.contains("balanced"))
    detail::fail(source, ": \"memory_cap\" goes with \"balanced\" only");

  partition p;
  if (const auto s = doc.find("stages"); s != doc.end()) {
    const json& stages = r.array(*s, "stages");
    std::vector<std::vector<int>> groups(stages.size());
    std::vector<std::size_t> stage_of(static_cast<std::size_t>(g.num_layers()), stages.size());
    for (std::size_t st = 0; st < stages.size(); ++st) {
      const std::string path = r.element("stages", st);
      const json& names = r.array(stages[st], path);
      for (std::size_t k = 0; k < names.size(); ++k) {
        const std::string name_path = r.element(path, k);
        const std::string& name = r.string(names[k], name_path);
        const int l = g.find(name);
        if (l < 0)
          detail::fail(source, ": ", name_path, " names no layer of the network: ", detail::json_io::describe(names[k]));
        auto& seen = stage_of[static_cast<std::size_t>(l)];
        if (seen != stages.size())
          detail::fail(source, ": ", name_path, ": layer \"", name, "\" is already in stage ", seen);
        seen = st;
        groups[st].push_back(l);
      }
    }
    for (int l = 0; l < g.num_layers(); ++l)
      if (stage_of[static_cast<std::size_t>(l)] == stages.size())
        detail::fail(source, ": stages: layer \"", g.at(l).name, "\" is in no stage");
    if (stages.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 2))
      detail::fail(source, ": too many stages for int indices, got ", stages.size());
    p = partition::from_groups(groups, g.num_layers());
  } else if (const auto layout = doc.find("layout"); layout != doc.end()) {
    p = partition_from_layout(g, r.string(*layout, "layout"));
  } else {
    const int stages = r.positive_int(doc.at("balanced"), "balanced");
    balance_options options;
    if (const auto cap = doc.find("memory_cap"); cap != doc.end()) options.memory_cap = r.non_negative(*cap, "memory_cap");
    p = balanced_partition(g, stages, options);
  }
  p.check(g);
  return p;
}

/// The "layerpipe.partition" document of `p` over `g`, in the "stages" form (layer names per
/// stage, ascending). Checks p against g first (p.check(g)), so what is written reads back.
inline std::string partition_to_json(const graph& g, const partition& p) {
  using detail::json_io::ordered_json;
  p.check(g);
  ordered_json doc;
  doc["format"] = "layerpipe.partition";
  doc["version"] = 1;
  ordered_json stages = ordered_json::array();
  for (int s = 0; s < p.num_stages(); ++s) {
    ordered_json names = ordered_json::array();
    for (int l : p.layers_of(s)) names.push_back(g.at(l).name);
    stages.push_back(std::move(names));
  }
  doc["stages"] = std::move(stages);
  return detail::json_io::write_document(doc);
}

// ---------------------------------------------------------------------------------------------
// Delay plans (results of retime/layerpipe.hpp)

/// The "layerpipe.delay_plan" document of `plan` = derive_delays(g, p): per layer, per network
/// edge and per stage, with totals. Checks that the plan has the shape of g and p first.
inline std::string delay_plan_to_json(const graph& g, const partition& p, const delay_plan& plan) {
  using detail::json_io::ordered_json;
  using detail::json_io::number;
  p.check(g);
  const auto n = static_cast<std::size_t>(g.num_layers());
  const auto stages = static_cast<std::size_t>(p.num_stages());
  const auto shape = [&](const char* what, std::size_t got, std::size_t want, const char* of) {
    if (got != want)
      detail::fail("delay_plan_to_json: the plan does not fit the network: ", what, " has ", got, " entries for ",
                   want, " ", of);
  };
  if (plan.stages != p.num_stages())
    detail::fail("delay_plan_to_json: the plan does not fit the network: it has ", plan.stages,
                 " stages, the partition ", p.num_stages());
  shape("delay_clocks", plan.delay_clocks.size(), n, "layers");
  shape("local_stash_depth", plan.local_stash_depth.size(), n, "layers");
  shape("weight_versions", plan.weight_versions.size(), n, "layers");
  shape("stash_bytes_per_layer", plan.stash_bytes_per_layer.size(), n, "layers");
  shape("weight_bytes_per_layer", plan.weight_bytes_per_layer.size(), n, "layers");
  shape("stash", plan.stash.size(), static_cast<std::size_t>(g.num_edges()), "edges");
  shape("stash_bytes_per_stage", plan.stash_bytes_per_stage.size(), stages, "stages");
  shape("weight_bytes_per_stage", plan.weight_bytes_per_stage.size(), stages, "stages");

  ordered_json doc;
  doc["format"] = "layerpipe.delay_plan";
  doc["version"] = 1;
  doc["stages"] = plan.stages;
  ordered_json layers = ordered_json::array();
  for (std::size_t l = 0; l < n; ++l) {
    const int i = static_cast<int>(l);
    ordered_json x;
    x["name"] = g.at(i).name;
    x["stage"] = p.stage_of(i);
    x["delay_clocks"] = plan.delay_clocks[l];
    x["staleness"] = ordered_json{{"systolic", plan.staleness_updates(i, pipelining_style::systolic)},
                                  {"one_f_one_b", plan.staleness_updates(i, pipelining_style::one_f_one_b)}};
    x["weight_versions"] = plan.weight_versions[l];
    x["local_stash_depth"] = plan.local_stash_depth[l];
    x["activation_stash_bytes"] = number(plan.stash_bytes_per_layer[l]);
    x["weight_stash_bytes"] = number(plan.weight_bytes_per_layer[l]);
    layers.push_back(std::move(x));
  }
  doc["layers"] = std::move(layers);
  ordered_json edges = ordered_json::array();
  for (std::size_t e = 0; e < plan.stash.size(); ++e) {
    const edge_stash& s = plan.stash[e];
    if (s.edge != static_cast<int>(e))
      detail::fail("delay_plan_to_json: the plan does not fit the network: stash[", e, "] is for edge ", s.edge);
    const edge& x = g.edges()[e];
    ordered_json y;
    y["from"] = g.at(x.from).name;
    y["to"] = g.at(x.to).name;
    y["forward_registers"] = s.forward_registers;
    y["forward_bytes"] = number(s.forward_bytes);
    y["stash_depth"] = s.depth;
    y["stash_bytes"] = number(s.bytes);
    edges.push_back(std::move(y));
  }
  doc["edges"] = std::move(edges);
  ordered_json per_stage = ordered_json::array();
  double activation_total = 0, weight_total = 0;  // summed in stage order
  for (std::size_t st = 0; st < stages; ++st) {
    ordered_json names = ordered_json::array();
    for (int l : p.layers_of(static_cast<int>(st))) names.push_back(g.at(l).name);
    ordered_json y;
    y["stage"] = st;
    y["layers"] = std::move(names);
    y["activation_stash_bytes"] = number(plan.stash_bytes_per_stage[st]);
    y["weight_stash_bytes"] = number(plan.weight_bytes_per_stage[st]);
    per_stage.push_back(std::move(y));
    activation_total += plan.stash_bytes_per_stage[st];
    weight_total += plan.weight_bytes_per_stage[st];
  }
  doc["stage_totals"] = std::move(per_stage);
  doc["totals"] = ordered_json{{"activation_stash_bytes", number(activation_total)},
                               {"weight_stash_bytes", number(weight_total)}};
  return detail::json_io::write_document(doc);
}

}  // namespace layerpipe
