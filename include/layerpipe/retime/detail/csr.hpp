// layerpipe/retime/detail/csr.hpp — compressed adjacency (offsets + flat list) of edge indices.
//
// Built in two linear passes with no per-node allocation: the retiming algorithms run on
// graphs with millions of nodes.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace layerpipe::detail::retiming_impl {

struct csr {
  std::vector<int> start;  // size n + 1
  std::vector<int> list;   // edge indices grouped by node

  constexpr std::span<const int> of(int v) const {
    const auto b = static_cast<std::size_t>(start[static_cast<std::size_t>(v)]);
    const auto e = static_cast<std::size_t>(start[static_cast<std::size_t>(v) + 1]);
    return std::span<const int>(list).subspan(b, e - b);
  }
};

/// Groups edge indices 0..m-1 by key(e) in [0, n), keeping ascending edge order within a group.
template <class Key>
constexpr csr build_csr(int n, int m, Key key) {
  csr c;
  c.start.assign(static_cast<std::size_t>(n) + 1, 0);
  for (int e = 0; e < m; ++e) ++c.start[static_cast<std::size_t>(key(e)) + 1];
  for (std::size_t v = 0; v < static_cast<std::size_t>(n); ++v) c.start[v + 1] += c.start[v];
  c.list.assign(static_cast<std::size_t>(m), 0);
  std::vector<int> next(c.start.begin(), c.start.end() - 1);
  for (int e = 0; e < m; ++e) c.list[static_cast<std::size_t>(next[static_cast<std::size_t>(key(e))]++)] = e;
  return c;
}

}  // namespace layerpipe::detail::retiming_impl
