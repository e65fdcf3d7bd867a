#include "core/threads.h"

#include <cblas.h>
#include <omp.h>

namespace normlab {

void set_num_threads(int n) {
  if (n <= 0) {
    n = omp_get_num_procs();
  }
  openblas_set_num_threads(1);
  omp_set_num_threads(n);
}

int num_threads() {
  return omp_get_max_threads();
}

}  // namespace normlab
