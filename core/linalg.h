// core/linalg.h: the spectrum of a small dense matrix, over LAPACK (OpenBLAS ships it). Used by
// `normlab jacobian` for the singular values and eigenvalues of a layer's Jacobian.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace normlab {

// Singular values of the row-major rows×cols matrix a, largest first (LAPACK dgesdd).
// ValueError when LAPACK does not converge.
std::vector<double> singular_values(const double* a, std::int64_t rows, std::int64_t cols);

// Eigenvalues of the row-major n×n matrix a (LAPACK dgeev), in LAPACK's order.
std::vector<std::complex<double>> eigenvalues(const double* a, std::int64_t n);

// Eigenvalues of the symmetric n×n matrix a, ascending (LAPACK dsyevd; reads one triangle).
std::vector<double> symmetric_eigenvalues(const double* a, std::int64_t n);

}  // namespace normlab
