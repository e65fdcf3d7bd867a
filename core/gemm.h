// core/gemm.h: C = alpha·op(A)·op(B) + beta·C over OpenBLAS (row-major), in float and double.
// op(A) is M×K, op(B) is K×N, C is M×N; lda/ldb/ldc are the row strides of the stored matrices.
#pragma once

#include <cstdint>

namespace normlab {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C,
          std::int64_t ldc);

}  // namespace normlab
