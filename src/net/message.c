/* Protocol messages: the checked C view of proto/guardian.proto. Decoding
 * unpacks with protobuf-c, then refuses unknown fields and any encoding
 * protobuf-c would not write itself (its re-encoded size must equal the
 * input's), then copies every field into gdn_wire_msg through the same
 * bounds encoding enforces. Static helpers first, public functions last. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "guardian.pb-c.h"
#include "guardian/net.h"
#include "guardian/wire.h"

#define MIN_FRAME_BYTES 4096u

typedef enum { TEXT_UTF8, TEXT_ID, TEXT_SPEC } text_kind;

static const char *const type_names[] = {
    "?", "Hello", "Welcome", "RoundStart", "Update", "Heartbeat",
    "RoundEnd", "Refusal", "Bye", "Error", "SecaggPhase", "LedgerHead", "Cosign",
    "PrioReport", "PrioStep", "?", "HePhase"};

/* ---- Errors ---------------------------------------------------------------- */

/* "RoundStart.lr: -0.5 is not > 0" with code (GDN_EFORMAT or GDN_EINVAL). */
static int bad(int code, int type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(int code, int type, const char *field, const char *fmt, ...)
{
    char detail[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return gdn_error(code, "%s.%s: %s", gdn_wire_type_name(type), field, detail);
}

/* ---- Field checks ------------------------------------------------------------- */

static int id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

/* s must hold a NUL within max + 1 bytes; min..max bytes of the kind. */
static int check_text(int code, int type, const char *field, const char *s, size_t max,
                      size_t min, text_kind kind)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strnlen(s, max + 1), i, k;

    if (n > max)
        return bad(code, type, field, "longer than %zu bytes", max);
    if (n < min)
        return bad(code, type, field, "empty");
    for (i = 0; i < n; i += k) {
        k = 1;
        if (kind == TEXT_ID && !id_char(u[i]))
            return bad(code, type, field, "byte %zu (0x%02x) is not one of [A-Za-z0-9._:-]",
                       i, u[i]);
        if (kind == TEXT_SPEC && (u[i] < 0x21 || u[i] > 0x7e))
            return bad(code, type, field, "byte %zu (0x%02x) is not printable ASCII", i,
                       u[i]);
        if (kind == TEXT_UTF8 && !(k = gdn_utf8_seq(u + i, n - i)))
            return bad(code, type, field, "invalid UTF-8 at byte %zu", i);
    }
    return 0;
}

static int check_u64(int code, int type, const char *field, uint64_t v, uint64_t lo,
                     uint64_t hi)
{
    if (v < lo || v > hi)
        return bad(code, type, field, "%llu is outside [%llu, %llu]", (unsigned long long)v,
                   (unsigned long long)lo, (unsigned long long)hi);
    return 0;
}

/* A finite v with lo <= v (lo_open: lo < v) and v <= hi (hi_open: v < hi). */
static int check_real(int code, int type, const char *field, double v, double lo,
                      int lo_open, double hi, int hi_open)
{
    if (!isfinite(v))
        return bad(code, type, field, "%g is not finite", v);
    if (lo_open ? !(v > lo) : !(v >= lo))
        return bad(code, type, field, "%.9g is not %s %g", v, lo_open ? ">" : ">=", lo);
    if (hi_open ? !(v < hi) : !(v <= hi))
        return bad(code, type, field, "%.9g is not %s %g", v, hi_open ? "<" : "<=", hi);
    return 0;
}

static int check_payload_bytes(int code, int type, const char *field, uint64_t bytes)
{
    if (bytes % 4)
        return bad(code, type, field, "%llu is not a multiple of 4 (float32 values)",
                   (unsigned long long)bytes);
    return check_u64(code, type, field, bytes, 4, 4 * GDN_WIRE_MAX_PARAMS);
}

static int check_version(int code, int type, uint32_t version)
{
    if (version != GDN_WIRE_VERSION)
        return bad(code, type, "protocol_version", "protocol version %u, this side speaks %d",
                   version, GDN_WIRE_VERSION);
    return 0;
}

/* ---- Message checks (code: GDN_EFORMAT when decoding, GDN_EINVAL encoding) ---- */

#define TRY(call)                                                                       \
    do {                                                                                \
        int rc_ = (call);                                                               \
        if (rc_)                                                                        \
            return rc_;                                                                 \
    } while (0)

static int check_hello(int c, const gdn_wire_hello *m)
{
    const int t = GDN_WIRE_HELLO;

    TRY(check_version(c, t, m->protocol_version));
    TRY(check_u64(c, t, "examples", m->examples, 1, GDN_WIRE_MAX_EXAMPLES));
    if (m->capabilities & ~(uint64_t)GDN_WIRE_CAP_ALL)
        return bad(c, t, "capabilities", "unknown bits 0x%llx",
                   (unsigned long long)(m->capabilities & ~(uint64_t)GDN_WIRE_CAP_ALL));
    return 0;
}

static int check_welcome(int c, const gdn_wire_welcome *m)
{
    const int t = GDN_WIRE_WELCOME;

    TRY(check_version(c, t, m->protocol_version));
    TRY(check_text(c, t, "federation_id", m->federation_id, GDN_WIRE_MAX_ID, 1, TEXT_ID));
    if (!m->accepted) {
        TRY(check_text(c, t, "reason", m->reason, GDN_WIRE_MAX_TEXT, 1, TEXT_UTF8));
        if (m->heartbeat_ms || m->idle_timeout_ms || m->max_frame_bytes)
            return bad(c, t, "heartbeat_ms", "timers and limits set on a refusal");
        return 0;
    }
    TRY(check_text(c, t, "reason", m->reason, 0, 0, TEXT_UTF8));
    TRY(check_u64(c, t, "heartbeat_ms", m->heartbeat_ms, 1, UINT32_MAX - 1));
    TRY(check_u64(c, t, "idle_timeout_ms", m->idle_timeout_ms, (uint64_t)m->heartbeat_ms + 1,
                  UINT32_MAX));
    TRY(check_u64(c, t, "max_frame_bytes", m->max_frame_bytes, MIN_FRAME_BYTES,
                  GDN_FRAME_MAX_LIMIT));
    return 0;
}

static int check_secagg(int c, const gdn_wire_secagg *s)
{
    const int t = GDN_WIRE_ROUND_START;

    TRY(check_u64(c, t, "secagg.n", s->n, 2, GDN_WIRE_MAX_SECAGG_CLIENTS));
    TRY(check_u64(c, t, "secagg.k", s->k, 1, s->n - 1));
    /* secagg.h: k even and < n - 1, or n - 1 (the complete graph). */
    if (s->k != s->n - 1 && s->k % 2)
        return bad(c, t, "secagg.k", "%u is odd and not n - 1 = %u", s->k, s->n - 1);
    TRY(check_u64(c, t, "secagg.t", s->t, 2, s->k));
    TRY(check_u64(c, t, "secagg.bits", s->bits, 1, 32));
    TRY(check_u64(c, t, "secagg.length", s->length, 1, GDN_WIRE_MAX_SECAGG_LENGTH));
    TRY(check_real(c, t, "secagg.clip", s->clip, 0, 1, INFINITY, 0));
    TRY(check_u64(c, t, "secagg.levels", s->levels, 2, UINT32_MAX));
    TRY(check_real(c, t, "secagg.weight_scale", s->weight_scale, 1, 0, INFINITY, 0));
    return 0;
}

static int check_he(int c, const gdn_wire_he *h)
{
    const int t = GDN_WIRE_ROUND_START;

    TRY(check_u64(c, t, "he.holders", h->holders, 2, GDN_WIRE_HE_MAX_HOLDERS));
    TRY(check_u64(c, t, "he.threshold", h->threshold, 2, h->holders));
    TRY(check_real(c, t, "he.clip", h->clip, 0, 1, 0x1p20, 0));
    TRY(check_real(c, t, "he.weight_scale", h->weight_scale, 1, 0, INFINITY, 0));
    return 0;
}

static int check_round_start(int c, const gdn_wire_round_start *m)
{
    const int t = GDN_WIRE_ROUND_START;

    TRY(check_u64(c, t, "round", m->round, 1, UINT64_MAX));
    TRY(check_u64(c, t, "client_index", m->client_index, 0, GDN_WIRE_MAX_CLIENT_INDEX));
    TRY(check_text(c, t, "model", m->model, GDN_WIRE_MAX_MODEL_SPEC, 1, TEXT_SPEC));
    TRY(check_u64(c, t, "local_epochs", m->local_epochs, 1, GDN_WIRE_MAX_EPOCHS));
    TRY(check_u64(c, t, "batch", m->batch, 1, GDN_WIRE_MAX_EXAMPLES));
    TRY(check_real(c, t, "lr", m->lr, 0, 1, INFINITY, 0));
    TRY(check_real(c, t, "momentum", m->momentum, 0, 0, 1, 1));
    TRY(check_real(c, t, "weight_decay", m->weight_decay, 0, 0, INFINITY, 0));
    TRY(check_real(c, t, "prox_mu", m->prox_mu, 0, 0, INFINITY, 0));
    if ((unsigned)m->aggregation > GDN_WIRE_AGG_PRIO3)
        return bad(c, t, "aggregation", "unknown mode %d", (int)m->aggregation);
    if (m->dp.enabled) {
        TRY(check_real(c, t, "dp.clip", m->dp.clip, 0, 1, INFINITY, 0));
        TRY(check_real(c, t, "dp.noise_multiplier", m->dp.noise_multiplier, 0, 0, INFINITY,
                       0));
        TRY(check_real(c, t, "dp.delta", m->dp.delta, 0, 1, 1, 1));
        TRY(check_real(c, t, "dp.sampling_rate", m->dp.sampling_rate, 0, 1, 1, 0));
        if (m->dp.distributed) {
            TRY(check_u64(c, t, "dp.ddg_bits", m->dp.ddg_bits, 2, 32));
            TRY(check_real(c, t, "dp.ddg_gamma", m->dp.ddg_gamma, 0, 1, INFINITY, 0));
            TRY(check_u64(c, t, "dp.ddg_clients", m->dp.ddg_clients, 1, UINT32_MAX));
            if (m->aggregation != GDN_WIRE_AGG_SECAGG)
                return bad(c, t, "dp.distributed", "distributed DP needs a SecAgg+ round");
        } else if (m->dp.ddg_bits || m->dp.ddg_gamma != 0 || m->dp.ddg_clients) {
            return bad(c, t, "dp.distributed", "distributed DP's settings in a central round");
        }
    }
    if (m->aggregation == GDN_WIRE_AGG_SECAGG)
        TRY(check_secagg(c, &m->secagg));
    if (m->aggregation == GDN_WIRE_AGG_HE)
        TRY(check_he(c, &m->he));
    if (m->aggregation == GDN_WIRE_AGG_PRIO3) {
        TRY(check_real(c, t, "prio.bound", m->prio.bound, 0, 1, GDN_WIRE_MAX_PRIO_BOUND, 0));
        if (m->dp.enabled)
            return bad(c, t, "dp", "DP settings in a validated (prio) round");
    }
    TRY(check_u64(c, t, "model_stream", m->model_stream, 1, UINT32_MAX));
    TRY(check_payload_bytes(c, t, "model_bytes", m->model_bytes));
    TRY(check_u64(c, t, "deadline_ms", m->deadline_ms, 1, UINT32_MAX));
    TRY(check_u64(c, t, "cohort", m->cohort, 1, GDN_WIRE_MAX_CLIENT_INDEX));
    return 0;
}

static int check_update(int c, const gdn_wire_update *m)
{
    const int t = GDN_WIRE_UPDATE;

    TRY(check_u64(c, t, "round", m->round, 1, UINT64_MAX));
    TRY(check_u64(c, t, "client_index", m->client_index, 0, GDN_WIRE_MAX_CLIENT_INDEX));
    TRY(check_u64(c, t, "examples", m->examples, 1, GDN_WIRE_MAX_EXAMPLES));
    TRY(check_real(c, t, "mean_loss", m->mean_loss, 0, 0, INFINITY, 0));
    TRY(check_u64(c, t, "update_stream", m->update_stream, 1, UINT32_MAX));
    TRY(check_payload_bytes(c, t, "update_bytes", m->update_bytes));
    return 0;
}

static int check_round_end(int c, const gdn_wire_round_end *m)
{
    const int t = GDN_WIRE_ROUND_END;

    TRY(check_u64(c, t, "round", m->round, 1, UINT64_MAX));
    TRY(check_u64(c, t, "outcome", (unsigned)m->outcome, GDN_WIRE_OUTCOME_COMPLETED,
                  GDN_WIRE_OUTCOME_ABORTED));
    TRY(check_real(c, t, "metrics.train_loss", m->train_loss, 0, 0, INFINITY, 0));
    TRY(check_real(c, t, "metrics.test_loss", m->test_loss, 0, 0, INFINITY, 0));
    TRY(check_real(c, t, "metrics.test_accuracy", m->test_accuracy, 0, 0, 1, 0));
    if (!m->evaluated && (m->test_loss != 0 || m->test_accuracy != 0))
        return bad(c, t, "metrics.evaluated", "test metrics without an evaluation");
    TRY(check_real(c, t, "metrics.epsilon", m->epsilon, 0, 0, INFINITY, 0));
    TRY(check_text(c, t, "message", m->message, GDN_WIRE_MAX_TEXT, 0, TEXT_UTF8));
    return 0;
}

static int check_msg(int c, const gdn_wire_msg *m)
{
    switch (m->type) {
    case GDN_WIRE_HELLO:
        return check_hello(c, &m->u.hello);
    case GDN_WIRE_WELCOME:
        return check_welcome(c, &m->u.welcome);
    case GDN_WIRE_ROUND_START:
        return check_round_start(c, &m->u.round_start);
    case GDN_WIRE_UPDATE:
        return check_update(c, &m->u.update);
    case GDN_WIRE_HEARTBEAT:
        return check_u64(c, m->type, "sequence", m->u.heartbeat.sequence, 1, UINT64_MAX);
    case GDN_WIRE_ROUND_END:
        return check_round_end(c, &m->u.round_end);
    case GDN_WIRE_REFUSAL:
        TRY(check_u64(c, m->type, "round", m->u.refusal.round, 1, UINT64_MAX));
        TRY(check_text(c, m->type, "rule", m->u.refusal.rule, GDN_WIRE_MAX_RULE, 1, TEXT_ID));
        return check_text(c, m->type, "message", m->u.refusal.message, GDN_WIRE_MAX_TEXT, 0,
                          TEXT_UTF8);
    case GDN_WIRE_BYE:
        TRY(check_u64(c, m->type, "reason", (unsigned)m->u.bye.reason, GDN_WIRE_BYE_DONE,
                      GDN_WIRE_BYE_SHUTDOWN));
        return check_text(c, m->type, "message", m->u.bye.message, GDN_WIRE_MAX_TEXT, 0,
                          TEXT_UTF8);
    case GDN_WIRE_SECAGG_PHASE:
        TRY(check_u64(c, m->type, "round", m->u.secagg_phase.round, 1, UINT64_MAX));
        TRY(check_u64(c, m->type, "phase", m->u.secagg_phase.phase, 1,
                      GDN_WIRE_MAX_SECAGG_PHASE));
        TRY(check_u64(c, m->type, "stream", m->u.secagg_phase.stream, 1, UINT32_MAX));
        return check_u64(c, m->type, "bytes", m->u.secagg_phase.bytes, 1,
                         GDN_WIRE_MAX_SECAGG_BYTES);
    case GDN_WIRE_HE_PHASE: {
        const gdn_wire_he_phase *h = &m->u.he_phase;
        TRY(check_u64(c, m->type, "phase", h->phase, GDN_WIRE_HE_SETUP, GDN_WIRE_HE_DECRYPT));
        if (h->phase == GDN_WIRE_HE_DECRYPT)
            TRY(check_u64(c, m->type, "round", h->round, 1, UINT64_MAX));
        else if (h->round)
            return bad(c, m->type, "round", "%llu in a set-up phase (must be absent)",
                       (unsigned long long)h->round);
        TRY(check_u64(c, m->type, "stream", h->stream, 1, UINT32_MAX));
        return check_u64(c, m->type, "bytes", h->bytes, 1, GDN_WIRE_MAX_HE_BYTES);
    }
    case GDN_WIRE_LEDGER_HEAD:
        TRY(check_u64(c, m->type, "round", m->u.ledger_head.round, 1, UINT64_MAX));
        if (m->u.ledger_head.proof_len % 32 ||
            m->u.ledger_head.proof_len > sizeof m->u.ledger_head.proof)
            return bad(c, m->type, "proof", "%zu bytes, not 0..%d hashes of 32",
                       m->u.ledger_head.proof_len, GDN_WIRE_MAX_PROOF);
        if (!m->u.ledger_head.from_size && m->u.ledger_head.proof_len)
            return bad(c, m->type, "proof", "a proof from size 0");
        return 0;
    case GDN_WIRE_COSIGN:
        return check_u64(c, m->type, "size", m->u.cosign.size, 1, UINT64_MAX);
    case GDN_WIRE_PRIO_REPORT: {
        const gdn_wire_prio_report *r = &m->u.prio_report;
        TRY(check_u64(c, m->type, "round", r->round, 1, UINT64_MAX));
        TRY(check_u64(c, m->type, "client_index", r->client_index, 0,
                      GDN_WIRE_MAX_CLIENT_INDEX));
        TRY(check_u64(c, m->type, "examples", r->examples, 1, GDN_WIRE_MAX_EXAMPLES));
        TRY(check_real(c, m->type, "mean_loss", r->mean_loss, 0, 0, INFINITY, 0));
        TRY(check_u64(c, m->type, "stream", r->stream, 1, UINT32_MAX));
        return check_u64(c, m->type, "bytes", r->bytes, 1, GDN_WIRE_MAX_PRIO_BYTES);
    }
    case GDN_WIRE_PRIO_STEP:
        TRY(check_u64(c, m->type, "round", m->u.prio_step.round, 1, UINT64_MAX));
        TRY(check_u64(c, m->type, "step", m->u.prio_step.step, 1, GDN_WIRE_MAX_PRIO_STEP));
        TRY(check_u64(c, m->type, "stream", m->u.prio_step.stream, 1, UINT32_MAX));
        return check_u64(c, m->type, "bytes", m->u.prio_step.bytes, 1,
                         GDN_WIRE_MAX_PRIO_BYTES);
    case GDN_WIRE_ERROR:
        TRY(check_u64(c, m->type, "code", (unsigned)m->u.error.code, GDN_WIRE_ERR_PROTOCOL,
                      GDN_WIRE_ERR_INTERNAL));
        return check_text(c, m->type, "message", m->u.error.message, GDN_WIRE_MAX_TEXT, 0,
                          TEXT_UTF8);
    }
    return gdn_error(c, "message type %d is not valid", (int)m->type);
}

/* ---- From protobuf-c's structs ----------------------------------------------- */

/* Copies a protobuf string into a field of max + 1 bytes. */
static int get_text(char *dst, size_t max, int type, const char *field, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n > max)
        return bad(GDN_EFORMAT, type, field, "longer than %zu bytes", max);
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
    return 0;
}

static int get_bytes(uint8_t *dst, size_t want, int type, const char *field,
                     ProtobufCBinaryData b)
{
    if (b.len != want)
        return bad(GDN_EFORMAT, type, field, "%zu bytes, expected %zu", b.len, want);
    memcpy(dst, b.data, want);
    return 0;
}

static int no_unknown(const ProtobufCMessage *pm, int type, const char *where)
{
    if (pm && pm->n_unknown_fields)
        return gdn_error(GDN_EFORMAT, "%s%s%s: unknown field %u (another protocol version?)",
                         type ? gdn_wire_type_name(type) : "Envelope", *where ? "." : "", where,
                         (unsigned)pm->unknown_fields[0].tag);
    return 0;
}

static int from_round_start(gdn_wire_round_start *o, const Guardian__RoundStart *p)
{
    const int t = GDN_WIRE_ROUND_START;

    TRY(no_unknown(p->dp ? &p->dp->base : NULL, t, "dp"));
    TRY(no_unknown(p->secagg ? &p->secagg->base : NULL, t, "secagg"));
    TRY(no_unknown(p->he ? &p->he->base : NULL, t, "he"));
    TRY(no_unknown(p->prio ? &p->prio->base : NULL, t, "prio"));
    o->round = p->round;
    o->seed = p->seed;
    o->client_index = p->client_index;
    TRY(get_text(o->model, GDN_WIRE_MAX_MODEL_SPEC, t, "model", p->model));
    o->local_epochs = p->local_epochs;
    o->batch = p->batch;
    o->lr = p->lr;
    o->momentum = p->momentum;
    o->weight_decay = p->weight_decay;
    o->prox_mu = p->prox_mu;
    o->aggregation = (gdn_wire_aggregation)p->aggregation;
    if (p->dp) {
        o->dp.enabled = 1;
        o->dp.clip = p->dp->clip;
        o->dp.noise_multiplier = p->dp->noise_multiplier;
        o->dp.delta = p->dp->delta;
        o->dp.sampling_rate = p->dp->sampling_rate;
        o->dp.distributed = p->dp->distributed != 0;
        o->dp.ddg_bits = p->dp->ddg_bits;
        o->dp.ddg_gamma = p->dp->ddg_gamma;
        o->dp.ddg_clients = p->dp->ddg_clients;
    }
    if ((p->secagg != NULL) != (p->aggregation == GUARDIAN__AGGREGATION__AGGREGATION_SECAGG))
        return bad(GDN_EFORMAT, t, "secagg",
                   p->secagg ? "present but aggregation is not secagg"
                             : "missing for a secagg round");
    if (p->secagg) {
        const Guardian__SecaggParams *s = p->secagg;
        o->secagg.n = s->n;
        o->secagg.k = s->k;
        o->secagg.t = s->t;
        o->secagg.bits = s->bits;
        o->secagg.length = s->length;
        TRY(get_bytes(o->secagg.session, GDN_WIRE_SESSION_BYTES, t, "secagg.session",
                      s->session));
        o->secagg.clip = s->clip;
        o->secagg.levels = s->levels;
        o->secagg.weight_scale = s->weight_scale;
    }
    if ((p->he != NULL) != (p->aggregation == GUARDIAN__AGGREGATION__AGGREGATION_HE))
        return bad(GDN_EFORMAT, t, "he",
                   p->he ? "present but aggregation is not HE" : "missing for an HE round");
    if (p->he) {
        o->he.holders = p->he->holders;
        o->he.threshold = p->he->threshold;
        o->he.clip = p->he->clip;
        o->he.weight_scale = p->he->weight_scale;
        TRY(get_bytes(o->he.key_id, GDN_WIRE_HE_KEY_ID_BYTES, t, "he.key_id", p->he->key_id));
    }
    if ((p->prio != NULL) != (p->aggregation == GUARDIAN__AGGREGATION__AGGREGATION_PRIO3))
        return bad(GDN_EFORMAT, t, "prio",
                   p->prio ? "present but aggregation is not prio3"
                           : "missing for a prio3 round");
    if (p->prio) {
        o->prio.bound = p->prio->bound;
        TRY(get_bytes(o->prio.helper_key, 32, t, "prio.helper_key", p->prio->helper_key));
    }
    o->model_stream = p->model_stream;
    o->model_bytes = p->model_bytes;
    o->deadline_ms = p->deadline_ms;
    o->cohort = p->cohort;
    return 0;
}

static int from_envelope(gdn_wire_msg *o, const Guardian__Envelope *e)
{
    int t = (int)e->body_case;

    o->type = (gdn_wire_type)t;
    switch (e->body_case) {
    case GUARDIAN__ENVELOPE__BODY_HELLO: {
        const Guardian__Hello *p = e->hello;
        o->u.hello.protocol_version = p->protocol_version;
        TRY(check_version(GDN_EFORMAT, t, p->protocol_version));
        TRY(no_unknown(&p->base, t, ""));
        TRY(get_bytes(o->u.hello.client_fingerprint, GDN_WIRE_FINGERPRINT_BYTES, t,
                      "client_fingerprint", p->client_fingerprint));
        o->u.hello.examples = p->examples;
        o->u.hello.capabilities = p->capabilities;
        o->u.hello.ledger_size = p->ledger_size;
        return 0;
    }
    case GUARDIAN__ENVELOPE__BODY_WELCOME: {
        const Guardian__Welcome *p = e->welcome;
        gdn_wire_welcome *w = &o->u.welcome;
        w->protocol_version = p->protocol_version;
        TRY(check_version(GDN_EFORMAT, t, p->protocol_version));
        TRY(no_unknown(&p->base, t, ""));
        w->accepted = p->accepted != 0;
        TRY(get_text(w->reason, GDN_WIRE_MAX_TEXT, t, "reason", p->reason));
        TRY(get_text(w->federation_id, GDN_WIRE_MAX_ID, t, "federation_id", p->federation_id));
        TRY(get_bytes(w->coordinator_fingerprint, GDN_WIRE_FINGERPRINT_BYTES, t,
                      "coordinator_fingerprint", p->coordinator_fingerprint));
        w->heartbeat_ms = p->heartbeat_ms;
        w->idle_timeout_ms = p->idle_timeout_ms;
        w->max_frame_bytes = p->max_frame_bytes;
        return 0;
    }
    case GUARDIAN__ENVELOPE__BODY_ROUND_START:
        TRY(no_unknown(&e->round_start->base, t, ""));
        return from_round_start(&o->u.round_start, e->round_start);
    case GUARDIAN__ENVELOPE__BODY_UPDATE: {
        const Guardian__Update *p = e->update;
        TRY(no_unknown(&p->base, t, ""));
        o->u.update.round = p->round;
        o->u.update.client_index = p->client_index;
        o->u.update.examples = p->examples;
        o->u.update.mean_loss = p->mean_loss;
        o->u.update.update_stream = p->update_stream;
        o->u.update.update_bytes = p->update_bytes;
        return 0;
    }
    case GUARDIAN__ENVELOPE__BODY_HEARTBEAT:
        TRY(no_unknown(&e->heartbeat->base, t, ""));
        o->u.heartbeat.sequence = e->heartbeat->sequence;
        o->u.heartbeat.round = e->heartbeat->round;
        return 0;
    case GUARDIAN__ENVELOPE__BODY_ROUND_END: {
        const Guardian__RoundEnd *p = e->round_end;
        gdn_wire_round_end *r = &o->u.round_end;
        TRY(no_unknown(&p->base, t, ""));
        r->round = p->round;
        r->outcome = (gdn_wire_outcome)p->outcome;
        if (p->metrics) {
            TRY(no_unknown(&p->metrics->base, t, "metrics"));
            r->cohort = p->metrics->cohort;
            r->train_loss = p->metrics->train_loss;
            r->evaluated = p->metrics->evaluated != 0;
            r->test_loss = p->metrics->test_loss;
            r->test_accuracy = p->metrics->test_accuracy;
            r->epsilon = p->metrics->epsilon;
        }
        return get_text(r->message, GDN_WIRE_MAX_TEXT, t, "message", p->message);
    }
    case GUARDIAN__ENVELOPE__BODY_REFUSAL:
        TRY(no_unknown(&e->refusal->base, t, ""));
        o->u.refusal.round = e->refusal->round;
        TRY(get_text(o->u.refusal.rule, GDN_WIRE_MAX_RULE, t, "rule", e->refusal->rule));
        return get_text(o->u.refusal.message, GDN_WIRE_MAX_TEXT, t, "message",
                        e->refusal->message);
    case GUARDIAN__ENVELOPE__BODY_BYE:
        TRY(no_unknown(&e->bye->base, t, ""));
        o->u.bye.reason = (gdn_wire_bye_reason)e->bye->reason;
        return get_text(o->u.bye.message, GDN_WIRE_MAX_TEXT, t, "message", e->bye->message);
    case GUARDIAN__ENVELOPE__BODY_SECAGG_PHASE:
        TRY(no_unknown(&e->secagg_phase->base, t, ""));
        o->u.secagg_phase.round = e->secagg_phase->round;
        o->u.secagg_phase.phase = e->secagg_phase->phase;
        o->u.secagg_phase.stream = e->secagg_phase->stream;
        o->u.secagg_phase.bytes = e->secagg_phase->bytes;
        return 0;
    case GUARDIAN__ENVELOPE__BODY_HE_PHASE:
        TRY(no_unknown(&e->he_phase->base, t, ""));
        o->u.he_phase.round = e->he_phase->round;
        o->u.he_phase.phase = e->he_phase->phase;
        o->u.he_phase.stream = e->he_phase->stream;
        o->u.he_phase.bytes = e->he_phase->bytes;
        return 0;
    case GUARDIAN__ENVELOPE__BODY_LEDGER_HEAD: {
        const Guardian__LedgerHead *p = e->ledger_head;
        gdn_wire_ledger_head *h = &o->u.ledger_head;
        TRY(no_unknown(&p->base, t, ""));
        h->round = p->round;
        h->from_size = p->from_size;
        TRY(get_bytes(h->head, GDN_WIRE_HEAD_BYTES, t, "head", p->head));
        if (p->proof.len % 32 || p->proof.len > sizeof h->proof)
            return bad(GDN_EFORMAT, t, "proof", "%zu bytes, not 0..%d hashes of 32",
                       p->proof.len, GDN_WIRE_MAX_PROOF);
        if (p->proof.len)
            memcpy(h->proof, p->proof.data, p->proof.len);
        h->proof_len = p->proof.len;
        return 0;
    }
    case GUARDIAN__ENVELOPE__BODY_COSIGN:
        TRY(no_unknown(&e->cosign->base, t, ""));
        o->u.cosign.size = e->cosign->size;
        return get_bytes(o->u.cosign.cosig, GDN_WIRE_COSIG_BYTES, t, "cosig", e->cosign->cosig);
    case GUARDIAN__ENVELOPE__BODY_PRIO_REPORT: {
        const Guardian__PrioReport *p = e->prio_report;
        TRY(no_unknown(&p->base, t, ""));
        o->u.prio_report.round = p->round;
        o->u.prio_report.client_index = p->client_index;
        o->u.prio_report.examples = p->examples;
        o->u.prio_report.mean_loss = p->mean_loss;
        o->u.prio_report.stream = p->stream;
        o->u.prio_report.bytes = p->bytes;
        return 0;
    }
    case GUARDIAN__ENVELOPE__BODY_PRIO_STEP:
        TRY(no_unknown(&e->prio_step->base, t, ""));
        o->u.prio_step.round = e->prio_step->round;
        o->u.prio_step.step = e->prio_step->step;
        o->u.prio_step.stream = e->prio_step->stream;
        o->u.prio_step.bytes = e->prio_step->bytes;
        return 0;
    case GUARDIAN__ENVELOPE__BODY_ERROR:
        TRY(no_unknown(&e->error->base, t, ""));
        o->u.error.code = (gdn_wire_error_code)e->error->code;
        return get_text(o->u.error.message, GDN_WIRE_MAX_TEXT, t, "message",
                        e->error->message);
    default:
        break;
    }
    return gdn_error(GDN_EFORMAT, "Envelope: no message inside");
}

/* ---- To protobuf-c's structs (pointing into m, never allocating) ----------- */

typedef struct pb_msgs {
    Guardian__Envelope env;
    Guardian__Hello hello;
    Guardian__Welcome welcome;
    Guardian__RoundStart round_start;
    Guardian__DpParams dp;
    Guardian__SecaggParams secagg;
    Guardian__Update update;
    Guardian__Heartbeat heartbeat;
    Guardian__RoundEnd round_end;
    Guardian__Metrics metrics;
    Guardian__Refusal refusal;
    Guardian__Bye bye;
    Guardian__Error error;
    Guardian__SecaggPhase secagg_phase;
    Guardian__LedgerHead ledger_head;
    Guardian__Cosign cosign;
    Guardian__HeParams he;
    Guardian__HePhase he_phase;
    Guardian__PrioParams prio;
    Guardian__PrioReport prio_report;
    Guardian__PrioStep prio_step;
} pb_msgs;

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
    ProtobufCBinaryData b = {n, (uint8_t *)p};
    return b;
}

static void to_round_start(pb_msgs *b, const gdn_wire_round_start *m)
{
    Guardian__RoundStart *p = &b->round_start;

    guardian__round_start__init(p);
    p->round = m->round;
    p->seed = m->seed;
    p->client_index = m->client_index;
    p->model = (char *)m->model;
    p->local_epochs = m->local_epochs;
    p->batch = m->batch;
    p->lr = m->lr;
    p->momentum = m->momentum;
    p->weight_decay = m->weight_decay;
    p->prox_mu = m->prox_mu;
    p->aggregation = (Guardian__Aggregation)m->aggregation;
    if (m->dp.enabled) {
        guardian__dp_params__init(&b->dp);
        b->dp.clip = m->dp.clip;
        b->dp.noise_multiplier = m->dp.noise_multiplier;
        b->dp.delta = m->dp.delta;
        b->dp.sampling_rate = m->dp.sampling_rate;
        b->dp.distributed = m->dp.distributed != 0;
        b->dp.ddg_bits = m->dp.ddg_bits;
        b->dp.ddg_gamma = m->dp.ddg_gamma;
        b->dp.ddg_clients = m->dp.ddg_clients;
        p->dp = &b->dp;
    }
    if (m->aggregation == GDN_WIRE_AGG_SECAGG) {
        guardian__secagg_params__init(&b->secagg);
        b->secagg.n = m->secagg.n;
        b->secagg.k = m->secagg.k;
        b->secagg.t = m->secagg.t;
        b->secagg.bits = m->secagg.bits;
        b->secagg.length = m->secagg.length;
        b->secagg.session = bin(m->secagg.session, GDN_WIRE_SESSION_BYTES);
        b->secagg.clip = m->secagg.clip;
        b->secagg.levels = m->secagg.levels;
        b->secagg.weight_scale = m->secagg.weight_scale;
        p->secagg = &b->secagg;
    }
    if (m->aggregation == GDN_WIRE_AGG_HE) {
        guardian__he_params__init(&b->he);
        b->he.holders = m->he.holders;
        b->he.threshold = m->he.threshold;
        b->he.clip = m->he.clip;
        b->he.weight_scale = m->he.weight_scale;
        b->he.key_id = bin(m->he.key_id, GDN_WIRE_HE_KEY_ID_BYTES);
        p->he = &b->he;
    }
    if (m->aggregation == GDN_WIRE_AGG_PRIO3) {
        guardian__prio_params__init(&b->prio);
        b->prio.bound = m->prio.bound;
        b->prio.helper_key = bin(m->prio.helper_key, 32);
        p->prio = &b->prio;
    }
    p->model_stream = m->model_stream;
    p->model_bytes = m->model_bytes;
    p->deadline_ms = m->deadline_ms;
    p->cohort = m->cohort;
    b->env.round_start = p;
}

static void to_envelope(pb_msgs *b, const gdn_wire_msg *m)
{
    guardian__envelope__init(&b->env);
    b->env.body_case = (Guardian__Envelope__BodyCase)m->type;
    switch (m->type) {
    case GDN_WIRE_HELLO:
        guardian__hello__init(&b->hello);
        b->hello.protocol_version = m->u.hello.protocol_version;
        b->hello.client_fingerprint =
            bin(m->u.hello.client_fingerprint, GDN_WIRE_FINGERPRINT_BYTES);
        b->hello.examples = m->u.hello.examples;
        b->hello.ledger_size = m->u.hello.ledger_size;
        b->hello.capabilities = m->u.hello.capabilities;
        b->env.hello = &b->hello;
        break;
    case GDN_WIRE_WELCOME:
        guardian__welcome__init(&b->welcome);
        b->welcome.protocol_version = m->u.welcome.protocol_version;
        b->welcome.accepted = m->u.welcome.accepted != 0;
        b->welcome.reason = (char *)m->u.welcome.reason;
        b->welcome.federation_id = (char *)m->u.welcome.federation_id;
        b->welcome.coordinator_fingerprint =
            bin(m->u.welcome.coordinator_fingerprint, GDN_WIRE_FINGERPRINT_BYTES);
        b->welcome.heartbeat_ms = m->u.welcome.heartbeat_ms;
        b->welcome.idle_timeout_ms = m->u.welcome.idle_timeout_ms;
        b->welcome.max_frame_bytes = m->u.welcome.max_frame_bytes;
        b->env.welcome = &b->welcome;
        break;
    case GDN_WIRE_ROUND_START:
        to_round_start(b, &m->u.round_start);
        break;
    case GDN_WIRE_UPDATE:
        guardian__update__init(&b->update);
        b->update.round = m->u.update.round;
        b->update.client_index = m->u.update.client_index;
        b->update.examples = m->u.update.examples;
        b->update.mean_loss = m->u.update.mean_loss;
        b->update.update_stream = m->u.update.update_stream;
        b->update.update_bytes = m->u.update.update_bytes;
        b->env.update = &b->update;
        break;
    case GDN_WIRE_HEARTBEAT:
        guardian__heartbeat__init(&b->heartbeat);
        b->heartbeat.sequence = m->u.heartbeat.sequence;
        b->heartbeat.round = m->u.heartbeat.round;
        b->env.heartbeat = &b->heartbeat;
        break;
    case GDN_WIRE_ROUND_END:
        guardian__round_end__init(&b->round_end);
        guardian__metrics__init(&b->metrics);
        b->round_end.round = m->u.round_end.round;
        b->round_end.outcome = (Guardian__Outcome)m->u.round_end.outcome;
        b->metrics.cohort = m->u.round_end.cohort;
        b->metrics.train_loss = m->u.round_end.train_loss;
        b->metrics.evaluated = m->u.round_end.evaluated != 0;
        b->metrics.test_loss = m->u.round_end.test_loss;
        b->metrics.test_accuracy = m->u.round_end.test_accuracy;
        b->metrics.epsilon = m->u.round_end.epsilon;
        b->round_end.metrics = &b->metrics;
        b->round_end.message = (char *)m->u.round_end.message;
        b->env.round_end = &b->round_end;
        break;
    case GDN_WIRE_REFUSAL:
        guardian__refusal__init(&b->refusal);
        b->refusal.round = m->u.refusal.round;
        b->refusal.rule = (char *)m->u.refusal.rule;
        b->refusal.message = (char *)m->u.refusal.message;
        b->env.refusal = &b->refusal;
        break;
    case GDN_WIRE_BYE:
        guardian__bye__init(&b->bye);
        b->bye.reason = (Guardian__ByeReason)m->u.bye.reason;
        b->bye.message = (char *)m->u.bye.message;
        b->env.bye = &b->bye;
        break;
    case GDN_WIRE_SECAGG_PHASE:
        guardian__secagg_phase__init(&b->secagg_phase);
        b->secagg_phase.round = m->u.secagg_phase.round;
        b->secagg_phase.phase = m->u.secagg_phase.phase;
        b->secagg_phase.stream = m->u.secagg_phase.stream;
        b->secagg_phase.bytes = m->u.secagg_phase.bytes;
        b->env.secagg_phase = &b->secagg_phase;
        break;
    case GDN_WIRE_HE_PHASE:
        guardian__he_phase__init(&b->he_phase);
        b->he_phase.round = m->u.he_phase.round;
        b->he_phase.phase = m->u.he_phase.phase;
        b->he_phase.stream = m->u.he_phase.stream;
        b->he_phase.bytes = m->u.he_phase.bytes;
        b->env.he_phase = &b->he_phase;
        break;
    case GDN_WIRE_LEDGER_HEAD:
        guardian__ledger_head__init(&b->ledger_head);
        b->ledger_head.round = m->u.ledger_head.round;
        b->ledger_head.head = bin(m->u.ledger_head.head, GDN_WIRE_HEAD_BYTES);
        b->ledger_head.proof = bin(m->u.ledger_head.proof, m->u.ledger_head.proof_len);
        b->ledger_head.from_size = m->u.ledger_head.from_size;
        b->env.ledger_head = &b->ledger_head;
        break;
    case GDN_WIRE_COSIGN:
        guardian__cosign__init(&b->cosign);
        b->cosign.size = m->u.cosign.size;
        b->cosign.cosig = bin(m->u.cosign.cosig, GDN_WIRE_COSIG_BYTES);
        b->env.cosign = &b->cosign;
        break;
    case GDN_WIRE_PRIO_REPORT:
        guardian__prio_report__init(&b->prio_report);
        b->prio_report.round = m->u.prio_report.round;
        b->prio_report.client_index = m->u.prio_report.client_index;
        b->prio_report.examples = m->u.prio_report.examples;
        b->prio_report.mean_loss = m->u.prio_report.mean_loss;
        b->prio_report.stream = m->u.prio_report.stream;
        b->prio_report.bytes = m->u.prio_report.bytes;
        b->env.prio_report = &b->prio_report;
        break;
    case GDN_WIRE_PRIO_STEP:
        guardian__prio_step__init(&b->prio_step);
        b->prio_step.round = m->u.prio_step.round;
        b->prio_step.step = m->u.prio_step.step;
        b->prio_step.stream = m->u.prio_step.stream;
        b->prio_step.bytes = m->u.prio_step.bytes;
        b->env.prio_step = &b->prio_step;
        break;
    case GDN_WIRE_ERROR:
        guardian__error__init(&b->error);
        b->error.code = (Guardian__ErrorCode)m->u.error.code;
        b->error.message = (char *)m->u.error.message;
        b->env.error = &b->error;
        break;
    }
}

/* ---- Public ----------------------------------------------------------------- */

const char *gdn_wire_type_name(int type)
{
    if (type < GDN_WIRE_HELLO || type > GDN_WIRE_HE_PHASE)
        return type_names[0];
    return type_names[type];
}

int gdn_wire_check(const gdn_wire_msg *m)
{
    return check_msg(GDN_EFORMAT, m);
}

int gdn_wire_encode(gdn_buf *out, const gdn_wire_msg *m)
{
    pb_msgs b;
    size_t n;
    int rc;

    if ((rc = check_msg(GDN_EINVAL, m)))
        return rc;
    to_envelope(&b, m);
    n = protobuf_c_message_get_packed_size(&b.env.base);
    if (n > GDN_WIRE_MAX_MESSAGE_BYTES)
        return gdn_error(GDN_ERANGE, "%s: %zu bytes encoded, above the limit of %zu",
                         gdn_wire_type_name(m->type), n, GDN_WIRE_MAX_MESSAGE_BYTES);
    if ((rc = gdn_buf_reserve(out, n)))
        return rc;
    if (protobuf_c_message_pack(&b.env.base, out->data + out->len) != n)
        return gdn_error(GDN_EINTERNAL, "%s: protobuf-c packed a size it did not announce",
                         gdn_wire_type_name(m->type));
    out->len += n;
    return 0;
}

int gdn_wire_decode(gdn_wire_msg *out, const uint8_t *in, size_t len)
{
    Guardian__Envelope *e;
    int rc;

    memset(out, 0, sizeof *out);
    if (len > GDN_WIRE_MAX_MESSAGE_BYTES)
        return gdn_error(GDN_ERANGE, "message of %zu bytes, above the limit of %zu", len,
                         GDN_WIRE_MAX_MESSAGE_BYTES);
    if (!(e = guardian__envelope__unpack(NULL, len, in)))
        return gdn_error(GDN_EFORMAT, "Envelope: not a valid encoding (%zu bytes: truncated, "
                                      "garbage or a wrong field type)",
                         len);
    if (!(rc = no_unknown(&e->base, 0, "")) && !(rc = from_envelope(out, e)) &&
        protobuf_c_message_get_packed_size(&e->base) != len)
        rc = gdn_error(GDN_EFORMAT,
                       "%s: non-canonical encoding (a repeated field, a padded number, an "
                       "explicit zero or a NUL in text)",
                       gdn_wire_type_name(out->type));
    if (!rc)
        rc = check_msg(GDN_EFORMAT, out);
    guardian__envelope__free_unpacked(e, NULL);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

int gdn_wire_floats_encode(gdn_buf *out, const float *v, size_t n)
{
    size_t bytes;
    int rc;

    if ((rc = gdn_mul_size(&bytes, n, 4)) || (rc = gdn_buf_reserve(out, bytes)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        gdn_store_le32(out->data + out->len + 4 * i, u);
    }
    out->len += bytes;
    return 0;
}

int gdn_wire_floats_decode(float *out, size_t n, const uint8_t *in, size_t len)
{
    size_t bytes;

    if (gdn_mul_size(&bytes, n, 4) || len != bytes)
        return gdn_error(GDN_EFORMAT, "float vector of %zu bytes, expected %zu parameters "
                                      "(4 bytes each)",
                         len, n);
    /* Branch-free over the whole vector (it vectorizes): an all-ones exponent
     * is an infinity or a NaN; only then look for the first. */
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = gdn_load_le32(in + 4 * i);
        memcpy(&out[i], &u, 4);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    for (size_t i = 0; bad && i < n; i++)
        if (!isfinite(out[i]))
            return gdn_error(GDN_EFORMAT, "float vector: value %zu is not finite", i);
    return 0;
}
