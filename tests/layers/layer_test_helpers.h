// tests/layers/layer_test_helpers.h: the gradcheck of a whole module, on top of the shared
// helpers of tests/test_helpers.h.
#pragma once

#include <vector>

#include "layers/module.h"
#include "tests/test_helpers.h"

namespace normlab::test {

// Gradcheck of a module in float64 over its input and every parameter (weight, bias, ...).
inline void require_module_gradcheck(Module& m, const Variable& x,
                                     const GradcheckOptions& options = tight()) {
  std::vector<Variable> inputs{x};
  std::vector<Variable*> params = m.parameters();
  for (Variable* p : params) {
    inputs.push_back(*p);
  }
  // The parameters are passed as extra gradcheck inputs; they are the module's own Variables, so
  // the perturbation gradcheck makes is the one the module sees.
  const auto f = [&m](const std::vector<Variable>& in) { return m.forward(in[0]); };
  require_gradcheck(f, inputs, options);
}

}  // namespace normlab::test
