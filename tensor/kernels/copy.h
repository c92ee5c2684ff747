// Row fills for the strided copy (raw::copy_): a source broadcast along the
// row ([N, 1] expanded to [N, M]) is one value per row, stored with whole
// vectors of the best Highway target (GCC's own loop uses SSE2's 16 bytes).
//
//   fill_rows: d[r * ld + i] = v[r * vs]      (r < rows, i < n)
//
// It writes exactly those elements (a last partial vector is stored lane by
// lane, or overlaps the row's previous vector with the same values), so
// neighbouring rows may be written by other threads. Values are stored bit for
// bit (NaN payloads and -0 included). fill_rows_ref is the scalar twin that
// the tests compare every target against.
#pragma once
#include <cstdint>

namespace tg::kernels {

void fill_rows(float* d, int64_t rows, int64_t ld, int64_t n, const float* v, int64_t vs);
void fill_rows(double* d, int64_t rows, int64_t ld, int64_t n, const double* v, int64_t vs);
void fill_rows(int64_t* d, int64_t rows, int64_t ld, int64_t n, const int64_t* v, int64_t vs);
void fill_rows_ref(float* d, int64_t rows, int64_t ld, int64_t n, const float* v, int64_t vs);
void fill_rows_ref(double* d, int64_t rows, int64_t ld, int64_t n, const double* v, int64_t vs);
void fill_rows_ref(int64_t* d, int64_t rows, int64_t ld, int64_t n, const int64_t* v, int64_t vs);

}  // namespace tg::kernels
