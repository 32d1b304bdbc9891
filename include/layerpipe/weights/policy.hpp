// layerpipe/weights/policy.hpp — the names of the weight-version policies (REFERENCE §4).
//
// A layer whose backward pass needs the weights of d optimizer updates ago picks one policy:
//
//   | enum           | name              | aliases (also accepted by parse_weight_policy)          |
//   |----------------|-------------------|---------------------------------------------------------|
//   | exact_stash    | "exact-stash"     | stash, exact, pipedream                                 |
//   | stale          | "stale"           | current, none                                           |
//   | two_buffer     | "two-buffer"      | 2bw, pipedream-2bw, double-buffer                       |
//   | ema_updates    | "ema-updates"     | ema, variant-a, ema-a, layerpipe2                       |
//   | ema_lag_matched| "ema-lag-matched" | variant-b, ema-b, lag-matched                           |
//   | ema_fixed      | "ema-fixed"       | fixed-ema, plain-ema, weight-ema                        |
//
// Names compare case-insensitively with '-', '_' and ' ' ignored ("EMA_updates" parses).
//
//   layerpipe::parse_weight_policy("2BW") == layerpipe::weight_policy::two_buffer;
//   layerpipe::to_string(layerpipe::weight_policy::ema_updates) == "ema-updates";
#pragma once

#include <layerpipe/core/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace layerpipe {

enum class weight_policy : std::uint8_t {
  exact_stash,      // ring of the last d versions: exact, d buffers
  stale,            // the current weights: no memory, error = the last d updates
  two_buffer,       // PipeDream-2BW: one snapshot refreshed every m updates
  ema_updates,      // Variant A: W(n) + d × bias-corrected EMA of applied updates, beta = (d-1)/(d+1)
  ema_lag_matched,  // Variant B: weight EMA with beta = d/(d+1), whose lag is d
  ema_fixed,        // baseline weight EMA with a fixed beta (0.9 by default)
};

inline constexpr std::array all_weight_policies{weight_policy::exact_stash,     weight_policy::stale,
                                                weight_policy::two_buffer,      weight_policy::ema_updates,
                                                weight_policy::ema_lag_matched, weight_policy::ema_fixed};

namespace detail::weights_impl {
struct policy_name {
  std::string_view name;
  std::string_view aliases;  // comma-separated
};
inline constexpr std::array<policy_name, 6> policy_names{{
    {"exact-stash", "stash,exact,pipedream"},
    {"stale", "current,none"},
    {"two-buffer", "2bw,pipedream-2bw,double-buffer"},
    {"ema-updates", "ema,variant-a,ema-a,layerpipe2"},
    {"ema-lag-matched", "variant-b,ema-b,lag-matched"},
    {"ema-fixed", "fixed-ema,plain-ema,weight-ema"},
}};

/// Lowercase with '-', '_' and ' ' dropped: the form names are compared in.
constexpr std::string normalize_policy_name(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '-' || c == '_' || c == ' ') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}
}  // namespace detail::weights_impl

/// The canonical name of a policy ("exact-stash", "stale", "two-buffer", "ema-updates",
/// "ema-lag-matched", "ema-fixed"); "?" for a value outside the enum.
constexpr std::string_view to_string(weight_policy p) noexcept {
  const auto i = static_cast<std::size_t>(p);
  return i < detail::weights_impl::policy_names.size() ? detail::weights_impl::policy_names[i].name
                                                       : std::string_view("?");
}

/// The policy named `name`: a canonical name or an alias (see the table above). Throws
/// layerpipe::error listing every valid name and alias.
inline weight_policy parse_weight_policy(std::string_view name) {
  using detail::weights_impl::normalize_policy_name;
  const std::string wanted = normalize_policy_name(name);
  std::string valid;
  for (std::size_t i = 0; i < detail::weights_impl::policy_names.size(); ++i) {
    const auto& entry = detail::weights_impl::policy_names[i];
    if (!wanted.empty() && normalize_policy_name(entry.name) == wanted) return static_cast<weight_policy>(i);
    std::string_view rest = entry.aliases;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (!wanted.empty() && normalize_policy_name(rest.substr(0, comma)) == wanted)
        return static_cast<weight_policy>(i);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    if (!valid.empty()) valid += "; ";
    valid += entry.name;
    valid += " (";
    for (char c : entry.aliases) valid += c == ',' ? std::string_view(", ") : std::string_view(&c, 1);
    valid += ')';
  }
  detail::fail("unknown weight policy '", name, "'; valid names: ", valid);
}

}  // namespace layerpipe
