/* Field64 and Field128 of draft-irtf-cfrg-vdaf-20 §6.1.2, in Montgomery form
 * (R = 2^64 and 2^128), constant-time; NTT and polynomial helpers.
 *
 * The arithmetic is written once as always-inline functions of a field
 * kind (fk); the vector kernels below (NTT butterflies, dot products,
 * pointwise gadgets) are instantiated per field by FK_DISPATCH, so their
 * inner loops carry no switch on the field and no call. */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "prio/prio_internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRIO_X86 1
#include <immintrin.h>
#else
#define PRIO_X86 0
#endif

typedef unsigned __int128 u128;

#define INLINE static inline __attribute__((always_inline))

/* Field64: p = 2^32 * 4294967295 + 1. */
#define P64 0xffffffff00000001ULL
#define R2_64 0xfffffffe00000001ULL /* 2^128 mod p */
#define GEN64 0x185629dcda58878cULL /* 7^((p-1)/2^32) */

/* Field128: p = 2^66 * 4611686018427387897 + 1 = 2^128 - 28 * 2^64 + 1. */
#define P128_0 0x0000000000000001ULL
#define P128_1 0xffffffffffffffe4ULL
#define N128 0xffffffffffffffffULL /* -p^-1 mod 2^64 (p = 1 mod 2^64) */
static const uint64_t R2_128[2] = {0xfffffffffffffcf1ULL, 0x5587ULL}; /* 2^256 mod p */
static const uint64_t GEN128[2] = {0x1f9b2759c5109f06ULL, 0x6d278fbf4f60228bULL};

static const prio_field field64 = {PRIO_FIELD64, 8, 32, 0, 0, 0, 0};
static const prio_field field128 = {PRIO_FIELD128, 16, 66, 0, 0, 0, 0};
/* draft-chen-cfrg-vdaf-pine-01 (poc/field.py): Field32, p = 2^20 * 4095 + 1,
 * generator 3925978153; Field40, p = 2^20 * 1048555 + 1, generator
 * 7^1048555. Both of order 2^20. */
static const prio_field field32 = {PRIO_FIELD32, 4, 20, 4293918721ULL,
                                   0xf01fff00ffefffffULL, 0x98d4ea60ULL, 3925978153ULL};
static const prio_field field40 = {PRIO_FIELD40, 5, 20, 1099489607681ULL,
                                   0xcffe47fffeafffffULL, 0x160dcd7524ULL, 395974995317ULL};

const prio_field *prio_field64(void) { return &field64; }
const prio_field *prio_field128(void) { return &field128; }
const prio_field *prio_field32(void) { return &field32; }
const prio_field *prio_field40(void) { return &field40; }

static int is_small(const prio_field *F) { return F->id >= PRIO_FIELD32; }

void prio_wipe(void *p, size_t n)
{
    sodium_memzero(p, n); /* a wipe the compiler keeps */
}

/* ---- Field kinds -----------------------------------------------------------
 * Field32 and Field40 share one path with the modulus as data; a kernel
 * called with a constant kind is compiled for that field alone. */

enum { FK64, FK128, FKSMALL };
typedef struct fk {
    int k;
    uint64_t p, ninv; /* FKSMALL: p and -p^-1 mod 2^64 */
} fk;

#define FK_64 ((fk){FK64, P64, 0})
#define FK_128 ((fk){FK128, 0, N128})
#define FK_SMALL(F) ((fk){FKSMALL, (F)->p, (F)->ninv})

/* Runs stmt with `f` bound to F's kind as a constant. */
#define FK_DISPATCH(F, stmt)                                                   \
    do {                                                                       \
        if ((F)->id == PRIO_FIELD64) {                                         \
            const fk f = FK_64;                                                \
            stmt;                                                              \
        } else if ((F)->id == PRIO_FIELD128) {                                 \
            const fk f = FK_128;                                               \
            stmt;                                                              \
        } else {                                                               \
            const fk f = FK_SMALL(F);                                          \
            stmt;                                                              \
        }                                                                      \
    } while (0)

static fk fk_of(const prio_field *F)
{
    if (F->id == PRIO_FIELD64)
        return FK_64;
    if (F->id == PRIO_FIELD128)
        return FK_128;
    return FK_SMALL(F);
}

/* ---- Field32, Field40 --------------------------------------------------- */

/* x - p if x >= p, for x < 2p (p < 2^41). */
INLINE uint64_t reduce_small(uint64_t p, uint64_t x)
{
    uint64_t d = x - p;
    uint64_t keep = (uint64_t)0 - (d >> 63); /* all ones if x < p */
    return (x & keep) | (d & ~keep);
}

/* t / 2^64 mod p for t < 2^64 p: (t + m p) / 2^64 < 2p. */
INLINE uint64_t mont_small(fk f, u128 t)
{
    uint64_t m = (uint64_t)t * f.ninv;
    u128 u = t + (u128)m * f.p;
    return reduce_small(f.p, (uint64_t)(u >> 64));
}

/* ---- Field64 ------------------------------------------------------------ */

/* t / 2^64 mod p for t < 2^64 p, fully reduced: with m = lo p^-1 mod 2^64
 * (p^-1 = 1 + 2^32 mod 2^64), t - m p is a multiple of 2^64 and
 * (t - m p) / 2^64 = hi - floor(m p / 2^64) lies in (-p, p). */
INLINE uint64_t mont64(u128 t)
{
    uint64_t lo = (uint64_t)t, hi = (uint64_t)(t >> 64);
    uint64_t m = lo + (lo << 32);
    uint64_t mh = (uint64_t)(((u128)m * P64) >> 64);
    uint64_t r = hi - mh;
    return r + (P64 & ((uint64_t)0 - (uint64_t)(hi < mh)));
}

INLINE uint64_t add64(uint64_t a, uint64_t b)
{
    uint64_t s = a + b, c = s < a;      /* a + b = s + c 2^64 */
    uint64_t d = s - P64, lt = s < P64; /* d = a + b - p when a + b >= p */
    uint64_t ge = (uint64_t)0 - (c | (lt ^ 1));
    return (d & ge) | (s & ~ge);
}

INLINE uint64_t sub64(uint64_t a, uint64_t b)
{
    return (a - b) + (P64 & ((uint64_t)0 - (uint64_t)(a < b)));
}

/* x mod p for any x < 2^64. */
INLINE uint64_t reduce64(uint64_t x)
{
    return x - (P64 & ((uint64_t)0 - (uint64_t)(x >= P64)));
}

/* ---- Field128 ----------------------------------------------------------- */

/* t2:t1:t0 - p when >= p (t < 2p). */
INLINE void reduce128(uint64_t r[2], uint64_t t0, uint64_t t1, uint64_t t2)
{
    u128 d0 = (u128)t0 - P128_0;
    uint64_t b0 = (uint64_t)(d0 >> 64) & 1;
    u128 d1 = (u128)t1 - P128_1 - b0;
    uint64_t b1 = (uint64_t)(d1 >> 64) & 1;
    uint64_t d2 = t2 - b1; /* all ones when t < p */
    uint64_t keep = (uint64_t)0 - (d2 >> 63);
    r[0] = (t0 & keep) | ((uint64_t)d0 & ~keep);
    r[1] = (t1 & keep) | ((uint64_t)d1 & ~keep);
}

/* CIOS Montgomery multiplication with two limbs. */
INLINE void mont128(uint64_t r[2], const uint64_t a[2], const uint64_t b[2])
{
    uint64_t t0 = 0, t1 = 0, t2 = 0;
    for (int i = 0; i < 2; i++) {
        u128 c = (u128)a[0] * b[i] + t0;
        t0 = (uint64_t)c;
        c = (u128)a[1] * b[i] + t1 + (uint64_t)(c >> 64);
        t1 = (uint64_t)c;
        c = (u128)t2 + (uint64_t)(c >> 64);
        t2 = (uint64_t)c;
        uint64_t t3 = (uint64_t)(c >> 64);
        uint64_t m = t0 * N128;
        c = (u128)m * P128_0 + t0;
        c = (u128)m * P128_1 + t1 + (uint64_t)(c >> 64);
        uint64_t n1 = (uint64_t)c;
        c = (u128)t2 + (uint64_t)(c >> 64);
        uint64_t n2 = (uint64_t)c;
        t3 += (uint64_t)(c >> 64);
        t0 = n1;
        t1 = n2;
        t2 = t3;
    }
    reduce128(r, t0, t1, t2);
}

/* ---- Arithmetic by kind --------------------------------------------------- */

INLINE prio_fe k_mul(fk f, prio_fe a, prio_fe b)
{
    prio_fe r = {{0, 0}};
    if (f.k == FK64)
        r.v[0] = mont64((u128)a.v[0] * b.v[0]);
    else if (f.k == FKSMALL)
        r.v[0] = mont_small(f, (u128)a.v[0] * b.v[0]);
    else
        mont128(r.v, a.v, b.v);
    return r;
}

INLINE prio_fe k_add(fk f, prio_fe a, prio_fe b)
{
    prio_fe r = {{0, 0}};
    if (f.k == FK64) {
        r.v[0] = add64(a.v[0], b.v[0]);
    } else if (f.k == FKSMALL) {
        r.v[0] = reduce_small(f.p, a.v[0] + b.v[0]);
    } else {
        u128 s0 = (u128)a.v[0] + b.v[0];
        u128 s1 = (u128)a.v[1] + b.v[1] + (uint64_t)(s0 >> 64);
        reduce128(r.v, (uint64_t)s0, (uint64_t)s1, (uint64_t)(s1 >> 64));
    }
    return r;
}

INLINE prio_fe k_sub(fk f, prio_fe a, prio_fe b)
{
    prio_fe r = {{0, 0}};
    if (f.k == FK64) {
        r.v[0] = sub64(a.v[0], b.v[0]);
    } else if (f.k == FKSMALL) {
        uint64_t d = a.v[0] - b.v[0];
        r.v[0] = d + (f.p & ((uint64_t)0 - (d >> 63)));
    } else {
        u128 d0 = (u128)a.v[0] - b.v[0];
        uint64_t b0 = (uint64_t)(d0 >> 64) & 1;
        u128 d1 = (u128)a.v[1] - b.v[1] - b0;
        uint64_t mask = (uint64_t)0 - ((uint64_t)(d1 >> 64) & 1);
        u128 s0 = (u128)(uint64_t)d0 + (P128_0 & mask);
        r.v[0] = (uint64_t)s0;
        r.v[1] = (uint64_t)d1 + (P128_1 & mask) + (uint64_t)(s0 >> 64);
    }
    return r;
}

/* ---- Generic ------------------------------------------------------------ */

prio_fe prio_fe_zero(void)
{
    prio_fe z = {{0, 0}};
    return z;
}

static prio_fe to_mont(const prio_field *F, const uint64_t x[2])
{
    prio_fe r = {{0, 0}};
    if (F->id == PRIO_FIELD64)
        r.v[0] = mont64((u128)x[0] * R2_64);
    else if (is_small(F)) /* any x[0] < 2^64: x R^2 < 2^64 p */
        r.v[0] = mont_small(FK_SMALL(F), (u128)x[0] * F->r2);
    else
        mont128(r.v, x, R2_128);
    return r;
}

void prio_fe_value(const prio_field *F, uint64_t out[2], prio_fe a)
{
    if (F->id == PRIO_FIELD64 || is_small(F)) {
        out[0] = F->id == PRIO_FIELD64 ? mont64(a.v[0]) : mont_small(FK_SMALL(F), a.v[0]);
        out[1] = 0;
    } else {
        static const uint64_t one[2] = {1, 0};
        mont128(out, a.v, one);
    }
}

prio_fe prio_fe_from_u64(const prio_field *F, uint64_t x)
{
    uint64_t v[2] = {x, 0};
    if (F->id == PRIO_FIELD64)
        v[0] = reduce64(x);
    return to_mont(F, v);
}

prio_fe prio_fe_one(const prio_field *F) { return prio_fe_from_u64(F, 1); }

prio_fe prio_fe_from_wide_sum(const prio_field *F, uint64_t lo, uint64_t hi)
{
    /* t R^-1 by one Montgomery step, then times R^2 R^-1: t mod p, as a
     * representation (representations add like the elements). */
    u128 t = (u128)hi << 64 | lo;
    prio_fe r = {{0, 0}};
    if (F->id == PRIO_FIELD64)
        r.v[0] = mont64((u128)mont64(t) * R2_64);
    else
        r.v[0] = mont_small(FK_SMALL(F), (u128)mont_small(FK_SMALL(F), t) * F->r2);
    return r;
}

prio_fe prio_fe_add(const prio_field *F, prio_fe a, prio_fe b) { return k_add(fk_of(F), a, b); }
prio_fe prio_fe_sub(const prio_field *F, prio_fe a, prio_fe b) { return k_sub(fk_of(F), a, b); }
prio_fe prio_fe_mul(const prio_field *F, prio_fe a, prio_fe b) { return k_mul(fk_of(F), a, b); }

prio_fe prio_fe_neg(const prio_field *F, prio_fe a)
{
    return prio_fe_sub(F, prio_fe_zero(), a);
}

prio_fe prio_fe_pow(const prio_field *F, prio_fe a, const uint64_t e[2])
{
    prio_fe r = prio_fe_one(F);
    int top = 127;
    while (top >= 0 && !((e[top / 64] >> (top % 64)) & 1)) /* public: skip leading zeros */
        top--;
    for (int i = top; i >= 0; i--) {
        r = prio_fe_mul(F, r, r);
        if ((e[i / 64] >> (i % 64)) & 1) /* public exponent */
            r = prio_fe_mul(F, r, a);
    }
    return r;
}

prio_fe prio_fe_inv(const prio_field *F, prio_fe a)
{
    uint64_t e[2];
    if (F->id == PRIO_FIELD64 || is_small(F)) {
        e[0] = (F->id == PRIO_FIELD64 ? P64 : F->p) - 2;
        e[1] = 0;
    } else {
        e[0] = P128_0 - 2; /* borrows: p - 2 = (p1 - 1) * 2^64 + (2^64 - 1) */
        e[1] = P128_1 - 1;
    }
    return prio_fe_pow(F, a, e);
}

int prio_fe_eq(prio_fe a, prio_fe b)
{
    uint64_t d = (a.v[0] ^ b.v[0]) | (a.v[1] ^ b.v[1]);
    return (int)(1 ^ ((d | (0 - d)) >> 63));
}

void prio_fe_encode(const prio_field *F, uint8_t *out, prio_fe a)
{
    uint64_t v[2];
    prio_fe_value(F, v, a);
    if (is_small(F)) {
        for (size_t i = 0; i < F->encoded_size; i++)
            out[i] = (uint8_t)(v[0] >> (8 * i));
        return;
    }
    gdn_store_le64(out, v[0]);
    if (F->id == PRIO_FIELD128)
        gdn_store_le64(out + 8, v[1]);
}

/* 1 when v < p, computed without branches. */
static int below_p(const prio_field *F, const uint64_t v[2])
{
    if (F->id == PRIO_FIELD64)
        return (int)((uint64_t)(((u128)v[0] - P64) >> 127));
    if (is_small(F))
        return (int)((v[0] - F->p) >> 63); /* v < 2^40 */
    u128 d0 = (u128)v[0] - P128_0;
    u128 d1 = (u128)v[1] - P128_1 - ((uint64_t)(d0 >> 64) & 1);
    return (int)((uint64_t)(d1 >> 64) & 1);
}

int prio_fe_decode(const prio_field *F, prio_fe *out, const uint8_t *in)
{
    uint64_t v[2] = {0, 0};
    if (is_small(F)) {
        for (size_t i = 0; i < F->encoded_size; i++)
            v[0] |= (uint64_t)in[i] << (8 * i);
    } else {
        v[0] = gdn_load_le64(in);
    }
    if (F->id == PRIO_FIELD128)
        v[1] = gdn_load_le64(in + 8);
    if (!below_p(F, v))
        return GDN_EFORMAT;
    *out = to_mont(F, v);
    return 0;
}

int prio_fe_sample(const prio_field *F, prio_fe *out, const uint8_t *in)
{
    /* Every modulus has the full bit length of its encoding (64, 128, 32,
     * 40 bits), so the mask of §6.2 is a no-op. */
    return prio_fe_decode(F, out, in) == 0;
}


/* ---- NTT ---------------------------------------------------------------- */

prio_fe prio_root_of_unity(const prio_field *F, unsigned log_n)
{
    uint64_t g[2] = {is_small(F) ? F->gen : GEN64, 0};
    if (F->id == PRIO_FIELD128) {
        g[0] = GEN128[0];
        g[1] = GEN128[1];
    }
    prio_fe r = to_mont(F, g);
    for (unsigned i = log_n; i < F->log_gen_order; i++)
        r = prio_fe_mul(F, r, r);
    return r;
}

/* 1/2 = -(p - 1)/2 mod p, without an inversion. */
static prio_fe half(const prio_field *F)
{
    uint64_t v[2] = {0, 0};
    if (F->id == PRIO_FIELD128) {
        v[0] = (P128_0 - 1) >> 1 | P128_1 << 63; /* p - 1 = P128_1 2^64 */
        v[1] = P128_1 >> 1;
    } else {
        v[0] = ((F->id == PRIO_FIELD64 ? P64 : F->p) - 1) >> 1;
    }
    return prio_fe_neg(F, to_mont(F, v));
}

/* 2^-log_n = (1/2)^log_n: a few multiplications, no inversion. */
static prio_fe inv_pow2(const prio_field *F, unsigned log_n)
{
    prio_fe r = prio_fe_one(F), h = half(F);
    for (unsigned i = 0; i < log_n; i++)
        r = prio_fe_mul(F, r, h);
    return r;
}


static void bit_reverse(prio_fe *a, unsigned log_n)
{
    size_t n = (size_t)1 << log_n;
    for (size_t i = 0, j = 0; i < n; i++) {
        if (i < j) {
            prio_fe t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
        size_t bit = n >> 1;
        while (bit && (j & bit)) {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
    }
}

/* Twiddles of every stage of every size up to 2^log_n, each stage
 * contiguous: w[h + j] = r^j for j < h, r the primitive 2h-th root of
 * unity (its inverse for the inverse table). */
static void fill_twiddles(const prio_field *F, prio_fe *w, unsigned log_n, int inverse)
{
    for (unsigned s = 1; s <= log_n; s++) {
        size_t h = (size_t)1 << (s - 1);
        uint64_t e[2] = {2 * h - 1, 0}; /* r^-1 = r^(2h - 1) */
        prio_fe r = prio_root_of_unity(F, s);
        if (inverse)
            r = prio_fe_pow(F, r, e);
        w[h] = prio_fe_one(F);
        for (size_t j = 1; j < h; j++)
            w[h + j] = prio_fe_mul(F, w[h + j - 1], r);
    }
}

int prio_ntt_tab_init(prio_ntt_tab *t, const prio_field *F, unsigned log_n)
{
    size_t n = (size_t)1 << log_n;
    t->F = F;
    t->log_n = log_n;
    t->fw = malloc(n * sizeof *t->fw);
    t->iw = malloc(n * sizeof *t->iw);
    if (!t->fw || !t->iw) {
        prio_ntt_tab_free(t);
        return GDN_ENOMEM;
    }
    fill_twiddles(F, t->fw, log_n, 0);
    fill_twiddles(F, t->iw, log_n, 1);
    return 0;
}

void prio_ntt_tab_free(prio_ntt_tab *t)
{
    free(t->fw);
    free(t->iw);
    t->fw = t->iw = NULL;
}

/* Gentleman-Sande butterflies: natural order in, bit-reversed out,
 * a[rev(i)] <- sum_j a[j] r^(ij) (r the m-th root of the table w). */
INLINE void dif_k(fk f, prio_fe *a, unsigned log_m, const prio_fe *w)
{
    size_t m = (size_t)1 << log_m;
    for (size_t h = m >> 1; h >= 1; h >>= 1)
        for (size_t k = 0; k < m; k += 2 * h)
            for (size_t j = 0; j < h; j++) {
                prio_fe u = a[k + j], v = a[k + j + h];
                a[k + j] = k_add(f, u, v);
                a[k + j + h] = k_mul(f, k_sub(f, u, v), w[h + j]);
            }
}

/* Cooley-Tukey butterflies: bit-reversed order in, natural out. */
INLINE void dit_k(fk f, prio_fe *a, unsigned log_m, const prio_fe *w)
{
    size_t m = (size_t)1 << log_m;
    for (size_t h = 1; h < m; h <<= 1)
        for (size_t k = 0; k < m; k += 2 * h)
            for (size_t j = 0; j < h; j++) {
                prio_fe u = a[k + j], v = k_mul(f, a[k + j + h], w[h + j]);
                a[k + j] = k_add(f, u, v);
                a[k + j + h] = k_sub(f, u, v);
            }
}

INLINE void scale_k(fk f, prio_fe *a, size_t n, prio_fe s)
{
    for (size_t i = 0; i < n; i++)
        a[i] = k_mul(f, a[i], s);
}

void prio_ntt_run(const prio_ntt_tab *t, prio_fe *a, unsigned log_m, int inverse)
{
    const prio_field *F = t->F;
    FK_DISPATCH(F, dif_k(f, a, log_m, inverse ? t->iw : t->fw));
    bit_reverse(a, log_m);
    if (inverse) {
        prio_fe s = inv_pow2(F, log_m);
        FK_DISPATCH(F, scale_k(f, a, (size_t)1 << log_m, s));
    }
}

static int ntt_once(const prio_field *F, prio_fe *a, unsigned log_n, int inverse)
{
    prio_ntt_tab t;
    int rc = prio_ntt_tab_init(&t, F, log_n);
    if (rc)
        return rc;
    prio_ntt_run(&t, a, log_n, inverse);
    prio_ntt_tab_free(&t);
    return 0;
}

int prio_ntt(const prio_field *F, prio_fe *a, unsigned log_n) { return ntt_once(F, a, log_n, 0); }
int prio_intt(const prio_field *F, prio_fe *a, unsigned log_n) { return ntt_once(F, a, log_n, 1); }

/* ---- Field64 extension with AVX-512 ----------------------------------------
 * The same transforms on packed 64-bit lanes, eight butterflies at a time;
 * in the stages of half-length h < 8 after a lane permutation (lane by
 * lane below 16 points). Montgomery multiplication for p = 2^64 - 2^32 + 1
 * needs one 64 x 64 product: with m = lo (1 + 2^32) mod 2^64 and
 * d = m (2^32 - 1), floor(m p / 2^64) = m - floor(d / 2^64) - [d mod 2^64
 * != 0], shifts and subtractions only. */

/* One stage of half-length h < 8, lane by lane (Gentleman-Sande or
 * Cooley-Tukey). */
static void stage64(uint64_t *a, size_t m, size_t h, const uint64_t *w, int dif)
{
    for (size_t k = 0; k < m; k += 2 * h)
        for (size_t j = 0; j < h; j++) {
            uint64_t u = a[k + j], v = a[k + j + h];
            if (dif) {
                a[k + j] = add64(u, v);
                a[k + j + h] = mont64((u128)sub64(u, v) * w[h + j]);
            } else {
                v = mont64((u128)v * w[h + j]);
                a[k + j] = add64(u, v);
                a[k + j + h] = sub64(u, v);
            }
        }
}

#if PRIO_X86
#define AVX512 __attribute__((target("avx512f,avx512dq")))
#define VINLINE static inline __attribute__((always_inline)) AVX512

VINLINE __m512i v_add(__m512i a, __m512i b, __m512i p)
{
    __m512i s = _mm512_add_epi64(a, b);
    __mmask8 k = _mm512_cmplt_epu64_mask(s, a) | _mm512_cmpge_epu64_mask(s, p);
    return _mm512_mask_sub_epi64(s, k, s, p);
}

VINLINE __m512i v_sub(__m512i a, __m512i b, __m512i p)
{
    __m512i d = _mm512_sub_epi64(a, b);
    return _mm512_mask_add_epi64(d, _mm512_cmplt_epu64_mask(a, b), d, p);
}

/* Montgomery product a b / 2^64 mod p of reduced a, b. */
VINLINE __m512i v_mul(__m512i a, __m512i b, __m512i p)
{
    const __m512i lo32 = _mm512_set1_epi64(0xffffffff), one = _mm512_set1_epi64(1);
    __m512i ah = _mm512_srli_epi64(a, 32), bh = _mm512_srli_epi64(b, 32);
    __m512i ll = _mm512_mul_epu32(a, b), lh = _mm512_mul_epu32(a, bh);
    __m512i hl = _mm512_mul_epu32(ah, b), hh = _mm512_mul_epu32(ah, bh);
    __m512i mid = _mm512_add_epi64(lh, _mm512_srli_epi64(ll, 32)); /* < 2^64 */
    __m512i mid2 = _mm512_add_epi64(hl, _mm512_and_si512(mid, lo32));
    __m512i lo = _mm512_or_si512(_mm512_slli_epi64(mid2, 32), _mm512_and_si512(ll, lo32));
    __m512i hi = _mm512_add_epi64(_mm512_add_epi64(hh, _mm512_srli_epi64(mid, 32)),
                                  _mm512_srli_epi64(mid2, 32));
    __m512i m = _mm512_add_epi64(lo, _mm512_slli_epi64(lo, 32));
    __m512i ms = _mm512_slli_epi64(m, 32);
    __m512i dl = _mm512_sub_epi64(ms, m);
    __m512i dh = _mm512_mask_sub_epi64(_mm512_srli_epi64(m, 32),
                                       _mm512_cmplt_epu64_mask(ms, m),
                                       _mm512_srli_epi64(m, 32), one);
    __m512i mh = _mm512_sub_epi64(m, dh);
    mh = _mm512_mask_sub_epi64(mh, _mm512_test_epi64_mask(dl, dl), mh, one);
    __m512i r = _mm512_sub_epi64(hi, mh);
    return _mm512_mask_add_epi64(r, _mm512_cmplt_epu64_mask(hi, mh), r, p);
}

/* A stage of half-length h < 8 on 16 elements at a time (m >= 16): the
 * butterflies' first and second halves gathered into two vectors by lane
 * permutations, and merged back by two more. */
AVX512 static void small_stage_avx512(uint64_t *a, size_t m, size_t h, const uint64_t *w,
                                      int dif)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    long long iu[8], iv[8], ia[8], ib[8], tw[8];
    size_t nu = 0, nv = 0;
    for (size_t pos = 0; pos < 16; pos++) {
        long long at;
        if (pos % (2 * h) < h) {
            tw[nu] = (long long)w[h + pos % (2 * h)];
            iu[nu] = (long long)pos;
            at = (long long)nu++;
        } else {
            iv[nv] = (long long)pos;
            at = 8 + (long long)nv++;
        }
        if (pos < 8)
            ia[pos] = at;
        else
            ib[pos - 8] = at;
    }
    __m512i IU = _mm512_loadu_si512(iu), IV = _mm512_loadu_si512(iv);
    __m512i IA = _mm512_loadu_si512(ia), IB = _mm512_loadu_si512(ib);
    __m512i t = _mm512_loadu_si512(tw);
    for (size_t k = 0; k < m; k += 16) {
        __m512i A = _mm512_loadu_si512(a + k), B = _mm512_loadu_si512(a + k + 8);
        __m512i u = _mm512_permutex2var_epi64(A, IU, B), v = _mm512_permutex2var_epi64(A, IV, B);
        __m512i x, y;
        if (dif) {
            x = v_add(u, v, p);
            y = v_mul(v_sub(u, v, p), t, p);
        } else {
            v = v_mul(v, t, p);
            x = v_add(u, v, p);
            y = v_sub(u, v, p);
        }
        _mm512_storeu_si512(a + k, _mm512_permutex2var_epi64(x, IA, y));
        _mm512_storeu_si512(a + k + 8, _mm512_permutex2var_epi64(x, IB, y));
    }
}

AVX512 static void dif64_avx512(uint64_t *a, unsigned log_m, const uint64_t *w)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    size_t m = (size_t)1 << log_m, h = m >> 1;
    for (; h >= 8; h >>= 1)
        for (size_t k = 0; k < m; k += 2 * h)
            for (size_t j = 0; j < h; j += 8) {
                __m512i u = _mm512_loadu_si512(a + k + j), v = _mm512_loadu_si512(a + k + j + h);
                __m512i t = _mm512_loadu_si512(w + h + j);
                _mm512_storeu_si512(a + k + j, v_add(u, v, p));
                _mm512_storeu_si512(a + k + j + h, v_mul(v_sub(u, v, p), t, p));
            }
    for (; h >= 1; h >>= 1) {
        if (m >= 16)
            small_stage_avx512(a, m, h, w, 1);
        else
            stage64(a, m, h, w, 1);
    }
}

AVX512 static void dit64_avx512(uint64_t *a, unsigned log_m, const uint64_t *w)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    size_t m = (size_t)1 << log_m, h = 1;
    for (; h < m && h < 8; h <<= 1) {
        if (m >= 16)
            small_stage_avx512(a, m, h, w, 0);
        else
            stage64(a, m, h, w, 0);
    }
    for (; h < m; h <<= 1)
        for (size_t k = 0; k < m; k += 2 * h)
            for (size_t j = 0; j < h; j += 8) {
                __m512i u = _mm512_loadu_si512(a + k + j);
                __m512i v = v_mul(_mm512_loadu_si512(a + k + j + h),
                                  _mm512_loadu_si512(w + h + j), p);
                _mm512_storeu_si512(a + k + j, v_add(u, v, p));
                _mm512_storeu_si512(a + k + j + h, v_sub(u, v, p));
            }
}

/* Lanes v[0] of the eight elements at x, and back with v[1] = 0. */
VINLINE __m512i v_load_fe(const prio_fe *x)
{
    const __m512i idx = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    return _mm512_permutex2var_epi64(_mm512_loadu_si512(x), idx, _mm512_loadu_si512(x + 4));
}

VINLINE void v_store_fe(prio_fe *x, __m512i v)
{
    const __m512i z = _mm512_setzero_si512();
    const __m512i lo = _mm512_setr_epi64(0, 8, 1, 8, 2, 8, 3, 8);
    const __m512i hi = _mm512_setr_epi64(4, 8, 5, 8, 6, 8, 7, 8);
    _mm512_storeu_si512(x, _mm512_permutex2var_epi64(v, lo, z));
    _mm512_storeu_si512(x + 4, _mm512_permutex2var_epi64(v, hi, z));
}

/* twist: o[i] = c[i] t[i] (p a multiple of 8 here). */
AVX512 static void mul64_avx512(uint64_t *o, const uint64_t *c, const uint64_t *t, size_t n)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    for (size_t i = 0; i < n; i += 8)
        _mm512_storeu_si512(o + i, v_mul(_mm512_loadu_si512(c + i), _mm512_loadu_si512(t + i), p));
}

/* lde_k for Field64 on packed lanes (p >= 8). */
AVX512 static void lde64_avx512(const prio_lde *e, prio_fe *out, const prio_fe *y)
{
    size_t p = (size_t)1 << e->log_p, r = (size_t)1 << (e->log_n - e->log_p);
    uint64_t *c = e->s64, *o = e->s64 + p;
    memcpy(out, y, p * sizeof *out);
    for (size_t i = 0; i < p; i += 8)
        _mm512_storeu_si512(c + i, v_load_fe(y + i));
    dif64_avx512(c, e->log_p, e->iw64);
    for (size_t j = 1; j < r; j++) {
        mul64_avx512(o, c, e->tw64 + (j - 1) * p, p);
        dit64_avx512(o, e->log_p, e->fw64);
        for (size_t i = 0; i < p; i += 8)
            v_store_fe(out + j * p + i, _mm512_loadu_si512(o + i));
    }
}
#endif

/* ---- Low-degree extension -------------------------------------------------
 * The prover's step of draft-irtf-cfrg-vdaf-20 §7.3.3 (Boneh et al., CRYPTO 2019):
 * a polynomial of degree < p known by its values at the p-th roots w^k is
 * evaluated on each coset z^j <w> (z the primitive n-th root, j < n/p):
 * one inverse transform of size p gives its coefficients c_i, and the
 * coset's values are the size-p transform of c_i z^(ij). With the inverse
 * as DIF (bit-reversed coefficients) and the forward as DIT (bit-reversed
 * input), no reordering is needed: the twist table holds z^(j rev(i)) / p. */

/* Field64's tables as packed lanes, and the scratch of lde64_avx512. */
static int pack64(prio_lde *e, size_t r)
{
    size_t p = (size_t)1 << e->log_p, n = (size_t)1 << e->log_n;
    e->fw64 = malloc(n * sizeof *e->fw64);
    e->iw64 = malloc(n * sizeof *e->iw64);
    e->tw64 = malloc(((r - 1) * p + 1) * sizeof *e->tw64);
    e->s64 = malloc(2 * p * sizeof *e->s64);
    if (!e->fw64 || !e->iw64 || !e->tw64 || !e->s64) {
        prio_lde_free(e);
        return GDN_ENOMEM;
    }
    for (size_t i = 1; i < n; i++) {
        e->fw64[i] = e->tab.fw[i].v[0];
        e->iw64[i] = e->tab.iw[i].v[0];
    }
    for (size_t i = 0; i < (r - 1) * p; i++)
        e->tw64[i] = e->twist[i].v[0];
    return 0;
}

int prio_lde_init(prio_lde *e, const prio_field *F, unsigned log_p, unsigned log_n)
{
    size_t p = (size_t)1 << log_p, r = (size_t)1 << (log_n - log_p);
    memset(e, 0, sizeof *e); /* prio_lde_free is safe after a failure */
    e->log_p = log_p;
    e->log_n = log_n;
    e->twist = malloc((r - 1) * p * sizeof *e->twist + 1);
    int rc = e->twist ? prio_ntt_tab_init(&e->tab, F, log_n) : GDN_ENOMEM;
    if (rc) {
        prio_lde_free(e);
        return rc;
    }
    prio_fe z = prio_root_of_unity(F, log_n), zj = z, pinv = inv_pow2(F, log_p);
    for (size_t j = 1; j < r; j++) {
        prio_fe x = pinv; /* z^(ij) / p */
        for (size_t i = 0; i < p; i++) {
            e->twist[(j - 1) * p + gdn_bit_reverse(i, log_p)] = x;
            x = prio_fe_mul(F, x, zj);
        }
        zj = prio_fe_mul(F, zj, z);
    }
    return F->id == PRIO_FIELD64 && p >= 8 ? pack64(e, r) : 0;
}

void prio_lde_free(prio_lde *e)
{
    prio_ntt_tab_free(&e->tab);
    if (e->s64) /* held a wire */
        prio_wipe(e->s64, 2 * ((size_t)1 << e->log_p) * sizeof *e->s64);
    free(e->twist);
    free(e->fw64);
    free(e->iw64);
    free(e->tw64);
    free(e->s64);
    e->twist = NULL;
    e->fw64 = e->iw64 = e->tw64 = e->s64 = NULL;
}

INLINE void lde_k(fk f, const prio_lde *e, prio_fe *out, const prio_fe *y)
{
    size_t p = (size_t)1 << e->log_p, r = (size_t)1 << (e->log_n - e->log_p);
    memcpy(out, y, p * sizeof *out);
    if (r == 1)
        return;
    prio_fe *c = out + (r - 1) * p; /* p c_rev(i), kept until the last coset */
    memcpy(c, y, p * sizeof *c);
    dif_k(f, c, e->log_p, e->tab.iw);
    for (size_t j = 1; j < r; j++) {
        prio_fe *o = out + j * p;
        const prio_fe *tw = e->twist + (j - 1) * p;
        for (size_t i = 0; i < p; i++)
            o[i] = k_mul(f, c[i], tw[i]);
        dit_k(f, o, e->log_p, e->tab.fw);
    }
}

void prio_lde_run(const prio_lde *e, prio_fe *out, const prio_fe *y)
{
#if PRIO_X86
    if (e->s64 && prio_simd() >= 1) {
        lde64_avx512(e, out, y);
        return;
    }
#endif
    FK_DISPATCH(e->tab.F, lde_k(f, e, out, y));
}

/* ---- Evaluation at a point ------------------------------------------------ */

/* The barycentric ("modified Lagrange") formula of Berrut and Trefethen
 * (SIAM Review 46(3), 2004) on the p-th roots of unity: with
 * l(t) = prod_k (t - w^k) = t^p - 1 and weights 1/l'(w^k) = w^k / p,
 * f(t) = sum_k f(w^k) c_k for c_k = w^k / p prod_{i != k} (t - w^i). The
 * products come from prefix products forward and suffix products backward
 * (Montgomery's trick without its inversion, as the product of all the
 * t - w^i is l(t)): exact for every t, the roots included. */
INLINE void bary_prefix_k(fk f, prio_fe *c, size_t p, prio_fe w, prio_fe t, prio_fe one)
{
    prio_fe x = one, acc = one;
    for (size_t k = 0; k < p; k++) {
        acc = k_mul(f, acc, k_sub(f, t, x)); /* prod_{i <= k} (t - w^i) */
        c[k] = acc;
        x = k_mul(f, x, w);
    }
}

/* suf = prod_{i > k} (t - w^i) / p going down; c[k] = w^k c[k-1] suf. */
INLINE void bary_back_k(fk f, prio_fe *c, size_t p, prio_fe winv, prio_fe t, prio_fe suf)
{
    prio_fe x = winv; /* w^(p-1) */
    for (size_t k = p; k-- > 0;) {
        prio_fe ik = k ? k_mul(f, suf, c[k - 1]) : suf;
        suf = k_mul(f, suf, k_sub(f, t, x));
        c[k] = k_mul(f, x, ik);
        x = k_mul(f, x, winv);
    }
}

void prio_bary_weights(const prio_field *F, prio_fe *c, unsigned log_p, prio_fe t)
{
    size_t p = (size_t)1 << log_p;
    uint64_t e[2] = {(uint64_t)p - 1, 0};
    prio_fe w = prio_root_of_unity(F, log_p), winv = prio_fe_pow(F, w, e);
    prio_fe one = prio_fe_one(F), pinv = inv_pow2(F, log_p);
    FK_DISPATCH(F, bary_prefix_k(f, c, p, w, t, one));
    FK_DISPATCH(F, bary_back_k(f, c, p, winv, t, pinv));
}

/* A sum of products, reduced once: Field64 adds the 128-bit products into
 * 192 bits, (t2 2^128 + t1 2^64 + t0) / 2^64 = t2 2^64 + t1 + t0 / 2^64;
 * Field32/40 fold every 2^12 products (each < 2^82) with one Montgomery
 * step; Field128 reduces each product. */
typedef struct wacc {
    uint64_t t0, t1, t2;
    u128 s;
    size_t cnt;
    prio_fe r;
} wacc;

INLINE void wacc_add(fk f, wacc *w, prio_fe a, prio_fe b)
{
    if (f.k == FK64) {
        u128 m = (u128)a.v[0] * b.v[0];
        u128 s = (u128)w->t0 + (uint64_t)m;
        w->t0 = (uint64_t)s;
        s = (u128)w->t1 + (uint64_t)(m >> 64) + (uint64_t)(s >> 64);
        w->t1 = (uint64_t)s;
        w->t2 += (uint64_t)(s >> 64);
    } else if (f.k == FKSMALL) {
        w->s += (u128)a.v[0] * b.v[0];
        if (++w->cnt == 4096) { /* public count */
            w->r.v[0] = reduce_small(f.p, w->r.v[0] + mont_small(f, w->s));
            w->s = 0;
            w->cnt = 0;
        }
    } else {
        w->r = k_add(f, w->r, k_mul(f, a, b));
    }
}

INLINE prio_fe wacc_get(fk f, const wacc *w)
{
    prio_fe r = w->r;
    if (f.k == FK64)
        r.v[0] = add64(add64(mont64(w->t0), reduce64(w->t1)), mont64((u128)w->t2 * R2_64));
    else if (f.k == FKSMALL)
        r.v[0] = reduce_small(f.p, r.v[0] + mont_small(f, w->s));
    return r;
}

/* sum_i a[i sa] b[i sb] */
INLINE prio_fe dot_k(fk f, const prio_fe *a, size_t sa, const prio_fe *b, size_t sb, size_t n)
{
    wacc w = {0, 0, 0, 0, 0, {{0, 0}}};
    for (size_t i = 0; i < n; i++)
        wacc_add(f, &w, a[i * sa], b[i * sb]);
    return wacc_get(f, &w);
}

prio_fe prio_vec_dot(const prio_field *F, const prio_fe *a, const prio_fe *b, size_t n)
{
    prio_fe r;
    FK_DISPATCH(F, r = dot_k(f, a, 1, b, 1, n));
    return r;
}

/* Sums of rows scaled by elements, one lazy sum per column; for Field64
 * with AVX-512, the first cols / 8 * 8 columns as reduced sums of
 * Montgomery products in v64 (the same elements). */
struct prio_rows_sum {
    const prio_field *F;
    size_t cols, vcols;
    uint64_t *v64;
    wacc w[];
};

prio_rows_sum *prio_rows_sum_new(const prio_field *F, size_t cols)
{
    prio_rows_sum *r = calloc(1, sizeof *r + cols * sizeof r->w[0]);
    if (r) {
        r->F = F;
        r->cols = cols;
#if PRIO_X86
        if (F->id == PRIO_FIELD64 && prio_simd() >= 1 && cols >= 8) {
            r->vcols = cols / 8 * 8;
            r->v64 = calloc(r->vcols, sizeof *r->v64);
        }
        if (r->vcols && !r->v64) {
            free(r);
            return NULL;
        }
#endif
    }
    return r;
}

#if PRIO_X86
AVX512 static void rows_add64_avx512(uint64_t *acc, const prio_fe *row, size_t n, prio_fe c)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    const __m512i cv = _mm512_set1_epi64((long long)c.v[0]);
    for (size_t j = 0; j < n; j += 8)
        _mm512_storeu_si512(acc + j, v_add(_mm512_loadu_si512(acc + j),
                                           v_mul(v_load_fe(row + j), cv, p), p));
}
#endif

INLINE void rows_add_k(fk f, wacc *w, const prio_fe *row, size_t cols, prio_fe c)
{
    for (size_t j = 0; j < cols; j++)
        wacc_add(f, &w[j], row[j], c);
}

void prio_rows_sum_add(prio_rows_sum *r, const prio_fe *row, prio_fe c)
{
    size_t v = r->vcols;
#if PRIO_X86
    if (v)
        rows_add64_avx512(r->v64, row, v, c);
#endif
    FK_DISPATCH(r->F, rows_add_k(f, r->w + v, row + v, r->cols - v, c));
}

void prio_rows_sum_get(const prio_rows_sum *r, prio_fe *out)
{
    for (size_t j = 0; j < r->vcols; j++)
        out[j].v[0] = r->v64[j], out[j].v[1] = 0;
    for (size_t j = r->vcols; j < r->cols; j++)
        FK_DISPATCH(r->F, out[j] = wacc_get(f, &r->w[j]));
}

void prio_rows_sum_free(prio_rows_sum *r)
{
    if (!r)
        return;
    prio_wipe(r->w, r->cols * sizeof r->w[0]); /* the sums are of a share's wires */
    if (r->v64)
        prio_wipe(r->v64, r->vcols * sizeof *r->v64);
    free(r->v64);
    free(r);
}

prio_fe prio_vec_pair_dot(const prio_field *F, const prio_fe *x, size_t n)
{
    prio_fe r;
    FK_DISPATCH(F, r = dot_k(f, x, 2, x + 1, 2, n));
    return r;
}

/* A polynomial's public coefficients, read once: its top coefficient is
 * one (PolyEval's are) and which coefficients are non-zero. */
typedef struct poly_shape {
    const prio_fe *pc;
    size_t len;
    int top_one;
    unsigned nz;
} poly_shape;

static poly_shape shape_of(const prio_field *F, const prio_fe *pc, size_t len)
{
    poly_shape s = {pc, len, prio_fe_eq(pc[len - 1], prio_fe_one(F)), 0};
    for (size_t j = 0; j < len && j < 32; j++)
        s.nz |= (unsigned)!prio_fe_eq(pc[j], prio_fe_zero()) << j;
    return s;
}

/* (P(x) - P(0)) / x by Horner, skipping multiplications by one and
 * additions of zero (branches on the public coefficients only). */
INLINE prio_fe poly_hi_k(fk f, const poly_shape *s, prio_fe x)
{
    prio_fe v = s->pc[s->len - 1];
    for (size_t j = s->len - 1; j-- > 1;) {
        v = j + 2 == s->len && s->top_one ? x : k_mul(f, v, x);
        if ((s->nz >> j) & 1)
            v = k_add(f, v, s->pc[j]);
    }
    return v;
}

INLINE prio_fe poly_sum_k(fk f, const poly_shape *s, const prio_fe *x, size_t n)
{
    wacc w = {0, 0, 0, 0, 0, {{0, 0}}};
    for (size_t i = 0; i < n; i++)
        wacc_add(f, &w, poly_hi_k(f, s, x[i]), x[i]);
    return wacc_get(f, &w);
}

prio_fe prio_vec_poly_sum(const prio_field *F, const prio_fe *x, const prio_fe *pc, size_t len,
                          size_t n)
{
    prio_fe r = prio_fe_mul(F, pc[0], prio_fe_from_u64(F, n)); /* n P(0) */
    if (len < 2)
        return r;
    poly_shape s = shape_of(F, pc, len);
    prio_fe t;
    FK_DISPATCH(F, t = poly_sum_k(f, &s, x, n));
    return prio_fe_add(F, r, t);
}

INLINE prio_fe horner_k(fk f, const prio_fe *c, size_t n, prio_fe x)
{
    prio_fe r = {{0, 0}};
    for (size_t i = n; i-- > 0;)
        r = k_add(f, k_mul(f, r, x), c[i]);
    return r;
}

prio_fe prio_poly_eval(const prio_field *F, const prio_fe *c, size_t n, prio_fe x)
{
    prio_fe r;
    FK_DISPATCH(F, r = horner_k(f, c, n, x));
    return r;
}

/* ---- Pointwise gadgets ------------------------------------------------------ */

#if PRIO_X86
/* mul_acc_k and poly_acc_k for Field64, eight lanes (n a multiple of 8). */
AVX512 static void mul_acc64_avx512(prio_fe *acc, const prio_fe *a, const prio_fe *b, size_t n)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    for (size_t i = 0; i < n; i += 8)
        v_store_fe(acc + i, v_add(v_load_fe(acc + i),
                                  v_mul(v_load_fe(a + i), v_load_fe(b + i), p), p));
}

AVX512 static void poly_acc64_avx512(prio_fe *acc, const prio_fe *a, const poly_shape *s,
                                     size_t n)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    __m512i pc[32];
    for (size_t j = 0; j < s->len; j++)
        pc[j] = _mm512_set1_epi64((long long)s->pc[j].v[0]);
    for (size_t i = 0; i < n; i += 8) {
        __m512i x = v_load_fe(a + i), v = pc[s->len - 1];
        for (size_t j = s->len - 1; j-- > 1;) { /* as poly_hi_k */
            v = j + 2 == s->len && s->top_one ? x : v_mul(v, x, p);
            if ((s->nz >> j) & 1)
                v = v_add(v, pc[j], p);
        }
        v = v_mul(v, x, p);
        if (s->nz & 1)
            v = v_add(v, pc[0], p);
        v_store_fe(acc + i, v_add(v_load_fe(acc + i), v, p));
    }
}
#endif

INLINE void mul_acc_k(fk f, prio_fe *acc, const prio_fe *a, const prio_fe *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc[i] = k_add(f, acc[i], k_mul(f, a[i], b[i]));
}

void prio_vec_mul_acc(const prio_field *F, prio_fe *acc, const prio_fe *a, const prio_fe *b,
                      size_t n)
{
    size_t done = 0;
#if PRIO_X86
    if (F->id == PRIO_FIELD64 && prio_simd() >= 1) {
        done = n & ~(size_t)7;
        mul_acc64_avx512(acc, a, b, done);
    }
#endif
    FK_DISPATCH(F, mul_acc_k(f, acc + done, a + done, b + done, n - done));
}


INLINE void poly_acc_k(fk f, prio_fe *acc, const prio_fe *a, const poly_shape *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        prio_fe v = k_mul(f, poly_hi_k(f, s, a[i]), a[i]);
        if (s->nz & 1)
            v = k_add(f, v, s->pc[0]);
        acc[i] = k_add(f, acc[i], v);
    }
}

void prio_vec_poly_acc(const prio_field *F, prio_fe *acc, const prio_fe *a, const prio_fe *pc,
                       size_t len, size_t n)
{
    if (len < 2) {
        for (size_t i = 0; i < n; i++)
            acc[i] = prio_fe_add(F, acc[i], pc[0]);
        return;
    }
    poly_shape s = shape_of(F, pc, len);
    size_t done = 0;
#if PRIO_X86
    if (F->id == PRIO_FIELD64 && prio_simd() >= 1 && len <= 32) {
        done = n & ~(size_t)7;
        poly_acc64_avx512(acc, a, &s, done);
    }
#endif
    FK_DISPATCH(F, poly_acc_k(f, acc + done, a + done, &s, n - done));
}

int prio_vec_add_encoded(const prio_field *F, uint8_t *acc, const uint8_t *in, size_t n,
                         const char *who)
{
    size_t sz = F->encoded_size;

    for (size_t i = 0; i < n; i++) {
        prio_fe a, b;
        if (prio_fe_decode(F, &a, acc + i * sz) || prio_fe_decode(F, &b, in + i * sz))
            return gdn_error(GDN_EFORMAT, "%s: field element out of range in share", who);
        prio_fe_encode(F, acc + i * sz, prio_fe_add(F, a, b));
    }
    return 0;
}

/* ---- Vectors ------------------------------------------------------------------
 * Field64 has loops of its own (PINE's long vectors): the same arithmetic
 * without a call and a switch per element, eight lanes at a time with
 * AVX-512 (little-endian lanes: x86 only). */

#if PRIO_X86
AVX512 static void encode64_avx512(uint8_t *out, const prio_fe *v, size_t n)
{
    const __m512i p = _mm512_set1_epi64((long long)P64), one = _mm512_set1_epi64(1);
    for (size_t i = 0; i < n; i += 8)
        _mm512_storeu_si512(out + 8 * i, v_mul(v_load_fe(v + i), one, p));
}

/* 1 when every encoding is below p (the others give unspecified elements). */
AVX512 static int decode64_avx512(prio_fe *out, const uint8_t *in, size_t n)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    const __m512i r2 = _mm512_set1_epi64((long long)R2_64);
    __mmask8 bad = 0;
    for (size_t i = 0; i < n; i += 8) {
        __m512i x = _mm512_loadu_si512(in + 8 * i);
        bad |= _mm512_cmpge_epu64_mask(x, p);
        v_store_fe(out + i, v_mul(x, r2, p));
    }
    return bad == 0;
}
#endif

#if PRIO_X86
AVX512 static void sub64_avx512(prio_fe *a, const prio_fe *b, size_t n)
{
    const __m512i p = _mm512_set1_epi64((long long)P64);
    for (size_t i = 0; i < n; i += 8)
        v_store_fe(a + i, v_sub(v_load_fe(a + i), v_load_fe(b + i), p));
}
#endif

void prio_vec_sub(const prio_field *F, prio_fe *a, const prio_fe *b, size_t n)
{
    size_t i = 0;
#if PRIO_X86
    if (F->id == PRIO_FIELD64 && prio_simd() >= 1) {
        i = n / 8 * 8;
        sub64_avx512(a, b, i);
    }
#endif
    for (; i < n; i++)
        a[i] = prio_fe_sub(F, a[i], b[i]);
}

void prio_vec_encode(const prio_field *F, uint8_t *out, const prio_fe *v, size_t n)
{
    size_t i = 0;
    if (F->id != PRIO_FIELD64) {
        for (; i < n; i++)
            prio_fe_encode(F, out + i * F->encoded_size, v[i]);
        return;
    }
#if PRIO_X86
    if (prio_simd() >= 1) {
        i = n / 8 * 8;
        encode64_avx512(out, v, i);
    }
#endif
    for (; i < n; i++)
        gdn_store_le64(out + 8 * i, mont64(v[i].v[0]));
}

int prio_vec_decode(const prio_field *F, prio_fe *out, const uint8_t *in, size_t n)
{
    size_t i = 0;
    uint64_t ok = 1;
    if (F->id != PRIO_FIELD64) {
        for (; i < n; i++)
            ok &= (uint64_t)(prio_fe_decode(F, &out[i], in + i * F->encoded_size) == 0);
        return ok ? 0 : GDN_EFORMAT;
    }
#if PRIO_X86
    if (prio_simd() >= 1) {
        i = n / 8 * 8;
        ok = (uint64_t)decode64_avx512(out, in, i);
    }
#endif
    for (; i < n; i++) {
        uint64_t x = gdn_load_le64(in + 8 * i);
        ok &= (uint64_t)(((u128)x - P64) >> 127); /* x < p */
        out[i].v[0] = mont64((u128)x * R2_64);
        out[i].v[1] = 0;
    }
    return ok ? 0 : GDN_EFORMAT;
}
