// layerpipe/schedule/action.hpp — one step of a pipeline schedule, and its text form.
//
// An action is a pass (forward, backward, ...) or a transfer of one micro-batch on one stage.
// Text uses PyTorch's action-token grammar (torch.distributed.pipelining), byte for byte:
// `<stage><TYPE><micro-batch>`, e.g. `2F0` (forward of micro-batch 0 on stage 2), `1SEND_F3`,
// `1UNSHARD` (no micro-batch), and the compound `(0F7;7B3)OVERLAP_F_B`.
//
//   auto a = layerpipe::parse_action("3SEND_F1");
//   assert(a.kind == layerpipe::action_kind::send_f && a.stage == 3 && a.micro_batch == 1);
//   assert(layerpipe::to_string(a) == "3SEND_F1");
//
// Tokens beyond PyTorch's frozen set (U, OFFLOAD, RELOAD) belong to action format version
// `action_format_version`; PyTorch files never contain them, so PyTorch-made files round-trip.
#pragma once

#include <layerpipe/core/error.hpp>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace layerpipe {

/// Version of the token set: 1 = PyTorch's set plus U, OFFLOAD and RELOAD.
inline constexpr int action_format_version = 1;

/// What an action does. Compute kinds first, then transfers, then memory and sharding.
enum class action_kind : std::uint8_t {
  forward,          ///< F: forward of one micro-batch on one stage
  backward,         ///< B: full backward (input and weight gradients together)
  backward_input,   ///< I: input-gradient pass only (the zero-bubble papers' "B")
  backward_weight,  ///< W: weight-gradient pass only; follows I of the same micro-batch
  update,           ///< U: optimizer step of a stage (layerpipe extension)
  send_f,           ///< SEND_F: stage s sends micro-batch m's activation to stage s + 1
  recv_f,           ///< RECV_F: stage s receives micro-batch m's activation from stage s - 1
  send_b,           ///< SEND_B: stage s sends micro-batch m's input gradient to stage s - 1
  recv_b,           ///< RECV_B: stage s receives micro-batch m's gradient from stage s + 1
  unshard,          ///< UNSHARD: gather a stage's sharded parameters (FSDP)
  reshard,          ///< RESHARD: release gathered parameters
  reduce_grad,      ///< REDUCE_GRAD: reduce a stage's gradients across replicas
  offload,          ///< OFFLOAD: copy an activation to host memory (layerpipe extension)
  reload,           ///< RELOAD: copy it back before the backward (layerpipe extension)
  overlap_f_b,      ///< OVERLAP_F_B: a forward and a backward issued as one overlapped pair
};

inline constexpr std::size_t action_kind_count = 15;

namespace detail {
inline constexpr std::array<std::string_view, action_kind_count> action_tokens{
    "F",      "B",      "I",       "W",           "U",       "SEND_F",  "RECV_F",     "SEND_B",
    "RECV_B", "UNSHARD", "RESHARD", "REDUCE_GRAD", "OFFLOAD", "RELOAD", "OVERLAP_F_B"};
}  // namespace detail

/// The token of a kind as PyTorch spells it ("F", "SEND_F", ...).
constexpr std::string_view token(action_kind kind) noexcept {
  return detail::action_tokens[static_cast<std::size_t>(kind)];
}

/// F, B, I, W: passes that take device compute time and touch activations.
constexpr bool is_compute(action_kind k) noexcept {
  return k == action_kind::forward || k == action_kind::backward ||
         k == action_kind::backward_input || k == action_kind::backward_weight ||
         k == action_kind::overlap_f_b;
}
/// B or I: the passes that produce the gradient sent to the previous stage.
constexpr bool is_input_backward(action_kind k) noexcept {
  return k == action_kind::backward || k == action_kind::backward_input;
}
/// Point-to-point transfers between devices.
constexpr bool is_communication(action_kind k) noexcept {
  return k == action_kind::send_f || k == action_kind::recv_f || k == action_kind::send_b ||
         k == action_kind::recv_b;
}
/// Kinds whose token carries no micro-batch (`1UNSHARD`); U may carry one or not.
constexpr bool has_no_micro_batch(action_kind k) noexcept {
  return k == action_kind::unshard || k == action_kind::reshard || k == action_kind::reduce_grad;
}

/// One step of a schedule. `micro_batch` is -1 for kinds that take none. An OVERLAP_F_B pair
/// keeps its forward half in (stage, micro_batch) and its backward half (B or I) in the
/// `second_*` fields, which are unused otherwise.
struct action {
  action_kind kind = action_kind::forward;
  action_kind second_kind = action_kind::backward;
  std::int32_t stage = 0;
  std::int32_t micro_batch = -1;
  std::int32_t second_stage = -1;
  std::int32_t second_micro_batch = -1;

  friend constexpr bool operator==(const action& a, const action& b) noexcept {
    if (a.kind != b.kind || a.stage != b.stage || a.micro_batch != b.micro_batch) return false;
    if (a.kind != action_kind::overlap_f_b) return true;
    return a.second_kind == b.second_kind && a.second_stage == b.second_stage &&
           a.second_micro_batch == b.second_micro_batch;
  }

  /// The forward half of an overlapped pair (or the action itself).
  constexpr action first_half() const noexcept { return {kind == action_kind::overlap_f_b ? action_kind::forward : kind, action_kind::backward, stage, micro_batch, -1, -1}; }
  /// The backward half of an overlapped pair.
  constexpr action second_half() const noexcept { return {second_kind, action_kind::backward, second_stage, second_micro_batch, -1, -1}; }
};

/// Shorthands for building actions, opt-in by `using namespace layerpipe::shorthand`:
/// F(2, 0) is `2F0`.
namespace shorthand {
constexpr action F(int stage, int mb) noexcept { return {action_kind::forward, action_kind::backward, stage, mb, -1, -1}; }
constexpr action B(int stage, int mb) noexcept { return {action_kind::backward, action_kind::backward, stage, mb, -1, -1}; }
constexpr action I(int stage, int mb) noexcept { return {action_kind::backward_input, action_kind::backward, stage, mb, -1, -1}; }
constexpr action W(int stage, int mb) noexcept { return {action_kind::backward_weight, action_kind::backward, stage, mb, -1, -1}; }
}  // namespace shorthand

/// An action of any non-compound kind; `mb` is -1 for kinds without a micro-batch.
constexpr action make_action(action_kind k, int stage, int mb = -1) noexcept { return {k, action_kind::backward, stage, mb, -1, -1}; }
/// `(f;b)OVERLAP_F_B`: `f` must be a forward, `b` a B or an I.
inline action overlap(const action& f, const action& b) {
  if (f.kind != action_kind::forward || !is_input_backward(b.kind))
    detail::fail("OVERLAP_F_B pairs a forward with a B or I, got ", token(f.kind), " and ",
                 token(b.kind));
  return {action_kind::overlap_f_b, b.kind, f.stage, f.micro_batch, b.stage, b.micro_batch};
}

namespace detail {
inline void append_plain(std::string& out, action_kind k, int stage, int mb) {
  out += std::to_string(stage);
  out += token(k);
  if (mb >= 0) out += std::to_string(mb);
}
}  // namespace detail

/// PyTorch token: `2F0`, `1SEND_F3`, `1UNSHARD`, `(0F7;7B3)OVERLAP_F_B`.
inline std::string to_string(const action& a) {
  std::string out;
  if (a.kind == action_kind::overlap_f_b) {
    out += '(';
    detail::append_plain(out, action_kind::forward, a.stage, a.micro_batch);
    out += ';';
    detail::append_plain(out, a.second_kind, a.second_stage, a.second_micro_batch);
    out += ")OVERLAP_F_B";
    return out;
  }
  detail::append_plain(out, a.kind, a.stage, a.micro_batch);
  return out;
}

inline std::ostream& operator<<(std::ostream& os, const action& a) { return os << to_string(a); }
inline std::ostream& operator<<(std::ostream& os, action_kind k) { return os << token(k); }

namespace detail {
/// Parses a plain token; returns nullopt with `why` set on failure, so callers add position.
inline std::optional<action> try_parse_plain(std::string_view text, std::string& why) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0) { why = "an action token starts with the stage number"; return std::nullopt; }
  std::size_t j = i;
  while (j < text.size() && ((text[j] >= 'A' && text[j] <= 'Z') || text[j] == '_')) ++j;
  std::size_t k = j;
  while (k < text.size() && text[k] >= '0' && text[k] <= '9') ++k;
  if (k != text.size()) { why = "an action token is <stage><TYPE><micro-batch> with nothing after it"; return std::nullopt; }
  auto number = [](std::string_view digits, std::int32_t& value) {
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return ec == std::errc{} && p == digits.data() + digits.size();
  };
  action a{};
  if (!number(text.substr(0, i), a.stage)) { why = "stage number out of range"; return std::nullopt; }
  std::string_view type = text.substr(i, j - i);
  if (type == "BW") type = "B";  // older PyTorch files spell the full backward BW
  std::size_t found = action_kind_count;
  for (std::size_t t = 0; t < action_kind_count; ++t)
    if (action_tokens[t] == type && t != static_cast<std::size_t>(action_kind::overlap_f_b)) found = t;
  if (found == action_kind_count) {
    why = "unknown action type '" + std::string(type) +
          "' (valid: F B I W U SEND_F RECV_F SEND_B RECV_B UNSHARD RESHARD REDUCE_GRAD OFFLOAD RELOAD)";
    return std::nullopt;
  }
  a.kind = static_cast<action_kind>(found);
  std::string_view mb = text.substr(j);
  if (mb.empty()) {
    if (!has_no_micro_batch(a.kind) && a.kind != action_kind::update) {
      why = "type " + std::string(type) + " needs a micro-batch number after it";
      return std::nullopt;
    }
    a.micro_batch = -1;
  } else {
    if (has_no_micro_batch(a.kind)) { why = "type " + std::string(type) + " takes no micro-batch"; return std::nullopt; }
    if (!number(mb, a.micro_batch)) { why = "micro-batch number out of range"; return std::nullopt; }
  }
  return a;
}

inline std::optional<action> try_parse_action(std::string_view text, std::string& why) {
  constexpr std::string_view suffix = ")OVERLAP_F_B";
  if (!text.empty() && text.front() == '(') {
    if (text.size() < suffix.size() + 1 || text.substr(text.size() - suffix.size()) != suffix) {
      why = "a compound action is (<forward>;<backward>)OVERLAP_F_B";
      return std::nullopt;
    }
    std::string_view inner = text.substr(1, text.size() - 1 - suffix.size());
    auto semi = inner.find(';');
    if (semi == std::string_view::npos || inner.find(';', semi + 1) != std::string_view::npos) {
      why = "OVERLAP_F_B holds exactly two actions separated by ';'";
      return std::nullopt;
    }
    auto f = try_parse_plain(inner.substr(0, semi), why);
    if (!f) return std::nullopt;
    auto b = try_parse_plain(inner.substr(semi + 1), why);
    if (!b) return std::nullopt;
    if (f->kind != action_kind::forward || !is_input_backward(b->kind)) {
      why = "OVERLAP_F_B pairs a forward (F) with a backward (B or I)";
      return std::nullopt;
    }
    return action{action_kind::overlap_f_b, b->kind, f->stage, f->micro_batch, b->stage, b->micro_batch};
  }
  return try_parse_plain(text, why);
}
}  // namespace detail

/// Parses one token; throws layerpipe::error naming the token and the rule it breaks.
inline action parse_action(std::string_view text) {
  std::string why;
  auto a = detail::try_parse_action(text, why);
  if (!a) detail::fail("cannot parse action '", text, "': ", why);
  return *a;
}

}  // namespace layerpipe

template <>
struct std::hash<layerpipe::action> {
  std::size_t operator()(const layerpipe::action& a) const noexcept {
    std::size_t h = static_cast<std::size_t>(a.kind);
    h = h * 1000003u ^ static_cast<std::size_t>(static_cast<std::uint32_t>(a.stage));
    h = h * 1000003u ^ static_cast<std::size_t>(static_cast<std::uint32_t>(a.micro_batch));
    if (a.kind == layerpipe::action_kind::overlap_f_b) {
      h = h * 1000003u ^ static_cast<std::size_t>(a.second_kind);
      h = h * 1000003u ^ static_cast<std::size_t>(static_cast<std::uint32_t>(a.second_stage));
      h = h * 1000003u ^ static_cast<std::size_t>(static_cast<std::uint32_t>(a.second_micro_batch));
    }
    return h;
  }
};
