/* In-process simulation: every client of the federation trained on a pool of
 * worker threads, one model per worker (memory is O(workers x model + data),
 * not O(clients x model)), contributions handed to the aggregator in cohort
 * order so results do not depend on the thread schedule. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "guardian/dp.h"
#include "guardian/fl.h"

#define MAX_WORKERS 256

struct gdn_fl_sim {
    gdn_fl_config cfg;
    char model_spec[512], agg_spec[128], strategy[32];
    const gdn_dataset *train, *test;
    const gdn_partition *part;
    gdn_model *global;               /* its parameters are the global model */
    gdn_model *workers[MAX_WORKERS]; /* scratch models, one per thread */
    unsigned nworkers;
    gdn_aggregator *agg;
    gdn_fl_server *server;
    float *aggregate;
    uint32_t *cohort, *pool;
    uint8_t *malicious;
    uint32_t *joined;                /* rounds each client trained in (DP-SGD's ε) */
    gdn_dp_ddg_params ddg;           /* distributed DP's parameters */
    gdn_fl_refusal *refusals;        /* the last round's, up to the cohort's size */
    size_t nrefused;
    unsigned done;

    /* Shared by the workers during a round. */
    pthread_mutex_t lock;
    pthread_cond_t turn;
    size_t ncohort, next_take, next_add;
    double loss_sum, weight_sum;
    int rc;
    char err[512];
};

void gdn_fl_config_default(gdn_fl_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->model = "mlp:784-200-200-10";
    cfg->clients = 100;
    cfg->fraction = 0.1;
    cfg->rounds = 10;
    cfg->eval_every = 1;
    cfg->local.epochs = 1;
    cfg->local.batch = 10;
    cfg->local.lr = 0.05f;
    cfg->server.strategy = "fedavg";
    cfg->aggregator = "mean";
    cfg->attack_scale = 1.0;
    cfg->seed = 1;
}

static unsigned cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* ---- Construction ---------------------------------------------------------- */

static int check_config(const gdn_fl_config *c,
                        const gdn_partition *part)
{
    if (!c->model || !c->aggregator || !c->server.strategy)
        return gdn_error(GDN_EINVAL, "federation: model, aggregator and strategy are required");
    if (c->clients == 0 || part->clients != c->clients)
        return gdn_error(GDN_EINVAL, "federation: %zu clients but the partition has %zu",
                         c->clients, part->clients);
    if (c->per_round > c->clients)
        return gdn_error(GDN_EINVAL, "federation: %zu clients per round of %zu",
                         c->per_round, c->clients);
    if (!c->per_round && !(c->fraction > 0 && c->fraction <= 1))
        return gdn_error(GDN_EINVAL, "federation: the fraction C must be in (0, 1]");
    if (c->eval_every == 0 || c->local.epochs == 0 || c->local.batch == 0)
        return gdn_error(GDN_EINVAL, "federation: eval-every, local epochs and batch must be >= 1");
    if (c->attack != GDN_ATTACK_NONE &&
        !(c->attack_frac >= 0 && c->attack_frac <= 1 && isfinite(c->attack_scale)))
        return gdn_error(GDN_EINVAL, "federation: attack fraction must be in [0, 1]");
    if (c->dp.enabled &&
        (c->per_round || !(c->dp.clip > 0) || !(c->dp.noise >= 0) ||
         !(c->dp.delta > 0 && c->dp.delta < 1) || strcmp(c->aggregator, "mean") != 0))
        return gdn_error(GDN_EINVAL, "federation: DP-FedAvg needs --fraction (Poisson "
                         "sampling, not --per-round), clip > 0, noise >= 0, 0 < delta < 1 "
                         "and the mean aggregator (it clips and noises the sum itself)");
    if (c->local.dp_clip > 0 &&
        (c->dp.enabled || !(c->local.dp_noise >= 0) || !(c->dp.delta > 0 && c->dp.delta < 1)))
        return gdn_error(GDN_EINVAL, "federation: DP-SGD (sample level) needs noise >= 0 "
                         "and 0 < delta < 1, and is not combined with client-level DP");
    if (c->dp.distributed && (!c->dp.enabled || !c->secagg.enabled || c->dp.quantile > 0))
        return gdn_error(GDN_EINVAL, "federation: distributed DP needs client-level DP "
                         "with secure aggregation, and a fixed clip");
    for (size_t k = 0; k < part->clients; k++)
        if (gdn_partition_size(part, k) == 0)
            return gdn_error(GDN_EINVAL, "federation: client %zu has no examples", k);
    return 0;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *what)
{
    size_t n = strlen(src);

    if (n >= cap)
        return gdn_error(GDN_EINVAL, "%s too long", what);
    memcpy(dst, src, n + 1);
    return 0;
}

/* Attackers: the first round(frac * clients) of a seeded permutation. */
static int choose_attackers(gdn_fl_sim *s)
{
    size_t k = s->cfg.clients, bad;
    gdn_rng rng;

    s->malicious = calloc(k, 1);
    if (!s->malicious)
        return gdn_error(GDN_ENOMEM, "out of memory");
    if (s->cfg.attack == GDN_ATTACK_NONE)
        return 0;
    for (size_t i = 0; i < k; i++)
        s->pool[i] = (uint32_t)i;
    gdn_fl_server_rng(&rng, s->cfg.seed, 0);
    gdn_rng_shuffle(&rng, s->pool, k);
    bad = (size_t)llround(s->cfg.attack_frac * (double)k);
    for (size_t i = 0; i < bad; i++)
        s->malicious[s->pool[i]] = 1;
    return 0;
}

int gdn_fl_sim_new(gdn_fl_sim **out, const gdn_fl_config *cfg,
                   const gdn_dataset *train, const gdn_dataset *test,
                   const gdn_partition *part)
{
    gdn_fl_sim *s;
    gdn_rng rng;
    size_t dim;
    int rc;

    *out = NULL;
    if ((rc = check_config(cfg, part)))
        return rc;
    if (!(s = calloc(1, sizeof *s)))
        return gdn_error(GDN_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->train = train, s->test = test, s->part = part;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->turn, NULL);
    if ((rc = copy_str(s->model_spec, sizeof s->model_spec, cfg->model, "model spec")) ||
        (rc = copy_str(s->agg_spec, sizeof s->agg_spec, cfg->aggregator, "aggregator spec")) ||
        (rc = copy_str(s->strategy, sizeof s->strategy, cfg->server.strategy, "strategy")))
        goto fail;
    s->cfg.model = s->model_spec;
    s->cfg.aggregator = s->agg_spec;
    s->cfg.server.strategy = s->strategy;
    s->nworkers = cfg->workers ? cfg->workers : cores();
    if (s->nworkers > MAX_WORKERS)
        s->nworkers = MAX_WORKERS;
    if ((rc = gdn_model_new(&s->global, cfg->model, train->channels,
                            train->height, train->width, train->classes)))
        goto fail;
    for (unsigned w = 0; w < s->nworkers; w++)
        if ((rc = gdn_model_new(&s->workers[w], cfg->model, train->channels,
                                train->height, train->width, train->classes)))
            goto fail;
    dim = gdn_model_nparams(s->global);
    gdn_fl_init_rng(&rng, cfg->seed);
    gdn_model_init(s->global, &rng);
    if (cfg->secagg.enabled && cfg->dp.enabled && !cfg->dp.distributed)
        rc = gdn_error(GDN_EINVAL, "federation: --secagg with client-level DP is "
                       "distributed DP (--dp distributed)");
    else if (cfg->prio.enabled && (cfg->secagg.enabled || cfg->dp.enabled ||
                                   strcmp(cfg->aggregator, "mean") != 0))
        rc = gdn_error(GDN_EINVAL, "federation: --prio replaces the aggregation; it "
                       "does not combine with --secagg, --dp client or a robust aggregator");
    else if (cfg->he.enabled && (cfg->secagg.enabled || cfg->dp.enabled ||
                                 cfg->prio.enabled || strcmp(cfg->aggregator, "mean") != 0))
        rc = gdn_error(GDN_EINVAL, "federation: --he replaces the aggregation; it does not "
                       "combine with --secagg, --prio, --dp client or a robust aggregator "
                       "(mean only, for now)");
    else if (cfg->he.enabled) {
        /* Key holders: the first min(clients, 32) owners; their set-up
         * streams hang off the server's round-0 stream. */
        unsigned holders = cfg->clients < GDN_FL_HE_MAX_HOLDERS ? (unsigned)cfg->clients
                                                                : GDN_FL_HE_MAX_HOLDERS;
        size_t largest = 0;
        gdn_rng server, keys;
        for (size_t k = 0; k < part->clients; k++)
            if (gdn_partition_size(part, k) > largest)
                largest = gdn_partition_size(part, k);
        gdn_fl_server_rng(&server, cfg->seed, 0);
        gdn_rng_derive(&keys, &server, 2);
        rc = gdn_aggregator_new_he(&s->agg, dim, (double)largest,
                                   cfg->he.clip > 0 ? cfg->he.clip : 1.0, holders,
                                   cfg->he.threshold ? cfg->he.threshold : holders / 2 + 1,
                                   &keys);
        gdn_rng_wipe(&server);
        gdn_rng_wipe(&keys);
    } else if (cfg->prio.enabled)
        rc = gdn_aggregator_new_prio(&s->agg, dim, cfg->prio.bound);
    else if (cfg->dp.distributed) {
        double expected = cfg->fraction * (double)cfg->clients;
        long n = lround(expected);
        rc = gdn_dp_ddg_setup(&s->ddg, dim, cfg->dp.clip, cfg->dp.noise,
                              (uint32_t)(n > 0 ? n : 1),
                              cfg->dp.ddg_bits ? cfg->dp.ddg_bits : 18, cfg->dp.ddg_gamma);
        if (!rc)
            rc = gdn_aggregator_new_ddg(&s->agg, &s->ddg, expected, cfg->secagg.k,
                                        cfg->secagg.t, cfg->secagg.dropout);
    } else if (cfg->secagg.enabled) {
        size_t largest = 0;
        for (size_t k = 0; k < part->clients; k++)
            if (gdn_partition_size(part, k) > largest)
                largest = gdn_partition_size(part, k);
        rc = strcmp(cfg->aggregator, "mean") != 0
                 ? gdn_error(GDN_EINVAL, "federation: secure aggregation sums; it "
                             "works with the mean aggregator only")
                 : gdn_aggregator_new_secagg(&s->agg, dim, cfg->secagg.clip,
                                             cfg->secagg.levels ? cfg->secagg.levels
                                                                : 1u << 16,
                                             (double)largest, cfg->secagg.k,
                                             cfg->secagg.t, cfg->secagg.dropout);
    } else if (cfg->dp.enabled) {
        double expected = cfg->fraction * (double)cfg->clients;
        rc = gdn_aggregator_new_dp(&s->agg, dim, cfg->dp.clip, cfg->dp.noise, expected);
        if (!rc && cfg->dp.quantile > 0)
            rc = gdn_aggregator_dp_adaptive(
                s->agg, cfg->dp.quantile, cfg->dp.clip_lr > 0 ? cfg->dp.clip_lr : 0.2,
                cfg->dp.count_noise > 0 ? cfg->dp.count_noise : expected / 20);
    } else
        rc = gdn_aggregator_new(&s->agg, cfg->aggregator, dim);
    if (rc || (rc = gdn_fl_server_new(&s->server, &cfg->server, dim)))
        goto fail;
    s->aggregate = gdn_alloc_aligned(dim * sizeof(float));
    s->cohort = malloc(cfg->clients * sizeof *s->cohort);
    s->pool = malloc(cfg->clients * sizeof *s->pool);
    s->joined = calloc(cfg->clients, sizeof *s->joined);
    s->refusals = calloc(cfg->clients, sizeof *s->refusals);
    if (!s->aggregate || !s->cohort || !s->pool || !s->joined || !s->refusals) {
        rc = gdn_error(GDN_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = choose_attackers(s)))
        goto fail;
    *out = s;
    return 0;
fail:
    gdn_fl_sim_free(s);
    return rc;
}

void gdn_fl_sim_free(gdn_fl_sim *s)
{
    if (!s)
        return;
    gdn_model_free(s->global);
    for (unsigned w = 0; w < s->nworkers; w++)
        gdn_model_free(s->workers[w]);
    gdn_aggregator_free(s->agg);
    gdn_fl_server_free(s->server);
    gdn_free_aligned(s->aggregate);
    free(s->cohort);
    free(s->pool);
    free(s->malicious);
    free(s->joined);
    free(s->refusals);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->turn);
    free(s);
}

unsigned gdn_fl_sim_rounds_done(const gdn_fl_sim *s) { return s->done; }
gdn_model *gdn_fl_sim_model(gdn_fl_sim *s) { return s->global; }

/* DP-SGD: owner k's ε over its own steps at its own sampling rate
 * batch / n_k, counting `extra` more rounds of taking part. */
static double owner_sample_epsilon(const gdn_fl_sim *s, size_t k, unsigned extra)
{
    const gdn_fl_local *l = &s->cfg.local;
    size_t n = gdn_partition_size(s->part, k);
    uint64_t steps = (uint64_t)(s->joined[k] + extra) * gdn_fl_dp_sgd_steps(l, n);
    double eps, order;

    if (steps == 0)
        return 0;
    if (!(l->dp_noise > 0) ||
        gdn_dp_rdp_epsilon(&eps, &order, l->batch < n ? (double)l->batch / (double)n : 1.0,
                           l->dp_noise, steps, s->cfg.dp.delta, GDN_DP_RDP_CONSERVATIVE))
        return INFINITY;
    return eps;
}

/* DP-SGD: the largest ε of any data owner; for a round not yet run, every
 * owner is assumed to take part once more (an upper bound). */
static double sample_level_epsilon(const gdn_fl_sim *s, unsigned rounds)
{
    double worst = 0;

    for (size_t k = 0; k < s->cfg.clients; k++) {
        double eps = owner_sample_epsilon(s, k, rounds > s->done);
        worst = eps > worst ? eps : worst;
    }
    return worst;
}

size_t gdn_fl_sim_owner_examples(const gdn_fl_sim *s, size_t client)
{
    return client < s->cfg.clients ? gdn_partition_size(s->part, client) : 0;
}

unsigned gdn_fl_sim_owner_rounds(const gdn_fl_sim *s, size_t client)
{
    return client < s->cfg.clients ? s->joined[client] : 0;
}

double gdn_fl_sim_owner_epsilon(const gdn_fl_sim *s, size_t client, int next)
{
    if (client >= s->cfg.clients)
        return 0;
    if (s->cfg.local.dp_clip > 0)
        return owner_sample_epsilon(s, client, next ? 1 : 0);
    /* Client-level DP protects every owner alike, sampled or not. */
    return gdn_fl_sim_epsilon(s, s->done + (next ? 1 : 0));
}

double gdn_fl_sim_epsilon(const gdn_fl_sim *s, unsigned rounds)
{
    return gdn_fl_sim_epsilon_at(s, rounds, s->cfg.dp.delta);
}

double gdn_fl_sim_epsilon_at(const gdn_fl_sim *s, unsigned rounds, double delta)
{
    if (s->cfg.local.dp_clip > 0)
        return rounds ? sample_level_epsilon(s, rounds) : 0;
    if (!s->cfg.dp.enabled || rounds == 0)
        return 0;
    if (s->cfg.dp.distributed)
        return gdn_fl_ddg_epsilon(&s->ddg, s->cfg.fraction, rounds, delta);
    return gdn_fl_dp_epsilon(&s->cfg, rounds, delta);
}

const gdn_fl_refusal *gdn_fl_sim_refusals(const gdn_fl_sim *s, size_t *n)
{
    *n = s->nrefused;
    return s->refusals;
}

const uint32_t *gdn_fl_sim_cohort(const gdn_fl_sim *s, size_t *n)
{
    *n = s->done ? s->ncohort : 0;
    return s->cohort;
}

int gdn_fl_sim_is_malicious(const gdn_fl_sim *s, size_t k)
{
    return k < s->cfg.clients && s->malicious[k];
}

/* ---- One round --------------------------------------------------------------- */

static size_t sample_cohort(gdn_fl_sim *s, unsigned round)
{
    return gdn_fl_sample_cohort(s->cohort, s->pool, &s->cfg, round);
}

/* A simulated attacker replaces its update u = x - g by scale * u, or by
 * -scale * u for sign flipping. */
static void attack(const gdn_fl_sim *s, float *x, const float *g, size_t dim)
{
    gdn_fl_attack_update(x, g, dim, s->cfg.attack == GDN_ATTACK_SIGNFLIP
                                        ? -s->cfg.attack_scale
                                        : s->cfg.attack_scale);
}

/* Each sampled owner may decline (its policy, its budget): it then sends
 * nothing and the round goes on without it. Returns the cohort kept. */
static size_t admit(gdn_fl_sim *s, size_t m, unsigned round)
{
    size_t kept = 0;

    s->nrefused = 0;
    if (!s->cfg.admit)
        return m;
    for (size_t i = 0; i < m; i++) {
        gdn_fl_refusal *r = &s->refusals[s->nrefused];
        r->reason[0] = '\0';
        if (s->cfg.admit(s->cfg.admit_ctx, r->reason, sizeof r->reason, s->cohort[i],
                         round, m)) {
            r->client = s->cohort[i];
            s->nrefused++;
        } else {
            s->cohort[kept++] = s->cohort[i];
        }
    }
    return kept;
}

typedef struct worker_arg {
    gdn_fl_sim *sim;
    unsigned index;
} worker_arg;

static void fail_round(gdn_fl_sim *s, int rc)
{
    if (!s->rc) {
        s->rc = rc;
        snprintf(s->err, sizeof s->err, "%s", gdn_errmsg());
    }
    pthread_cond_broadcast(&s->turn);
}

static void *train_worker(void *p)
{
    worker_arg *a = p;
    gdn_fl_sim *s = a->sim;
    gdn_model *model = s->workers[a->index];
    const float *global = gdn_model_params(s->global);
    size_t dim = gdn_model_nparams(model);

    for (;;) {
        size_t slot, client, n;
        double loss = 0;
        gdn_rng rng;
        int rc;

        pthread_mutex_lock(&s->lock);
        if (s->rc || s->next_take == s->ncohort) {
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        slot = s->next_take++;
        pthread_mutex_unlock(&s->lock);

        client = s->cohort[slot];
        n = gdn_partition_size(s->part, client);
        gdn_fl_client_rng(&rng, s->cfg.seed, s->done + 1, client);
        rc = gdn_fl_client_train(model, &loss, global, s->train,
                                 s->part->idx + s->part->offset[client], n,
                                 &s->cfg.local, &rng);
        if (!rc && s->cfg.prio.enabled) /* honest clients keep within the bound */
            gdn_fl_prio_clip_update(gdn_model_params(model), global, dim,
                                    s->cfg.prio.bound);
        if (!rc && s->malicious[client])
            attack(s, gdn_model_params(model), global, dim);
        /* Distributed DP: each client encodes its own update, in parallel;
         * only the bookkeeping below waits for cohort order. */
        if (!rc && gdn_aggregator_concurrent(s->agg))
            rc = gdn_aggregator_add_slot(s->agg, slot, gdn_model_params(model), (double)n);

        /* Contributions enter the aggregator in cohort order. The worker
         * whose turn it is adds outside the lock (no one else touches the
         * aggregator until next_add moves), so others keep taking slots. */
        pthread_mutex_lock(&s->lock);
        while (!s->rc && s->next_add != slot)
            pthread_cond_wait(&s->turn, &s->lock);
        int failed = s->rc;
        pthread_mutex_unlock(&s->lock);
        if (!failed && !rc && !gdn_aggregator_concurrent(s->agg))
            rc = gdn_aggregator_add(s->agg, gdn_model_params(model), (double)n);
        pthread_mutex_lock(&s->lock);
        if (rc) {
            fail_round(s, rc);
        } else if (!s->rc) {
            s->loss_sum += loss * (double)n;
            s->weight_sum += (double)n;
            s->next_add++;
            pthread_cond_broadcast(&s->turn);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

typedef struct eval_arg {
    gdn_fl_sim *sim;
    unsigned index;
    size_t begin, end;
    double loss, accuracy;
    int rc;
    char err[256];
} eval_arg;

static void *eval_worker(void *p)
{
    eval_arg *a = p;
    gdn_model *m = a->sim->workers[a->index];
    const gdn_dataset *t = a->sim->test;

    memcpy(gdn_model_params(m), gdn_model_params(a->sim->global),
           gdn_model_nparams(m) * sizeof(float));
    a->rc = gdn_model_evaluate(m, &a->loss, &a->accuracy, t->x + a->begin * t->dim,
                               t->y + a->begin, a->end - a->begin);
    if (a->rc)
        snprintf(a->err, sizeof a->err, "%s", gdn_errmsg());
    return NULL;
}

/* Runs fn on `n` threads (the caller's thread being the first). */
static int run_threads(void *(*fn)(void *), void *args, size_t arg_size, unsigned n)
{
    pthread_t th[MAX_WORKERS];
    unsigned started = 0;

    for (unsigned i = 1; i < n; i++, started++)
        if (pthread_create(&th[i], NULL, fn, (char *)args + i * arg_size) != 0)
            break;
    fn(args);
    for (unsigned i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
    return started + 1 == n ? 0 : gdn_error(GDN_ENOMEM, "cannot start worker threads");
}

static int evaluate(gdn_fl_sim *s, double *loss, double *accuracy)
{
    eval_arg args[MAX_WORKERS];
    size_t n = s->test->n;
    unsigned w = s->nworkers < n ? s->nworkers : (unsigned)(n ? n : 1);
    double l = 0, a = 0;
    int rc;

    memset(args, 0, sizeof args);
    for (unsigned i = 0; i < w; i++) {
        args[i].sim = s;
        args[i].index = i;
        args[i].begin = n * i / w;
        args[i].end = n * (i + 1) / w;
    }
    if ((rc = run_threads(eval_worker, args, sizeof args[0], w)))
        return rc;
    for (unsigned i = 0; i < w; i++) { /* fixed order: same bits every run */
        if (args[i].rc)
            return gdn_error(args[i].rc, "%s", args[i].err);
        l += args[i].loss * (double)(args[i].end - args[i].begin);
        a += args[i].accuracy * (double)(args[i].end - args[i].begin);
    }
    *loss = n ? l / (double)n : 0;
    *accuracy = n ? a / (double)n : 0;
    return 0;
}

int gdn_fl_sim_round(gdn_fl_sim *s, gdn_fl_round_stats *st)
{
    worker_arg args[MAX_WORKERS];
    double t0 = gdn_now();
    unsigned round = s->done + 1, w;
    int rc;

    memset(st, 0, sizeof *st);
    s->ncohort = sample_cohort(s, round);
    s->ncohort = admit(s, s->ncohort, round);
    s->next_take = s->next_add = 0;
    s->loss_sum = s->weight_sum = 0;
    s->rc = 0;
    {   /* the aggregator's own stream for this round (noise, rounding, keys) */
        gdn_rng server, agg_rng;
        gdn_fl_server_rng(&server, s->cfg.seed, round);
        gdn_rng_derive(&agg_rng, &server, 1);
        gdn_aggregator_set_noise_rng(s->agg, &agg_rng);
        gdn_rng_wipe(&server);
        gdn_rng_wipe(&agg_rng);
    }
    /* Everyone declined (and no DP noise to publish): the model stays. */
    if (s->ncohort > 0 || s->cfg.dp.enabled) {
        if ((rc = gdn_aggregator_begin(s->agg, gdn_model_params(s->global), s->ncohort)))
            return rc;
        /* Parallelism is across clients: each worker's BLAS runs on one thread. */
        w = s->nworkers < s->ncohort ? s->nworkers : (unsigned)s->ncohort;
        w = w ? w : 1; /* an empty (Poisson) cohort still runs the loop once */
        gdn_ml_set_threads(1);
        for (unsigned i = 0; i < w; i++)
            args[i].sim = s, args[i].index = i;
        if ((rc = run_threads(train_worker, args, sizeof args[0], w)))
            return rc;
        if (s->rc)
            return gdn_error(s->rc, "round %u: %s", round, s->err);
        if ((rc = gdn_aggregator_finish(s->agg, s->aggregate)))
            return rc;
        gdn_fl_server_step(s->server, gdn_model_params(s->global), s->aggregate);
    }
    s->done = round;
    for (size_t i = 0; i < s->ncohort; i++)
        s->joined[s->cohort[i]]++;

    st->round = round;
    st->cohort = s->ncohort;
    st->refused = s->nrefused;
    st->rejected = s->ncohort > 0 ? gdn_aggregator_rejected(s->agg) : 0;
    st->train_loss = s->weight_sum > 0 ? s->loss_sum / s->weight_sum : 0;
    st->epsilon = gdn_fl_sim_epsilon(s, round);
    if (round % s->cfg.eval_every == 0 || round == s->cfg.rounds) {
        if (s->test && s->test->n &&
            (rc = evaluate(s, &st->test_loss, &st->test_accuracy)))
            return rc;
        st->evaluated = s->test && s->test->n;
    }
    st->seconds = gdn_now() - t0;
    return 0;
}

/* ---- Checkpoints ---------------------------------------------------------------
 * "GDNFLCK2", le32 round, le64 dim, le32 nstate, le64 seed, le64 clients,
 * le32 spec length, le64 DP clip (IEEE bits; 0 without DP), spec,
 * (1 + nstate) x dim LE floats, BLAKE2b-256 of all that precedes. */

#define CK_MAGIC "GDNFLCK2"
#define CK_HEADER 52

static int put_floats(gdn_buf *b, const float *v, size_t n)
{
    int rc = gdn_buf_reserve(b, n * 4);

    for (size_t i = 0; i < n && !rc; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        gdn_store_le32(b->data + b->len, u);
        b->len += 4;
    }
    return rc;
}

int gdn_fl_sim_save(gdn_fl_sim *s, const char *path)
{
    size_t dim = gdn_model_nparams(s->global), ns = gdn_fl_server_nstate(s->server);
    size_t speclen = strlen(s->model_spec);
    uint8_t hdr[CK_HEADER];
    double clip = s->cfg.dp.enabled ? gdn_aggregator_dp_clip(s->agg) : 0;
    uint64_t clip_bits;
    gdn_buf b = {0};
    int rc;

    memcpy(hdr, CK_MAGIC, 8);
    gdn_store_le32(hdr + 8, s->done);
    gdn_store_le64(hdr + 12, dim);
    gdn_store_le32(hdr + 20, (uint32_t)ns);
    gdn_store_le64(hdr + 24, s->cfg.seed);
    gdn_store_le64(hdr + 32, s->cfg.clients);
    gdn_store_le32(hdr + 40, (uint32_t)speclen);
    memcpy(&clip_bits, &clip, 8);
    gdn_store_le64(hdr + 44, clip_bits);
    rc = gdn_buf_append(&b, hdr, sizeof hdr);
    if (!rc)
        rc = gdn_buf_append(&b, s->model_spec, speclen);
    if (!rc)
        rc = put_floats(&b, gdn_model_params(s->global), dim);
    for (size_t i = 0; i < ns && !rc; i++)
        rc = put_floats(&b, gdn_fl_server_state(s->server, i), dim);
    if (!rc)
        rc = gdn_buf_reserve(&b, 32);
    if (!rc) {
        crypto_generichash(b.data + b.len, 32, b.data, b.len, NULL, 0);
        b.len += 32;
        rc = gdn_file_write_atomic(path, b.data, b.len);
    }
    gdn_buf_free(&b);
    return rc;
}

int gdn_fl_sim_load_bytes(gdn_fl_sim *s, const uint8_t *data, size_t len,
                          const char *name)
{
    size_t dim = gdn_model_nparams(s->global), ns = gdn_fl_server_nstate(s->server);
    size_t speclen = strlen(s->model_spec);
    size_t want = CK_HEADER + speclen + (1 + ns) * dim * 4 + 32;
    uint64_t clip_bits;
    double clip;
    uint8_t sum[32];
    const uint8_t *p;

    if (len != want || memcmp(data, CK_MAGIC, 8) != 0)
        return gdn_error(GDN_EFORMAT, "%s: not a checkpoint of this run (%zu bytes, "
                         "expected %zu)", name, len, want);
    crypto_generichash(sum, 32, data, len - 32, NULL, 0);
    if (sodium_memcmp(sum, data + len - 32, 32) != 0)
        return gdn_error(GDN_EFORMAT, "%s: checksum mismatch (damaged file)", name);
    if (gdn_load_le64(data + 12) != dim || gdn_load_le32(data + 20) != ns ||
        gdn_load_le64(data + 24) != s->cfg.seed ||
        gdn_load_le64(data + 32) != s->cfg.clients ||
        gdn_load_le32(data + 40) != speclen ||
        memcmp(data + CK_HEADER, s->model_spec, speclen) != 0)
        return gdn_error(GDN_EFORMAT, "%s: checkpoint of another configuration "
                         "(model, seed, clients or strategy differ)", name);
    clip_bits = gdn_load_le64(data + 44);
    memcpy(&clip, &clip_bits, 8);
    if (s->cfg.dp.enabled != (clip != 0) || !(clip >= 0) || !isfinite(clip))
        return gdn_error(GDN_EFORMAT, "%s: checkpoint's DP clip %g does not fit this "
                         "configuration", name, clip);
    if (s->cfg.dp.enabled)
        gdn_aggregator_dp_set_clip(s->agg, clip);
    s->done = gdn_load_le32(data + 8);
    /* Who trained in which round follows from the seed: replay the draws. */
    memset(s->joined, 0, s->cfg.clients * sizeof *s->joined);
    for (unsigned r = 1; r <= s->done; r++) {
        size_t m = admit(s, sample_cohort(s, r), r);
        for (size_t i = 0; i < m; i++)
            s->joined[s->cohort[i]]++;
    }
    s->ncohort = 0;
    s->nrefused = 0;
    p = data + CK_HEADER + speclen;
    for (size_t v = 0; v <= ns; v++) {
        float *dst = v == 0 ? gdn_model_params(s->global)
                            : gdn_fl_server_state(s->server, v - 1);
        for (size_t i = 0; i < dim; i++, p += 4) {
            uint32_t u = gdn_load_le32(p);
            memcpy(&dst[i], &u, 4);
        }
    }
    return 0;
}

int gdn_fl_sim_load(gdn_fl_sim *s, const char *path)
{
    size_t dim = gdn_model_nparams(s->global), ns = gdn_fl_server_nstate(s->server);
    gdn_buf b = {0};
    int rc;

    /* A little more than a valid file may hold, so "too long" is reported. */
    rc = gdn_file_read(&b, path, CK_HEADER + 8 + strlen(s->model_spec) +
                                     (1 + ns) * dim * 4 + 32);
    if (rc == GDN_ERANGE)
        rc = gdn_error(GDN_EFORMAT, "%s: not a checkpoint of this run (too large)", path);
    if (!rc)
        rc = gdn_fl_sim_load_bytes(s, b.data, b.len, path);
    gdn_buf_free(&b);
    return rc;
}
