// Fuzz target: HttpHeaders against a plain reference (a vector of pairs
// compared without regard to ASCII case).
//
// Input: a list of operations, each an op byte then its arguments. A name
// or value is a byte choosing one of a few common ones (in some case
// spelling) or saying how many raw bytes follow. Operations include the
// tricky ones: a field added, set or removed by a name or value that views
// the headers' own arena (h[i].first).
//
// Invariants: after every operation the headers hold exactly the
// reference's fields in order, and every lookup (get, get_all, count,
// contains, has_token, remove's count) answers as the reference does.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_input.hpp"
#include "sluice/http/http_headers.hpp"

using namespace sluice;
using fuzz::broken;
using fuzz::printable;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The reference: what HttpHeaders documents, done the slow, obvious way.
class Reference {
 public:
  void add(std::string_view n, std::string_view v) { fields_.emplace_back(n, v); }
  void set(std::string_view n, std::string_view v) {
    std::string name(n), value(v);  // they may view our own fields
    if (count(name) == 0) {
      add(name, value);
      return;
    }
    remove(name);
    add(name, value);
  }
  std::optional<std::string> get(std::string_view n) const {
    for (const auto& [name, value] : fields_) {
      if (same_name(name, n)) return value;
    }
    return std::nullopt;
  }
  std::vector<std::string> get_all(std::string_view n) const {
    std::vector<std::string> out;
    for (const auto& [name, value] : fields_) {
      if (same_name(name, n)) out.push_back(value);
    }
    return out;
  }
  std::size_t count(std::string_view n) const { return get_all(n).size(); }
  bool has_token(std::string_view n, std::string_view token) const {
    for (const std::string& value : get_all(n)) {
      std::size_t from = 0;
      for (;;) {
        std::size_t comma = value.find(',', from);
        std::string item = value.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.erase(0, 1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.pop_back();
        if (same_name(item, token)) return true;
        if (comma == std::string::npos) break;
        from = comma + 1;
      }
    }
    return false;
  }
  std::size_t remove(std::string_view n) {
    std::string name(n);  // it may view one of the fields erased
    std::size_t before = fields_.size();
    std::erase_if(fields_, [&](const auto& f) { return same_name(f.first, name); });
    return before - fields_.size();
  }
  void clear() { fields_.clear(); }
  const Fields& fields() const { return fields_; }

 private:
  Fields fields_;
};

constexpr std::string_view kNames[] = {"Host", "Content-Length", "Transfer-Encoding", "Connection", "X-A",
                                       "x-b", "Cookie", "Set-Cookie", "", "A", "Upgrade", "Date"};
constexpr std::string_view kValues[] = {"", "close", "keep-alive, Upgrade", "chunked", " a ,b,, c ", "0",
                                        "x", "websocket"};

std::string spelled(std::string_view name, unsigned how) {
  std::string s(name);
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool up = how == 1 || (how == 2 && i % 2 == 0);
    if (how == 3) continue;
    s[i] = up ? static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c) : lower(c);
  }
  return s;
}

std::string take_name(fuzz::FuzzInput& in) {
  std::uint8_t b = in.byte();
  if (b < 0xC0) return spelled(kNames[b % std::size(kNames)], (b / std::size(kNames)) % 4);
  return std::string(in.bytes(b & 0x3F));
}

std::string take_value(fuzz::FuzzInput& in) {
  std::uint8_t b = in.byte();
  if (b < 0x80) return std::string(kValues[b % std::size(kValues)]);
  return std::string(in.bytes(b & 0x7F));
}

std::string show(const Fields& fields) {
  std::string s;
  for (const auto& [n, v] : fields) s += "  " + printable(n, 60) + ": " + printable(v, 100) + "\n";
  return s;
}

std::string show(const HttpHeaders& h) {
  Fields fields;
  for (auto [n, v] : h) fields.emplace_back(n, v);
  return show(fields);
}

void check_same(const HttpHeaders& h, const Reference& ref, const char* after) {
  bool same = h.size() == ref.fields().size() && h.empty() == ref.fields().empty();
  for (std::size_t i = 0; same && i < h.size(); ++i) {
    same = h[i].first == ref.fields()[i].first && h[i].second == ref.fields()[i].second;
  }
  if (!same) {
    broken("the headers hold the reference's fields in order",
           std::string("after ") + after + "\nexpected:\n" + show(ref.fields()) + "got:\n" + show(h));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::FuzzInput in(data, size);
  HttpHeaders h;
  Reference ref;
  while (!in.empty()) {
    std::uint8_t op = in.byte() % 13;
    // One of our own fields, for the operations that pass views of the arena.
    auto take_own = [&] { return in.byte() % h.size(); };
    const char* what = "";
    switch (op) {
      case 0: {
        std::string n = take_name(in), v = take_value(in);
        h.add(n, v);
        ref.add(n, v);
        what = "add";
        break;
      }
      case 1: {
        std::string n = take_name(in), v = take_value(in);
        h.set(n, v);
        ref.set(n, v);
        what = "set";
        break;
      }
      case 2: {
        std::string n = take_name(in);
        auto got = h.get(n);
        auto want = ref.get(n);
        if (got.has_value() != want.has_value() || (got && *got != *want)) broken("get() answers as the reference");
        if (h.contains(n) != want.has_value()) broken("contains() answers as the reference");
        what = "get";
        break;
      }
      case 3: {
        std::string n = take_name(in);
        auto got = h.get_all(n);
        auto want = ref.get_all(n);
        if (std::vector<std::string>(got.begin(), got.end()) != want) broken("get_all() answers as the reference");
        if (h.count(n) != want.size()) broken("count() answers as the reference");
        what = "get_all";
        break;
      }
      case 4: {
        std::string n = take_name(in);
        std::size_t removed = h.remove(n);
        if (removed != ref.remove(n)) broken("remove() counts as the reference");
        what = "remove";
        break;
      }
      case 5: {
        std::string n = take_name(in), token = take_value(in);
        if (h.has_token(n, token) != ref.has_token(n, token)) {
          broken("has_token() answers as the reference", printable(n) + " / " + printable(token) + "\n" + show(h));
        }
        what = "has_token";
        break;
      }
      case 6:
        h.clear();
        ref.clear();
        what = "clear";
        break;
      case 7: {
        if (h.empty()) break;
        std::size_t own = take_own();
        // Both views point into the arena that add() may move.
        ref.add(std::string(h[own].first), std::string(h[own].second));
        h.add(h[own].first, h[own].second);
        what = "add of an own field";
        break;
      }
      case 8: {
        if (h.empty()) break;
        std::size_t own = take_own();
        std::string v = take_value(in);
        ref.set(std::string(h[own].first), v);
        h.set(h[own].first, v);
        what = "set of an own name";
        break;
      }
      case 9: {
        if (h.empty()) break;
        std::size_t own = take_own();
        std::string n = take_name(in);
        ref.set(n, std::string(h[own].second));
        h.set(n, h[own].second);
        what = "set to an own value";
        break;
      }
      case 10: {
        if (h.empty()) break;
        std::size_t own = take_own();
        std::string name(h[own].first);
        std::size_t want = ref.remove(name);
        if (h.remove(h[own].first) != want) broken("remove() of an own name counts as the reference");
        what = "remove of an own name";
        break;
      }
      case 11: {
        HttpHeaders copy = h;
        check_same(copy, ref, "a copy");
        h = std::move(copy);
        what = "copy and move back";
        break;
      }
      default: {
        // Many fields at once: the arena spills to the heap.
        std::string n = take_name(in), v = take_value(in);
        for (std::size_t i = 0; i < 40; ++i) {
          h.add(n, v);
          ref.add(n, v);
        }
        what = "add many";
        break;
      }
    }
    check_same(h, ref, what);
  }
  return 0;
}
