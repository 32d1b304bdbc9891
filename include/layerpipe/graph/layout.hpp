// layerpipe/graph/layout.hpp — Megatron-style pipeline layout strings.
//
// One letter per layer, in layer index order; `|` separates stages; `X*N` repeats a letter and
// `(…)*N` a parenthesised group (which may contain `|`); spaces are ignored. Letters:
//   E  an embedding layer            L  the head / loss layer
//   t  a transformer layer (also attention, mlp or generic layers)
//   m  an mlp layer (or generic)     any other letter: a layer of any kind
// Errors (unbalanced parentheses, a bad repeat, an empty stage, an unknown character, a letter
// on the wrong kind of layer) give the 0-based character position in the string.
//
//   auto lay = layerpipe::parse_layout("E|t*3|t*3|L");     // 4 stages, 8 layers
//   lay.layers_per_stage();                                 // {1, 3, 3, 1}
//   layerpipe::parse_layout("E|(tt|)*2L").to_string();      // "E|tt|tt|L"
//   auto p = layerpipe::partition_from_layout(layerpipe::transformer_like(6), "E|t*3|t*3|L");
#pragma once

#include <layerpipe/core/error.hpp>
#include <layerpipe/graph/graph.hpp>
#include <layerpipe/graph/layer.hpp>
#include <layerpipe/graph/partition.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace layerpipe {

/// A parsed layout: symbols after expanding repeats, where each came from, and its stage.
struct layout {
  std::string symbols;         // one letter per layer, e.g. "Etttttt L" without spaces and bars
  std::vector<int> positions;  // 0-based position in the source text of each symbol
  std::vector<int> stage_of;   // stage of each symbol
  int num_stages = 0;

  constexpr int num_symbols() const { return static_cast<int>(symbols.size()); }
  constexpr std::vector<int> layers_per_stage() const {
    std::vector<int> sizes(static_cast<std::size_t>(num_stages), 0);
    for (int s : stage_of) ++sizes[static_cast<std::size_t>(s)];
    return sizes;
  }
  /// The expanded form: letters with `|` between stages, no repeats.
  constexpr std::string to_string() const {
    std::string out;
    for (std::size_t i = 0; i < symbols.size(); ++i) {
      if (i > 0 && stage_of[i] != stage_of[i - 1]) out += '|';
      out += symbols[i];
    }
    return out;
  }
  friend constexpr bool operator==(const layout&, const layout&) = default;
};

/// Guards against `t*1000000000`: the expansion (letters and bars) may not exceed this by default.
inline constexpr std::size_t layout_max_expansion = std::size_t{1} << 26;

namespace detail {
constexpr bool layout_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool layout_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace detail

/// Parses and expands a layout string; throws naming the character position of the problem.
/// `graph_layers` >= 0 says the layout is meant for a graph of that many layers, so an expansion
/// past max_expansion is reported as too many layer symbols for it.
constexpr layout parse_layout(std::string_view text, std::size_t max_expansion = layout_max_expansion,
                              int graph_layers = -1) {
  struct token {
    char c;
    int pos;
  };
  struct group {
    std::size_t start;  // first token of the group
    int open;           // position of its '('
  };
  std::vector<token> tokens;
  std::vector<group> open_groups;  // an explicit stack: deep nesting cannot overflow the call stack
  const std::size_t n = text.size();
  if (n > static_cast<std::size_t>(INT_MAX / 2)) detail::raise("layout: the text is too long, got ", n, " characters");

  // After an atom (a letter, a bar or a closed group) starting at token `start`: an optional *N.
  auto repeat = [&](std::size_t& i, std::size_t start) {
    std::size_t j = i;
    while (j < n && text[j] == ' ') ++j;
    if (j >= n || text[j] != '*') return;
    const std::size_t star = j++;
    while (j < n && text[j] == ' ') ++j;
    long long count = 0;
    const std::size_t digits = j;
    while (j < n && detail::layout_digit(text[j])) {
      count = count * 10 + (text[j] - '0');
      if (count > 1000000000LL)
        detail::raise("layout: the repeat count at position ", digits, " is too large (over 1000000000) in '", text, "'");
      ++j;
    }
    if (j == digits) detail::raise("layout: '*' at position ", star, " needs a repeat count, in '", text, "'");
    if (count < 1) detail::raise("layout: the repeat count at position ", digits, " must be >= 1, got 0, in '", text, "'");
    const std::size_t length = tokens.size() - start;
    const auto copies = static_cast<std::size_t>(count - 1);
    if (copies > 0 && length > (max_expansion - tokens.size()) / copies) {
      if (graph_layers >= 0)
        detail::raise("layout: the repeat at position ", star, " expands '", text,
                      "' to more layer symbols than the graph's ", graph_layers, " layers");
      detail::raise("layout: the repeat at position ", star, " expands '", text, "' past ", max_expansion,
                    " symbols and stage breaks");
    }
    tokens.reserve(tokens.size() + length * copies);
    for (std::size_t r = 0; r < copies; ++r)
      for (std::size_t k = start; k < start + length; ++k) tokens.push_back(tokens[k]);
    i = j;
  };

  for (std::size_t i = 0; i < n;) {
    const char c = text[i];
    const int pos = static_cast<int>(i);
    if (c == ' ') {
      ++i;
    } else if (detail::layout_letter(c) || c == '|') {
      if (tokens.size() >= max_expansion) {
        if (graph_layers >= 0)
          detail::raise("layout: '", text, "' has more layer symbols than the graph's ", graph_layers, " layers");
        detail::raise("layout: '", text, "' expands past ", max_expansion, " symbols and stage breaks");
      }
      const std::size_t start = tokens.size();
      tokens.push_back({c, pos});
      ++i;
      repeat(i, start);
    } else if (c == '(') {
      open_groups.push_back({tokens.size(), pos});
      ++i;
    } else if (c == ')') {
      if (open_groups.empty()) detail::raise("layout: ')' at position ", i, " closes no '(', in '", text, "'");
      const group g = open_groups.back();
      open_groups.pop_back();
      if (g.start == tokens.size())
        detail::raise("layout: the group opened at position ", g.open, " is empty, in '", text, "'");
      ++i;
      repeat(i, g.start);
    } else if (c == '*') {
      detail::raise("layout: '*' at position ", i, " follows nothing it could repeat, in '", text, "'");
    } else if (detail::layout_digit(c)) {
      detail::raise("layout: unexpected digit '", std::string_view(&text[i], 1), "' at position ", i,
                    " (a repeat count follows '*'), in '", text, "'");
    } else {
      detail::raise("layout: unexpected character '", std::string_view(&text[i], 1), "' at position ", i, ", in '",
                    text, "'");
    }
  }
  if (!open_groups.empty())
    detail::raise("layout: the '(' at position ", open_groups.back().open, " is never closed, in '", text, "'");

  layout out;
  int in_stage = 0;
  for (const token& t : tokens) {
    if (t.c == '|') {
      if (in_stage == 0)
        detail::raise("layout: stage ", out.num_stages, " is empty: the '|' at position ", t.pos,
                      " closes a stage without layers, in '", text, "'");
      ++out.num_stages;
      in_stage = 0;
    } else {
      out.symbols.push_back(t.c);
      out.positions.push_back(t.pos);
      out.stage_of.push_back(out.num_stages);
      ++in_stage;
    }
  }
  if (in_stage == 0)
    detail::raise("layout: stage ", out.num_stages, " is empty: the text ends at position ", n,
                  " without layers after the last '|', in '", text, "'");
  ++out.num_stages;
  return out;
}

/// Whether a layout letter may stand for a layer of this kind (see the table on top).
constexpr bool layout_symbol_accepts(char symbol, layer_kind k) {
  switch (symbol) {
    case 'E': return k == layer_kind::embedding;
    case 'L': return k == layer_kind::head;
    case 't':
      return k == layer_kind::transformer || k == layer_kind::attention || k == layer_kind::mlp ||
             k == layer_kind::generic;
    case 'm': return k == layer_kind::mlp || k == layer_kind::generic;
    default: return true;
  }
}

/// Assigns the graph's layers, in index order, to the layout's symbols, checks counts and kinds,
/// and checks the partition against the graph (every edge forward in stage order).
constexpr partition partition_from_layout(const graph& g, std::string_view text) {
  // Stage breaks never outnumber symbols, so a valid layout expands to at most 2n − 1 tokens.
  const layout lay = parse_layout(text, 2 * static_cast<std::size_t>(g.num_layers()) + 1, g.num_layers());
  if (lay.num_symbols() != g.num_layers())
    detail::raise("layout: '", text, "' has ", lay.num_symbols(), " layer symbols but the graph has ",
                  g.num_layers(), " layers");
  for (int l = 0; l < g.num_layers(); ++l) {
    const char symbol = lay.symbols[static_cast<std::size_t>(l)];
    const layer& x = g.at(l);
    if (!layout_symbol_accepts(symbol, x.kind))
      detail::raise("layout: symbol '", std::string_view(&lay.symbols[static_cast<std::size_t>(l)], 1),
                    "' at position ", lay.positions[static_cast<std::size_t>(l)], " of '", text, "' cannot stand for layer ",
                    l, " '", x.name, "' of kind ", to_string(x.kind));
  }
  partition p(lay.stage_of, lay.num_stages);
  p.check(g);
  return p;
}

}  // namespace layerpipe
