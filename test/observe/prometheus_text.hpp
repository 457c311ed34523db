#pragma once
// Reads Prometheus' text exposition format back for tests: every sample
// with its labels, and whether the families are laid out as the format
// requires (one HELP and one TYPE each, their samples together after them).

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace sluice::test {

struct PrometheusSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PrometheusText {
  std::vector<PrometheusSample> samples;
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram
  std::vector<std::string> layout_errors;

  /// The sum of `name`'s samples whose labels include every one of `match`.
  double sum(const std::string& name, const std::map<std::string, std::string>& match = {}) const {
    double total = 0;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool all = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) all = false;
      }
      if (all) total += s.value;
    }
    return total;
  }
  std::set<std::string> label_values(const std::string& name, const std::string& label) const {
    std::set<std::string> out;
    for (const auto& s : samples) {
      auto it = s.labels.find(label);
      if (s.name == name && it != s.labels.end()) out.insert(it->second);
    }
    return out;
  }
};

inline bool belongs_to(const std::string& sample, const std::string& family, const std::string& type) {
  if (sample == family) return type != "histogram";
  if (type != "histogram") return false;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (sample == family + suffix) return true;
  }
  return false;
}

inline PrometheusText parse_prometheus(const std::string& text) {
  PrometheusText out;
  std::set<std::string> helped;
  std::string family;  // the one whose TYPE came last
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    if (line.rfind("# HELP ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      if (!helped.insert(name).second) out.layout_errors.push_back("two HELP lines for " + name);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name;
      std::string type;
      words >> name >> type;
      if (out.types.count(name) != 0) out.layout_errors.push_back("two TYPE lines for " + name);
      out.types[name] = type;
      family = name;
      continue;
    }
    PrometheusSample s;
    std::size_t i = line.find_first_of("{ ");
    s.name = line.substr(0, i);
    if (i != std::string::npos && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        std::string value;
        std::size_t j = eq + 2;  // after ="
        while (j < line.size() && line[j] != '"') {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          value += line[j++];
        }
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;
    }
    std::string value = line.substr(line.find_first_not_of(' ', i));
    s.value = value == "+Inf" ? 1e308 : std::stod(value);
    if (family.empty() || !belongs_to(s.name, family, out.types[family])) {
      out.layout_errors.push_back(s.name + " outside its family (after " + family + ")");
    }
    out.samples.push_back(std::move(s));
  }
  return out;
}

}  // namespace sluice::test
