/* Field64 and Field128 of draft-irtf-cfrg-vdaf-20 §6.1.2, in Montgomery form
 * (R = 2^64 and 2^128), constant-time; NTT and polynomial helpers. */
#include <string.h>

#include "guardian/core.h"
#include "prio/prio_internal.h"

typedef unsigned __int128 u128;

/* Field64: p = 2^32 * 4294967295 + 1. */
#define P64 0xffffffff00000001ULL
#define N64 0xfffffffeffffffffULL  /* -p^-1 mod 2^64 */
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

/* ---- Field32, Field40 --------------------------------------------------- */

/* x - p if x >= p, for x < 2p (p < 2^41). */
static uint64_t reduce_small(const prio_field *F, uint64_t x)
{
    uint64_t d = x - F->p;
    uint64_t keep = (uint64_t)0 - (d >> 63); /* all ones if x < p */
    return (x & keep) | (d & ~keep);
}

/* t / 2^64 mod p for t < 2^64 p: (t + m p) / 2^64 < 2p. */
static uint64_t mont_small(const prio_field *F, u128 t)
{
    uint64_t m = (uint64_t)t * F->ninv;
    u128 u = t + (u128)m * F->p;
    return reduce_small(F, (uint64_t)(u >> 64));
}

void prio_wipe(void *p, size_t n)
{
    sodium_memzero(p, n); /* a wipe the compiler keeps */
}

/* ---- Field64 ------------------------------------------------------------ */

/* x - p if x >= p, for x < 2p held in 65 bits (hi is 0 or 1). */
static uint64_t reduce64(uint64_t hi, uint64_t lo)
{
    u128 d = ((u128)hi << 64 | lo) - P64;
    uint64_t keep = (uint64_t)0 - (uint64_t)(d >> 127); /* all ones if x < p */
    return (lo & keep) | ((uint64_t)d & ~keep);
}

static uint64_t mont64(u128 t)
{
    uint64_t lo = (uint64_t)t, hi = (uint64_t)(t >> 64);
    uint64_t m = lo * N64;
    u128 mp = (u128)m * P64;
    uint64_t carry = (lo | (0 - lo)) >> 63; /* lo + lo(mp) = 0 mod 2^64 */
    u128 u = (u128)hi + (uint64_t)(mp >> 64) + carry;
    return reduce64((uint64_t)(u >> 64), (uint64_t)u);
}

/* ---- Field128 ----------------------------------------------------------- */

/* t2:t1:t0 - p when >= p (t < 2p). */
static void reduce128(uint64_t r[2], uint64_t t0, uint64_t t1, uint64_t t2)
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
static void mont128(uint64_t r[2], const uint64_t a[2], const uint64_t b[2])
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
        r.v[0] = mont_small(F, (u128)x[0] * F->r2);
    else
        mont128(r.v, x, R2_128);
    return r;
}

void prio_fe_value(const prio_field *F, uint64_t out[2], prio_fe a)
{
    if (F->id == PRIO_FIELD64 || is_small(F)) {
        out[0] = F->id == PRIO_FIELD64 ? mont64(a.v[0]) : mont_small(F, a.v[0]);
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
        v[0] = reduce64(0, x);
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
        r.v[0] = mont_small(F, (u128)mont_small(F, t) * F->r2);
    return r;
}

prio_fe prio_fe_add(const prio_field *F, prio_fe a, prio_fe b)
{
    prio_fe r = {{0, 0}};
    if (F->id == PRIO_FIELD64) {
        u128 s = (u128)a.v[0] + b.v[0];
        r.v[0] = reduce64((uint64_t)(s >> 64), (uint64_t)s);
    } else if (is_small(F)) {
        r.v[0] = reduce_small(F, a.v[0] + b.v[0]);
    } else {
        u128 s0 = (u128)a.v[0] + b.v[0];
        u128 s1 = (u128)a.v[1] + b.v[1] + (uint64_t)(s0 >> 64);
        reduce128(r.v, (uint64_t)s0, (uint64_t)s1, (uint64_t)(s1 >> 64));
    }
    return r;
}

prio_fe prio_fe_sub(const prio_field *F, prio_fe a, prio_fe b)
{
    prio_fe r = {{0, 0}};
    if (F->id == PRIO_FIELD64) {
        u128 d = (u128)a.v[0] - b.v[0];
        uint64_t mask = (uint64_t)0 - (uint64_t)(d >> 127);
        r.v[0] = (uint64_t)d + (P64 & mask);
    } else if (is_small(F)) {
        uint64_t d = a.v[0] - b.v[0];
        r.v[0] = d + (F->p & ((uint64_t)0 - (d >> 63)));
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

prio_fe prio_fe_neg(const prio_field *F, prio_fe a)
{
    return prio_fe_sub(F, prio_fe_zero(), a);
}

prio_fe prio_fe_mul(const prio_field *F, prio_fe a, prio_fe b)
{
    prio_fe r = {{0, 0}};
    if (F->id == PRIO_FIELD64)
        r.v[0] = mont64((u128)a.v[0] * b.v[0]);
    else if (is_small(F))
        r.v[0] = mont_small(F, (u128)a.v[0] * b.v[0]);
    else
        mont128(r.v, a.v, b.v);
    return r;
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

/* The vector forms have a Field64 loop of their own (PINE's long vectors):
 * the same arithmetic without a call and a switch per element. */
void prio_vec_encode(const prio_field *F, uint8_t *out, const prio_fe *v, size_t n)
{
    if (F->id == PRIO_FIELD64) {
        for (size_t i = 0; i < n; i++)
            gdn_store_le64(out + 8 * i, mont64(v[i].v[0]));
        return;
    }
    for (size_t i = 0; i < n; i++)
        prio_fe_encode(F, out + i * F->encoded_size, v[i]);
}

int prio_vec_decode(const prio_field *F, prio_fe *out, const uint8_t *in, size_t n)
{
    int bad = 0;
    if (F->id == PRIO_FIELD64) {
        uint64_t ok = 1;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = gdn_load_le64(in + 8 * i);
            ok &= (uint64_t)(((u128)x - P64) >> 127); /* x < p */
            out[i].v[0] = mont64((u128)x * R2_64);
            out[i].v[1] = 0;
        }
        return ok ? 0 : GDN_EFORMAT;
    }
    for (size_t i = 0; i < n; i++)
        bad |= prio_fe_decode(F, &out[i], in + i * F->encoded_size);
    return bad ? GDN_EFORMAT : 0;
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

static void ntt_with_root(const prio_field *F, prio_fe *a, unsigned log_n, prio_fe w)
{
    size_t n = (size_t)1 << log_n;
    bit_reverse(a, log_n);
    for (unsigned s = 1; s <= log_n; s++) {
        size_t m = (size_t)1 << s, h = m >> 1;
        /* wm = w^(n/m), a primitive m-th root. */
        prio_fe wm = w;
        for (unsigned k = s; k < log_n; k++)
            wm = prio_fe_mul(F, wm, wm);
        for (size_t k = 0; k < n; k += m) {
            prio_fe t = prio_fe_one(F);
            for (size_t j = 0; j < h; j++) {
                prio_fe u = a[k + j], v = prio_fe_mul(F, t, a[k + j + h]);
                a[k + j] = prio_fe_add(F, u, v);
                a[k + j + h] = prio_fe_sub(F, u, v);
                t = prio_fe_mul(F, t, wm);
            }
        }
    }
}

void prio_ntt(const prio_field *F, prio_fe *a, unsigned log_n)
{
    ntt_with_root(F, a, log_n, prio_root_of_unity(F, log_n));
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

void prio_intt(const prio_field *F, prio_fe *a, unsigned log_n)
{
    /* w^-1 = w^(n - 1) and n^-1 = (1/2)^log_n: a few multiplications where
     * two inversions took 256 each. */
    size_t n = (size_t)1 << log_n;
    uint64_t e[2] = {(uint64_t)n - 1, 0};
    prio_fe w = prio_fe_pow(F, prio_root_of_unity(F, log_n), e);
    ntt_with_root(F, a, log_n, w);
    prio_fe ninv = prio_fe_one(F), h = half(F);
    for (unsigned i = 0; i < log_n; i++)
        ninv = prio_fe_mul(F, ninv, h);
    for (size_t i = 0; i < n; i++)
        a[i] = prio_fe_mul(F, a[i], ninv);
}

prio_fe prio_poly_eval(const prio_field *F, const prio_fe *c, size_t n, prio_fe x)
{
    prio_fe r = prio_fe_zero();
    for (size_t i = n; i-- > 0;)
        r = prio_fe_add(F, prio_fe_mul(F, r, x), c[i]);
    return r;
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
