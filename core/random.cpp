#include "core/random.h"

namespace normlab {

namespace {
template <class Draw>
void fill_with(Tensor& t, Draw&& draw) {
  Tensor c = Tensor::empty(t.shape(), t.dtype());
  visit_float(t.dtype(), "random fill", [&]<class T>() {
    for (T& v : c.data<T>()) {
      v = static_cast<T>(draw());
    }
  });
  t.copy_(c);
}
}  // namespace

Tensor randn(Shape shape, DType dtype, Rng& rng, double mean, double std) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  fill_normal_(t, rng, mean, std);
  return t;
}

Tensor rand_uniform(Shape shape, DType dtype, Rng& rng, double lo, double hi) {
  Tensor t = Tensor::empty(std::move(shape), dtype);
  fill_uniform_(t, rng, lo, hi);
  return t;
}

void fill_normal_(Tensor& t, Rng& rng, double mean, double std) {
  fill_with(t, [&] { return mean + std * rng.normal(); });
}

void fill_uniform_(Tensor& t, Rng& rng, double lo, double hi) {
  fill_with(t, [&] { return rng.uniform(lo, hi); });
}

}  // namespace normlab
