/* The data owner (federation.h): one blocking connection to the coordinator,
 * a training thread per round while the main thread keeps the heartbeats
 * going, and reconnection with backoff when the connection is lost. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "net/he.h"
#include "net/internal.h"
#include "net/prio.h"
#include "guardian/federation.h"
#include "guardian/secagg.h"

#define CONNECT_MS 10000
#define POLL_SLICE 0.2 /* seconds between checks of *stop */

typedef struct owner {
    const gdn_owner_config *cfg;
    gdn_tls_ctx *tls;
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    const uint32_t *idx;
    uint32_t *own_idx;
    size_t n;
    uint8_t id_sk[64]; /* Ed25519 identity: signs SecAgg+ advertisements */
    uint64_t index;    /* client_index of the round under way */
    uint8_t coord_fp[GDN_NET_FINGERPRINT_BYTES], coord_pk[32]; /* this session's */
    gdn_model *model;
    char spec[GDN_WIRE_MAX_MODEL_SPEC + 1];
    float *global;
    size_t dim;
    /* the session */
    gdn_tls_conn *c;
    gdn_frame_decoder *dec;
    uint32_t heartbeat_ms, idle_ms, max_frame;
    double t_rx, t_tx;
    uint64_t hb_tx, hb_rx;
    int welcomed; /* this session got past Welcome */
    int done;  /* Bye{DONE} received */
    int fatal; /* retrying cannot help */
    net_he_owner *he; /* encrypted aggregation (NULL: not offered) */
} owner;

static int stopped(const owner *o)
{
    return o->cfg->stop && *o->cfg->stop;
}

/* ---- Frames -------------------------------------------------------------------- */

/* 1 with a frame, 0 when the deadline passed first, GDN_NET_CLOSED, or an error. */
static int recv_frame(owner *o, gdn_frame *f, double deadline)
{
    uint8_t buf[16384];

    for (;;) {
        size_t want = gdn_frame_decoder_need(o->dec), n, used;
        int rc;
        if (want > sizeof buf)
            want = sizeof buf;
        rc = gdn_tls_read(o->c, buf, want, &n);
        if (rc == GDN_NET_WANT_READ || rc == GDN_NET_WANT_WRITE) {
            int r = net_wait_fd(gdn_tls_conn_fd(o->c), rc == GDN_NET_WANT_WRITE, deadline);
            if (r <= 0)
                return r;
            continue;
        }
        if (rc == GDN_NET_CLOSED)
            return gdn_frame_decoder_finish(o->dec) ? gdn_error(GDN_EIO, "%s: %s",
                                                               gdn_tls_peer_label(o->c),
                                                               gdn_errmsg())
                                                    : GDN_NET_CLOSED;
        if (rc)
            return rc;
        o->t_rx = gdn_now();
        if ((rc = gdn_frame_decoder_push(o->dec, f, &used, buf, n)) < 0)
            return gdn_error(rc, "%s: %s", gdn_tls_peer_label(o->c), gdn_errmsg());
        if (rc == 1)
            return 1;
    }
}

static int send_msg(owner *o, const gdn_wire_msg *m)
{
    gdn_buf enc = {0};
    int rc;

    if (!(rc = gdn_wire_encode(&enc, m)))
        rc = gdn_tls_send_frame(o->c, GDN_FRAME_MESSAGE, enc.data, enc.len, o->max_frame,
                                (int)o->idle_ms);
    gdn_buf_free(&enc);
    if (!rc)
        o->t_tx = gdn_now();
    return rc;
}

static int send_error(owner *o, int code, const char *msg)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_ERROR;
    m.u.error.code = code;
    snprintf(m.u.error.message, sizeof m.u.error.message, "%s", msg);
    return send_msg(o, &m);
}

static int heartbeat(owner *o, uint64_t round)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_HEARTBEAT;
    m.u.heartbeat.sequence = ++o->hb_tx;
    m.u.heartbeat.round = round;
    return send_msg(o, &m);
}

/* Waits for the next frame, sending heartbeats meanwhile: 1 frame, 0 nothing
 * yet (call again; *stop may be set), or an error. */
static int next_frame(owner *o, gdn_frame *f, uint64_t round)
{
    double now = gdn_now(), until = now + POLL_SLICE;
    double hb = o->t_tx + o->heartbeat_ms / 1000.0;
    int rc;

    if (now - o->t_rx > o->idle_ms / 1000.0)
        return gdn_error(GDN_EIO, "%s: silent for %u ms", gdn_tls_peer_label(o->c), o->idle_ms);
    if (now >= hb && (rc = heartbeat(o, round)))
        return rc;
    if (hb > now && hb < until)
        until = hb;
    rc = recv_frame(o, f, until);
    if (rc == GDN_NET_CLOSED)
        return gdn_error(GDN_EIO, "%s: closed the connection", gdn_tls_peer_label(o->c));
    return rc;
}

static int decode(gdn_wire_msg *m, const gdn_frame *f, owner *o)
{
    if (f->type != GDN_FRAME_MESSAGE)
        return gdn_error(GDN_EFORMAT, "%s: a CHUNK where a message was expected",
                         gdn_tls_peer_label(o->c));
    if (gdn_wire_decode(m, f->payload, f->len)) {
        char why[600];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        send_error(o, GDN_WIRE_ERR_PROTOCOL, why);
        return gdn_error(GDN_EFORMAT, "%s: %s", gdn_tls_peer_label(o->c), why);
    }
    return 0;
}

/* Messages that may come at any time: 1 handled, 0 not one of them, or an
 * error (an Error from the coordinator, a Bye). */
static int common_message(owner *o, const gdn_wire_msg *m)
{
    switch (m->type) {
    case GDN_WIRE_HEARTBEAT:
        if (m->u.heartbeat.sequence <= o->hb_rx)
            return gdn_error(GDN_EFORMAT, "%s: heartbeat sequence did not increase",
                             gdn_tls_peer_label(o->c));
        o->hb_rx = m->u.heartbeat.sequence;
        if (o->he)
            net_he_owner_seen_round(o->he, m->u.heartbeat.round);
        return 1;
    case GDN_WIRE_BYE:
        if (m->u.bye.reason == GDN_WIRE_BYE_DONE) {
            o->done = 1;
            gdn_log(GDN_LOG_INFO, "the coordinator says all rounds are finished");
            return 1;
        }
        return gdn_error(GDN_EIO, "%s: the coordinator stops%s%s", gdn_tls_peer_label(o->c),
                         m->u.bye.message[0] ? ": " : "", m->u.bye.message);
    case GDN_WIRE_ERROR:
        return gdn_error(GDN_EIO, "%s: the coordinator reports an error: %s",
                         gdn_tls_peer_label(o->c), m->u.error.message);
    default:
        return 0;
    }
}

/* ---- A round -------------------------------------------------------------------- */

typedef struct train_job {
    owner *o;
    gdn_fl_local local;
    gdn_rng rng;
    double loss;
    int rc;
    char err[512];
    atomic_int finished;
} train_job;

static void *train_thread(void *p)
{
    train_job *j = p;
    owner *o = j->o;

    gdn_ml_set_threads(1); /* as the simulation's workers: the same bits */
    j->rc = gdn_fl_client_train(o->model, &j->loss, o->global, o->cfg->data, o->idx, o->n,
                                &j->local, &j->rng);
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%s", gdn_errmsg());
    atomic_store(&j->finished, 1);
    return NULL;
}

/* Local training as the RoundStart says, on its own thread, with the
 * simulation's stream for this owner and round. */
static int start_training(pthread_t *th, train_job *job, owner *o,
                          const gdn_wire_round_start *rs)
{
    memset(job, 0, sizeof *job);
    job->o = o;
    job->local.epochs = rs->local_epochs;
    job->local.batch = rs->batch;
    job->local.lr = rs->lr;
    job->local.momentum = rs->momentum;
    job->local.weight_decay = rs->weight_decay;
    job->local.prox_mu = rs->prox_mu;
    gdn_fl_client_rng(&job->rng, rs->seed, rs->round, rs->client_index);
    if (pthread_create(th, NULL, train_thread, job) != 0) {
        gdn_rng_wipe(&job->rng);
        return gdn_error(GDN_ENOMEM, "cannot start the training thread");
    }
    return 0;
}

static int prepare_model(owner *o, const gdn_wire_round_start *rs)
{
    const gdn_dataset *d = o->cfg->data;
    int rc;

    if (!o->model || strcmp(o->spec, rs->model) != 0) {
        gdn_model_free(o->model);
        free(o->global);
        o->model = NULL;
        o->global = NULL;
        if ((rc = gdn_model_new(&o->model, rs->model, d->channels, d->height, d->width,
                                d->classes)))
            return rc;
        snprintf(o->spec, sizeof o->spec, "%s", rs->model);
        o->dim = gdn_model_nparams(o->model);
        if (!(o->global = malloc(o->dim * sizeof(float))))
            return gdn_error(GDN_ENOMEM, "out of memory");
    }
    if (rs->model_bytes != (uint64_t)o->dim * 4)
        return gdn_error(GDN_EFORMAT, "round %llu: model %s has %zu parameters here (%zu "
                         "bytes), the coordinator sends %llu bytes",
                         (unsigned long long)rs->round, rs->model, o->dim, o->dim * 4,
                         (unsigned long long)rs->model_bytes);
    return 0;
}

/* Reads the `bytes` of an object announced on `stream` (CHUNK frames only). */
static int read_object(owner *o, gdn_buf *out, uint32_t stream, uint64_t bytes,
                       uint64_t round)
{
    gdn_frame_reasm *r = NULL;
    uint32_t got = 0;
    int rc;

    if ((rc = gdn_frame_reasm_new(&r, bytes)))
        return rc;
    for (;;) {
        gdn_frame f;
        if (stopped(o)) {
            rc = GDN_EINTR;
            break;
        }
        if ((rc = next_frame(o, &f, round)) < 0)
            break;
        if (rc == 0)
            continue;
        if (f.type != GDN_FRAME_CHUNK) {
            rc = gdn_error(GDN_EFORMAT, "%s: a message inside an object's chunks",
                           gdn_tls_peer_label(o->c));
            break;
        }
        if ((rc = gdn_frame_reasm_push(r, f.payload, f.len)) < 0)
            break;
        if (rc == 1)
            break;
    }
    if (rc == 1 && !(rc = gdn_frame_reasm_take(out, &got, r)) && got != stream)
        rc = gdn_error(GDN_EFORMAT, "object arrived on stream %u, announced %u", got, stream);
    gdn_frame_reasm_free(r);
    return rc;
}

/* Reads the global model's chunks into o->global. */
static int receive_model(owner *o, const gdn_wire_round_start *rs)
{
    gdn_buf bytes = {0};
    int rc = read_object(o, &bytes, rs->model_stream, rs->model_bytes, rs->round);

    if (!rc)
        rc = gdn_wire_floats_decode(o->global, o->dim, bytes.data, bytes.len);
    gdn_buf_free(&bytes);
    return rc;
}

/* Sends `payload` as one object: `m` announces it (its size and stream). */
static int send_object(owner *o, gdn_wire_msg *m, uint32_t stream, const gdn_buf *payload)
{
    int rc = send_msg(o, m);
    if (!rc)
        rc = gdn_tls_send_object(o->c, stream, payload->data, payload->len, o->max_frame,
                                 (int)o->idle_ms);
    o->t_tx = gdn_now();
    return rc;
}

/* Update{round, index, examples, loss} and then payload (an update's bytes:
 * floats, or ciphertexts) as its object. */
static int send_update_bytes(owner *o, const gdn_wire_round_start *rs, double loss,
                             const gdn_buf *payload)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_UPDATE;
    m.u.update.round = rs->round;
    m.u.update.client_index = rs->client_index;
    m.u.update.examples = o->n;
    m.u.update.mean_loss = loss;
    m.u.update.update_stream = 1;
    m.u.update.update_bytes = payload->len;
    return send_object(o, &m, 1, payload);
}

static int send_update(owner *o, const gdn_wire_round_start *rs, double loss)
{
    gdn_buf payload = {0};
    int rc;

    if (!(rc = gdn_wire_floats_encode(&payload, gdn_model_params(o->model), o->dim)))
        rc = send_update_bytes(o, rs, loss, &payload);
    gdn_buf_free(&payload);
    return rc;
}

/* A validated round's report instead of an Update (net/prio.c): clipped,
 * sharded, the helper's share sealed to the helper this owner pins. */
static int send_prio_report(owner *o, const gdn_wire_round_start *rs, double loss)
{
    gdn_wire_msg m;
    gdn_buf payload = {0};
    int rc = net_prio_owner_report(&payload, rs, o->cfg->helper_pin,
                                   gdn_model_params(o->model), o->global, o->dim,
                                   o->cfg->attack_scale);

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_PRIO_REPORT;
    m.u.prio_report.round = rs->round;
    m.u.prio_report.client_index = rs->client_index;
    m.u.prio_report.examples = o->n;
    m.u.prio_report.mean_loss = loss;
    m.u.prio_report.stream = 1;
    m.u.prio_report.bytes = payload.len;
    if (!rc)
        rc = send_object(o, &m, 1, &payload);
    gdn_buf_free(&payload);
    return rc;
}

static int refuse(owner *o, uint64_t round, const char *rule, const char *msg)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_REFUSAL;
    m.u.refusal.round = round;
    snprintf(m.u.refusal.rule, sizeof m.u.refusal.rule, "%s", rule);
    snprintf(m.u.refusal.message, sizeof m.u.refusal.message, "%s", msg);
    gdn_log(GDN_LOG_INFO, "round %llu: declined (%s): %s", (unsigned long long)round, rule,
            msg);
    return send_msg(o, &m);
}

/* ---- A SecAgg+ round -------------------------------------------------------------
 * The client side of secagg.h over the connection: phase 1 brings this
 * owner's index and the cohort's identity keys (the owner answers with its
 * signed key advertisement before it trains), phase 2 the neighbours' keys
 * (answer: encrypted shares), phase 3 the shares forwarded to it (answer,
 * once training is done: the masked, quantized update), phase 4 the survivor
 * list (answer: the unmasking shares). The coordinator sees only masked
 * vectors. The protocol's secrets come from the system's CSPRNG. */

static int send_phase(owner *o, uint64_t round, uint32_t phase, const gdn_buf *payload)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_SECAGG_PHASE;
    m.u.secagg_phase.round = round;
    m.u.secagg_phase.phase = phase;
    m.u.secagg_phase.stream = phase;
    m.u.secagg_phase.bytes = payload->len;
    return send_object(o, &m, phase, payload);
}

/* The next SecaggPhase of this round and its bytes, or another message in
 * *m (type != SECAGG_PHASE): 1 got something, 0 nothing yet, or an error. */
static int next_phase(owner *o, gdn_wire_msg *m, gdn_buf *payload, uint64_t round)
{
    gdn_frame f;
    int rc = next_frame(o, &f, round);

    if (rc <= 0)
        return rc;
    if ((rc = decode(m, &f, o)) || (rc = common_message(o, m)) < 0)
        return rc;
    if (m->type != GDN_WIRE_SECAGG_PHASE)
        return 1;
    if (m->u.secagg_phase.bytes > ((uint64_t)64 << 20)) /* requests scale with k, not the model */
        return gdn_error(GDN_ERANGE, "%s: a SecAgg+ request of %llu bytes",
                         gdn_tls_peer_label(o->c), (unsigned long long)m->u.secagg_phase.bytes);
    payload->len = 0;
    if ((rc = read_object(o, payload, m->u.secagg_phase.stream, m->u.secagg_phase.bytes,
                          round)))
        return rc;
    if (m->u.secagg_phase.round != round)
        return gdn_error(GDN_EFORMAT, "%s: SecaggPhase for round %llu during round %llu",
                         gdn_tls_peer_label(o->c), (unsigned long long)m->u.secagg_phase.round,
                         (unsigned long long)round);
    if (o->cfg->on_event) {
        char ev[16];
        snprintf(ev, sizeof ev, "secagg%u", m->u.secagg_phase.phase);
        o->cfg->on_event(o->cfg->ctx, round, o->index, ev);
    }
    return 1;
}

/* Distributed DP: local - global, clipped, rotated, rounded, noised with
 * this owner's share of the discrete Gaussian, mod 2^bits (dp.h). */
static int encode_ddg(owner *o, uint32_t *q, const gdn_dp_ddg_params *p,
                      const uint8_t seed[32], gdn_rng *rng)
{
    double *work = malloc(p->dim_pad * sizeof *work);
    float *upd = malloc(p->dim * sizeof *upd);
    int rc = work && upd ? gdn_fl_ddg_encode(q, work, upd, gdn_model_params(o->model), o->global,
                                             p, seed, rng)
                         : gdn_error(GDN_ENOMEM, "out of memory");

    if (work)
        sodium_memzero(work, p->dim_pad * sizeof *work);
    if (upd)
        sodium_memzero(upd, p->dim * sizeof *upd);
    free(work);
    free(upd);
    return rc;
}

static int secagg_round(owner *o, const gdn_wire_round_start *rs)
{
    const gdn_wire_secagg *w = &rs->secagg;
    gdn_dp_ddg_params ddg;
    uint8_t seed[32];
    gdn_secagg_params p;
    gdn_secagg_client *sc = NULL;
    gdn_buf in = {0}, out = {0}, fwd = {0};
    gdn_wire_msg m;
    gdn_rng rng;
    train_job job;
    pthread_t th;
    uint32_t *q = NULL, index;
    int rc, started = 0, have_fwd = 0, masked = 0, over = 0, declined = 0;
    double t0 = gdn_now();

    o->index = rs->client_index;
    memset(&p, 0, sizeof p);
    p.n = w->n, p.k = w->k, p.t = w->t, p.bits = w->bits, p.length = w->length;
    memcpy(p.session, w->session, sizeof p.session);
    gdn_rng_init_system(&rng);
    if (rs->dp.distributed) { /* its share of the noise, in the DDG encoding */
        if ((rc = gdn_dp_ddg_setup(&ddg, o->dim, rs->dp.clip, rs->dp.noise_multiplier,
                                   rs->dp.ddg_clients, rs->dp.ddg_bits, rs->dp.ddg_gamma)))
            goto out;
        if (ddg.dim_pad != w->length || ddg.bits != w->bits) {
            rc = gdn_error(GDN_EFORMAT, "distributed DP round for %u values of %u bits; this "
                           "owner's encoding has %zu of %u", w->length, w->bits, ddg.dim_pad,
                           ddg.bits);
            goto out;
        }
        gdn_fl_ddg_seed(seed, w->session);
    } else if (w->length != o->dim + 1 || (double)o->n > w->weight_scale) {
        rc = gdn_error(GDN_EFORMAT, "SecAgg+ round for %u values and weight scale %g; this "
                       "owner has %zu parameters and %zu examples", w->length,
                       w->weight_scale, o->dim, o->n);
        goto out;
    }
    /* phase 1: index and identity keys in, signed advertisement out */
    do
        rc = next_phase(o, &m, &in, rs->round);
    while (rc == 0 && !stopped(o));
    if (rc >= 0 && (rc != 1 || m.type != GDN_WIRE_SECAGG_PHASE || m.u.secagg_phase.phase != 1))
        rc = gdn_error(GDN_EFORMAT, "%s: expected the SecAgg+ roster after the model",
                       gdn_tls_peer_label(o->c));
    if (rc < 0)
        goto out;
    if (in.len != 4 + 32 * (size_t)w->n || (index = gdn_load_le32(in.data)) >= w->n ||
        sodium_memcmp(in.data + 4 + 32 * (size_t)index, o->id_sk + 32, 32) != 0) {
        rc = gdn_error(GDN_EFORMAT, "%s: the SecAgg+ roster does not hold this owner's key "
                       "at its index", gdn_tls_peer_label(o->c));
        goto out;
    }
    if ((rc = gdn_secagg_client_new(&sc, &p, index, o->id_sk, in.data + 4, &rng)) ||
        (rc = gdn_secagg_client_advertise(sc, &out))) {
        declined = 1;
        goto out;
    }
    if ((rc = send_phase(o, rs->round, 1, &out)))
        goto out;
    /* train meanwhile */
    if ((rc = start_training(&th, &job, o, rs)))
        goto out;
    started = 1;
    while (!over) {
        if (stopped(o)) {
            rc = GDN_EINTR;
            break;
        }
        if (have_fwd && !masked && atomic_load(&job.finished)) {
            pthread_join(th, NULL);
            started = 0;
            if (job.rc) {
                send_error(o, GDN_WIRE_ERR_INTERNAL, job.err);
                o->fatal = 1;
                rc = gdn_error(job.rc, "training: %s", job.err);
                break;
            }
            out.len = 0;
            if (!(q = malloc(w->length * sizeof *q))) {
                rc = gdn_error(GDN_ENOMEM, "out of memory");
                break;
            }
            if ((rc = rs->dp.distributed ? encode_ddg(o, q, &ddg, seed, &rng)
                                         : gdn_fl_secagg_encode(q, gdn_model_params(o->model),
                                                                o->global, o->dim, (double)o->n,
                                                                w->weight_scale, w->clip,
                                                                w->levels, &rng)))
                break;
            if ((rc = gdn_secagg_client_masked_input(sc, &out, fwd.data, fwd.len, q))) {
                declined = 1;
                break;
            }
            if ((rc = send_phase(o, rs->round, 3, &out)))
                break;
            masked = 1;
            gdn_log(GDN_LOG_INFO, "round %llu: trained on %zu examples as owner %llu, loss "
                    "%.4f (%.2f s); masked update sent (SecAgg+)", (unsigned long long)rs->round,
                    o->n, (unsigned long long)rs->client_index, job.loss, gdn_now() - t0);
        }
        if ((rc = next_phase(o, &m, &in, rs->round)) < 0)
            break;
        if (rc == 0) /* nothing yet: m holds no new message */
            continue;
        rc = 0;
        if (m.type == GDN_WIRE_ROUND_END && m.u.round_end.round == rs->round) {
            over = 1;
            if (!masked && m.u.round_end.outcome == GDN_WIRE_OUTCOME_FAILED)
                gdn_log(GDN_LOG_WARN, "round %llu ended without this owner's update: %s",
                        (unsigned long long)rs->round, m.u.round_end.message);
            break;
        }
        if (m.type == GDN_WIRE_HEARTBEAT || m.type == GDN_WIRE_BYE)
            continue;
        if (m.type != GDN_WIRE_SECAGG_PHASE) {
            rc = gdn_error(GDN_EFORMAT, "%s: %s during a SecAgg+ round", gdn_tls_peer_label(o->c),
                           gdn_wire_type_name(m.type));
            break;
        }
        out.len = 0;
        switch (m.u.secagg_phase.phase) {
        case 2:
            if ((rc = gdn_secagg_client_share_keys(sc, &out, in.data, in.len)))
                declined = 1;
            else
                rc = send_phase(o, rs->round, 2, &out);
            break;
        case 3: /* answered once training is done */
            gdn_buf_free(&fwd);
            fwd = in;
            memset(&in, 0, sizeof in);
            have_fwd = 1;
            break;
        case 4:
            if ((rc = gdn_secagg_client_unmask(sc, &out, in.data, in.len)))
                declined = 1;
            else
                rc = send_phase(o, rs->round, 4, &out);
            break;
        default:
            rc = gdn_error(GDN_EFORMAT, "%s: SecAgg+ phase %u out of order",
                           gdn_tls_peer_label(o->c), m.u.secagg_phase.phase);
        }
        if (rc)
            break;
    }
out:
    if (rc && declined) { /* the protocol says no (too few neighbours, a request
                           * that would unmask a peer): leave this round, not the session */
        char why[GDN_WIRE_MAX_TEXT];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        rc = refuse(o, rs->round, "secagg", why);
    } else if (rc && rc != GDN_EINTR && !o->fatal) {
        char why[600];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        send_error(o, GDN_WIRE_ERR_PROTOCOL, why);
        rc = gdn_error(rc, "%s", why);
    }
    if (started) {
        pthread_join(th, NULL);
        gdn_rng_wipe(&job.rng);
    }
    gdn_secagg_client_free(sc);
    gdn_rng_wipe(&rng);
    if (q) {
        sodium_memzero(q, w->length * sizeof *q);
        free(q);
    }
    gdn_buf_free(&in);
    gdn_buf_free(&out);
    gdn_buf_free(&fwd);
    return rc;
}

/* ---- Encrypted aggregation (net/he.h) ----------------------------------------------
 * The coordinator's HePhase requests: set-up (this owner a key holder), the
 * collective key, decryption. A request this owner will not answer (the
 * holder's guard, a broken set-up) is logged and left unanswered: the
 * coordinator's round or set-up fails without it, the session goes on. */

static int he_phase(owner *o, const gdn_wire_he_phase *p, uint64_t round)
{
    gdn_buf in = {0}, out = {0};
    gdn_wire_msg m;
    int rc;

    if (!o->he)
        return gdn_error(GDN_EFORMAT, "%s: HePhase to an owner that did not offer HE",
                         gdn_tls_peer_label(o->c));
    if (p->bytes > ((uint64_t)1 << 31)) /* a decryption request: the summed ciphertexts */
        return gdn_error(GDN_ERANGE, "%s: an HE request of %llu bytes",
                         gdn_tls_peer_label(o->c), (unsigned long long)p->bytes);
    if ((rc = read_object(o, &in, p->stream, p->bytes, round)))
        goto done;
    if (o->cfg->on_event && p->phase == GDN_WIRE_HE_DECRYPT)
        o->cfg->on_event(o->cfg->ctx, p->round, o->index, "he-decrypt");
    if (net_he_owner_handle(o->he, &out, p->phase, p->round, in.data, in.len)) {
        gdn_log(GDN_LOG_WARN, "%s", gdn_errmsg());
        if (p->phase != GDN_WIRE_HE_DEAL) /* set-up's answer says the failure itself */
            goto done;
    }
    if (out.len) {
        memset(&m, 0, sizeof m);
        m.type = GDN_WIRE_HE_PHASE;
        m.u.he_phase.round = p->round;
        m.u.he_phase.phase = p->phase;
        m.u.he_phase.stream = 16 + p->phase;
        m.u.he_phase.bytes = out.len;
        rc = send_object(o, &m, 16 + p->phase, &out);
    }
done:
    gdn_buf_free(&in);
    gdn_buf_free(&out);
    return rc;
}

/* The round's update encrypted under the collective key, as the Update's object. */
static int send_he_update(owner *o, const gdn_wire_round_start *rs, double loss)
{
    gdn_buf payload = {0};
    int rc;

    if ((rc = net_he_owner_encrypt(o->he, &payload, &rs->he, gdn_model_params(o->model),
                                   o->global, o->dim, o->n))) {
        char why[GDN_WIRE_MAX_TEXT];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        gdn_buf_free(&payload);
        return refuse(o, rs->round, "he", why);
    }
    rc = send_update_bytes(o, rs, loss, &payload);
    if (!rc)
        gdn_log(GDN_LOG_INFO, "round %llu: encrypted update sent (%zu bytes, HE)",
                (unsigned long long)rs->round, payload.len);
    gdn_buf_free(&payload);
    return rc;
}

static int take_round(owner *o, const gdn_wire_round_start *rs)
{
    const gdn_owner_config *cfg = o->cfg;
    train_job job;
    pthread_t th;
    char rule[GDN_WIRE_MAX_RULE + 1] = "", why[GDN_WIRE_MAX_TEXT + 1] = "";
    int rc, abandoned = 0;
    double t0 = gdn_now();

    if ((rc = prepare_model(o, rs))) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
        send_error(o, GDN_WIRE_ERR_PROTOCOL, msg);
        o->fatal = 1;
        return gdn_error(rc, "%s", msg);
    }
    if ((rc = receive_model(o, rs)))
        return rc;
    if (cfg->on_event)
        cfg->on_event(cfg->ctx, rs->round, rs->client_index, "model");
    if (o->he)
        net_he_owner_seen_round(o->he, rs->round);
    if (rs->aggregation == GDN_WIRE_AGG_HE && !o->he)
        return refuse(o, rs->round, "capabilities", "this owner takes part in plain, "
                      "SecAgg+ and validated rounds only (HE needs join --state)");
    if (rs->aggregation == GDN_WIRE_AGG_PRIO3) { /* the helper must be the pinned one */
        uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
        char hex[GDN_NET_FINGERPRINT_HEX_BYTES], msg[300];
        net_prio_key_fingerprint(fp, rs->prio.helper_key);
        gdn_net_fingerprint_hex(hex, fp);
        if (!cfg->helper_pin || sodium_memcmp(fp, cfg->helper_pin, sizeof fp) != 0) {
            snprintf(msg, sizeof msg, "the coordinator announces helper %s, %s", hex,
                     cfg->helper_pin ? "not the one this owner pins (--helper-pin)"
                                     : "and this owner pins none (--helper-pin)");
            return refuse(o, rs->round, "prio-helper", msg);
        }
        if (cfg->prio_bound > 0 && rs->prio.bound != cfg->prio_bound) {
            snprintf(msg, sizeof msg, "norm bound %g, this owner expects %g", rs->prio.bound,
                     cfg->prio_bound);
            return refuse(o, rs->round, "prio-bound", msg);
        }
    }
    if (cfg->admit && cfg->admit(cfg->ctx, rule, why, sizeof why, rs, o->coord_fp))
        return refuse(o, rs->round, rule[0] ? rule : "policy", why);
    if (rs->aggregation == GDN_WIRE_AGG_SECAGG)
        return secagg_round(o, rs);

    if ((rc = start_training(&th, &job, o, rs)))
        return rc;
    /* Meanwhile: heartbeats, and whatever the coordinator says. */
    rc = 0;
    while (!atomic_load(&job.finished)) {
        gdn_frame f;
        gdn_wire_msg m;
        int r = next_frame(o, &f, rs->round);
        if (r < 0 || stopped(o)) {
            rc = r < 0 ? r : GDN_EINTR;
            break;
        }
        if (r == 0)
            continue;
        if ((r = decode(&m, &f, o)) || (r = common_message(o, &m)) < 0) {
            rc = r;
            break;
        }
        if (r == 0 && m.type == GDN_WIRE_ROUND_END && m.u.round_end.round == rs->round)
            abandoned = 1; /* the round ended without us (deadline) */
        else if (r == 0 && m.type == GDN_WIRE_HE_PHASE) { /* as a holder, for the round */
            if ((rc = he_phase(o, &m.u.he_phase, rs->round)))
                break;
        } else if (r == 0) {
            rc = gdn_error(GDN_EFORMAT, "%s: %s during training", gdn_tls_peer_label(o->c),
                           gdn_wire_type_name(m.type));
            break;
        }
    }
    pthread_join(th, NULL);
    gdn_rng_wipe(&job.rng);
    if (rc)
        return rc;
    if (job.rc) {
        send_error(o, GDN_WIRE_ERR_INTERNAL, job.err);
        o->fatal = 1;
        return gdn_error(job.rc, "training: %s", job.err);
    }
    if (abandoned || o->done) {
        gdn_log(GDN_LOG_WARN, "round %llu ended before this owner finished training",
                (unsigned long long)rs->round);
        return 0;
    }
    if (rs->aggregation == GDN_WIRE_AGG_HE)
        return send_he_update(o, rs, job.loss);
    if (rs->aggregation == GDN_WIRE_AGG_PRIO3)
        rc = send_prio_report(o, rs, job.loss);
    else if (cfg->attack_scale != 0 && cfg->attack_scale != 1) {
        gdn_fl_attack_update(gdn_model_params(o->model), o->global, o->dim, cfg->attack_scale);
        rc = send_update(o, rs, job.loss);
    } else
        rc = send_update(o, rs, job.loss);
    if (rc)
        return rc;
    gdn_log(GDN_LOG_INFO, "round %llu: trained on %zu examples as owner %llu, loss %.4f "
            "(%.2f s); %s sent", (unsigned long long)rs->round, o->n,
            (unsigned long long)rs->client_index, job.loss, gdn_now() - t0,
            rs->aggregation == GDN_WIRE_AGG_PRIO3 ? "validated report" : "update");
    return 0;
}

/* ---- The ledger ------------------------------------------------------------------- */

/* A new signed head after a round: checked against the one held (a forked
 * or rewritten history ends the run: split view), co-signed, sent back. */
static int ledger_head(owner *o, const gdn_wire_ledger_head *h)
{
    const gdn_owner_ledger *l = o->cfg->ledger;
    gdn_wire_msg m;
    int rc;

    if (!l)
        return 0;
    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_COSIGN;
    if ((rc = l->check(l->ctx, m.u.cosign.cosig, &m.u.cosign.size, o->coord_pk, h->head,
                       h->proof, h->proof_len, h->from_size))) {
        char why[700];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        send_error(o, GDN_WIRE_ERR_STATE, "ledger head refused");
        o->fatal = 1;
        return gdn_error(rc, "round %llu: the coordinator's ledger head is refused: %s",
                         (unsigned long long)h->round, why);
    }
    return send_msg(o, &m);
}

/* ---- A session ------------------------------------------------------------------ */

static int hello(owner *o)
{
    gdn_wire_msg m;
    gdn_frame f;
    uint8_t peer[GDN_NET_FINGERPRINT_BYTES];
    int rc;
    double deadline = gdn_now() + CONNECT_MS / 1000.0;

    for (;;) { /* the coordinator speaks first */
        if ((rc = recv_frame(o, &f, deadline)) < 0)
            return rc;
        if (rc == GDN_NET_CLOSED)
            return gdn_error(GDN_EIO, "%s: closed before its Welcome", gdn_tls_peer_label(o->c));
        if (rc == 0)
            return gdn_error(GDN_EIO, "%s: no Welcome within %d ms", gdn_tls_peer_label(o->c),
                             CONNECT_MS);
        break;
    }
    if ((rc = decode(&m, &f, o))) {
        o->fatal = 1; /* another protocol version, most likely */
        return rc;
    }
    if (m.type != GDN_WIRE_WELCOME)
        return gdn_error(GDN_EFORMAT, "%s: sent %s before Welcome", gdn_tls_peer_label(o->c),
                         gdn_wire_type_name(m.type));
    if (!m.u.welcome.accepted) {
        o->fatal = 1;
        return gdn_error(GDN_ESTATE, "%s: refused us: %s", gdn_tls_peer_label(o->c),
                         m.u.welcome.reason);
    }
    if ((rc = gdn_tls_peer_fingerprint(peer, o->c)) ||
        (rc = gdn_tls_peer_public_key(o->coord_pk, o->c)))
        return rc;
    memcpy(o->coord_fp, peer, sizeof peer);
    if (sodium_memcmp(peer, m.u.welcome.coordinator_fingerprint, sizeof peer) != 0 ||
        (o->cfg->coordinator && sodium_memcmp(peer, o->cfg->coordinator, sizeof peer) != 0)) {
        char hex[GDN_NET_FINGERPRINT_HEX_BYTES];
        gdn_net_fingerprint_hex(hex, peer);
        o->fatal = 1;
        return gdn_error(GDN_ECRYPTO, "%s: coordinator %s is not the one %s",
                         gdn_tls_peer_label(o->c), hex,
                         o->cfg->coordinator ? "this owner trusts" : "its Welcome names");
    }
    o->heartbeat_ms = m.u.welcome.heartbeat_ms;
    o->idle_ms = m.u.welcome.idle_timeout_ms;
    o->max_frame = m.u.welcome.max_frame_bytes;
    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_HELLO;
    m.u.hello.protocol_version = GDN_WIRE_VERSION;
    memcpy(m.u.hello.client_fingerprint, o->fp, sizeof o->fp);
    m.u.hello.examples = o->n;
    m.u.hello.capabilities = GDN_WIRE_CAP_SECAGG | GDN_WIRE_CAP_DP | GDN_WIRE_CAP_PRIO3;
    if (o->he) {
        m.u.hello.capabilities |= GDN_WIRE_CAP_HE;
        net_he_owner_session(o->he, o->coord_fp);
    }
    if (o->cfg->ledger)
        m.u.hello.ledger_size = o->cfg->ledger->held(o->cfg->ledger->ctx, o->coord_pk);
    return send_msg(o, &m);
}

static int session(owner *o)
{
    int rc;

    o->hb_tx = o->hb_rx = 0;
    o->welcomed = 0;
    if ((rc = gdn_tls_connect(&o->c, o->tls, o->cfg->host, o->cfg->port, CONNECT_MS)))
        return rc;
    o->t_rx = o->t_tx = gdn_now();
    o->idle_ms = CONNECT_MS;
    o->max_frame = 4096;
    if ((rc = gdn_frame_decoder_new(&o->dec, GDN_FRAME_MAX_DEFAULT)) || (rc = hello(o)))
        goto done;
    o->welcomed = 1;
    gdn_log(GDN_LOG_INFO, "joined the federation at %s:%u with %zu examples", o->cfg->host,
            o->cfg->port, o->n);
    while (!o->done) {
        gdn_frame f;
        gdn_wire_msg m;
        if (stopped(o)) {
            memset(&m, 0, sizeof m);
            m.type = GDN_WIRE_BYE;
            m.u.bye.reason = GDN_WIRE_BYE_LEAVING;
            snprintf(m.u.bye.message, sizeof m.u.bye.message, "stopped by its operator");
            send_msg(o, &m);
            break;
        }
        if ((rc = next_frame(o, &f, 0)) < 0)
            break;
        if (rc == 0)
            continue;
        if ((rc = decode(&m, &f, o)) || (rc = common_message(o, &m)) < 0)
            break;
        rc = 0;
        if (m.type == GDN_WIRE_ROUND_START) {
            if ((rc = take_round(o, &m.u.round_start)))
                break;
        } else if (m.type == GDN_WIRE_ROUND_END) {
            const gdn_wire_round_end *e = &m.u.round_end;
            if (e->evaluated)
                gdn_log(GDN_LOG_INFO, "round %llu %s: %u updates, test accuracy %.2f%%",
                        (unsigned long long)e->round,
                        e->outcome == GDN_WIRE_OUTCOME_COMPLETED ? "completed" : "failed",
                        e->cohort, 100 * e->test_accuracy);
            else
                gdn_log(GDN_LOG_INFO, "round %llu %s: %u updates%s%s", (unsigned long long)e->round,
                        e->outcome == GDN_WIRE_OUTCOME_COMPLETED ? "completed" : "failed",
                        e->cohort, e->message[0] ? "; " : "", e->message);
        } else if (m.type == GDN_WIRE_LEDGER_HEAD) {
            if ((rc = ledger_head(o, &m.u.ledger_head)))
                break;
        } else if (m.type == GDN_WIRE_HE_PHASE) {
            if ((rc = he_phase(o, &m.u.he_phase, 0)))
                break;
        } else if (m.type == GDN_WIRE_SECAGG_PHASE) { /* of a round it declined: drop */
            gdn_buf drop = {0};
            rc = read_object(o, &drop, m.u.secagg_phase.stream, m.u.secagg_phase.bytes, 0);
            gdn_buf_free(&drop);
            if (rc)
                break;
        } else if (m.type != GDN_WIRE_HEARTBEAT && m.type != GDN_WIRE_BYE) {
            rc = gdn_error(GDN_EFORMAT, "%s: unexpected %s", gdn_tls_peer_label(o->c),
                           gdn_wire_type_name(m.type));
            send_error(o, GDN_WIRE_ERR_STATE, gdn_errmsg());
            break;
        }
    }
done:
    if (!rc || o->done)
        gdn_tls_shutdown(o->c);
    gdn_tls_conn_free(o->c);
    o->c = NULL;
    gdn_frame_decoder_free(o->dec);
    o->dec = NULL;
    return o->done ? 0 : rc;
}

static void pause_for(const owner *o, double seconds)
{
    double end = gdn_now() + seconds;

    while (!stopped(o) && gdn_now() < end) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int gdn_owner_run(const gdn_owner_config *cfg)
{
    owner o;
    double retry = (cfg->retry_ms ? cfg->retry_ms : 60000) / 1000.0, backoff = 0.2;
    double last_ok;
    int rc;

    memset(&o, 0, sizeof o);
    o.cfg = cfg;
    o.idx = cfg->idx;
    o.n = cfg->idx ? cfg->n : cfg->data->n;
    if (!o.n || o.n > GDN_WIRE_MAX_EXAMPLES)
        return gdn_error(GDN_EINVAL, "data owner: %zu examples (1 .. 2^26 needed)", o.n);
    if (!cfg->idx) {
        if (!(o.own_idx = malloc(o.n * sizeof *o.own_idx)))
            return gdn_error(GDN_ENOMEM, "out of memory");
        for (size_t i = 0; i < o.n; i++)
            o.own_idx[i] = (uint32_t)i;
        o.idx = o.own_idx;
    }
    {
        char key[4200];
        if (cfg->tls.key_file)
            snprintf(key, sizeof key, "%s", cfg->tls.key_file);
        else
            snprintf(key, sizeof key, "%s/key.pem", cfg->tls.dir ? cfg->tls.dir : ".");
        if ((rc = gdn_net_identity_secret(o.id_sk, key)))
            goto done;
    }
    if (cfg->he_dir && (rc = net_he_owner_new(&o.he, cfg->he_dir, o.id_sk)))
        goto done;
    if ((rc = gdn_tls_ctx_new_client(&o.tls, &cfg->tls)))
        goto done;
    gdn_tls_ctx_fingerprint(o.fp, o.tls);
    last_ok = gdn_now();
    for (;;) {
        rc = session(&o);
        if (o.done || stopped(&o)) {
            rc = 0;
            break;
        }
        if (o.welcomed) { /* got in: start the clock again */
            last_ok = gdn_now();
            backoff = 0.2;
        }
        if (o.fatal || rc == GDN_ECRYPTO || cfg->no_reconnect)
            break;
        if (gdn_now() - last_ok > retry) {
            char why[600];
            snprintf(why, sizeof why, "%s", gdn_errmsg());
            rc = gdn_error(rc, "gave up after %.0f s without the coordinator: %s", retry, why);
            break;
        }
        gdn_log(GDN_LOG_WARN, "%s; reconnecting in %.1f s", gdn_errmsg(), backoff);
        pause_for(&o, backoff);
        backoff = backoff * 2 < 2 ? backoff * 2 : 2;
    }
done:
    sodium_memzero(o.id_sk, sizeof o.id_sk);
    net_he_owner_free(o.he);
    gdn_tls_ctx_free(o.tls);
    gdn_model_free(o.model);
    free(o.global);
    free(o.own_idx);
    return rc;
}
