/* ckks: primes, NTT against schoolbook products, RNS conversion, encoding
 * against the canonical embedding, and every homomorphic operation against
 * the same computation on the plaintext values. */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/ckks.h"
#include "guardian/core.h"
#include "harness.h"
#include "he/he_internal.h"

#define TEST_PI 3.14159265358979323846

/* ---- Primes and parameters --------------------------------------------------- */

GDN_TEST(ckks_miller_rabin)
{
    static const uint64_t primes[] = {2, 3, 65537, 2305843009213693951ull /* 2^61-1 */,
                                      18446744073709551557ull /* largest 64-bit */,
                                      1152921504606830593ull};
    /* Carmichael numbers and strong pseudoprimes to several small bases. */
    static const uint64_t comp[] = {1, 561, 1105, 3215031751ull, 2152302898747ull,
                                    3474749660383ull, 341550071728321ull,
                                    3825123056546413051ull,
                                    2305843009213693953ull, 4611686018427387903ull};
    for (size_t i = 0; i < sizeof primes / sizeof *primes; i++)
        CHECK_MSG(he_is_prime(primes[i]), "%llu is prime", (unsigned long long)primes[i]);
    for (size_t i = 0; i < sizeof comp / sizeof *comp; i++)
        CHECK_MSG(!he_is_prime(comp[i]), "%llu is composite", (unsigned long long)comp[i]);
    /* Agreement with trial division on a range. */
    for (uint64_t n = 1000001; n < 1003000; n += 2) {
        int p = 1;
        for (uint64_t d = 3; d * d <= n; d += 2)
            if (n % d == 0) {
                p = 0;
                break;
            }
        CHECK_EQ(he_is_prime(n), p);
    }
}

static void params_8192(gdn_ckks_params *p)
{
    memset(p, 0, sizeof *p);
    p->log_n = 13;
    p->n_primes = 3;
    p->prime_bits[0] = 60, p->prime_bits[1] = 40, p->prime_bits[2] = 40;
    p->n_special = 1;
    p->special_bits[0] = 60;
    p->scale = 0x1p40;
}

GDN_TEST(ckks_params_chain)
{
    gdn_ckks_params p;
    gdn_ckks_ctx *c = NULL;
    params_8192(&p);
    CHECK_OK(gdn_ckks_ctx_new(&c, &p));
    CHECK_EQ(gdn_ckks_n(c), 8192);
    CHECK_EQ(gdn_ckks_max_level(c), 2);
    for (unsigned i = 0; i < 4; i++) {
        uint64_t q = gdn_ckks_prime(c, i);
        unsigned bits = i == 0 || i == 3 ? 60 : 40;
        CHECK(he_is_prime(q));
        CHECK_EQ(q % 16384, 1);
        CHECK_EQ((unsigned)(64 - __builtin_clzll(q)), bits);
        for (unsigned j = 0; j < i; j++)
            CHECK(gdn_ckks_prime(c, j) != q);
    }
    CHECK(gdn_ckks_log_qp(c) > 199.9 && gdn_ckks_log_qp(c) <= 200);
    gdn_ckks_ctx_free(c);
}

GDN_TEST(ckks_refuses_insecure)
{
    static const unsigned bound[] = {109, 218, 438, 881, 1747};
    for (unsigned logn = 12; logn <= 16; logn++) {
        gdn_ckks_params p = {0};
        gdn_ckks_ctx *c = NULL;
        unsigned total = bound[logn - 12] + 1, k = 0;
        CHECK_EQ(gdn_ckks_max_log_qp(logn), bound[logn - 12]);
        p.log_n = logn;
        p.scale = 0x1p30;
        p.n_special = 1;
        p.special_bits[0] = 50;
        total -= 50;
        while (total > 0) {
            unsigned b = total >= 80 ? 50 : (total > 50 ? total - 30 : total);
            p.prime_bits[k++] = b;
            total -= b;
        }
        p.n_primes = k;
        int rc = gdn_ckks_ctx_new(&c, &p);
        CHECK_EQ(rc, GDN_ERANGE);
        CHECK(c == NULL);
        char want[64];
        snprintf(want, sizeof want, "exceeds %u", bound[logn - 12]);
        CHECK_MSG(strstr(gdn_errmsg(), want) && strstr(gdn_errmsg(), "HomomorphicEncryption.org"),
                  "message: %s", gdn_errmsg());
        /* One bit less is accepted (for the smallest, a quick check). */
        if (logn <= 13) {
            p.prime_bits[0]--;
            CHECK_OK(gdn_ckks_ctx_new(&c, &p));
            gdn_ckks_ctx_free(c);
        }
    }
}

/* ---- NTT ---------------------------------------------------------------------- */

static void schoolbook_negacyclic(uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n,
                                  const he_mod *m)
{
    memset(r, 0, n * sizeof *r);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            uint64_t p = (uint64_t)((he_u128)a[i] * b[j] % m->q);
            size_t k = i + j;
            if (k < n)
                r[k] = (r[k] + p) % m->q;
            else
                r[k - n] = (r[k - n] + m->q - p) % m->q;
        }
}

static int ntt_case(unsigned logn, unsigned bits, int simd, gdn_rng *rng)
{
    size_t n = (size_t)1 << logn;
    uint64_t q;
    he_ntt t;
    int ok = 1;
    if (he_gen_primes(&q, 1, bits, 2 * n, NULL, 0) || he_ntt_init(&t, q, logn))
        return 0;
    he_set_simd(simd);
    uint64_t *a = malloc(n * 8), *b = malloc(n * 8), *r = malloc(n * 8), *s = malloc(n * 8),
             *a0 = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        a[i] = gdn_rng_uniform(rng, q);
        b[i] = gdn_rng_uniform(rng, q);
    }
    /* A few extreme values: 0 and q - 1. */
    a[0] = q - 1, b[1] = q - 1, a[n - 1] = 0;
    memcpy(a0, a, n * 8);
    schoolbook_negacyclic(s, a, b, n, &t.m);
    he_ntt_forward(&t, a);
    for (size_t i = 0; i < n; i++)
        ok &= a[i] < q;
    memcpy(r, a, n * 8);
    he_ntt_inverse(&t, r);
    ok &= memcmp(r, a0, n * 8) == 0; /* round trip */
    he_ntt_forward(&t, b);
    for (size_t i = 0; i < n; i++)
        r[i] = he_mul(a[i], b[i], &t.m);
    he_ntt_inverse(&t, r);
    ok &= memcmp(r, s, n * 8) == 0;
    /* The scalar and dispatched paths agree exactly. */
    memcpy(r, a0, n * 8);
    he_ntt_forward_scalar(&t, r);
    ok &= memcmp(r, a, n * 8) == 0;
    free(a), free(b), free(r), free(s), free(a0);
    he_ntt_free(&t);
    he_set_simd(2);
    return ok;
}

GDN_TEST(ckks_ntt_schoolbook)
{
    static const unsigned bits[] = {30, 40, 49, 50, 55, 60, 61};
    gdn_rng rng;
    gdn_rng_init_seed(&rng, 7);
    /* simd 0: portable; 1: AVX-512 64-bit lanes; 2: IFMA below 2^50 (each
     * clamped to what the CPU has). */
    for (int simd = 0; simd <= 2; simd++)
        for (unsigned logn = 1; logn <= 10; logn += 3)
            for (size_t b = 0; b < sizeof bits / sizeof *bits; b++)
                CHECK_MSG(ntt_case(logn, bits[b], simd, &rng), "n = 2^%u, %u bits, simd %d",
                          logn, bits[b], simd);
    /* The ring size of the scheme, with a 40-bit and a 60-bit prime. */
    for (int simd = 0; simd <= 2; simd++) {
        CHECK_MSG(ntt_case(13, 40, simd, &rng), "N = 8192, 40 bits, simd %d", simd);
        CHECK_MSG(ntt_case(13, 60, simd, &rng), "N = 8192, 60 bits, simd %d", simd);
    }
}

/* ---- RNS base conversion ------------------------------------------------------ */

GDN_TEST(ckks_base_conversion)
{
    gdn_ckks_params p;
    gdn_ckks_ctx *c = NULL;
    gdn_rng rng;
    params_8192(&p);
    CHECK_OK(gdn_ckks_ctx_new(&c, &p));
    gdn_rng_init_seed(&rng, 3);
    size_t n = c->n;
    /* x = small signed values, given mod q_1 and q_2, converted to q_0 and p_0. */
    unsigned src[2] = {1, 2}, dst[2] = {0, 3};
    uint64_t *in0 = malloc(n * 8), *in1 = malloc(n * 8), *o0 = malloc(n * 8), *o1 = malloc(n * 8);
    int64_t *x = malloc(n * 8);
    for (size_t k = 0; k < n; k++) {
        x[k] = (int64_t)gdn_rng_uniform(&rng, (uint64_t)1 << 62) - ((int64_t)1 << 61);
        in0[k] = he_red64((uint64_t)(x[k] < 0 ? -x[k] : x[k]), &c->ntt[1].m);
        in1[k] = he_red64((uint64_t)(x[k] < 0 ? -x[k] : x[k]), &c->ntt[2].m);
        if (x[k] < 0) {
            in0[k] = he_neg(in0[k], c->ntt[1].m.q);
            in1[k] = he_neg(in1[k], c->ntt[2].m.q);
        }
    }
    const uint64_t *in[2] = {in0, in1};
    uint64_t *out[2] = {o0, o1};
    CHECK_OK(he_base_conv(out, dst, 2, in, src, 2, c));
    /* Q = q_1 q_2: the result is x + u Q for u in {-1, 0, 1}. */
    for (int t = 0; t < 2; t++) {
        const he_mod *m = &c->ntt[dst[t]].m;
        uint64_t Q = he_mul(he_red64(c->ntt[1].m.q, m), he_red64(c->ntt[2].m.q, m), m);
        for (size_t k = 0; k < n; k++) {
            uint64_t xm = he_red64((uint64_t)(x[k] < 0 ? -x[k] : x[k]), m);
            uint64_t base = x[k] < 0 ? he_add(he_neg(xm, m->q), Q, m->q) : xm;
            CHECK_MSG(out[t][k] == base || out[t][k] == he_add(base, Q, m->q) ||
                          out[t][k] == he_sub(base, Q, m->q),
                      "coefficient %zu, target %d", k, t);
        }
    }
    free(in0), free(in1), free(o0), free(o1), free(x);
    gdn_ckks_ctx_free(c);
}

/* ---- Encoding ------------------------------------------------------------------ */

GDN_TEST(ckks_encode_canonical_embedding)
{
    gdn_ckks_params p = {0};
    gdn_ckks_ctx *c = NULL;
    gdn_ckks_pt *pt = NULL;
    gdn_rng rng;
    p.log_n = 12, p.n_primes = 2, p.prime_bits[0] = 35, p.prime_bits[1] = 30;
    p.n_special = 1, p.special_bits[0] = 40, p.scale = 0x1p30;
    CHECK_OK(gdn_ckks_ctx_new(&c, &p));
    CHECK_OK(gdn_ckks_pt_new(&pt, c));
    gdn_rng_init_seed(&rng, 5);
    size_t n = c->n, nh = n / 2;
    double *re = malloc(nh * 8), *im = malloc(nh * 8), *r2 = malloc(nh * 8), *i2 = malloc(nh * 8);
    for (size_t j = 0; j < nh; j++) {
        re[j] = 2 * gdn_rng_double(&rng) - 1;
        im[j] = 2 * gdn_rng_double(&rng) - 1;
    }
    CHECK_OK(gdn_ckks_encode(pt, re, im, nh, 1, 0x1p30));
    /* The plaintext's integer coefficients m_k, evaluated at zeta^(5^j). */
    uint64_t *a = malloc(n * 8);
    memcpy(a, pt->data, n * 8);
    he_ntt_inverse(&c->ntt[0], a);
    double *m = malloc(n * 8);
    uint64_t q = c->ntt[0].m.q;
    for (size_t k = 0; k < n; k++)
        m[k] = a[k] > q / 2 ? -(double)(q - a[k]) : (double)a[k];
    double worst = 0;
    uint64_t g = 1;
    for (size_t j = 0; j < nh; j += 97) {
        double complex s = 0;
        for (size_t k = 0; k < n; k++) {
            uint64_t e = g * k % (2 * n);
            s += m[k] * cexp(I * TEST_PI * (double)e / (double)n);
        }
        s /= 0x1p30;
        worst = fmax(worst, cabs(s - (re[j] + I * im[j])));
        for (size_t t = 0; t < 97; t++)
            g = g * 5 % (2 * n);
    }
    CHECK_MSG(worst < 1e-6, "canonical embedding error %g", worst);
    /* Decoding inverts encoding within the rounding error 2^-30 N. */
    CHECK_OK(gdn_ckks_decode(r2, i2, nh, pt));
    worst = 0;
    for (size_t j = 0; j < nh; j++)
        worst = fmax(worst, fmax(fabs(r2[j] - re[j]), fabs(i2[j] - im[j])));
    CHECK_MSG(worst < 1e-7, "decode error %g", worst);
    /* Fewer values than slots: the rest are zero; too many is refused. */
    CHECK_OK(gdn_ckks_encode(pt, re, NULL, 3, 0, 0x1p30));
    CHECK_OK(gdn_ckks_decode(r2, i2, 5, pt));
    CHECK_NEAR(r2[2], re[2], 1e-7);
    CHECK_NEAR(i2[2], 0, 1e-7);
    CHECK_NEAR(r2[4], 0, 1e-7);
    CHECK_EQ(gdn_ckks_encode(pt, re, NULL, nh + 1, 0, 0x1p30), GDN_EINVAL);
    /* Coefficients far above the 30-bit prime q_1 (a constant 2^33) are
     * reduced: every residue is canonical, and the value comes back. */
    for (size_t j = 0; j < nh; j++)
        r2[j] = 1.0;
    CHECK_OK(gdn_ckks_encode(pt, r2, NULL, nh, 1, 0x1p33));
    for (size_t k = 0; k < 2 * n; k++)
        CHECK(pt->data[k] < c->ntt[k / n].m.q);
    CHECK_OK(gdn_ckks_decode(r2, NULL, 8, pt));
    CHECK_NEAR(r2[7], 1.0, 1e-8);
    CHECK_EQ(gdn_ckks_encode(pt, re, NULL, 4, 0, 0x1p80), GDN_ERANGE);
    free(re), free(im), free(r2), free(i2), free(a), free(m);
    gdn_ckks_pt_free(pt);
    gdn_ckks_ctx_free(c);
}

/* ---- The scheme, at N = 8192 with primes {60, 40, 40} and special 60 --------- */

static struct {
    gdn_ckks_ctx *c;
    gdn_ckks_sk *sk;
    gdn_ckks_pk *pk;
    gdn_ckks_swk *rlk;
    gdn_ckks_gk *gk;
    gdn_rng rng;
} fx;

static int fixture(void)
{
    gdn_ckks_params p;
    int steps[24];
    if (fx.c)
        return 1;
    params_8192(&p);
    gdn_rng_init_seed(&fx.rng, 11);
    for (int k = 0; k < 12; k++)
        steps[2 * k] = 1 << k, steps[2 * k + 1] = -(1 << k);
    if (gdn_ckks_ctx_new(&fx.c, &p) || gdn_ckks_keygen(&fx.sk, fx.c, &fx.rng) ||
        gdn_ckks_pk_gen(&fx.pk, fx.sk, &fx.rng) || gdn_ckks_rlk_gen(&fx.rlk, fx.sk, &fx.rng) ||
        gdn_ckks_galois_gen(&fx.gk, steps, 24, 1, fx.sk, &fx.rng))
        return 0;
    return 1;
}

static void random_slots(double *re, double *im, size_t n, double lo, double hi)
{
    for (size_t j = 0; j < n; j++) {
        re[j] = lo + (hi - lo) * gdn_rng_double(&fx.rng);
        if (im)
            im[j] = lo + (hi - lo) * gdn_rng_double(&fx.rng);
    }
}

/* Largest slot error of ct against (re, im). */
static double ct_error(const gdn_ckks_ct *ct, const double *re, const double *im)
{
    size_t nh = fx.c->n / 2;
    gdn_ckks_pt *pt = NULL;
    double *r = malloc(nh * 8), *i = malloc(nh * 8), worst = INFINITY;
    if (r && i && gdn_ckks_pt_new(&pt, fx.c) == 0 && gdn_ckks_decrypt(pt, ct, fx.sk) == 0 &&
        gdn_ckks_decode(r, i, nh, pt) == 0) {
        worst = 0;
        for (size_t j = 0; j < nh; j++)
            worst = fmax(worst, fmax(fabs(r[j] - re[j]), fabs(i[j] - (im ? im[j] : 0))));
    }
    free(r), free(i);
    gdn_ckks_pt_free(pt);
    return worst;
}

static int encrypt_slots(gdn_ckks_ct *ct, const double *re, const double *im, int pk)
{
    gdn_ckks_pt *pt = NULL;
    int rc = gdn_ckks_pt_new(&pt, fx.c);
    if (!rc)
        rc = gdn_ckks_encode(pt, re, im, fx.c->n / 2, 2, 0x1p40);
    if (!rc)
        rc = pk ? gdn_ckks_encrypt_pk(ct, pt, fx.pk, &fx.rng)
                : gdn_ckks_encrypt_sk(ct, pt, fx.sk, &fx.rng);
    gdn_ckks_pt_free(pt);
    return rc;
}

#define NH 4096

GDN_TEST(ckks_encrypt_decrypt_add)
{
    static double ar[NH], ai[NH], br[NH], bi[NH], rr[NH], ri[NH];
    gdn_ckks_ct *a = NULL, *b = NULL, *r = NULL;
    CHECK(fixture());
    CHECK_OK(gdn_ckks_ct_new(&a, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&b, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&r, fx.c));
    random_slots(ar, ai, NH, -1, 1);
    random_slots(br, bi, NH, -1, 1);
    CHECK_OK(encrypt_slots(a, ar, ai, 1));
    CHECK_OK(encrypt_slots(b, br, bi, 0));
    /* Fresh ciphertexts at scale 2^40. Secret key: the error e is about
     * sigma sqrt(N) = 2^8.4 in a slot, 2^-30 after scaling. Public key: the
     * noise is divided by P, leaving the rounding r0 + r1 s: 2^4.4 a
     * coefficient, 2^11 a slot, 2^-26 after scaling (SEAL's level). */
    double ea = ct_error(a, ar, ai), eb = ct_error(b, br, bi);
    if (getenv("GDN_CKKS_VERBOSE"))
        fprintf(stderr, "fresh: pk %.1f bits, sk %.1f bits\n", -log2(ea), -log2(eb));
    CHECK_MSG(ea < 0x1p-24 && eb < 0x1p-28, "fresh errors %g %g", ea, eb);
    CHECK_OK(gdn_ckks_add(r, a, b));
    for (int j = 0; j < NH; j++)
        rr[j] = ar[j] + br[j], ri[j] = ai[j] + bi[j];
    CHECK(ct_error(r, rr, ri) < 0x1p-24);
    CHECK_OK(gdn_ckks_sub(r, a, b));
    for (int j = 0; j < NH; j++)
        rr[j] = ar[j] - br[j], ri[j] = ai[j] - bi[j];
    CHECK(ct_error(r, rr, ri) < 0x1p-24);
    CHECK_OK(gdn_ckks_negate(r, a));
    for (int j = 0; j < NH; j++)
        rr[j] = -ar[j], ri[j] = -ai[j];
    CHECK(ct_error(r, rr, ri) < 0x1p-24);
    /* Plus a plaintext (same level and scale). */
    {
        gdn_ckks_pt *pb = NULL;
        CHECK_OK(gdn_ckks_pt_new(&pb, fx.c));
        CHECK_OK(gdn_ckks_encode(pb, br, bi, NH, 2, 0x1p40));
        CHECK_OK(gdn_ckks_add_pt(r, a, pb));
        for (int j = 0; j < NH; j++)
            rr[j] = ar[j] + br[j], ri[j] = ai[j] + bi[j];
        CHECK(ct_error(r, rr, ri) < 0x1p-24);
        CHECK_OK(gdn_ckks_encode(pb, br, bi, NH, 1, 0x1p40));
        CHECK_EQ(gdn_ckks_add_pt(r, a, pb), GDN_EINVAL);
        gdn_ckks_pt_free(pb);
    }
    CHECK_OK(gdn_ckks_add_const(r, a, -0.75));
    for (int j = 0; j < NH; j++)
        rr[j] = ar[j] - 0.75, ri[j] = ai[j];
    CHECK(ct_error(r, rr, ri) < 0x1p-24);
    /* In place. */
    CHECK_OK(gdn_ckks_add(a, a, b));
    for (int j = 0; j < NH; j++)
        rr[j] = ar[j] + br[j], ri[j] = ai[j] + bi[j];
    CHECK(ct_error(a, rr, ri) < 0x1p-24);
    gdn_ckks_ct_free(a), gdn_ckks_ct_free(b), gdn_ckks_ct_free(r);
}

GDN_TEST(ckks_multiply_relin_rescale)
{
    static double ar[NH], ai[NH], br[NH], bi[NH], rr[NH], ri[NH];
    gdn_ckks_ct *a = NULL, *b = NULL, *r = NULL;
    gdn_ckks_pt *pt = NULL;
    CHECK(fixture());
    CHECK_OK(gdn_ckks_ct_new(&a, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&b, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&r, fx.c));
    CHECK_OK(gdn_ckks_pt_new(&pt, fx.c));
    random_slots(ar, ai, NH, -1, 1);
    random_slots(br, bi, NH, -1, 1);
    CHECK_OK(encrypt_slots(a, ar, ai, 1));
    CHECK_OK(encrypt_slots(b, br, bi, 1));
    for (int j = 0; j < NH; j++) {
        double complex z = (ar[j] + I * ai[j]) * (br[j] + I * bi[j]);
        rr[j] = creal(z), ri[j] = cimag(z);
    }
    /* Size 3 decrypts with s^2 too. */
    CHECK_OK(gdn_ckks_mul(r, a, b));
    CHECK_EQ(gdn_ckks_ct_size(r), 3);
    CHECK(ct_error(r, rr, ri) < 0x1p-22);
    CHECK_OK(gdn_ckks_relinearize(r, r, fx.rlk));
    CHECK_EQ(gdn_ckks_ct_size(r), 2);
    CHECK(ct_error(r, rr, ri) < 0x1p-22);
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK_EQ(gdn_ckks_ct_level(r), 1);
    CHECK_NEAR(gdn_ckks_ct_scale(r), 0x1p80 / (double)gdn_ckks_prime(fx.c, 2), 1e-3);
    double e = ct_error(r, rr, ri);
    CHECK_MSG(e < 0x1p-20, "mul+relin+rescale error %g (%.1f bits)", e, -log2(e));
    if (getenv("GDN_CKKS_VERBOSE"))
        fprintf(stderr, "mul+relin+rescale: %.1f bits\n", -log2(e));
    /* Plaintext product and constant product. */
    CHECK_OK(gdn_ckks_encode(pt, br, bi, NH, 2, 0x1p40));
    CHECK_OK(gdn_ckks_mul_pt(r, a, pt));
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK(ct_error(r, rr, ri) < 0x1p-20);
    CHECK_OK(gdn_ckks_mul_const(r, a, -2.5, 0));
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK_NEAR(gdn_ckks_ct_scale(r), 0x1p40, 1e-6);
    for (int j = 0; j < NH; j++)
        rr[j] = -2.5 * ar[j], ri[j] = -2.5 * ai[j];
    CHECK(ct_error(r, rr, ri) < 0x1p-20);
    /* Mismatches are refused with both scales and levels named. */
    CHECK_OK(gdn_ckks_mul(r, a, b));
    CHECK_EQ(gdn_ckks_add(r, r, a), GDN_EINVAL);
    CHECK_MSG(strstr(gdn_errmsg(), "scale mismatch: 2^80 vs 2^40 at levels 2 and 2"), "%s",
              gdn_errmsg());
    CHECK_OK(gdn_ckks_mul_const(r, a, 1.0, 0));
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK_EQ(gdn_ckks_add(r, r, a), GDN_EINVAL);
    CHECK_MSG(strstr(gdn_errmsg(), "level mismatch: 1 vs 2"), "%s", gdn_errmsg());
    CHECK_OK(gdn_ckks_mul_const(r, a, 1.0, 0x1p40));
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK_EQ(gdn_ckks_add(r, r, a), GDN_EINVAL);
    CHECK_MSG(strstr(gdn_errmsg(), "scale mismatch: 2^") && strstr(gdn_errmsg(), "at levels 1 and 2"),
              "%s", gdn_errmsg());
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK_EQ(gdn_ckks_rescale(r, r), GDN_ESTATE);
    gdn_ckks_ct_free(a), gdn_ckks_ct_free(b), gdn_ckks_ct_free(r);
    gdn_ckks_pt_free(pt);
}

GDN_TEST(ckks_rotations)
{
    static double ar[NH], ai[NH], rr[NH], ri[NH];
    gdn_ckks_ct *a = NULL, *r = NULL, *h[4] = {NULL};
    CHECK(fixture());
    CHECK_OK(gdn_ckks_ct_new(&a, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&r, fx.c));
    random_slots(ar, ai, NH, -1, 1);
    CHECK_OK(encrypt_slots(a, ar, ai, 1));
    /* Every power of two, both ways: slot j of the result is slot j + k. */
    for (int k = 1; k < NH; k <<= 1)
        for (int sign = -1; sign <= 1; sign += 2) {
            int step = sign * k;
            CHECK_OK(gdn_ckks_rotate(r, a, step, fx.gk));
            for (int j = 0; j < NH; j++) {
                int src = ((j + step) % NH + NH) % NH;
                rr[j] = ar[src], ri[j] = ai[src];
            }
            double e = ct_error(r, rr, ri);
            CHECK_MSG(e < 0x1p-20, "rotation by %d: error %g", step, e);
        }
    /* Conjugation. */
    CHECK_OK(gdn_ckks_conjugate(r, a, fx.gk));
    for (int j = 0; j < NH; j++)
        rr[j] = ar[j], ri[j] = -ai[j];
    CHECK(ct_error(r, rr, ri) < 0x1p-20);
    /* A missing key is named. */
    CHECK_EQ(gdn_ckks_rotate(r, a, 3, fx.gk), GDN_EINVAL);
    CHECK_MSG(strstr(gdn_errmsg(), "rotation by 3"), "%s", gdn_errmsg());
    /* Rotating by 0 or N/2 is the identity. */
    CHECK_OK(gdn_ckks_rotate(r, a, NH, fx.gk));
    CHECK(ct_error(r, ar, ai) < 0x1p-20);
    /* Hoisted: the same results as one by one, with an output aliasing a. */
    static const int steps[4] = {1, -8, 64, 2};
    for (int i = 0; i < 3; i++)
        CHECK_OK(gdn_ckks_ct_new(&h[i], fx.c));
    h[3] = a;
    CHECK_OK(gdn_ckks_rotate_hoisted(h, a, steps, 4, fx.gk));
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < NH; j++) {
            int src = ((j + steps[i]) % NH + NH) % NH;
            rr[j] = ar[src], ri[j] = ai[src];
        }
        double e = ct_error(h[i], rr, ri);
        CHECK_MSG(e < 0x1p-20, "hoisted rotation by %d: error %g", steps[i], e);
    }
    /* After a product and a rescale, at level 1. */
    CHECK_OK(encrypt_slots(a, ar, ai, 1));
    CHECK_OK(gdn_ckks_mul_relin(r, a, a, fx.rlk));
    CHECK_OK(gdn_ckks_rescale(r, r));
    CHECK_OK(gdn_ckks_rotate(r, r, -4, fx.gk));
    for (int j = 0; j < NH; j++) {
        int src = (j - 4 + NH) % NH;
        double complex z = (ar[src] + I * ai[src]) * (ar[src] + I * ai[src]);
        rr[j] = creal(z), ri[j] = cimag(z);
    }
    CHECK(ct_error(r, rr, ri) < 0x1p-20);
    for (int i = 0; i < 3; i++)
        gdn_ckks_ct_free(h[i]);
    gdn_ckks_ct_free(a), gdn_ckks_ct_free(r);
}

/* pi x^3 + 0.4 x + 1 on 4,096 points of [0, 1] (depth 2). */
GDN_TEST(ckks_polynomial)
{
    static double x[NH], want[NH];
    gdn_ckks_ct *ct = NULL, *x2 = NULL, *px = NULL, *t = NULL;
    CHECK(fixture());
    for (int j = 0; j < NH; j++) {
        x[j] = (double)j / (NH - 1);
        want[j] = TEST_PI * x[j] * x[j] * x[j] + 0.4 * x[j] + 1;
    }
    CHECK_OK(gdn_ckks_ct_new(&ct, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&x2, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&px, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&t, fx.c));
    CHECK_OK(encrypt_slots(ct, x, NULL, 1));
    double q2 = (double)gdn_ckks_prime(fx.c, 2), q1 = (double)gdn_ckks_prime(fx.c, 1);
    CHECK_OK(gdn_ckks_mul_relin(x2, ct, ct, fx.rlk)); /* x^2, scale D^2 */
    CHECK_OK(gdn_ckks_rescale(x2, x2));               /* level 1, D^2 / q2 */
    /* pi x at the same scale as x^2: pi encoded at D (then / q2). */
    CHECK_OK(gdn_ckks_mul_const(px, ct, TEST_PI, gdn_ckks_ct_scale(ct)));
    CHECK_OK(gdn_ckks_rescale(px, px));
    CHECK_OK(gdn_ckks_mul_relin(x2, x2, px, fx.rlk)); /* pi x^3 */
    CHECK_OK(gdn_ckks_rescale(x2, x2));               /* level 0 */
    /* 0.4 x brought to level 0 and the same scale S: 0.4 at S q2 / D, rescale
     * (level 1, S), then drop q1. */
    double S = gdn_ckks_ct_scale(x2);
    CHECK_NEAR(S, 0x1p160 / (q2 * q2 * q1), S * 1e-12);
    CHECK_OK(gdn_ckks_mul_const(t, ct, 0.4, S * q2 / gdn_ckks_ct_scale(ct)));
    CHECK_OK(gdn_ckks_rescale(t, t));
    CHECK_OK(gdn_ckks_drop_level(t, t, 0));
    CHECK_OK(gdn_ckks_add(x2, x2, t));
    CHECK_OK(gdn_ckks_add_const(x2, x2, 1.0));
    double e = ct_error(x2, want, NULL);
    if (getenv("GDN_CKKS_VERBOSE"))
        fprintf(stderr, "pi x^3 + 0.4 x + 1: error %g (%.1f bits)\n", e, -log2(e));
    CHECK_MSG(e < 0x1p-18, "polynomial error %g", e);
    gdn_ckks_ct_free(ct), gdn_ckks_ct_free(x2), gdn_ckks_ct_free(px), gdn_ckks_ct_free(t);
}

/* Hybrid key switching with several digits and special primes. */
GDN_TEST(ckks_key_switching_digits)
{
    static const struct { unsigned np, dnum; } cfg[] = {{1, 0}, {2, 2}, {1, 4}, {2, 4}};
    static double ar[NH], ai[NH], rr[NH], ri[NH];
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        gdn_ckks_params p = {0};
        gdn_ckks_ctx *ctx = NULL;
        gdn_ckks_sk *sk = NULL;
        gdn_ckks_pk *pk = NULL;
        gdn_ckks_swk *rlk = NULL;
        gdn_ckks_gk *gk = NULL;
        gdn_ckks_pt *pt = NULL;
        gdn_ckks_ct *a = NULL;
        gdn_rng rng;
        int step = 5;
        p.log_n = 13, p.n_primes = 4, p.scale = 0x1p30;
        p.prime_bits[0] = 45;
        for (int i = 1; i < 4; i++)
            p.prime_bits[i] = 30;
        p.n_special = cfg[c].np, p.dnum = cfg[c].dnum;
        for (unsigned i = 0; i < cfg[c].np; i++)
            p.special_bits[i] = cfg[c].np == 1 ? 50 : 40;
        gdn_rng_init_seed(&rng, 100 + c);
        CHECK_OK(gdn_ckks_ctx_new(&ctx, &p));
        CHECK_OK(gdn_ckks_keygen(&sk, ctx, &rng));
        CHECK_OK(gdn_ckks_pk_gen(&pk, sk, &rng));
        CHECK_OK(gdn_ckks_rlk_gen(&rlk, sk, &rng));
        CHECK_OK(gdn_ckks_galois_gen(&gk, &step, 1, 0, sk, &rng));
        CHECK_OK(gdn_ckks_pt_new(&pt, ctx));
        CHECK_OK(gdn_ckks_ct_new(&a, ctx));
        for (int j = 0; j < NH; j++) {
            ar[j] = 2 * gdn_rng_double(&rng) - 1, ai[j] = 2 * gdn_rng_double(&rng) - 1;
        }
        CHECK_OK(gdn_ckks_encode(pt, ar, ai, NH, 3, 0x1p30));
        CHECK_OK(gdn_ckks_encrypt_pk(a, pt, pk, &rng));
        CHECK_OK(gdn_ckks_mul_relin(a, a, a, rlk));
        CHECK_OK(gdn_ckks_rescale(a, a));
        CHECK_OK(gdn_ckks_rotate(a, a, step, gk));
        CHECK_OK(gdn_ckks_decrypt(pt, a, sk));
        CHECK_OK(gdn_ckks_decode(rr, ri, NH, pt));
        double worst = 0;
        for (int j = 0; j < NH; j++) {
            int s = (j + step) % NH;
            double complex z = (ar[s] + I * ai[s]) * (ar[s] + I * ai[s]);
            worst = fmax(worst, cabs(z - (rr[j] + I * ri[j])));
        }
        if (getenv("GDN_CKKS_VERBOSE"))
            fprintf(stderr, "K = %u, dnum = %u: %.1f bits\n", cfg[c].np, gdn_ckks_dnum(ctx),
                    -log2(worst));
        CHECK_MSG(worst < 0x1p-12, "K = %u, dnum = %u: error %g", cfg[c].np, gdn_ckks_dnum(ctx),
                  worst);
        gdn_ckks_ct_free(a);
        gdn_ckks_pt_free(pt);
        gdn_ckks_gk_free(gk);
        gdn_ckks_swk_free(rlk);
        gdn_ckks_pk_free(pk);
        gdn_ckks_sk_free(sk);
        gdn_ckks_ctx_free(ctx);
    }
    /* One digit of 135 bits over P of 80 bits is refused, naming both. */
    gdn_ckks_params p = {0};
    gdn_ckks_ctx *ctx = NULL;
    p.log_n = 13, p.n_primes = 4, p.scale = 0x1p30, p.prime_bits[0] = 45;
    p.prime_bits[1] = p.prime_bits[2] = p.prime_bits[3] = 30;
    p.n_special = 2, p.special_bits[0] = p.special_bits[1] = 40, p.dnum = 1;
    CHECK_EQ(gdn_ckks_ctx_new(&ctx, &p), GDN_EINVAL);
    CHECK_MSG(strstr(gdn_errmsg(), "135 bits") && strstr(gdn_errmsg(), "80"), "%s", gdn_errmsg());
}

/* ---- Serialization ------------------------------------------------------------- */

static int ct_equal(const gdn_ckks_ct *a, const gdn_ckks_ct *b)
{
    if (a->size != b->size || a->level != b->level || a->scale != b->scale)
        return 0;
    for (unsigned k = 0; k < a->size; k++)
        if (memcmp(he_ct_poly(a, k, 0), he_ct_poly(b, k, 0), (a->level + 1) * a->ctx->n * 8))
            return 0;
    return 1;
}

GDN_TEST(ckks_serialization)
{
    static double ar[NH], ai[NH];
    gdn_ckks_ct *a = NULL, *b = NULL;
    gdn_buf buf = {0};
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_swk *rlk = NULL;
    gdn_ckks_gk *gk = NULL;
    gdn_ckks_sk *sk = NULL;
    CHECK(fixture());
    CHECK_OK(gdn_ckks_ct_new(&a, fx.c));
    CHECK_OK(gdn_ckks_ct_new(&b, fx.c));
    random_slots(ar, ai, NH, -1, 1);
    /* A public-key ciphertext: two polynomials of 60 + 40 + 40 bits a coefficient. */
    CHECK_OK(encrypt_slots(a, ar, ai, 1));
    CHECK_OK(gdn_ckks_ct_save(&buf, a));
    CHECK_EQ(buf.len, 13 + 11 + 2 * 8192 * 140 / 8);
    CHECK_OK(gdn_ckks_ct_load(b, buf.data, buf.len));
    CHECK(ct_equal(a, b));
    /* A fresh secret-key ciphertext: c1 is its seed. */
    CHECK_OK(encrypt_slots(a, ar, ai, 0));
    buf.len = 0;
    CHECK_OK(gdn_ckks_ct_save(&buf, a));
    CHECK_EQ(buf.len, 13 + 11 + 32 + 8192 * 140 / 8);
    CHECK_OK(gdn_ckks_ct_load(b, buf.data, buf.len));
    CHECK(ct_equal(a, b));
    CHECK(ct_error(b, ar, ai) < 0x1p-28);
    /* Size 3, and level 1 after a rescale. */
    CHECK_OK(gdn_ckks_mul(a, a, a));
    buf.len = 0;
    CHECK_OK(gdn_ckks_ct_save(&buf, a));
    CHECK_OK(gdn_ckks_ct_load(b, buf.data, buf.len));
    CHECK(ct_equal(a, b));
    CHECK_OK(gdn_ckks_relinearize(a, a, fx.rlk));
    CHECK_OK(gdn_ckks_rescale(a, a));
    buf.len = 0;
    CHECK_OK(gdn_ckks_ct_save(&buf, a));
    CHECK_EQ(buf.len, 13 + 11 + 2 * 8192 * 100 / 8);
    CHECK_OK(gdn_ckks_ct_load(b, buf.data, buf.len));
    CHECK(ct_equal(a, b));
    /* Refusals: truncation, a residue >= q, bad flags, other parameters. */
    CHECK_EQ(gdn_ckks_ct_load(b, buf.data, buf.len - 1), GDN_EFORMAT);
    CHECK_EQ(gdn_ckks_ct_load(b, buf.data, 10), GDN_EFORMAT);
    uint8_t save[8];
    memcpy(save, buf.data + 24, 8);
    memset(buf.data + 24, 0xff, 8); /* the first 60-bit residue: 2^60 - 1 */
    CHECK_EQ(gdn_ckks_ct_load(b, buf.data, buf.len), GDN_EFORMAT);
    CHECK_MSG(strstr(gdn_errmsg(), "not below its prime"), "%s", gdn_errmsg());
    memcpy(buf.data + 24, save, 8);
    buf.data[13 + 2] = 7; /* level */
    CHECK_EQ(gdn_ckks_ct_load(b, buf.data, buf.len), GDN_EFORMAT);
    buf.data[13 + 2] = 1;
    buf.data[13] = 1; /* seeded with size 2 but the length of two polynomials */
    CHECK_EQ(gdn_ckks_ct_load(b, buf.data, buf.len), GDN_EFORMAT);
    buf.data[13] = 0;
    buf.data[6] ^= 1;
    CHECK_EQ(gdn_ckks_ct_load(b, buf.data, buf.len), GDN_EFORMAT);
    CHECK_MSG(strstr(gdn_errmsg(), "other parameters"), "%s", gdn_errmsg());
    buf.data[6] ^= 1;
    CHECK_OK(gdn_ckks_ct_load(b, buf.data, buf.len));
    /* Keys: the uniform halves are seeds; loaded keys work as the originals. */
    buf.len = 0;
    CHECK_OK(gdn_ckks_pk_save(&buf, fx.pk));
    CHECK_EQ(buf.len, 13 + 32 + 8192 * 200 / 8);
    CHECK_OK(gdn_ckks_pk_load(&pk, fx.c, buf.data, buf.len));
    CHECK(memcmp(pk->a, fx.pk->a, 4 * 8192 * 8) == 0 && memcmp(pk->b, fx.pk->b, 4 * 8192 * 8) == 0);
    gdn_ckks_pk *badpk = pk;
    CHECK_EQ(gdn_ckks_pk_load(&badpk, fx.c, buf.data, buf.len - 8), GDN_EFORMAT);
    CHECK(badpk == NULL);
    buf.len = 0;
    CHECK_OK(gdn_ckks_swk_save(&buf, fx.rlk));
    CHECK_EQ(buf.len, 13 + 1 + 32 + 3 * 8192 * 200 / 8);
    CHECK_OK(gdn_ckks_swk_load(&rlk, fx.c, buf.data, buf.len));
    buf.len = 0;
    CHECK_OK(gdn_ckks_gk_save(&buf, fx.gk));
    CHECK_OK(gdn_ckks_gk_load(&gk, fx.c, buf.data, buf.len));
    CHECK_EQ(gk->count, fx.gk->count);
    buf.data[13 + 4] ^= 1; /* an even Galois element */
    gdn_ckks_gk *bad = NULL;
    CHECK_EQ(gdn_ckks_gk_load(&bad, fx.c, buf.data, buf.len), GDN_EFORMAT);
    CHECK(bad == NULL);
    buf.len = 0;
    CHECK_OK(gdn_ckks_sk_save(&buf, fx.sk));
    CHECK_EQ(buf.len, 13 + 8192 / 4);
    CHECK_OK(gdn_ckks_sk_load(&sk, fx.c, buf.data, buf.len));
    CHECK(memcmp(sk->coeff, fx.sk->coeff, 8192) == 0);
    CHECK(memcmp(sk->ntt, fx.sk->ntt, 4 * 8192 * 8) == 0);
    buf.data[13] = (uint8_t)((buf.data[13] & ~3) | 2);
    gdn_ckks_sk *badk = NULL;
    CHECK_EQ(gdn_ckks_sk_load(&badk, fx.c, buf.data, buf.len), GDN_EFORMAT);
    /* The loaded keys in use: encrypt, multiply, rotate, decrypt. */
    int step = 2;
    gdn_ckks_pt *pt = NULL;
    CHECK_OK(gdn_ckks_pt_new(&pt, fx.c));
    CHECK_OK(gdn_ckks_encode(pt, ar, ai, NH, 2, 0x1p40));
    CHECK_OK(gdn_ckks_encrypt_pk(a, pt, pk, &fx.rng));
    CHECK_OK(gdn_ckks_mul_relin(a, a, a, rlk));
    CHECK_OK(gdn_ckks_rescale(a, a));
    CHECK_OK(gdn_ckks_rotate(a, a, step, gk));
    CHECK_OK(gdn_ckks_decrypt(pt, a, sk));
    static double rr[NH], ri[NH];
    CHECK_OK(gdn_ckks_decode(rr, ri, NH, pt));
    for (int j = 0; j < NH; j++) {
        int s = (j + step) % NH;
        double complex z = (ar[s] + I * ai[s]) * (ar[s] + I * ai[s]);
        CHECK(cabs(z - (rr[j] + I * ri[j])) < 0x1p-20);
    }
    gdn_ckks_pt_free(pt);
    gdn_buf_free(&buf);
    gdn_ckks_pk_free(pk);
    gdn_ckks_swk_free(rlk);
    gdn_ckks_gk_free(gk);
    gdn_ckks_sk_free(sk);
    gdn_ckks_ct_free(a), gdn_ckks_ct_free(b);
}

/* The AVX-512 IFMA path and the portable one compute the same residues:
 * with the same randomness, every ciphertext is bit-identical. */
static int pipeline(gdn_buf *out, int simd)
{
    gdn_ckks_params p = {0};
    gdn_ckks_ctx *c = NULL;
    gdn_ckks_sk *sk = NULL;
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_swk *rlk = NULL;
    gdn_ckks_gk *gk = NULL;
    gdn_ckks_pt *pt = NULL;
    gdn_ckks_ct *a = NULL, *b = NULL, *h[2] = {NULL, NULL};
    gdn_rng rng;
    double x[64];
    int steps[2] = {3, -5}, rc;
    he_set_simd(simd);
    /* 30- and 35-bit primes for IFMA, a 40-bit special one for both: q_0 of
     * 38 bits is below 2^50 too, so add nothing wider (N = 4096 allows 109). */
    p.log_n = 12, p.n_primes = 2, p.prime_bits[0] = 35, p.prime_bits[1] = 30;
    p.n_special = 1, p.special_bits[0] = 40, p.scale = 0x1p30;
    gdn_rng_init_seed(&rng, 77);
    for (int i = 0; i < 64; i++)
        x[i] = i / 64.0;
    rc = gdn_ckks_ctx_new(&c, &p);
    rc = rc ? rc : gdn_ckks_keygen(&sk, c, &rng);
    rc = rc ? rc : gdn_ckks_pk_gen(&pk, sk, &rng);
    rc = rc ? rc : gdn_ckks_rlk_gen(&rlk, sk, &rng);
    rc = rc ? rc : gdn_ckks_galois_gen(&gk, steps, 2, 0, sk, &rng);
    rc = rc ? rc : gdn_ckks_pt_new(&pt, c);
    rc = rc ? rc : gdn_ckks_ct_new(&a, c);
    rc = rc ? rc : gdn_ckks_ct_new(&b, c);
    rc = rc ? rc : gdn_ckks_ct_new(&h[0], c);
    rc = rc ? rc : gdn_ckks_ct_new(&h[1], c);
    rc = rc ? rc : gdn_ckks_encode(pt, x, NULL, 64, 1, 0x1p30);
    rc = rc ? rc : gdn_ckks_encrypt_pk(a, pt, pk, &rng);
    rc = rc ? rc : gdn_ckks_encrypt_sk(b, pt, sk, &rng);
    rc = rc ? rc : gdn_ckks_mul_relin(a, a, b, rlk);
    rc = rc ? rc : gdn_ckks_rescale(a, a);
    rc = rc ? rc : gdn_ckks_encrypt_pk(b, pt, pk, &rng);
    rc = rc ? rc : gdn_ckks_rotate_hoisted(h, b, steps, 2, gk);
    rc = rc ? rc : gdn_ckks_ct_save(out, a);
    rc = rc ? rc : gdn_ckks_ct_save(out, h[0]);
    rc = rc ? rc : gdn_ckks_ct_save(out, h[1]);
    gdn_ckks_ct_free(a), gdn_ckks_ct_free(b), gdn_ckks_ct_free(h[0]), gdn_ckks_ct_free(h[1]);
    gdn_ckks_pt_free(pt);
    gdn_ckks_gk_free(gk);
    gdn_ckks_swk_free(rlk);
    gdn_ckks_pk_free(pk);
    gdn_ckks_sk_free(sk);
    gdn_ckks_ctx_free(c);
    he_set_simd(2);
    return rc;
}

GDN_TEST(ckks_simd_matches_portable)
{
    gdn_buf s = {0}, v = {0}, w = {0};
    CHECK_OK(pipeline(&s, 0));
    CHECK_OK(pipeline(&v, 1));
    CHECK_OK(pipeline(&w, 2));
    CHECK(s.len == v.len && s.len == w.len && s.len > 0);
    CHECK(memcmp(s.data, v.data, s.len) == 0);
    CHECK(memcmp(s.data, w.data, s.len) == 0);
    gdn_buf_free(&s);
    gdn_buf_free(&v);
    gdn_buf_free(&w);
}

/* ---- Multiparty: n = 10 parties, threshold t = 6 -------------------------------- */

#define NP 10
#define TH 6

static double decrypt_error(const gdn_ckks_pt *pt, const double *re)
{
    static double r[NH];
    double worst = 0;
    if (gdn_ckks_decode(r, NULL, NH, pt))
        return INFINITY;
    for (int j = 0; j < NH; j++)
        worst = fmax(worst, fabs(r[j] - re[j]));
    return worst;
}

/* Threshold decryption of ct by the parties in set (shares of tsk[set - 1]). */
static int thr_decrypt(gdn_ckks_pt *pt, const gdn_ckks_ct *ct, gdn_ckks_tsk *const *tsk,
                       const unsigned *set, size_t len, const gdn_ckks_sk *const *to)
{
    gdn_ckks_share *sh[NP] = {NULL};
    int rc = 0;
    for (size_t i = 0; i < len && !rc; i++)
        rc = gdn_ckks_cks_share(&sh[i], ct, tsk[set[i] - 1], set, len, to ? to[i] : NULL, 20,
                                &fx.rng);
    if (!rc)
        rc = gdn_ckks_thr_decrypt(pt, ct, (const gdn_ckks_share *const *)sh, len);
    for (size_t i = 0; i < len; i++)
        gdn_ckks_share_free(sh[i]);
    return rc;
}

GDN_TEST(ckks_multiparty_threshold)
{
    static double x[NH];
    gdn_ckks_sk *sk[NP] = {NULL};
    gdn_ckks_share *ckg[NP] = {NULL}, *dealt[NP][NP] = {{NULL}};
    gdn_ckks_tsk *tsk[NP] = {NULL}, *weak[5] = {NULL};
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_ct *ct = NULL;
    gdn_ckks_pt *pt = NULL;
    uint8_t crs[GDN_CKKS_SEED_BYTES];
    CHECK(fixture());
    const gdn_ckks_ctx *c = fx.c;
    gdn_rng_bytes(&fx.rng, crs, sizeof crs);
    /* CKG: the collective public key of s = s_1 + ... + s_10. */
    for (int i = 0; i < NP; i++) {
        CHECK_OK(gdn_ckks_keygen(&sk[i], c, &fx.rng));
        CHECK_OK(gdn_ckks_ckg_share(&ckg[i], sk[i], crs, &fx.rng));
    }
    CHECK_OK(gdn_ckks_ckg_combine(&pk, c, (const gdn_ckks_share *const *)ckg, NP, crs));
    CHECK_OK(gdn_ckks_pt_new(&pt, c));
    CHECK_OK(gdn_ckks_ct_new(&ct, c));
    random_slots(x, NULL, NH, -1, 1);
    CHECK_OK(gdn_ckks_encode(pt, x, NULL, NH, 2, 0x1p40));
    CHECK_OK(gdn_ckks_encrypt_pk(ct, pt, pk, &fx.rng));
    /* The sum of the secrets decrypts it (nobody holds that sum). */
    {
        int8_t sum[8192];
        gdn_ckks_sk *ssum = NULL;
        for (size_t k = 0; k < c->n; k++) {
            int v = 0;
            for (int i = 0; i < NP; i++)
                v += sk[i]->coeff[k];
            sum[k] = (int8_t)v;
        }
        CHECK_OK(he_sk_from_coeff(&ssum, c, sum));
        CHECK_OK(gdn_ckks_decrypt(pt, ct, ssum));
        CHECK(decrypt_error(pt, x) < 0x1p-20);
        gdn_ckks_sk_free(ssum);
    }
    /* Shamir re-sharing: party i deals to all, party j sums what it receives. */
    for (int i = 0; i < NP; i++)
        CHECK_OK(gdn_ckks_thr_deal(dealt[i], TH, NP, sk[i], &fx.rng));
    for (int j = 0; j < NP; j++) {
        const gdn_ckks_share *mine[NP];
        for (int i = 0; i < NP; i++)
            mine[i] = dealt[i][j];
        CHECK_OK(gdn_ckks_thr_key(&tsk[j], c, (unsigned)j + 1, TH, mine, NP));
        if (j < 5)
            CHECK_OK(gdn_ckks_thr_key(&weak[j], c, (unsigned)j + 1, 5, mine, NP));
    }
    /* Any 6 decrypt: smudging of 2^20 from 6 parties costs about 2^-11.5 at
     * scale 2^40 (2^27 a slot, 4 sigma at the worst of 8,192 values). */
    static const unsigned sets[][TH] = {{1, 2, 3, 4, 5, 6}, {5, 6, 7, 8, 9, 10},
                                        {1, 3, 5, 7, 9, 10}, {10, 2, 8, 4, 6, 1}};
    for (size_t s = 0; s < sizeof sets / sizeof *sets; s++) {
        CHECK_OK(thr_decrypt(pt, ct, tsk, sets[s], TH, NULL));
        double e = decrypt_error(pt, x);
        if (getenv("GDN_CKKS_VERBOSE"))
            fprintf(stderr, "threshold set %zu: %.1f bits\n", s, -log2(e));
        CHECK_MSG(e < 0x1p-9, "set %zu: error %g", s, e);
    }
    /* And so do all 10 (more than t points interpolate the same secret). */
    static const unsigned all[NP] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    CHECK_OK(thr_decrypt(pt, ct, tsk, all, NP, NULL));
    CHECK(decrypt_error(pt, x) < 0x1p-9);
    /* Five are refused, and five that claim t = 5 get noise, not the message. */
    static const unsigned five[5] = {1, 2, 3, 4, 5};
    gdn_ckks_share *sh = NULL;
    CHECK_EQ(gdn_ckks_cks_share(&sh, ct, tsk[0], five, 5, NULL, 20, &fx.rng), GDN_EINVAL);
    CHECK_OK(thr_decrypt(pt, ct, weak, five, 5, NULL));
    double e5 = decrypt_error(pt, x);
    CHECK_MSG(e5 > 1e3, "five parties decrypted: error %g", e5);
    /* CKS to a new collective key s' held by parties 2..7. */
    static const unsigned set2[TH] = {2, 3, 4, 5, 6, 7};
    gdn_ckks_sk *to[TH] = {NULL}, *tsum = NULL;
    gdn_ckks_share *cks[TH] = {NULL};
    gdn_ckks_ct *ct2 = NULL;
    int8_t sum[8192] = {0};
    for (int i = 0; i < TH; i++) {
        CHECK_OK(gdn_ckks_keygen(&to[i], c, &fx.rng));
        for (size_t k = 0; k < c->n; k++)
            sum[k] = (int8_t)(sum[k] + to[i]->coeff[k]);
    }
    for (int i = 0; i < TH; i++)
        CHECK_OK(gdn_ckks_cks_share(&cks[i], ct, tsk[set2[i] - 1], set2, TH, to[i], 20, &fx.rng));
    /* Shares travel as bytes. */
    gdn_buf b = {0};
    CHECK_OK(gdn_ckks_share_save(&b, cks[0]));
    gdn_ckks_share_free(cks[0]);
    cks[0] = NULL;
    CHECK_OK(gdn_ckks_share_load(&cks[0], c, b.data, b.len));
    CHECK_EQ(gdn_ckks_share_load(&sh, c, b.data, b.len - 1), GDN_EFORMAT);
    gdn_buf_free(&b);
    CHECK_OK(gdn_ckks_ct_new(&ct2, c));
    CHECK_OK(gdn_ckks_cks_combine(ct2, ct, (const gdn_ckks_share *const *)cks, TH));
    CHECK_OK(he_sk_from_coeff(&tsum, c, sum));
    CHECK_OK(gdn_ckks_decrypt(pt, ct2, tsum));
    CHECK(decrypt_error(pt, x) < 0x1p-9);
    for (int i = 0; i < TH; i++) {
        gdn_ckks_sk_free(to[i]);
        gdn_ckks_share_free(cks[i]);
    }
    gdn_ckks_sk_free(tsum);
    gdn_ckks_ct_free(ct2);
    for (int i = 0; i < NP; i++) {
        gdn_ckks_sk_free(sk[i]);
        gdn_ckks_share_free(ckg[i]);
        gdn_ckks_tsk_free(tsk[i]);
        for (int j = 0; j < NP; j++)
            gdn_ckks_share_free(dealt[i][j]);
    }
    for (int i = 0; i < 5; i++)
        gdn_ckks_tsk_free(weak[i]);
    gdn_ckks_pk_free(pk);
    gdn_ckks_ct_free(ct);
    gdn_ckks_pt_free(pt);
}

/* ---- Constant time ------------------------------------------------------------------
 * Under Valgrind (`valgrind ./build/test_runner ckks_constant_time`), the
 * secret key is marked undefined: memcheck then reports any branch or memory
 * index that depends on it (Monocypher's habit, STYLE.md). Outside Valgrind
 * this checks values only. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif
#ifndef HAVE_MEMCHECK
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

GDN_TEST(ckks_constant_time)
{
    gdn_ckks_params p = {0};
    gdn_ckks_ctx *c = NULL;
    gdn_ckks_sk *sk = NULL;
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_swk *rlk = NULL;
    gdn_ckks_gk *gk = NULL;
    gdn_ckks_pt *pt = NULL;
    gdn_ckks_ct *ct = NULL;
    gdn_ckks_share *dealt[3] = {NULL}, *h = NULL;
    gdn_ckks_tsk *tsk = NULL;
    gdn_rng rng;
    double x[16], y[16];
    int step = 1;
    static const unsigned set[2] = {1, 2};
    p.log_n = 12, p.n_primes = 2, p.prime_bits[0] = 35, p.prime_bits[1] = 30;
    p.n_special = 1, p.special_bits[0] = 40, p.scale = 0x1p25;
    gdn_rng_init_seed(&rng, 9);
    for (int i = 0; i < 16; i++)
        x[i] = i / 16.0;
    CHECK_OK(gdn_ckks_ctx_new(&c, &p));
    CHECK_OK(gdn_ckks_keygen(&sk, c, &rng));
    VALGRIND_MAKE_MEM_UNDEFINED(sk->coeff, c->n);
    VALGRIND_MAKE_MEM_UNDEFINED(sk->ntt, (size_t)(c->nq + c->np) * c->n * 8);
    CHECK_OK(gdn_ckks_pk_gen(&pk, sk, &rng));
    CHECK_OK(gdn_ckks_rlk_gen(&rlk, sk, &rng));
    CHECK_OK(gdn_ckks_galois_gen(&gk, &step, 1, 0, sk, &rng));
    CHECK_OK(gdn_ckks_pt_new(&pt, c));
    CHECK_OK(gdn_ckks_ct_new(&ct, c));
    CHECK_OK(gdn_ckks_encode(pt, x, NULL, 16, 1, 0x1p25));
    CHECK_OK(gdn_ckks_encrypt_sk(ct, pt, sk, &rng));
    CHECK_OK(gdn_ckks_thr_deal(dealt, 2, 3, sk, &rng));
    CHECK_OK(gdn_ckks_thr_key(&tsk, c, 1, 2, (const gdn_ckks_share *const *)dealt, 3));
    CHECK_OK(gdn_ckks_cks_share(&h, ct, tsk, set, 2, NULL, 10, &rng));
    {
        /* The other multiparty shares that touch the key: PCKS, RKG, RTG. */
        static const uint8_t crs[GDN_CKKS_SEED_BYTES] = {1};
        gdn_ckks_share *x1 = NULL, *x2 = NULL, *eph = NULL, *x3 = NULL, *x4 = NULL;
        CHECK_OK(gdn_ckks_pcks_share(&x1, ct, tsk, set, 2, pk, 10, &rng));
        CHECK_OK(gdn_ckks_rkg_round1(&x2, &eph, tsk, set, 2, crs, &rng));
        VALGRIND_MAKE_MEM_DEFINED(he_share_data(x2), (size_t)2 * c->dnum *
                                                         (c->nq + c->np) * c->n * 8);
        CHECK_OK(gdn_ckks_rkg_round2(&x3, eph, tsk, set, 2, x2, &rng));
        CHECK_OK(gdn_ckks_rtg_share(&x4, tsk, set, 2, 1, crs, &rng));
        gdn_ckks_share_free(x1), gdn_ckks_share_free(x2), gdn_ckks_share_free(x3);
        gdn_ckks_share_free(x4), gdn_ckks_share_free(eph);
    }
    CHECK_OK(gdn_ckks_decrypt(pt, ct, sk));
    /* The keys and ciphertext are public once made: declassify and check. */
    VALGRIND_MAKE_MEM_DEFINED(pt->data, (size_t)c->nq * c->n * 8);
    VALGRIND_MAKE_MEM_DEFINED(ct->data, (size_t)2 * c->nq * c->n * 8);
    VALGRIND_MAKE_MEM_DEFINED(pk->b, (size_t)(c->nq + c->np) * c->n * 8);
    VALGRIND_MAKE_MEM_DEFINED(he_share_data(h), (size_t)c->nq * c->n * 8);
    CHECK_OK(gdn_ckks_decode(y, NULL, 16, pt));
    for (int i = 0; i < 16; i++)
        CHECK_NEAR(y[i], x[i], 1e-4);
    gdn_ckks_share_free(h);
    for (int i = 0; i < 3; i++)
        gdn_ckks_share_free(dealt[i]);
    gdn_ckks_tsk_free(tsk);
    gdn_ckks_ct_free(ct);
    gdn_ckks_pt_free(pt);
    gdn_ckks_gk_free(gk);
    gdn_ckks_swk_free(rlk);
    gdn_ckks_pk_free(pk);
    gdn_ckks_sk_free(sk);
    gdn_ckks_ctx_free(c);
}

/* Encrypted aggregation at the module level: 10 data owners encrypt their
 * vectors under the collective key, the coordinator adds the ciphertexts, and
 * 6 of the owners decrypt the sum (and only the sum). */
GDN_TEST(ckks_multiparty_aggregation)
{
    static double v[NP][NH], sum[NH], got[NH];
    gdn_ckks_sk *sk[NP] = {NULL};
    gdn_ckks_share *ckg[NP] = {NULL}, *dealt[NP][NP] = {{NULL}}, *h[TH] = {NULL};
    gdn_ckks_tsk *tsk[NP] = {NULL};
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_ct *acc = NULL, *ct = NULL;
    gdn_ckks_pt *pt = NULL;
    uint8_t crs[GDN_CKKS_SEED_BYTES] = {7};
    static const unsigned set[TH] = {2, 4, 5, 7, 9, 10};
    CHECK(fixture());
    const gdn_ckks_ctx *c = fx.c;
    for (int i = 0; i < NP; i++) {
        CHECK_OK(gdn_ckks_keygen(&sk[i], c, &fx.rng));
        CHECK_OK(gdn_ckks_ckg_share(&ckg[i], sk[i], crs, &fx.rng));
        CHECK_OK(gdn_ckks_thr_deal(dealt[i], TH, NP, sk[i], &fx.rng));
    }
    CHECK_OK(gdn_ckks_ckg_combine(&pk, c, (const gdn_ckks_share *const *)ckg, NP, crs));
    for (int j = 0; j < NP; j++) {
        const gdn_ckks_share *mine[NP];
        for (int i = 0; i < NP; i++)
            mine[i] = dealt[i][j];
        CHECK_OK(gdn_ckks_thr_key(&tsk[j], c, (unsigned)j + 1, TH, mine, NP));
    }
    CHECK_OK(gdn_ckks_pt_new(&pt, c));
    CHECK_OK(gdn_ckks_ct_new(&acc, c));
    CHECK_OK(gdn_ckks_ct_new(&ct, c));
    memset(sum, 0, sizeof sum);
    for (int i = 0; i < NP; i++) {
        random_slots(v[i], NULL, NH, -1, 1);
        for (int k = 0; k < NH; k++)
            sum[k] += v[i][k];
        /* Level 0 is enough for a sum: the smallest message. */
        CHECK_OK(gdn_ckks_encode_real(pt, v[i], NH, 0, 0x1p40));
        CHECK_OK(gdn_ckks_encrypt_pk(i ? ct : acc, pt, pk, &fx.rng));
        if (i)
            CHECK_OK(gdn_ckks_add(acc, acc, ct));
    }
    for (int i = 0; i < TH; i++)
        CHECK_OK(gdn_ckks_cks_share(&h[i], acc, tsk[set[i] - 1], set, TH, NULL, 20, &fx.rng));
    CHECK_OK(gdn_ckks_thr_decrypt(pt, acc, (const gdn_ckks_share *const *)h, TH));
    CHECK_OK(gdn_ckks_decode_real(got, NH, pt));
    double worst = 0;
    for (int k = 0; k < NH; k++)
        worst = fmax(worst, fabs(got[k] - sum[k]));
    CHECK_MSG(worst < 0x1p-9, "aggregate error %g", worst);
    /* Or the same 6 re-encrypt the sum for an analyst outside the group
     * (PCKS), who decrypts it alone. */
    gdn_ckks_sk *ask = NULL;
    gdn_ckks_pk *apk = NULL;
    gdn_ckks_ct *out = NULL;
    CHECK_OK(gdn_ckks_keygen(&ask, c, &fx.rng));
    CHECK_OK(gdn_ckks_pk_gen(&apk, ask, &fx.rng));
    for (int i = 0; i < TH; i++) {
        gdn_ckks_share_free(h[i]);
        CHECK_OK(gdn_ckks_pcks_share(&h[i], acc, tsk[set[i] - 1], set, TH, apk, 20, &fx.rng));
    }
    gdn_buf b = {0};
    CHECK_OK(gdn_ckks_share_save(&b, h[0]));
    gdn_ckks_share_free(h[0]);
    CHECK_OK(gdn_ckks_share_load(&h[0], c, b.data, b.len));
    gdn_buf_free(&b);
    CHECK_OK(gdn_ckks_ct_new(&out, c));
    CHECK_EQ(gdn_ckks_cks_combine(out, acc, (const gdn_ckks_share *const *)h, TH), GDN_EINVAL);
    CHECK_OK(gdn_ckks_pcks_combine(out, acc, (const gdn_ckks_share *const *)h, TH));
    CHECK_OK(gdn_ckks_decrypt(pt, out, ask));
    CHECK_OK(gdn_ckks_decode_real(got, NH, pt));
    worst = 0;
    for (int k = 0; k < NH; k++)
        worst = fmax(worst, fabs(got[k] - sum[k]));
    if (getenv("GDN_CKKS_VERBOSE"))
        fprintf(stderr, "PCKS aggregate: %.1f bits\n", -log2(worst));
    CHECK_MSG(worst < 0x1p-9, "PCKS aggregate error %g", worst);
    gdn_ckks_ct_free(out);
    gdn_ckks_pk_free(apk);
    gdn_ckks_sk_free(ask);
    for (int i = 0; i < TH; i++)
        gdn_ckks_share_free(h[i]);
    for (int i = 0; i < NP; i++) {
        gdn_ckks_sk_free(sk[i]);
        gdn_ckks_share_free(ckg[i]);
        gdn_ckks_tsk_free(tsk[i]);
        for (int j = 0; j < NP; j++)
            gdn_ckks_share_free(dealt[i][j]);
    }
    gdn_ckks_pk_free(pk);
    gdn_ckks_ct_free(acc);
    gdn_ckks_ct_free(ct);
    gdn_ckks_pt_free(pt);
}

/* The IFMA sums at their largest: every input q - 1 below a 49-bit prime,
 * the most terms each kernel accepts, against 128-bit arithmetic. */
GDN_TEST(ckks_ifma_extremes)
{
#if HE_X86
    enum { N = 64, ND = 15, NS = 14 };
    uint64_t q;
    he_mod m;
    static uint64_t buf[ND][N], kb[ND][N], ka[ND][N], o0[N], o1[N];
    static uint8_t big[N];
    const uint64_t *e[ND], *b[ND], *a[ND];
    uint64_t h[NS];
    if (he_set_simd(2) < 2)
        return; /* no IFMA on this CPU: nothing to check */
    CHECK_OK(he_gen_primes(&q, 1, 50, 2 * N, NULL, 0));
    he_mod_init(&m, q);
    for (int j = 0; j < ND; j++) {
        for (int x = 0; x < N; x++)
            buf[j][x] = kb[j][x] = ka[j][x] = q - 1 - (uint64_t)(x & 1);
        e[j] = buf[j], b[j] = kb[j], a[j] = ka[j];
    }
    he_dot_ifma(o0, o1, e, b, a, ND, N, NULL, &m);
    for (int x = 0; x < N; x++) {
        he_u128 s = 0;
        for (int j = 0; j < ND; j++)
            s += (he_u128)buf[j][x] * kb[j][x];
        CHECK_EQ(o0[x], (uint64_t)(s % q));
        CHECK_EQ(o1[x], (uint64_t)(s % q));
    }
    for (int i = 0; i < NS; i++)
        h[i] = q - 1;
    memset(big, NS, sizeof big);
    he_conv_ifma(o0, &buf[0][0], N, h, NS, big, q - 1, N, &m);
    for (int x = 0; x < N; x++) {
        he_u128 s = (he_u128)NS * (q - 1);
        for (int i = 0; i < NS; i++)
            s += (he_u128)buf[i][x] * h[i];
        CHECK_EQ(o0[x], (uint64_t)(s % q));
    }
#endif
}

/* Collective relinearization and Galois keys from 6 of the 10 parties: a
 * product of two ciphertexts under the collective key, relinearized,
 * rescaled, rotated, decrypted by another 6. */
GDN_TEST(ckks_multiparty_relinearization)
{
    static double x[NH], y[NH];
    gdn_ckks_sk *sk[NP] = {NULL};
    gdn_ckks_share *ckg[NP] = {NULL}, *dealt[NP][NP] = {{NULL}};
    gdn_ckks_share *r1[TH] = {NULL}, *eph[TH] = {NULL}, *r2[TH] = {NULL}, *r1sum = NULL;
    gdn_ckks_tsk *tsk[NP] = {NULL};
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_swk *rlk = NULL, *rlk2 = NULL;
    gdn_ckks_ct *ct = NULL;
    gdn_ckks_pt *pt = NULL;
    uint8_t crs[GDN_CKKS_SEED_BYTES] = {3}, crs2[GDN_CKKS_SEED_BYTES] = {4};
    static const unsigned set[TH] = {1, 3, 4, 6, 8, 9}, dec[TH] = {2, 3, 5, 7, 8, 10};
    CHECK(fixture());
    const gdn_ckks_ctx *c = fx.c;
    for (int i = 0; i < NP; i++) {
        CHECK_OK(gdn_ckks_keygen(&sk[i], c, &fx.rng));
        CHECK_OK(gdn_ckks_ckg_share(&ckg[i], sk[i], crs, &fx.rng));
        CHECK_OK(gdn_ckks_thr_deal(dealt[i], TH, NP, sk[i], &fx.rng));
    }
    CHECK_OK(gdn_ckks_ckg_combine(&pk, c, (const gdn_ckks_share *const *)ckg, NP, crs));
    for (int j = 0; j < NP; j++) {
        const gdn_ckks_share *mine[NP];
        for (int i = 0; i < NP; i++)
            mine[i] = dealt[i][j];
        CHECK_OK(gdn_ckks_thr_key(&tsk[j], c, (unsigned)j + 1, TH, mine, NP));
    }
    for (int i = 0; i < TH; i++)
        CHECK_OK(gdn_ckks_rkg_round1(&r1[i], &eph[i], tsk[set[i] - 1], set, TH, crs2, &fx.rng));
    CHECK_OK(gdn_ckks_share_sum(&r1sum, (const gdn_ckks_share *const *)r1, TH));
    for (int i = 0; i < TH; i++)
        CHECK_OK(gdn_ckks_rkg_round2(&r2[i], eph[i], tsk[set[i] - 1], set, TH, r1sum, &fx.rng));
    CHECK_OK(gdn_ckks_rkg_finish(&rlk, r1sum, (const gdn_ckks_share *const *)r2, TH));
    /* The key travels with its explicit a. */
    gdn_buf b = {0};
    CHECK_OK(gdn_ckks_swk_save(&b, rlk));
    CHECK_EQ(b.len, 13 + 1 + 2 * 3 * 8192 * 200 / 8);
    CHECK_OK(gdn_ckks_swk_load(&rlk2, c, b.data, b.len));
    CHECK(memcmp(rlk2->a, rlk->a, 3 * 4 * 8192 * 8) == 0);
    gdn_buf_free(&b);
    CHECK_OK(gdn_ckks_pt_new(&pt, c));
    CHECK_OK(gdn_ckks_ct_new(&ct, c));
    random_slots(x, NULL, NH, -1, 1);
    CHECK_OK(gdn_ckks_encode_real(pt, x, NH, 2, 0x1p40));
    CHECK_OK(gdn_ckks_encrypt_pk(ct, pt, pk, &fx.rng));
    CHECK_OK(gdn_ckks_mul_relin(ct, ct, ct, rlk2));
    CHECK_OK(gdn_ckks_rescale(ct, ct));
    gdn_ckks_share *h[TH] = {NULL};
    for (int i = 0; i < TH; i++)
        CHECK_OK(gdn_ckks_cks_share(&h[i], ct, tsk[dec[i] - 1], dec, TH, NULL, 20, &fx.rng));
    CHECK_OK(gdn_ckks_thr_decrypt(pt, ct, (const gdn_ckks_share *const *)h, TH));
    CHECK_OK(gdn_ckks_decode_real(y, NH, pt));
    double worst = 0;
    for (int k = 0; k < NH; k++)
        worst = fmax(worst, fabs(y[k] - x[k] * x[k]));
    if (getenv("GDN_CKKS_VERBOSE"))
        fprintf(stderr, "collective relinearization: %.1f bits\n", -log2(worst));
    CHECK_MSG(worst < 0x1p-9, "x^2 under the collective key: error %g", worst);
    /* Collective Galois keys (one round) rotate it; a serialized round trip. */
    static const int steps[2] = {1, -3};
    uint8_t crs3[GDN_CKKS_SEED_BYTES] = {5};
    gdn_ckks_share *rt[2 * TH] = {NULL};
    gdn_ckks_gk *gk = NULL, *gk2 = NULL;
    for (int st = 0; st < 2; st++)
        for (int i = 0; i < TH; i++)
            CHECK_OK(gdn_ckks_rtg_share(&rt[st * TH + i], tsk[set[i] - 1], set, TH, steps[st],
                                        crs3, &fx.rng));
    CHECK_OK(gdn_ckks_rtg_finish(&gk, c, steps, 2, (const gdn_ckks_share *const *)rt, TH, crs3));
    CHECK_OK(gdn_ckks_gk_save(&b, gk));
    CHECK_OK(gdn_ckks_gk_load(&gk2, c, b.data, b.len));
    gdn_buf_free(&b);
    for (int st = 0; st < 2; st++) {
        gdn_ckks_ct *r = NULL;
        CHECK_OK(gdn_ckks_ct_new(&r, c));
        CHECK_OK(gdn_ckks_rotate(r, ct, steps[st], st ? gk2 : gk));
        for (int i = 0; i < TH; i++) {
            gdn_ckks_share_free(h[i]);
            CHECK_OK(gdn_ckks_cks_share(&h[i], r, tsk[dec[i] - 1], dec, TH, NULL, 20, &fx.rng));
        }
        CHECK_OK(gdn_ckks_thr_decrypt(pt, r, (const gdn_ckks_share *const *)h, TH));
        CHECK_OK(gdn_ckks_decode_real(y, NH, pt));
        worst = 0;
        for (int k = 0; k < NH; k++) {
            int src = ((k + steps[st]) % NH + NH) % NH;
            worst = fmax(worst, fabs(y[k] - x[src] * x[src]));
        }
        CHECK_MSG(worst < 0x1p-9, "rotation by %d under collective keys: error %g", steps[st],
                  worst);
        gdn_ckks_ct_free(r);
    }
    for (int i = 0; i < 2 * TH; i++)
        gdn_ckks_share_free(rt[i]);
    gdn_ckks_gk_free(gk);
    gdn_ckks_gk_free(gk2);
    for (int i = 0; i < TH; i++) {
        gdn_ckks_share_free(h[i]);
        gdn_ckks_share_free(r1[i]);
        gdn_ckks_share_free(r2[i]);
        gdn_ckks_share_free(eph[i]);
    }
    gdn_ckks_share_free(r1sum);
    for (int i = 0; i < NP; i++) {
        gdn_ckks_sk_free(sk[i]);
        gdn_ckks_share_free(ckg[i]);
        gdn_ckks_tsk_free(tsk[i]);
        for (int j = 0; j < NP; j++)
            gdn_ckks_share_free(dealt[i][j]);
    }
    gdn_ckks_swk_free(rlk);
    gdn_ckks_swk_free(rlk2);
    gdn_ckks_pk_free(pk);
    gdn_ckks_ct_free(ct);
    gdn_ckks_pt_free(pt);
}
