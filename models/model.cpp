// models/model.cpp: ModelKind's name table and make_model.
#include "models/model.h"

#include <fmt/format.h>

#include <array>
#include <string>
#include <utility>

#include "core/error.h"
#include "models/resnet20.h"
#include "models/tiny_cnn.h"
#include "models/vgg.h"

namespace normlab {

namespace {

constexpr std::array<std::pair<ModelKind, std::string_view>, kNumModelKinds> kModelKindNames{{
    {ModelKind::tiny, "tiny"},
    {ModelKind::vgg, "vgg"},
    {ModelKind::resnet20, "resnet20"},
}};
static_assert(kModelKindNames.size() == static_cast<std::size_t>(ModelKind::resnet20) + 1,
              "every ModelKind needs a name");

constexpr std::array<ModelKind, kNumModelKinds> kAllModelKinds{ModelKind::tiny, ModelKind::vgg,
                                                               ModelKind::resnet20};

}  // namespace

std::string_view model_kind_name(ModelKind kind) {
  for (const auto& [k, name] : kModelKindNames) {
    if (k == kind) {
      return name;
    }
  }
  throw ValueError(fmt::format("model_kind: invalid ModelKind value {}", static_cast<int>(kind)));
}

ModelKind parse_model_kind(std::string_view name) {
  std::string valid;
  for (const auto& [kind, n] : kModelKindNames) {
    if (n == name) {
      return kind;
    }
    valid += fmt::format("{}{}", valid.empty() ? "" : ", ", n);
  }
  throw ValueError(fmt::format("model_kind: unknown model '{}' (valid: {})", name, valid));
}

std::span<const ModelKind> all_model_kinds() {
  return kAllModelKinds;
}

std::unique_ptr<Module> make_model(ModelKind kind, const ModelOptions& options, Rng& rng) {
  switch (kind) {
    case ModelKind::tiny:
      return make_tiny_cnn(options, rng);
    case ModelKind::vgg:
      return make_vgg(options, rng);
    case ModelKind::resnet20:
      return make_resnet20(options, rng);
  }
  throw ValueError(fmt::format("model_kind: invalid ModelKind value {}", static_cast<int>(kind)));
}

}  // namespace normlab
