/* prio: fields, XOFs, FLP and Prio3 against draft-irtf-cfrg-vdaf-20 vectors. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/prio.h"
#include "harness.h"
#include "prio/prio_internal.h"

/* ---- Helpers --------------------------------------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Hex string of a JSON value into *out (reset first); -1 when not hex. */
static int json_hex(gdn_buf *out, const gdn_json *v)
{
    size_t n;
    const char *s = v ? gdn_json_string(v, &n) : NULL;
    out->len = 0;
    if (!s || n % 2)
        return -1;
    if (gdn_buf_reserve(out, n / 2 + 1))
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out->data[out->len++] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int buf_eq_hex(const uint8_t *p, size_t n, const gdn_json *v)
{
    gdn_buf b = {0};
    int ok = json_hex(&b, v) == 0 && b.len == n && (n == 0 || memcmp(b.data, p, n) == 0);
    gdn_buf_free(&b);
    return ok;
}

static uint64_t json_u64(const gdn_json *v, const char *key)
{
    uint64_t x = 0;
    const gdn_json *f = gdn_json_get(v, key);
    if (f)
        gdn_json_uint(f, &x);
    return x;
}

/* Measurement as integers: an int, a list of ints, or a list of booleans. */
static size_t json_measurement(uint64_t *out, size_t cap, const gdn_json *m)
{
    if (gdn_json_type(m) == GDN_JSON_NUMBER) {
        gdn_json_uint(m, &out[0]);
        return 1;
    }
    size_t n = gdn_json_len(m);
    for (size_t i = 0; i < n && i < cap; i++) {
        const gdn_json *e = gdn_json_at(m, i);
        int b;
        if (gdn_json_type(e) == GDN_JSON_BOOL) {
            gdn_json_bool(e, &b);
            out[i] = (uint64_t)b;
        } else {
            gdn_json_uint(e, &out[i]);
        }
    }
    return n;
}

/* ---- Fields and NTT ------------------------------------------------------- */

typedef unsigned __int128 u128;

/* Slow reference: (a * b) mod p by double-and-add over 128-bit values. */
static u128 ref_add(u128 a, u128 b, u128 p)
{
    u128 s = a + b;
    if (s < a || s >= p)
        s -= p;
    return s;
}
static u128 ref_mul(u128 a, u128 b, u128 p)
{
    u128 r = 0;
    for (int i = 127; i >= 0; i--) {
        r = ref_add(r, r, p);
        if ((b >> i) & 1)
            r = ref_add(r, a, p);
    }
    return r;
}

static u128 fe_u128(const prio_field *F, prio_fe a)
{
    uint64_t v[2];
    prio_fe_value(F, v, a);
    return (u128)v[1] << 64 | v[0];
}

GDN_TEST(prio_field_arithmetic)
{
    const prio_field *fs[4] = {prio_field64(), prio_field128(), prio_field32(),
                               prio_field40()};
    const u128 ps[4] = {0xffffffff00000001ULL, (u128)0xffffffffffffffe4ULL << 64 | 1,
                        4293918721ULL, 1099489607681ULL};
    gdn_rng rng;
    gdn_rng_init_seed(&rng, 42);
    for (int f = 0; f < 4; f++) {
        const prio_field *F = fs[f];
        u128 p = ps[f];
        for (int it = 0; it < 2000; it++) {
            uint8_t b[16];
            prio_fe x, y;
            gdn_rng_bytes(&rng, b, 16);
            if (it < 4) /* edges: 0, 1, p - 1 */
                memset(b, 0, 16), b[0] = (uint8_t)(it == 1);
            if (F->encoded_size < 8) /* small fields: a value below 2^32 or 2^40 */
                memset(b + F->encoded_size, 0, 16 - F->encoded_size);
            if (!prio_fe_sample(F, &x, b))
                continue;
            if (it == 2 || it == 3)
                x = prio_fe_sub(F, prio_fe_zero(), prio_fe_one(F));
            gdn_rng_bytes(&rng, b, 16);
            if (!prio_fe_sample(F, &y, b))
                continue;
            u128 xv = fe_u128(F, x), yv = fe_u128(F, y);
            CHECK(xv < p && yv < p);
            CHECK(fe_u128(F, prio_fe_add(F, x, y)) == ref_add(xv, yv, p));
            CHECK(fe_u128(F, prio_fe_sub(F, x, y)) == ref_add(xv, p - yv == p ? 0 : p - yv, p));
            CHECK(fe_u128(F, prio_fe_mul(F, x, y)) == ref_mul(xv, yv, p));
            if (xv != 0 && it % 50 == 0)
                CHECK(prio_fe_eq(prio_fe_mul(F, x, prio_fe_inv(F, x)), prio_fe_one(F)));
            uint8_t enc[16];
            prio_fe z;
            prio_fe_encode(F, enc, x);
            CHECK_OK(prio_fe_decode(F, &z, enc));
            CHECK(prio_fe_eq(z, x));
        }
        /* p itself does not decode. */
        uint8_t pe[16];
        for (int i = 0; i < 16; i++)
            pe[i] = (uint8_t)(p >> (8 * i));
        prio_fe z;
        CHECK_EQ(prio_fe_decode(F, &z, pe), GDN_EFORMAT);
        /* Vectors, at each vector level: the same bytes and elements as one
         * element at a time, and p anywhere in a vector (in the lanes or the
         * tail) rejects it. */
        int saved = prio_simd();
        for (int level = 0; level < 2 && prio_set_simd(level) == level; level++) {
            enum { N = 37 };
            prio_fe v[N], w[N];
            uint8_t e1[N * 16], e2[N * 16], b[16];
            size_t es = F->encoded_size;
            for (size_t i = 0; i < N;) {
                gdn_rng_bytes(&rng, b, 16);
                i += (size_t)prio_fe_sample(F, &v[i], b);
            }
            v[0] = prio_fe_zero(), v[1] = prio_fe_sub(F, prio_fe_zero(), prio_fe_one(F));
            prio_vec_encode(F, e1, v, N);
            for (size_t i = 0; i < N; i++)
                prio_fe_encode(F, e2 + i * es, v[i]);
            CHECK(memcmp(e1, e2, N * es) == 0);
            CHECK_OK(prio_vec_decode(F, w, e1, N));
            for (size_t i = 0; i < N; i++)
                CHECK(prio_fe_eq(w[i], v[i]));
            /* Subtraction, wrapping below zero included (v[0] = 0). */
            prio_fe u[N], d[N];
            for (size_t i = 0; i < N;) {
                gdn_rng_bytes(&rng, b, 16);
                i += (size_t)prio_fe_sample(F, &u[i], b);
            }
            memcpy(d, v, sizeof d);
            prio_vec_sub(F, d, u, N);
            for (size_t i = 0; i < N; i++)
                CHECK(prio_fe_eq(d[i], prio_fe_sub(F, v[i], u[i])));
            memcpy(e2, e1, N * es);
            memcpy(e1 + 20 * es, pe, es);
            CHECK_EQ(prio_vec_decode(F, w, e1, N), GDN_EFORMAT);
            memcpy(e2 + 35 * es, pe, es);
            CHECK_EQ(prio_vec_decode(F, w, e2, N), GDN_EFORMAT);
        }
        prio_set_simd(saved);
        /* The generator has order exactly 2^log_gen_order. */
        prio_fe g = prio_root_of_unity(F, F->log_gen_order);
        for (unsigned i = 0; i + 1 < F->log_gen_order; i++)
            g = prio_fe_mul(F, g, g);
        CHECK(!prio_fe_eq(g, prio_fe_one(F)));
        CHECK(prio_fe_eq(prio_fe_mul(F, g, g), prio_fe_one(F)));
    }
}

/* ---- NTT, extension, barycentric weights, FLP against slow references ---- */

static const prio_field *all_fields(int i)
{
    const prio_field *(*f[4])(void) = {prio_field64, prio_field128, prio_field32, prio_field40};
    return f[i]();
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform element by rejection sampling. */
static prio_fe rand_fe(const prio_field *F, uint64_t *s)
{
    prio_fe x;
    uint8_t b[16];
    do {
        gdn_store_le64(b, splitmix(s));
        gdn_store_le64(b + 8, splitmix(s));
    } while (!prio_fe_sample(F, &x, b));
    return x;
}

static void rand_vec(const prio_field *F, prio_fe *v, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rand_fe(F, s);
}

static int vec_eq(const prio_fe *a, const prio_fe *b, size_t n)
{
    int ok = 1;
    for (size_t i = 0; i < n; i++)
        ok &= prio_fe_eq(a[i], b[i]);
    return ok;
}

/* The O(n^2) transform: out[i] = sum_j a[j] w^(ij), w = root^(+-1). */
static void ref_dft(const prio_field *F, prio_fe *out, const prio_fe *a, unsigned log_n,
                    int inverse)
{
    size_t n = (size_t)1 << log_n;
    uint64_t e[2] = {n - 1, 0};
    prio_fe w = prio_root_of_unity(F, log_n), x = prio_fe_one(F);
    if (inverse)
        w = prio_fe_pow(F, w, e);
    for (size_t i = 0; i < n; i++) {
        prio_fe s = prio_fe_zero(), xi = prio_fe_one(F);
        for (size_t j = 0; j < n; j++) {
            s = prio_fe_add(F, s, prio_fe_mul(F, a[j], xi));
            xi = prio_fe_mul(F, xi, x);
        }
        out[i] = s;
        x = prio_fe_mul(F, x, w);
    }
    if (inverse) {
        prio_fe ninv = prio_fe_inv(F, prio_fe_from_u64(F, n));
        for (size_t i = 0; i < n; i++)
            out[i] = prio_fe_mul(F, out[i], ninv);
    }
}

static void check_lde_barycentric(void)
{
    uint64_t seed = 1;
    enum { MAXN = 256 };
    prio_fe a[MAXN], b[MAXN], r[MAXN], c[MAXN];
    for (int fi = 0; fi < 4; fi++) {
        const prio_field *F = all_fields(fi);
        for (unsigned log_p = 0; log_p <= 6; log_p++) {
            size_t p = (size_t)1 << log_p;
            rand_vec(F, a, p, &seed);
            /* The transforms equal the O(n^2) ones. */
            memcpy(b, a, p * sizeof *b);
            CHECK_OK(prio_ntt(F, b, log_p));
            ref_dft(F, r, a, log_p, 0);
            CHECK(vec_eq(b, r, p));
            CHECK_OK(prio_intt(F, b, log_p));
            CHECK(vec_eq(b, a, p));
            ref_dft(F, r, a, log_p, 1);
            CHECK_OK(prio_intt(F, a, log_p));
            CHECK(vec_eq(a, r, p));
            /* a: coefficients of degree < p; y: its values at the p-th roots. */
            prio_fe y[64];
            memcpy(y, a, p * sizeof *y);
            CHECK_OK(prio_ntt(F, y, log_p));
            for (unsigned log_n = log_p; log_n <= log_p + 2; log_n++) {
                size_t n = (size_t)1 << log_n, q = n / p;
                prio_lde e;
                CHECK_OK(prio_lde_init(&e, F, log_p, log_n));
                prio_lde_run(&e, c, y);
                prio_lde_free(&e);
                memset(b, 0, n * sizeof *b); /* the zero-padded transform */
                memcpy(b, a, p * sizeof *b);
                CHECK_OK(prio_ntt(F, b, log_n));
                for (size_t j = 0; j < q; j++)
                    for (size_t k = 0; k < p; k++)
                        CHECK(prio_fe_eq(c[j * p + k], b[k * q + j]));
            }
            /* Barycentric weights: sum_k y_k c_k = a(t), t random, a
             * 2p-th root or a p-th root (then c is a unit vector). */
            for (int it = 0; it < 4; it++) {
                prio_fe t = it < 2 ? rand_fe(F, &seed) : prio_root_of_unity(F, log_p + 3 - it);
                prio_bary_weights(F, c, log_p, t);
                CHECK(prio_fe_eq(prio_vec_dot(F, y, c, p), prio_poly_eval(F, a, p, t)));
            }
        }
    }
}

/* Both vector levels (prio_lde_run's AVX-512 path when the CPU has it). */
static void at_simd_levels(void (*fn)(void), const char *name)
{
    int saved = prio_simd();
    for (int level = 0; level < 2; level++) {
        if (prio_set_simd(level) != level) {
            printf("  %s: no SIMD level %d on this CPU\n", name, level);
            continue;
        }
        fn();
    }
    prio_set_simd(saved);
}

GDN_TEST(prio_ntt_lde_barycentric)
{
    at_simd_levels(check_lde_barycentric, "lde");
}

/* Dot products, gadget sums and pointwise gadgets, with carries: all
 * entries p - 1, and lengths past the Field32/40 fold of 4096. */
static void check_vector_kernels(void)
{
    uint64_t seed = 2;
    size_t lens[] = {1, 3, 17, 4096, 5000};
    for (int fi = 0; fi < 4; fi++) {
        const prio_field *F = all_fields(fi);
        prio_fe pcs[2][4] = {{prio_fe_zero(), prio_fe_zero(), prio_fe_one(F)},
                             {prio_fe_zero(), prio_fe_from_u64(F, 2),
                              prio_fe_neg(F, prio_fe_from_u64(F, 3)), prio_fe_one(F)}};
        rand_vec(F, pcs[1] + 0, 1, &seed); /* a non-zero constant term */
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            size_t n = lens[li];
            prio_fe *a = malloc(2 * n * sizeof *a), *acc = malloc(n * sizeof *acc);
            prio_fe *ref = malloc(n * sizeof *ref);
            CHECK(a && acc && ref);
            for (int ext = 0; ext < 2; ext++) {
                if (ext)
                    for (size_t i = 0; i < 2 * n; i++)
                        a[i] = prio_fe_neg(F, prio_fe_one(F));
                else
                    rand_vec(F, a, 2 * n, &seed);
                prio_fe d = prio_fe_zero(), pd = prio_fe_zero();
                for (size_t i = 0; i < n; i++) {
                    d = prio_fe_add(F, d, prio_fe_mul(F, a[i], a[n + i]));
                    pd = prio_fe_add(F, pd, prio_fe_mul(F, a[2 * i], a[2 * i + 1]));
                }
                CHECK(prio_fe_eq(prio_vec_dot(F, a, a + n, n), d));
                CHECK(prio_fe_eq(prio_vec_pair_dot(F, a, n), pd));
                /* Rows (a[2i], a[2i+1]) weighted by a[n + i]: column sums. */
                prio_rows_sum *rs = prio_rows_sum_new(F, 2);
                CHECK(rs);
                prio_fe cs[2] = {prio_fe_zero(), prio_fe_zero()}, got[2];
                for (size_t i = 0; i < n; i++) {
                    const prio_fe *row = a + 2 * (i % (n / 2 + 1));
                    prio_rows_sum_add(rs, row, a[n + i]);
                    for (int j = 0; j < 2; j++)
                        cs[j] = prio_fe_add(F, cs[j], prio_fe_mul(F, row[j], a[n + i]));
                }
                prio_rows_sum_get(rs, got);
                prio_rows_sum_free(rs);
                CHECK(vec_eq(got, cs, 2));
                for (int pi = 0; pi < 2; pi++) {
                    size_t len = pi ? 4 : 3;
                    prio_fe s = prio_fe_zero();
                    rand_vec(F, acc, n, &seed);
                    for (size_t i = 0; i < n; i++) {
                        prio_fe v = prio_poly_eval(F, pcs[pi], len, a[i]);
                        s = prio_fe_add(F, s, v);
                        ref[i] = prio_fe_add(F, acc[i], v);
                    }
                    CHECK(prio_fe_eq(prio_vec_poly_sum(F, a, pcs[pi], len, n), s));
                    prio_vec_poly_acc(F, acc, a, pcs[pi], len, n);
                    CHECK(vec_eq(acc, ref, n));
                }
                for (size_t i = 0; i < n; i++)
                    ref[i] = prio_fe_add(F, acc[i], prio_fe_mul(F, a[i], a[n + i]));
                prio_vec_mul_acc(F, acc, a, a + n, n);
                CHECK(vec_eq(acc, ref, n));
            }
            free(a);
            free(acc);
            free(ref);
        }
    }
}

GDN_TEST(prio_vector_kernels)
{
    at_simd_levels(check_vector_kernels, "kernels");
}

/* The wires of prio_flp_rows, wire j at w[j p + k]. */
static int ref_wires(const prio_circuit *c, prio_fe *w, const prio_fe *meas, const prio_fe *seeds,
                     const prio_fe *joint_rand, size_t num_shares)
{
    size_t a = c->arity, p = c->wire_len;
    prio_fe *rows = calloc((1 + c->calls) * a, sizeof *rows);
    int rc = rows ? prio_flp_rows(c, rows, meas, seeds, joint_rand, num_shares) : GDN_ENOMEM;
    memset(w, 0, a * p * sizeof *w);
    for (size_t k = 0; !rc && k <= c->calls; k++)
        for (size_t j = 0; j < a; j++)
            w[j * p + k] = rows[k * a + j];
    free(rows);
    return rc;
}

/* The straightforward prover of §7.3.3: each wire interpolated (size p),
 * zero-padded and evaluated at the n-th roots, the gadget applied with
 * single operations. g: the gadget polynomial's coefficients (n). */
static int ref_prove(const prio_circuit *c, prio_fe *proof, prio_fe *g, const prio_fe *meas,
                     const prio_fe *seeds, const prio_fe *joint_rand)
{
    const prio_field *F = c->F;
    size_t p = c->wire_len, n = c->eval_len, base = c->gadget == PRIO_GADGET_MUL ? 2 : 1;
    unsigned log_p = 0, log_n = 0;
    while (((size_t)1 << log_p) < p)
        log_p++;
    while (((size_t)1 << log_n) < n)
        log_n++;
    prio_fe *wires = calloc(c->arity * p, sizeof *wires), *w = calloc(2 * n, sizeof *w);
    int rc = GDN_ENOMEM;
    if (!wires || !w || (rc = ref_wires(c, wires, meas, seeds, joint_rand, 1)))
        goto done;
    memset(g, 0, n * sizeof *g);
    for (size_t i = 0; i < c->count; i++) {
        for (size_t b = 0; b < base; b++) {
            memset(w + b * n, 0, n * sizeof *w);
            memcpy(w + b * n, wires + (i * base + b) * p, p * sizeof *w);
            prio_intt(F, w + b * n, log_p);
            prio_ntt(F, w + b * n, log_n);
        }
        for (size_t k = 0; k < n; k++) {
            prio_fe v = prio_fe_zero();
            if (c->gadget == PRIO_GADGET_MUL)
                v = prio_fe_mul(F, w[k], w[n + k]);
            else
                for (size_t j = c->poly_len; j-- > 0;) {
                    prio_fe cj = prio_fe_from_u64(F, (uint64_t)llabs(c->poly[j]));
                    if (c->poly[j] < 0)
                        cj = prio_fe_neg(F, cj);
                    v = prio_fe_add(F, prio_fe_mul(F, v, w[k]), cj);
                }
            g[k] = prio_fe_add(F, g[k], v);
        }
    }
    for (size_t j = 0; j < c->arity; j++)
        proof[j] = seeds[j];
    memcpy(proof + c->arity, g, c->gadget_poly_len * sizeof *g);
    prio_intt(F, g, log_n);
    if (c->coeff_proof)
        memcpy(proof + c->arity, g, c->gadget_poly_len * sizeof *g);
done:
    free(wires);
    free(w);
    return rc;
}

/* prove and query against the references for one circuit, both proof
 * forms, a random query point and (values) an n-th root one. */
static void check_flp(prio_circuit *c, uint64_t *seed)
{
    const prio_field *F = c->F;
    size_t p = c->wire_len, n = c->eval_len;
    prio_fe *meas = calloc(c->meas_len, sizeof *meas), *pr = calloc(c->arity, sizeof *pr);
    prio_fe *jr = calloc(c->joint_rand_len + 1, sizeof *jr);
    prio_fe *qr = calloc(c->query_rand_len, sizeof *qr);
    prio_fe *proof = calloc(c->proof_len, sizeof *proof), *rproof = calloc(c->proof_len, sizeof *rproof);
    prio_fe *g = calloc(n, sizeof *g), *ver = calloc(c->verifier_len, sizeof *ver);
    prio_fe *wires = calloc(c->arity * p, sizeof *wires);
    CHECK(meas && pr && jr && qr && proof && rproof && g && ver && wires);
    unsigned log_p = 0;
    while (((size_t)1 << log_p) < p)
        log_p++;
    for (int form = 0; form < 2; form++) {
        c->coeff_proof = form;
        rand_vec(F, meas, c->meas_len, seed);
        rand_vec(F, pr, c->arity, seed);
        rand_vec(F, jr, c->joint_rand_len, seed);
        CHECK_OK(prio_flp_prove(c, proof, meas, pr, jr));
        CHECK_OK(ref_prove(c, rproof, g, meas, pr, jr));
        CHECK(vec_eq(proof, rproof, c->proof_len));
        for (int tk = 0; tk < 2; tk++) {
            rand_vec(F, qr, c->query_rand_len, seed);
            prio_fe *t = &qr[c->query_rand_len - 1];
            if (tk) { /* an n-th root, no p-th root */
                unsigned log_n = 0;
                while (((size_t)1 << log_n) < n)
                    log_n++;
                if (n == p)
                    continue;
                *t = prio_root_of_unity(F, log_n);
            }
            CHECK_OK(prio_flp_query(c, ver, meas, proof, qr, jr, 2));
            CHECK_OK(ref_wires(c, wires, meas, proof, jr, 2));
            for (size_t j = 0; j < c->arity; j++) {
                prio_intt(F, wires + j * p, log_p);
                CHECK(prio_fe_eq(ver[1 + j], prio_poly_eval(F, wires + j * p, p, *t)));
            }
            CHECK(prio_fe_eq(ver[1 + c->arity], prio_poly_eval(F, g, n, *t)));
        }
    }
    free(meas);
    free(pr);
    free(jr);
    free(qr);
    free(proof);
    free(rproof);
    free(g);
    free(ver);
    free(wires);
}

static void check_flp_circuits(void)
{
    uint64_t seed = 3;
    for (int fi = 0; fi < 4; fi++) {
        const prio_field *F = all_fields(fi);
        for (int it = 0; it < 3; it++) {
            prio_circuit c;
            size_t len = 1 + splitmix(&seed) % 40, chunk = 1 + splitmix(&seed) % 9;
            uint64_t max = 1 + splitmix(&seed) % 1000;
            CHECK_OK(prio_circuit_init(&c, PRIO_CIRCUIT_COUNT, F, 0, 0, 0));
            check_flp(&c, &seed);
            CHECK_OK(prio_circuit_init(&c, PRIO_CIRCUIT_HIGHER_DEGREE, F, 0, 0, 0));
            check_flp(&c, &seed);
            CHECK_OK(prio_circuit_init(&c, PRIO_CIRCUIT_SUM, F, 0, max, 0));
            check_flp(&c, &seed);
            CHECK_OK(prio_circuit_init(&c, PRIO_CIRCUIT_SUMVEC, F, len, max, chunk));
            check_flp(&c, &seed);
            CHECK_OK(prio_circuit_init(&c, PRIO_CIRCUIT_HISTOGRAM, F, len, 0, chunk));
            check_flp(&c, &seed);
            CHECK_OK(prio_circuit_init(&c, PRIO_CIRCUIT_MULTIHOT, F, len, 1 + max % len, chunk));
            check_flp(&c, &seed);
            if (F->id == PRIO_FIELD128)
                continue;
            size_t dim = 1 + splitmix(&seed) % 300, checks = 5 + splitmix(&seed) % 20;
            CHECK_OK(prio_circuit_init_pine(&c, PRIO_CIRCUIT_PINE_NORM, F, dim, 32768,
                                            1 + dim / 17, 8.7, checks, checks - 2));
            check_flp(&c, &seed);
            CHECK_OK(prio_circuit_init_pine(&c, PRIO_CIRCUIT_PINE, F, dim, 32768, chunk, 8.7,
                                            checks, checks - 2));
            check_flp(&c, &seed);
        }
    }
}

GDN_TEST(prio_flp_matches_reference)
{
    at_simd_levels(check_flp_circuits, "flp");
}

/* RFC 9861 §5: TurboSHAKE128(M = empty, D = 0x1F, 32). */
GDN_TEST(prio_turboshake_rfc9861)
{
    static const uint8_t want[32] = {
        0x1e, 0x41, 0x5f, 0x1c, 0x59, 0x83, 0xaf, 0xf2, 0x16, 0x92, 0x17,
        0x27, 0x7d, 0x17, 0xbb, 0x53, 0x8c, 0xd9, 0x45, 0xa3, 0x97, 0xdd,
        0xec, 0x54, 0x1f, 0x1c, 0xe4, 0x1a, 0xf2, 0xc1, 0xb7, 0x4c};
    static uint8_t msg[5000], out[2][3000];
    gdn_rng rng;
    gdn_rng_init_seed(&rng, 9);
    gdn_rng_bytes(&rng, msg, sizeof msg);
    int saved = prio_simd();
    /* Each Keccak-p the CPU has: the RFC's value, and both agree on a long
     * message and output (absorbed and squeezed in uneven pieces). */
    for (int level = 0; level <= 1; level++) {
        prio_turboshake t;
        uint8_t o[32];
        if (prio_set_simd(level) != level)
            continue;
        prio_turboshake_init(&t, 0x1f);
        prio_turboshake_squeeze(&t, o, 32);
        CHECK(memcmp(o, want, 32) == 0);
        prio_turboshake_init(&t, 0x0b);
        prio_turboshake_absorb(&t, msg, 1001);
        prio_turboshake_absorb(&t, msg + 1001, sizeof msg - 1001);
        prio_turboshake_squeeze(&t, out[level], 7);
        prio_turboshake_squeeze(&t, out[level] + 7, sizeof out[level] - 7);
    }
    prio_set_simd(saved);
    if (prio_set_simd(1) == 1)
        CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
    prio_set_simd(saved);
}

/* Vectors drawn in bulk equal one candidate at a time, rejections included
 * (Field32 rejects about 2^-12 of its candidates), and the kept encodings
 * are the elements'. */
GDN_TEST(prio_xof_next_vec_rejection_sampling)
{
    enum { N = 20000 };
    const prio_field *fs[2] = {prio_field32(), prio_field64()};
    static const uint8_t seed[32] = {5}, dst[3] = {1, 2, 3};
    prio_fe *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b), *c = calloc(N, sizeof *c);
    uint8_t *enc = malloc(N * 8), *ref = malloc(N * 8);
    CHECK(a && b && c && enc && ref);
    for (int f = 0; f < 2 && a && b && c && enc && ref; f++) {
        const prio_field *F = fs[f];
        size_t es = F->encoded_size, rejected = 0;
        prio_xof x;
        CHECK_OK(prio_xof_init(&x, PRIO_XOF_HMAC_SHA256_AES128, seed, 32, dst, 3, NULL, 0));
        for (size_t i = 0; i < N;) {
            uint8_t cand[8];
            CHECK_OK(prio_xof_next(&x, cand, es));
            if (prio_fe_sample(F, &a[i], cand))
                memcpy(ref + i * es, cand, es), i++;
            else
                rejected++;
        }
        prio_xof_free(&x);
        CHECK_OK(prio_xof_init(&x, PRIO_XOF_HMAC_SHA256_AES128, seed, 32, dst, 3, NULL, 0));
        CHECK_OK(prio_xof_next_vec(&x, F, b, N));
        prio_xof_free(&x);
        CHECK_OK(prio_xof_init(&x, PRIO_XOF_HMAC_SHA256_AES128, seed, 32, dst, 3, NULL, 0));
        CHECK_OK(prio_xof_next_vec_enc(&x, F, c, enc, N));
        prio_xof_free(&x);
        for (size_t i = 0; i < N; i++)
            CHECK(prio_fe_eq(a[i], b[i]) && prio_fe_eq(a[i], c[i]));
        CHECK(memcmp(enc, ref, N * es) == 0);
        if (F == prio_field32())
            CHECK(rejected > 0); /* the case under test happened */
    }
    free(a), free(b), free(c), free(enc), free(ref);
}

/* ---- Vector files ---------------------------------------------------------- */

static int check_xof_file(const gdn_json *root, prio_xof_id id, const char *name)
{
    gdn_buf seed = {0}, dst = {0}, binder = {0}, want = {0};
    uint8_t derived[32];
    size_t len = (size_t)json_u64(root, "length");
    prio_fe *vec = calloc(len ? len : 1, sizeof *vec);
    uint8_t *enc = calloc(len ? len : 1, 16);
    prio_xof x;
    int ok = 0;
    if (!vec || !enc || json_hex(&seed, gdn_json_get(root, "seed")) ||
        json_hex(&dst, gdn_json_get(root, "dst")) ||
        json_hex(&binder, gdn_json_get(root, "binder")))
        goto done;
    size_t ss = prio_xof_seed_size(id);
    if (prio_xof_init(&x, id, seed.data, seed.len, dst.data, dst.len, NULL, 0))
        goto done;
    prio_xof_binder(&x, binder.data, binder.len);
    int rc = prio_xof_next(&x, derived, ss);
    prio_xof_free(&x);
    if (rc || !buf_eq_hex(derived, ss, gdn_json_get(root, "derived_seed")))
        goto done;
    if (prio_xof_init(&x, id, seed.data, seed.len, dst.data, dst.len, NULL, 0))
        goto done;
    prio_xof_binder(&x, binder.data, binder.len);
    rc = prio_xof_next_vec(&x, prio_field128(), vec, len);
    prio_xof_free(&x);
    prio_vec_encode(prio_field128(), enc, vec, len);
    ok = rc == 0 && buf_eq_hex(enc, len * 16, gdn_json_get(root, "expanded_vec_field128"));
done:
    if (!ok)
        gdn_test_fail(__FILE__, __LINE__, "%s: XOF output differs", name);
    gdn_buf_free(&seed);
    gdn_buf_free(&dst);
    gdn_buf_free(&binder);
    gdn_buf_free(&want);
    free(vec);
    free(enc);
    return ok;
}

/* Builds the instance a Prio3 vector file describes. The multiproof files
 * do not name their field and proof count: they are recovered from the
 * leader input share's length. */
static int prio3_from_file(gdn_prio3 **out, const gdn_json *root, const char *name)
{
    gdn_prio3_params pp = {0};
    pp.num_shares = (unsigned)json_u64(root, "shares");
    pp.length = (size_t)json_u64(root, "length");
    pp.chunk_length = (size_t)json_u64(root, "chunk_length");
    pp.max = json_u64(root, "max_measurement");
    if (gdn_json_get(root, "max_weight"))
        pp.max = json_u64(root, "max_weight");
    if (strncmp(name, "Prio3SumVecWithMultiproof_", 26) == 0) {
        gdn_buf share = {0};
        const gdn_json *rep = gdn_json_at(gdn_json_get(root, "reports"), 0);
        if (json_hex(&share, gdn_json_at(gdn_json_get(rep, "input_shares"), 0)))
            return -1;
        pp.kind = GDN_PRIO3_SUMVEC_MULTIPROOF;
        for (int f = 0; f < 2; f++)
            for (unsigned k = 1; k < 256; k++) {
                gdn_prio3 *v;
                pp.field = f ? GDN_PRIO_FIELD128 : GDN_PRIO_FIELD64;
                pp.num_proofs = k;
                if (gdn_prio3_new(&v, &pp))
                    continue;
                if (gdn_prio3_input_share_size(v, 0) == share.len) {
                    gdn_buf_free(&share);
                    *out = v;
                    return 0;
                }
                gdn_prio3_free(v);
            }
        gdn_buf_free(&share);
        return -1;
    }
    static const struct {
        const char *prefix;
        gdn_prio3_kind kind;
    } kinds[] = {{"Prio3Count_", GDN_PRIO3_COUNT},
                 {"Prio3Sum_", GDN_PRIO3_SUM},
                 {"Prio3SumVec_", GDN_PRIO3_SUMVEC},
                 {"Prio3Histogram_", GDN_PRIO3_HISTOGRAM},
                 {"Prio3MultihotCountVec_", GDN_PRIO3_MULTIHOT_COUNTVEC},
                 {"Prio3HigherDegree_", GDN_PRIO3_HIGHER_DEGREE}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strncmp(name, kinds[i].prefix, strlen(kinds[i].prefix)) == 0) {
            pp.kind = kinds[i].kind;
            return gdn_prio3_new(out, &pp);
        }
    return -1;
}

#define MAX_REPORTS 16
#define MAX_SHARES 8

typedef struct report_state {
    gdn_buf state[MAX_SHARES], out[MAX_SHARES];
} report_state;

/* Runs the file's `operations` in order; each must succeed or fail as told,
 * and every output must equal the file's bytes. Returns 1 when it passes. */
static int run_prio3_file(const gdn_json *root, const char *name)
{
    gdn_prio3 *v = NULL;
    gdn_buf key = {0}, ctx = {0}, nonce = {0}, rand = {0}, ps = {0}, is = {0}, msg = {0};
    gdn_buf tmp = {0}, agg = {0};
    gdn_buf shares[MAX_SHARES] = {{0}}, vshares[MAX_SHARES] = {{0}};
    report_state *rs = calloc(MAX_REPORTS, sizeof *rs);
    const gdn_json *reports = gdn_json_get(root, "reports");
    const gdn_json *ops = gdn_json_get(root, "operations");
    size_t nrep = gdn_json_len(reports);
    int ok = 0;
    const char *why = "setup";
#define FAIL(w)                                                                \
    do {                                                                       \
        why = (w);                                                             \
        goto done;                                                             \
    } while (0)
    if (!rs || prio3_from_file(&v, root, name))
        FAIL("unsupported instance parameters");
    if (json_hex(&key, gdn_json_get(root, "verify_key")) ||
        json_hex(&ctx, gdn_json_get(root, "ctx")) || key.len != 32)
        FAIL("verify_key/ctx");
    unsigned S = (unsigned)json_u64(root, "shares");
    if (S > MAX_SHARES || nrep > MAX_REPORTS || gdn_json_len(ops) == 0)
        FAIL("too many shares/reports or no operations");
    for (size_t oi = 0; oi < gdn_json_len(ops); oi++) {
        const gdn_json *op = gdn_json_at(ops, oi);
        const char *kind = gdn_json_string(gdn_json_get(op, "operation"), NULL);
        int want = 0, rc;
        gdn_json_bool(gdn_json_get(op, "success"), &want);
        size_t ri = (size_t)json_u64(op, "report_index");
        unsigned agg_id = (unsigned)json_u64(op, "aggregator_id");
        const gdn_json *rep = gdn_json_at(reports, ri);
        if (!kind || (!rep && strcmp(kind, "aggregate") && strcmp(kind, "unshard")))
            FAIL("bad operation entry");
        if (agg_id >= S)
            FAIL("aggregator id");
        if (rep && (json_hex(&nonce, gdn_json_get(rep, "nonce")) || nonce.len != 16 ||
                    json_hex(&ps, gdn_json_get(rep, "public_share"))))
            FAIL("nonce/public_share");
        const gdn_json *in_shares = rep ? gdn_json_get(rep, "input_shares") : NULL;
        if (strcmp(kind, "shard") == 0) {
            uint64_t m[4096];
            size_t ml = json_measurement(m, 4096, gdn_json_get(rep, "measurement"));
            if (json_hex(&rand, gdn_json_get(rep, "rand")))
                FAIL("rand");
            tmp.len = 0;
            for (unsigned j = 0; j < S; j++)
                shares[j].len = 0;
            rc = gdn_prio3_shard_with_rand(v, &tmp, shares, ctx.data, ctx.len, m, ml,
                                           nonce.data, rand.data, rand.len);
            if ((rc == 0) != want)
                FAIL("shard: unexpected outcome");
            if (rc == 0) {
                if (!buf_eq_hex(tmp.data, tmp.len, gdn_json_get(rep, "public_share")))
                    FAIL("shard: public share differs");
                for (unsigned j = 0; j < S; j++)
                    if (!buf_eq_hex(shares[j].data, shares[j].len, gdn_json_at(in_shares, j)))
                        FAIL("shard: input share differs");
            }
        } else if (strcmp(kind, "verify_init") == 0) {
            if (json_hex(&is, gdn_json_at(in_shares, agg_id)))
                FAIL("input share hex");
            tmp.len = 0;
            rs[ri].state[agg_id].len = 0;
            rc = gdn_prio3_verify_init(v, &rs[ri].state[agg_id], &tmp, key.data, ctx.data,
                                       ctx.len, agg_id, nonce.data, ps.data, ps.len,
                                       is.data, is.len);
            if ((rc == 0) != want)
                FAIL("verify_init: unexpected outcome");
            const gdn_json *vs = gdn_json_at(gdn_json_get(rep, "verifier_shares"), 0);
            if (rc == 0 && !buf_eq_hex(tmp.data, tmp.len, gdn_json_at(vs, agg_id)))
                FAIL("verify_init: verifier share differs");
        } else if (strcmp(kind, "verifier_shares_to_message") == 0) {
            const gdn_json *vs = gdn_json_at(gdn_json_get(rep, "verifier_shares"), 0);
            const uint8_t *ptr[MAX_SHARES];
            size_t lens[MAX_SHARES];
            for (unsigned j = 0; j < S; j++) {
                if (json_hex(&vshares[j], gdn_json_at(vs, j)))
                    FAIL("verifier share hex");
                ptr[j] = vshares[j].data;
                lens[j] = vshares[j].len;
            }
            msg.len = 0;
            rc = gdn_prio3_verifier_shares_to_message(v, &msg, ctx.data, ctx.len, ptr, lens, S);
            if ((rc == 0) != want)
                FAIL("verifier_shares_to_message: unexpected outcome");
            if (rc == 0 && !buf_eq_hex(msg.data, msg.len,
                                       gdn_json_at(gdn_json_get(rep, "verifier_messages"), 0)))
                FAIL("verifier_shares_to_message: message differs");
        } else if (strcmp(kind, "verify_next") == 0) {
            if (json_hex(&msg, gdn_json_at(gdn_json_get(rep, "verifier_messages"), 0)))
                FAIL("verifier message hex");
            rs[ri].out[agg_id].len = 0;
            rc = gdn_prio3_verify_next(v, &rs[ri].out[agg_id], rs[ri].state[agg_id].data,
                                       rs[ri].state[agg_id].len, msg.data, msg.len);
            if ((rc == 0) != want)
                FAIL("verify_next: unexpected outcome");
            if (rc == 0 && !buf_eq_hex(rs[ri].out[agg_id].data, rs[ri].out[agg_id].len,
                                       gdn_json_at(gdn_json_get(rep, "out_shares"), agg_id)))
                FAIL("verify_next: output share differs");
        } else if (strcmp(kind, "aggregate") == 0) {
            size_t os = gdn_prio3_out_share_size(v);
            agg.len = 0;
            if (gdn_buf_reserve(&agg, os))
                FAIL("oom");
            memset(agg.data, 0, os);
            agg.len = os;
            rc = 0;
            for (size_t r = 0; r < nrep && !rc; r++)
                rc = gdn_prio3_aggregate(v, agg.data, rs[r].out[agg_id].data,
                                         rs[r].out[agg_id].len);
            if ((rc == 0) != want)
                FAIL("aggregate: unexpected outcome");
            if (rc == 0 && !buf_eq_hex(agg.data, agg.len,
                                       gdn_json_at(gdn_json_get(root, "agg_shares"), agg_id)))
                FAIL("aggregate: aggregate share differs");
        } else if (strcmp(kind, "unshard") == 0) {
            const gdn_json *ag = gdn_json_get(root, "agg_shares");
            const uint8_t *ptr[MAX_SHARES];
            size_t lens[MAX_SHARES], ol = gdn_prio3_output_len(v);
            uint64_t res[4096], exp[4096];
            for (unsigned j = 0; j < S; j++) {
                if (json_hex(&vshares[j], gdn_json_at(ag, j)))
                    FAIL("agg share hex");
                ptr[j] = vshares[j].data;
                lens[j] = vshares[j].len;
            }
            if (ol > 4096)
                FAIL("output too long for the test");
            rc = gdn_prio3_unshard(v, res, ol, ptr, lens, S, nrep);
            if ((rc == 0) != want)
                FAIL("unshard: unexpected outcome");
            size_t el = json_measurement(exp, 4096, gdn_json_get(root, "agg_result"));
            if (rc == 0 && (el != ol || memcmp(res, exp, ol * sizeof *res) != 0))
                FAIL("unshard: aggregate result differs");
        } else {
            FAIL("unknown operation");
        }
    }
    ok = 1;
done:
    if (!ok)
        gdn_test_fail(__FILE__, __LINE__, "%s: %s (%s)", name, why, gdn_errmsg());
    for (size_t r = 0; rs && r < MAX_REPORTS; r++)
        for (unsigned j = 0; j < MAX_SHARES; j++) {
            gdn_buf_free(&rs[r].state[j]);
            gdn_buf_free(&rs[r].out[j]);
        }
    for (unsigned j = 0; j < MAX_SHARES; j++) {
        gdn_buf_free(&shares[j]);
        gdn_buf_free(&vshares[j]);
    }
    gdn_buf *bs[] = {&key, &ctx, &nonce, &rand, &ps, &is, &msg, &tmp, &agg};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        gdn_buf_free(bs[i]);
    free(rs);
    gdn_prio3_free(v);
    return ok;
#undef FAIL
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of vdaf/: XOF and Prio3 files are checked; Poplar1 and IDPF
 * (outside this module) are counted as skipped; anything else fails. */
GDN_TEST(prio_vdaf_vectors)
{
    char dir[1024], path[2048];
    char *names[256];
    size_t n = 0, checked = 0, skipped = 0, prio3 = 0, failed = 0;
    snprintf(dir, sizeof dir, "%s/vdaf", gdn_test_vectors_dir());
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "vector folder %s missing", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        gdn_buf text = {0};
        gdn_json *root = NULL;
        const char *nm = names[i];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (strncmp(nm, "Poplar1", 7) == 0 || strncmp(nm, "Idpf", 4) == 0) {
            skipped++;
            continue;
        }
        if (gdn_file_read(&text, path, 1 << 24) ||
            gdn_json_parse(&root, (const char *)text.data, text.len, nm)) {
            gdn_test_fail(__FILE__, __LINE__, "%s: %s", nm, gdn_errmsg());
            failed++;
        } else if (strcmp(nm, "XofTurboShake128.json") == 0) {
            failed += !check_xof_file(root, PRIO_XOF_TURBOSHAKE128, nm);
        } else if (strcmp(nm, "XofFixedKeyAes128.json") == 0) {
            failed += !check_xof_file(root, PRIO_XOF_FIXED_KEY_AES128, nm);
        } else if (strncmp(nm, "Prio3", 5) == 0) {
            prio3++;
            failed += !run_prio3_file(root, nm);
        } else {
            gdn_test_fail(__FILE__, __LINE__, "%s: unknown vector file kind", nm);
            failed++;
        }
        checked++;
        gdn_json_free(root);
        gdn_buf_free(&text);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    printf("  prio vectors: %zu checked (%zu Prio3), %zu skipped (Poplar1/IDPF), %zu failed\n",
           checked, prio3, skipped, failed);
    CHECK_MSG(prio3 > 0, "no Prio3 vector files in %s", dir);
    CHECK_EQ(failed, 0);
}

/* Full two-aggregator round with fresh randomness for every instance kind,
 * then a tampered leader share that the aggregators must reject. */
static int round_trip(const gdn_prio3_params *pp, const uint64_t *m, size_t ml,
                      uint64_t *result, int tamper)
{
    static const uint8_t ctx[] = "guardian test", nonce[16] = {7};
    uint8_t key[32] = {1, 2, 3};
    gdn_prio3 *v = NULL;
    gdn_buf pub = {0}, in[2] = {{0}}, st[2] = {{0}}, vs[2] = {{0}}, msg = {0}, out[2] = {{0}};
    gdn_rng rng;
    int rc;
    gdn_rng_init_seed(&rng, 9);
    if ((rc = gdn_prio3_new(&v, pp)))
        return rc;
    rc = gdn_prio3_shard(v, &pub, in, ctx, sizeof ctx, m, ml, nonce, &rng);
    if (!rc && tamper)
        in[0].data[0] ^= 1; /* first measurement share element + 1 */
    for (unsigned j = 0; j < 2 && !rc; j++)
        rc = gdn_prio3_verify_init(v, &st[j], &vs[j], key, ctx, sizeof ctx, j, nonce,
                                   pub.data, pub.len, in[j].data, in[j].len);
    if (!rc) {
        const uint8_t *ptr[2] = {vs[0].data, vs[1].data};
        size_t lens[2] = {vs[0].len, vs[1].len};
        rc = gdn_prio3_verifier_shares_to_message(v, &msg, ctx, sizeof ctx, ptr, lens, 2);
    }
    for (unsigned j = 0; j < 2 && !rc; j++)
        rc = gdn_prio3_verify_next(v, &out[j], st[j].data, st[j].len, msg.data, msg.len);
    if (!rc) {
        const uint8_t *ptr[2] = {out[0].data, out[1].data};
        size_t lens[2] = {out[0].len, out[1].len};
        rc = gdn_prio3_unshard(v, result, gdn_prio3_output_len(v), ptr, lens, 2, 1);
    }
    gdn_buf_free(&pub);
    gdn_buf_free(&msg);
    for (int j = 0; j < 2; j++) {
        gdn_buf_free(&in[j]);
        gdn_buf_free(&st[j]);
        gdn_buf_free(&vs[j]);
        gdn_buf_free(&out[j]);
    }
    gdn_prio3_free(v);
    return rc;
}

GDN_TEST(prio_round_trip_and_reject)
{
    uint64_t res[64];
    gdn_prio3_params pp = {0};
    pp.num_shares = 2;

    pp.kind = GDN_PRIO3_COUNT;
    uint64_t one = 1;
    CHECK_OK(round_trip(&pp, &one, 1, res, 0));
    CHECK_EQ(res[0], 1);
    CHECK_EQ(round_trip(&pp, &one, 1, res, 1), GDN_ECRYPTO);

    pp.kind = GDN_PRIO3_SUM;
    pp.max = 1000;
    uint64_t s = 777;
    CHECK_OK(round_trip(&pp, &s, 1, res, 0));
    CHECK_EQ(res[0], 777);
    CHECK_EQ(round_trip(&pp, &s, 1, res, 1), GDN_ECRYPTO);
    s = 1001;
    CHECK_EQ(round_trip(&pp, &s, 1, res, 0), GDN_ERANGE);

    uint64_t vec[20];
    for (int i = 0; i < 20; i++)
        vec[i] = (uint64_t)(i * 13);
    pp.kind = GDN_PRIO3_SUMVEC;
    pp.max = 300;
    pp.length = 20;
    pp.chunk_length = 5;
    CHECK_OK(round_trip(&pp, vec, 20, res, 0));
    for (int i = 0; i < 20; i++)
        CHECK_EQ(res[i], vec[i]);
    CHECK_EQ(round_trip(&pp, vec, 20, res, 1), GDN_ECRYPTO);

    pp.kind = GDN_PRIO3_HISTOGRAM;
    pp.length = 7;
    pp.chunk_length = 3;
    uint64_t bucket = 5;
    CHECK_OK(round_trip(&pp, &bucket, 1, res, 0));
    for (int i = 0; i < 7; i++)
        CHECK_EQ(res[i], i == 5);
    CHECK_EQ(round_trip(&pp, &bucket, 1, res, 1), GDN_ECRYPTO);

    pp.kind = GDN_PRIO3_MULTIHOT_COUNTVEC;
    pp.length = 6;
    pp.max = 3;
    uint64_t bits[6] = {1, 0, 1, 0, 0, 1};
    CHECK_OK(round_trip(&pp, bits, 6, res, 0));
    for (int i = 0; i < 6; i++)
        CHECK_EQ(res[i], bits[i]);
    CHECK_EQ(round_trip(&pp, bits, 6, res, 1), GDN_ECRYPTO);
    bits[1] = 1; /* weight 4 > 3 */
    CHECK_EQ(round_trip(&pp, bits, 6, res, 0), GDN_ERANGE);

    pp.kind = GDN_PRIO3_SUMVEC_MULTIPROOF;
    pp.field = GDN_PRIO_FIELD64;
    pp.num_proofs = 2;
    pp.length = 20;
    pp.max = 300;
    pp.chunk_length = 4;
    CHECK_OK(round_trip(&pp, vec, 20, res, 0));
    CHECK_EQ(res[19], vec[19]);
    CHECK_EQ(round_trip(&pp, vec, 20, res, 1), GDN_ECRYPTO);

    pp.num_shares = 1;
    CHECK_EQ(round_trip(&pp, vec, 20, res, 0), GDN_EINVAL);
}

/* Decoders reject wrong lengths and out-of-range field elements. */
GDN_TEST(prio_decoders_reject_malformed)
{
    gdn_prio3 *v;
    gdn_prio3_params pp = {0};
    uint8_t key[32] = {0}, nonce[16] = {0}, share[64];
    gdn_buf st = {0}, vs = {0}, out = {0};
    pp.kind = GDN_PRIO3_COUNT;
    pp.num_shares = 2;
    CHECK_OK(gdn_prio3_new(&v, &pp));
    size_t n = gdn_prio3_input_share_size(v, 0);
    CHECK(n <= sizeof share);
    memset(share, 0xff, sizeof share); /* every element >= p */
    CHECK_EQ(gdn_prio3_verify_init(v, &st, &vs, key, NULL, 0, 0, nonce, NULL, 0, share, n),
             GDN_EFORMAT);
    CHECK_EQ(gdn_prio3_verify_init(v, &st, &vs, key, NULL, 0, 0, nonce, NULL, 0, share, n - 1),
             GDN_EFORMAT);
    CHECK_EQ(gdn_prio3_verify_init(v, &st, &vs, key, NULL, 0, 2, nonce, NULL, 0, share, 32),
             GDN_EINVAL);
    CHECK_EQ(gdn_prio3_verify_next(v, &out, share, 3, NULL, 0), GDN_EFORMAT);
    CHECK_EQ(gdn_prio3_verify_next(v, &out, share, 8, share, 32), GDN_ECRYPTO);
    gdn_buf_free(&st);
    gdn_buf_free(&vs);
    gdn_buf_free(&out);
    gdn_prio3_free(v);
}

/* ---- PINE (draft-chen-cfrg-vdaf-pine-01) vectors --------------------------- */

/* The variant a PINE vector file names (its prefix up to '_'), checked
 * against its "field". */
static int pine_variant(gdn_pine_variant *out, const char *name, const char *field)
{
    static const struct {
        const char *prefix, *field;
        gdn_pine_variant v;
    } vs[] = {{"Pine64_", "Field64", GDN_PINE64},
              {"Pine128_", "Field128", GDN_PINE128},
              {"Pine32HmacSha256Aes128_", "Field32", GDN_PINE32_HMAC_SHA256_AES128},
              {"Pine40HmacSha256Aes128_", "Field40", GDN_PINE40_HMAC_SHA256_AES128},
              {"Pine64HmacSha256Aes128_", "Field64", GDN_PINE64_HMAC_SHA256_AES128}};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++)
        if (strncmp(name, vs[i].prefix, strlen(vs[i].prefix)) == 0) {
            *out = vs[i].v;
            return field && strcmp(field, vs[i].field) == 0 ? 0 : -1;
        }
    return -1;
}

/* Hex strings of a JSON list, concatenated. */
static int json_hex_list(gdn_buf *out, const gdn_json *list)
{
    gdn_buf one = {0};
    out->len = 0;
    for (size_t i = 0; i < gdn_json_len(list); i++) {
        if (json_hex(&one, gdn_json_at(list, i)) || gdn_buf_append(out, one.data, one.len)) {
            gdn_buf_free(&one);
            return -1;
        }
    }
    gdn_buf_free(&one);
    return 0;
}

/* Every step of every report, byte for byte: shard, verify_init (prep
 * shares), verifier_shares_to_message (prep message), verify_next (out
 * shares), aggregate and unshard. */
static int run_pine_file(const gdn_json *root, const char *name)
{
    gdn_pine_params pp = {0};
    gdn_pine *v = NULL;
    gdn_buf key = {0}, nonce = {0}, rand = {0}, ps = {0}, is = {0}, msg = {0}, tmp = {0};
    gdn_buf shares[MAX_SHARES] = {{0}}, vsh[MAX_SHARES] = {{0}}, st[MAX_SHARES] = {{0}};
    gdn_buf out[MAX_SHARES] = {{0}}, agg[MAX_SHARES] = {{0}};
    double *meas = NULL, *res = NULL;
    const gdn_json *preps = gdn_json_get(root, "prep");
    const char *why = "setup";
    int ok = 0;
#define FAIL(w)                                                                \
    do {                                                                       \
        why = (w);                                                             \
        goto done;                                                             \
    } while (0)
    double alpha = 0;
    gdn_json_number(gdn_json_get(root, "alpha"), &alpha);
    pp.num_shares = (unsigned)json_u64(root, "shares");
    pp.dimension = (size_t)json_u64(root, "dimension");
    pp.l2_norm_bound = json_u64(root, "l2_norm_bound");
    pp.num_frac_bits = (unsigned)json_u64(root, "num_frac_bits");
    pp.chunk_length = (size_t)json_u64(root, "chunk_length");
    pp.chunk_length_norm_equality = (size_t)json_u64(root, "chunk_length_norm_equality");
    pp.num_proofs = (unsigned)json_u64(root, "proofs");
    pp.num_proofs_norm_equality = (unsigned)json_u64(root, "proofs_norm_equality");
    pp.alpha = alpha;
    pp.num_wr_checks = (size_t)json_u64(root, "num_wr_checks");
    pp.num_wr_successes = (size_t)json_u64(root, "num_wr_successes");
    unsigned S = pp.num_shares;
    size_t d = pp.dimension;
    if (pine_variant(&pp.variant, name,
                     gdn_json_string(gdn_json_get(root, "field"), NULL)) ||
        S < 2 || S > MAX_SHARES || gdn_pine_new(&v, &pp))
        FAIL("unsupported instance parameters");
    if (json_hex(&key, gdn_json_get(root, "verify_key")) ||
        key.len != gdn_pine_verify_key_size(v))
        FAIL("verify_key");
    meas = calloc(d, sizeof *meas);
    res = calloc(d, sizeof *res);
    if (!meas || !res || gdn_json_len(preps) == 0)
        FAIL("no reports");
    for (unsigned j = 0; j < S; j++) {
        if (gdn_buf_reserve(&agg[j], gdn_pine_out_share_size(v)))
            FAIL("oom");
        memset(agg[j].data, 0, gdn_pine_out_share_size(v));
        agg[j].len = gdn_pine_out_share_size(v);
    }
    for (size_t r = 0; r < gdn_json_len(preps); r++) {
        const gdn_json *rep = gdn_json_at(preps, r);
        const gdn_json *m = gdn_json_get(rep, "measurement");
        if (gdn_json_len(m) != d)
            FAIL("measurement length");
        for (size_t i = 0; i < d; i++)
            if (gdn_json_number(gdn_json_at(m, i), &meas[i]))
                FAIL("measurement value");
        if (json_hex(&nonce, gdn_json_get(rep, "nonce")) || nonce.len != 16 ||
            json_hex(&rand, gdn_json_get(rep, "rand")))
            FAIL("nonce/rand");
        tmp.len = 0;
        for (unsigned j = 0; j < S; j++)
            shares[j].len = 0;
        if (gdn_pine_shard_with_rand(v, &tmp, shares, meas, d, nonce.data, rand.data,
                                     rand.len, 0))
            FAIL("shard failed");
        if (!buf_eq_hex(tmp.data, tmp.len, gdn_json_get(rep, "public_share")))
            FAIL("shard: public share differs");
        const gdn_json *ins = gdn_json_get(rep, "input_shares");
        for (unsigned j = 0; j < S; j++)
            if (!buf_eq_hex(shares[j].data, shares[j].len, gdn_json_at(ins, j)))
                FAIL("shard: input share differs");
        if (json_hex(&ps, gdn_json_get(rep, "public_share")))
            FAIL("public share hex");
        const gdn_json *pshares = gdn_json_at(gdn_json_get(rep, "prep_shares"), 0);
        const uint8_t *ptr[MAX_SHARES];
        size_t lens[MAX_SHARES];
        for (unsigned j = 0; j < S; j++) {
            st[j].len = vsh[j].len = 0;
            if (json_hex(&is, gdn_json_at(ins, j)) ||
                gdn_pine_verify_init(v, &st[j], &vsh[j], key.data, j, nonce.data, ps.data,
                                     ps.len, is.data, is.len))
                FAIL("verify_init failed");
            if (!buf_eq_hex(vsh[j].data, vsh[j].len, gdn_json_at(pshares, j)))
                FAIL("verify_init: verifier share differs");
            ptr[j] = vsh[j].data;
            lens[j] = vsh[j].len;
        }
        msg.len = 0;
        if (gdn_pine_verifier_shares_to_message(v, &msg, ptr, lens, S))
            FAIL("verifier_shares_to_message failed");
        if (!buf_eq_hex(msg.data, msg.len,
                        gdn_json_at(gdn_json_get(rep, "prep_messages"), 0)))
            FAIL("verifier message differs");
        for (unsigned j = 0; j < S; j++) {
            out[j].len = 0;
            if (gdn_pine_verify_next(v, &out[j], st[j].data, st[j].len, msg.data, msg.len))
                FAIL("verify_next failed");
            if (json_hex_list(&tmp, gdn_json_at(gdn_json_get(rep, "out_shares"), j)) ||
                tmp.len != out[j].len || memcmp(tmp.data, out[j].data, tmp.len) != 0)
                FAIL("verify_next: output share differs");
            if (gdn_pine_aggregate(v, agg[j].data, out[j].data, out[j].len))
                FAIL("aggregate failed");
        }
    }
    {
        const gdn_json *ag = gdn_json_get(root, "agg_shares"), *want;
        const uint8_t *ptr[MAX_SHARES];
        size_t lens[MAX_SHARES];
        for (unsigned j = 0; j < S; j++) {
            if (!buf_eq_hex(agg[j].data, agg[j].len, gdn_json_at(ag, j)))
                FAIL("aggregate share differs");
            ptr[j] = agg[j].data;
            lens[j] = agg[j].len;
        }
        if (gdn_pine_unshard(v, res, d, ptr, lens, S))
            FAIL("unshard failed");
        want = gdn_json_get(root, "agg_result");
        for (size_t i = 0; i < d; i++) {
            double w;
            if (gdn_json_number(gdn_json_at(want, i), &w) || w != res[i])
                FAIL("aggregate result differs");
        }
    }
    ok = 1;
done:
    if (!ok)
        gdn_test_fail(__FILE__, __LINE__, "%s: %s (%s)", name, why, gdn_errmsg());
    for (unsigned j = 0; j < MAX_SHARES; j++) {
        gdn_buf_free(&shares[j]);
        gdn_buf_free(&vsh[j]);
        gdn_buf_free(&st[j]);
        gdn_buf_free(&out[j]);
        gdn_buf_free(&agg[j]);
    }
    gdn_buf *bs[] = {&key, &nonce, &rand, &ps, &is, &msg, &tmp};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        gdn_buf_free(bs[i]);
    free(meas);
    free(res);
    gdn_pine_free(v);
    return ok;
#undef FAIL
}

/* Every file of pine/: each must be a PINE file that passes byte for byte. */
static void check_pine_vectors(void)
{
    char dir[1024], path[2048];
    char *names[256];
    size_t n = 0, failed = 0;
    snprintf(dir, sizeof dir, "%s/pine", gdn_test_vectors_dir());
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "vector folder %s missing", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        gdn_buf text = {0};
        gdn_json *root = NULL;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (gdn_file_read(&text, path, 1 << 26) ||
            gdn_json_parse(&root, (const char *)text.data, text.len, names[i])) {
            gdn_test_fail(__FILE__, __LINE__, "%s: %s", names[i], gdn_errmsg());
            failed++;
        } else {
            failed += !run_pine_file(root, names[i]);
        }
        gdn_json_free(root);
        gdn_buf_free(&text);
        free(names[i]);
    }
    printf("  pine vectors: %zu files checked, %zu failed\n", n, failed);
    CHECK_MSG(n > 0, "no PINE vector files in %s", dir);
    CHECK_EQ(failed, 0);
}

GDN_TEST(prio_pine_vectors) { check_pine_vectors(); }

/* Again with the portable wraparound-check kernel (the default may be
 * AVX-512). */
GDN_TEST(prio_pine_vectors_portable)
{
    int saved = prio_simd();
    CHECK_EQ(prio_set_simd(0), 0);
    check_pine_vectors();
    prio_set_simd(saved);
}

/* One PINE report between two aggregators with fresh coins; flags go to
 * the shard (forging), tamper flips a byte of the leader's share. */
static int pine_round(const gdn_pine_params *pp, const double *x, double *res,
                      unsigned flags, int tamper)
{
    static const uint8_t nonce[16] = {3};
    uint8_t key[32] = {9, 8, 7}, *rand = NULL;
    gdn_pine *v = NULL;
    gdn_buf pub = {0}, in[2] = {{0}}, st[2] = {{0}}, vs[2] = {{0}}, msg = {0}, out[2] = {{0}};
    gdn_rng rng;
    int rc;
    gdn_rng_init_seed(&rng, 5);
    if ((rc = gdn_pine_new(&v, pp)))
        return rc;
    if (flags) {
        rand = malloc(gdn_pine_rand_size(v));
        gdn_rng_bytes(&rng, rand, gdn_pine_rand_size(v));
        rc = gdn_pine_shard_with_rand(v, &pub, in, x, pp->dimension, nonce, rand,
                                      gdn_pine_rand_size(v), flags);
        free(rand);
    } else {
        rc = gdn_pine_shard(v, &pub, in, x, pp->dimension, nonce, &rng);
    }
    if (!rc && tamper)
        in[0].data[tamper] ^= 1;
    for (unsigned j = 0; j < 2 && !rc; j++)
        rc = gdn_pine_verify_init(v, &st[j], &vs[j], key, j, nonce, pub.data, pub.len,
                                  in[j].data, in[j].len);
    if (!rc) {
        const uint8_t *ptr[2] = {vs[0].data, vs[1].data};
        size_t lens[2] = {vs[0].len, vs[1].len};
        rc = gdn_pine_verifier_shares_to_message(v, &msg, ptr, lens, 2);
    }
    for (unsigned j = 0; j < 2 && !rc; j++)
        rc = gdn_pine_verify_next(v, &out[j], st[j].data, st[j].len, msg.data, msg.len);
    if (!rc) {
        const uint8_t *ptr[2] = {out[0].data, out[1].data};
        size_t lens[2] = {out[0].len, out[1].len};
        rc = gdn_pine_unshard(v, res, pp->dimension, ptr, lens, 2);
    }
    gdn_buf_free(&pub);
    gdn_buf_free(&msg);
    for (int j = 0; j < 2; j++) {
        gdn_buf_free(&in[j]);
        gdn_buf_free(&st[j]);
        gdn_buf_free(&vs[j]);
        gdn_buf_free(&out[j]);
    }
    gdn_pine_free(v);
    return rc;
}

GDN_TEST(prio_pine_round_trip_and_reject)
{
    gdn_pine_params pp = {0};
    double x[300], res[300];
    pp.num_shares = 2, pp.dimension = 300, pp.num_frac_bits = 12;
    pp.l2_norm_bound = 1u << 12; /* norm 1.0 */
    pp.chunk_length = 32, pp.chunk_length_norm_equality = 16;
    const gdn_pine_variant variants[] = {GDN_PINE64, GDN_PINE128,
                                         GDN_PINE32_HMAC_SHA256_AES128,
                                         GDN_PINE40_HMAC_SHA256_AES128,
                                         GDN_PINE64_HMAC_SHA256_AES128};
    for (int i = 0; i < 300; i++) /* norm about 0.69, negative entries too */
        x[i] = (i % 7 - 3) * 0.02 + (i % 2 ? 1e-4 : -3e-5);
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++) {
        pp.variant = variants[k];
        CHECK_OK(pine_round(&pp, x, res, 0, 0));
        for (int i = 0; i < 300; i++) /* exact on the 2^-12 grid */
            CHECK_MSG(res[i] == nearbyint(x[i] * 4096) / 4096, "variant %zu entry %d: %g vs %g",
                      k, i, res[i], x[i]);
        CHECK_EQ(pine_round(&pp, x, res, 0, 3), GDN_ECRYPTO); /* tampered gradient */
    }
    pp.variant = GDN_PINE64;
    /* Oversized: the client refuses; forged, the aggregators reject it. */
    double big[300];
    for (int i = 0; i < 300; i++)
        big[i] = 10 * x[i];
    CHECK_EQ(pine_round(&pp, big, res, 0, 0), GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "exceeds the bound") != NULL);
    CHECK_EQ(pine_round(&pp, big, res, GDN_PINE_SHARD_FORGE_NORM, 0), GDN_ECRYPTO);
    /* Forging an in-bound gradient changes nothing. */
    CHECK_OK(pine_round(&pp, x, res, GDN_PINE_SHARD_FORGE_NORM, 0));
    x[5] = NAN;
    CHECK_EQ(pine_round(&pp, x, res, 0, 0), GDN_ERANGE);
    x[5] = 1e-310; /* subnormal */
    CHECK_EQ(pine_round(&pp, x, res, 0, 0), GDN_ERANGE);
    /* Parameters the field cannot hold. */
    pp.variant = GDN_PINE32_HMAC_SHA256_AES128;
    pp.l2_norm_bound = (uint64_t)1 << 20;
    gdn_pine *v = NULL;
    CHECK_EQ(gdn_pine_new(&v, &pp), GDN_EINVAL);
    CHECK(v == NULL);
}

GDN_TEST(prio_pine_decoders_reject_malformed)
{
    gdn_pine_params pp = {0};
    gdn_pine *v;
    uint8_t key[16] = {0}, nonce[16] = {0};
    gdn_buf st = {0}, vs = {0}, out = {0};
    pp.variant = GDN_PINE64, pp.num_shares = 2, pp.dimension = 10, pp.num_frac_bits = 4;
    pp.l2_norm_bound = 16, pp.chunk_length = 10, pp.chunk_length_norm_equality = 3;
    CHECK_OK(gdn_pine_new(&v, &pp));
    size_t n = gdn_pine_input_share_size(v, 0), ps = gdn_pine_public_share_size(v);
    uint8_t *share = malloc(n), *pub = calloc(1, ps);
    memset(share, 0xff, n); /* every element >= p */
    CHECK_EQ(gdn_pine_verify_init(v, &st, &vs, key, 0, nonce, pub, ps, share, n), GDN_EFORMAT);
    CHECK_EQ(gdn_pine_verify_init(v, &st, &vs, key, 0, nonce, pub, ps, share, n - 1),
             GDN_EFORMAT);
    CHECK_EQ(gdn_pine_verify_init(v, &st, &vs, key, 1, nonce, pub, ps - 1, share, 64),
             GDN_EFORMAT);
    CHECK_EQ(gdn_pine_verify_init(v, &st, &vs, key, 2, nonce, pub, ps, share, 64), GDN_EINVAL);
    CHECK_EQ(gdn_pine_verify_next(v, &out, share, 3, NULL, 0), GDN_EFORMAT);
    size_t sl = gdn_pine_out_share_size(v) + 32;
    CHECK_EQ(gdn_pine_verify_next(v, &out, share, sl, share, 31), GDN_ECRYPTO);
    const uint8_t *ptr[2] = {share, share};
    size_t lens[2] = {gdn_pine_verifier_share_size(v), 7};
    CHECK_EQ(gdn_pine_verifier_shares_to_message(v, &out, ptr, lens, 2), GDN_EFORMAT);
    free(share);
    free(pub);
    gdn_buf_free(&st);
    gdn_buf_free(&vs);
    gdn_buf_free(&out);
    gdn_pine_free(v);
}
