// layerpipe/graph/detail/name_table.hpp — open-addressing hash index from layer name to layer.
//
// std::unordered_map is not constexpr; this table is (one vector of 64-bit slots, linear
// probing), so duplicate-name checks and find() cost O(1) per name at both times. A slot keeps
// 32 bits of the name's hash beside the index, so probing past other names rarely touches them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

namespace layerpipe::detail {

/// 8 bytes per step (assembled with shifts: constexpr, and one load once optimised), then a
/// final avalanche (the murmur3 finaliser) so the low bits index and the high bits tag.
constexpr std::uint64_t name_hash(std::string_view s) {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ s.size();
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w = 0;
    for (std::size_t k = 0; k < 8; ++k) w |= std::uint64_t{static_cast<unsigned char>(s[i + k])} << (8 * k);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
  }
  std::uint64_t w = 0;
  for (std::size_t k = 0; i + k < s.size(); ++k) w |= std::uint64_t{static_cast<unsigned char>(s[i + k])} << (8 * k);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

class name_table {
public:
  constexpr name_table() = default;
  /// A table for up to `count` names: at least twice as many slots, a power of two.
  constexpr explicit name_table(std::size_t count) {
    std::size_t size = 8;
    while (size < 2 * count) size *= 2;
    slots_.assign(size, 0);
  }

  /// Inserts `index` under `name`, or returns the index already stored under it (then inserts
  /// nothing). -1: inserted. `name_of(i)` reads the name of a stored index.
  template <class NameOf>
  constexpr int insert(std::string_view name, int index, const NameOf& name_of) {
    return insert_hashed(name_hash(name), name, index, name_of);
  }

  /// insert() with name_hash(name) computed by the caller, who may have prefetch()ed its slot:
  /// inserting a million names is bound by cache misses on the table, which prefetching overlaps.
  template <class NameOf>
  constexpr int insert_hashed(std::uint64_t h, std::string_view name, int index, const NameOf& name_of) {
    const std::uint64_t tag = h >> 32 << 32;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const std::uint64_t slot = slots_[i];
      if (slot == 0) {
        slots_[i] = tag | (static_cast<std::uint64_t>(index) + 1);
        return -1;
      }
      const int stored = static_cast<int>((slot & 0xffffffffULL) - 1);
      if ((slot & ~0xffffffffULL) == tag && name_of(stored) == name) return stored;
    }
  }

  template <class NameOf>
  constexpr int find(std::string_view name, const NameOf& name_of) const {
    if (slots_.empty()) return -1;
    const std::uint64_t h = name_hash(name);
    const std::uint64_t tag = h >> 32 << 32;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const std::uint64_t slot = slots_[i];
      if (slot == 0) return -1;
      const int stored = static_cast<int>((slot & 0xffffffffULL) - 1);
      if ((slot & ~0xffffffffULL) == tag && name_of(stored) == name) return stored;
    }
  }

  constexpr void prefetch([[maybe_unused]] std::uint64_t h) const {
#if defined(__GNUC__)
    if (!std::is_constant_evaluated()) __builtin_prefetch(slots_.data() + (static_cast<std::size_t>(h) & (slots_.size() - 1)), 1);
#endif
  }

private:
  std::vector<std::uint64_t> slots_;  // 0: empty; else hash's high 32 bits | (index + 1)
};

}  // namespace layerpipe::detail
