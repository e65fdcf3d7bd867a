// core/linalg.cpp: LAPACK's Fortran entry points, called on column-major copies.
#include "core/linalg.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"

extern "C" {
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork,
             int* iwork, int* info);
void dgeev_(const char* jobvl, const char* jobvr, const int* n, double* a, const int* lda,
            double* wr, double* wi, double* vl, const int* ldvl, double* vr, const int* ldvr,
            double* work, const int* lwork, int* info);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info);
}

namespace normlab {

namespace {

// LAPACK takes int sizes; a matrix this small is the only kind worth a dense spectrum.
int lapack_size(const char* op, std::int64_t n) {
  if (n < 0 || n > (1 << 20)) {
    throw ValueError(fmt::format("{}: size {} is out of LAPACK's range", op, n));
  }
  return static_cast<int>(n);
}

std::vector<double> column_major(const double* a, std::int64_t rows, std::int64_t cols) {
  std::vector<double> out(static_cast<std::size_t>(rows * cols));
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) {
      out[static_cast<std::size_t>(j * rows + i)] = a[i * cols + j];
    }
  }
  return out;
}

void check_info(const char* op, int info) {
  if (info != 0) {
    throw ValueError(fmt::format("{}: LAPACK returned info {} (no convergence)", op, info));
  }
}

}  // namespace

std::vector<double> singular_values(const double* a, std::int64_t rows, std::int64_t cols) {
  const int m = lapack_size("singular_values", rows);
  const int n = lapack_size("singular_values", cols);
  if (m == 0 || n == 0) {
    return {};
  }
  std::vector<double> A = column_major(a, rows, cols);
  std::vector<double> s(static_cast<std::size_t>(std::min(m, n)));
  std::vector<int> iwork(static_cast<std::size_t>(8 * std::min(m, n)));
  const int one = 1;
  int info = 0;
  int lwork = -1;
  double query = 0;
  dgesdd_("N", &m, &n, A.data(), &m, s.data(), nullptr, &one, nullptr, &one, &query, &lwork,
          iwork.data(), &info);
  check_info("singular_values", info);
  lwork = static_cast<int>(query);
  std::vector<double> work(static_cast<std::size_t>(lwork));
  dgesdd_("N", &m, &n, A.data(), &m, s.data(), nullptr, &one, nullptr, &one, work.data(), &lwork,
          iwork.data(), &info);
  check_info("singular_values", info);
  return s;
}

std::vector<std::complex<double>> eigenvalues(const double* a, std::int64_t n64) {
  const int n = lapack_size("eigenvalues", n64);
  if (n == 0) {
    return {};
  }
  std::vector<double> A = column_major(a, n64, n64);
  std::vector<double> wr(static_cast<std::size_t>(n)), wi(static_cast<std::size_t>(n));
  const int one = 1;
  int info = 0;
  int lwork = -1;
  double query = 0;
  dgeev_("N", "N", &n, A.data(), &n, wr.data(), wi.data(), nullptr, &one, nullptr, &one, &query,
         &lwork, &info);
  check_info("eigenvalues", info);
  lwork = static_cast<int>(query);
  std::vector<double> work(static_cast<std::size_t>(lwork));
  dgeev_("N", "N", &n, A.data(), &n, wr.data(), wi.data(), nullptr, &one, nullptr, &one,
         work.data(), &lwork, &info);
  check_info("eigenvalues", info);
  std::vector<std::complex<double>> out;
  for (std::size_t i = 0; i < wr.size(); ++i) {
    out.emplace_back(wr[i], wi[i]);
  }
  return out;
}

std::vector<double> symmetric_eigenvalues(const double* a, std::int64_t n64) {
  const int n = lapack_size("symmetric_eigenvalues", n64);
  if (n == 0) {
    return {};
  }
  std::vector<double> A = column_major(a, n64, n64);
  std::vector<double> w(static_cast<std::size_t>(n));
  int info = 0;
  int lwork = -1;
  int liwork = -1;
  double query = 0;
  int iquery = 0;
  dsyevd_("N", "L", &n, A.data(), &n, w.data(), &query, &lwork, &iquery, &liwork, &info);
  check_info("symmetric_eigenvalues", info);
  lwork = static_cast<int>(query);
  liwork = iquery;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  dsyevd_("N", "L", &n, A.data(), &n, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  check_info("symmetric_eigenvalues", info);
  return w;
}

}  // namespace normlab
