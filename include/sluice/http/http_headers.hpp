#pragma once
// HTTP header fields: ordered, repeatable, looked up without regard to case.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

/// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Header fields in arrival order. Repeated names are kept (get_all returns
/// each). A value type; NOT thread safe.
class HttpHeaders {
 public:
  using Field = std::pair<std::string, std::string>;

  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  /// Replaces every field called `name` with one.
  void set(std::string_view name, std::string value);
  /// The first value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const noexcept { return get(name).has_value(); }
  /// Whether a comma-separated header contains `token` (e.g. Connection: close).
  bool has_token(std::string_view name, std::string_view token) const noexcept;
  std::size_t remove(std::string_view name);
  void clear() noexcept { fields_.clear(); }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }
  Field& back() { return fields_.back(); }

 private:
  std::vector<Field> fields_;
};

}  // namespace sluice
