// layers/layer_options.h: typed reading of a layer's string options (PyTorch's keyword names), as
// the layer table, the CLI and experiment configs pass them: {"kernel_size": "3", "bias": "false"}.
// Values: integers ("3", "-1"), booleans (true/false/True/False/1/0), finite reals ("0.01"), and
// int-or-pair sizes ("3", "3,5", "(3, 5)", "[3, 5]"), "None" for optional reals, and shapes
// ("8x4x4").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/shape.h"
#include "layers/layer_util.h"

namespace normlab {

using LayerOptions = std::map<std::string, std::string>;

// Reads the options of one layer. Every key asked for, present or not, becomes a valid key; bad
// values throw ValueError at once, while missing required keys and unknown keys are reported by
// finish(), whose message lists all valid keys. Read every option, then call finish(), then build.
class OptionReader {
 public:
  OptionReader(std::string_view layer, const LayerOptions& options);

  std::int64_t required_int(std::string_view key);
  std::int64_t get_int(std::string_view key, std::int64_t fallback);
  double get_double(std::string_view key, double fallback);
  bool get_bool(std::string_view key, bool fallback);
  Size2d required_size2d(std::string_view key);
  Size2d get_size2d(std::string_view key, Size2d fallback);
  std::optional<Size2d> get_optional_size2d(std::string_view key);
  // A real that may be "None" (PyTorch's momentum=None, eps=None), which reads as nullopt.
  std::optional<double> get_optional_double(std::string_view key, std::optional<double> fallback);
  // A shape of positive integers written "8x4x4", "8", "(8, 4, 4)" or "[8, 4, 4]".
  Shape required_shape(std::string_view key);

  // ValueError for a missing required key or an unknown key, listing the valid keys.
  void finish() const;

 private:
  const std::string* find(std::string_view key, bool required);
  [[noreturn]] void bad_value(std::string_view key, const std::string& value,
                              std::string_view expected) const;

  std::string layer_;
  const LayerOptions& options_;
  std::vector<std::string> valid_;
  std::vector<std::string> missing_;
};

}  // namespace normlab
