/* Validated aggregation over the network (prio.h here, docs/prio.md): the
 * owner's report with its sealed helper share, the leader-helper steps, and
 * the leader's side of each round's verification. The VDAF itself is fl.h's
 * (gdn_fl_pine_*); this file moves and checks bytes.
 *
 * A report is nonce (16) || public share || the leader's input share ||
 * crypto_box_seal(le64 round || le64 client_index || nonce || the helper's
 * input share) to the helper's X25519 key (crypto_sign_ed25519_pk_to_
 * curve25519 of its TLS identity), so the leader, which relays it, never
 * reads the helper's share, and the helper knows which round and owner the
 * share was made for. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "net/internal.h"
#include "net/prio.h"

#define LINK_FRAME GDN_FRAME_MAX_DEFAULT
#define CONNECT_MS 10000

/* DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410 §4), before the key. */
static const uint8_t ed25519_spki[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                         0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

void net_prio_key_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const uint8_t pk[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, ed25519_spki, sizeof ed25519_spki);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, fp);
}

static int sizes(gdn_fl_pine **vdaf, size_t *ps, size_t *ls, size_t *hs, size_t dim,
                 double bound)
{
    int rc = gdn_fl_pine_new(vdaf, dim, bound);
    if (rc)
        return rc;
    *ps = gdn_fl_pine_size(*vdaf, GDN_FL_PINE_PUBLIC);
    *ls = gdn_fl_pine_size(*vdaf, GDN_FL_PINE_LEADER);
    *hs = gdn_fl_pine_size(*vdaf, GDN_FL_PINE_HELPER);
    return 0;
}

int net_prio_report_bytes(uint64_t *bytes, size_t dim, double bound)
{
    gdn_fl_pine *v;
    size_t ps, ls, hs;
    int rc = sizes(&v, &ps, &ls, &hs, dim, bound);
    if (rc)
        return rc;
    gdn_fl_pine_free(v);
    *bytes = (uint64_t)GDN_FL_PINE_NONCE_BYTES + ps + ls + NET_PRIO_SEAL_HEADER + hs +
             crypto_box_SEALBYTES;
    return 0;
}

int net_prio_owner_report(gdn_buf *out, const gdn_wire_round_start *rs,
                          const uint8_t helper_pin[GDN_NET_FINGERPRINT_BYTES], float *local,
                          const float *global, size_t dim, double attack_scale)
{
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES], xpk[crypto_box_PUBLICKEYBYTES];
    uint8_t nonce[GDN_FL_PINE_NONCE_BYTES];
    char want[GDN_NET_FINGERPRINT_HEX_BYTES], got[GDN_NET_FINGERPRINT_HEX_BYTES];
    gdn_buf pub = {0}, lead = {0}, help = {0}, plain = {0};
    gdn_fl_pine *v = NULL;
    gdn_rng rng;
    uint8_t hdr[16];
    int rc, forge = attack_scale != 0 && attack_scale != 1;

    net_prio_key_fingerprint(fp, rs->prio.helper_key);
    if (!helper_pin || sodium_memcmp(fp, helper_pin, sizeof fp) != 0) {
        gdn_net_fingerprint_hex(got, fp);
        if (helper_pin)
            gdn_net_fingerprint_hex(want, helper_pin);
        return gdn_error(GDN_ECRYPTO, "the coordinator announces helper %s, %s%s", got,
                         helper_pin ? "this owner trusts " : "and this owner pins no helper",
                         helper_pin ? want : " (--helper-pin)");
    }
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, rs->prio.helper_key) != 0)
        return gdn_error(GDN_ECRYPTO, "the helper's key is not a valid Ed25519 key");
    if ((rc = gdn_fl_pine_new(&v, dim, rs->prio.bound)))
        return rc;
    gdn_fl_prio_clip_update(local, global, dim, rs->prio.bound);
    if (forge)
        gdn_fl_attack_update(local, global, dim, attack_scale);
    if ((rc = gdn_rng_init_system(&rng))) /* the shares' coins: fresh, secret */
        goto done;
    rc = gdn_fl_pine_shard(v, &pub, &lead, &help, nonce, local, global, forge, &rng);
    gdn_rng_wipe(&rng);
    if (rc) {
        char why[400];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        rc = gdn_error(rc, "round %llu: sharding the update: %s",
                       (unsigned long long)rs->round, why);
        goto done;
    }
    gdn_store_le64(hdr, rs->round);
    gdn_store_le64(hdr + 8, rs->client_index);
    out->len = 0;
    if ((rc = gdn_buf_append(&plain, hdr, sizeof hdr)) ||
        (rc = gdn_buf_append(&plain, nonce, sizeof nonce)) ||
        (rc = gdn_buf_append(&plain, help.data, help.len)) ||
        (rc = gdn_buf_append(out, nonce, sizeof nonce)) ||
        (rc = gdn_buf_append(out, pub.data, pub.len)) ||
        (rc = gdn_buf_append(out, lead.data, lead.len)) ||
        (rc = gdn_buf_reserve(out, plain.len + crypto_box_SEALBYTES)))
        goto done;
    if (crypto_box_seal(out->data + out->len, plain.data, plain.len, xpk) != 0) {
        rc = gdn_error(GDN_ECRYPTO, "sealing the helper's share failed");
        goto done;
    }
    out->len += plain.len + crypto_box_SEALBYTES;
done:
    if (plain.data)
        sodium_memzero(plain.data, plain.len);
    if (help.data)
        sodium_memzero(help.data, help.len);
    if (lead.data)
        sodium_memzero(lead.data, lead.len);
    gdn_buf_free(&plain), gdn_buf_free(&help), gdn_buf_free(&lead), gdn_buf_free(&pub);
    gdn_fl_pine_free(v);
    return rc;
}

/* ---- The link ---------------------------------------------------------------- */

static int send_msg(gdn_tls_conn *c, const gdn_wire_msg *m)
{
    gdn_buf enc = {0};
    int rc = gdn_wire_encode(&enc, m);
    if (!rc)
        rc = gdn_tls_send_frame(c, GDN_FRAME_MESSAGE, enc.data, enc.len, LINK_FRAME,
                                NET_PRIO_STEP_TIMEOUT_MS);
    gdn_buf_free(&enc);
    return rc;
}

int net_prio_send_step(gdn_tls_conn *c, uint64_t round, uint32_t step, const gdn_buf *payload)
{
    gdn_wire_msg m;
    int rc;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_PRIO_STEP;
    m.u.prio_step.round = round;
    m.u.prio_step.step = step;
    m.u.prio_step.stream = step;
    m.u.prio_step.bytes = payload->len;
    if (!(rc = send_msg(c, &m)))
        rc = gdn_tls_send_object(c, step, payload->data, payload->len, LINK_FRAME,
                                 NET_PRIO_STEP_TIMEOUT_MS);
    return rc;
}

int net_prio_recv_step(gdn_tls_conn *c, gdn_frame_decoder *d, gdn_wire_prio_step *step,
                       gdn_buf *payload, uint64_t max_bytes, int timeout_ms, int closed_ok)
{
    gdn_frame f;
    gdn_wire_msg m;
    gdn_frame_reasm *r = NULL;
    uint32_t stream = 0;
    int rc;

    for (;;) {
        if ((rc = gdn_tls_recv_frame(c, d, &f, timeout_ms)))
            return rc == GDN_NET_CLOSED && !closed_ok
                       ? gdn_error(GDN_EIO, "%s: closed the connection", gdn_tls_peer_label(c))
                       : rc;
        if (f.type != GDN_FRAME_MESSAGE)
            return gdn_error(GDN_EFORMAT, "%s: a CHUNK without an announced object",
                             gdn_tls_peer_label(c));
        if ((rc = gdn_wire_decode(&m, f.payload, f.len))) {
            char why[600];
            snprintf(why, sizeof why, "%s", gdn_errmsg());
            return gdn_error(rc, "%s: %s", gdn_tls_peer_label(c), why);
        }
        if (m.type == GDN_WIRE_HEARTBEAT)
            continue;
        if (m.type == GDN_WIRE_ERROR || m.type == GDN_WIRE_BYE)
            return gdn_error(GDN_EIO, "%s: %s%s", gdn_tls_peer_label(c),
                             m.type == GDN_WIRE_BYE ? "says goodbye: " : "reports an error: ",
                             m.type == GDN_WIRE_BYE ? m.u.bye.message : m.u.error.message);
        if (m.type != GDN_WIRE_PRIO_STEP)
            return gdn_error(GDN_EFORMAT, "%s: %s where a PrioStep was expected",
                             gdn_tls_peer_label(c), gdn_wire_type_name(m.type));
        break;
    }
    *step = m.u.prio_step;
    if (step->bytes > max_bytes)
        return gdn_error(GDN_ERANGE, "%s: PrioStep %u of %llu bytes, above the %llu expected",
                         gdn_tls_peer_label(c), step->step, (unsigned long long)step->bytes,
                         (unsigned long long)max_bytes);
    if ((rc = gdn_frame_reasm_new(&r, step->bytes)))
        return rc;
    for (;;) {
        if ((rc = gdn_tls_recv_frame(c, d, &f, NET_PRIO_STEP_TIMEOUT_MS))) {
            if (rc == GDN_NET_CLOSED)
                rc = gdn_error(GDN_EIO, "%s: closed inside a PrioStep", gdn_tls_peer_label(c));
            break;
        }
        if (f.type != GDN_FRAME_CHUNK) {
            rc = gdn_error(GDN_EFORMAT, "%s: a message inside a PrioStep's chunks",
                           gdn_tls_peer_label(c));
            break;
        }
        if ((rc = gdn_frame_reasm_push(r, f.payload, f.len)) < 0)
            break;
        if (rc == 1) {
            rc = gdn_frame_reasm_take(payload, &stream, r);
            if (!rc && (stream != step->stream || payload->len != step->bytes))
                rc = gdn_error(GDN_EFORMAT, "%s: PrioStep object on stream %u, announced %u",
                               gdn_tls_peer_label(c), stream, step->stream);
            break;
        }
    }
    gdn_frame_reasm_free(r);
    return rc;
}

/* ---- The leader ---------------------------------------------------------------- */

struct net_prio_leader {
    const gdn_coord_config *cfg;
    gdn_tls_ctx *tls;
    gdn_tls_conn *c;
    gdn_frame_decoder *dec;
    uint8_t pk[32];
    char label[300];
    gdn_fl_pine *vdaf;
    size_t dim;
    double bound;
};

int net_prio_leader_new(net_prio_leader **out, const gdn_coord_config *cfg)
{
    net_prio_leader *l = calloc(1, sizeof *l);
    int rc;

    *out = NULL;
    if (!l)
        return GDN_ENOMEM;
    l->cfg = cfg;
    snprintf(l->label, sizeof l->label, "helper %s:%u", cfg->helper_host,
             (unsigned)cfg->helper_port);
    if (!cfg->helper_host || !cfg->helper_pin)
        rc = gdn_error(GDN_EINVAL, "validated aggregation needs the helper's address and "
                       "fingerprint (--helper HOST:PORT --helper-pin FP)");
    else if ((rc = gdn_tls_ctx_new_client(&l->tls, &cfg->helper_tls))) {
        char why[600];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        rc = gdn_error(rc, "the leader's credentials for the helper link: %s", why);
    }
    if (rc) {
        net_prio_leader_free(l);
        return rc;
    }
    *out = l;
    return 0;
}

static void disconnect(net_prio_leader *l)
{
    gdn_tls_conn_free(l->c);
    l->c = NULL;
    gdn_frame_decoder_free(l->dec);
    l->dec = NULL;
}

void net_prio_leader_free(net_prio_leader *l)
{
    if (!l)
        return;
    if (l->c)
        gdn_tls_shutdown(l->c);
    disconnect(l);
    gdn_tls_ctx_free(l->tls);
    gdn_fl_pine_free(l->vdaf);
    free(l);
}

int net_prio_leader_connect(net_prio_leader *l, uint8_t pk[32])
{
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    gdn_frame f;
    gdn_wire_msg m;
    char why[600];
    int rc;

    /* The helper never speaks unasked: a readable idle link is its close. */
    if (l->c && gdn_tls_pending(l->c) == 0 &&
        net_wait_fd(gdn_tls_conn_fd(l->c), 0, gdn_now() + 0.001) == 0) {
        memcpy(pk, l->pk, 32);
        return 0;
    }
    if (l->c) {
        gdn_log(GDN_LOG_WARN, "the %s closed the link; reconnecting", l->label);
        disconnect(l);
    }
    if ((rc = gdn_tls_connect(&l->c, l->tls, l->cfg->helper_host, l->cfg->helper_port,
                              CONNECT_MS)) ||
        (rc = gdn_frame_decoder_new(&l->dec, LINK_FRAME)))
        goto fail;
    if ((rc = gdn_tls_peer_fingerprint(fp, l->c)) ||
        (rc = gdn_tls_peer_public_key(l->pk, l->c)))
        goto fail;
    if (sodium_memcmp(fp, l->cfg->helper_pin, sizeof fp) != 0) {
        char hex[GDN_NET_FINGERPRINT_HEX_BYTES];
        gdn_net_fingerprint_hex(hex, fp);
        rc = gdn_error(GDN_ECRYPTO, "%s presents identity %s, not the pinned helper", l->label,
                       hex);
        goto fail;
    }
    /* the helper speaks first: its Welcome, or its refusal of this leader */
    if ((rc = gdn_tls_recv_frame(l->c, l->dec, &f, CONNECT_MS))) {
        if (rc == GDN_NET_CLOSED)
            rc = gdn_error(GDN_EIO, "closed before its Welcome");
        goto fail;
    }
    if (f.type != GDN_FRAME_MESSAGE || (rc = gdn_wire_decode(&m, f.payload, f.len)) ||
        m.type != GDN_WIRE_WELCOME) {
        rc = gdn_error(GDN_EFORMAT, "no Welcome first");
        goto fail;
    }
    if (!m.u.welcome.accepted) {
        rc = gdn_error(GDN_ESTATE, "refuses this leader: %s", m.u.welcome.reason);
        goto fail;
    }
    if (sodium_memcmp(m.u.welcome.coordinator_fingerprint, fp, sizeof fp) != 0) {
        rc = gdn_error(GDN_ECRYPTO, "its Welcome names another identity");
        goto fail;
    }
    memcpy(pk, l->pk, 32);
    gdn_log(GDN_LOG_INFO, "connected to the validated-aggregation %s", l->label);
    return 0;
fail:
    snprintf(why, sizeof why, "%s", gdn_errmsg());
    disconnect(l);
    return gdn_error(rc, "%s unreachable or refused: %s", l->label, why);
}

/* Step 1's payload: le64 dim || le64 bound's bits || verify key || le32 n ||
 * n x (le64 client_index || nonce || public share || sealed share ||
 * le32 len || the leader's `initialize`). */
static int put_u64(gdn_buf *b, uint64_t v)
{
    uint8_t x[8];
    gdn_store_le64(x, v);
    return gdn_buf_append(b, x, 8);
}

static int put_u32(gdn_buf *b, uint32_t v)
{
    uint8_t x[4];
    gdn_store_le32(x, v);
    return gdn_buf_append(b, x, 4);
}

int net_prio_leader_job(const gdn_fl_pine *v, gdn_buf *job, gdn_buf *state, uint8_t *sent,
                        size_t *count, net_prio_input *in, size_t n, const uint8_t *key,
                        uint64_t round)
{
    const size_t nb = GDN_FL_PINE_NONCE_BYTES;
    size_t ps = gdn_fl_pine_size(v, GDN_FL_PINE_PUBLIC);
    size_t ls = gdn_fl_pine_size(v, GDN_FL_PINE_LEADER);
    size_t hs = gdn_fl_pine_size(v, GDN_FL_PINE_HELPER) + NET_PRIO_SEAL_HEADER +
                crypto_box_SEALBYTES;
    size_t vk = gdn_fl_pine_size(v, GDN_FL_PINE_VERIFY_KEY);
    size_t dim = gdn_fl_pine_dimension(v);
    double bound = gdn_fl_pine_bound(v);
    uint64_t bits;
    int rc;

    *count = 0;
    job->len = 0;
    memcpy(&bits, &bound, 8);
    if ((rc = put_u64(job, dim)) || (rc = put_u64(job, bits)) ||
        (rc = gdn_buf_append(job, key, vk)) || (rc = put_u32(job, 0)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = in[i].report;
        gdn_buf init = {0};
        in[i].accepted = 0;
        sent[i] = 0;
        state[i].len = 0;
        if (in[i].len != nb + ps + ls + hs) {
            gdn_log(GDN_LOG_WARN, "round %llu: owner %llu's report has %zu bytes, not %zu: "
                    "rejected", (unsigned long long)round,
                    (unsigned long long)in[i].client_index, in[i].len, nb + ps + ls + hs);
            continue;
        }
        if (gdn_fl_pine_leader_init(v, &init, &state[i], key, r, r + nb, ps, r + nb + ps, ls)) {
            gdn_log(GDN_LOG_WARN, "round %llu: owner %llu's report is malformed: %s; rejected",
                    (unsigned long long)round, (unsigned long long)in[i].client_index,
                    gdn_errmsg());
            gdn_buf_free(&init);
            continue;
        }
        rc = put_u64(job, in[i].client_index);
        if (!rc)
            rc = gdn_buf_append(job, r, nb + ps); /* nonce, public share */
        if (!rc)
            rc = gdn_buf_append(job, r + nb + ps + ls, hs); /* sealed: relayed unread */
        if (!rc)
            rc = put_u32(job, (uint32_t)init.len);
        if (!rc)
            rc = gdn_buf_append(job, init.data, init.len);
        gdn_buf_free(&init);
        if (rc)
            return rc;
        sent[i] = 1;
        (*count)++;
    }
    gdn_store_le32(job->data + 16 + vk, (uint32_t)*count);
    return 0;
}

int net_prio_leader_verdicts(const gdn_fl_pine *v, uint8_t *agg, gdn_buf *flags, size_t *ok,
                             net_prio_input *in, size_t n, const uint8_t *sent,
                             const gdn_buf *state, size_t count, const uint8_t *reply,
                             size_t len, uint64_t round)
{
    size_t at = 4;
    int rc;

    *ok = 0;
    flags->len = 0;
    if (len < 4 || gdn_load_le32(reply) != count)
        return gdn_error(GDN_EFORMAT, "verdicts: not %zu of them", count);
    if ((rc = put_u32(flags, (uint32_t)count)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        gdn_buf share = {0};
        uint8_t yes;
        size_t flen;
        if (!sent[i])
            continue;
        if (len - at < 5)
            return gdn_error(GDN_EFORMAT, "verdicts end early");
        yes = reply[at];
        flen = gdn_load_le32(reply + at + 1);
        at += 5;
        if (flen > len - at || yes > 1 || (!yes && flen))
            return gdn_error(GDN_EFORMAT, "verdict %zu is malformed", i);
        if (yes && gdn_fl_pine_leader_finish(v, &share, state[i].data, state[i].len,
                                             reply + at, flen) == 0 &&
            gdn_fl_pine_aggregate(v, agg, share.data, share.len) == 0) {
            in[i].accepted = 1;
            (*ok)++;
        } else {
            gdn_log(GDN_LOG_INFO, "round %llu: owner %llu's report rejected: %s",
                    (unsigned long long)round, (unsigned long long)in[i].client_index,
                    yes ? gdn_errmsg() : "the proof failed (the helper's verdict)");
            yes = 0;
        }
        gdn_buf_free(&share);
        at += flen;
        if ((rc = gdn_buf_append(flags, &yes, 1)))
            return rc;
    }
    if (at != len)
        return gdn_error(GDN_EFORMAT, "%zu bytes after the verdicts", len - at);
    return 0;
}

int net_prio_leader_aggregate(net_prio_leader *l, float *out, size_t *accepted,
                              net_prio_input *in, size_t n, uint64_t round,
                              const float *global, size_t dim, double bound)
{
    size_t os, vk, count = 0, ok = 0;
    uint64_t want;
    uint8_t key[64], pk[32];
    gdn_buf job = {0}, reply = {0}, flags = {0}, *state = NULL;
    uint8_t *agg = NULL, *sent = NULL;
    gdn_wire_prio_step st;
    int rc;
    char why[700];

    *accepted = 0;
    if ((rc = net_prio_leader_connect(l, pk)))
        return rc;
    if (!l->vdaf || l->dim != dim || l->bound != bound) {
        gdn_fl_pine_free(l->vdaf);
        l->vdaf = NULL;
        if ((rc = gdn_fl_pine_new(&l->vdaf, dim, bound)))
            return rc;
        l->dim = dim, l->bound = bound;
    }
    os = gdn_fl_pine_size(l->vdaf, GDN_FL_PINE_AGGREGATE);
    vk = gdn_fl_pine_size(l->vdaf, GDN_FL_PINE_VERIFY_KEY);
    if (vk > sizeof key)
        return gdn_error(GDN_EINTERNAL, "prio: verify key of %zu bytes", vk);
    /* The round's verification key: the leader's secret, shared only with
     * the helper over their TLS connection; owners never learn it. */
    randombytes_buf(key, vk);
    state = calloc(n ? n : 1, sizeof *state);
    sent = calloc(n ? n : 1, 1);
    agg = calloc(1, os);
    if (!state || !sent || !agg) {
        rc = GDN_ENOMEM;
        goto done;
    }
    if ((rc = net_prio_leader_job(l->vdaf, &job, state, sent, &count, in, n, key, round)))
        goto done;
    /* 1 -> helper; 2 <- verdicts */
    if ((rc = net_prio_send_step(l->c, round, 1, &job)) ||
        (rc = net_prio_recv_step(l->c, l->dec, &st, &reply, 4 + count * (5 + (uint64_t)65536),
                                 NET_PRIO_STEP_TIMEOUT_MS, 0)))
        goto link;
    if (st.round != round || st.step != 2) {
        rc = gdn_error(GDN_EFORMAT, "verdicts for another round or step");
        goto link;
    }
    if ((rc = net_prio_leader_verdicts(l->vdaf, agg, &flags, &ok, in, n, sent, state, count,
                                       reply.data, reply.len, round))) {
        if (rc == GDN_ENOMEM)
            goto done;
        goto link;
    }
    /* 3 -> the reports both accept; 4 <- the helper's aggregate share */
    if ((rc = net_prio_send_step(l->c, round, 3, &flags)) ||
        (rc = net_prio_recv_step(l->c, l->dec, &st, &reply, 8 + os, NET_PRIO_STEP_TIMEOUT_MS,
                                 0)))
        goto link;
    want = 8 + os;
    if (st.round != round || st.step != 4 || reply.len != want ||
        gdn_load_le64(reply.data) != ok) {
        rc = gdn_error(GDN_EFORMAT, "an aggregate share for another round, step, size or "
                       "count");
        goto link;
    }
    if ((rc = gdn_fl_pine_unshard(l->vdaf, out, global, agg, reply.data + 8, ok)))
        goto done;
    *accepted = ok;
    goto done;
link:
    snprintf(why, sizeof why, "%s", gdn_errmsg());
    disconnect(l);
    rc = gdn_error(rc ? rc : GDN_EIO, "%s: %s", l->label, why);
done:
    sodium_memzero(key, sizeof key);
    for (size_t i = 0; state && i < n; i++) {
        if (state[i].data)
            sodium_memzero(state[i].data, state[i].len);
        gdn_buf_free(&state[i]);
    }
    free(state), free(sent), free(agg);
    gdn_buf_free(&job), gdn_buf_free(&reply), gdn_buf_free(&flags);
    return rc;
}
