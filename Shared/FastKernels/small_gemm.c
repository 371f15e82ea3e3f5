#include "FastKernels.h"

void fk_pack_panels(const float *weight, int outputs, int inner, float *panels) {
    for (int p = 0; p < outputs / 16; p++)
        for (int k = 0; k < inner; k++)
            for (int j = 0; j < 16; j++) panels[(p * inner + k) * 16 + j] = weight[(p * 16 + j) * inner + k];
}

#if defined(__x86_64__)
#include <immintrin.h>

int fk_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Four rows by one panel (16 columns): eight accumulators, two weight vectors and one broadcast in registers; the
// panel is read front to back.
__attribute__((target("avx2,fma"))) static void block4(int inner, const float *a, int lda, const float *panel,
                                                        const float *bias, float *c, int ldc) {
    __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
    __m256 c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1;
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    for (int k = 0; k < inner; k++, panel += 16) {
        __m256 w0 = _mm256_loadu_ps(panel), w1 = _mm256_loadu_ps(panel + 8);
        __m256 x = _mm256_broadcast_ss(a0 + k);
        c00 = _mm256_fmadd_ps(x, w0, c00);
        c01 = _mm256_fmadd_ps(x, w1, c01);
        x = _mm256_broadcast_ss(a1 + k);
        c10 = _mm256_fmadd_ps(x, w0, c10);
        c11 = _mm256_fmadd_ps(x, w1, c11);
        x = _mm256_broadcast_ss(a2 + k);
        c20 = _mm256_fmadd_ps(x, w0, c20);
        c21 = _mm256_fmadd_ps(x, w1, c21);
        x = _mm256_broadcast_ss(a3 + k);
        c30 = _mm256_fmadd_ps(x, w0, c30);
        c31 = _mm256_fmadd_ps(x, w1, c31);
    }
    _mm256_storeu_ps(c, c00);
    _mm256_storeu_ps(c + 8, c01);
    _mm256_storeu_ps(c + ldc, c10);
    _mm256_storeu_ps(c + ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20);
    _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30);
    _mm256_storeu_ps(c + 3 * ldc + 8, c31);
}

// One row by one panel: the rows left over.
__attribute__((target("avx2,fma"))) static void block1(int inner, const float *a, const float *panel, const float *bias,
                                                        float *c) {
    __m256 c0 = _mm256_loadu_ps(bias), c1 = _mm256_loadu_ps(bias + 8);
    for (int k = 0; k < inner; k++, panel += 16) {
        __m256 x = _mm256_broadcast_ss(a + k);
        c0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel), c0);
        c1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 8), c1);
    }
    _mm256_storeu_ps(c, c0);
    _mm256_storeu_ps(c + 8, c1);
}

void fk_small_gemm_bias(int rows, int columns, int inner, const float *a, int lda, const float *panels,
                        const float *bias, float *c, int ldc) {
    for (int p = 0; p < columns / 16; p++) {
        const float *panel = panels + (long)p * inner * 16;
        int n = p * 16, m = 0;
        for (; m + 4 <= rows; m += 4) block4(inner, a + (long)m * lda, lda, panel, bias + n, c + (long)m * ldc + n, ldc);
        for (; m < rows; m++) block1(inner, a + (long)m * lda, panel, bias + n, c + (long)m * ldc + n);
    }
}

#else

int fk_has_avx2_fma(void) { return 0; }

void fk_small_gemm_bias(int rows, int columns, int inner, const float *a, int lda, const float *panels,
                        const float *bias, float *c, int ldc) {
    for (int m = 0; m < rows; m++)
        for (int n = 0; n < columns; n++) {
            float sum = bias[n];
            for (int k = 0; k < inner; k++) sum += a[m * lda + k] * panels[((n / 16) * inner + k) * 16 + n % 16];
            c[m * ldc + n] = sum;
        }
}

#endif
