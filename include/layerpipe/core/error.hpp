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
}  // namespace detail
}  // namespace layerpipe
