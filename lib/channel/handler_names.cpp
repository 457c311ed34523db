#include "handler_names.hpp"

#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice::detail {

namespace {
struct Table {
  std::mutex mutex;
  std::unordered_map<std::string, std::uint32_t> numbers;  // nodes, and so names, never move
  std::vector<std::string_view> names;                     // by number: views of the keys above
};
struct Copy {
  std::unordered_map<std::string_view, std::uint32_t> numbers;
  std::vector<std::string_view> names;
};
// Made on first use, whichever static initializer builds a pipeline first.
Table& table() {
  static Table all;
  return all;
}
Copy& copy() {
  thread_local Copy mine;
  return mine;
}
}  // namespace

std::uint32_t HandlerNames::intern(std::string_view name) {
  Copy& mine = copy();
  if (auto hit = mine.numbers.find(name); hit != mine.numbers.end()) return hit->second;
  Table& all = table();
  std::lock_guard lock(all.mutex);
  auto [entry, added] = all.numbers.try_emplace(std::string(name), static_cast<std::uint32_t>(all.names.size()));
  if (added) all.names.emplace_back(entry->first);
  mine.numbers.emplace(entry->first, entry->second);
  mine.names = all.names;  // so that name_of finds it without the lock
  return entry->second;
}

std::string_view HandlerNames::name_of(std::uint32_t number) noexcept {
  Copy& mine = copy();
  if (number >= mine.names.size()) {
    Table& all = table();
    std::lock_guard lock(all.mutex);
    mine.names = all.names;
  }
  return mine.names[number];
}

}  // namespace sluice::detail
