/* PINE's wraparound checks (draft-chen-cfrg-vdaf-pine-01,
 * PineValid.run_wr_checks): prio_wr_dot's kernels (portable C, and AVX-512
 * when the CPU has it) against a per-entry reference, bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "harness.h"
#include "prio/prio_internal.h"

/* The definition, one entry at a time: c = -1, 0, 0, 1 for codes 0..3. */
static void reference_dot(const prio_field *F, prio_fe *results, size_t checks,
                          const prio_fe *grad, size_t d, const uint8_t *codes)
{
    size_t nbytes = (d + 3) / 4;
    for (size_t i = 0; i < checks; i++) {
        prio_fe acc = prio_fe_zero();
        for (size_t k = 0; k < d; k++) {
            unsigned code = (codes[i * nbytes + k / 4] >> (2 * (k % 4))) & 3;
            if (code == 3)
                acc = prio_fe_add(F, acc, grad[k]);
            else if (code == 0)
                acc = prio_fe_sub(F, acc, grad[k]);
        }
        results[i] = acc;
    }
}

static uint64_t next64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Representations 0..3, p-1..p-4, and random elements, mixed. */
static prio_fe test_entry(const prio_field *F, uint64_t *s)
{
    uint64_t r = next64(s);
    prio_fe small = {{r >> 8 & 3, 0}};
    switch (r & 3) {
    case 0: return small;
    case 1: small.v[0] += 1; return prio_fe_neg(F, small);
    default: return prio_fe_mul(F, prio_fe_from_u64(F, next64(s)), prio_fe_from_u64(F, r));
    }
}

/* Codes: random, all +1 (0xff), all -1 (0x00). Gradient: mixed, or all
 * p - 1 (the largest sums). */
static int cross_check(const prio_field *F, size_t d, int codes_kind, int grad_kind,
                       uint64_t *seed)
{
    const size_t checks = 7;
    size_t nbytes = (d + 3) / 4;
    uint8_t *codes = malloc(checks * nbytes);
    prio_fe *grad = malloc(d * sizeof *grad);
    prio_fe want[7], got[7], one = {{1, 0}};
    int ok = codes && grad, simd = prio_simd();
    for (size_t i = 0; ok && i < checks * nbytes; i++)
        codes[i] = codes_kind == 0 ? (uint8_t)next64(seed) : codes_kind == 1 ? 0xff : 0x00;
    for (size_t k = 0; ok && k < d; k++)
        grad[k] = grad_kind == 0 ? test_entry(F, seed) : prio_fe_neg(F, one);
    if (ok)
        reference_dot(F, want, checks, grad, d, codes);
    for (int level = 0; ok && level <= 1; level++) {
        if (prio_set_simd(level) != level)
            continue; /* no AVX-512 here */
        memset(got, 0xa5, sizeof got);
        ok = prio_wr_dot(F, got, checks, grad, d, codes) == 0 &&
             memcmp(got, want, sizeof want) == 0;
        if (!ok)
            gdn_test_fail(__FILE__, __LINE__, "field %d, d %zu, codes %d, gradient %d, level %d",
                          (int)F->id, d, codes_kind, grad_kind, level);
    }
    prio_set_simd(simd);
    free(codes);
    free(grad);
    return ok;
}

GDN_TEST(prio_pine_wr_dot_kernels_match_reference)
{
    const prio_field *fields[4] = {prio_field64(), prio_field32(), prio_field40(),
                                   prio_field128()};
    const size_t dims[] = {1, 3, 63, 64, 65, 1000, 4097, 20000};
    uint64_t seed = 42;
    size_t runs = 0;
    int saved = prio_simd(), top = prio_set_simd(1);
    prio_set_simd(saved);
    for (size_t f = 0; f < 4; f++)
        for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
            for (int codes = 0; codes < 3; codes++)
                for (int grad = 0; grad < 2; grad++) {
                    CHECK(cross_check(fields[f], dims[i], codes, grad, &seed));
                    runs++;
                }
    CHECK_EQ(runs, 4 * 8 * 3 * 2);
    CHECK_EQ(prio_simd(), saved);
    printf("  wr dot: %zu cases, levels 0..%d\n", runs, top);
}

/* A known sum: d entries of p - 1 (that is -1) all with code 11 give -d;
 * with code 00, d. And the dispatch clamps. */
GDN_TEST(prio_pine_wr_dot_known_values_and_limits)
{
    const prio_field *F = prio_field64();
    prio_fe grad[100], r[2], one = {{1, 0}};
    uint8_t codes[50];
    int saved = prio_simd();
    for (size_t k = 0; k < 100; k++)
        grad[k] = prio_fe_neg(F, one); /* representation p - 1 */
    memset(codes, 0xff, 25);
    memset(codes + 25, 0x00, 25);
    for (int level = 0; level <= 1; level++) {
        uint64_t val[2];
        prio_set_simd(level);
        CHECK_OK(prio_wr_dot(F, r, 2, grad, 100, codes));
        /* representation -100 mod p, as an element: -100 / R */
        CHECK_EQ(r[0].v[0], 0xffffffff00000001ULL - 100);
        CHECK_EQ(r[1].v[0], 100);
        prio_fe_value(F, val, prio_fe_add(F, r[0], r[1]));
        CHECK_EQ(val[0], 0);
    }
    CHECK_EQ(prio_set_simd(0), 0);
    CHECK(prio_set_simd(7) <= 1);
    CHECK_EQ(prio_set_simd(-3), 0);
    prio_set_simd(saved);
    CHECK_EQ(prio_wr_dot(F, r, 1, grad, PRIO_WR_MAX_DIM + 1, codes), GDN_EINVAL);
}
