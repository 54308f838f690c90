/* PINE's wraparound checks (draft-chen-cfrg-vdaf-pine-01,
 * PineValid.run_wr_checks): dot products of the gradient, or a share of it,
 * with public {-1, 0, 1} vectors. The sums are exact integer sums of
 * Montgomery representations (the representation map is linear), reduced
 * mod p once per check.
 *
 * The gradient is walked once, in blocks that stay in cache, each block
 * serving every check. A representation is cut into pieces of `bits` bits;
 * a kernel leaves, per check, the signed total T_j of each piece j, and the
 * check's result is sum_j 2^(bits j) T_j mod p. Two kernels:
 *  - AVX-512 (Field64, Field32, Field40): the block is cut into byte planes;
 *    a check's 64 coefficients become 64 signed bytes and vpdpbusd adds
 *    plane bytes times coefficients into int32 lanes.
 *  - portable C (every field): pieces of 16 bits (21 for Field32/40), two to
 *    a 64-bit word in 32-bit lanes; per pair of entries a 16-entry table holds
 *    the words' signed combinations for the 16 pairs of codes, so a check
 *    costs one lookup and add per word for two entries.
 * Bounds, for d <= PRIO_WR_MAX_DIM = 2^31 (the circuits allow 2^26): a
 * piece is below 2^21, so |T_j| <= 2^31 * 2^21 = 2^52 fits an int64, and the
 * narrower lanes are folded into the totals before they can overflow (see
 * port_check and avx_sums). */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "prio/prio_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define WR_X86 1
#include <immintrin.h>
#else
#define WR_X86 0
#endif

__extension__ typedef unsigned __int128 wr_u128;

#define P64 0xffffffff00000001ULL
#define MAX_PIECES 8

/* How a kernel cut the representations: `pieces` pieces of `bits` bits. */
typedef struct wr_cut {
    unsigned pieces, bits;
} wr_cut;

/* ---- Results -------------------------------------------------------------------- */

/* The low 32 bits of x as a signed integer. */
static int64_t lane32(uint64_t x)
{
    return (int64_t)(x & 0xffffffffu) - (int64_t)((x & 0x80000000u) << 1);
}

/* One-limb fields: S = sum_j 2^(bits j) T_j has |S| <= d (p - 1) < 2^32 p
 * (d <= PRIO_WR_MAX_DIM), so t = S + 2^32 p lies in (0, 2^33 p): a sum of
 * fewer than 2^40 representations, as prio_fe_from_wide_sum needs, with
 * t = S mod p. Computed mod 2^128, where t is exact. */
static prio_fe combine_one_limb(const prio_field *F, const int64_t *tot, wr_cut cut)
{
    uint64_t p = F->id == PRIO_FIELD64 ? P64 : F->p;
    wr_u128 t = (wr_u128)p << 32;
    for (unsigned j = 0; j < cut.pieces; j++)
        t += (wr_u128)tot[j] << (cut.bits * j);
    return prio_fe_from_wide_sum(F, (uint64_t)t, (uint64_t)(t >> 64));
}

/* Field128 (16-bit pieces): sum_j T_j 2^(16 j) with field operations.
 * prio_fe_mul(x, w) has representation rep(x) rep(w) / R, so x = T_j (as an
 * element, representation T_j R) times the element whose representation is
 * 2^(16 j) (< p) has representation T_j 2^(16 j). */
static prio_fe combine_field128(const prio_field *F, const int64_t *tot)
{
    const uint64_t half = (uint64_t)1 << 63;
    prio_fe acc = prio_fe_zero(), off = prio_fe_from_u64(F, half);
    for (unsigned j = 0; j < MAX_PIECES; j++) {
        prio_fe w = {{0, 0}};
        w.v[j / 4] = (uint64_t)1 << (16 * (j % 4));
        /* T_j + 2^63 >= 0 fits a u64; subtracting 2^63 as an element. */
        prio_fe x = prio_fe_sub(F, prio_fe_from_u64(F, (uint64_t)tot[j] + half), off);
        acc = prio_fe_add(F, acc, prio_fe_mul(F, x, w));
    }
    return acc;
}

/* ---- Portable kernel -------------------------------------------------------------- */

#define PORT_TABLE_BYTES 32768 /* one block's tables */

/* Words per entry (1, 2 or 4) and their pieces: 21 + 20 bits for
 * Field32/40 (below 2^41), 16-bit pieces otherwise. */
static wr_cut port_cut(const prio_field *F, unsigned *words)
{
    wr_cut cut = {2, 21};
    *words = 1;
    if (F->id != PRIO_FIELD32 && F->id != PRIO_FIELD40) {
        *words = F->id == PRIO_FIELD128 ? 4 : 2;
        cut.pieces = 2 * *words, cut.bits = 16;
    }
    return cut;
}

/* Entry g's words: pieces 2w and 2w + 1 in the low and high 32 bits of w. */
static void port_words(uint64_t *out, const prio_fe *g, unsigned words, unsigned bits)
{
    if (bits == 21) {
        out[0] = (g->v[0] & 0x1fffff) | (g->v[0] >> 21) << 32;
        return;
    }
    for (unsigned w = 0; w < words; w++) {
        uint64_t limb = g->v[w / 2] >> (32 * (w % 2));
        out[w] = (limb & 0xffff) | (limb >> 16 & 0xffff) << 32;
    }
}

/* c x mod 2^64 for the coefficient of a 2-bit code (public). */
static uint64_t times_code(unsigned code, uint64_t x)
{
    return code == 3 ? x : code == 0 ? 0 - x : 0;
}

/* For each pair i of the block (entries 2i, 2i + 1 of g[0..len), zero past
 * len), tab[(16 i + n) words + w] is word w of c(n & 3) W_2i + c(n >> 2)
 * W_2i+1 mod 2^64: the pair's share of a check whose code nibble is n. */
static void port_tables(uint64_t *tab, const prio_fe *g, size_t len, size_t pairs,
                        unsigned words, unsigned bits)
{
    for (size_t i = 0; i < pairs; i++) {
        uint64_t a[4] = {0}, b[4] = {0};
        if (2 * i < len)
            port_words(a, &g[2 * i], words, bits);
        if (2 * i + 1 < len)
            port_words(b, &g[2 * i + 1], words, bits);
        for (unsigned n = 0; n < 16; n++)
            for (unsigned w = 0; w < words; w++)
                tab[(16 * i + n) * words + w] = times_code(n & 3, a[w]) + times_code(n >> 2, b[w]);
    }
}

/* nc checks (1 or 2; codes nbytes apart) over one block of 4 nb entries:
 * a lookup per code nibble, then the lanes into the totals. Each 32-bit
 * lane stays below 2^31 in magnitude: a block has at most 512 / words
 * entries (PORT_TABLE_BYTES of tables), each adding at most 2^21 (one
 * word) or 2^16 to a lane. */
static inline __attribute__((always_inline)) void
port_check(int64_t *tot, const uint64_t *tab, const uint8_t *cb, size_t nbytes, size_t nb,
           unsigned words, unsigned nc)
{
    uint64_t acc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    for (size_t m = 0; m < nb; m++, tab += 32 * words) { /* pairs 2m and 2m + 1 */
        for (unsigned j = 0; j < nc; j++) {
            unsigned byte = cb[j * nbytes + m];
            const uint64_t *lo = tab + (byte & 15) * words, *hi = tab + (16 + (byte >> 4)) * words;
            for (unsigned w = 0; w < words; w++)
                acc[j][w] += lo[w] + hi[w];
        }
    }
    for (unsigned j = 0; j < nc; j++)
        for (unsigned w = 0; w < words; w++) {
            int64_t low = lane32(acc[j][w]);
            tot[j * MAX_PIECES + 2 * w] += low;
            tot[j * MAX_PIECES + 2 * w + 1] += lane32((acc[j][w] - (uint64_t)low) >> 32);
        }
}

/* The lookups are gathers: GCC's SSE2 vectorization of them is slower. */
#if defined(__GNUC__) && !defined(__clang__)
#define SCALAR __attribute__((optimize("no-tree-vectorize")))
#else
#define SCALAR
#endif

SCALAR static void port_checks(int64_t *tot, size_t checks, const uint64_t *tab,
                               const uint8_t *cb, size_t nbytes, size_t nb, unsigned words)
{
    for (size_t i = 0; i < checks; i += 2) {
        int64_t *t = tot + i * MAX_PIECES;
        const uint8_t *c = cb + i * nbytes;
        int pair = checks - i >= 2;
        if (words == 1 && pair)
            port_check(t, tab, c, nbytes, nb, 1, 2);
        else if (words == 1)
            port_check(t, tab, c, nbytes, nb, 1, 1);
        else if (words == 2 && pair)
            port_check(t, tab, c, nbytes, nb, 2, 2);
        else if (words == 2)
            port_check(t, tab, c, nbytes, nb, 2, 1);
        else if (pair)
            port_check(t, tab, c, nbytes, nb, 4, 2);
        else
            port_check(t, tab, c, nbytes, nb, 4, 1);
    }
}

static int port_sums(int64_t *tot, wr_cut *cut, const prio_field *F, size_t checks,
                     const prio_fe *grad, size_t d, const uint8_t *codes)
{
    unsigned words;
    size_t nbytes = (d + 3) / 4;
    *cut = port_cut(F, &words);
    size_t block = PORT_TABLE_BYTES / (8 * 16 * words) * 2; /* entries, a multiple of 4 */
    uint64_t *tab = malloc(PORT_TABLE_BYTES);
    if (!tab)
        return GDN_ENOMEM;
    for (size_t s = 0; s < d; s += block) {
        size_t len = d - s < block ? d - s : block, nb = (len + 3) / 4;
        port_tables(tab, grad + s, len, 2 * nb, words, cut->bits);
        port_checks(tot, checks, tab, codes + s / 4, nbytes, nb, words);
    }
    prio_wipe(tab, PORT_TABLE_BYTES);
    free(tab);
    return 0;
}

/* ---- AVX-512 kernel (one-limb fields) ----------------------------------------- */

#if WR_X86
#define AVX __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vnni")))
#define AVX_BLOCK 4096                 /* entries per block: 32 KB of planes */
#define AVX_SPAN ((size_t)1 << 26)     /* entries between folds of the lanes */

/* Byte i = 8 b + q of the output takes byte b of entry q's limb 0, that is
 * byte 16 q + b of eight consecutive prio_fe (128 bytes). */
#define ROW(b) b, 16 + b, 32 + b, 48 + b, 64 + b, 80 + b, 96 + b, 112 + b
static const uint8_t byte_transpose[64] = {ROW(0), ROW(1), ROW(2), ROW(3),
                                           ROW(4), ROW(5), ROW(6), ROW(7)};
#undef ROW

/* 64 entries (g[0..64)) into 8 planes: planes[b stride + k] is byte b of
 * entry k's limb 0. Each group of 8 entries becomes 8 qwords (qword b: byte
 * b of the 8 entries); then an 8 x 8 transpose of qwords. */
AVX static void avx_planes(uint8_t *planes, size_t stride, const prio_fe *g)
{
    const __m512i idx = _mm512_loadu_si512(byte_transpose);
    const __m512i mid_lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i mid_hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    __m512i r[8], a[8], b[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm512_permutex2var_epi8(_mm512_loadu_si512(g + 8 * i), idx,
                                        _mm512_loadu_si512(g + 8 * i + 4));
    /* a[2i]: qwords 0, 2, 4, 6 of r[2i], r[2i+1] interleaved; a[2i+1]: 1, 3, 5, 7. */
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm512_unpacklo_epi64(r[i], r[i + 1]);
        a[i + 1] = _mm512_unpackhi_epi64(r[i], r[i + 1]);
    }
    /* b[h + e] (h = 0, 4; e = 0..3): qwords e and e + 4 of r[h..h+4). */
    for (int h = 0; h < 8; h += 4)
        for (int e = 0; e < 2; e++) {
            b[h + e] = _mm512_permutex2var_epi64(a[h + e], mid_lo, a[h + 2 + e]);
            b[h + 2 + e] = _mm512_permutex2var_epi64(a[h + e], mid_hi, a[h + 2 + e]);
        }
    for (int e = 0; e < 4; e++) {
        _mm512_storeu_si512(planes + e * stride, _mm512_shuffle_i64x2(b[e], b[4 + e], 0x44));
        _mm512_storeu_si512(planes + (e + 4) * stride,
                            _mm512_shuffle_i64x2(b[e], b[4 + e], 0xee));
    }
}

/* The block g[0..len) as planes of AVX_BLOCK bytes, zero past len. */
AVX static void avx_block(uint8_t *planes, const prio_fe *g, size_t len)
{
    size_t k = 0;
    for (; k + 64 <= len; k += 64)
        avx_planes(planes + k, AVX_BLOCK, g + k);
    if (k < len) {
        prio_fe tail[64];
        memset(tail, 0, sizeof tail);
        memcpy(tail, g + k, (len - k) * sizeof *g);
        avx_planes(planes + k, AVX_BLOCK, tail);
        prio_wipe(tail, sizeof tail);
    }
}

/* 64 coefficients from 16 code bytes as signed bytes: each pair of code
 * bytes (8 entries) into a qword, byte j of it shifted right by 2j
 * (vpmultishiftqb), then its low 2 bits mapped by {-1, 0, 0, 1} (vpermb
 * reads the low 6 bits of each index; the table repeats every 4 bytes). */
AVX static inline __m512i avx_coefs(const uint8_t *cb)
{
    const __m512i shifts = _mm512_set1_epi64(0x0e0c0a0806040200LL);
    const __m512i map = _mm512_set1_epi32(0x010000ff);
    __m512i pairs = _mm512_cvtepu16_epi64(_mm_loadu_si128((const __m128i *)(const void *)cb));
    return _mm512_permutexvar_epi8(_mm512_multishift_epi64_epi8(shifts, pairs), map);
}

/* The coefficients of group g of each of nc checks (codes nbytes apart,
 * from the block's start; avail of them in the buffer), and the planes'
 * bytes times them added into acc. */
AVX static inline __attribute__((always_inline)) void
avx_group(__m512i acc[2][8], const uint8_t *planes, size_t g, const uint8_t *cb, size_t nbytes,
          size_t avail, int np, int nc)
{
    __m512i c[2];
    for (int j = 0; j < nc; j++) {
        const uint8_t *src = cb + (size_t)j * nbytes + 16 * g;
        uint8_t last[16] = {0};
        if (16 * g + 16 > avail) { /* the gradient's last group: its codes end early */
            memcpy(last, src, avail - 16 * g);
            src = last;
        }
        c[j] = avx_coefs(src);
    }
    for (int b = 0; b < np; b++) {
        __m512i x = _mm512_loadu_si512(planes + b * AVX_BLOCK + 64 * g);
        for (int j = 0; j < nc; j++)
            acc[j][b] = _mm512_dpbusd_epi32(acc[j][b], x, c[j]);
    }
}

/* nc checks (1 or 2, sharing the plane loads) over one block of `groups`
 * groups of 64 entries. A lane gains at most 4 * 255 per group. */
AVX static inline __attribute__((always_inline)) void
avx_check(int32_t *lanes, const uint8_t *planes, size_t groups, const uint8_t *cb, size_t nbytes,
          size_t avail, int np, int nc)
{
    __m512i acc[2][8];
    size_t g = 0, full = avail / 16 < groups ? avail / 16 : groups;
    for (int j = 0; j < nc; j++)
        for (int b = 0; b < np; b++)
            acc[j][b] = _mm512_loadu_si512(lanes + 16 * (j * MAX_PIECES + b));
    for (; g < full; g++)
        avx_group(acc, planes, g, cb, nbytes, groups * 16, np, nc);
    if (g < groups)
        avx_group(acc, planes, g, cb, nbytes, avail, np, nc);
    for (int j = 0; j < nc; j++)
        for (int b = 0; b < np; b++)
            _mm512_storeu_si512(lanes + 16 * (j * MAX_PIECES + b), acc[j][b]);
}

AVX static void avx_checks(int32_t *lanes, size_t checks, const uint8_t *planes, size_t groups,
                           const uint8_t *cb, size_t nbytes, size_t avail, int np)
{
    size_t i = 0;
    for (; i + 2 <= checks; i += 2) {
        int32_t *l = lanes + i * 16 * MAX_PIECES;
        if (np == 8)
            avx_check(l, planes, groups, cb + i * nbytes, nbytes, avail, 8, 2);
        else
            avx_check(l, planes, groups, cb + i * nbytes, nbytes, avail, 6, 2);
    }
    if (i < checks) {
        int32_t *l = lanes + i * 16 * MAX_PIECES;
        if (np == 8)
            avx_check(l, planes, groups, cb + i * nbytes, nbytes, avail, 8, 1);
        else
            avx_check(l, planes, groups, cb + i * nbytes, nbytes, avail, 6, 1);
    }
}

/* Lanes into the totals, then zero. */
AVX static void avx_fold(int64_t *tot, int32_t *lanes, size_t checks, int np)
{
    for (size_t i = 0; i < checks; i++)
        for (int b = 0; b < np; b++) {
            int32_t *l = lanes + (i * MAX_PIECES + (size_t)b) * 16;
            __m512i v = _mm512_loadu_si512(l);
            __m512i w = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(v)),
                                         _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1)));
            tot[i * MAX_PIECES + (size_t)b] += _mm512_reduce_add_epi64(w);
            _mm512_storeu_si512(l, _mm512_setzero_si512());
        }
}

/* Byte planes: 8 for Field64, 6 for Field32/40 (below 2^41). A span has at
 * most 2^20 groups, so a lane stays below 2^20 * 1020 < 2^31 in magnitude. */
static int avx_sums(int64_t *tot, wr_cut *cut, const prio_field *F, size_t checks,
                    const prio_fe *grad, size_t d, const uint8_t *codes)
{
    int np = F->id == PRIO_FIELD64 ? 8 : 6;
    size_t nbytes = (d + 3) / 4;
    uint8_t *planes = malloc(8 * AVX_BLOCK);
    int32_t *lanes = calloc(checks, 16 * MAX_PIECES * sizeof *lanes);
    cut->pieces = (unsigned)np, cut->bits = 8;
    if (!planes || !lanes) {
        free(planes);
        free(lanes);
        return GDN_ENOMEM;
    }
    for (size_t s = 0; s < d; s += AVX_BLOCK) {
        size_t len = d - s < AVX_BLOCK ? d - s : AVX_BLOCK;
        avx_block(planes, grad + s, len);
        avx_checks(lanes, checks, planes, (len + 63) / 64, codes + s / 4, nbytes,
                   nbytes - s / 4, np);
        if ((s + AVX_BLOCK) % AVX_SPAN == 0 || s + AVX_BLOCK >= d)
            avx_fold(tot, lanes, checks, np);
    }
    prio_wipe(planes, 8 * AVX_BLOCK);
    prio_wipe(lanes, checks * 16 * MAX_PIECES * sizeof *lanes);
    free(planes);
    free(lanes);
    return 0;
}
#endif

/* ---- Entry point ----------------------------------------------------------------- */

int prio_wr_dot(const prio_field *F, prio_fe *results, size_t checks, const prio_fe *grad,
                size_t d, const uint8_t *codes)
{
    wr_cut cut;
    int rc;
    if (d > PRIO_WR_MAX_DIM)
        return gdn_error(GDN_EINVAL, "pine: %zu gradient entries (at most %zu)", d,
                         PRIO_WR_MAX_DIM);
    if (checks == 0)
        return 0;
    int64_t *tot = calloc(checks, MAX_PIECES * sizeof *tot);
    if (!tot)
        return GDN_ENOMEM;
#if WR_X86
    if (F->id != PRIO_FIELD128 && prio_simd() >= 1)
        rc = avx_sums(tot, &cut, F, checks, grad, d, codes);
    else
#endif
        rc = port_sums(tot, &cut, F, checks, grad, d, codes);
    for (size_t i = 0; !rc && i < checks; i++)
        results[i] = F->id == PRIO_FIELD128 ? combine_field128(F, tot + i * MAX_PIECES)
                                            : combine_one_limb(F, tot + i * MAX_PIECES, cut);
    prio_wipe(tot, checks * MAX_PIECES * sizeof *tot);
    free(tot);
    return rc;
}
