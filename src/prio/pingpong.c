/* The ping-pong topology of draft-irtf-cfrg-vdaf-20 §5.7.1 for Prio3 and
 * PINE: the message encoding (TLS presentation language, RFC 8446 §3) and
 * the state transitions of the leader and the helper. Both VDAFs verify in
 * one round (ROUNDS = 1), so a report takes `initialize` then `finish`; a
 * `continue` message is well-formed but always rejected here. */
#include <string.h>

#include "guardian/prio.h"

#define VDAF_ROUNDS 1

/* The three verification calls of a one-round VDAF. PINE (on VDAF draft
 * 11) has no application context: its adapters ignore ctx. */
typedef struct vdaf_ops {
    int (*init)(const void *v, gdn_buf *state, gdn_buf *share, const uint8_t *key,
                const uint8_t *ctx, size_t ctx_len, unsigned agg_id, const uint8_t *nonce,
                const uint8_t *ps, size_t ps_len, const uint8_t *is, size_t is_len);
    int (*combine)(const void *v, gdn_buf *msg, const uint8_t *ctx, size_t ctx_len,
                   const uint8_t *const *shares, const size_t *lens, size_t n);
    int (*next)(const void *v, gdn_buf *out, const uint8_t *state, size_t state_len,
                const uint8_t *msg, size_t msg_len);
} vdaf_ops;

static int prio3_init(const void *v, gdn_buf *state, gdn_buf *share, const uint8_t *key,
                      const uint8_t *ctx, size_t ctx_len, unsigned agg_id,
                      const uint8_t *nonce, const uint8_t *ps, size_t ps_len,
                      const uint8_t *is, size_t is_len)
{
    return gdn_prio3_verify_init(v, state, share, key, ctx, ctx_len, agg_id, nonce, ps,
                                 ps_len, is, is_len);
}
static int prio3_combine(const void *v, gdn_buf *msg, const uint8_t *ctx, size_t ctx_len,
                         const uint8_t *const *shares, const size_t *lens, size_t n)
{
    return gdn_prio3_verifier_shares_to_message(v, msg, ctx, ctx_len, shares, lens, n);
}
static int prio3_next(const void *v, gdn_buf *out, const uint8_t *state, size_t state_len,
                      const uint8_t *msg, size_t msg_len)
{
    return gdn_prio3_verify_next(v, out, state, state_len, msg, msg_len);
}
static int pine_init(const void *v, gdn_buf *state, gdn_buf *share, const uint8_t *key,
                     const uint8_t *ctx, size_t ctx_len, unsigned agg_id,
                     const uint8_t *nonce, const uint8_t *ps, size_t ps_len,
                     const uint8_t *is, size_t is_len)
{
    (void)ctx, (void)ctx_len;
    return gdn_pine_verify_init(v, state, share, key, agg_id, nonce, ps, ps_len, is, is_len);
}
static int pine_combine(const void *v, gdn_buf *msg, const uint8_t *ctx, size_t ctx_len,
                        const uint8_t *const *shares, const size_t *lens, size_t n)
{
    (void)ctx, (void)ctx_len;
    return gdn_pine_verifier_shares_to_message(v, msg, shares, lens, n);
}
static int pine_next(const void *v, gdn_buf *out, const uint8_t *state, size_t state_len,
                     const uint8_t *msg, size_t msg_len)
{
    return gdn_pine_verify_next(v, out, state, state_len, msg, msg_len);
}

static const vdaf_ops prio3_ops = {prio3_init, prio3_combine, prio3_next};
static const vdaf_ops pine_ops = {pine_init, pine_combine, pine_next};

static void put_be32(uint8_t p[4], uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static int put_field(gdn_buf *out, const uint8_t *p, size_t n)
{
    uint8_t len[4];
    int rc;
    if (n > GDN_PINGPONG_MAX_FIELD)
        return gdn_error(GDN_ERANGE, "ping-pong: field of %zu bytes (max %zu)", n,
                         GDN_PINGPONG_MAX_FIELD);
    put_be32(len, (uint32_t)n);
    if ((rc = gdn_buf_append(out, len, 4)))
        return rc;
    return n ? gdn_buf_append(out, p, n) : 0;
}

int gdn_pingpong_encode(gdn_buf *out, const gdn_pingpong_message *m)
{
    uint8_t t = (uint8_t)m->type;
    int rc;
    if (m->type != GDN_PINGPONG_INITIALIZE && m->type != GDN_PINGPONG_CONTINUE &&
        m->type != GDN_PINGPONG_FINISH)
        return gdn_error(GDN_EINVAL, "ping-pong: unknown message type %d", (int)m->type);
    if ((rc = gdn_buf_append(out, &t, 1)))
        return rc;
    if (m->type != GDN_PINGPONG_INITIALIZE &&
        (rc = put_field(out, m->verifier_message, m->verifier_message_len)))
        return rc;
    if (m->type != GDN_PINGPONG_FINISH)
        rc = put_field(out, m->verifier_share, m->verifier_share_len);
    return rc;
}

/* One opaque<0..2^32-1> field at *at; checks it fits what is left. */
static int get_field(const uint8_t **p, size_t *n, const uint8_t *in, size_t len,
                     size_t *at, const char *name)
{
    if (len - *at < 4)
        return gdn_error(GDN_EFORMAT, "ping-pong: message ends inside the length of "
                         "%s (byte %zu of %zu)", name, *at, len);
    size_t l = gdn_load_be32(in + *at);
    *at += 4;
    if (l > GDN_PINGPONG_MAX_FIELD)
        return gdn_error(GDN_EFORMAT, "ping-pong: %s of %zu bytes exceeds the limit "
                         "of %zu", name, l, GDN_PINGPONG_MAX_FIELD);
    if (l > len - *at)
        return gdn_error(GDN_EFORMAT, "ping-pong: %s claims %zu bytes, %zu left", name,
                         l, len - *at);
    *p = in + *at;
    *n = l;
    *at += l;
    return 0;
}

int gdn_pingpong_decode(gdn_pingpong_message *m, const uint8_t *in, size_t len)
{
    size_t at = 1;
    int rc = 0;
    memset(m, 0, sizeof *m);
    if (len < 1)
        return gdn_error(GDN_EFORMAT, "ping-pong: empty message");
    if (in[0] > GDN_PINGPONG_FINISH)
        return gdn_error(GDN_EFORMAT, "ping-pong: unknown message type %u", in[0]);
    m->type = (gdn_pingpong_type)in[0];
    if (m->type != GDN_PINGPONG_INITIALIZE)
        rc = get_field(&m->verifier_message, &m->verifier_message_len, in, len, &at,
                       "verifier_message");
    if (!rc && m->type != GDN_PINGPONG_FINISH)
        rc = get_field(&m->verifier_share, &m->verifier_share_len, in, len, &at,
                       "verifier_share");
    if (!rc && at != len)
        rc = gdn_error(GDN_EFORMAT, "ping-pong: %zu bytes after the message", len - at);
    if (rc)
        memset(m, 0, sizeof *m);
    return rc;
}

void gdn_pingpong_state_free(gdn_pingpong_state *st)
{
    if (!st)
        return;
    gdn_buf_free(&st->verify_state);
    gdn_buf_free(&st->out_share);
    gdn_buf_free(&st->outbound);
    memset(st, 0, sizeof *st);
}

static void reset(gdn_pingpong_state *st)
{
    st->verify_state.len = st->out_share.len = st->outbound.len = 0;
    st->round = 0;
}

static int reject(gdn_pingpong_state *st, int rc)
{
    st->status = GDN_PINGPONG_REJECTED;
    st->outbound.len = st->out_share.len = 0;
    return rc;
}

/* ping_pong_transition(): combine the two verifier shares (leader's first),
 * then verify_next; Prio3 finishes here and sends `finish`. */
static int transition(gdn_pingpong_state *st, const vdaf_ops *ops, const void *v,
                      const uint8_t *ctx, size_t ctx_len, const uint8_t *const shares[2],
                      const size_t lens[2])
{
    gdn_buf msg = {0};
    gdn_pingpong_message out = {GDN_PINGPONG_FINISH, NULL, NULL, 0, 0};
    int rc = ops->combine(v, &msg, ctx, ctx_len, shares, lens, 2);
    if (!rc)
        rc = ops->next(v, &st->out_share, st->verify_state.data, st->verify_state.len,
                       msg.data, msg.len);
    if (!rc) { /* verify_round + 1 == ROUNDS */
        out.verifier_message = msg.data;
        out.verifier_message_len = msg.len;
        rc = gdn_pingpong_encode(&st->outbound, &out);
    }
    gdn_buf_free(&msg);
    if (rc)
        return reject(st, rc);
    st->status = GDN_PINGPONG_FINISHED_WITH_OUTBOUND;
    return 0;
}

static int leader_init(gdn_pingpong_state *st, const vdaf_ops *ops, const void *v,
                       const uint8_t *verify_key, const uint8_t *ctx, size_t ctx_len,
                       const uint8_t *nonce, const uint8_t *public_share,
                       size_t public_share_len, const uint8_t *input_share,
                       size_t input_share_len)
{
    gdn_buf share = {0};
    gdn_pingpong_message m = {GDN_PINGPONG_INITIALIZE, NULL, NULL, 0, 0};
    reset(st);
    int rc = ops->init(v, &st->verify_state, &share, verify_key, ctx, ctx_len, 0, nonce,
                       public_share, public_share_len, input_share, input_share_len);
    if (!rc) {
        m.verifier_share = share.data;
        m.verifier_share_len = share.len;
        rc = gdn_pingpong_encode(&st->outbound, &m);
    }
    gdn_buf_free(&share);
    if (rc)
        return reject(st, rc);
    st->status = GDN_PINGPONG_CONTINUED;
    return 0;
}

static int helper_init(gdn_pingpong_state *st, const vdaf_ops *ops, const void *v,
                       const uint8_t *verify_key, const uint8_t *ctx, size_t ctx_len,
                       const uint8_t *nonce, const uint8_t *public_share,
                       size_t public_share_len, const uint8_t *input_share,
                       size_t input_share_len, const uint8_t *inbound, size_t inbound_len)
{
    gdn_buf share = {0};
    gdn_pingpong_message in;
    reset(st);
    int rc = ops->init(v, &st->verify_state, &share, verify_key, ctx, ctx_len, 1, nonce,
                       public_share, public_share_len, input_share, input_share_len);
    if (!rc)
        rc = gdn_pingpong_decode(&in, inbound, inbound_len);
    if (!rc && in.type != GDN_PINGPONG_INITIALIZE)
        rc = gdn_error(GDN_ESTATE, "ping-pong: the helper expects an initialize "
                       "message, got type %d", (int)in.type);
    if (!rc) {
        const uint8_t *shares[2] = {in.verifier_share, share.data};
        size_t lens[2] = {in.verifier_share_len, share.len};
        rc = transition(st, ops, v, ctx, ctx_len, shares, lens);
    }
    gdn_buf_free(&share);
    return rc ? reject(st, rc) : 0;
}

/* ping_pong_continued(): verify_next on the peer's verifier message; with
 * one round only `finish` completes. */
static int continued(gdn_pingpong_state *st, const vdaf_ops *ops, const void *v,
                     const uint8_t *inbound, size_t inbound_len, const char *who)
{
    gdn_pingpong_message in;
    int rc;
    if (st->status != GDN_PINGPONG_CONTINUED)
        return reject(st, gdn_error(GDN_ESTATE, "ping-pong: %s is not waiting for a "
                                    "message (status %d)", who, (int)st->status));
    if ((rc = gdn_pingpong_decode(&in, inbound, inbound_len)))
        return reject(st, rc);
    if (in.type == GDN_PINGPONG_INITIALIZE)
        return reject(st, gdn_error(GDN_ESTATE, "ping-pong: %s got an initialize "
                                    "message after initialization", who));
    if (!(st->round + 1 == VDAF_ROUNDS && in.type == GDN_PINGPONG_FINISH))
        return reject(st, gdn_error(GDN_ESTATE, "ping-pong: %s got a continue message "
                                    "in round %u of a %d-round VDAF", who, st->round,
                                    VDAF_ROUNDS));
    st->out_share.len = 0;
    rc = ops->next(v, &st->out_share, st->verify_state.data, st->verify_state.len,
                   in.verifier_message, in.verifier_message_len);
    if (rc)
        return reject(st, rc);
    st->outbound.len = 0;
    st->status = GDN_PINGPONG_FINISHED;
    return 0;
}

/* ---- Prio3 ---------------------------------------------------------------- */

int gdn_pingpong_leader_init(gdn_pingpong_state *st, const gdn_prio3 *v,
                             const uint8_t verify_key[GDN_PRIO3_VERIFY_KEY_BYTES],
                             const uint8_t *ctx, size_t ctx_len,
                             const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                             const uint8_t *public_share, size_t public_share_len,
                             const uint8_t *input_share, size_t input_share_len)
{
    return leader_init(st, &prio3_ops, v, verify_key, ctx, ctx_len, nonce, public_share,
                       public_share_len, input_share, input_share_len);
}

int gdn_pingpong_helper_init(gdn_pingpong_state *st, const gdn_prio3 *v,
                             const uint8_t verify_key[GDN_PRIO3_VERIFY_KEY_BYTES],
                             const uint8_t *ctx, size_t ctx_len,
                             const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                             const uint8_t *public_share, size_t public_share_len,
                             const uint8_t *input_share, size_t input_share_len,
                             const uint8_t *inbound, size_t inbound_len)
{
    return helper_init(st, &prio3_ops, v, verify_key, ctx, ctx_len, nonce, public_share,
                       public_share_len, input_share, input_share_len, inbound, inbound_len);
}

int gdn_pingpong_leader_continued(gdn_pingpong_state *st, const gdn_prio3 *v,
                                  const uint8_t *ctx, size_t ctx_len,
                                  const uint8_t *inbound, size_t inbound_len)
{
    (void)ctx, (void)ctx_len; /* Prio3's verify_next does not read it */
    return continued(st, &prio3_ops, v, inbound, inbound_len, "the leader");
}

int gdn_pingpong_helper_continued(gdn_pingpong_state *st, const gdn_prio3 *v,
                                  const uint8_t *ctx, size_t ctx_len,
                                  const uint8_t *inbound, size_t inbound_len)
{
    (void)ctx, (void)ctx_len;
    return continued(st, &prio3_ops, v, inbound, inbound_len, "the helper");
}

/* ---- PINE ------------------------------------------------------------------ */

int gdn_pingpong_pine_leader_init(gdn_pingpong_state *st, const gdn_pine *v,
                                  const uint8_t *verify_key,
                                  const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                                  const uint8_t *public_share, size_t public_share_len,
                                  const uint8_t *input_share, size_t input_share_len)
{
    return leader_init(st, &pine_ops, v, verify_key, NULL, 0, nonce, public_share,
                       public_share_len, input_share, input_share_len);
}

int gdn_pingpong_pine_helper_init(gdn_pingpong_state *st, const gdn_pine *v,
                                  const uint8_t *verify_key,
                                  const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                                  const uint8_t *public_share, size_t public_share_len,
                                  const uint8_t *input_share, size_t input_share_len,
                                  const uint8_t *inbound, size_t inbound_len)
{
    return helper_init(st, &pine_ops, v, verify_key, NULL, 0, nonce, public_share,
                       public_share_len, input_share, input_share_len, inbound, inbound_len);
}

int gdn_pingpong_pine_continued(gdn_pingpong_state *st, const gdn_pine *v,
                                const uint8_t *inbound, size_t inbound_len)
{
    return continued(st, &pine_ops, v, inbound, inbound_len, "the aggregator");
}
