// Networks, partitions and delay plans as JSON (io/json.hpp, component layerpipe::json).
#include "layerpipe_test.hpp"

#include <layerpipe/graph/balance.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layout.hpp>
#include <layerpipe/graph/partition.hpp>
#include <layerpipe/io/json.hpp>
#include <layerpipe/retime/layerpipe.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using layerpipe::edge;
using layerpipe::graph;
using layerpipe::layer;
using layerpipe::layer_kind;
using layerpipe::partition;

namespace {

// A small transformer: embed -> block0 -> block1 -> head.
const char* const chain_text = R"({
  "format": "layerpipe.network", "version": 1, "name": "tiny",
  "layers": [
    {"name": "embed", "kind": "embedding", "forward": 1.0, "input_grad": 0.5, "weight_grad": 0.25,
     "activation_bytes": 4096, "weight_bytes": 1e6},
    {"name": "block0", "kind": "transformer", "forward": 2, "input_grad": 2, "weight_grad": 2},
    {"name": "block1", "kind": "transformer", "forward": 2, "input_grad": 2, "weight_grad": 2},
    {"name": "head"}
  ],
  "edges": {"chain": true}
})";

// in -> a -> c, in -> b -> c, c -> out, plus a skip in -> out.
const char* const dag_text = R"({"format": "layerpipe.network", "version": 1,
  "layers": [{"name": "in", "forward": 1}, {"name": "a", "forward": 2}, {"name": "b", "forward": 3},
             {"name": "c", "forward": 1}, {"name": "out", "kind": "head", "forward": 1}],
  "edges": [["in", "a"], ["in", "b"], ["a", "c"], ["b", "c"], ["c", "out"], ["in", "out"]]})";

// A network document with `layers` and `edges` spliced in.
std::string network(const std::string& layers, const std::string& edges = R"({"chain": true})") {
  return R"({"format": "layerpipe.network", "version": 1, "layers": )" + layers + R"(, "edges": )" + edges + "}";
}

std::string partition_doc(const std::string& body) {
  return R"({"format": "layerpipe.partition", "version": 1, )" + body + "}";
}

graph transformer(int blocks) {
  std::vector<layer> layers{{"embed", 1, 1, 1, 100, 1000, layer_kind::embedding}};
  for (int i = 0; i < blocks; ++i)
    layers.push_back({"t" + std::to_string(i), 2, 2, 2, 100, 1000, layer_kind::transformer});
  layers.push_back({"head", 1, 1, 1, 10, 500, layer_kind::head});
  return graph::chain(std::move(layers));
}

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// nlohmann's own "line L, column C" for a malformed text, read from its message.
std::string nlohmann_position(const std::string& text) {
  try {
    const auto parsed = nlohmann::json::parse(text);
    return "parsed " + parsed.dump();
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    const auto at = what.find("line ");
    return what.substr(at, what.find(':', at) - at);
  }

}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Networks

TEST_CASE("a chain network reads with defaults, kinds and its name", "[io][json]") {
  const auto doc = layerpipe::network_document_from_json(chain_text);
  const graph& g = doc.network;
  CHECK(doc.name == "tiny");
  REQUIRE(g.num_layers() == 4);
  CHECK(g.is_chain());
  CHECK(g.num_edges() == 3);
  const layer& e = g.at(0);
  CHECK(e.name == "embed");
  CHECK(e.kind == layer_kind::embedding);
  CHECK(e.forward == 1.0);
  CHECK(e.input_grad == 0.5);
  CHECK(e.weight_grad == 0.25);
  CHECK(e.activation_bytes == 4096);
  CHECK(e.weight_bytes == 1e6);
  CHECK(g.at(1).kind == layer_kind::transformer);
  // Only the name is required: everything else defaults to 0 and generic.
  CHECK(g.at(3) == layer{"head"});
  CHECK(layerpipe::network_from_json(chain_text) == g);
}

TEST_CASE("a network with branches and a skip reads its edges by name", "[io][json]") {
  const graph g = layerpipe::network_from_json(dag_text);
  REQUIRE(g.num_layers() == 5);
  REQUIRE(g.num_edges() == 6);
  CHECK(g.edges()[1] == edge{0, 2});
  CHECK(g.edges()[5] == edge{0, 4});
  CHECK(std::vector<int>(g.successors(0).begin(), g.successors(0).end()) == std::vector<int>{1, 2, 4});
  CHECK(!g.is_chain());
  // An empty edge list is a network of unconnected layers, not a chain.
  const graph loose = layerpipe::network_from_json(network(R"([{"name": "x"}, {"name": "y"}])", "[]"));
  CHECK(loose.num_edges() == 0);
}

TEST_CASE("networks round-trip through JSON", "[io][json]") {
  for (const graph& g : {layerpipe::network_from_json(chain_text), layerpipe::network_from_json(dag_text), transformer(12)}) {
    const std::string text = layerpipe::network_to_json(g);
    const graph back = layerpipe::network_from_json(text);
    CHECK(back == g);
    CHECK(layerpipe::network_to_json(back) == text);  // and the text is stable
  }
  // Chain edges listed out of order are not the chain shorthand: the order survives.
  const graph shuffled({{"a"}, {"b"}, {"c"}}, {{1, 2}, {0, 1}});
  const std::string text = layerpipe::network_to_json(shuffled);
  CHECK_THAT(text, Catch::Contains(R"(["b", "c"])"));
  CHECK(layerpipe::network_from_json(text) == shuffled);
  // The name goes through network_document.
  const auto doc = layerpipe::network_document_from_json(layerpipe::network_to_json(shuffled, "gpt-3"));
  CHECK(doc.name == "gpt-3");
  CHECK(doc.network == shuffled);
}

TEST_CASE("the network writer: header first, chain shorthand, integers where exact", "[io][json]") {
  const graph g = layerpipe::network_from_json(chain_text);
  const std::string text = layerpipe::network_to_json(g);
  CHECK(text.starts_with("{\n  \"format\": \"layerpipe.network\",\n  \"version\": 1,\n"));
  CHECK_THAT(text, Catch::Contains(R"("edges": {"chain": true})"));
  CHECK_THAT(text, Catch::Contains(R"({"name": "embed", "kind": "embedding", "forward": 1, "input_grad": 0.5, )"
                                   R"("weight_grad": 0.25, "activation_bytes": 4096, "weight_bytes": 1000000})"));
  CHECK_THAT(text, Catch::Contains(R"({"name": "head", "kind": "generic", "forward": 0, )"));
  // One layer per line.
  CHECK(std::count(text.begin(), text.end(), '\n') == 11);
  // The text is JSON that nlohmann reads back with the same values.
  const auto parsed = nlohmann::json::parse(text);
  CHECK(parsed["layers"][0]["weight_bytes"].get<double>() == 1e6);
  CHECK(parsed["layers"].size() == 4);
}

TEST_CASE("doubles round-trip bit for bit", "[io][json]") {
  std::vector<double> values{0.1, 1.0 / 3.0, 2.0 / 3.0, 5e-324, 2.2250738585072014e-308, DBL_MAX, 1e22, 1e23,
                             9007199254740991.0, 9007199254740992.0, 9007199254740994.0, 18446744073709551616.0,
                             123456789.125, 4096.0, 0.0, 1e-7, 3.141592653589793, 299792458.0};
  std::mt19937_64 random(20240611);
  for (int i = 0; i < 2000; ++i) {
    // random finite non-negative doubles, over every exponent
    double d = std::bit_cast<double>(random() & 0x7FFFFFFFFFFFFFFFull);
    if (std::isfinite(d)) values.push_back(d);
  }
  std::vector<layer> layers;
  for (std::size_t i = 0; i + 4 < values.size(); i += 5)
    layers.push_back({"l" + std::to_string(i), values[i], values[i + 1], values[i + 2], values[i + 3], values[i + 4]});
  const graph g = graph::chain(layers);
  const graph back = layerpipe::network_from_json(layerpipe::network_to_json(g));
  REQUIRE(back.num_layers() == g.num_layers());
  for (int i = 0; i < g.num_layers(); ++i) {
    const layer &a = g.at(i), &b = back.at(i);
    INFO("layer " << i);
    CHECK(same_bits(a.forward, b.forward));
    CHECK(same_bits(a.input_grad, b.input_grad));
    CHECK(same_bits(a.weight_grad, b.weight_grad));
    CHECK(same_bits(a.activation_bytes, b.activation_bytes));
    CHECK(same_bits(a.weight_bytes, b.weight_bytes));
  }
  // An integer beyond 2^53 in the file reads as the nearest double, as any JSON reader does.
  const graph big = layerpipe::network_from_json(network(R"([{"name": "x", "weight_bytes": 18446744073709551615}])"));
  CHECK(big.at(0).weight_bytes == 18446744073709551616.0);
}

TEST_CASE("read_network and write_network use streams", "[io][json]") {
  const graph g = layerpipe::network_from_json(dag_text);
  std::stringstream file;
  layerpipe::write_network(file, g, "dag");
  CHECK(layerpipe::read_network(file) == g);
  std::istringstream bad("{\"format\": \"layerpipe.network\",\n  \"version\": 1,\n  oops}");
  REQUIRE_THROWS_WITH(layerpipe::read_network(bad, "model.json"),
                      Catch::StartsWith("layerpipe: model.json: line 3, column 3: ") && Catch::Contains("invalid literal"));
}

TEST_CASE("malformed JSON is reported at its line and column", "[io][json][errors]") {
  // The column of the offending character, as nlohmann counts it on ASCII text.
  const std::vector<std::string> texts{
      "tru x",  "{\n \"a\": 1,\n \"b\": ]\n}", "{\"a\":1", "", "{\"a\":1}  x", "[1,2,]",
      "[1,\n2\n", "{\n\n   \"layers\": [\n  {\"name\" \"x\"}]}", "\n\n\n  {,}", "{\"a\": 01}"};
  for (const auto& text : texts) {
    INFO(text);
    const std::string expected = nlohmann_position(text);
    REQUIRE(expected.starts_with("line "));
    REQUIRE_THROWS_WITH(layerpipe::network_from_json(text),
                        Catch::StartsWith("layerpipe: network JSON: " + expected + ": "));
  }
  REQUIRE_THROWS_WITH(layerpipe::network_from_json("{\n \"a\": 1,\n \"b\": ]\n}"),
                      "layerpipe: network JSON: line 3, column 7: syntax error while parsing value - unexpected ']'; "
                      "expected '[', '{', or a literal");
  // A number too large for a double is a syntax error too, at the start of the number.
  REQUIRE_THROWS_WITH(layerpipe::network_from_json(network("[{\"name\": \"x\",\n \"forward\": 1e400}]")),
                      Catch::Contains("line 2, column 13: number overflow parsing '1e400'"));
  // Columns count characters, not bytes: "ü" is two bytes but one column.
  REQUIRE_THROWS_WITH(layerpipe::network_from_json("[\"\xC3\xBC\xC3\xBC\", x]"), Catch::Contains("line 1, column 8: "));
  // A UTF-8 byte-order mark is skipped, and takes no column.
  REQUIRE_THROWS_WITH(layerpipe::network_from_json("\xEF\xBB\xBF  x"), Catch::Contains("line 1, column 3: "));
  REQUIRE_THROWS_WITH(layerpipe::network_from_json("\xEF\xBB\xBF{\"format\": 1}"), Catch::Contains("format must be"));
  // A raw newline inside a string points at the newline itself.
  REQUIRE_THROWS_WITH(layerpipe::network_from_json("{\"a\":\n\"b\n\"}"), Catch::Contains("line 2, column 3: "));
  REQUIRE_THROWS_WITH(layerpipe::network_from_json("\"\xFF\""), Catch::Contains("line 1, column 2: ") &&
                                                                    Catch::Contains("ill-formed UTF-8"));
}

TEST_CASE("a key repeated in one object is an error naming the object", "[io][json][errors]") {
  REQUIRE_THROWS_WITH(
      layerpipe::network_from_json(network(R"([{"name": "a"}, {"name": "b", "forward": 1, "forward": 2}])")),
      "layerpipe: network JSON: duplicate key \"forward\" in layers[1]");
  REQUIRE_THROWS_WITH(layerpipe::network_from_json(R"({"format": "layerpipe.network", "format": "x"})"),
                      "layerpipe: network JSON: duplicate key \"format\" in the document");
  REQUIRE_THROWS_WITH(layerpipe::network_from_json(network(R"([{"name": "a"}])", R"({"chain": true, "chain": true})")),
                      Catch::Contains("duplicate key \"chain\" in edges"));
}

TEST_CASE("the document header: an object, its format and its version", "[io][json][errors]") {
  using layerpipe::network_from_json;
  REQUIRE_THROWS_WITH(network_from_json("[1, 2]"), "layerpipe: network JSON: the document must be a JSON object, got an array");
  REQUIRE_THROWS_WITH(network_from_json(R"({"version": 1})"), Catch::Contains("has no \"format\""));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.partition", "version": 1})"),
                      "layerpipe: network JSON: format must be \"layerpipe.network\", got \"layerpipe.partition\"");
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": 3, "version": 1})"), Catch::Contains("format must be"));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network"})"), Catch::Contains("has no \"version\""));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": 2})"),
                      "layerpipe: network JSON: unsupported version 2 of layerpipe.network (this build reads version 1)");
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": -1})"),
                      Catch::Contains("unsupported version -1"));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": "1"})"),
                      "layerpipe: network JSON: version must be an integer, got \"1\"");
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": 1.0})"),
                      Catch::Contains("version must be an integer, got 1.0"));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": 1, "edges": []})"),
                      Catch::Contains("has no \"layers\""));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": 1, "layers": [{"name": "a"}]})"),
                      Catch::Contains("has no \"edges\"") && Catch::Contains("{\"chain\": true}"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a"}])").insert(1, R"("nmae": "x", )")),
                      Catch::Contains("the document has an unknown key \"nmae\" (known keys: format, version, name, layers, edges)"));
  REQUIRE_THROWS_WITH(network_from_json(R"({"format": "layerpipe.network", "version": 1, "name": 7})"),
                      "layerpipe: network JSON: name must be a string, got 7");
}

TEST_CASE("layer schema errors name the JSON path and the value", "[io][json][errors]") {
  using layerpipe::network_from_json;
  const std::string three = R"({"name": "a"}, {"name": "b"}, {"name": "c"}, )";
  REQUIRE_THROWS_WITH(network_from_json(network("[" + three + R"({"name": "d", "forward": "x"}])")),
                      "layerpipe: network JSON: layers[3].forward must be a non-negative number, got \"x\"");
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "weight_bytes": -1}])")),
                      "layerpipe: network JSON: layers[0].weight_bytes must be a non-negative number, got -1");
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "input_grad": true}])")),
                      Catch::Contains("layers[0].input_grad must be a non-negative number, got true"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "activation_bytes": null}])")),
                      Catch::Contains("layers[0].activation_bytes must be a non-negative number, got null"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "weight_grad": [1]}])")),
                      Catch::Contains("layers[0].weight_grad must be a non-negative number, got [1]"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "foward": 1}])")),
                      Catch::Contains("layers[0] has an unknown key \"foward\" (known keys: name, kind, forward,"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"forward": 1}])")),
                      "layerpipe: network JSON: layers[0] has no \"name\"");
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": 12}])")),
                      "layerpipe: network JSON: layers[0].name must be a string, got 12");
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a"}, "b"])")),
                      "layerpipe: network JSON: layers[1] must be an object, got \"b\"");
  REQUIRE_THROWS_WITH(network_from_json(network(R"({"name": "a"})")),
                      Catch::Contains("layers must be an array, got {\"name\":\"a\"}"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "kind": "transfomer"}])")),
                      Catch::StartsWith("layerpipe: network JSON: layers[0].kind: ") && Catch::Contains("'transfomer'"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "kind": 1}])")),
                      Catch::Contains("layers[0].kind must be a string, got 1"));
  // Long values are cut in messages.
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a", "forward": ")" + std::string(200, 'z') + "\"}]")),
                      Catch::EndsWith("zzz...") && !Catch::Contains(std::string(100, 'z')));
}

TEST_CASE("edge schema errors name the JSON path", "[io][json][errors]") {
  using layerpipe::network_from_json;
  const std::string two = R"([{"name": "a"}, {"name": "b"}])";
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"([["a", "b"], ["b", "blok"]])")),
                      "layerpipe: network JSON: edges[1][1] names no layer of the network: \"blok\"");
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"([["a", "b", "c"]])")),
                      "layerpipe: network JSON: edges[0] must be a [from, to] pair of layer names, got [\"a\",\"b\",\"c\"]");
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"([{"from": "a", "to": "b"}])")),
                      Catch::Contains("edges[0] must be a [from, to] pair"));
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"([[0, 1]])")),
                      "layerpipe: network JSON: edges[0][0] must be a string, got 0");
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"({"chain": false})")),
                      Catch::Contains("edges.chain must be true (otherwise list the edges as [from, to] pairs), got false"));
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"({})")), Catch::Contains("edges.chain must be true"));
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"({"chain": true, "skip": 1})")),
                      Catch::Contains("edges has an unknown key \"skip\""));
  REQUIRE_THROWS_WITH(network_from_json(network(two, R"("chain")")),
                      Catch::Contains("edges must be a list of [from, to] pairs or {\"chain\": true}, got \"chain\""));
}

TEST_CASE("graph validation errors come through unchanged", "[io][json][errors]") {
  using layerpipe::network_from_json;
  REQUIRE_THROWS_WITH(network_from_json(network("[]")), Catch::Contains("at least one layer"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": "a"}, {"name": "b"}, {"name": "a"}])")),
                      Catch::Contains("duplicate layer name 'a' (layers 0 and 2)"));
  REQUIRE_THROWS_WITH(network_from_json(network(R"([{"name": ""}])")), Catch::Contains("empty name"));
  const std::string three = R"([{"name": "a"}, {"name": "b"}, {"name": "c"}])";
  REQUIRE_THROWS_WITH(network_from_json(network(three, R"([["a", "b"], ["b", "c"], ["c", "a"]])")),
                      Catch::Contains("the network has a cycle: a -> b -> c -> a"));
  REQUIRE_THROWS_WITH(network_from_json(network(three, R"([["b", "b"]])")), Catch::Contains("self-loop on layer 'b'"));
  REQUIRE_THROWS_WITH(network_from_json(network(three, R"([["a", "b"], ["a", "b"]])")),
                      Catch::Contains("duplicate edge 1"));
}

TEST_CASE("writing a name that is not UTF-8 throws instead of writing bad JSON", "[io][json][errors]") {
  const graph g = graph::chain({{"ok"}, {"bad\xFF"}});
  REQUIRE_THROWS_AS(layerpipe::network_to_json(g), layerpipe::error);
  REQUIRE_THROWS_WITH(layerpipe::network_to_json(g), Catch::StartsWith("layerpipe: cannot write JSON: ") &&
                                                          Catch::Contains("UTF-8"));
}

// ---------------------------------------------------------------------------------------------
// Partitions

TEST_CASE("a partition reads from stage lists and round-trips", "[io][json][partition]") {
  const graph g = layerpipe::network_from_json(chain_text);
  const partition p = layerpipe::partition_from_json(g, partition_doc(R"("stages": [["embed", "block0"], ["block1", "head"]])"));
  CHECK(p == partition::contiguous({2, 2}));
  const std::string text = layerpipe::partition_to_json(g, p);
  CHECK(text == "{\n  \"format\": \"layerpipe.partition\",\n  \"version\": 1,\n  \"stages\": [\n"
                "    [\"embed\", \"block0\"],\n    [\"block1\", \"head\"]\n  ]\n}\n");
  CHECK(layerpipe::partition_from_json(g, text) == p);

  // Stages need not be contiguous in layer order on a DAG: a and b are parallel branches.
  const graph dag = layerpipe::network_from_json(dag_text);
  const partition q = partition::from_groups({{0, 2}, {1, 3}, {4}}, 5);
  q.check(dag);
  CHECK(layerpipe::partition_from_json(dag, layerpipe::partition_to_json(dag, q)) == q);
  // Names may be listed in any order within a stage.
  CHECK(layerpipe::partition_from_json(dag, partition_doc(R"("stages": [["b", "in"], ["c", "a"], ["out"]])")) == q);

  for (int stages = 1; stages <= 14; ++stages) {
    const graph t = transformer(12);
    const partition b = layerpipe::balanced_partition(t, stages);
    CHECK(layerpipe::partition_from_json(t, layerpipe::partition_to_json(t, b)) == b);
  }
}

TEST_CASE("a partition reads from a layout string", "[io][json][partition]") {
  const graph g = transformer(6);
  const partition p = layerpipe::partition_from_json(g, partition_doc(R"("layout": "E|t*3|t*3|L")"));
  CHECK(p == partition::contiguous({1, 3, 3, 1}));
  CHECK(p == layerpipe::partition_from_layout(g, "E|t*3|t*3|L"));
  CHECK(layerpipe::partition_from_json(g, partition_doc(R"("layout": "Et|tt|tt|tL")")) == partition::contiguous({2, 2, 2, 2}));
  REQUIRE_THROWS_WITH(layerpipe::partition_from_json(g, partition_doc(R"("layout": 4)")),
                      "layerpipe: partition JSON: layout must be a string, got 4");
  // Layout errors (here: 5 symbols for 8 layers) come through.
  REQUIRE_THROWS_AS(layerpipe::partition_from_json(g, partition_doc(R"("layout": "E|t*3|L")")), layerpipe::error);
}

TEST_CASE("a partition reads as a balanced split, with an optional memory cap", "[io][json][partition]") {
  const graph g = transformer(10);
  for (int stages = 1; stages <= 6; ++stages) {
    const partition p = layerpipe::partition_from_json(g, partition_doc("\"balanced\": " + std::to_string(stages)));
    CHECK(p == layerpipe::balanced_partition(g, stages));
    CHECK(p.num_stages() == stages);
  }
  // Each transformer layer holds 1100 bytes; a cap of 2300 allows at most two per stage.
  const partition capped = layerpipe::partition_from_json(g, partition_doc(R"("balanced": 6, "memory_cap": 2300)"));
  CHECK(capped == layerpipe::balanced_partition(g, 6, {.memory_cap = 2300}));
  for (int s = 0; s < capped.num_stages(); ++s) {
    double bytes = 0;
    for (int l : capped.layers_of(s)) bytes += g.at(l).memory_bytes();
    CHECK(bytes <= 2300);
  }
  // An impossible cap is balance.hpp's error.
  REQUIRE_THROWS_AS(layerpipe::partition_from_json(g, partition_doc(R"("balanced": 2, "memory_cap": 10)")), layerpipe::error);
  for (const char* bad : {"0", "-2", "2.5", "\"4\"", "true", "4294967296"})
    REQUIRE_THROWS_WITH(layerpipe::partition_from_json(g, partition_doc(std::string("\"balanced\": ") + bad)),
                        "layerpipe: partition JSON: balanced must be a positive integer, got " + std::string(bad));
  REQUIRE_THROWS_WITH(layerpipe::partition_from_json(g, partition_doc(R"("balanced": 2, "memory_cap": "big")")),
                      Catch::Contains("memory_cap must be a non-negative number, got \"big\""));
}

TEST_CASE("partition schema errors name the JSON path and the layer", "[io][json][partition][errors]") {
  const graph g = layerpipe::network_from_json(chain_text);
  using layerpipe::partition_from_json;
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["embed", "block0"], ["blok1", "head"]])")),
                      "layerpipe: partition JSON: stages[1][0] names no layer of the network: \"blok1\"");
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["embed", "block0"], ["block0", "block1", "head"]])")),
                      "layerpipe: partition JSON: stages[1][0]: layer \"block0\" is already in stage 0");
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["embed", "block0"], ["block1"]])")),
                      "layerpipe: partition JSON: stages: layer \"head\" is in no stage");
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["embed", "block0"], "block1"])")),
                      "layerpipe: partition JSON: stages[1] must be an array, got \"block1\"");
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["embed", 1]])")),
                      "layerpipe: partition JSON: stages[0][1] must be a string, got 1");
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": "embed")")),
                      Catch::Contains("stages must be an array, got \"embed\""));
  REQUIRE_THROWS_WITH(partition_from_json(g, R"({"format": "layerpipe.partition", "version": 1})"),
                      Catch::Contains("exactly one of \"stages\", \"layout\" and \"balanced\", got 0"));
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("balanced": 2, "layout": "E|ttL")")),
                      Catch::Contains("exactly one of \"stages\", \"layout\" and \"balanced\", got 2"));
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("layout": "E|ttL", "memory_cap": 5)")),
                      Catch::Contains("\"memory_cap\" goes with \"balanced\" only"));
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("layout": "E|ttL", "stage": 5)")),
                      Catch::Contains("the document has an unknown key \"stage\""));
  REQUIRE_THROWS_WITH(partition_from_json(g, chain_text),
                      "layerpipe: partition JSON: format must be \"layerpipe.partition\", got \"layerpipe.network\"");
  REQUIRE_THROWS_WITH(partition_from_json(g, R"({"format": "layerpipe.partition", "version": 7, "balanced": 1})"),
                      Catch::Contains("unsupported version 7 of layerpipe.partition"));
  REQUIRE_THROWS_WITH(partition_from_json(g, "{\"format\": \"layerpipe.partition\",\n\"version\": 1,\n\"stages\": [[]"),
                      Catch::StartsWith("layerpipe: partition JSON: line 3, column 14: "));
}

TEST_CASE("partition validation errors come through unchanged", "[io][json][partition][errors]") {
  const graph g = layerpipe::network_from_json(chain_text);
  using layerpipe::partition_from_json;
  // An empty stage.
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["embed", "block0"], [], ["block1", "head"]])")),
                      Catch::Contains("stage 1 of 3 is empty"));
  // An edge that goes back from a later stage to an earlier one.
  REQUIRE_THROWS_WITH(partition_from_json(g, partition_doc(R"("stages": [["block1", "head"], ["embed", "block0"]])")),
                      Catch::Contains("edge 1 'block0' -> 'block1' goes from stage 1 back to stage 0"));
  // The writer checks too: a partition of another size, or one with an edge going back.
  REQUIRE_THROWS_WITH(layerpipe::partition_to_json(g, partition::contiguous({2, 1})),
                      Catch::Contains("covers 3 layers but the graph has 4"));
  REQUIRE_THROWS_WITH(layerpipe::partition_to_json(g, partition({1, 1, 0, 0})), Catch::Contains("back to stage"));
}

// ---------------------------------------------------------------------------------------------
// Delay plans

namespace {
// Every per-layer, per-edge and per-stage field of the document against the plan it was written from.
void check_plan_document(const graph& g, const partition& p, const layerpipe::delay_plan& plan) {
  const std::string text = layerpipe::delay_plan_to_json(g, p, plan);
  const auto doc = nlohmann::json::parse(text);
  CHECK(doc["format"] == "layerpipe.delay_plan");
  CHECK(doc["version"] == 1);
  CHECK(doc["stages"] == p.num_stages());
  REQUIRE(doc["layers"].size() == static_cast<std::size_t>(g.num_layers()));
  for (int l = 0; l < g.num_layers(); ++l) {
    const auto& x = doc["layers"][static_cast<std::size_t>(l)];
    const auto u = static_cast<std::size_t>(l);
    INFO("layer " << l);
    CHECK(x["name"] == g.at(l).name);
    CHECK(x["stage"] == p.stage_of(l));
    CHECK(x["delay_clocks"] == plan.delay_clocks[u]);
    CHECK(x["staleness"]["systolic"] == plan.staleness_updates(l, layerpipe::pipelining_style::systolic));
    CHECK(x["staleness"]["one_f_one_b"] == plan.staleness_updates(l, layerpipe::pipelining_style::one_f_one_b));
    CHECK(x["weight_versions"] == plan.weight_versions[u]);
    CHECK(x["local_stash_depth"] == plan.local_stash_depth[u]);
    CHECK(x["activation_stash_bytes"].get<double>() == plan.stash_bytes_per_layer[u]);
    CHECK(x["weight_stash_bytes"].get<double>() == plan.weight_bytes_per_layer[u]);
  }
  REQUIRE(doc["edges"].size() == static_cast<std::size_t>(g.num_edges()));
  for (std::size_t e = 0; e < plan.stash.size(); ++e) {
    const auto& y = doc["edges"][e];
    INFO("edge " << e);
    CHECK(y["from"] == g.at(g.edges()[e].from).name);
    CHECK(y["to"] == g.at(g.edges()[e].to).name);
    CHECK(y["forward_registers"] == plan.stash[e].forward_registers);
    CHECK(y["forward_bytes"].get<double>() == plan.stash[e].forward_bytes);
    CHECK(y["stash_depth"] == plan.stash[e].depth);
    CHECK(y["stash_bytes"].get<double>() == plan.stash[e].bytes);
  }
  REQUIRE(doc["stage_totals"].size() == static_cast<std::size_t>(p.num_stages()));
  double activation = 0, weight = 0;
  for (int s = 0; s < p.num_stages(); ++s) {
    const auto& y = doc["stage_totals"][static_cast<std::size_t>(s)];
    INFO("stage " << s);
    CHECK(y["stage"] == s);
    std::vector<std::string> names;
    for (int l : p.layers_of(s)) names.push_back(g.at(l).name);
    CHECK(y["layers"].get<std::vector<std::string>>() == names);
    CHECK(y["activation_stash_bytes"].get<double>() == plan.stash_bytes_per_stage[static_cast<std::size_t>(s)]);
    CHECK(y["weight_stash_bytes"].get<double>() == plan.weight_bytes_per_stage[static_cast<std::size_t>(s)]);
    activation += plan.stash_bytes_per_stage[static_cast<std::size_t>(s)];
    weight += plan.weight_bytes_per_stage[static_cast<std::size_t>(s)];
  }
  CHECK(doc["totals"]["activation_stash_bytes"].get<double>() == activation);
  CHECK(doc["totals"]["weight_stash_bytes"].get<double>() == weight);
}
}  // namespace

TEST_CASE("a delay plan is written per layer, per edge and per stage", "[io][json][delays]") {
  // REFERENCE §3.4: 6 layers split {1},{2,3,4},{5,6} -> delays 4, 2, 2, 2, 0, 0.
  const graph g = layerpipe::network_from_json(network(
      R"([{"name": "l1", "forward": 1, "activation_bytes": 10, "weight_bytes": 100},
          {"name": "l2", "forward": 1, "activation_bytes": 20, "weight_bytes": 200},
          {"name": "l3", "forward": 1, "activation_bytes": 30, "weight_bytes": 300},
          {"name": "l4", "forward": 1, "activation_bytes": 40, "weight_bytes": 400},
          {"name": "l5", "forward": 1, "activation_bytes": 50, "weight_bytes": 500},
          {"name": "l6", "forward": 1, "activation_bytes": 60, "weight_bytes": 600}])"));
  const partition p = layerpipe::partition_from_json(g, partition_doc(R"("stages": [["l1"], ["l2", "l3", "l4"], ["l5", "l6"]])"));
  const auto plan = layerpipe::derive_delays(g, p);
  REQUIRE(plan.delay_clocks == std::vector<std::int64_t>{4, 2, 2, 2, 0, 0});
  check_plan_document(g, p, plan);
  const auto doc = nlohmann::json::parse(layerpipe::delay_plan_to_json(g, p, plan));
  std::vector<std::int64_t> delays, one_f_one_b;
  for (const auto& x : doc["layers"]) {
    delays.push_back(x["delay_clocks"].get<std::int64_t>());
    one_f_one_b.push_back(x["staleness"]["one_f_one_b"].get<std::int64_t>());
  }
  CHECK(delays == std::vector<std::int64_t>{4, 2, 2, 2, 0, 0});
  CHECK(one_f_one_b == std::vector<std::int64_t>{2, 1, 1, 1, 0, 0});
  CHECK(doc["stage_totals"][1]["layers"] == nlohmann::json::array({"l2", "l3", "l4"}));
  // The text starts with the header and lists one layer per line.
  const std::string text = layerpipe::delay_plan_to_json(g, p, plan);
  CHECK(text.starts_with("{\n  \"format\": \"layerpipe.delay_plan\",\n  \"version\": 1,\n  \"stages\": 3,\n"));
  CHECK_THAT(text, Catch::Contains("\n    {\"name\": \"l1\", \"stage\": 0, \"delay_clocks\": 4, "
                                   "\"staleness\": {\"systolic\": 4, \"one_f_one_b\": 2}, "));
}

TEST_CASE("delay plans of DAGs list every edge's stash", "[io][json][delays]") {
  const graph dag = layerpipe::network_from_json(dag_text);
  for (const partition& p : {partition::from_groups({{0, 2}, {1, 3}, {4}}, 5), partition::contiguous({1, 1, 1, 1, 1}),
                             partition::contiguous({5}), partition::contiguous({2, 3})}) {
    const auto plan = layerpipe::derive_delays(dag, p);
    check_plan_document(dag, p, plan);
  }
  const graph t = transformer(8);
  for (int stages = 1; stages <= 5; ++stages) {
    const partition p = layerpipe::balanced_partition(t, stages);
    check_plan_document(t, p, layerpipe::derive_delays(t, p));
  }
}

TEST_CASE("a delay plan that does not fit the network is refused", "[io][json][delays][errors]") {
  const graph g = transformer(4);  // 6 layers
  const partition p = partition::contiguous({2, 2, 2});
  const partition q = partition::contiguous({3, 3});
  const auto plan = layerpipe::derive_delays(g, p);
  REQUIRE_THROWS_WITH(layerpipe::delay_plan_to_json(g, q, plan),
                      "layerpipe: delay_plan_to_json: the plan does not fit the network: it has 3 stages, the partition 2");
  const graph other = transformer(5);
  REQUIRE_THROWS_WITH(layerpipe::delay_plan_to_json(other, partition::contiguous({2, 2, 3}), plan),
                      "layerpipe: delay_plan_to_json: the plan does not fit the network: delay_clocks has 6 entries "
                      "for 7 layers");
  auto broken = plan;
  broken.stash.pop_back();
  REQUIRE_THROWS_WITH(layerpipe::delay_plan_to_json(g, p, broken), Catch::Contains("stash has 4 entries for 5 edges"));
  broken = plan;
  std::swap(broken.stash[0], broken.stash[1]);
  REQUIRE_THROWS_WITH(layerpipe::delay_plan_to_json(g, p, broken), Catch::Contains("stash[0] is for edge 1"));
  broken = plan;
  broken.weight_bytes_per_stage[1] = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(layerpipe::delay_plan_to_json(g, p, broken), Catch::Contains("is not finite"));
  // The partition itself must fit the graph.
  REQUIRE_THROWS_WITH(layerpipe::delay_plan_to_json(g, partition({1, 1, 0, 0, 2, 2}), plan), Catch::Contains("back to stage"));
}
