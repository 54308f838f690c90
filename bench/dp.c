/* Differential privacy: accountant time and sampler throughput, one thread.
 * One JSON line per measurement (bench/README.md):
 *
 *   {"bench":"dp_accountant","case":...,"steps":10000,"median_ms":...,"goal_ms":10,...}
 *   {"bench":"dp_sampler","sampler":...,"param":...,"samples_per_s_median":...,...}
 *
 *   build/bench/dp [--runs N]
 *
 * Accountant cases: "epsilon" is gdn_dp_rdp_epsilon for 10^4 steps at once (RDP
 * at 156 orders, times 10^4, conversion); "per_step" adds the 10^4 steps one
 * call at a time to an accountant, then converts; "exact" is "epsilon" with
 * the exact (Opacus) series. Samplers draw 2^21 values per run from a
 * seeded ChaCha20 stream; the time includes generating the keystream.
 * Wall-clock figures (median_ms, samples_per_s_median) are the headline;
 * the cpu_ twins use this thread's CPU time, which a busy machine disturbs
 * less (it still shares caches and the core's other hyperthread).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guardian/core.h"
#include "guardian/dp.h"

#define MAX_RUNS 100
#define NSAMPLES ((size_t)1 << 21)
#define STEPS 10000

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* This thread's CPU time in seconds. */
static double cpu_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- Accountant ----------------------------------------------------------- */

static int account_once(int which, double *eps, double *order)
{
    gdn_dp_accountant *acc;
    int rc;

    if (which == 0)
        return gdn_dp_rdp_epsilon(eps, order, 0.01, 1.0, STEPS, 1e-5,
                                  GDN_DP_RDP_CONSERVATIVE);
    if (which == 2)
        return gdn_dp_rdp_epsilon(eps, order, 0.01, 1.0, STEPS, 1e-5, GDN_DP_RDP_EXACT);
    if ((rc = gdn_dp_accountant_new(&acc, GDN_DP_ORDERS_DP_ACCOUNTING,
                                    GDN_DP_RDP_CONSERVATIVE)))
        return rc;
    for (int i = 0; i < STEPS && !rc; i++)
        rc = gdn_dp_accountant_add_sampled_gaussian(acc, 0.01, 1.0, 1);
    if (!rc)
        rc = gdn_dp_accountant_epsilon(acc, eps, order, 1e-5);
    gdn_dp_accountant_free(acc);
    return rc;
}

static int bench_accountant(int runs)
{
    static const char *const names[] = {"epsilon", "per_step", "exact"};
    double t[MAX_RUNS], c[MAX_RUNS], eps = 0, order = 0;
    int rc;

    for (int which = 0; which < 3; which++) {
        for (int r = -1; r < runs; r++) {
            double t0 = gdn_now(), c0 = cpu_now();
            if ((rc = account_once(which, &eps, &order)))
                return rc;
            if (r >= 0) {
                t[r] = (gdn_now() - t0) * 1e3;
                c[r] = (cpu_now() - c0) * 1e3;
            }
        }
        printf("{\"bench\":\"dp_accountant\",\"case\":\"%s\",\"q\":0.01,\"sigma\":1,"
               "\"steps\":%d,\"delta\":1e-5,\"epsilon\":%.10g,\"order\":%g,"
               "\"median_ms\":%.4f,\"cpu_median_ms\":%.4f,\"runs\":%d,"
               "\"goal_ms\":10}\n",
               names[which], STEPS, eps, order, median(t, runs), median(c, runs), runs);
        fflush(stdout);
    }
    return 0;
}

/* ---- Samplers --------------------------------------------------------------- */

typedef struct {
    const char *sampler, *param;
    int kind; /* 0 dgauss, 1 dlaplace, 2 poisson, 3 skellam, 4 gaussian, 5 rr,
                 6 clip */
    uint64_t num, den;
    double x;
} sampler_case;

static const sampler_case cases[] = {
    {"discrete_gaussian", "sigma2=1", 0, 1, 1, 0},
    {"discrete_gaussian", "sigma2=1/3", 0, 1, 3, 0},
    {"discrete_gaussian", "sigma2=100", 0, 100, 1, 0},
    {"discrete_gaussian", "sigma2=10^6/7", 0, 1000000, 7, 0},
    {"discrete_gaussian", "sigma2=2^40", 0, (uint64_t)1 << 40, 1, 0},
    {"discrete_laplace", "scale=10", 1, 10, 1, 0},
    {"poisson", "lambda=10", 2, 10, 1, 0},
    {"poisson", "lambda=10^4", 2, 10000, 1, 0},
    {"skellam", "lambda=50", 3, 50, 1, 0},
    {"gaussian_grid", "sigma=1", 4, 0, 0, 1.0},
    {"randomized_response", "k=10,eps=1", 5, 0, 0, 1.0},
    {"clip_l2", "n=2^21", 6, 0, 0, 1.0},
};

static int draw(const sampler_case *c, void *buf, size_t n, gdn_rng *rng)
{
    double f;

    switch (c->kind) {
    case 0:
        return gdn_dp_discrete_gaussian(buf, n, c->num, c->den, rng);
    case 1:
        return gdn_dp_discrete_laplace(buf, n, c->num, c->den, rng);
    case 2:
        return gdn_dp_poisson(buf, n, c->num, c->den, rng);
    case 3:
        return gdn_dp_skellam(buf, n, c->num, c->den, rng);
    case 4:
        return gdn_dp_gaussian_noise(buf, n, c->x, rng);
    case 5: {
        uint32_t *v = buf;
        for (size_t i = 0; i < n; i++)
            v[i] = (uint32_t)(i % 10);
        return gdn_dp_randomized_response(v + n, v, n, 10, c->x, rng);
    }
    default: {
        float *v = buf;
        for (size_t i = 0; i < n; i++)
            v[i] = (float)(i % 7) - 3.0f;
        return gdn_dp_clip_l2(&f, v, n, c->x);
    }
    }
}

static int bench_samplers(int runs)
{
    double rate[MAX_RUNS], cpu_rate[MAX_RUNS];
    void *buf = malloc(2 * NSAMPLES * sizeof(int64_t));
    gdn_rng rng;
    int rc = 0;

    if (!buf)
        return GDN_ENOMEM;
    gdn_rng_init_seed(&rng, 1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0] && !rc; k++) {
        const sampler_case *c = &cases[k];
        size_t n = c->kind == 2 && c->num >= 10000 ? NSAMPLES / 16 : NSAMPLES;
        for (int r = -1; r < runs && !rc; r++) {
            double t0 = gdn_now(), c0 = cpu_now();
            rc = draw(c, buf, n, &rng);
            if (r >= 0) {
                rate[r] = (double)n / (gdn_now() - t0);
                cpu_rate[r] = (double)n / (cpu_now() - c0);
            }
        }
        if (rc)
            break;
        double med = median(rate, runs);
        printf("{\"bench\":\"dp_sampler\",\"sampler\":\"%s\",\"param\":\"%s\","
               "\"threads\":1,\"samples\":%zu,\"samples_per_s_median\":%.0f,"
               "\"ns_per_sample\":%.2f,\"cpu_samples_per_s_median\":%.0f,"
               "\"runs\":%d%s}\n",
               c->sampler, c->param, n, med, 1e9 / med, median(cpu_rate, runs), runs,
               c->kind == 0 ? ",\"goal_samples_per_s\":1e7" : "");
        fflush(stdout);
    }
    gdn_rng_wipe(&rng);
    free(buf);
    return rc;
}

/* ---- Distributed DP and the PLD accountant ------------------------------------ */

/* One client's encoding and the server's decoding of the 2NN's 199,210
 * parameters (262,144 rotated), noise multiplier 1 shared by 100 clients,
 * 18 bits: what --dp distributed adds per client and per round. */
static int bench_ddg(int runs)
{
    gdn_dp_ddg_params p;
    float *u = NULL;
    double *work = NULL, *out = NULL, te[MAX_RUNS], td[MAX_RUNS];
    uint32_t *enc = NULL;
    uint8_t seed[32] = {1};
    gdn_rng rng;
    int rc;

    if ((rc = gdn_dp_ddg_setup(&p, 199210, 1.0, 1.0, 100, 18, 0)))
        return rc;
    u = malloc(p.dim * sizeof *u), out = malloc(p.dim * sizeof *out);
    work = malloc(p.dim_pad * sizeof *work), enc = malloc(p.dim_pad * sizeof *enc);
    if (!u || !out || !work || !enc) {
        rc = GDN_ENOMEM;
        goto done;
    }
    gdn_rng_init_seed(&rng, 2);
    for (size_t i = 0; i < p.dim; i++)
        u[i] = (float)(gdn_rng_double(&rng) - 0.5) * 0.01f;
    for (int r = -1; r < runs && !rc; r++) {
        double t0 = cpu_now();
        rc = gdn_dp_ddg_encode(enc, work, u, &p, seed, &rng);
        double t1 = cpu_now();
        if (!rc)
            rc = gdn_dp_ddg_decode(out, work, enc, &p, seed);
        if (r >= 0)
            te[r] = (t1 - t0) * 1e3, td[r] = (cpu_now() - t1) * 1e3;
    }
    if (!rc)
        printf("{\"bench\":\"dp_ddg\",\"dim\":%zu,\"dim_pad\":%zu,\"clients\":100,"
               "\"bits\":18,\"noise\":1,\"encode_cpu_median_ms\":%.3f,"
               "\"decode_cpu_median_ms\":%.3f,\"runs\":%d}\n", p.dim, p.dim_pad,
               median(te, runs), median(td, runs), runs);
    gdn_rng_wipe(&rng);
done:
    free(u), free(out), free(work), free(enc);
    return rc;
}

/* The PLD accountant (grid 1e-4) beside the RDP one on the same case. */
static int bench_pld(int runs)
{
    double t[MAX_RUNS], eps = 0, rdp = 0, order;
    int rc = 0;

    for (int r = 0; r < runs && r < 3 && !rc; r++) {
        double t0 = cpu_now();
        rc = gdn_dp_pld_epsilon(&eps, 0.01, 1.0, 1000, 1e-5, 1e-4);
        t[r] = (cpu_now() - t0) * 1e3;
    }
    if (!rc)
        rc = gdn_dp_rdp_epsilon(&rdp, &order, 0.01, 1.0, 1000, 1e-5, GDN_DP_RDP_CONSERVATIVE);
    if (!rc)
        printf("{\"bench\":\"dp_pld\",\"q\":0.01,\"sigma\":1,\"steps\":1000,"
               "\"delta\":1e-5,\"interval\":1e-4,\"epsilon\":%.6f,\"rdp_epsilon\":%.6f,"
               "\"cpu_median_ms\":%.1f,\"runs\":%d}\n", eps, rdp,
               median(t, runs < 3 ? runs : 3), runs < 3 ? runs : 3);
    return rc;
}

int main(int argc, char **argv)
{
    int runs = 5, rc;

    for (int i = 1; i < argc; i++) {
        char *end;
        long v;
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc &&
            (v = strtol(argv[i + 1], &end, 10), !*end && v >= 1 && v <= MAX_RUNS)) {
            runs = (int)v;
            i++;
        } else {
            fprintf(stderr, "usage: dp [--runs N (1..%d)]\n", MAX_RUNS);
            return 2;
        }
    }
    if ((rc = bench_accountant(runs)) || (rc = bench_pld(runs)) || (rc = bench_ddg(runs)) ||
        (rc = bench_samplers(runs))) {
        fprintf(stderr, "dp: %s: %s\n", gdn_strerror(rc), gdn_errmsg());
        return 1;
    }
    return 0;
}
