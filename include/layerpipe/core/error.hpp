// layerpipe/core/error.hpp — the one exception type the library throws for bad input.
//
// Messages name the rule that was broken and the offending value, so a user can fix the input
// without reading the library:
//
//   try { auto s = layerpipe::one_f_one_b(0, 8); }
//   catch (const layerpipe::error& e) { std::cerr << e.what(); }
//   // layerpipe: 1F1B needs at least one device (P >= 1), got P = 0
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace layerpipe {

/// Thrown for every violated rule: bad sizes, malformed files, invalid schedules, deadlocks.
class error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// Builds a message from streamable parts: fail("P = ", p) throws "layerpipe: P = 3".
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  out << "layerpipe: ";
  (out << ... << parts);
  throw error(out.str());
}

/// fail() for constexpr code. At run time it throws layerpipe::error with the full message; in a
/// constant evaluation (static_assert, constexpr variable) the evaluation stops at this throw and
/// the compiler prints the call, message parts included, in its "in 'constexpr' expansion of
/// layerpipe::detail::raise(...)" note.
template <class... Parts>
constexpr void raise(const Parts&... parts) {
  if (std::is_constant_evaluated()) {
    throw "layerpipe: constraint violated at compile time; the rule is in raise()'s arguments above";
  } else {
    fail(parts...);
  }
}
}  // namespace detail
}  // namespace layerpipe
