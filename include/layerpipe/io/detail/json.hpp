// layerpipe/io/detail/json.hpp — the parsing and printing machinery behind io/json.hpp.
//
// - parse(): nlohmann's SAX parser feeding a DOM builder of our own, so that every syntax error
//   (number overflow included) comes with its byte position, turned into "line L, column C", and
//   a key repeated in one object is an error naming its JSON path (nlohmann keeps the last one
//   silently, which would turn a typo into a wrong network).
// - reader: schema checks that name the JSON path and the offending value.
// - write_document(): one top-level key per line, one array element per line, so a network of
//   thousands of layers stays readable and diffs line by line.
#pragma once

#include <layerpipe/core/error.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layerpipe::detail::json_io {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

/// 1-based line and column of a 0-based byte offset; columns count UTF-8 characters, as editors
/// do (a leading byte-order mark, which the parser skips, counts for none), and an offset at the
/// end of the text points just past its last character.
struct text_position {
  std::size_t line = 1;
  std::size_t column = 1;
};

inline text_position locate(std::string_view text, std::size_t offset) {
  if (offset > text.size()) offset = text.size();
  text_position at;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset; ++i)
    if (text[i] == '\n') {
      ++at.line;
      line_start = i + 1;
    }
  if (line_start == 0 && text.starts_with("\xEF\xBB\xBF") && offset >= 3) line_start = 3;  // a byte-order mark is no column
  for (std::size_t i = line_start; i < offset; ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++at.column;  // skip continuation bytes
  return at;
}

/// nlohmann's message without its "[json.exception...] " tag and its own "parse error at line..:"
/// position (which we replace by ours).
inline std::string parse_message(std::string_view what) {
  if (what.starts_with('[')) {
    const auto end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  if (what.starts_with("parse error")) {
    const auto colon = what.find(": ");
    if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
  }
  return std::string(what);
}

/// A JSON value for an error message: compact, cut after 60 characters.
inline std::string describe(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

/// Builds the DOM from SAX events; remembers the first error with its position or path.
class dom_builder : public nlohmann::json_sax<json> {
public:
  json root;
  bool failed = false;
  std::size_t error_offset = 0;  // 0-based byte offset of a syntax error
  std::string error_message;     // syntax error text, or the duplicate-key message
  bool error_has_position = false;

  bool null() override { return add(json(nullptr)); }
  bool boolean(bool v) override { return add(json(v)); }
  bool number_integer(number_integer_t v) override { return add(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return add(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return add(json(v)); }
  bool string(string_t& v) override { return add(json(std::move(v))); }
  bool binary(binary_t&) override { return add(json(nullptr)); }  // never produced by the JSON parser

  bool start_object(std::size_t) override { return open(json::object()); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& k) override {
    json& object = *stack_.back().value;
    if (object.contains(k)) {
      failed = true;
      error_message = "duplicate key \"" + k + "\" in " + (stack_.size() == 1 ? std::string("the document") : path());
      return false;
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string& token, const nlohmann::json::exception& ex) override {
    failed = true;
    error_has_position = true;
    error_offset = position > 0 ? position - 1 : 0;  // position counts the bytes read, offender included
    // A number that overflows is well-formed up to its last digit: point at its first one.
    if (ex.id == 406 && !token.empty() && token.size() <= error_offset + 1) error_offset -= token.size() - 1;
    error_message = parse_message(ex.what());
    return false;
  }

private:
  struct frame {
    json* value;
    std::string step;  // how the parent reaches it: ".key" or "[i]"
  };
  std::vector<frame> stack_;
  std::string key_;

  std::string path() const {
    std::string p;
    for (const auto& f : stack_) p += f.step;
    if (!p.empty() && p.front() == '.') p.erase(0, 1);
    return p;
  }

  // Places a value in the open container (or at the root); returns where it went. `step`, when
  // given, receives how the parent reaches it (only containers need one, for error paths).
  json* place(json v, std::string* step) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& parent = *stack_.back().value;
    if (parent.is_array()) {
      if (step) *step = "[" + std::to_string(parent.size()) + "]";
      parent.push_back(std::move(v));
      return &parent.back();  // open containers are last in their parent: never moved meanwhile
    }
    if (step) *step = "." + key_;
    json& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool add(json v) {
    place(std::move(v), nullptr);
    return true;
  }
  bool open(json v) {
    std::string step;
    json* at = place(std::move(v), &step);
    stack_.push_back({at, std::move(step)});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }
};

/// Parses `text`; throws layerpipe::error "<source>: line L, column C: <what>" on bad syntax.
inline json parse(std::string_view text, std::string_view source) {
  dom_builder builder;
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const nlohmann::json::exception& e) {  // not expected: errors go to parse_error()
    detail::fail(source, ": ", parse_message(e.what()));
  }
  if (!ok || builder.failed) {
    if (builder.error_has_position) {
      const auto at = locate(text, builder.error_offset);
      detail::fail(source, ": line ", at.line, ", column ", at.column, ": ", builder.error_message);
    }
    detail::fail(source, ": ", builder.error_message.empty() ? "invalid JSON" : builder.error_message);
  }
  return std::move(builder.root);
}

/// The name of a JSON type for messages: "a string", "an array"...
inline std::string_view type_phrase(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    default: return "a number";
  }
}

/// Schema checks on a parsed document; every error names `source` and the JSON path.
struct reader {
  std::string_view source;

  [[noreturn]] void fail_at(const std::string& path, std::string_view rule, const json& got) const {
    detail::fail(source, ": ", path, " ", rule, ", got ", describe(got));
  }
  [[noreturn]] void fail_at(const std::string& path, std::string_view what) const {
    detail::fail(source, ": ", path, " ", what);
  }

  static std::string member(std::string_view parent, std::string_view key) {
    return parent.empty() ? std::string(key) : std::string(parent) + "." + std::string(key);
  }
  static std::string element(std::string_view parent, std::size_t i) {
    return std::string(parent) + "[" + std::to_string(i) + "]";
  }

  const json& object(const json& v, const std::string& path) const {
    if (!v.is_object()) {
      if (path.empty()) detail::fail(source, ": the document must be a JSON object, got ", type_phrase(v));
      fail_at(path, "must be an object", v);
    }
    return v;
  }
  const json& array(const json& v, const std::string& path) const {
    if (!v.is_array()) fail_at(path, "must be an array", v);
    return v;
  }
  const std::string& string(const json& v, const std::string& path) const {
    if (!v.is_string()) fail_at(path, "must be a string", v);
    return v.get_ref<const std::string&>();
  }
  /// A finite number >= 0 (integers are read as doubles).
  double non_negative(const json& v, const std::string& path) const {
    if (!v.is_number() || v.get<double>() < 0) fail_at(path, "must be a non-negative number", v);
    return v.get<double>();  // finite: the parser rejects overflowing numbers
  }
  /// An integer in [1, INT_MAX].
  int positive_int(const json& v, const std::string& path) const {
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<int>::max());
    // nlohmann stores non-negative integers as unsigned, negative ones as signed
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() < 1 || v.get<std::uint64_t>() > max)
      fail_at(path, "must be a positive integer", v);
    return static_cast<int>(v.get<std::uint64_t>());
  }

  /// Rejects keys outside `known`, so a misspelt field is an error rather than a silent default.
  void known_keys(const json& obj, const std::string& path, std::initializer_list<std::string_view> known) const {
    for (const auto& item : obj.items()) {
      bool found = false;
      for (auto k : known) found = found || item.key() == k;
      if (!found) {
        std::string list;
        for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        detail::fail(source, ": ", path.empty() ? std::string("the document") : path, " has an unknown key \"",
                     item.key(), "\" (known keys: ", list, ")");
      }
    }
  }

  /// Checks "format" and "version" of a top-level document.
  void header(const json& doc, std::string_view format, std::int64_t version) const {
    object(doc, "");
    const auto f = doc.find("format");
    if (f == doc.end())
      detail::fail(source, ": the document has no \"format\": expected \"format\": \"", format, "\"");
    if (!f->is_string() || f->get_ref<const std::string&>() != format)
      fail_at("format", "must be \"" + std::string(format) + "\"", *f);
    const auto v = doc.find("version");
    if (v == doc.end())
      detail::fail(source, ": the document has no \"version\": expected \"version\": ", version);
    if (!v->is_number_integer()) fail_at("version", "must be an integer", *v);
    const bool same = v->is_number_unsigned() ? v->get<std::uint64_t>() == static_cast<std::uint64_t>(version)
                                              : v->get<std::int64_t>() == version;
    if (!same)
      detail::fail(source, ": unsupported version ", describe(*v), " of ", format, " (this build reads version ",
                   version, ")");
  }
};

/// A double as JSON: integral values as integers (4096 rather than 4096.0); others keep
/// nlohmann's shortest representation that reads back to the same double.
inline ordered_json number(double v) {
  if (!std::isfinite(v)) detail::fail("cannot write JSON: the number ", v, " is not finite");
  if (v >= 0 && v < 9007199254740992.0 && v == std::floor(v) && !std::signbit(v))
    return ordered_json(static_cast<std::uint64_t>(v));
  return ordered_json(v);
}

inline std::string dump(const ordered_json& v) {
  try {
    return v.dump();
  } catch (const nlohmann::json::type_error& e) {  // 316: a string that is not UTF-8
    detail::fail("cannot write JSON: ", parse_message(e.what()));
  }
}

/// Compact, with a blank after ':' and ','.
inline void write_inline(std::string& out, const ordered_json& v) {
  if (v.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& item : v.items()) {
      if (!first) out += ", ";
      first = false;
      out += dump(ordered_json(item.key()));
      out += ": ";
      write_inline(out, item.value());
    }
    out += '}';
  } else if (v.is_array()) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out += ", ";
      write_inline(out, v[i]);
    }
    out += ']';
  } else {
    out += dump(v);
  }
}

/// A top-level object: one key per line; a non-empty array of objects or arrays gets one
/// element per line.
inline std::string write_document(const ordered_json& doc) {
  std::string out = "{\n";
  std::size_t k = 0;
  for (const auto& item : doc.items()) {
    out += "  ";
    out += dump(ordered_json(item.key()));
    out += ": ";
    const ordered_json& v = item.value();
    if (v.is_array() && !v.empty() && (v.front().is_object() || v.front().is_array())) {
      out += "[\n";
      for (std::size_t i = 0; i < v.size(); ++i) {
        out += "    ";
        write_inline(out, v[i]);
        out += i + 1 < v.size() ? ",\n" : "\n";
      }
      out += "  ]";
    } else {
      write_inline(out, v);
    }
    out += ++k < doc.size() ? ",\n" : "\n";
  }
  out += "}\n";
  return out;
}

}  // namespace layerpipe::detail::json_io
