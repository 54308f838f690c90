/* he: CKKS parameters, the prime chain and the context's tables. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "he/he_internal.h"

#define HE_PI 3.14159265358979323846

/* HomomorphicEncryption.org security standard (Albrecht et al. 2018),
 * Table 1, 128-bit classical security, uniform ternary secret. */
unsigned gdn_ckks_max_log_qp(unsigned log_n)
{
    switch (log_n) {
    case 12: return 109;
    case 13: return 218;
    case 14: return 438;
    case 15: return 881;
    case 16: return 1747;
    default: return 0;
    }
}

static int check_params(const gdn_ckks_params *p)
{
    if (p->log_n < GDN_CKKS_MIN_LOG_N || p->log_n > GDN_CKKS_MAX_LOG_N)
        return gdn_error(GDN_EINVAL, "ckks: log_n %u outside %d..%d", p->log_n,
                         GDN_CKKS_MIN_LOG_N, GDN_CKKS_MAX_LOG_N);
    if (p->n_primes < 1 || p->n_primes > GDN_CKKS_MAX_PRIMES)
        return gdn_error(GDN_EINVAL, "ckks: %u ciphertext primes, expected 1..%d",
                         p->n_primes, GDN_CKKS_MAX_PRIMES);
    if (p->n_special < 1 || p->n_special > GDN_CKKS_MAX_SPECIAL)
        return gdn_error(GDN_EINVAL, "ckks: %u special primes, expected 1..%d",
                         p->n_special, GDN_CKKS_MAX_SPECIAL);
    for (unsigned i = 0; i < p->n_primes + p->n_special; i++) {
        unsigned b = i < p->n_primes ? p->prime_bits[i] : p->special_bits[i - p->n_primes];
        if (b < GDN_CKKS_MIN_PRIME_BITS || b > GDN_CKKS_MAX_PRIME_BITS || b <= p->log_n + 2)
            return gdn_error(GDN_EINVAL, "ckks: %s prime %u has %u bits, expected %d..%d",
                             i < p->n_primes ? "ciphertext" : "special",
                             i < p->n_primes ? i : i - p->n_primes, b,
                             GDN_CKKS_MIN_PRIME_BITS, GDN_CKKS_MAX_PRIME_BITS);
    }
    if (p->dnum > p->n_primes || p->dnum > 32)
        return gdn_error(GDN_EINVAL, "ckks: dnum %u, expected 1..min(32, %u)", p->dnum,
                         p->n_primes);
    if (!(p->scale >= 1.0) || p->scale > ldexp(1.0, 100))
        return gdn_error(GDN_EINVAL, "ckks: scale %g outside [1, 2^100]", p->scale);
    return 0;
}

/* Bit sizes are checked before any prime is searched: a refused set costs
 * nothing, and the message names the bound. */
static int check_security(const gdn_ckks_params *p)
{
    unsigned total = 0, bound = gdn_ckks_max_log_qp(p->log_n);
    for (unsigned i = 0; i < p->n_primes; i++)
        total += p->prime_bits[i];
    for (unsigned i = 0; i < p->n_special; i++)
        total += p->special_bits[i];
    /* Each prime is below 2^bits, so log2(QP) is below the sum; refuse when
     * the sum exceeds the bound (the primes are within 2N of 2^bits). */
    if (total > bound)
        return gdn_error(GDN_ERANGE,
                         "ckks: insecure parameters: log2(QP) = %u bits exceeds %u, the "
                         "128-bit bound of the HomomorphicEncryption.org standard for "
                         "N = 2^%u (ternary secret)",
                         total, bound, p->log_n);
    return 0;
}

static int make_primes(gdn_ckks_ctx *c)
{
    unsigned total = c->nq + c->np;
    uint64_t two_n = 2 * (uint64_t)c->n;
    uint64_t *q = calloc(total, sizeof *q);
    int rc = 0;

    if (!q)
        return GDN_ENOMEM;
    /* Special primes first, each the largest free prime of its size. */
    for (unsigned i = 0; i < total && !rc; i++) {
        unsigned j = (i + c->nq) % total; /* p's then q's */
        unsigned b = j < c->nq ? c->p.prime_bits[j] : c->p.special_bits[j - c->nq];
        uint64_t avoid[GDN_CKKS_MAX_PRIMES + GDN_CKKS_MAX_SPECIAL];
        size_t na = 0;
        for (unsigned k = 0; k < i; k++)
            avoid[na++] = q[(k + c->nq) % total];
        rc = he_gen_primes(&q[j], 1, b, two_n, avoid, na);
    }
    for (unsigned i = 0; i < total && !rc; i++) {
        if (!he_is_prime(q[i]) || q[i] % two_n != 1)
            rc = gdn_error(GDN_EINTERNAL, "ckks: prime check failed");
        else
            rc = he_ntt_init(&c->ntt[i], q[i], c->logn);
    }
    free(q);
    return rc;
}

static int make_tables(gdn_ckks_ctx *c)
{
    size_t n = c->n, nh = n / 2, m = 2 * n;
    unsigned nq = c->nq;

    c->rinv = calloc((size_t)nq * nq, sizeof(uint64_t));
    c->rinvs = calloc((size_t)nq * nq, sizeof(uint64_t));
    c->pinv = calloc(nq, sizeof(uint64_t));
    c->pinvs = calloc(nq, sizeof(uint64_t));
    c->rot_group = malloc(nh * sizeof(uint64_t));
    c->roots_re = malloc((m + 1) * sizeof(double));
    c->roots_im = malloc((m + 1) * sizeof(double));
    if (!c->rinv || !c->rinvs || !c->pinv || !c->pinvs || !c->rot_group || !c->roots_re ||
        !c->roots_im)
        return GDN_ENOMEM;
    for (unsigned l = 1; l < nq; l++)
        for (unsigned i = 0; i < l; i++) {
            const he_mod *mi = &c->ntt[i].m;
            uint64_t v = he_inv(he_red64(c->ntt[l].m.q, mi), mi);
            c->rinv[l * nq + i] = v;
            c->rinvs[l * nq + i] = he_shoup(v, mi->q);
        }
    for (unsigned i = 0; i < nq; i++) {
        const he_mod *mi = &c->ntt[i].m;
        uint64_t prod = 1;
        for (unsigned k = 0; k < c->np; k++)
            prod = he_mul(prod, he_red64(c->ntt[nq + k].m.q, mi), mi);
        c->pinv[i] = he_inv(prod, mi);
        c->pinvs[i] = he_shoup(c->pinv[i], mi->q);
    }
    uint64_t g = 1;
    for (size_t j = 0; j < nh; j++) {
        c->rot_group[j] = g;
        g = g * 5 % m;
    }
    for (size_t k = 0; k <= m; k++) {
        double a = 2.0 * HE_PI * (double)k / (double)m;
        c->roots_re[k] = cos(a);
        c->roots_im[k] = sin(a);
    }
    return 0;
}

int gdn_ckks_ctx_new(gdn_ckks_ctx **out, const gdn_ckks_params *params)
{
    gdn_ckks_ctx *c;
    int rc;

    *out = NULL;
    if ((rc = check_params(params)) || (rc = check_security(params)))
        return rc;
    if (sodium_init() < 0) /* secret keys live in sodium_malloc memory */
        return gdn_error(GDN_ECRYPTO, "ckks: libsodium failed to initialise");
    if (!(c = calloc(1, sizeof *c)))
        return GDN_ENOMEM;
    c->p = *params;
    c->logn = params->log_n;
    c->n = (size_t)1 << c->logn;
    c->nq = params->n_primes;
    c->np = params->n_special;
    c->dnum = params->dnum ? params->dnum : (c->nq + c->np - 1) / c->np;
    if (c->dnum > c->nq)
        c->dnum = c->nq;
    c->alpha = (c->nq + c->dnum - 1) / c->dnum;
    c->dnum = (c->nq + c->alpha - 1) / c->alpha; /* no empty digit */
    c->p.dnum = c->dnum;
    if (c->alpha > 32) {
        unsigned alpha = c->alpha;
        free(c);
        return gdn_error(GDN_EINVAL, "ckks: %u primes per digit, at most 32 (raise dnum)",
                         alpha);
    }
    /* Key switching adds noise about Q_j / P times the key's: a digit wider
     * than P would swamp the message (Han-Ki 2020 §3.3). */
    unsigned pbits = 0, dbits = 0;
    for (unsigned i = 0; i < c->np; i++)
        pbits += params->special_bits[i];
    for (unsigned j = 0; j < c->dnum; j++) {
        unsigned b = 0;
        for (unsigned i = j * c->alpha; i < (j + 1) * c->alpha && i < c->nq; i++)
            b += params->prime_bits[i];
        dbits = b > dbits ? b : dbits;
    }
    if (dbits > pbits) {
        free(c);
        return gdn_error(GDN_EINVAL,
                         "ckks: a key-switching digit of %u bits exceeds P's %u bits; raise "
                         "dnum or add special primes",
                         dbits, pbits);
    }
    if (!(c->ntt = calloc(c->nq + c->np, sizeof *c->ntt))) {
        free(c);
        return GDN_ENOMEM;
    }
    if ((rc = make_primes(c)) || (rc = make_tables(c))) {
        gdn_ckks_ctx_free(c);
        return rc;
    }
    c->log_qp = 0;
    crypto_generichash_state h;
    uint8_t id[8], le[8];
    crypto_generichash_init(&h, NULL, 0, sizeof id);
    gdn_store_le64(le, c->n);
    crypto_generichash_update(&h, le, sizeof le);
    for (unsigned i = 0; i < c->nq + c->np; i++) {
        c->log_qp += log2((double)c->ntt[i].m.q);
        gdn_store_le64(le, c->ntt[i].m.q);
        crypto_generichash_update(&h, le, sizeof le);
    }
    gdn_store_le64(le, c->dnum);
    crypto_generichash_update(&h, le, sizeof le);
    crypto_generichash_final(&h, id, sizeof id);
    c->chain_id = gdn_load_le64(id);
    *out = c;
    return 0;
}

void gdn_ckks_ctx_free(gdn_ckks_ctx *c)
{
    if (!c)
        return;
    if (c->ntt)
        for (unsigned i = 0; i < c->nq + c->np; i++)
            he_ntt_free(&c->ntt[i]);
    free(c->ntt);
    free(c->rinv);
    free(c->rinvs);
    free(c->pinv);
    free(c->pinvs);
    free(c->rot_group);
    free(c->roots_re);
    free(c->roots_im);
    free(c);
}

size_t gdn_ckks_n(const gdn_ckks_ctx *c) { return c->n; }
size_t gdn_ckks_slots(const gdn_ckks_ctx *c) { return c->n / 2; }
unsigned gdn_ckks_max_level(const gdn_ckks_ctx *c) { return c->nq - 1; }
uint64_t gdn_ckks_prime(const gdn_ckks_ctx *c, unsigned i)
{
    return i < c->nq + c->np ? c->ntt[i].m.q : 0;
}
double gdn_ckks_log_qp(const gdn_ckks_ctx *c) { return c->log_qp; }
double gdn_ckks_default_scale(const gdn_ckks_ctx *c) { return c->p.scale; }
unsigned gdn_ckks_dnum(const gdn_ckks_ctx *c) { return c->dnum; }
