/* wire: every protocol message round-trips with its values; each bound is
 * refused on both sides naming message and field; truncated, garbage,
 * unknown-field and non-canonical inputs are refused. A small protobuf
 * writer here (no checks, fields in number order, zeros omitted: what the
 * proto3 spec asks) is the reference the codec's bytes are compared with,
 * and builds the invalid inputs the codec's own encoder refuses to write. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "guardian/wire.h"

/* ---- Reference protobuf writer ------------------------------------------------ */

typedef struct {
    uint8_t b[GDN_WIRE_MAX_MESSAGE_BYTES + 64];
    size_t n;
} pbuf;

static void put_varint(pbuf *p, uint64_t v)
{
    while (v >= 0x80) {
        p->b[p->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p->b[p->n++] = (uint8_t)v;
}

static void put_u(pbuf *p, unsigned field, uint64_t v)
{
    if (v) {
        put_varint(p, (uint64_t)field << 3);
        put_varint(p, v);
    }
}

static void put_f32(pbuf *p, unsigned field, float v)
{
    uint32_t u;
    if (v == 0)
        return;
    memcpy(&u, &v, 4);
    put_varint(p, (uint64_t)field << 3 | 5);
    gdn_store_le32(p->b + p->n, u);
    p->n += 4;
}

static void put_f64(pbuf *p, unsigned field, double v)
{
    uint64_t u;
    if (v == 0)
        return;
    memcpy(&u, &v, 8);
    put_varint(p, (uint64_t)field << 3 | 1);
    gdn_store_le64(p->b + p->n, u);
    p->n += 8;
}

static void put_bytes(pbuf *p, unsigned field, const void *d, size_t n, int always)
{
    if (!n && !always)
        return;
    put_varint(p, (uint64_t)field << 3 | 2);
    put_varint(p, n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put_str(pbuf *p, unsigned field, const char *s)
{
    put_bytes(p, field, s, strlen(s), 0);
}

static void put_sub(pbuf *p, unsigned field, const pbuf *sub)
{
    put_bytes(p, field, sub->b, sub->n, 1);
}

static pbuf scratch[3];

/* Body of m (no envelope) into p. */
static void ref_body(pbuf *p, const gdn_wire_msg *m)
{
    pbuf *s = &scratch[0];
    p->n = 0;
    s->n = 0;
    switch (m->type) {
    case GDN_WIRE_HELLO:
        put_u(p, 1, m->u.hello.protocol_version);
        put_bytes(p, 2, m->u.hello.client_fingerprint, 32, 0);
        put_u(p, 3, m->u.hello.examples);
        put_u(p, 4, m->u.hello.capabilities);
        put_u(p, 5, m->u.hello.ledger_size);
        break;
    case GDN_WIRE_WELCOME:
        put_u(p, 1, m->u.welcome.protocol_version);
        put_u(p, 2, (uint64_t)m->u.welcome.accepted);
        put_str(p, 3, m->u.welcome.reason);
        put_str(p, 4, m->u.welcome.federation_id);
        put_bytes(p, 5, m->u.welcome.coordinator_fingerprint, 32, 0);
        put_u(p, 6, m->u.welcome.heartbeat_ms);
        put_u(p, 7, m->u.welcome.idle_timeout_ms);
        put_u(p, 8, m->u.welcome.max_frame_bytes);
        break;
    case GDN_WIRE_ROUND_START: {
        const gdn_wire_round_start *r = &m->u.round_start;
        put_u(p, 1, r->round);
        put_u(p, 2, r->seed);
        put_u(p, 3, r->client_index);
        put_str(p, 4, r->model);
        put_u(p, 5, r->local_epochs);
        put_u(p, 6, r->batch);
        put_f32(p, 7, r->lr);
        put_f32(p, 8, r->momentum);
        put_f32(p, 9, r->weight_decay);
        put_f32(p, 10, r->prox_mu);
        put_u(p, 11, (uint64_t)r->aggregation);
        if (r->dp.enabled) {
            put_f64(s, 1, r->dp.clip);
            put_f64(s, 2, r->dp.noise_multiplier);
            put_f64(s, 3, r->dp.delta);
            put_f64(s, 4, r->dp.sampling_rate);
            put_u(s, 5, (uint64_t)r->dp.distributed);
            put_u(s, 6, r->dp.ddg_bits);
            put_f64(s, 7, r->dp.ddg_gamma);
            put_u(s, 8, r->dp.ddg_clients);
            put_sub(p, 12, s);
            s->n = 0;
        }
        if (r->aggregation == GDN_WIRE_AGG_SECAGG) {
            put_u(s, 1, r->secagg.n);
            put_u(s, 2, r->secagg.k);
            put_u(s, 3, r->secagg.t);
            put_u(s, 4, r->secagg.bits);
            put_u(s, 5, r->secagg.length);
            put_bytes(s, 6, r->secagg.session, 32, 0);
            put_f64(s, 7, r->secagg.clip);
            put_u(s, 8, r->secagg.levels);
            put_f64(s, 9, r->secagg.weight_scale);
            put_sub(p, 13, s);
        }
        if (r->aggregation == GDN_WIRE_AGG_HE) {
            put_u(s, 1, r->he.holders);
            put_u(s, 2, r->he.threshold);
            put_f64(s, 3, r->he.clip);
            put_f64(s, 4, r->he.weight_scale);
            put_bytes(s, 5, r->he.key_id, 32, 0);
        }
        put_u(p, 14, r->model_stream);
        put_u(p, 15, r->model_bytes);
        put_u(p, 16, r->deadline_ms);
        put_u(p, 17, r->cohort);
        if (r->aggregation == GDN_WIRE_AGG_HE)
            put_sub(p, 19, s);
        if (r->aggregation == GDN_WIRE_AGG_PRIO3) {
            s->n = 0;
            put_f64(s, 1, r->prio.bound);
            put_bytes(s, 2, r->prio.helper_key, 32, 0);
            put_sub(p, 18, s);
        }
        break;
    }
    case GDN_WIRE_UPDATE:
        put_u(p, 1, m->u.update.round);
        put_u(p, 2, m->u.update.client_index);
        put_u(p, 3, m->u.update.examples);
        put_f64(p, 4, m->u.update.mean_loss);
        put_u(p, 5, m->u.update.update_stream);
        put_u(p, 6, m->u.update.update_bytes);
        break;
    case GDN_WIRE_HEARTBEAT:
        put_u(p, 1, m->u.heartbeat.sequence);
        put_u(p, 2, m->u.heartbeat.round);
        break;
    case GDN_WIRE_ROUND_END: {
        const gdn_wire_round_end *r = &m->u.round_end;
        put_u(p, 1, r->round);
        put_u(p, 2, (uint64_t)r->outcome);
        put_u(s, 1, r->cohort);
        put_f64(s, 2, r->train_loss);
        put_u(s, 3, (uint64_t)r->evaluated);
        put_f64(s, 4, r->test_loss);
        put_f64(s, 5, r->test_accuracy);
        put_f64(s, 6, r->epsilon);
        put_sub(p, 3, s);
        put_str(p, 4, r->message);
        break;
    }
    case GDN_WIRE_REFUSAL:
        put_u(p, 1, m->u.refusal.round);
        put_str(p, 2, m->u.refusal.rule);
        put_str(p, 3, m->u.refusal.message);
        break;
    case GDN_WIRE_BYE:
        put_u(p, 1, (uint64_t)m->u.bye.reason);
        put_str(p, 2, m->u.bye.message);
        break;
    case GDN_WIRE_ERROR:
        put_u(p, 1, (uint64_t)m->u.error.code);
        put_str(p, 2, m->u.error.message);
        break;
    case GDN_WIRE_LEDGER_HEAD:
        put_u(p, 1, m->u.ledger_head.round);
        put_bytes(p, 2, m->u.ledger_head.head, GDN_WIRE_HEAD_BYTES, 0);
        put_bytes(p, 3, m->u.ledger_head.proof, m->u.ledger_head.proof_len, 0);
        put_u(p, 4, m->u.ledger_head.from_size);
        break;
    case GDN_WIRE_COSIGN:
        put_u(p, 1, m->u.cosign.size);
        put_bytes(p, 2, m->u.cosign.cosig, GDN_WIRE_COSIG_BYTES, 0);
        break;
    case GDN_WIRE_SECAGG_PHASE:
        put_u(p, 1, m->u.secagg_phase.round);
        put_u(p, 2, m->u.secagg_phase.phase);
        put_u(p, 3, m->u.secagg_phase.stream);
        put_u(p, 4, m->u.secagg_phase.bytes);
        break;
    case GDN_WIRE_HE_PHASE:
        put_u(p, 1, m->u.he_phase.round);
        put_u(p, 2, m->u.he_phase.phase);
        put_u(p, 3, m->u.he_phase.stream);
        put_u(p, 4, m->u.he_phase.bytes);
        break;
    case GDN_WIRE_PRIO_REPORT:
        put_u(p, 1, m->u.prio_report.round);
        put_u(p, 2, m->u.prio_report.client_index);
        put_u(p, 3, m->u.prio_report.examples);
        put_f64(p, 4, m->u.prio_report.mean_loss);
        put_u(p, 5, m->u.prio_report.stream);
        put_u(p, 6, m->u.prio_report.bytes);
        break;
    case GDN_WIRE_PRIO_STEP:
        put_u(p, 1, m->u.prio_step.round);
        put_u(p, 2, m->u.prio_step.step);
        put_u(p, 3, m->u.prio_step.stream);
        put_u(p, 4, m->u.prio_step.bytes);
        break;
    }
}

/* Envelope around a body, with `extra` raw bytes appended to the body. */
static void ref_encode(pbuf *out, const gdn_wire_msg *m, const void *extra, size_t nextra)
{
    pbuf *body = &scratch[1];
    ref_body(body, m);
    if (nextra)
        memcpy(body->b + body->n, extra, nextra);
    body->n += nextra;
    out->n = 0;
    put_sub(out, (unsigned)m->type, body);
}

/* ---- Samples ------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint8_t start)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(start + 7 * i);
}

/* A valid message of each type, with every field non-zero where allowed. */
static void sample(gdn_wire_msg *m, gdn_wire_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    switch (type) {
    case GDN_WIRE_HELLO:
        m->u.hello.protocol_version = GDN_WIRE_VERSION;
        fill(m->u.hello.client_fingerprint, 32, 1);
        m->u.hello.examples = 60000;
        m->u.hello.capabilities = GDN_WIRE_CAP_SECAGG | GDN_WIRE_CAP_DP;
        m->u.hello.ledger_size = 12;
        break;
    case GDN_WIRE_WELCOME:
        m->u.welcome.protocol_version = GDN_WIRE_VERSION;
        m->u.welcome.accepted = 1;
        snprintf(m->u.welcome.federation_id, sizeof m->u.welcome.federation_id,
                 "hospitals-2026.eu:1");
        fill(m->u.welcome.coordinator_fingerprint, 32, 9);
        m->u.welcome.heartbeat_ms = 5000;
        m->u.welcome.idle_timeout_ms = 30000;
        m->u.welcome.max_frame_bytes = 1u << 20;
        break;
    case GDN_WIRE_ROUND_START: {
        gdn_wire_round_start *r = &m->u.round_start;
        r->round = 7;
        r->seed = 0x0123456789abcdefULL;
        r->client_index = 41;
        snprintf(r->model, sizeof r->model, "mlp:784-200-200-10");
        r->local_epochs = 2;
        r->batch = 10;
        r->lr = 0.05f;
        r->momentum = 0.9f;
        r->weight_decay = 1e-4f;
        r->prox_mu = 0.01f;
        r->aggregation = GDN_WIRE_AGG_SECAGG;
        r->dp.enabled = 1;
        r->dp.clip = 1.5;
        r->dp.noise_multiplier = 1.1;
        r->dp.delta = 1e-5;
        r->dp.sampling_rate = 0.1;
        r->dp.distributed = 1;
        r->dp.ddg_bits = 18;
        r->dp.ddg_gamma = 1e-3;
        r->dp.ddg_clients = 100;
        r->secagg.n = 100;
        r->secagg.k = 40;
        r->secagg.t = 21;
        r->secagg.bits = 24;
        r->secagg.length = 199211;
        fill(r->secagg.session, 32, 3);
        r->secagg.clip = 0.25;
        r->secagg.levels = 65536;
        r->secagg.weight_scale = 600;
        r->model_stream = 17;
        r->model_bytes = 4 * 199210;
        r->deadline_ms = 120000;
        r->cohort = 100;
        break;
    }
    case GDN_WIRE_UPDATE:
        m->u.update.round = 7;
        m->u.update.client_index = 41;
        m->u.update.examples = 600;
        m->u.update.mean_loss = 0.4375;
        m->u.update.update_stream = 18;
        m->u.update.update_bytes = 4 * 199210;
        break;
    case GDN_WIRE_HEARTBEAT:
        m->u.heartbeat.sequence = 12;
        m->u.heartbeat.round = 7;
        break;
    case GDN_WIRE_ROUND_END: {
        gdn_wire_round_end *r = &m->u.round_end;
        r->round = 7;
        r->outcome = GDN_WIRE_OUTCOME_COMPLETED;
        r->cohort = 10;
        r->train_loss = 0.41;
        r->evaluated = 1;
        r->test_loss = 0.52;
        r->test_accuracy = 0.8301;
        r->epsilon = 2.5;
        snprintf(r->message, sizeof r->message, "10 of 12 updates in time, ε = 2.5");
        break;
    }
    case GDN_WIRE_REFUSAL:
        m->u.refusal.round = 7;
        snprintf(m->u.refusal.rule, sizeof m->u.refusal.rule, "max_epsilon");
        snprintf(m->u.refusal.message, sizeof m->u.refusal.message,
                 "ε would reach 8.2, above the policy's 8");
        break;
    case GDN_WIRE_BYE:
        m->u.bye.reason = GDN_WIRE_BYE_DONE;
        snprintf(m->u.bye.message, sizeof m->u.bye.message, "50 rounds done");
        break;
    case GDN_WIRE_ERROR:
        m->u.error.code = GDN_WIRE_ERR_STATE;
        snprintf(m->u.error.message, sizeof m->u.error.message,
                 "Update for round 6 during round 7");
        break;
    case GDN_WIRE_LEDGER_HEAD:
        m->u.ledger_head.round = 7;
        fill(m->u.ledger_head.head, GDN_WIRE_HEAD_BYTES, 5);
        fill(m->u.ledger_head.proof, 96, 6);
        m->u.ledger_head.proof_len = 96;
        m->u.ledger_head.from_size = 3;
        break;
    case GDN_WIRE_COSIGN:
        m->u.cosign.size = 9;
        fill(m->u.cosign.cosig, GDN_WIRE_COSIG_BYTES, 7);
        break;
    case GDN_WIRE_SECAGG_PHASE:
        m->u.secagg_phase.round = 7;
        m->u.secagg_phase.phase = 3;
        m->u.secagg_phase.stream = 2;
        m->u.secagg_phase.bytes = 4 * 199211;
        break;
    case GDN_WIRE_HE_PHASE:
        m->u.he_phase.round = 7;
        m->u.he_phase.phase = GDN_WIRE_HE_DECRYPT;
        m->u.he_phase.stream = 20;
        m->u.he_phase.bytes = 1u << 20;
        break;
    case GDN_WIRE_PRIO_REPORT:
        m->u.prio_report.round = 7;
        m->u.prio_report.client_index = 41;
        m->u.prio_report.examples = 600;
        m->u.prio_report.mean_loss = 0.4375;
        m->u.prio_report.stream = 1;
        m->u.prio_report.bytes = 244436;
        break;
    case GDN_WIRE_PRIO_STEP:
        m->u.prio_step.round = 7;
        m->u.prio_step.step = 2;
        m->u.prio_step.stream = 2;
        m->u.prio_step.bytes = 1200;
        break;
    }
}

/* ---- Round trips ------------------------------------------------------------------ */

GDN_TEST(wire_round_trip_every_message)
{
    for (int t = GDN_WIRE_HELLO; t <= GDN_WIRE_PRIO_STEP; t++) {
        gdn_wire_msg m, d;
        gdn_buf b = {0};
        pbuf ref;

        sample(&m, (gdn_wire_type)t);
        CHECK_OK(gdn_wire_check(&m));
        CHECK_OK(gdn_wire_encode(&b, &m));
        ref_encode(&ref, &m, NULL, 0);
        CHECK_MSG(b.len == ref.n && memcmp(b.data, ref.b, ref.n) == 0,
                  "%s: %zu bytes differ from the reference's %zu", gdn_wire_type_name(t), b.len,
                  ref.n);
        CHECK_OK(gdn_wire_decode(&d, b.data, b.len));
        CHECK_MSG(memcmp(&m, &d, sizeof m) == 0, "%s: decoded != encoded",
                  gdn_wire_type_name(t));
        gdn_buf_free(&b);
    }
}

GDN_TEST(wire_round_trip_values)
{
    gdn_wire_msg m, d;
    gdn_buf b = {0};

    sample(&m, GDN_WIRE_ROUND_START);
    CHECK_OK(gdn_wire_encode(&b, &m));
    CHECK_OK(gdn_wire_decode(&d, b.data, b.len));
    CHECK_EQ(d.type, GDN_WIRE_ROUND_START);
    CHECK_EQ(d.u.round_start.round, 7);
    CHECK(d.u.round_start.seed == 0x0123456789abcdefULL);
    CHECK_EQ(d.u.round_start.client_index, 41);
    CHECK(strcmp(d.u.round_start.model, "mlp:784-200-200-10") == 0);
    CHECK_EQ(d.u.round_start.local_epochs, 2);
    CHECK_EQ(d.u.round_start.batch, 10);
    CHECK(d.u.round_start.lr == 0.05f && d.u.round_start.momentum == 0.9f);
    CHECK(d.u.round_start.weight_decay == 1e-4f && d.u.round_start.prox_mu == 0.01f);
    CHECK_EQ(d.u.round_start.aggregation, GDN_WIRE_AGG_SECAGG);
    CHECK(d.u.round_start.dp.enabled && d.u.round_start.dp.clip == 1.5 &&
          d.u.round_start.dp.noise_multiplier == 1.1 && d.u.round_start.dp.delta == 1e-5);
    CHECK(d.u.round_start.secagg.n == 100 && d.u.round_start.secagg.k == 40 &&
          d.u.round_start.secagg.t == 21 && d.u.round_start.secagg.bits == 24 &&
          d.u.round_start.secagg.length == 199211 && d.u.round_start.secagg.levels == 65536 &&
          d.u.round_start.secagg.clip == 0.25 && d.u.round_start.secagg.session[1] == 10);
    CHECK_EQ(d.u.round_start.model_stream, 17);
    CHECK_EQ(d.u.round_start.model_bytes, 4 * 199210);
    CHECK_EQ(d.u.round_start.deadline_ms, 120000);

    /* A plain round without DP: the optional parts come back empty. */
    m.u.round_start.aggregation = GDN_WIRE_AGG_PLAIN;
    memset(&m.u.round_start.secagg, 0, sizeof m.u.round_start.secagg);
    memset(&m.u.round_start.dp, 0, sizeof m.u.round_start.dp);
    m.u.round_start.client_index = 0;
    m.u.round_start.seed = 0;
    b.len = 0;
    CHECK_OK(gdn_wire_encode(&b, &m));
    CHECK_OK(gdn_wire_decode(&d, b.data, b.len));
    CHECK(memcmp(&m, &d, sizeof m) == 0);
    CHECK(!d.u.round_start.dp.enabled && d.u.round_start.secagg.n == 0);

    /* A validated (PINE) round: its PrioParams come back; the reference
     * writer's bytes are the same; without them, or with them in a plain
     * round, or with DP, it does not decode. */
    m.u.round_start.aggregation = GDN_WIRE_AGG_PRIO3;
    m.u.round_start.prio.bound = 0.5;
    fill(m.u.round_start.prio.helper_key, 32, 11);
    b.len = 0;
    CHECK_OK(gdn_wire_encode(&b, &m));
    {
        pbuf ref;
        ref_encode(&ref, &m, NULL, 0);
        CHECK(b.len == ref.n && memcmp(b.data, ref.b, ref.n) == 0);
        m.u.round_start.aggregation = GDN_WIRE_AGG_PLAIN; /* prio params, plain round */
        ref_encode(&ref, &m, NULL, 0);
        CHECK(gdn_wire_decode(&d, ref.b, ref.n) == 0); /* the writer leaves them out */
        m.u.round_start.aggregation = GDN_WIRE_AGG_PRIO3;
    }
    CHECK_OK(gdn_wire_decode(&d, b.data, b.len));
    CHECK(memcmp(&m, &d, sizeof m) == 0);
    CHECK(d.u.round_start.prio.bound == 0.5 && d.u.round_start.prio.helper_key[1] == 18);
    m.u.round_start.prio.bound = 0;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.prio.bound"));
    m.u.round_start.prio.bound = 2e6;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    m.u.round_start.prio.bound = 0.5;
    m.u.round_start.dp.enabled = 1, m.u.round_start.dp.clip = 1, m.u.round_start.dp.delta = 1e-5;
    m.u.round_start.dp.sampling_rate = 0.5;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.dp"));
    memset(&m.u.round_start.dp, 0, sizeof m.u.round_start.dp);
    {   /* a PRIO3 round without its PrioParams: field 18 cut from the body */
        pbuf body;
        size_t cut;
        ref_body(&body, &m);
        cut = body.n - (2 + 1 + 9 + 2 + 32); /* tag 18, length, bound, helper_key */
        CHECK(body.b[cut] == 0x92 && body.b[cut + 1] == 0x01);
        scratch[1].n = 0;
        memcpy(scratch[1].b, body.b, cut);
        scratch[1].n = cut;
        {
            pbuf env;
            env.n = 0;
            put_sub(&env, GDN_WIRE_ROUND_START, &scratch[1]);
            CHECK_EQ(gdn_wire_decode(&d, env.b, env.n), GDN_EFORMAT);
            CHECK(strstr(gdn_errmsg(), "missing for a prio3 round"));
        }
    }

    /* A refused Welcome; a RoundEnd without evaluation; encode appends. */
    sample(&m, GDN_WIRE_WELCOME);
    m.u.welcome.accepted = 0;
    m.u.welcome.heartbeat_ms = m.u.welcome.idle_timeout_ms = m.u.welcome.max_frame_bytes = 0;
    snprintf(m.u.welcome.reason, sizeof m.u.welcome.reason, "federation full (1000 clients)");
    b.len = 0;
    CHECK_OK(gdn_buf_append(&b, "xy", 2));
    CHECK_OK(gdn_wire_encode(&b, &m));
    CHECK(memcmp(b.data, "xy", 2) == 0);
    CHECK_OK(gdn_wire_decode(&d, b.data + 2, b.len - 2));
    CHECK(!d.u.welcome.accepted && strcmp(d.u.welcome.reason, m.u.welcome.reason) == 0);
    sample(&m, GDN_WIRE_ROUND_END);
    m.u.round_end.evaluated = 0;
    m.u.round_end.test_loss = m.u.round_end.test_accuracy = 0;
    m.u.round_end.outcome = GDN_WIRE_OUTCOME_FAILED;
    b.len = 0;
    CHECK_OK(gdn_wire_encode(&b, &m));
    CHECK_OK(gdn_wire_decode(&d, b.data, b.len));
    CHECK(memcmp(&m, &d, sizeof m) == 0);
    gdn_buf_free(&b);
}

/* ---- Bounds --------------------------------------------------------------------- */

typedef struct {
    gdn_wire_type type;
    const char *field; /* "RoundStart.lr" must appear in the error */
    void (*mutate)(gdn_wire_msg *m);
    int encode_only; /* text without its NUL: the reference cannot write it */
} violation;

#define V(T, F, BODY)                                                              \
    static void mut_##T##_##F(gdn_wire_msg *m) { BODY; }
#define M(x) m->u.x

V(hello, version, M(hello.protocol_version) = 2)
V(hello, examples0, M(hello.examples) = 0)
V(hello, examples_big, M(hello.examples) = GDN_WIRE_MAX_EXAMPLES + 1)
V(hello, caps, M(hello.capabilities) = 16)
V(welcome, version, M(welcome.protocol_version) = 0)
V(welcome, fedid_empty, M(welcome.federation_id)[0] = 0)
V(welcome, fedid_char, M(welcome.federation_id)[3] = ' ')
V(welcome, reason_on_accept, M(welcome.reason)[0] = 'x')
V(welcome, refused_no_reason, M(welcome.accepted) = 0)
V(welcome, heartbeat0, M(welcome.heartbeat_ms) = 0)
V(welcome, idle, M(welcome.idle_timeout_ms) = M(welcome.heartbeat_ms))
V(welcome, frame_small, M(welcome.max_frame_bytes) = 100)
V(welcome, frame_big, M(welcome.max_frame_bytes) = (1u << 30) + 1)
V(rs, round0, M(round_start.round) = 0)
V(rs, client_big, M(round_start.client_index) = (uint64_t)UINT32_MAX + 1)
V(rs, model_empty, M(round_start.model)[0] = 0)
V(rs, model_space, M(round_start.model)[3] = ' ')
V(rs, model_long, memset(M(round_start.model), 'a', GDN_WIRE_MAX_MODEL_SPEC + 1))
V(rs, epochs0, M(round_start.local_epochs) = 0)
V(rs, epochs_big, M(round_start.local_epochs) = GDN_WIRE_MAX_EPOCHS + 1)
V(rs, batch0, M(round_start.batch) = 0)
V(rs, lr_neg, M(round_start.lr) = -0.5f)
V(rs, lr0, M(round_start.lr) = 0)
V(rs, lr_nan, M(round_start.lr) = NAN)
V(rs, lr_inf, M(round_start.lr) = INFINITY)
V(rs, momentum1, M(round_start.momentum) = 1)
V(rs, momentum_neg, M(round_start.momentum) = -0.1f)
V(rs, wd, M(round_start.weight_decay) = -1e-3f)
V(rs, prox, M(round_start.prox_mu) = NAN)
V(rs, agg, M(round_start.aggregation) = (gdn_wire_aggregation)4)
V(rs, dp_clip, M(round_start.dp.clip) = 0)
V(rs, dp_noise, M(round_start.dp.noise_multiplier) = -1)
V(rs, dp_delta1, M(round_start.dp.delta) = 1)
V(rs, dp_delta0, M(round_start.dp.delta) = 0)
V(rs, sa_n, M(round_start.secagg.n) = 1)
V(rs, sa_k, M(round_start.secagg.k) = 100)
V(rs, sa_k_odd, M(round_start.secagg.k) = 41)
V(rs, sa_t, M(round_start.secagg.t) = 41)
V(rs, sa_t1, M(round_start.secagg.t) = 1)
V(rs, sa_bits, M(round_start.secagg.bits) = 33)
V(rs, sa_length, M(round_start.secagg.length) = 0)
V(rs, sa_clip, M(round_start.secagg.clip) = -1)
V(rs, sa_levels, M(round_start.secagg.levels) = 1)
V(rs, sa_wscale, M(round_start.secagg.weight_scale) = 0.5)
V(sp_phase, phase0, M(secagg_phase.phase) = 0)
V(sp_phase, phase5, M(secagg_phase.phase) = 5)
V(sp_bytes, big, M(secagg_phase.bytes) = ((uint64_t)1 << 32) + 1)
V(rs, cohort0, M(round_start.cohort) = 0)
V(lh, proof_odd, M(ledger_head.proof_len) = 33)
V(lh, from0, M(ledger_head.from_size) = 0)
V(cs, size0, M(cosign.size) = 0)
V(rs, stream0, M(round_start.model_stream) = 0)
V(rs, bytes_odd, M(round_start.model_bytes) = 4 * 199210 + 2)
V(rs, bytes0, M(round_start.model_bytes) = 0)
V(rs, bytes_big, M(round_start.model_bytes) = 4 * ((uint64_t)1 << 30) + 4)
V(rs, deadline0, M(round_start.deadline_ms) = 0)
V(up, round0, M(update.round) = 0)
V(up, client_big, M(update.client_index) = UINT64_MAX)
V(up, examples0, M(update.examples) = 0)
V(up, loss_neg, M(update.mean_loss) = -0.1)
V(up, loss_inf, M(update.mean_loss) = INFINITY)
V(up, stream0, M(update.update_stream) = 0)
V(up, bytes_odd, M(update.update_bytes) = 3)
V(hb, seq0, M(heartbeat.sequence) = 0)
V(re, round0, M(round_end.round) = 0)
V(re, outcome0, M(round_end.outcome) = (gdn_wire_outcome)0)
V(re, outcome4, M(round_end.outcome) = (gdn_wire_outcome)4)
V(re, train_loss, M(round_end.train_loss) = NAN)
V(re, test_loss, M(round_end.test_loss) = -1)
V(re, accuracy, M(round_end.test_accuracy) = 1.01)
V(re, eval, M(round_end.evaluated) = 0)
V(re, eps, M(round_end.epsilon) = INFINITY)
V(re, msg_utf8, M(round_end.message)[0] = (char)0xc0)
V(re, msg_long, memset(M(round_end.message), 'a', GDN_WIRE_MAX_TEXT + 1))
V(ref, round0, M(refusal.round) = 0)
V(ref, rule_empty, M(refusal.rule)[0] = 0)
V(ref, rule_char, M(refusal.rule)[0] = '/')
V(ref, msg_utf8, memcpy(M(refusal.message), "\xed\xa0\x80", 4)) /* a surrogate */
V(bye, reason0, M(bye.reason) = (gdn_wire_bye_reason)0)
V(bye, reason4, M(bye.reason) = (gdn_wire_bye_reason)4)
V(bye, msg, memcpy(M(bye.message), "\xff", 2))
V(err, code0, M(error.code) = (gdn_wire_error_code)0)
V(err, code7, M(error.code) = (gdn_wire_error_code)7)
V(err, msg, memcpy(M(error.message), "\xe2\x82", 3))
V(pr, round0, M(prio_report.round) = 0)
V(pr, client_big, M(prio_report.client_index) = (uint64_t)UINT32_MAX + 1)
V(pr, examples0, M(prio_report.examples) = 0)
V(pr, loss_nan, M(prio_report.mean_loss) = NAN)
V(pr, stream0, M(prio_report.stream) = 0)
V(pr, bytes0, M(prio_report.bytes) = 0)
V(pr, bytes_big, M(prio_report.bytes) = ((uint64_t)1 << 32) + 1)
V(ps, round0, M(prio_step.round) = 0)
V(ps, step0, M(prio_step.step) = 0)
V(ps, step5, M(prio_step.step) = 5)
V(ps, stream0, M(prio_step.stream) = 0)
V(ps, bytes_big, M(prio_step.bytes) = ((uint64_t)1 << 32) + 1)

static const violation violations[] = {
    {GDN_WIRE_HELLO, "Hello.protocol_version", mut_hello_version, 0},
    {GDN_WIRE_HELLO, "Hello.examples", mut_hello_examples0, 0},
    {GDN_WIRE_HELLO, "Hello.examples", mut_hello_examples_big, 0},
    {GDN_WIRE_HELLO, "Hello.capabilities", mut_hello_caps, 0},
    {GDN_WIRE_WELCOME, "Welcome.protocol_version", mut_welcome_version, 0},
    {GDN_WIRE_WELCOME, "Welcome.federation_id", mut_welcome_fedid_empty, 0},
    {GDN_WIRE_WELCOME, "Welcome.federation_id", mut_welcome_fedid_char, 0},
    {GDN_WIRE_WELCOME, "Welcome.reason", mut_welcome_reason_on_accept, 0},
    {GDN_WIRE_WELCOME, "Welcome.reason", mut_welcome_refused_no_reason, 0},
    {GDN_WIRE_WELCOME, "Welcome.heartbeat_ms", mut_welcome_heartbeat0, 0},
    {GDN_WIRE_WELCOME, "Welcome.idle_timeout_ms", mut_welcome_idle, 0},
    {GDN_WIRE_WELCOME, "Welcome.max_frame_bytes", mut_welcome_frame_small, 0},
    {GDN_WIRE_WELCOME, "Welcome.max_frame_bytes", mut_welcome_frame_big, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.round", mut_rs_round0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.client_index", mut_rs_client_big, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model", mut_rs_model_empty, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model", mut_rs_model_space, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model", mut_rs_model_long, 1},
    {GDN_WIRE_ROUND_START, "RoundStart.local_epochs", mut_rs_epochs0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.local_epochs", mut_rs_epochs_big, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.batch", mut_rs_batch0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.lr", mut_rs_lr_neg, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.lr", mut_rs_lr0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.lr", mut_rs_lr_nan, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.lr", mut_rs_lr_inf, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.momentum", mut_rs_momentum1, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.momentum", mut_rs_momentum_neg, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.weight_decay", mut_rs_wd, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.prox_mu", mut_rs_prox, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.aggregation", mut_rs_agg, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.dp.clip", mut_rs_dp_clip, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.dp.noise_multiplier", mut_rs_dp_noise, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.dp.delta", mut_rs_dp_delta1, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.dp.delta", mut_rs_dp_delta0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.n", mut_rs_sa_n, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.k", mut_rs_sa_k, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.k", mut_rs_sa_k_odd, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.t", mut_rs_sa_t, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.t", mut_rs_sa_t1, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.bits", mut_rs_sa_bits, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.length", mut_rs_sa_length, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.clip", mut_rs_sa_clip, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.levels", mut_rs_sa_levels, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.secagg.weight_scale", mut_rs_sa_wscale, 0},
    {GDN_WIRE_SECAGG_PHASE, "SecaggPhase.phase", mut_sp_phase_phase0, 0},
    {GDN_WIRE_SECAGG_PHASE, "SecaggPhase.phase", mut_sp_phase_phase5, 0},
    {GDN_WIRE_SECAGG_PHASE, "SecaggPhase.bytes", mut_sp_bytes_big, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.cohort", mut_rs_cohort0, 0},
    {GDN_WIRE_LEDGER_HEAD, "LedgerHead.proof", mut_lh_proof_odd, 0},
    {GDN_WIRE_LEDGER_HEAD, "LedgerHead.proof", mut_lh_from0, 0},
    {GDN_WIRE_COSIGN, "Cosign.size", mut_cs_size0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model_stream", mut_rs_stream0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model_bytes", mut_rs_bytes_odd, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model_bytes", mut_rs_bytes0, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.model_bytes", mut_rs_bytes_big, 0},
    {GDN_WIRE_ROUND_START, "RoundStart.deadline_ms", mut_rs_deadline0, 0},
    {GDN_WIRE_UPDATE, "Update.round", mut_up_round0, 0},
    {GDN_WIRE_UPDATE, "Update.client_index", mut_up_client_big, 0},
    {GDN_WIRE_UPDATE, "Update.examples", mut_up_examples0, 0},
    {GDN_WIRE_UPDATE, "Update.mean_loss", mut_up_loss_neg, 0},
    {GDN_WIRE_UPDATE, "Update.mean_loss", mut_up_loss_inf, 0},
    {GDN_WIRE_UPDATE, "Update.update_stream", mut_up_stream0, 0},
    {GDN_WIRE_UPDATE, "Update.update_bytes", mut_up_bytes_odd, 0},
    {GDN_WIRE_HEARTBEAT, "Heartbeat.sequence", mut_hb_seq0, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.round", mut_re_round0, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.outcome", mut_re_outcome0, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.outcome", mut_re_outcome4, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.metrics.train_loss", mut_re_train_loss, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.metrics.test_loss", mut_re_test_loss, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.metrics.test_accuracy", mut_re_accuracy, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.metrics.evaluated", mut_re_eval, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.metrics.epsilon", mut_re_eps, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.message", mut_re_msg_utf8, 0},
    {GDN_WIRE_ROUND_END, "RoundEnd.message", mut_re_msg_long, 1},
    {GDN_WIRE_REFUSAL, "Refusal.round", mut_ref_round0, 0},
    {GDN_WIRE_REFUSAL, "Refusal.rule", mut_ref_rule_empty, 0},
    {GDN_WIRE_REFUSAL, "Refusal.rule", mut_ref_rule_char, 0},
    {GDN_WIRE_REFUSAL, "Refusal.message", mut_ref_msg_utf8, 0},
    {GDN_WIRE_BYE, "Bye.reason", mut_bye_reason0, 0},
    {GDN_WIRE_BYE, "Bye.reason", mut_bye_reason4, 0},
    {GDN_WIRE_BYE, "Bye.message", mut_bye_msg, 0},
    {GDN_WIRE_ERROR, "Error.code", mut_err_code0, 0},
    {GDN_WIRE_ERROR, "Error.code", mut_err_code7, 0},
    {GDN_WIRE_ERROR, "Error.message", mut_err_msg, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.round", mut_pr_round0, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.client_index", mut_pr_client_big, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.examples", mut_pr_examples0, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.mean_loss", mut_pr_loss_nan, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.stream", mut_pr_stream0, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.bytes", mut_pr_bytes0, 0},
    {GDN_WIRE_PRIO_REPORT, "PrioReport.bytes", mut_pr_bytes_big, 0},
    {GDN_WIRE_PRIO_STEP, "PrioStep.round", mut_ps_round0, 0},
    {GDN_WIRE_PRIO_STEP, "PrioStep.step", mut_ps_step0, 0},
    {GDN_WIRE_PRIO_STEP, "PrioStep.step", mut_ps_step5, 0},
    {GDN_WIRE_PRIO_STEP, "PrioStep.stream", mut_ps_stream0, 0},
    {GDN_WIRE_PRIO_STEP, "PrioStep.bytes", mut_ps_bytes_big, 0},
};

/* Each violation: encode refuses it (GDN_EINVAL, nothing appended), check
 * names it, and the reference writer's bytes of it fail to decode naming the
 * field (fields the reference cannot write, like over-long text, aside). */
GDN_TEST(wire_bounds_named)
{
    for (size_t i = 0; i < sizeof violations / sizeof violations[0]; i++) {
        const violation *v = &violations[i];
        gdn_wire_msg m, d;
        gdn_buf b = {0};
        pbuf ref;
        int rc;

        sample(&m, v->type);
        v->mutate(&m);
        rc = gdn_wire_encode(&b, &m);
        CHECK_MSG(rc == GDN_EINVAL && b.len == 0, "case %zu (%s): encode gave %d", i,
                  v->field, rc);
        CHECK_MSG(strstr(gdn_errmsg(), v->field), "case %zu: '%s' does not name %s", i,
                  gdn_errmsg(), v->field);
        CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
        CHECK_MSG(strstr(gdn_errmsg(), v->field), "case %zu: '%s'", i, gdn_errmsg());
        if (v->encode_only) /* over-long text: wire_decode_lengths */
            continue;
        ref_encode(&ref, &m, NULL, 0);
        rc = gdn_wire_decode(&d, ref.b, ref.n);
        CHECK_MSG(rc == GDN_EFORMAT, "case %zu (%s): decode gave %d", i, v->field, rc);
        CHECK_MSG(strstr(gdn_errmsg(), v->field), "case %zu: decode said '%s', not %s", i,
                  gdn_errmsg(), v->field);
        CHECK(d.type == 0);
        gdn_buf_free(&b);
    }
}

/* Over-long text and wrong-length bytes can only come from a peer. */
GDN_TEST(wire_decode_lengths)
{
    gdn_wire_msg m, d;
    pbuf ref, *body = &scratch[2];
    char long_text[GDN_WIRE_MAX_TEXT + 2];

    sample(&m, GDN_WIRE_BYE);
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = 0;
    body->n = 0;
    put_u(body, 1, 1);
    put_str(body, 2, long_text);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_BYE, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "Bye.message: longer than 1024"));

    body->n = 0;
    put_u(body, 1, GDN_WIRE_VERSION);
    put_bytes(body, 2, "short", 5, 0);
    put_u(body, 3, 5);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_HELLO, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "Hello.client_fingerprint: 5 bytes, expected 32"));

    /* secagg parameters on a plain round, and none on a secagg round. */
    sample(&m, GDN_WIRE_ROUND_START);
    m.u.round_start.aggregation = GDN_WIRE_AGG_PLAIN;
    ref_body(body, &m);
    {
        pbuf *sub = &scratch[0];
        sub->n = 0;
        put_u(sub, 1, 100);
        put_sub(body, 13, sub);
    }
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_ROUND_START, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.secagg: present but aggregation is not secagg"));
    ref_body(body, &m);
    put_u(body, 11, GDN_WIRE_AGG_SECAGG);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_ROUND_START, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.secagg: missing for a secagg round"));
}

/* ---- Malformed input --------------------------------------------------------------- */

GDN_TEST(wire_truncated_and_garbage)
{
    gdn_wire_msg m, d;
    gdn_buf b = {0};
    gdn_rng rng;
    uint8_t junk[256];
    size_t accepted = 0;

    for (int t = GDN_WIRE_HELLO; t <= GDN_WIRE_PRIO_STEP; t++) {
        sample(&m, (gdn_wire_type)t);
        b.len = 0;
        CHECK_OK(gdn_wire_encode(&b, &m));
        for (size_t n = 0; n < b.len; n++)
            CHECK_MSG(gdn_wire_decode(&d, b.data, n) == GDN_EFORMAT,
                      "%s cut to %zu of %zu bytes decoded", gdn_wire_type_name(t), n, b.len);
        /* A trailing byte makes an invalid field tag (0 or a cut varint). */
        CHECK_OK(gdn_buf_append(&b, "\x00", 1));
        CHECK_EQ(gdn_wire_decode(&d, b.data, b.len), GDN_EFORMAT);
    }
    CHECK_EQ(gdn_wire_decode(&d, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), GDN_EFORMAT);
    CHECK_EQ(gdn_wire_decode(&d, (const uint8_t *)"", 0), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "no message inside"));

    /* Random bytes: never accepted unless they are a valid message whose
     * re-encoding decodes to the same struct. */
    gdn_rng_init_seed(&rng, 4);
    for (int i = 0; i < 20000; i++) {
        size_t n = gdn_rng_uniform(&rng, sizeof junk);
        gdn_rng_bytes(&rng, junk, n);
        if (i % 2)
            junk[0] = (uint8_t)((1 + gdn_rng_uniform(&rng, 9)) << 3 | 2); /* a body tag */
        if (gdn_wire_decode(&d, junk, n) == 0) {
            gdn_wire_msg d2;
            accepted++;
            b.len = 0;
            CHECK_OK(gdn_wire_encode(&b, &d));
            CHECK_OK(gdn_wire_decode(&d2, b.data, b.len));
            CHECK(memcmp(&d, &d2, sizeof d) == 0);
        }
    }
    CHECK(accepted < 2000);

    /* Above the size limit: refused before parsing. */
    {
        static uint8_t big[GDN_WIRE_MAX_MESSAGE_BYTES + 1];
        CHECK_EQ(gdn_wire_decode(&d, big, sizeof big), GDN_ERANGE);
    }
    gdn_buf_free(&b);
}

GDN_TEST(wire_unknown_fields_rejected)
{
    gdn_wire_msg m, d;
    pbuf ref, *body = &scratch[2];
    static const uint8_t f99[] = {0x98, 0x06, 0x01}; /* field 99, varint 1 */
    static const uint8_t f20[] = {0xa0, 0x01, 0x01}; /* field 20, varint 1 */

    for (int t = GDN_WIRE_HELLO; t <= GDN_WIRE_PRIO_STEP; t++) {
        sample(&m, (gdn_wire_type)t);
        ref_encode(&ref, &m, f99, sizeof f99);
        CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
        CHECK_MSG(strstr(gdn_errmsg(), "unknown field 99") &&
                      strstr(gdn_errmsg(), gdn_wire_type_name(t)),
                  "%s", gdn_errmsg());
    }
    /* At the envelope's level: a message type this version does not know. */
    sample(&m, GDN_WIRE_HEARTBEAT);
    ref_encode(&ref, &m, NULL, 0);
    memcpy(ref.b + ref.n, f20, sizeof f20);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n + sizeof f20), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "Envelope: unknown field 20"));
    body->n = 0;
    memcpy(body->b, f20, sizeof f20);
    CHECK_EQ(gdn_wire_decode(&d, body->b, sizeof f20), GDN_EFORMAT);

    /* A newer Hello: the version is named, not the field it added. */
    sample(&m, GDN_WIRE_HELLO);
    m.u.hello.protocol_version = 2;
    ref_encode(&ref, &m, f99, sizeof f99);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "protocol version 2, this side speaks 1"));
    sample(&m, GDN_WIRE_WELCOME);
    m.u.welcome.protocol_version = 3;
    ref_encode(&ref, &m, f99, sizeof f99);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "Welcome.protocol_version: protocol version 3"));
}

GDN_TEST(wire_non_canonical_rejected)
{
    gdn_wire_msg m, d;
    pbuf ref, *body = &scratch[2];

    /* Duplicate field (protobuf: last wins) */
    body->n = 0;
    put_u(body, 1, 5);
    put_u(body, 1, 6);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_HEARTBEAT, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "Heartbeat: non-canonical"));
    /* Explicit zero */
    body->n = 0;
    put_u(body, 1, 5);
    put_varint(body, 2 << 3);
    put_varint(body, 0);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_HEARTBEAT, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    /* Padded varint: 5 as 0x85 0x00 */
    body->n = 0;
    put_varint(body, 1 << 3);
    body->b[body->n++] = 0x85;
    body->b[body->n++] = 0x00;
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_HEARTBEAT, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    /* The same message written plainly is fine. */
    body->n = 0;
    put_u(body, 1, 5);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_HEARTBEAT, body);
    CHECK_OK(gdn_wire_decode(&d, ref.b, ref.n));
    CHECK_EQ(d.u.heartbeat.sequence, 5);
    /* NUL inside text: it would otherwise cut the text silently. */
    body->n = 0;
    put_u(body, 1, 1);
    put_bytes(body, 2, "ab\0cd", 5, 0);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_BYE, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    /* Wrong wire type for a field (string where a varint belongs) */
    body->n = 0;
    put_bytes(body, 1, "x", 1, 0);
    ref.n = 0;
    put_sub(&ref, GDN_WIRE_HEARTBEAT, body);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    /* Two bodies in one envelope */
    sample(&m, GDN_WIRE_HEARTBEAT);
    ref_encode(&ref, &m, NULL, 0);
    memcpy(ref.b + ref.n, ref.b, ref.n);
    CHECK_EQ(gdn_wire_decode(&d, ref.b, 2 * ref.n), GDN_EFORMAT);
}

/* ---- Float vectors ---------------------------------------------------------------- */

GDN_TEST(wire_floats)
{
    const float v[6] = {1.0f, -0.0f, 0.5f, -3.25e-3f, 1e-40f /* subnormal */, 3.4e38f};
    float back[6];
    gdn_buf b = {0};

    CHECK_OK(gdn_wire_floats_encode(&b, v, 6));
    CHECK_EQ(b.len, 24);
    CHECK(memcmp(b.data, "\x00\x00\x80\x3f\x00\x00\x00\x80\x00\x00\x00\x3f", 12) == 0);
    CHECK_OK(gdn_wire_floats_decode(back, 6, b.data, b.len));
    CHECK(memcmp(back, v, sizeof v) == 0);
    CHECK_EQ(gdn_wire_floats_decode(back, 5, b.data, b.len), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "24 bytes, expected 5 parameters"));
    CHECK_EQ(gdn_wire_floats_decode(back, 6, b.data, b.len - 1), GDN_EFORMAT);
    CHECK_EQ(gdn_wire_floats_decode(back, SIZE_MAX / 2, b.data, b.len), GDN_EFORMAT);
    b.data[3 * 4 + 3] = 0x7f; /* value 3 -> NaN */
    b.data[3 * 4 + 2] = 0xc0;
    CHECK_EQ(gdn_wire_floats_decode(back, 6, b.data, b.len), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "value 3 is not finite"));
    b.len = 0;
    CHECK_OK(gdn_wire_floats_encode(&b, v, 0));
    CHECK_EQ(b.len, 0);
    CHECK_OK(gdn_wire_floats_decode(back, 0, b.data, 0));
    gdn_buf_free(&b);
}

/* ---- Encrypted aggregation's messages ----------------------------------------------- */

/* A RoundStart of an HE round: the plain sample with HeParams instead. */
static void sample_he_round(gdn_wire_msg *m)
{
    gdn_wire_round_start *r = &m->u.round_start;

    sample(m, GDN_WIRE_ROUND_START);
    r->aggregation = GDN_WIRE_AGG_HE;
    memset(&r->dp, 0, sizeof r->dp);
    memset(&r->secagg, 0, sizeof r->secagg);
    r->he.holders = 3;
    r->he.threshold = 2;
    r->he.clip = 0.5;
    r->he.weight_scale = 400;
    fill(r->he.key_id, 32, 11);
}

GDN_TEST(wire_he_messages)
{
    gdn_wire_msg m, d;
    gdn_buf b = {0};
    pbuf ref;

    /* HePhase and an HE RoundStart: protobuf-c's bytes are the reference's,
     * and decode back to the same struct */
    for (int k = 0; k < 2; k++) {
        if (k)
            sample_he_round(&m);
        else
            sample(&m, GDN_WIRE_HE_PHASE);
        b.len = 0;
        CHECK_OK(gdn_wire_encode(&b, &m));
        ref_encode(&ref, &m, NULL, 0);
        CHECK(b.len == ref.n && memcmp(b.data, ref.b, ref.n) == 0);
        CHECK_OK(gdn_wire_decode(&d, b.data, b.len));
        CHECK(memcmp(&d, &m, sizeof m) == 0);
    }
    CHECK(strcmp(gdn_wire_type_name(GDN_WIRE_HE_PHASE), "HePhase") == 0);
    CHECK(strcmp(gdn_wire_type_name(15), "?") == 0);

    /* bounds, each named */
    sample(&m, GDN_WIRE_HE_PHASE);
    m.u.he_phase.phase = 5;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "HePhase.phase"));
    m.u.he_phase.phase = GDN_WIRE_HE_DECRYPT;
    m.u.he_phase.round = 0; /* a decryption names its round */
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "HePhase.round"));
    m.u.he_phase.phase = GDN_WIRE_HE_SETUP;
    CHECK_OK(gdn_wire_check(&m));
    m.u.he_phase.round = 3; /* set-up is outside rounds */
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "HePhase.round"));
    sample(&m, GDN_WIRE_HE_PHASE);
    m.u.he_phase.bytes = 0;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    m.u.he_phase.bytes = ((uint64_t)1 << 32) + 1;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "HePhase.bytes"));
    sample(&m, GDN_WIRE_HE_PHASE);
    m.u.he_phase.stream = 0;
    CHECK_EQ(gdn_wire_encode(&b, &m), GDN_EINVAL);

    sample_he_round(&m);
    m.u.round_start.he.threshold = 4;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.he.threshold"));
    sample_he_round(&m);
    m.u.round_start.he.holders = 33;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.he.holders"));
    sample_he_round(&m);
    m.u.round_start.he.clip = 0;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.he.clip"));
    sample_he_round(&m);
    m.u.round_start.he.weight_scale = 0.5;
    CHECK_EQ(gdn_wire_check(&m), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "RoundStart.he.weight_scale"));

    /* HeParams in a plain round, and an HE round without them: refused */
    {
        static pbuf sub, extra, agg;
        uint8_t key[32];
        fill(key, 32, 11);
        sub.n = extra.n = agg.n = 0;
        put_u(&sub, 1, 3);
        put_u(&sub, 2, 2);
        put_f64(&sub, 3, 0.5);
        put_f64(&sub, 4, 400);
        put_bytes(&sub, 5, key, 32, 0);
        put_sub(&extra, 19, &sub);
        put_u(&agg, 11, GDN_WIRE_AGG_HE);
        sample_he_round(&m);
        m.u.round_start.aggregation = GDN_WIRE_AGG_PLAIN;
        ref_encode(&ref, &m, extra.b, extra.n);
        CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
        CHECK(strstr(gdn_errmsg(), "RoundStart.he: present but aggregation is not HE"));
        ref_encode(&ref, &m, agg.b, agg.n);
        CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
        CHECK(strstr(gdn_errmsg(), "RoundStart.he: missing for an HE round"));
        /* an unknown field inside HeParams */
        put_u(&sub, 9, 1);
        extra.n = 0;
        put_sub(&extra, 19, &sub);
        ref_encode(&ref, &m, extra.b, extra.n);
        CHECK_EQ(gdn_wire_decode(&d, ref.b, ref.n), GDN_EFORMAT);
    }
    gdn_buf_free(&b);
}
