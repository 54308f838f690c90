/* Validated aggregation's helper (federation.h, gdn_helper_run): the second
 * PINE aggregator, another operator's process. One leader at a time over
 * mutually authenticated TLS 1.3, blocking: the only peer it serves is the
 * pinned leader; a round is the four PrioSteps of docs/protocol.md. The
 * helper's input shares arrive sealed to its own key; it opens them, checks
 * that each was made for this round and this owner, verifies each report
 * with the leader (ping-pong), and returns its aggregate share of the
 * reports both accept. It keeps nothing between rounds. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "net/internal.h"
#include "net/prio.h"

#define HANDSHAKE_MS 10000
#define MAX_JOB_BYTES ((uint64_t)1 << 32)

typedef struct helper {
    const gdn_helper_config *cfg;
    gdn_tls_ctx *tls;
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    net_prio_helper ph; /* its sealing keys, its PINE instance */
} helper;

static int stopped(const helper *h)
{
    return h->cfg->stop && *h->cfg->stop;
}

static void send_refusal(gdn_tls_conn *c, const helper *h, const char *why)
{
    gdn_wire_msg m;
    gdn_buf enc = {0};

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_WELCOME;
    m.u.welcome.protocol_version = GDN_WIRE_VERSION;
    snprintf(m.u.welcome.federation_id, sizeof m.u.welcome.federation_id, "%s",
             h->cfg->federation_id ? h->cfg->federation_id : "guardian");
    memcpy(m.u.welcome.coordinator_fingerprint, h->fp, sizeof h->fp);
    if (why) {
        snprintf(m.u.welcome.reason, sizeof m.u.welcome.reason, "%s", why);
    } else {
        m.u.welcome.accepted = 1;
        m.u.welcome.heartbeat_ms = 5000;
        m.u.welcome.idle_timeout_ms = 0xffffffffu;
        m.u.welcome.max_frame_bytes = GDN_FRAME_MAX_DEFAULT;
    }
    if (!gdn_wire_encode(&enc, &m))
        gdn_tls_send_frame(c, GDN_FRAME_MESSAGE, enc.data, enc.len, GDN_FRAME_MAX_DEFAULT,
                           HANDSHAKE_MS);
    gdn_buf_free(&enc);
}

static int put_u32(gdn_buf *b, size_t v)
{
    uint8_t x[4];
    gdn_store_le32(x, (uint32_t)v);
    return gdn_buf_append(b, x, 4);
}

/* A bounded little-endian reader over a step's payload. */
typedef struct reader {
    const uint8_t *p;
    size_t len, at;
} reader;

static const uint8_t *take(reader *r, size_t n)
{
    if (r->len - r->at < n)
        return NULL;
    r->at += n;
    return r->p + r->at - n;
}

void net_prio_entries_free(net_prio_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) {
        if (e[i].out_share.data)
            sodium_memzero(e[i].out_share.data, e[i].out_share.len);
        gdn_buf_free(&e[i].out_share);
    }
    free(e);
}

/* Opens one sealed share and checks what it was made for. */
static int open_share(const net_prio_helper *h, gdn_buf *share, const uint8_t *sealed, size_t len,
                      uint64_t round, uint64_t index, const uint8_t *nonce)
{
    size_t n;
    int rc;

    if (len < crypto_box_SEALBYTES + NET_PRIO_SEAL_HEADER)
        return gdn_error(GDN_EFORMAT, "sealed share too short");
    n = len - crypto_box_SEALBYTES;
    share->len = 0;
    if ((rc = gdn_buf_reserve(share, n)))
        return rc;
    if (crypto_box_seal_open(share->data, sealed, len, h->xpk, h->xsk) != 0)
        return gdn_error(GDN_ECRYPTO, "the sealed share does not open with this helper's key");
    share->len = n;
    if (gdn_load_le64(share->data) != round || gdn_load_le64(share->data + 8) != index)
        return gdn_error(GDN_ECRYPTO, "the sealed share was made for round %llu, owner %llu",
                         (unsigned long long)gdn_load_le64(share->data),
                         (unsigned long long)gdn_load_le64(share->data + 8));
    if (sodium_memcmp(share->data + 16, nonce, GDN_FL_PINE_NONCE_BYTES) != 0)
        return gdn_error(GDN_ECRYPTO, "the sealed share was made for another report (nonce)");
    return 0;
}

int net_prio_helper_verify(net_prio_helper *h, gdn_buf *reply, net_prio_entry **out,
                           size_t *count, size_t *rejected, uint64_t round,
                           const uint8_t *job, size_t job_len)
{
    const size_t nb = GDN_FL_PINE_NONCE_BYTES;
    reader r = {job, job_len, 0};
    const uint8_t *p, *key;
    uint64_t dim, bits, last = 0;
    double bound;
    size_t ps, hs, vk, n;
    uint8_t yes;
    net_prio_entry *e = NULL;
    gdn_buf share = {0}, fin = {0};
    int rc = 0;

    *out = NULL, *count = 0, *rejected = 0;
    /* A round is verified once: a leader cannot ask again with a subset of
     * its reports (or old ones) and learn one owner's update from the sums. */
    if (round <= h->last_round)
        return gdn_error(GDN_ESTATE, "PrioStep 1 for round %llu, but round %llu was already "
                         "served", (unsigned long long)round,
                         (unsigned long long)h->last_round);
    if (!(p = take(&r, 16)))
        return gdn_error(GDN_EFORMAT, "PrioStep 1: shorter than its header");
    dim = gdn_load_le64(p), bits = gdn_load_le64(p + 8);
    memcpy(&bound, &bits, 8);
    if (dim < 1 || dim > GDN_WIRE_MAX_PARAMS || !(bound > 0) || !(bound <= GDN_WIRE_MAX_PRIO_BOUND))
        return gdn_error(GDN_EFORMAT, "PrioStep 1: dimension %llu or bound %g out of range",
                         (unsigned long long)dim, bound);
    if (!h->vdaf || h->dim != dim || h->bound != bound) {
        gdn_fl_pine_free(h->vdaf);
        h->vdaf = NULL;
        if ((rc = gdn_fl_pine_new(&h->vdaf, (size_t)dim, bound)))
            return rc;
        h->dim = (size_t)dim, h->bound = bound;
    }
    ps = gdn_fl_pine_size(h->vdaf, GDN_FL_PINE_PUBLIC);
    hs = gdn_fl_pine_size(h->vdaf, GDN_FL_PINE_HELPER) + NET_PRIO_SEAL_HEADER +
         crypto_box_SEALBYTES;
    vk = gdn_fl_pine_size(h->vdaf, GDN_FL_PINE_VERIFY_KEY);
    if (!(key = take(&r, vk)) || !(p = take(&r, 4)))
        return gdn_error(GDN_EFORMAT, "PrioStep 1: ends inside its header");
    n = gdn_load_le32(p);
    if (n > (r.len - r.at) / (8 + nb + ps + hs + 4))
        return gdn_error(GDN_EFORMAT, "PrioStep 1: %zu reports cannot fit %zu bytes", n,
                         r.len - r.at);
    if (!(e = calloc(n ? n : 1, sizeof *e)))
        return GDN_ENOMEM;
    if ((rc = put_u32(reply, n)))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *idx, *nonce, *pub, *sealed, *init;
        uint64_t index;
        size_t ilen;
        if (!(idx = take(&r, 8)) || !(nonce = take(&r, nb)) || !(pub = take(&r, ps)) ||
            !(sealed = take(&r, hs)) || !(init = take(&r, 4))) {
            rc = gdn_error(GDN_EFORMAT, "PrioStep 1: report %zu is cut off", i);
            goto fail;
        }
        index = gdn_load_le64(idx);
        ilen = gdn_load_le32(init);
        if (!(init = take(&r, ilen))) {
            rc = gdn_error(GDN_EFORMAT, "PrioStep 1: report %zu's initialize is cut off", i);
            goto fail;
        }
        if (index > GDN_WIRE_MAX_CLIENT_INDEX || (i && index <= last)) {
            rc = gdn_error(GDN_EFORMAT, "PrioStep 1: owner indices not strictly increasing");
            goto fail;
        }
        last = index;
        fin.len = 0;
        rc = open_share(h, &share, sealed, hs, round, index, nonce);
        if (!rc)
            rc = gdn_fl_pine_helper_verify(h->vdaf, &fin, &e[i].out_share, key, nonce, pub, ps,
                                           share.data + NET_PRIO_SEAL_HEADER,
                                           share.len - NET_PRIO_SEAL_HEADER, init, ilen);
        if (share.data)
            sodium_memzero(share.data, share.len);
        if (rc == GDN_ENOMEM || rc == GDN_EINTERNAL)
            goto fail;
        e[i].ok = rc == 0;
        if (rc) {
            gdn_log(GDN_LOG_INFO, "round %llu: owner %llu's report rejected: %s",
                    (unsigned long long)round, (unsigned long long)index, gdn_errmsg());
            (*rejected)++;
            fin.len = 0;
        }
        yes = (uint8_t)e[i].ok;
        if ((rc = gdn_buf_append(reply, &yes, 1)) || (rc = put_u32(reply, fin.len)) ||
            (fin.len && (rc = gdn_buf_append(reply, fin.data, fin.len))))
            goto fail;
    }
    if (r.at != r.len) {
        rc = gdn_error(GDN_EFORMAT, "PrioStep 1: %zu bytes after the reports", r.len - r.at);
        goto fail;
    }
    *out = e, *count = n;
    h->last_round = round;
    gdn_buf_free(&share), gdn_buf_free(&fin);
    return 0;
fail:
    gdn_buf_free(&share), gdn_buf_free(&fin);
    net_prio_entries_free(e, n);
    return rc;
}

int net_prio_helper_aggregate(net_prio_helper *h, gdn_buf *reply, size_t *accepted,
                              const net_prio_entry *e, size_t n, const gdn_buf *flags)
{
    size_t os, sent = n, ok = 0;
    int rc;

    if (!h->vdaf)
        return gdn_error(GDN_ESTATE, "PrioStep 3 before a step 1");
    os = gdn_fl_pine_size(h->vdaf, GDN_FL_PINE_AGGREGATE);
    if (flags->len != 4 + sent || gdn_load_le32(flags->data) != sent)
        return gdn_error(GDN_EFORMAT, "PrioStep 3: %zu bytes for %zu reports", flags->len,
                         sent);
    reply->len = 0;
    if ((rc = gdn_buf_reserve(reply, 8 + os)))
        return rc;
    memset(reply->data, 0, 8 + os);
    reply->len = 8 + os;
    for (size_t i = 0; i < n; i++) {
        uint8_t f = flags->data[4 + i];
        if (f > 1 || (f && !e[i].ok))
            return gdn_error(GDN_EFORMAT, "PrioStep 3: report %zu accepted by the leader "
                             "but rejected here (or a flag of %u)", i, f);
        if (!f)
            continue;
        if (e[i].out_share.len != os)
            return gdn_error(GDN_EINTERNAL, "an output share of %zu bytes, not %zu",
                             e[i].out_share.len, os);
        if ((rc = gdn_fl_pine_aggregate(h->vdaf, reply->data + 8, e[i].out_share.data,
                                        e[i].out_share.len)))
            return rc;
        ok++;
    }
    if (ok < (h->min_batch ? h->min_batch : 1)) {
        sodium_memzero(reply->data, reply->len);
        reply->len = 0;
        return gdn_error(GDN_ESTATE, "%zu accepted reports, fewer than this helper's minimum "
                         "batch of %zu: no aggregate share", ok, h->min_batch);
    }
    gdn_store_le64(reply->data, ok);
    *accepted = ok;
    return 0;
}

void net_prio_helper_clear(net_prio_helper *h)
{
    sodium_memzero(h->xsk, sizeof h->xsk);
    gdn_fl_pine_free(h->vdaf);
    h->vdaf = NULL;
}

/* Waits for the leader's next message without a deadline (rounds are far
 * apart): 1 readable, 0 stopped, or an error. */
static int wait_leader(const helper *h, gdn_tls_conn *c)
{
    while (!stopped(h)) {
        int r;
        if (gdn_tls_pending(c) > 0)
            return 1;
        r = net_wait_fd(gdn_tls_conn_fd(c), 0, gdn_now() + 0.25);
        if (r != 0)
            return r;
    }
    return 0;
}

/* One leader's connection, until it closes or faults. */
static int serve_leader(helper *h, gdn_tls_conn *c)
{
    gdn_frame_decoder *d = NULL;
    gdn_buf job = {0}, reply = {0}, flags = {0};
    net_prio_entry *e = NULL;
    size_t n = 0, rejected = 0, accepted = 0;
    gdn_wire_prio_step st;
    uint64_t round = 0;
    int rc;

    if ((rc = gdn_frame_decoder_new(&d, GDN_FRAME_MAX_DEFAULT)))
        return rc;
    for (;;) {
        if ((rc = wait_leader(h, c)) <= 0)
            break;
        if ((rc = net_prio_recv_step(c, d, &st, &job, MAX_JOB_BYTES, NET_PRIO_STEP_TIMEOUT_MS,
                                     1))) {
            if (rc == GDN_NET_CLOSED) {
                gdn_log(GDN_LOG_INFO, "helper: the leader closed the link");
                rc = 0;
            }
            break;
        }
        if (st.step != 1) {
            rc = gdn_error(GDN_EFORMAT, "PrioStep %u where a round's first step was expected",
                           st.step);
            break;
        }
        round = st.round;
        if (h->cfg->on_job)
            h->cfg->on_job(h->cfg->ctx, round);
        reply.len = 0;
        rc = net_prio_helper_verify(&h->ph, &reply, &e, &n, &rejected, round, job.data,
                                    job.len);
        if (job.data)
            sodium_memzero(job.data, job.len); /* it held the verification key */
        if (rc || (rc = net_prio_send_step(c, round, 2, &reply)))
            break;
        if ((rc = net_prio_recv_step(c, d, &st, &flags, 4 + (uint64_t)n,
                                     NET_PRIO_STEP_TIMEOUT_MS, 0)))
            break;
        if (st.step != 3 || st.round != round) {
            rc = gdn_error(GDN_EFORMAT, "PrioStep %u of round %llu where step 3 of round %llu "
                           "was expected", st.step, (unsigned long long)st.round,
                           (unsigned long long)round);
            break;
        }
        if ((rc = net_prio_helper_aggregate(&h->ph, &reply, &accepted, e, n, &flags)) ||
            (rc = net_prio_send_step(c, round, 4, &reply)))
            break;
        gdn_log(GDN_LOG_INFO, "round %llu: %zu reports verified with the leader, %zu accepted, "
                "%zu rejected; aggregate share sent", (unsigned long long)round, n, accepted,
                n - accepted);
        if (h->cfg->on_round)
            h->cfg->on_round(h->cfg->ctx, round, accepted, n - accepted);
        net_prio_entries_free(e, n);
        e = NULL, n = 0;
    }
    if (rc < 0) {
        gdn_wire_msg m;
        gdn_buf enc = {0};
        memset(&m, 0, sizeof m);
        m.type = GDN_WIRE_ERROR;
        m.u.error.code = GDN_WIRE_ERR_PROTOCOL;
        snprintf(m.u.error.message, sizeof m.u.error.message, "%s", gdn_errmsg());
        if (!gdn_wire_encode(&enc, &m))
            gdn_tls_send_frame(c, GDN_FRAME_MESSAGE, enc.data, enc.len, GDN_FRAME_MAX_DEFAULT,
                               1000);
        gdn_buf_free(&enc);
    }
    net_prio_entries_free(e, n);
    gdn_buf_free(&job), gdn_buf_free(&reply), gdn_buf_free(&flags);
    gdn_frame_decoder_free(d);
    return rc < 0 ? rc : 0;
}

/* Derives the helper's X25519 sealing key pair from its Ed25519 identity. */
static int sealing_keys(helper *h)
{
    char key[4200];
    uint8_t sk[64];
    int rc;

    if (h->cfg->tls.key_file)
        snprintf(key, sizeof key, "%s", h->cfg->tls.key_file);
    else
        snprintf(key, sizeof key, "%s/key.pem", h->cfg->tls.dir ? h->cfg->tls.dir : ".");
    if ((rc = gdn_net_identity_secret(sk, key)))
        return rc;
    if (crypto_sign_ed25519_sk_to_curve25519(h->ph.xsk, sk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(h->ph.xpk, sk + 32) != 0)
        rc = gdn_error(GDN_ECRYPTO, "%s: no X25519 key derives from this identity", key);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int gdn_helper_run(const gdn_helper_config *cfg)
{
    helper h;
    int lfd = -1, rc;
    uint16_t port = 0;
    char hex[GDN_NET_FINGERPRINT_HEX_BYTES];

    memset(&h, 0, sizeof h);
    h.cfg = cfg;
    if (!cfg->leader_pin)
        return gdn_error(GDN_EINVAL, "the helper serves one pinned leader (--leader-pin FP)");
    h.ph.min_batch = cfg->min_batch ? cfg->min_batch : 2;
    if ((rc = sealing_keys(&h)) || (rc = gdn_tls_ctx_new_server(&h.tls, &cfg->tls)))
        goto done;
    gdn_tls_ctx_fingerprint(h.fp, h.tls);
    if ((rc = gdn_net_listen(&lfd, cfg->host, cfg->port, 16, &port)))
        goto done;
    gdn_net_fingerprint_hex(hex, h.fp);
    gdn_log(GDN_LOG_INFO, "validated-aggregation helper %s listening on port %u", hex,
            (unsigned)port);
    if (cfg->on_listen)
        cfg->on_listen(cfg->ctx, port);
    while (!stopped(&h)) {
        gdn_tls_conn *c = NULL;
        uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
        int r = net_wait_fd(lfd, 0, gdn_now() + 0.25);
        if (r <= 0)
            continue;
        if (gdn_tls_accept(&c, h.tls, lfd, HANDSHAKE_MS)) {
            gdn_log(GDN_LOG_WARN, "helper: connection refused: %s", gdn_errmsg());
            continue;
        }
        if (gdn_tls_peer_fingerprint(fp, c) == 0 &&
            sodium_memcmp(fp, cfg->leader_pin, sizeof fp) == 0) {
            gdn_log(GDN_LOG_INFO, "helper: the leader connected from %s",
                    gdn_tls_peer_label(c));
            send_refusal(c, &h, NULL);
            if (serve_leader(&h, c))
                gdn_log(GDN_LOG_WARN, "helper: the leader's connection ends: %s",
                        gdn_errmsg());
            else
                gdn_tls_shutdown(c);
        } else {
            gdn_net_fingerprint_hex(hex, fp);
            gdn_log(GDN_LOG_WARN, "helper: %s (identity %s) is not the pinned leader; refused",
                    gdn_tls_peer_label(c), hex);
            send_refusal(c, &h, "this helper serves another leader");
            gdn_tls_shutdown(c);
        }
        gdn_tls_conn_free(c);
    }
    rc = 0;
done:
    if (lfd >= 0)
        close(lfd);
    gdn_tls_ctx_free(h.tls);
    net_prio_helper_clear(&h.ph);
    return rc;
}
