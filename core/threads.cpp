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

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

std::string better_blas_core() {
  const std::string chosen = blas_core_name();
  if (chosen != "Prescott" && chosen != "prescott") {
    return {};  // OpenBLAS recognised the processor (or the user chose)
  }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return "Haswell";
  }
#endif
  return {};
}

}  // namespace normlab
