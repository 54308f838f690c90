/* he: negacyclic number-theoretic transform of one prime.
 *
 * Forward: Cooley-Tukey butterflies with the powers of psi (a primitive 2N-th
 * root) in bit-reversed order, which merges the negacyclic twist into the
 * transform (Longa-Naehrig, CANS 2016, Algorithm 1); inverse: Gentleman-Sande
 * (their Algorithm 2). Butterflies are Harvey's lazy ones (Harvey, "Faster
 * arithmetic for number-theoretic transforms", JSC 2014, Algorithms 3-4):
 * values stay in [0, 4q) (forward) or [0, 2q) (inverse) between layers and
 * every twiddle multiplication is Shoup's, one high product and two low. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "he/he_internal.h"

static size_t brv(size_t x, unsigned bits)
{
    size_t r = 0;
    for (unsigned i = 0; i < bits; i++)
        r |= ((x >> i) & 1) << (bits - 1 - i);
    return r;
}

/* A primitive 2n-th root of unity mod q: g^((q-1)/2n) for a g that makes
 * it have order exactly 2n (psi^n = -1); the smallest such psi, so the
 * tables do not depend on the search order. */
static uint64_t find_psi(const he_mod *m, size_t n)
{
    uint64_t best = 0;
    for (uint64_t g = 2; g < 1000; g++) {
        uint64_t psi = he_pow(g, (m->q - 1) / (2 * n), m);
        if (he_pow(psi, n, m) != m->q - 1)
            continue;
        /* All primitive 2n-th roots are psi^odd; take the smallest. */
        uint64_t p2 = he_mul(psi, psi, m), x = psi;
        best = psi;
        for (size_t i = 0; i < n; i++) {
            if (x < best)
                best = x;
            x = he_mul(x, p2, m);
        }
        return best;
    }
    return 0;
}

int he_ntt_init(he_ntt *t, uint64_t q, unsigned logn)
{
    size_t n = (size_t)1 << logn;

    memset(t, 0, sizeof *t);
    he_mod_init(&t->m, q);
    t->n = n;
    t->logn = logn;
    t->psi = find_psi(&t->m, n);
    if (!t->psi)
        return gdn_error(GDN_EINVAL, "ckks: no 2N-th root of unity mod %llu",
                         (unsigned long long)q);
    t->w = gdn_alloc_aligned(n * sizeof(uint64_t));
    t->ws = gdn_alloc_aligned(n * sizeof(uint64_t));
    t->iw = gdn_alloc_aligned(n * sizeof(uint64_t));
    t->iws = gdn_alloc_aligned(n * sizeof(uint64_t));
    if (!t->w || !t->ws || !t->iw || !t->iws) {
        he_ntt_free(t);
        return GDN_ENOMEM;
    }
    uint64_t ipsi = he_inv(t->psi, &t->m), x = 1, y = 1;
    for (size_t i = 0; i < n; i++) {
        size_t r = brv(i, logn);
        t->w[r] = x;
        t->iw[r] = y;
        x = he_mul(x, t->psi, &t->m);
        y = he_mul(y, ipsi, &t->m);
    }
    for (size_t i = 0; i < n; i++) {
        t->ws[i] = he_shoup(t->w[i], q);
        t->iws[i] = he_shoup(t->iw[i], q);
    }
    t->ninv = he_inv((uint64_t)n % q, &t->m);
    t->ninvs = he_shoup(t->ninv, q);
    if (q < (uint64_t)1 << 50) {
        t->w52 = gdn_alloc_aligned(n * sizeof(uint64_t));
        t->iw52 = gdn_alloc_aligned(n * sizeof(uint64_t));
        if (!t->w52 || !t->iw52) {
            he_ntt_free(t);
            return GDN_ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            t->w52[i] = (uint64_t)(((he_u128)t->w[i] << 52) / q);
            t->iw52[i] = (uint64_t)(((he_u128)t->iw[i] << 52) / q);
        }
        t->ninv52 = (uint64_t)(((he_u128)t->ninv << 52) / q);
    }
    return 0;
}

void he_ntt_free(he_ntt *t)
{
    if (!t)
        return;
    gdn_free_aligned(t->w);
    gdn_free_aligned(t->ws);
    gdn_free_aligned(t->iw);
    gdn_free_aligned(t->iws);
    gdn_free_aligned(t->w52);
    gdn_free_aligned(t->iw52);
    t->w = t->ws = t->iw = t->iws = t->w52 = t->iw52 = NULL;
}

void he_ntt_forward_scalar(const he_ntt *t, uint64_t *a)
{
    const uint64_t q = t->m.q, q2 = 2 * q;
    size_t n = t->n, len = n;

    for (size_t m = 1; m < n; m <<= 1) {
        len >>= 1;
        for (size_t i = 0; i < m; i++) {
            uint64_t w = t->w[m + i], ws = t->ws[m + i];
            uint64_t *x = a + 2 * i * len, *y = x + len;
            for (size_t j = 0; j < len; j++) {
                uint64_t u = x[j];
                u = he_csub(u, q2);                              /* [0, 2q) */
                uint64_t v = he_mul_shoup_lazy(y[j], w, ws, q);  /* [0, 2q) */
                x[j] = u + v;                                    /* [0, 4q) */
                y[j] = u - v + q2;                               /* [0, 4q) */
            }
        }
    }
    for (size_t j = 0; j < n; j++)
        a[j] = he_csub(he_csub(a[j], q2), q);
}

void he_ntt_inverse_scalar(const he_ntt *t, uint64_t *a)
{
    const uint64_t q = t->m.q, q2 = 2 * q;
    size_t n = t->n, len = 1;

    for (size_t m = n >> 1; m >= 1; m >>= 1) {
        for (size_t i = 0; i < m; i++) {
            uint64_t w = t->iw[m + i], ws = t->iws[m + i];
            uint64_t *x = a + 2 * i * len, *y = x + len;
            for (size_t j = 0; j < len; j++) {
                uint64_t u = x[j], v = y[j];                      /* [0, 2q) */
                x[j] = he_csub(u + v, q2);
                y[j] = he_mul_shoup_lazy(u - v + q2, w, ws, q);
            }
        }
        len <<= 1;
    }
    for (size_t j = 0; j < n; j++)
        a[j] = he_mul_shoup(a[j], t->ninv, t->ninvs, q);
}

/* ---- Dispatch ------------------------------------------------------------- */

static atomic_int simd_level = -1;

static int cpu_level(void)
{
#if HE_X86
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq"))
        return 0;
    return __builtin_cpu_supports("avx512ifma") ? 2 : 1;
#else
    return 0;
#endif
}

int he_simd(void) { return gdn_simd_get(&simd_level, cpu_level); }

int he_set_simd(int level) { return gdn_simd_set(&simd_level, cpu_level, level); }

void he_ntt_forward(const he_ntt *t, uint64_t *a)
{
#if HE_X86
    int level = he_simd();
    if (level >= 2 && he_ntt_ifma_ok(t)) {
        he_ntt_forward_ifma(t, a);
        return;
    }
    if (level >= 1 && t->n >= 16) {
        he_ntt_forward_avx512(t, a);
        return;
    }
#endif
    he_ntt_forward_scalar(t, a);
}

void he_ntt_inverse(const he_ntt *t, uint64_t *a)
{
#if HE_X86
    int level = he_simd();
    if (level >= 2 && he_ntt_ifma_ok(t)) {
        he_ntt_inverse_ifma(t, a);
        return;
    }
    if (level >= 1 && t->n >= 16) {
        he_ntt_inverse_avx512(t, a);
        return;
    }
#endif
    he_ntt_inverse_scalar(t, a);
}
