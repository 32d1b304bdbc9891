// Chrome trace output: valid JSON (checked by a small strict parser below), one complete event
// per span, metadata for the device tracks.
#include "layerpipe_test.hpp"

#include <layerpipe/io/chrome_trace.hpp>
#include <layerpipe/schedule/schedule.hpp>
#include <layerpipe/sim/cost_model.hpp>
#include <layerpipe/sim/simulate.hpp>

#include <cctype>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace layerpipe;

namespace {

/// A JSON value, enough to inspect a trace: strict RFC 8259 syntax, numbers as double.
struct json {
  enum class type { null, boolean, number, string, array, object } kind = type::null;
  bool flag = false;
  double number = 0.0;
  std::string text;
  std::vector<json> items;
  std::map<std::string, json> fields;

  const json& operator[](const std::string& key) const {
    auto it = fields.find(key);
    if (it == fields.end()) throw std::runtime_error("no field " + key);
    return it->second;
  }
  bool has(const std::string& key) const { return fields.count(key) != 0; }
};

class json_parser {
public:
  explicit json_parser(const std::string& in) : in_(in) {}
  json parse() {
    json v = value();
    skip();
    if (pos_ != in_.size()) error("trailing characters");
    return v;
  }

private:
  [[noreturn]] void error(const std::string& why) const {
    throw std::runtime_error("JSON error at " + std::to_string(pos_) + ": " + why);
  }
  void skip() {
    while (pos_ < in_.size() && (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\r' || in_[pos_] == '\t'))
      ++pos_;
  }
  char peek() {
    skip();
    if (pos_ >= in_.size()) error("unexpected end");
    return in_[pos_];
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++pos_;
  }
  void literal(const std::string& word) {
    if (in_.compare(pos_, word.size(), word) != 0) error("bad literal");
    pos_ += word.size();
  }
  json value() {
    json v;
    const char c = peek();
    if (c == '{') {
      v.kind = json::type::object;
      ++pos_;
      if (peek() == '}') { ++pos_; return v; }
      for (;;) {
        if (peek() != '"') error("object key must be a string");
        std::string key = string();
        expect(':');
        if (v.fields.count(key)) error("duplicate key " + key);
        v.fields[key] = value();
        if (peek() == ',') { ++pos_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = json::type::array;
      ++pos_;
      if (peek() == ']') { ++pos_; return v; }
      for (;;) {
        v.items.push_back(value());
        if (peek() == ',') { ++pos_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = json::type::string;
      v.text = string();
      return v;
    }
    if (c == 't') { literal("true"); v.kind = json::type::boolean; v.flag = true; return v; }
    if (c == 'f') { literal("false"); v.kind = json::type::boolean; return v; }
    if (c == 'n') { literal("null"); return v; }
    v.kind = json::type::number;
    v.number = number();
    return v;
  }
  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (pos_ >= in_.size()) error("unterminated string");
      const char c = in_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("raw control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= in_.size()) error("unterminated escape");
      const char e = in_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (pos_ + 4 > in_.size()) error("short \\u escape");
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = in_[pos_++];
            if (!std::isxdigit(static_cast<unsigned char>(h))) error("bad \\u escape");
            code = code * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          if (code >= 0x80) error("test parser handles ASCII \\u escapes only");
          out += static_cast<char>(code);
          break;
        }
        default: error("bad escape");
      }
    }
  }
  double number() {
    // JSON grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    const std::size_t start = pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < in_.size() && std::isdigit(static_cast<unsigned char>(in_[pos_]))) ++pos_;
      if (pos_ == from) error("digit expected");
    };
    if (in_[pos_] == '-') ++pos_;
    if (pos_ < in_.size() && in_[pos_] == '0') ++pos_;
    else digits();
    if (pos_ < in_.size() && in_[pos_] == '.') { ++pos_; digits(); }
    if (pos_ < in_.size() && (in_[pos_] == 'e' || in_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < in_.size() && (in_[pos_] == '+' || in_[pos_] == '-')) ++pos_;
      digits();
    }
    return std::strtod(in_.substr(start, pos_ - start).c_str(), nullptr);
  }
  const std::string& in_;
  std::size_t pos_ = 0;
};

json parse_json(const std::string& text) { return json_parser(text).parse(); }

schedule one_f_one_b_2x2() {
  schedule s;
  s.placement = placement::loop(2);
  s.micro_batches = 2;
  s.name = "1F1B";
  s.actions = {{parse_action("0F0"), parse_action("0F1"), parse_action("0B0"), parse_action("0B1")},
               {parse_action("1F0"), parse_action("1B0"), parse_action("1F1"), parse_action("1B1")}};
  return s;
}

}  // namespace

TEST_CASE("the test's JSON parser is strict", "[io][chrome_trace]") {
  REQUIRE(parse_json(R"({"a":[1,2.5e3,-0.5],"b":"x\"y","c":true,"d":null})")["a"].items[1].number == 2500.0);
  REQUIRE_THROWS(parse_json(R"({"a":1,})"));
  REQUIRE_THROWS(parse_json(R"({"a":01})"));
  REQUIRE_THROWS(parse_json("{\"a\":\"x\ny\"}"));
  REQUIRE_THROWS(parse_json(R"({"a":nan})"));
  REQUIRE_THROWS(parse_json(R"({"a":1} x)"));
  REQUIRE_THROWS(parse_json(R"({"a":1,"a":2})"));
}

TEST_CASE("a simulated timeline as a Chrome trace", "[io][chrome_trace]") {
  const auto s = one_f_one_b_2x2();
  const timeline t = simulate(s, cost_model::uniform({0.001, 0.0005, 0.0015}));  // seconds
  const std::string text = chrome_trace(t);
  const json root = parse_json(text);
  REQUIRE(root.kind == json::type::object);
  REQUIRE(root["displayTimeUnit"].text == "ms");
  const auto& events = root["traceEvents"].items;

  std::size_t complete = 0;
  std::map<int, std::string> thread_names;
  std::map<int, double> sort_index;
  for (const auto& e : events) {
    REQUIRE(e["pid"].number == 0);
    const std::string ph = e["ph"].text;
    if (ph == "M") {
      const int tid = static_cast<int>(e["tid"].number);
      if (e["name"].text == "thread_name") thread_names[tid] = e["args"]["name"].text;
      if (e["name"].text == "thread_sort_index") sort_index[tid] = e["args"]["sort_index"].number;
      if (e["name"].text == "process_name") REQUIRE(e["args"]["name"].text == "layerpipe");
      continue;
    }
    REQUIRE(ph == "X");
    ++complete;
    // Find the span this event stands for and compare every field.
    bool found = false;
    for (const auto& x : t.spans) {
      if (to_string(x.what) != e["name"].text) continue;
      found = true;
      REQUIRE(e["tid"].number == x.device);
      REQUIRE(e["cat"].text == std::string(token(x.what.kind)));
      REQUIRE(layerpipe::test::close(e["ts"].number, x.start * 1e6));
      REQUIRE(layerpipe::test::close(e["dur"].number, x.duration() * 1e6));
      REQUIRE(e["args"]["step"].number == static_cast<double>(x.step));
    }
    REQUIRE(found);
  }
  REQUIRE(complete == t.spans.size());
  REQUIRE(thread_names == std::map<int, std::string>{{0, "device 0"}, {1, "device 1"}});
  REQUIRE(sort_index == std::map<int, double>{{0, 0.0}, {1, 1.0}});

  // Streamed and string forms agree; the time scale is an option.
  std::ostringstream out;
  write_chrome_trace(out, t);
  REQUIRE(out.str() == text);
  const json ms = parse_json(chrome_trace(t, {1e3, "run"}));  // costs in milliseconds
  for (const auto& e : ms["traceEvents"].items) {
    if (e["ph"].text == "X" && e["name"].text == "0B1") REQUIRE(layerpipe::test::close(e["ts"].number, 7.0));
    if (e["name"].text == "process_name") REQUIRE(e["args"]["name"].text == "run");
  }
}

TEST_CASE("Chrome trace escapes names and keeps zero-length transfers", "[io][chrome_trace]") {
  timeline t;
  t.num_devices = 3;  // device 2 ran nothing but still gets a named track
  t.spans.push_back({0, 0, parse_action("(0F1;1B0)OVERLAP_F_B"), 0.0, 2.5});
  t.spans.push_back({1, 0, parse_action("1SEND_B0"), 2.5, 2.5});
  const std::string name = "run \"A\"\\B\n\ttab\x01";
  const json root = parse_json(chrome_trace(t, {1.0, name}));
  std::size_t x = 0, threads = 0;
  for (const auto& e : root["traceEvents"].items) {
    if (e["ph"].text == "X") {
      ++x;
      if (e["tid"].number == 0) {
        REQUIRE(e["name"].text == "(0F1;1B0)OVERLAP_F_B");
        REQUIRE(e["dur"].number == 2.5);
      } else {
        REQUIRE(e["name"].text == "1SEND_B0");
        REQUIRE(e["cat"].text == "SEND_B");
        REQUIRE(e["dur"].number == 0.0);
      }
    }
    if (e["name"].text == "process_name") REQUIRE(e["args"]["name"].text == name);
    if (e["name"].text == "thread_name") ++threads;
  }
  REQUIRE(x == 2);
  REQUIRE(threads == 3);
  // An empty timeline is still a valid trace.
  REQUIRE(parse_json(chrome_trace(timeline{}))["traceEvents"].items.size() == 1);
}

TEST_CASE("Chrome trace rejects what JSON cannot hold", "[io][chrome_trace][error]") {
  timeline t;
  t.num_devices = 1;
  t.spans.push_back({0, 0, parse_action("0F0"), 0.0, std::numeric_limits<double>::infinity()});
  REQUIRE_THROWS_WITH(chrome_trace(t), Catch::Contains("non-finite") && Catch::Contains("0F0"));
  t.spans[0].end = 1.0;
  REQUIRE_THROWS_WITH(chrome_trace(t, {0.0, "x"}), Catch::Contains("microseconds_per_unit") && Catch::Contains("0"));
  REQUIRE_THROWS_WITH(chrome_trace(t, {-1.0, "x"}), Catch::Contains("-1"));
  REQUIRE_THROWS_WITH(chrome_trace(t, {std::numeric_limits<double>::quiet_NaN(), "x"}), Catch::Contains("nan"));
}
