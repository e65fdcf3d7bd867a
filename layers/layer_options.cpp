// layers/layer_options.cpp: strict parsing of option strings; the whole string must be consumed.
#include "layers/layer_options.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/error.h"

namespace normlab {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  s = trim(s);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

std::optional<Size2d> parse_size2d(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 &&
      ((s.front() == '(' && s.back() == ')') || (s.front() == '[' && s.back() == ']'))) {
    s = s.substr(1, s.size() - 2);
  }
  const std::size_t comma = s.find(',');
  if (comma == std::string_view::npos) {
    const auto v = parse_int(s);
    return v ? std::optional<Size2d>(Size2d(*v)) : std::nullopt;
  }
  const auto a = parse_int(s.substr(0, comma));
  const auto b = parse_int(s.substr(comma + 1));
  return a && b ? std::optional<Size2d>(Size2d(*a, *b)) : std::nullopt;
}

std::string join(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) {
    out += (out.empty() ? "" : ", ") + k;
  }
  return out.empty() ? "none" : out;
}

}  // namespace

OptionReader::OptionReader(std::string_view layer, const LayerOptions& options)
    : layer_(layer), options_(options) {}

const std::string* OptionReader::find(std::string_view key, bool required) {
  valid_.emplace_back(key);
  const auto it = options_.find(std::string(key));
  if (it == options_.end()) {
    if (required) {
      missing_.emplace_back(key);
    }
    return nullptr;
  }
  return &it->second;
}

void OptionReader::bad_value(std::string_view key, const std::string& value,
                             std::string_view expected) const {
  throw ValueError(
      fmt::format("make_layer: {} option {}='{}' is not {}", layer_, key, value, expected));
}

std::int64_t OptionReader::required_int(std::string_view key) {
  const std::string* v = find(key, true);
  if (v == nullptr) {
    return 0;  // reported by finish()
  }
  const auto i = parse_int(*v);
  if (!i) {
    bad_value(key, *v, "an integer");
  }
  return *i;
}

std::int64_t OptionReader::get_int(std::string_view key, std::int64_t fallback) {
  const std::string* v = find(key, false);
  if (v == nullptr) {
    return fallback;
  }
  const auto i = parse_int(*v);
  if (!i) {
    bad_value(key, *v, "an integer");
  }
  return *i;
}

double OptionReader::get_double(std::string_view key, double fallback) {
  const std::string* v = find(key, false);
  if (v == nullptr) {
    return fallback;
  }
  const std::string_view s = trim(*v);
  double d = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) {
    bad_value(key, *v, "a finite number");
  }
  return d;
}

bool OptionReader::get_bool(std::string_view key, bool fallback) {
  const std::string* v = find(key, false);
  if (v == nullptr) {
    return fallback;
  }
  const std::string_view s = trim(*v);
  if (s == "true" || s == "True" || s == "1") {
    return true;
  }
  if (s == "false" || s == "False" || s == "0") {
    return false;
  }
  bad_value(key, *v, "a boolean (true or false)");
}

Size2d OptionReader::required_size2d(std::string_view key) {
  const std::string* v = find(key, true);
  if (v == nullptr) {
    return Size2d(1);  // reported by finish()
  }
  const auto s = parse_size2d(*v);
  if (!s) {
    bad_value(key, *v, "an integer or a pair of integers");
  }
  return *s;
}

Size2d OptionReader::get_size2d(std::string_view key, Size2d fallback) {
  return get_optional_size2d(key).value_or(fallback);
}

std::optional<Size2d> OptionReader::get_optional_size2d(std::string_view key) {
  const std::string* v = find(key, false);
  if (v == nullptr) {
    return std::nullopt;
  }
  const auto s = parse_size2d(*v);
  if (!s) {
    bad_value(key, *v, "an integer or a pair of integers");
  }
  return s;
}

std::optional<double> OptionReader::get_optional_double(std::string_view key,
                                                        std::optional<double> fallback) {
  const std::string* v = find(key, false);
  if (v == nullptr) {
    return fallback;
  }
  const std::string_view s = trim(*v);
  if (s == "None" || s == "none") {
    return std::nullopt;
  }
  double d = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(d)) {
    bad_value(key, *v, "a finite number or None");
  }
  return d;
}

Shape OptionReader::required_shape(std::string_view key) {
  const std::string* v = find(key, true);
  if (v == nullptr) {
    return {1};  // reported by finish()
  }
  std::string_view s = trim(*v);
  if (s.size() >= 2 &&
      ((s.front() == '(' && s.back() == ')') || (s.front() == '[' && s.back() == ']'))) {
    s = s.substr(1, s.size() - 2);
  }
  Shape shape;
  while (!s.empty()) {
    const std::size_t sep = s.find_first_of("x,");
    const auto dim = parse_int(s.substr(0, sep));
    if (!dim || *dim <= 0) {
      bad_value(key, *v, "a shape of positive integers such as 8x4x4");
    }
    shape.push_back(*dim);
    s = sep == std::string_view::npos ? std::string_view() : s.substr(sep + 1);
    if (sep != std::string_view::npos && trim(s).empty()) {
      break;  // a trailing comma, as in Python's "(8,)"
    }
  }
  if (shape.empty()) {
    bad_value(key, *v, "a shape of positive integers such as 8x4x4");
  }
  return shape;
}

void OptionReader::finish() const {
  if (!missing_.empty()) {
    throw ValueError(fmt::format("make_layer: {} needs option '{}' (valid: {})", layer_,
                                 missing_.front(), join(valid_)));
  }
  for (const auto& [key, value] : options_) {
    if (std::find(valid_.begin(), valid_.end(), key) == valid_.end()) {
      throw ValueError(
          fmt::format("make_layer: {} has no option '{}' (valid: {})", layer_, key, join(valid_)));
    }
  }
}

}  // namespace normlab
