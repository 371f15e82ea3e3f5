#ifndef MAITRE_FAST_KERNELS_H
#define MAITRE_FAST_KERNELS_H

/// 1 when this CPU has AVX2 and FMA (the small-product kernel needs both), else 0.
int fk_has_avx2_fma(void);

/// Lays out `weight` ([outputs x inner], row-major, PyTorch's layout) as panels of 16 outputs: panel p holds, for
/// each k < inner, the 16 values weight[16p + j][k]. `panels` has room for outputs * inner floats; outputs must be
/// a multiple of 16.
void fk_pack_panels(const float *weight, int outputs, int inner, float *panels);

/// c[m*ldc + n] = bias[n] + sum over k of a[m*lda + k] * W[n][k], for m < rows, n < columns, where W's columns
/// start at `panels` (the first of columns / 16 packed panels, see fk_pack_panels). Nothing is packed per call: for
/// the few-row products of short texts, packing the weights was half of OpenBLAS's time. `columns` must be a
/// multiple of 16. Call only when fk_has_avx2_fma() is 1.
void fk_small_gemm_bias(int rows, int columns, int inner, const float *a, int lda, const float *panels,
                        const float *bias, float *c, int ldc);

#endif
