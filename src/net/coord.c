/* The coordinator (federation.h): one thread, an epoll loop over
 * non-blocking TLS connections, the round state machine of docs/protocol.md.
 *
 * Memory per connection is bounded: a frame decoder holding at most one
 * frame of max_frame bytes, an output queue of messages and chunk headers
 * (chunk payloads are written from the round's one encoded model itself),
 * and while an update arrives, its bytes (exactly the announced model size,
 * in a buffer of an earlier round when one is free). Updates enter the aggregator in cohort
 * order, as in the simulation, so the same seed gives the same bits; one that
 * arrives early waits in its slot until those before it are in or dropped. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "net/he.h"
#include "net/internal.h"
#include "net/prio.h"
#include "net/state.h"

#define READ_BYTES 16384
#define OUT_KEEP ((size_t)64 << 10) /* an emptied output queue above this is let go */
#define MAX_EVENTS 256
#define TICK_MS 50

enum { C_HANDSHAKE, C_WELCOMED, C_IDLE, C_TRAINING, C_SUBMITTED };
enum { S_PENDING, S_RECEIVED, S_DROPPED, S_REFUSED, S_ADDED, S_REJECTED };

typedef struct conn {
    gdn_tls_conn *tls;
    int state;
    int dead;         /* freed after this pass of the loop */
    int closing;      /* send what is queued, then close_notify and close */
    long owner;       /* roster index, -1 before admission */
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    gdn_frame_decoder *dec;
    gdn_frame_reasm *reasm;
    gdn_buf out;
    size_t out_pos;
    size_t split;          /* c->direct goes out after out[0, split) */
    const uint8_t *direct; /* a chunk's payload, sent from its object */
    size_t direct_len;
    uint32_t events;  /* registered with epoll */
    int ready;        /* records read ahead wait in its TLS buffer: visit again */
    /* objects going out as chunks: the round's model (coord.model_bytes,
     * shared), and after it at most one of this connection's own */
    int streaming;
    const uint8_t *obj;
    uint64_t obj_len, obj_off;
    uint32_t obj_stream;
    gdn_buf own, next; /* own: streaming now; next: queued behind, with */
    gdn_buf next_msg;  /* the frame of the message that announces it */
    uint32_t next_stream;
    int has_next;
    uint8_t pk[32];    /* Ed25519 identity (its SecAgg+ signatures) */
    uint64_t examples; /* from Hello */
    uint64_t ledger_size; /* entries of the ledger head it holds */
    long sa_index;     /* index in this round's SecAgg+ cohort, -1 none */
    int expect_phase;  /* the announced object is a SecAgg+ answer of this phase */
    uint64_t caps;     /* Hello.capabilities */
    uint32_t expect_he; /* the announced object is an HePhase answer of this phase */
    uint64_t he_round;
    /* an announced update: its chunks follow */
    int expecting;
    long slot;        /* -1: late, discarded */
    uint64_t update_examples;
    double update_loss;
    uint64_t round_sent, index_sent;
    double t_open, t_rx, t_tx;
    uint64_t hb_tx, hb_rx;
} conn;

typedef struct slot {
    uint32_t owner;
    int status;
    conn *c;
    gdn_buf bytes;
    uint64_t examples;
    double loss;
    uint8_t pk[32];   /* the owner's identity, for the ledger */
    char reason[GDN_WIRE_MAX_RULE + GDN_WIRE_MAX_TEXT + 3]; /* its refusal: "rule: message" */
} slot;

typedef struct coord {
    const gdn_coord_config *cfg;
    gdn_fl_config fl;
    gdn_tls_ctx *tls;
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    int lfd, ep;
    conn **conns;
    size_t nconns, maxconns;
    conn **by_owner;               /* roster index -> admitted connection */
    uint8_t (*roster)[GDN_NET_FINGERPRINT_BYTES];
    size_t nroster;
    size_t nroster_saved;          /* first-come admissions in the state file */
    net_state *state;
    gdn_model *global;
    gdn_aggregator *agg;
    gdn_fl_server *server;
    float *scratch, *aggregate;
    size_t dim;
    unsigned done;
    gdn_coord_round *hist;
    size_t nhist;
    /* the round under way */
    int in_round;
    unsigned round;
    double t_round, deadline, t_wait;
    uint32_t *cohort, *pool;
    size_t m, next_add, updates;
    slot *slots;
    double loss_sum, weight_sum;
    gdn_buf model_bytes;
    gdn_buf *spare;                /* update buffers of past rounds, for reuse */
    size_t nspare;
    uint32_t stream_seq;
    /* a SecAgg+ round: the coordinator relays secagg.h's server side */
    gdn_secagg_server *sa;
    gdn_secagg_params sp;
    double wscale;         /* the cohort's largest example count */
    int sa_phase;          /* secagg.h round being collected, 0..3 */
    size_t sa_n;
    size_t *sa_slot;       /* SecAgg+ index -> cohort slot */
    uint8_t *sa_answered;  /* in this phase */
    uint32_t *sa_sum;      /* dim + 1 */
    gdn_buf sa_roster;     /* the participants' identity keys, 32 bytes each */
    /* validated aggregation: this coordinator is PINE's leader (net/prio.c) */
    net_prio_leader *prio;
    uint8_t helper_pk[32];
    uint64_t prio_bytes;   /* one owner's report */
    size_t rejected;       /* this round's reports whose proof failed */
    double prio_retry;     /* after a round the helper failed: no round before */
    /* the leader's steps with the helper block on that link: they run in a
     * thread while the loop keeps the owners' connections alive */
    int prio_stage;        /* 1: the steps' thread runs; 2: their result is in */
    pthread_t prio_thread;
    atomic_int prio_ready; /* set by the thread when it is done */
    net_prio_input *prio_in;
    size_t prio_n, prio_accepted;
    int prio_rc;
    char prio_err[600];
    double prio_t0;
    /* distributed DP: the owners' encoding, the round's rotation seed */
    gdn_dp_ddg_params ddg;
    uint8_t ddg_seed[32];
    double *ddg_out, *ddg_work; /* dim, dim_pad */
    /* encrypted aggregation (net/he.h): 1 decrypting, 2 decryption over */
    net_he_coord *he;
    int he_stage, he_failed;
    char he_why[GDN_WIRE_MAX_TEXT];
    uint8_t head[GDN_WIRE_HEAD_BYTES]; /* the ledger's head after the last round */
    uint64_t head_size;
    int cosigs_staged;              /* co-signatures waiting for the tick's commit */
    int finishing;                 /* Bye{DONE} sent: drain and stop */
    double t_last;                 /* when the last round finished (0: not yet) */
    double t_finish;
    int rc;                        /* a fatal error inside a callback of the loop */
    size_t nready;                 /* connections marked ready */
    gdn_coord_stats stats;
    uint64_t gone_sent, gone_received; /* bytes of closed connections */
} coord;

static void short_fp(char out[17], const uint8_t fp[32])
{
    char hex[GDN_NET_FINGERPRINT_HEX_BYTES];

    gdn_net_fingerprint_hex(hex, fp);
    memcpy(out, hex, 16);
    out[16] = '\0';
}

/* ---- Output ------------------------------------------------------------------ */

/* Appends m's MESSAGE frame to out. */
static int encode_msg(gdn_buf *out, const gdn_wire_msg *m)
{
    gdn_buf enc = {0};
    int rc;

    if (!(rc = gdn_wire_encode(&enc, m)))
        rc = gdn_frame_encode(out, GDN_FRAME_MESSAGE, enc.data, enc.len, GDN_FRAME_MAX_DEFAULT);
    gdn_buf_free(&enc);
    return rc;
}

static int queue_msg(conn *c, const gdn_wire_msg *m)
{
    return encode_msg(&c->out, m);
}

/* Queues an Error and closes after it (the answer to any fault of the peer). */
static void fail_conn(conn *c, int code, const char *msg)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_ERROR;
    m.u.error.code = code;
    snprintf(m.u.error.message, sizeof m.u.error.message, "%s", msg);
    if (c->state != C_HANDSHAKE && !c->closing)
        queue_msg(c, &m);
    c->closing = 1;
    c->streaming = 0;
}

/* Queues the next chunk of the object going out: its headers in c->out, its
 * payload sent from the object itself right after them (c->direct), not
 * copied. An object is let go once its last payload went out; the object
 * queued behind it goes next, after its message. */
static void refill(coord *co, conn *c)
{
    size_t n, step = co->cfg->max_frame - GDN_FRAME_CHUNK_HEADER_BYTES;

    if (c->obj_off == c->obj_len) {
        gdn_buf_free(&c->own);
        c->streaming = 0;
        if (!c->has_next)
            return;
        if (gdn_buf_append(&c->out, c->next_msg.data, c->next_msg.len)) {
            fail_conn(c, GDN_WIRE_ERR_INTERNAL, "out of memory");
            return;
        }
        gdn_buf_free(&c->next_msg);
        c->own = c->next;
        memset(&c->next, 0, sizeof c->next);
        c->has_next = 0;
        c->obj = c->own.data, c->obj_len = c->own.len, c->obj_off = 0;
        c->obj_stream = c->next_stream;
        c->streaming = 1;
    }
    n = c->obj_len - c->obj_off < step ? (size_t)(c->obj_len - c->obj_off) : step;
    if (gdn_frame_encode_chunk(&c->out, c->obj_stream, c->obj_off, c->obj_len, NULL, n,
                               co->cfg->max_frame)) {
        fail_conn(c, GDN_WIRE_ERR_INTERNAL, "out of memory");
        return;
    }
    c->split = c->out.len;
    c->direct = c->obj + c->obj_off;
    c->direct_len = n;
    c->obj_off += n;
}

/* Queues m, then `data` as chunks of a fresh stream (m's stream field must
 * name it: *stream is set before m is encoded). own: take *buf over. */
static int send_object(coord *co, conn *c, gdn_wire_msg *m, uint32_t *stream,
                       const uint8_t *data, uint64_t len, gdn_buf *buf)
{
    int rc;

    co->stream_seq = co->stream_seq % 0x7fffffffu + 1;
    *stream = co->stream_seq;
    if (c->streaming) { /* behind the model: its message waits too */
        gdn_buf_free(&c->next_msg);
        if (c->has_next || !buf)
            return gdn_error(GDN_EINTERNAL, "two objects queued behind the model");
        if ((rc = encode_msg(&c->next_msg, m)))
            return rc;
        c->next = *buf;
        memset(buf, 0, sizeof *buf);
        c->next_stream = co->stream_seq;
        c->has_next = 1;
        return 0;
    }
    if ((rc = queue_msg(c, m)))
        return rc;
    gdn_buf_free(&c->own);
    if (buf) {
        c->own = *buf;
        memset(buf, 0, sizeof *buf);
        data = c->own.data;
    }
    c->obj = data, c->obj_len = len, c->obj_off = 0;
    c->obj_stream = co->stream_seq;
    c->streaming = 1;
    return 0;
}

static void kill_conn(coord *co, conn *c, const char *why);

/* Writes what is queued; 0 when all of it went out, WANT_WRITE otherwise. */
static int flush(coord *co, conn *c)
{
    int rc;

    for (;;) {
        const uint8_t *p;
        size_t n, len;
        if (c->out_pos < c->split) {
            p = c->out.data + c->out_pos, len = c->split - c->out_pos;
        } else if (c->direct_len) {
            p = c->direct, len = c->direct_len;
        } else if (c->out_pos < c->out.len) {
            p = c->out.data + c->out_pos, len = c->out.len - c->out_pos;
        } else {
            c->out.len = c->out_pos = c->split = 0;
            if (!c->streaming || c->dead)
                break;
            refill(co, c);
            continue;
        }
        rc = gdn_tls_write(c->tls, p, len, &n);
        if (rc == GDN_NET_WANT_WRITE || rc == GDN_NET_WANT_READ)
            return rc;
        if (rc) {
            kill_conn(co, c, gdn_errmsg());
            return rc;
        }
        if (p == c->direct)
            c->direct += n, c->direct_len -= n;
        else
            c->out_pos += n;
        c->t_tx = gdn_now();
    }
    if ((rc = gdn_tls_flush(c->tls))) {
        if (rc != GDN_NET_WANT_WRITE)
            kill_conn(co, c, gdn_errmsg());
        return rc;
    }
    if (c->out.cap > OUT_KEEP) { /* give a large queue back */
        gdn_buf_free(&c->out);
        c->out_pos = 0;
    }
    if (c->closing) {
        gdn_tls_shutdown(c->tls);
        kill_conn(co, c, NULL);
    }
    return 0;
}

static void set_events(coord *co, conn *c, uint32_t ev)
{
    struct epoll_event e;

    if (c->dead || c->events == ev)
        return;
    memset(&e, 0, sizeof e);
    e.events = ev;
    e.data.ptr = c;
    epoll_ctl(co->ep, EPOLL_CTL_MOD, gdn_tls_conn_fd(c->tls), &e);
    c->events = ev;
}

/* ---- Connections ------------------------------------------------------------- */

static void drop_slot(coord *co, conn *c)
{
    if (co->in_round && c->slot >= 0 && (size_t)c->slot < co->m &&
        co->slots[c->slot].c == c) {
        slot *s = &co->slots[c->slot];
        s->c = NULL;
        if (s->status == S_PENDING)
            s->status = S_DROPPED;
    }
    c->slot = -1;
}

/* Closes c at the end of this pass; why (may be NULL) is logged. */
static void kill_conn(coord *co, conn *c, const char *why)
{
    if (c->dead)
        return;
    if (why) {
        if (c->owner >= 0)
            gdn_log(GDN_LOG_WARN, "owner %ld: connection closed: %s", c->owner, why);
        else
            gdn_log(GDN_LOG_WARN, "%s", why);
    }
    c->dead = 1;
    if (c->owner >= 0 && co->by_owner[c->owner] == c) {
        co->by_owner[c->owner] = NULL;
        if (co->he)
            net_he_coord_lost(co->he, (uint32_t)c->owner);
    }
    drop_slot(co, c);
    epoll_ctl(co->ep, EPOLL_CTL_DEL, gdn_tls_conn_fd(c->tls), NULL);
}

static void free_conn(coord *co, conn *c)
{
    uint64_t sent, received;

    gdn_tls_conn_bytes(c->tls, &sent, &received);
    co->gone_sent += sent;
    co->gone_received += received;
    gdn_tls_conn_free(c->tls);
    gdn_frame_decoder_free(c->dec);
    gdn_frame_reasm_free(c->reasm);
    gdn_buf_free(&c->out);
    gdn_buf_free(&c->own);
    gdn_buf_free(&c->next);
    gdn_buf_free(&c->next_msg);
    free(c);
}

static void reap(coord *co)
{
    size_t k = 0;

    for (size_t i = 0; i < co->nconns; i++) {
        if (co->conns[i]->dead) {
            co->nready -= (size_t)co->conns[i]->ready;
            free_conn(co, co->conns[i]);
        }
        else
            co->conns[k++] = co->conns[i];
    }
    co->nconns = k;
}

static void accept_all(coord *co)
{
    for (;;) {
        struct epoll_event e;
        gdn_tls_conn *t = NULL;
        conn *c;
        char peer[80];
        int fd, rc = gdn_net_accept(&fd, co->lfd, 0);

        if (rc == GDN_NET_WANT_READ)
            return;
        if (rc) {
            gdn_log(GDN_LOG_WARN, "accept: %s", gdn_errmsg());
            return;
        }
        if (co->nconns >= co->maxconns) {
            gdn_net_peer_address(peer, sizeof peer, fd);
            gdn_log(GDN_LOG_WARN, "peer %s: refused: %zu connections open, the limit",
                    peer, co->nconns);
            close(fd);
            continue;
        }
        if (!(c = calloc(1, sizeof *c)) ||
            (rc = gdn_tls_conn_new(&t, co->tls, fd, NULL, 1)) ||
            (rc = gdn_frame_decoder_new(&c->dec, co->cfg->max_frame))) {
            gdn_log(GDN_LOG_WARN, "accept: %s", c ? gdn_errmsg() : "out of memory");
            if (t)
                gdn_tls_conn_free(t);
            else
                close(fd);
            if (c)
                gdn_frame_decoder_free(c->dec);
            free(c);
            continue;
        }
        c->tls = t;
        c->owner = c->slot = c->sa_index = -1;
        c->t_open = c->t_rx = c->t_tx = gdn_now();
        c->state = C_HANDSHAKE;
        c->events = EPOLLIN;
        memset(&e, 0, sizeof e);
        e.events = EPOLLIN;
        e.data.ptr = c;
        epoll_ctl(co->ep, EPOLL_CTL_ADD, fd, &e);
        co->conns[co->nconns++] = c;
        if (co->nconns > co->stats.peak_connections)
            co->stats.peak_connections = co->nconns;
    }
}

/* Admission after the handshake: the roster decides the owner's index. */
static void welcome(coord *co, conn *c)
{
    gdn_wire_msg m;
    const char *refusal = NULL;
    char fp[17];
    long idx = -1;

    if (gdn_tls_peer_fingerprint(c->fp, c->tls) || gdn_tls_peer_public_key(c->pk, c->tls)) {
        kill_conn(co, c, gdn_errmsg());
        return;
    }
    short_fp(fp, c->fp);
    for (size_t i = 0; i < co->nroster; i++)
        if (sodium_memcmp(co->roster[i], c->fp, 32) == 0)
            idx = (long)i;
    if (idx < 0 && co->cfg->owners)
        refusal = "this identity is not on the federation's roster";
    else if (idx < 0 && co->nroster == co->fl.clients)
        refusal = "the federation is full";
    else if (co->finishing || (co->cfg->stop && *co->cfg->stop))
        refusal = "the coordinator is shutting down";
    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_WELCOME;
    m.u.welcome.protocol_version = GDN_WIRE_VERSION;
    snprintf(m.u.welcome.federation_id, sizeof m.u.welcome.federation_id, "%s",
             co->cfg->federation_id);
    memcpy(m.u.welcome.coordinator_fingerprint, co->fp, 32);
    if (refusal) {
        gdn_log(GDN_LOG_WARN, "%s: %s refused: %s", gdn_tls_peer_label(c->tls), fp,
                refusal);
        snprintf(m.u.welcome.reason, sizeof m.u.welcome.reason, "%s", refusal);
        queue_msg(c, &m);
        c->closing = 1;
        c->state = C_WELCOMED;
        return;
    }
    if (idx < 0) { /* first come: the next index, kept in the state file */
        idx = (long)co->nroster;        /* at the end of the loop's pass (save_roster) */
        memcpy(co->roster[co->nroster++], c->fp, 32);
    }
    if (co->by_owner[idx]) { /* the owner reconnected: the newest connection wins */
        kill_conn(co, co->by_owner[idx], "replaced by a new connection of the same owner");
    }
    c->owner = idx;
    co->by_owner[idx] = c;
    m.u.welcome.accepted = 1;
    m.u.welcome.heartbeat_ms = co->cfg->heartbeat_ms;
    m.u.welcome.idle_timeout_ms = co->cfg->idle_timeout_ms;
    m.u.welcome.max_frame_bytes = co->cfg->max_frame;
    if (queue_msg(c, &m)) {
        kill_conn(co, c, gdn_errmsg());
        return;
    }
    c->state = C_WELCOMED;
}

/* ---- Rounds -------------------------------------------------------------------- */

/* ε after `rounds` rounds: the central Gaussian's RDP, or the distributed
 * discrete Gaussian's (KLS) amplified by sampling. */
static double epsilon_after(const coord *co, unsigned rounds)
{
    return co->fl.dp.distributed
               ? gdn_fl_ddg_epsilon(&co->ddg, co->fl.fraction, rounds, co->fl.dp.delta)
               : gdn_fl_dp_epsilon(&co->fl, rounds, co->fl.dp.delta);
}

static size_t connected_idle(const coord *co)
{
    size_t n = 0;

    for (size_t i = 0; i < co->nroster; i++)
        if (co->by_owner[i] && co->by_owner[i]->state == C_IDLE && !co->by_owner[i]->closing)
            n++;
    return n;
}

static void finish_round(coord *co);

/* Keeps an update's buffer for the next one: the same size every time, so
 * reuse costs no allocation and no page faults. */
static void spare_put(coord *co, gdn_buf *b)
{
    if (b->data && b->cap >= co->model_bytes.len && co->nspare < co->cfg->fl.clients) {
        co->spare[co->nspare++] = *b;
        memset(b, 0, sizeof *b);
    } else {
        gdn_buf_free(b);
    }
}

static void he_decrypt(coord *co);
static void prio_start(coord *co);

/* One update into the round's sum: ciphertexts (HE), or the wire's
 * little-endian floats, read in place where they can be (the aggregator
 * checks that they are finite). */
static int add_update(coord *co, const slot *s)
{
    const float *v = co->scratch;

    if (co->he)
        return net_he_coord_add(co->he, s->bytes.data, s->bytes.len);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (s->bytes.len == 4 * co->dim && (uintptr_t)s->bytes.data % 4 == 0)
        v = (const float *)(const void *)s->bytes.data;
#endif
    if (v == co->scratch &&
        gdn_wire_floats_decode(co->scratch, co->dim, s->bytes.data, s->bytes.len))
        return -1;
    return gdn_aggregator_add(co->agg, v, (double)s->examples);
}

/* Moves every resolved slot at the head of the cohort into the aggregator. */
static void advance(coord *co)
{
    if (!co->in_round || co->fl.secagg.enabled || co->he_stage || co->prio_stage)
        return;
    while (co->next_add < co->m) {
        slot *s = &co->slots[co->next_add];
        if (s->status == S_PENDING)
            return;
        if (s->status == S_RECEIVED && co->prio) { /* verified at the round's end */
            s->status = S_ADDED;
            co->updates++;
            co->loss_sum += s->loss * (double)s->examples;
            co->weight_sum += (double)s->examples;
        } else if (s->status == S_RECEIVED) {
            if (add_update(co, s)) {
                gdn_log(GDN_LOG_WARN, "round %u: owner %u's update rejected: %s", co->round,
                        s->owner, gdn_errmsg());
                s->status = S_REJECTED;
            } else {
                s->status = S_ADDED;
                co->updates++;
                co->loss_sum += s->loss * (double)s->examples;
                co->weight_sum += (double)s->examples;
            }
            spare_put(co, &s->bytes);
        }
        co->next_add++;
    }
    if (co->he && co->updates >= co->cfg->min_clients)
        he_decrypt(co); /* finish_round once the holders answered */
    else if (co->prio && co->updates >= co->cfg->min_clients)
        prio_start(co); /* finish_round once the helper's steps are done */
    else
        finish_round(co);
}

/* ---- Encrypted aggregation (net/he.h): the host side ------------------------------ */

static void he_send(void *ctx, uint32_t owner, uint32_t phase, uint64_t round, gdn_buf *payload)
{
    coord *co = ctx;
    conn *c = owner < co->nroster ? co->by_owner[owner] : NULL;
    gdn_wire_msg m;

    if (!c || c->dead || c->closing)
        return;
    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_HE_PHASE;
    m.u.he_phase.round = round;
    m.u.he_phase.phase = phase;
    m.u.he_phase.bytes = payload->len;
    if (send_object(co, c, &m, &m.u.he_phase.stream, NULL, payload->len, payload)) {
        kill_conn(co, c, gdn_errmsg());
        return;
    }
    if (flush(co, c) == GDN_NET_WANT_WRITE)
        set_events(co, c, EPOLLIN | EPOLLOUT);
}

static const uint8_t *he_identity(void *ctx, uint32_t owner)
{
    coord *co = ctx;
    const conn *c = owner < co->nroster ? co->by_owner[owner] : NULL;

    return c && !c->dead && !c->closing && c->state >= C_IDLE && (c->caps & GDN_WIRE_CAP_HE)
               ? c->pk
               : NULL;
}

/* Decryption is over; the round finishes at the next tick (not from inside
 * a connection's callback). */
static void he_done(void *ctx, int ok, const char *why)
{
    coord *co = ctx;

    co->he_stage = 2;
    co->he_failed = !ok;
    snprintf(co->he_why, sizeof co->he_why, "%s", ok ? "" : why);
}

static void he_decrypt(coord *co)
{
    co->he_stage = 1;
    net_he_coord_decrypt(co->he, co->round, co->aggregate, gdn_model_params(co->global),
                         gdn_now() + co->cfg->round_timeout_ms / 1000.0);
}

/* ---- SecAgg+ rounds --------------------------------------------------------------
 * The coordinator runs the server side of secagg.h and relays: phase 1 sends
 * each participant its index and the cohort's identity keys and collects the
 * signed key advertisements; phases 2-4 send each survivor the server's
 * request (neighbours' keys, forwarded encrypted shares, the survivor list)
 * and collect the answers (shares, masked inputs, unmasking shares). A phase
 * closes when every survivor still connected has answered, or at its
 * deadline; the coordinator only ever learns the sum (docs/secagg.md). */

static void sa_reset(coord *co)
{
    gdn_secagg_server_free(co->sa);
    co->sa = NULL;
    co->sa_n = 0;
    co->sa_phase = 0;
}

static int sa_alive(const coord *co, size_t j)
{
    return co->sa_phase == 0 || gdn_secagg_server_alive(co->sa, (uint32_t)j);
}

/* Sends SecaggPhase{phase} and its bytes (taken over) to participant j. */
static void sa_send(coord *co, size_t j, uint32_t phase, gdn_buf *payload)
{
    conn *c = co->slots[co->sa_slot[j]].c;
    gdn_wire_msg m;

    if (!c || c->dead) {
        gdn_buf_free(payload);
        return;
    }
    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_SECAGG_PHASE;
    m.u.secagg_phase.round = co->round;
    m.u.secagg_phase.phase = phase;
    m.u.secagg_phase.bytes = payload->len;
    if (send_object(co, c, &m, &m.u.secagg_phase.stream, NULL, payload->len, payload)) {
        gdn_buf_free(payload);
        kill_conn(co, c, gdn_errmsg());
        return;
    }
    if (flush(co, c) == GDN_NET_WANT_WRITE)
        set_events(co, c, EPOLLIN | EPOLLOUT);
}

static void finish_round(coord *co);

/* Distributed DP: the noisy sum of the owners' encodings, decoded (rotated
 * back, rescaled), over the expected cohort, as the simulation does. */
static int decode_ddg(coord *co)
{
    return gdn_fl_ddg_decode(co->aggregate, co->ddg_out, co->ddg_work, co->sa_sum,
                             gdn_model_params(co->global), &co->ddg, co->ddg_seed,
                             co->fl.fraction * (double)co->fl.clients);
}

/* Ends a SecAgg+ round that cannot go on: nothing is revealed, no update. */
static void sa_fail(coord *co, const char *why)
{
    /* under DP the round still publishes: the model, unchanged */
    memcpy(co->aggregate, gdn_model_params(co->global), co->dim * sizeof(float));
    gdn_log(GDN_LOG_WARN, "round %u: SecAgg+ failed: %s", co->round, why);
    for (size_t i = 0; i < co->m; i++)
        if (co->slots[i].status == S_PENDING || co->slots[i].status == S_ADDED)
            co->slots[i].status = S_DROPPED;
    co->updates = 0;
    sa_reset(co);
    finish_round(co);
}

/* Closes the current phase when every survivor still connected answered
 * (or `force`, at the deadline) and opens the next. */
static void sa_step(coord *co, int force)
{
    char why[600];
    uint32_t count = 0;

    if (!co->in_round || !co->sa)
        return;
    for (size_t j = 0; j < co->sa_n && !force; j++) {
        const slot *s = &co->slots[co->sa_slot[j]];
        if (sa_alive(co, j) && !co->sa_answered[j] && s->c && !s->c->dead)
            return;
    }
    if (co->sa_phase == 3) { /* the unmasking answers are in */
        if (gdn_secagg_server_finish(co->sa, co->sa_sum, &count) ||
            (co->fl.dp.distributed
                 ? decode_ddg(co)
                 : gdn_fl_secagg_decode(co->aggregate, co->sa_sum, gdn_model_params(co->global),
                                        co->dim, count, co->fl.secagg.clip,
                                        co->fl.secagg.levels))) {
            snprintf(why, sizeof why, "%s", gdn_errmsg());
            sa_fail(co, why);
            return;
        }
        co->updates = count;
        sa_reset(co);
        finish_round(co);
        return;
    }
    if (gdn_secagg_server_advance(co->sa)) {
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        sa_fail(co, why);
        return;
    }
    co->sa_phase++;
    if (co->sa_phase == 3) /* masked inputs closed: these are the round's updates */
        for (size_t j = 0; j < co->sa_n; j++) {
            slot *s = &co->slots[co->sa_slot[j]];
            if (s->status != S_REFUSED)
                s->status = gdn_secagg_server_alive(co->sa, (uint32_t)j) ? S_ADDED : S_DROPPED;
        }
    memset(co->sa_answered, 0, co->sa_n);
    co->deadline = gdn_now() + co->cfg->round_timeout_ms / 1000.0;
    for (size_t j = 0; j < co->sa_n; j++) {
        gdn_buf req = {0};
        if (!gdn_secagg_server_alive(co->sa, (uint32_t)j))
            continue;
        if (gdn_secagg_server_request(co->sa, &req, (uint32_t)j)) {
            snprintf(why, sizeof why, "%s", gdn_errmsg());
            gdn_buf_free(&req);
            sa_fail(co, why);
            return;
        }
        sa_send(co, j, (uint32_t)co->sa_phase + 1, &req);
    }
}

/* A participant's answer for the current phase. */
static void sa_collect(coord *co, conn *c, const gdn_buf *msg)
{
    size_t j = (size_t)c->sa_index;

    if (gdn_secagg_server_collect(co->sa, (uint32_t)j, msg->data, msg->len))
        gdn_log(GDN_LOG_WARN, "round %u: owner %ld's SecAgg+ message refused: %s", co->round,
                c->owner, gdn_errmsg());
    co->sa_answered[j] = 1;
    sa_step(co, 0);
}

/* Parameters, server and phase-1 payloads of a SecAgg+ round among the
 * cohort slots parts[0..np). */
static int sa_setup(coord *co, const size_t *parts, size_t np)
{
    gdn_rng server, session;
    int rc;

    memset(&co->sp, 0, sizeof co->sp);
    if ((rc = gdn_fl_secagg_graph(&co->sp, (uint32_t)np, co->fl.secagg.k, co->fl.secagg.t,
                                  0)))
        return rc;
    if (co->fl.dp.distributed) { /* the DDG encoding's modulus and length */
        co->sp.bits = co->ddg.bits;
        co->sp.length = (uint32_t)co->ddg.dim_pad;
    } else {
        if ((rc = gdn_secagg_quant_bits(&co->sp.bits, (uint32_t)np, co->fl.secagg.levels)))
            return rc;
        co->sp.length = (uint32_t)co->dim + 1;
    }
    gdn_fl_server_rng(&server, co->fl.seed, co->round);
    gdn_rng_derive(&session, &server, 2); /* public: it only seeds the graph */
    gdn_rng_bytes(&session, co->sp.session, sizeof co->sp.session);
    gdn_fl_ddg_seed(co->ddg_seed, co->sp.session);
    gdn_rng_wipe(&server);
    gdn_rng_wipe(&session);
    co->sa_roster.len = 0;
    if ((rc = gdn_buf_reserve(&co->sa_roster, np * 32)))
        return rc;
    co->wscale = 1;
    for (size_t j = 0; j < np; j++) {
        const conn *c = co->slots[parts[j]].c;
        gdn_buf_append(&co->sa_roster, c->pk, 32); /* reserved: cannot fail */
        co->sa_slot[j] = parts[j];
        if ((double)c->examples > co->wscale)
            co->wscale = (double)c->examples;
    }
    if ((rc = gdn_secagg_server_new(&co->sa, &co->sp, co->sa_roster.data)))
        return rc;
    co->sa_n = np;
    co->sa_phase = 0;
    memset(co->sa_answered, 0, np);
    return 0;
}

/* ---- Validated aggregation (PINE with a helper, net/prio.c) ------------------------
 * Owners send PrioReports instead of Updates; they wait in their slots like
 * updates and, at the round's end, the leader runs the verification with
 * the helper over their own connection, in a thread while the loop goes on,
 * and publishes global + the mean of the accepted updates. A helper that
 * cannot be reached fails the round; rejected reports are dropped and
 * counted. */

#define PRIO_RETRY_S 1.0 /* after the helper failed a round, the next waits this long */

/* Before the round's RoundStarts: the helper's identity, which they carry. */
static int prio_begin(coord *co)
{
    if (net_prio_leader_connect(co->prio, co->helper_pk)) {
        gdn_log(GDN_LOG_WARN, "round %u: validated aggregation impossible, the round fails: "
                "%s", co->round, gdn_errmsg());
        co->prio_retry = gdn_now() + PRIO_RETRY_S;
        return -1;
    }
    return 0;
}

/* The leader's four steps with the helper (net/prio.c), off the loop. */
static void *prio_steps(void *arg)
{
    coord *co = arg;

    co->prio_rc = net_prio_leader_aggregate(co->prio, co->aggregate, &co->prio_accepted,
                                            co->prio_in, co->prio_n, co->round,
                                            gdn_model_params(co->global), co->dim,
                                            co->fl.prio.bound);
    if (co->prio_rc)
        snprintf(co->prio_err, sizeof co->prio_err, "%s", gdn_errmsg());
    atomic_store(&co->prio_ready, 1);
    return NULL;
}

/* Waits for the steps' thread, if one runs. */
static void prio_join(coord *co)
{
    if (co->prio_stage == 1) {
        pthread_join(co->prio_thread, NULL);
        co->prio_stage = 2;
    }
}

/* The steps' result (the thread joined) into the slots and the log. */
static void prio_apply(coord *co)
{
    if (co->prio_rc) {
        gdn_log(GDN_LOG_WARN, "round %u: validated aggregation failed, the round fails and "
                "the model stays: %s", co->round, co->prio_err);
        co->prio_retry = gdn_now() + PRIO_RETRY_S;
    } else {
        size_t n = 0;
        for (size_t i = 0; i < co->m; i++)
            if (co->slots[i].status == S_ADDED && !co->prio_in[n++].accepted)
                co->slots[i].status = S_REJECTED;
        co->rejected = n - co->prio_accepted;
        co->updates = co->prio_accepted;
        gdn_log(GDN_LOG_INFO, "round %u: validated aggregation: %zu reports accepted, %zu "
                "rejected (%.3f s with the helper)", co->round, co->prio_accepted,
                co->rejected, gdn_now() - co->prio_t0);
    }
    free(co->prio_in);
    co->prio_in = NULL;
}

/* At the round's end, every slot resolved: the reports go to verification
 * with the helper in a thread (prio_stage 1); timers() finishes the round
 * once it is done. */
static void prio_start(coord *co)
{
    size_t n = 0;

    atomic_store(&co->prio_ready, 0);
    co->prio_t0 = gdn_now();
    co->prio_in = calloc(co->m ? co->m : 1, sizeof *co->prio_in);
    for (size_t i = 0; co->prio_in && i < co->m; i++)
        if (co->slots[i].status == S_ADDED) {
            co->prio_in[n].client_index = co->slots[i].owner;
            co->prio_in[n].report = co->slots[i].bytes.data;
            co->prio_in[n++].len = co->slots[i].bytes.len;
        }
    co->prio_n = n;
    if (co->prio_in && pthread_create(&co->prio_thread, NULL, prio_steps, co) == 0) {
        co->prio_stage = 1;
        return;
    }
    co->prio_rc = gdn_error(GDN_ENOMEM, "could not start the verification");
    snprintf(co->prio_err, sizeof co->prio_err, "%s", gdn_errmsg());
    co->prio_stage = 2;
    prio_apply(co);
    finish_round(co);
}

static int start_round(coord *co)
{
    const gdn_coord_config *cfg = co->cfg;
    int secagg = co->fl.secagg.enabled;
    gdn_rng server, agg_rng;
    size_t np = 0, *parts = co->sa_slot;
    int rc;

    co->round = co->done + 1;
    co->m = gdn_fl_sample_cohort(co->cohort, co->pool, &co->fl, co->round);
    co->next_add = co->updates = co->rejected = 0;
    co->loss_sum = co->weight_sum = 0;
    /* the aggregator's stream, as the simulation sets it */
    gdn_fl_server_rng(&server, co->fl.seed, co->round);
    gdn_rng_derive(&agg_rng, &server, 1);
    gdn_aggregator_set_noise_rng(co->agg, &agg_rng);
    gdn_rng_wipe(&server);
    gdn_rng_wipe(&agg_rng);
    if (!secagg && !co->he &&
        (rc = gdn_aggregator_begin(co->agg, gdn_model_params(co->global), co->m)))
        return rc;
    if (co->he) {
        net_he_coord_begin(co->he);
        co->he_stage = co->he_failed = 0;
        co->he_why[0] = '\0';
    }
    co->model_bytes.len = 0;
    if ((rc = gdn_wire_floats_encode(&co->model_bytes, gdn_model_params(co->global),
                                     co->dim)))
        return rc;
    co->t_round = gdn_now();
    co->deadline = co->t_round + cfg->round_timeout_ms / 1000.0;
    co->in_round = 1;
    sa_reset(co);
    int no_helper = co->prio && prio_begin(co);
    for (size_t i = 0; i < co->m; i++) { /* who is there to take part */
        slot *s = &co->slots[i];
        conn *c = co->cohort[i] < co->nroster ? co->by_owner[co->cohort[i]] : NULL;
        memset(s, 0, sizeof *s);
        s->owner = co->cohort[i];
        if (no_helper) {
            s->status = S_DROPPED;
            continue;
        }
        if (!c || c->state != C_IDLE || c->closing) {
            s->status = S_DROPPED;
            gdn_log(GDN_LOG_INFO, "round %u: owner %u is not connected", co->round,
                    s->owner);
            continue;
        }
        s->status = S_PENDING;
        s->c = c;
        memcpy(s->pk, c->pk, 32);
        parts[np++] = i;
    }
    if (co->he) { /* the weight scale: the largest example count of the round */
        co->wscale = 1;
        for (size_t j = 0; j < np; j++)
            if ((double)co->slots[parts[j]].c->examples > co->wscale)
                co->wscale = (double)co->slots[parts[j]].c->examples;
    }
    if (secagg && (np < 3 || (rc = sa_setup(co, parts, np)))) {
        gdn_log(GDN_LOG_WARN, "round %u: no SecAgg+ round among %zu owners: %s", co->round,
                np, np < 3 ? "at least 3 are needed (with 2, each would learn the other's "
                             "input from the sum)" : gdn_errmsg());
        for (size_t j = 0; j < np; j++)
            co->slots[parts[j]].status = S_DROPPED, co->slots[parts[j]].c = NULL;
        np = 0;
    }
    for (size_t j = 0; j < np; j++) {
        size_t i = parts[j];
        slot *s = &co->slots[i];
        conn *c = s->c;
        gdn_wire_msg msg;
        gdn_wire_round_start *rs = &msg.u.round_start;

        memset(&msg, 0, sizeof msg);
        msg.type = GDN_WIRE_ROUND_START;
        rs->round = co->round;
        rs->seed = co->fl.seed;
        rs->client_index = s->owner;
        snprintf(rs->model, sizeof rs->model, "%s", co->fl.model);
        rs->local_epochs = co->fl.local.epochs;
        rs->batch = co->fl.local.batch;
        rs->lr = co->fl.local.lr;
        rs->momentum = co->fl.local.momentum;
        rs->weight_decay = co->fl.local.weight_decay;
        rs->prox_mu = co->fl.local.prox_mu;
        rs->aggregation = secagg ? GDN_WIRE_AGG_SECAGG : GDN_WIRE_AGG_PLAIN;
        if (co->he) {
            rs->aggregation = GDN_WIRE_AGG_HE;
            net_he_coord_params(co->he, &rs->he);
            rs->he.weight_scale = co->wscale;
        }
        if (co->prio) {
            rs->aggregation = GDN_WIRE_AGG_PRIO3;
            rs->prio.bound = co->fl.prio.bound;
            memcpy(rs->prio.helper_key, co->helper_pk, 32);
        }
        if (secagg) {
            gdn_wire_secagg *w = &rs->secagg;
            w->n = co->sp.n, w->k = co->sp.k, w->t = co->sp.t;
            w->bits = co->sp.bits, w->length = co->sp.length;
            memcpy(w->session, co->sp.session, sizeof w->session);
            w->clip = co->fl.secagg.clip;
            w->levels = co->fl.secagg.levels;
            w->weight_scale = co->wscale;
        }
        if (co->fl.dp.enabled) {
            rs->dp.enabled = 1;
            rs->dp.clip = gdn_aggregator_dp_clip(co->agg);
            rs->dp.noise_multiplier = co->fl.dp.noise;
            rs->dp.delta = co->fl.dp.delta;
            rs->dp.sampling_rate = co->fl.fraction;
            if (co->fl.dp.distributed) {
                rs->dp.clip = co->fl.dp.clip;
                rs->dp.distributed = 1;
                rs->dp.ddg_bits = co->ddg.bits;
                rs->dp.ddg_gamma = co->ddg.gamma;
                rs->dp.ddg_clients = co->ddg.clients;
            }
        }
        rs->model_bytes = co->model_bytes.len;
        rs->deadline_ms = cfg->round_timeout_ms;
        rs->cohort = co->m;
        c->slot = (long)i;
        c->sa_index = secagg ? (long)j : -1;
        c->state = C_TRAINING;
        c->round_sent = co->round;
        c->index_sent = s->owner;
        if ((rc = send_object(co, c, &msg, &rs->model_stream, co->model_bytes.data,
                              co->model_bytes.len, NULL))) {
            kill_conn(co, c, gdn_errmsg());
            continue;
        }
        if (secagg) { /* phase 1: its index and the cohort's identity keys */
            gdn_buf b = {0};
            uint8_t le[4];
            gdn_store_le32(le, (uint32_t)j);
            if (gdn_buf_append(&b, le, 4) ||
                gdn_buf_append(&b, co->sa_roster.data, co->sa_roster.len)) {
                gdn_buf_free(&b);
                kill_conn(co, c, gdn_errmsg());
                continue;
            }
            sa_send(co, j, 1, &b);
        }
        if (!c->dead && flush(co, c) == GDN_NET_WANT_WRITE)
            set_events(co, c, EPOLLIN | EPOLLOUT);
    }
    gdn_log(GDN_LOG_INFO, "round %u/%u: %zu owners sampled, model sent to %zu%s", co->round,
            co->fl.rounds, co->m, np, co->sa ? " (SecAgg+)" : co->he ? " (HE)" : "");
    if (co->sa) {
        sa_step(co, 0);
    } else if (secagg) { /* no SecAgg+ round: nothing to wait for, no update */
        memcpy(co->aggregate, gdn_model_params(co->global), co->dim * sizeof(float));
        co->updates = 0;
        finish_round(co);
    } else {
        advance(co); /* a cohort of dropouts ends at once */
    }
    return 0;
}

static int evaluate(coord *co, gdn_coord_round *r)
{
    const gdn_dataset *t = co->cfg->test;

    if (!t || !t->n)
        return 0;
    r->evaluated = 1;
    return gdn_model_evaluate(co->global, &r->test_loss, &r->test_accuracy, t->x, t->y, t->n);
}

static void end_round_messages(coord *co, const gdn_coord_round *r)
{
    for (size_t i = 0; i < co->m; i++) {
        slot *s = &co->slots[i];
        conn *c = s->c;
        gdn_wire_msg m;

        spare_put(co, &s->bytes);
        if (!c || c->dead)
            continue;
        memset(&m, 0, sizeof m);
        m.type = GDN_WIRE_ROUND_END;
        m.u.round_end.round = r->round;
        m.u.round_end.outcome =
            r->completed ? GDN_WIRE_OUTCOME_COMPLETED : GDN_WIRE_OUTCOME_FAILED;
        m.u.round_end.cohort = (uint32_t)r->updates;
        m.u.round_end.train_loss = r->train_loss;
        m.u.round_end.evaluated = r->evaluated;
        m.u.round_end.test_loss = r->evaluated ? r->test_loss : 0;
        m.u.round_end.test_accuracy = r->evaluated ? r->test_accuracy : 0;
        m.u.round_end.epsilon = isfinite(r->epsilon) ? r->epsilon : 1e300;
        if (!r->completed && co->he_failed)
            snprintf(m.u.round_end.message, sizeof m.u.round_end.message, "%s", co->he_why);
        else if (!r->completed && co->prio && co->updates >= co->cfg->min_clients)
            snprintf(m.u.round_end.message, sizeof m.u.round_end.message,
                     "validated aggregation with the helper failed");
        else if (!r->completed)
            snprintf(m.u.round_end.message, sizeof m.u.round_end.message,
                     "%zu updates, fewer than the %zu needed", r->updates,
                     co->cfg->min_clients);
        else if (co->prio)
            snprintf(m.u.round_end.message, sizeof m.u.round_end.message,
                     "%zu reports rejected by validated aggregation", r->rejected);
        if (c->slot == (long)i) {
            c->slot = -1;
            c->state = C_IDLE;
            c->sa_index = -1;
            if (c->streaming) { /* the round's data still on its way: too slow */
                c->streaming = 0;
                fail_conn(c, GDN_WIRE_ERR_TIMEOUT, "the round ended before its model was "
                                                   "sent (connection too slow)");
                continue;
            }
        }
        if (queue_msg(c, &m))
            kill_conn(co, c, gdn_errmsg());
        else if (flush(co, c) == GDN_NET_WANT_WRITE)
            set_events(co, c, EPOLLIN | EPOLLOUT);
    }
}

static int record(coord *co, gdn_coord_round *r)
{
    net_participant *p = calloc(co->m ? co->m : 1, sizeof *p);
    static const char *names[] = {"pending", "update", "dropout", "refused", "update",
                                  "rejected"};
    float *state[8];
    size_t nstate = gdn_fl_server_nstate(co->server);
    int rc;

    if (!p)
        return gdn_error(GDN_ENOMEM, "out of memory");
    for (size_t i = 0; i < co->m; i++) {
        p[i].idx = co->slots[i].owner;
        p[i].status = names[co->slots[i].status];
        p[i].examples = co->slots[i].examples;
        p[i].loss = co->slots[i].loss;
    }
    for (size_t i = 0; i < nstate && i < 8; i++)
        state[i] = gdn_fl_server_state(co->server, i);
    rc = net_state_commit(co->state, r, p, co->m, gdn_model_params(co->global), state,
                          nstate, co->dim, co->cfg->keep_checkpoints,
                          co->fl.dp.enabled ? gdn_aggregator_dp_clip(co->agg) : 0);
    free(p);
    return rc;
}

static int push_history(coord *co, const gdn_coord_round *r)
{
    void *p = realloc(co->hist, (co->nhist + 1) * sizeof *co->hist);

    if (!p)
        return gdn_error(GDN_ENOMEM, "out of memory");
    co->hist = p;
    co->hist[co->nhist++] = *r;
    return 0;
}

static void say_bye(coord *co, int reason, const char *msg)
{
    for (size_t i = 0; i < co->nconns; i++) {
        conn *c = co->conns[i];
        gdn_wire_msg m;
        if (c->dead)
            continue;
        if (c->state == C_HANDSHAKE || c->closing) {
            kill_conn(co, c, NULL);
            continue;
        }
        memset(&m, 0, sizeof m);
        m.type = GDN_WIRE_BYE;
        m.u.bye.reason = reason;
        snprintf(m.u.bye.message, sizeof m.u.bye.message, "%s", msg);
        c->streaming = 0;
        queue_msg(c, &m);
        c->closing = 1;
        if (flush(co, c) == GDN_NET_WANT_WRITE)
            set_events(co, c, EPOLLOUT);
    }
}

/* ---- The ledger -------------------------------------------------------------------- */

static int ledger_append(coord *co, const gdn_coord_round *r, const uint8_t before[32])
{
    const gdn_coord_ledger *l = co->cfg->ledger;
    gdn_coord_record rec;
    uint8_t (*ids)[32] = NULL, (*ref)[32] = NULL;
    const char **reasons = NULL;
    int rc;

    co->head_size = 0;
    if (!l)
        return 0;
    memset(&rec, 0, sizeof rec);
    rec.round = r;
    rec.secagg = co->fl.secagg.enabled;
    memcpy(rec.model_before, before, 32);
    if (co->m && (!(ids = malloc(co->m * sizeof *ids)) || !(ref = malloc(co->m * sizeof *ref)) ||
                  !(reasons = malloc(co->m * sizeof *reasons)))) {
        rc = gdn_error(GDN_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < co->m; i++) {
        const slot *s = &co->slots[i];
        if (s->status == S_ADDED && r->completed)
            memcpy(ids[rec.nupdates++], s->pk, 32);
        if (s->status == S_REFUSED) {
            memcpy(ref[rec.nrefused], s->pk, 32);
            reasons[rec.nrefused++] = s->reason;
        }
    }
    rec.updates = (const uint8_t(*)[32])ids;
    rec.refused = (const uint8_t(*)[32])ref;
    rec.reasons = reasons;
    rc = l->append(l->ctx, &rec, co->head, &co->head_size);
out:
    free(ids);
    free(ref);
    free(reasons);
    return rc;
}

/* The new head to every owner of the cohort still connected, with the proof
 * from the head it holds. */
static void send_heads(coord *co)
{
    const gdn_coord_ledger *l = co->cfg->ledger;

    if (!l || !co->head_size)
        return;
    for (size_t i = 0; i < co->m; i++) {
        conn *c = co->slots[i].c;
        gdn_wire_msg m;
        gdn_wire_ledger_head *h = &m.u.ledger_head;
        if (!c || c->dead || c->closing)
            continue;
        memset(&m, 0, sizeof m);
        m.type = GDN_WIRE_LEDGER_HEAD;
        h->round = co->round;
        memcpy(h->head, co->head, sizeof h->head);
        h->from_size = c->ledger_size;
        if (c->ledger_size && c->ledger_size < co->head_size &&
            l->prove(l->ctx, h->proof, &h->proof_len, c->ledger_size, co->head_size)) {
            gdn_log(GDN_LOG_WARN, "owner %ld: no ledger proof from %llu entries: %s", c->owner,
                    (unsigned long long)c->ledger_size, gdn_errmsg());
            continue;
        }
        if (queue_msg(c, &m))
            kill_conn(co, c, gdn_errmsg());
        else if (flush(co, c) == GDN_NET_WANT_WRITE)
            set_events(co, c, EPOLLIN | EPOLLOUT);
    }
}

static void finish_round(coord *co)
{
    gdn_coord_round r;
    uint8_t before[32];
    int rc = 0;

    memset(&r, 0, sizeof r);
    r.round = co->round;
    r.rounds = co->fl.rounds;
    r.cohort = co->m;
    r.updates = co->updates;
    for (size_t i = 0; i < co->m; i++) {
        r.dropouts += co->slots[i].status == S_DROPPED;
        r.refusals += co->slots[i].status == S_REFUSED;
    }
    /* With DP the round always publishes (noise at least): dropping out after
     * Poisson sampling costs no privacy, and the estimator divides by the
     * expected cohort, not by those who answered. */
    r.completed = co->fl.dp.enabled || (co->updates >= co->cfg->min_clients && !co->he_failed);
    r.epsilon = epsilon_after(co, co->round);
    r.train_loss = co->weight_sum > 0 ? co->loss_sum / co->weight_sum : 0;
    if (r.completed && co->prio) {
        r.completed = co->prio_stage == 2 && co->prio_rc == 0;
        r.updates = co->updates;
        r.rejected = co->rejected;
    }
    co->prio_stage = 0;
    for (size_t i = 0; co->prio && i < co->m; i++) /* the round's reports: done with */
        gdn_buf_free(&co->slots[i].bytes);
    if (r.completed) {
        if (!co->fl.secagg.enabled && !co->he && !co->prio &&
            (rc = gdn_aggregator_finish(co->agg, co->aggregate)))
            goto fail;
        gdn_fl_server_step(co->server, gdn_model_params(co->global), co->aggregate);
        if ((r.round % co->fl.eval_every == 0 || r.round == co->fl.rounds) &&
            (rc = evaluate(co, &r)))
            goto fail;
    }
    crypto_hash_sha256(before, co->model_bytes.data, co->model_bytes.len);
    co->model_bytes.len = 0;
    if ((rc = gdn_wire_floats_encode(&co->model_bytes, gdn_model_params(co->global),
                                     co->dim)))
        goto fail;
    crypto_hash_sha256(r.model_sha256, co->model_bytes.data, co->model_bytes.len);
    r.seconds = gdn_now() - co->t_round;
    /* the ledger first: a crash before the state commit redoes the round,
     * and the ledger then holds both attempts, as they happened */
    if ((rc = ledger_append(co, &r, before)) || (rc = record(co, &r)) ||
        (rc = push_history(co, &r)))
        goto fail;
    co->done = co->round;
    co->in_round = 0;
    co->he_stage = 0;
    co->stats.rounds_run++;
    end_round_messages(co, &r);
    send_heads(co);
    co->t_wait = gdn_now();
    if (r.completed && r.evaluated)
        gdn_log(GDN_LOG_INFO, "round %u/%u: %zu updates, %zu dropouts, %zu refusals, "
                "loss %.4f, test accuracy %.2f%% (%.2f s)", r.round, r.rounds, r.updates,
                r.dropouts, r.refusals, r.train_loss, 100 * r.test_accuracy, r.seconds);
    else if (r.completed)
        gdn_log(GDN_LOG_INFO, "round %u/%u: %zu updates, %zu dropouts, %zu refusals, "
                "loss %.4f (%.2f s)", r.round, r.rounds, r.updates, r.dropouts, r.refusals,
                r.train_loss, r.seconds);
    else if (co->he_failed)
        gdn_log(GDN_LOG_WARN, "round %u/%u failed: %s; the model stays", r.round, r.rounds,
                co->he_why);
    else if (co->prio && co->updates >= co->cfg->min_clients)
        gdn_log(GDN_LOG_WARN, "round %u/%u failed: no validated aggregation with the helper; "
                "the model stays", r.round, r.rounds);
    else
        gdn_log(GDN_LOG_WARN, "round %u/%u failed: %zu updates, fewer than min_clients "
                "%zu; the model stays", r.round, r.rounds, r.updates, co->cfg->min_clients);
    if (co->cfg->on_round &&
        (rc = co->cfg->on_round(co->cfg->ctx, co->hist, co->nhist, co->global)))
        goto fail;
    if (co->done >= co->fl.rounds)
        co->t_last = gdn_now(); /* Bye once the owners co-signed the last head */
    return;
fail:
    co->rc = rc;
}

/* ---- Input --------------------------------------------------------------------- */

/* An announced object of exactly `bytes` follows as chunks: 0, or the
 * connection is failed. */
static int expect_object(conn *c, uint64_t bytes)
{
    gdn_frame_reasm_free(c->reasm);
    c->reasm = NULL;
    if (gdn_frame_reasm_new(&c->reasm, bytes)) {
        fail_conn(c, GDN_WIRE_ERR_INTERNAL, "out of memory");
        return -1;
    }
    c->expecting = 1;
    return 0;
}

static void on_update(coord *co, conn *c, const gdn_wire_update *u)
{
    char why[160];

    if (co->he) { /* ciphertexts: bounded here, parsed exactly when added */
        if (u->update_bytes > net_he_coord_update_bytes(co->he)) {
            fail_conn(c, GDN_WIRE_ERR_LIMIT, "encrypted Update larger than the round allows");
            return;
        }
    } else if (u->update_bytes != co->model_bytes.len && c->state == C_TRAINING) {
        snprintf(why, sizeof why, "Update of %llu bytes for a model of %zu",
                 (unsigned long long)u->update_bytes, co->model_bytes.len);
        fail_conn(c, GDN_WIRE_ERR_PROTOCOL, why);
        return;
    }
    if (c->state == C_TRAINING &&
        (u->round != c->round_sent || u->client_index != c->index_sent)) {
        snprintf(why, sizeof why, "Update for round %llu, index %llu; expected %llu, %llu",
                 (unsigned long long)u->round, (unsigned long long)u->client_index,
                 (unsigned long long)c->round_sent, (unsigned long long)c->index_sent);
        fail_conn(c, GDN_WIRE_ERR_STATE, why);
        return;
    }
    if (c->state != C_TRAINING && !(u->round <= co->done || u->round < co->round)) {
        fail_conn(c, GDN_WIRE_ERR_STATE, "Update without a RoundStart");
        return;
    }
    if (!co->he && u->update_bytes > (uint64_t)4 * co->dim) { /* a late one is still bounded */
        fail_conn(c, GDN_WIRE_ERR_LIMIT, "Update larger than the model");
        return;
    }
    if (expect_object(c, u->update_bytes))
        return;
    if (c->state != C_TRAINING)
        c->slot = -1; /* late: read and drop */
    else if (co->nspare)
        gdn_frame_reasm_give(c->reasm, &co->spare[--co->nspare]);
    c->update_examples = u->examples;
    c->update_loss = u->mean_loss;
}

/* A validated-aggregation report is announced (instead of an Update); its
 * bytes follow, exactly one report's size. */
static void on_prio_report(coord *co, conn *c, const gdn_wire_prio_report *u)
{
    if (!co->prio || (c->state != C_TRAINING && !(u->round <= co->done || u->round < co->round))) {
        fail_conn(c, GDN_WIRE_ERR_STATE, "PrioReport without a validated round");
        return;
    }
    if (c->state == C_TRAINING &&
        (u->round != c->round_sent || u->client_index != c->index_sent)) {
        fail_conn(c, GDN_WIRE_ERR_STATE, "PrioReport for another round or index");
        return;
    }
    if (u->bytes != co->prio_bytes) {
        fail_conn(c, GDN_WIRE_ERR_LIMIT, "PrioReport of another size than the round's");
        return;
    }
    if (expect_object(c, u->bytes))
        return;
    if (c->state != C_TRAINING)
        c->slot = -1; /* late: read and drop */
    c->update_examples = u->examples;
    c->update_loss = u->mean_loss;
}

/* A SecAgg+ answer is announced; its bytes follow. One for a phase that has
 * closed is read and dropped (the race is normal). */
static void on_secagg_phase(coord *co, conn *c, const gdn_wire_secagg_phase *p)
{
    /* a masked input: 4 bytes per value of the round's SecAgg+ vector */
    uint64_t limit = p->phase == 3 ? 4 * (uint64_t)co->sp.length + 65536 : (uint64_t)16 << 20;
    int current = co->in_round && co->sa && c->sa_index >= 0 && p->round == co->round &&
                  p->phase == (uint32_t)co->sa_phase + 1;

    if (!current && !(p->round < co->round || (p->round == co->round &&
                                                 p->phase <= (uint32_t)co->sa_phase + 1))) {
        fail_conn(c, GDN_WIRE_ERR_STATE, "SecaggPhase for no phase under way");
        return;
    }
    if (p->bytes > limit) {
        fail_conn(c, GDN_WIRE_ERR_LIMIT, "SecaggPhase answer larger than its phase allows");
        return;
    }
    if (expect_object(c, p->bytes))
        return;
    c->expect_phase = current ? (int)p->phase : -1;
}

/* An HePhase answer is announced (set-up or decryption); its bytes follow.
 * Bounded by what the phase can hold: a decryption share per ciphertext is
 * no larger than a ciphertext. */
static void on_he_phase(coord *co, conn *c, const gdn_wire_he_phase *p)
{
    uint64_t limit = net_he_coord_update_bytes(co->he) + ((uint64_t)64 << 20);

    if (p->phase == GDN_WIRE_HE_KEY) {
        fail_conn(c, GDN_WIRE_ERR_STATE, "HePhase 3 comes from the coordinator only");
        return;
    }
    if (p->bytes > limit) {
        fail_conn(c, GDN_WIRE_ERR_LIMIT, "HePhase answer larger than its phase allows");
        return;
    }
    if (expect_object(c, p->bytes))
        return;
    c->expect_he = p->phase;
    c->he_round = p->round;
}

static void on_chunk(coord *co, conn *c, const gdn_frame *f)
{
    int rc;

    if (!c->expecting) {
        fail_conn(c, GDN_WIRE_ERR_PROTOCOL, "CHUNK without an announced object");
        return;
    }
    rc = gdn_frame_reasm_push(c->reasm, f->payload, f->len);
    if (rc < 0) {
        fail_conn(c, GDN_WIRE_ERR_PROTOCOL, gdn_errmsg());
        return;
    }
    if (rc == 0)
        return;
    c->expecting = 0;
    if (c->expect_he) { /* an HePhase answer */
        gdn_buf msg = {0};
        uint32_t phase = c->expect_he;
        c->expect_he = 0;
        if (gdn_frame_reasm_take(&msg, NULL, c->reasm)) {
            fail_conn(c, GDN_WIRE_ERR_INTERNAL, gdn_errmsg());
            return;
        }
        gdn_frame_reasm_free(c->reasm);
        c->reasm = NULL;
        net_he_coord_answer(co->he, (uint32_t)c->owner, phase, c->he_round, msg.data, msg.len);
        gdn_buf_free(&msg);
        return;
    }
    if (c->expect_phase) { /* a SecAgg+ answer */
        gdn_buf msg = {0};
        int phase = c->expect_phase;
        c->expect_phase = 0;
        if (gdn_frame_reasm_take(&msg, NULL, c->reasm)) {
            fail_conn(c, GDN_WIRE_ERR_INTERNAL, gdn_errmsg());
            return;
        }
        gdn_frame_reasm_free(c->reasm);
        c->reasm = NULL;
        if (phase > 0 && co->sa && c->sa_index >= 0 && phase == co->sa_phase + 1)
            sa_collect(co, c, &msg);
        gdn_buf_free(&msg);
        return;
    }
    if (c->slot >= 0 && c->state == C_TRAINING) {
        slot *s = &co->slots[c->slot];
        if (gdn_frame_reasm_take(&s->bytes, NULL, c->reasm)) {
            fail_conn(c, GDN_WIRE_ERR_INTERNAL, gdn_errmsg());
            return;
        }
        s->status = S_RECEIVED;
        s->examples = c->update_examples;
        s->loss = c->update_loss;
        c->state = C_SUBMITTED;
        advance(co);
    } else {
        gdn_frame_reasm_reset(c->reasm);
    }
    gdn_frame_reasm_free(c->reasm);
    c->reasm = NULL;
}

static void on_message(coord *co, conn *c, const gdn_frame *f)
{
    gdn_wire_msg m;
    char why[GDN_WIRE_MAX_TEXT + 64];

    if (gdn_wire_decode(&m, f->payload, f->len)) {
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        gdn_log(GDN_LOG_WARN, "%s: %s", gdn_tls_peer_label(c->tls), why);
        fail_conn(c, GDN_WIRE_ERR_PROTOCOL, why);
        return;
    }
    if (c->expecting && m.type != GDN_WIRE_HEARTBEAT) {
        fail_conn(c, GDN_WIRE_ERR_PROTOCOL, "a message inside an update's chunks");
        return;
    }
    switch (m.type) {
    case GDN_WIRE_HELLO:
        if (c->state != C_WELCOMED)
            break;
        if (sodium_memcmp(m.u.hello.client_fingerprint, c->fp, 32) != 0) {
            fail_conn(c, GDN_WIRE_ERR_PROTOCOL, "Hello.client_fingerprint is not the TLS "
                                                "certificate's");
            return;
        }
        if (co->prio && !(m.u.hello.capabilities & GDN_WIRE_CAP_PRIO3)) {
            fail_conn(c, GDN_WIRE_ERR_STATE, "this federation runs validated (PINE) rounds, "
                                             "which this owner does not speak");
            return;
        }
        if (co->fl.secagg.enabled && !(m.u.hello.capabilities & GDN_WIRE_CAP_SECAGG)) {
            fail_conn(c, GDN_WIRE_ERR_STATE, "this federation runs SecAgg+ rounds, which "
                                             "this owner does not speak");
            return;
        }
        if (co->he && !(m.u.hello.capabilities & GDN_WIRE_CAP_HE)) {
            fail_conn(c, GDN_WIRE_ERR_STATE, "this federation runs encrypted (HE) rounds, "
                                             "which this owner does not speak (join --state)");
            return;
        }
        c->examples = m.u.hello.examples;
        c->ledger_size = m.u.hello.ledger_size;
        c->caps = m.u.hello.capabilities;
        c->state = C_IDLE;
        if (co->he)
            net_he_coord_hello(co->he, (uint32_t)c->owner);
        gdn_log(GDN_LOG_INFO, "owner %ld joined from %s (%llu examples)", c->owner,
                gdn_tls_peer_label(c->tls), (unsigned long long)m.u.hello.examples);
        return;
    case GDN_WIRE_HEARTBEAT:
        if (m.u.heartbeat.sequence <= c->hb_rx) {
            fail_conn(c, GDN_WIRE_ERR_PROTOCOL, "Heartbeat.sequence did not increase");
            return;
        }
        c->hb_rx = m.u.heartbeat.sequence;
        return;
    case GDN_WIRE_UPDATE:
        if (c->state == C_WELCOMED || c->state == C_HANDSHAKE)
            break;
        on_update(co, c, &m.u.update);
        return;
    case GDN_WIRE_REFUSAL:
        if (c->state == C_TRAINING && m.u.refusal.round == c->round_sent && c->slot >= 0) {
            slot *s = &co->slots[c->slot];
            gdn_log(GDN_LOG_INFO, "round %u: owner %ld declines (%s): %s", co->round,
                    c->owner, m.u.refusal.rule, m.u.refusal.message);
            s->status = S_REFUSED;
            snprintf(s->reason, sizeof s->reason, "%s: %s", m.u.refusal.rule,
                     m.u.refusal.message);
            c->state = C_SUBMITTED;
            if (co->sa && c->sa_index >= 0) { /* it sends no advertisement */
                co->sa_answered[c->sa_index] = 1;
                sa_step(co, 0);
            }
            advance(co);
            return;
        }
        if (m.u.refusal.round <= co->done)
            return; /* late */
        break;
    case GDN_WIRE_SECAGG_PHASE:
        if (c->state == C_WELCOMED || c->state == C_HANDSHAKE)
            break;
        on_secagg_phase(co, c, &m.u.secagg_phase);
        return;
    case GDN_WIRE_HE_PHASE:
        if (c->state == C_WELCOMED || c->state == C_HANDSHAKE || !co->he)
            break;
        on_he_phase(co, c, &m.u.he_phase);
        return;
    case GDN_WIRE_PRIO_REPORT:
        if (c->state == C_WELCOMED || c->state == C_HANDSHAKE)
            break;
        on_prio_report(co, c, &m.u.prio_report);
        return;
    case GDN_WIRE_COSIGN:
        if (c->state == C_WELCOMED || c->state == C_HANDSHAKE || !co->cfg->ledger)
            break;
        if (co->cfg->ledger->cosign(co->cfg->ledger->ctx, c->pk, m.u.cosign.size,
                                    m.u.cosign.cosig)) {
            snprintf(why, sizeof why, "co-signature refused: %s", gdn_errmsg());
            gdn_log(GDN_LOG_WARN, "owner %ld: %s", c->owner, why);
            fail_conn(c, GDN_WIRE_ERR_PROTOCOL, why);
            return;
        }
        c->ledger_size = m.u.cosign.size;
        co->cosigs_staged = 1;
        return;
    case GDN_WIRE_BYE:
        gdn_log(GDN_LOG_INFO, "owner %ld leaves%s%s", c->owner,
                m.u.bye.message[0] ? ": " : "", m.u.bye.message);
        kill_conn(co, c, NULL);
        return;
    case GDN_WIRE_ERROR:
        snprintf(why, sizeof why, "the owner reports an error: %s", m.u.error.message);
        kill_conn(co, c, why);
        return;
    default:
        break;
    }
    snprintf(why, sizeof why, "%s is not expected now", gdn_wire_type_name(m.type));
    gdn_log(GDN_LOG_WARN, "%s: %s", gdn_tls_peer_label(c->tls), why);
    fail_conn(c, GDN_WIRE_ERR_STATE, why);
}

static void on_readable(coord *co, conn *c)
{
    uint8_t drop[READ_BYTES];

    /* TLS decrypts straight into the frame decoder's buffer (no copy) */
    for (int reads = 0; reads < 64 && !c->dead; reads++) {
        uint8_t *dst = drop;
        size_t want = sizeof drop, n;
        int rc;
        if (!c->closing && gdn_frame_decoder_space(c->dec, &dst, &want)) {
            fail_conn(c, GDN_WIRE_ERR_INTERNAL, gdn_errmsg());
            dst = drop, want = sizeof drop;
        }
        rc = gdn_tls_read(c->tls, dst, want, &n);
        if (rc == GDN_NET_WANT_READ)
            return;
        if (rc == GDN_NET_WANT_WRITE) {
            set_events(co, c, EPOLLIN | EPOLLOUT);
            return;
        }
        if (rc == GDN_NET_CLOSED || rc < 0) {
            char why[1024];
            int n0 = snprintf(why, sizeof why, "%s",
                              rc < 0 ? gdn_errmsg() : "closed without Bye");
            if (gdn_frame_decoder_finish(c->dec) && n0 > 0 && (size_t)n0 < sizeof why)
                snprintf(why + n0, sizeof why - (size_t)n0, "; %s", gdn_errmsg());
            kill_conn(co, c, rc < 0 || c->owner >= 0 ? why : NULL);
            return;
        }
        c->t_rx = gdn_now();
        if (c->closing)
            continue; /* read and drop: the close is under way */
        gdn_frame f;
        rc = gdn_frame_decoder_wrote(c->dec, &f, n);
        if (rc < 0) {
            char why[400];
            snprintf(why, sizeof why, "%s: %s", gdn_tls_peer_label(c->tls), gdn_errmsg());
            gdn_log(GDN_LOG_WARN, "%s", why);
            fail_conn(c, GDN_WIRE_ERR_PROTOCOL, why);
        } else if (rc == 1) {
            if (f.type == GDN_FRAME_CHUNK)
                on_chunk(co, c, &f);
            else if (f.type == GDN_FRAME_MESSAGE)
                on_message(co, c, &f);
            else
                fail_conn(c, GDN_WIRE_ERR_PROTOCOL, "unknown frame type");
        }
    }
    /* its turn is over; what TLS read ahead is invisible to epoll */
    if (!c->dead && gdn_tls_pending(c->tls) && !c->ready) {
        c->ready = 1;
        co->nready++;
    }
}

static void on_event(coord *co, conn *c)
{
    int rc;

    if (c->dead)
        return;
    if (c->state == C_HANDSHAKE) {
        rc = gdn_tls_handshake(c->tls);
        if (rc == GDN_NET_WANT_READ || rc == GDN_NET_WANT_WRITE) {
            set_events(co, c, rc == GDN_NET_WANT_READ ? EPOLLIN : EPOLLOUT);
            return;
        }
        if (rc) {
            char why[600];
            snprintf(why, sizeof why, "refused: %s", gdn_errmsg());
            kill_conn(co, c, why);
            return;
        }
        c->t_rx = gdn_now();
        welcome(co, c);
        if (c->dead)
            return;
    }
    on_readable(co, c);
    if (c->dead)
        return;
    rc = flush(co, c);
    if (!c->dead)
        set_events(co, c, rc == GDN_NET_WANT_WRITE ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* ---- Timers -------------------------------------------------------------------- */

static void heartbeat(coord *co, conn *c)
{
    gdn_wire_msg m;

    memset(&m, 0, sizeof m);
    m.type = GDN_WIRE_HEARTBEAT;
    m.u.heartbeat.sequence = ++c->hb_tx;
    m.u.heartbeat.round = co->in_round ? co->round : 0;
    c->t_tx = gdn_now(); /* a queued heartbeat counts: no second one meanwhile */
    if (queue_msg(c, &m))
        kill_conn(co, c, gdn_errmsg());
    else if (flush(co, c) == GDN_NET_WANT_WRITE)
        set_events(co, c, EPOLLIN | EPOLLOUT);
}

/* First-come admissions of this pass of the loop, in one transaction, before
 * any round can use them (a crash before it loses admissions no round saw:
 * those owners reconnect and are admitted again). */
static void save_roster(coord *co)
{
    int rc;

    if (co->nroster == co->nroster_saved)
        return;
    if ((rc = net_state_add_owners(co->state, co->nroster_saved,
                                   co->roster + co->nroster_saved,
                                   co->nroster - co->nroster_saved))) {
        co->rc = rc;
        return;
    }
    co->nroster_saved = co->nroster;
}

static void timers(coord *co)
{
    const gdn_coord_config *cfg = co->cfg;
    double now = gdn_now();

    save_roster(co);

    if (co->cosigs_staged && cfg->ledger->flush) { /* one commit for a tick's co-signatures */
        if (cfg->ledger->flush(cfg->ledger->ctx))
            gdn_log(GDN_LOG_WARN, "ledger: storing co-signatures: %s", gdn_errmsg());
        co->cosigs_staged = 0;
    }

    for (size_t i = 0; i < co->nconns; i++) {
        conn *c = co->conns[i];
        if (c->dead)
            continue;
        if (c->state == C_HANDSHAKE) {
            if (now - c->t_open > cfg->handshake_timeout_ms / 1000.0) {
                char why[400];
                snprintf(why, sizeof why, "%s: no TLS handshake within %u ms",
                         gdn_tls_peer_label(c->tls), cfg->handshake_timeout_ms);
                kill_conn(co, c, why);
            }
            continue;
        }
        if (now - c->t_rx > cfg->idle_timeout_ms / 1000.0) {
            char why[400];
            snprintf(why, sizeof why, "%s: silent for %u ms", gdn_tls_peer_label(c->tls),
                     cfg->idle_timeout_ms);
            if (c->closing)
                kill_conn(co, c, NULL);
            else {
                gdn_log(GDN_LOG_WARN, "%s", why);
                fail_conn(c, GDN_WIRE_ERR_TIMEOUT, why);
                if (flush(co, c) == GDN_NET_WANT_WRITE)
                    set_events(co, c, EPOLLIN | EPOLLOUT);
            }
            continue;
        }
        if (!c->closing && c->out.len == c->out_pos && !c->streaming &&
            now - c->t_tx > cfg->heartbeat_ms / 1000.0)
            heartbeat(co, c);
    }
    if (co->fl.secagg.enabled) {
        sa_step(co, co->in_round && now > co->deadline);
        return;
    }
    if (co->prio_stage == 1) {
        if (atomic_load(&co->prio_ready)) {
            prio_join(co);
            prio_apply(co);
            finish_round(co);
        }
        return;
    }
    if (co->he) {
        net_he_coord_expire(co->he, now);
        if (co->in_round && co->he_stage == 2) {
            finish_round(co);
            return;
        }
    }
    advance(co); /* slots of connections lost since */
    if (co->in_round && now > co->deadline) {
        for (size_t i = 0; i < co->m; i++)
            if (co->slots[i].status == S_PENDING) {
                gdn_log(GDN_LOG_WARN, "round %u: owner %u did not answer within %u ms",
                        co->round, co->slots[i].owner, cfg->round_timeout_ms);
                co->slots[i].status = S_DROPPED;
            }
        advance(co);
    }
}

/* After the last round: Bye{DONE} once every owner still connected has
 * co-signed the last head (or after 5 s). */
static void maybe_done(coord *co)
{
    int waiting = 0;

    if (!co->t_last || co->finishing)
        return;
    for (size_t i = 0; i < co->nconns && co->cfg->ledger && co->head_size; i++) {
        const conn *c = co->conns[i];
        waiting |= !c->dead && !c->closing && c->owner >= 0 && c->round_sent == co->done &&
                   c->ledger_size < co->head_size;
    }
    if (waiting && gdn_now() - co->t_last < 5)
        return;
    co->finishing = 1;
    co->t_finish = gdn_now();
    say_bye(co, GDN_WIRE_BYE_DONE, "all rounds finished");
}

static int maybe_start(coord *co)
{
    const gdn_coord_config *cfg = co->cfg;
    size_t ready, want;

    if (co->in_round || co->finishing || co->t_last ||
        (co->prio && gdn_now() < co->prio_retry))
        return 0;
    if (cfg->target_epsilon > 0 && epsilon_after(co, co->done + 1) > cfg->target_epsilon) {
        gdn_log(GDN_LOG_INFO, "privacy budget reached: round %u would spend epsilon %.4g > "
                "%g (delta %g); stopping", co->done + 1, epsilon_after(co, co->done + 1),
                cfg->target_epsilon, co->fl.dp.delta);
        co->t_last = gdn_now();
        return 0;
    }
    ready = connected_idle(co);
    want = cfg->wait_clients ? cfg->wait_clients : co->fl.clients;
    if (!(ready >= want ||
          (ready >= cfg->min_clients && gdn_now() - co->t_wait > cfg->wait_ms / 1000.0)))
        return 0;
    if (co->he && !net_he_coord_ready(co->he)) { /* the collective key first */
        net_he_coord_tick(co->he, gdn_now(), cfg->round_timeout_ms / 1000.0);
        return 0;
    }
    return start_round(co);
}

/* ---- Set-up -------------------------------------------------------------------- */

void gdn_coord_config_default(gdn_coord_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    gdn_fl_config_default(&cfg->fl);
    cfg->federation_id = "guardian";
    cfg->min_clients = 1;
    cfg->wait_ms = 30000;
    cfg->round_timeout_ms = 600000;
    cfg->heartbeat_ms = 5000;
    cfg->idle_timeout_ms = 30000;
    cfg->handshake_timeout_ms = 10000;
    cfg->max_frame = 64 << 10;
    cfg->keep_checkpoints = 2;
}

/* The settings a state file is bound to (a resumed run must use the same). */
static void describe_config(char *out, size_t cap, const gdn_fl_config *f, unsigned holders)
{
    int n = snprintf(out, cap,
             "model=%s clients=%zu fraction=%.17g per_round=%zu epochs=%u batch=%zu "
             "lr=%.9g momentum=%.9g weight_decay=%.9g prox_mu=%.9g strategy=%s "
             "server_lr=%.9g server_momentum=%.9g beta1=%.9g beta2=%.9g tau=%.9g "
             "aggregator=%s seed=%llu secagg=%d:%.9g:%u:%u:%u dp=%d:%.17g:%.17g:%.17g:%.17g",
             f->model, f->clients, f->fraction, f->per_round, f->local.epochs,
             f->local.batch, (double)f->local.lr, (double)f->local.momentum,
             (double)f->local.weight_decay, (double)f->local.prox_mu, f->server.strategy,
             (double)f->server.lr, (double)f->server.momentum, (double)f->server.beta1,
             (double)f->server.beta2, (double)f->server.tau, f->aggregator,
             (unsigned long long)f->seed, f->secagg.enabled, f->secagg.clip, f->secagg.levels,
             f->secagg.k, f->secagg.t, f->dp.enabled, f->dp.clip, f->dp.noise, f->dp.delta,
             f->dp.quantile);
    if (f->he.enabled && n > 0 && (size_t)n < cap) /* only then: older files stay valid */
        snprintf(out + n, cap - (size_t)n, " he=%u:%u:%.9g", holders, f->he.threshold,
                 f->he.clip);
    if (f->prio.enabled) { /* validated aggregation (absent before it existed) */
        size_t used = strlen(out);
        snprintf(out + used, cap - used, " prio=%.17g", f->prio.bound);
    }
}

static int check_config(const gdn_coord_config *cfg)
{
    const gdn_fl_config *f = &cfg->fl;

    if (!f->model || !f->clients || !f->rounds || !f->eval_every || !f->aggregator ||
        !f->server.strategy)
        return gdn_error(GDN_EINVAL, "coordinator: model, clients, rounds, eval_every, "
                         "aggregator and strategy are required");
    if (f->attack != GDN_ATTACK_NONE || f->local.dp_clip > 0 || f->admit)
        return gdn_error(GDN_EINVAL, "coordinator: DP-SGD and simulated attacks are not "
                         "available over the network");
    if (f->dp.enabled && f->secagg.enabled != f->dp.distributed)
        return gdn_error(GDN_EINVAL, "coordinator: %s", f->dp.distributed
                         ? "distributed DP needs SecAgg+ (the noise is in the masked sum)"
                         : "SecAgg+ with client-level DP is distributed DP (--dp distributed)");
    if (f->prio.enabled && (f->secagg.enabled || f->dp.enabled ||
                            strcmp(f->aggregator, "mean") != 0))
        return gdn_error(GDN_EINVAL, "coordinator: validated aggregation (prio) replaces the "
                         "aggregation: not with SecAgg+, DP or a robust aggregator");
    if (f->secagg.enabled && (strcmp(f->aggregator, "mean") != 0 || !(f->secagg.clip > 0) ||
                              f->secagg.levels < 2))
        return gdn_error(GDN_EINVAL, "coordinator: secure aggregation sums: it needs the "
                         "mean aggregator, a clip > 0 and at least 2 levels");
    if (f->he.enabled && (f->secagg.enabled || f->dp.enabled || f->prio.enabled ||
                          strcmp(f->aggregator, "mean") != 0))
        return gdn_error(GDN_EINVAL, "coordinator: encrypted aggregation (HE) sums: it needs "
                         "the mean aggregator, without SecAgg+, Prio or DP");
    if (f->clients > GDN_WIRE_MAX_CLIENT_INDEX)
        return gdn_error(GDN_ERANGE, "coordinator: at most %u clients",
                         GDN_WIRE_MAX_CLIENT_INDEX);
    if (cfg->min_clients < 1 || cfg->min_clients > f->clients)
        return gdn_error(GDN_EINVAL, "coordinator: min_clients must be 1 .. clients (%zu)",
                         f->clients);
    if (cfg->wait_clients > f->clients)
        return gdn_error(GDN_EINVAL, "coordinator: wait_clients above clients (%zu)",
                         f->clients);
    if (!cfg->heartbeat_ms || cfg->idle_timeout_ms <= cfg->heartbeat_ms ||
        !cfg->round_timeout_ms || !cfg->handshake_timeout_ms)
        return gdn_error(GDN_EINVAL, "coordinator: timeouts must be > 0 and the idle "
                         "timeout above the heartbeat interval");
    if (cfg->max_frame < 4096 || cfg->max_frame > GDN_FRAME_MAX_LIMIT)
        return gdn_error(GDN_ERANGE, "coordinator: max_frame must be 4096 .. 2^30");
    if (!cfg->state_path)
        return gdn_error(GDN_EINVAL, "coordinator: a state file is required");
    return 0;
}

/* Connections need descriptors: raise the soft limit to the hard one. */
static size_t descriptors(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? (size_t)1 << 20 : (size_t)rl.rlim_cur;
}

static void coord_free(coord *co)
{
    if (co->conns)
        for (size_t i = 0; i < co->nconns; i++)
            free_conn(co, co->conns[i]);
    if (co->slots)
        for (size_t i = 0; i < co->fl.clients; i++)
            gdn_buf_free(&co->slots[i].bytes);
    free(co->conns);
    free(co->by_owner);
    free(co->roster);
    free(co->cohort);
    free(co->pool);
    for (size_t i = 0; co->spare && i < co->nspare; i++)
        gdn_buf_free(&co->spare[i]);
    free(co->spare);
    free(co->slots);
    free(co->hist);
    free(co->sa_slot);
    free(co->sa_answered);
    free(co->sa_sum);
    free(co->ddg_out);
    free(co->ddg_work);
    gdn_buf_free(&co->sa_roster);
    gdn_secagg_server_free(co->sa);
    net_he_coord_free(co->he);
    prio_join(co);
    free(co->prio_in);
    net_prio_leader_free(co->prio);
    gdn_buf_free(&co->model_bytes);
    gdn_free_aligned(co->scratch);
    gdn_free_aligned(co->aggregate);
    gdn_model_free(co->global);
    gdn_aggregator_free(co->agg);
    gdn_fl_server_free(co->server);
    net_state_close(co->state);
    if (co->ep >= 0)
        close(co->ep);
    if (co->lfd >= 0)
        close(co->lfd);
    gdn_tls_ctx_free(co->tls);
}

static int setup(coord *co, const gdn_coord_config *cfg)
{
#ifdef __GLIBC__
    /* Updates are large, short-lived buffers: keep them on the heap, reused
     * round after round, rather than fresh mmap pages (page faults) each time. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    char conf[2048];
    size_t fds, n = cfg->fl.clients, nstate;
    float *state[8];
    double dp_clip = 0;
    int rc;

    co->cfg = cfg;
    co->fl = cfg->fl;
    co->lfd = co->ep = -1;
    describe_config(conf, sizeof conf, &co->fl, cfg->he_holders);
    if ((rc = gdn_model_new(&co->global, co->fl.model, cfg->channels, cfg->height,
                            cfg->width, cfg->classes)))
        return rc;
    co->dim = gdn_model_nparams(co->global);
    {
        gdn_rng rng;
        gdn_fl_init_rng(&rng, co->fl.seed);
        gdn_model_init(co->global, &rng);
        gdn_rng_wipe(&rng);
    }
    if (co->fl.dp.distributed) { /* the owners encode; the sum comes out of SecAgg+ */
        long expected = lround(co->fl.fraction * (double)co->fl.clients);
        rc = gdn_dp_ddg_setup(&co->ddg, co->dim, co->fl.dp.clip, co->fl.dp.noise,
                              (uint32_t)(expected > 0 ? expected : 1),
                              co->fl.dp.ddg_bits ? co->fl.dp.ddg_bits : 18, co->fl.dp.ddg_gamma);
        if (!rc)
            rc = gdn_aggregator_new(&co->agg, "mean", co->dim);
    } else if (co->fl.dp.enabled) { /* DP-FedAvg, as in the simulation */
        double expected = co->fl.fraction * (double)co->fl.clients;
        rc = gdn_aggregator_new_dp(&co->agg, co->dim, co->fl.dp.clip, co->fl.dp.noise,
                                   expected);
        if (!rc && co->fl.dp.quantile > 0)
            rc = gdn_aggregator_dp_adaptive(
                co->agg, co->fl.dp.quantile, co->fl.dp.clip_lr > 0 ? co->fl.dp.clip_lr : 0.2,
                co->fl.dp.count_noise > 0 ? co->fl.dp.count_noise : expected / 20);
    } else {
        rc = gdn_aggregator_new(&co->agg, co->fl.aggregator, co->dim);
    }
    if (!rc && co->fl.prio.enabled && !(rc = net_prio_report_bytes(&co->prio_bytes, co->dim,
                                                                   co->fl.prio.bound)))
        rc = net_prio_leader_new(&co->prio, cfg);
    if (rc || (rc = gdn_fl_server_new(&co->server, &co->fl.server, co->dim)))
        return rc;
    nstate = gdn_fl_server_nstate(co->server);
    if (nstate > 8)
        return gdn_error(GDN_EINTERNAL, "strategy with %zu state vectors", nstate);
    for (size_t i = 0; i < nstate; i++)
        state[i] = gdn_fl_server_state(co->server, i);
    fds = descriptors();
    co->maxconns = cfg->max_connections ? cfg->max_connections : 2 * n + 16;
    if (co->maxconns + 32 > fds) {
        gdn_log(GDN_LOG_WARN, "only %zu file descriptors: at most %zu connections", fds,
                fds > 64 ? fds - 32 : 32);
        co->maxconns = fds > 64 ? fds - 32 : 32;
    }
    co->scratch = gdn_alloc_aligned(co->dim * sizeof(float));
    co->aggregate = gdn_alloc_aligned(co->dim * sizeof(float));
    co->conns = calloc(co->maxconns, sizeof *co->conns);
    co->by_owner = calloc(n, sizeof *co->by_owner);
    co->roster = calloc(n, sizeof *co->roster);
    co->cohort = calloc(n, sizeof *co->cohort);
    co->pool = calloc(n, sizeof *co->pool);
    co->spare = calloc(n, sizeof *co->spare);
    co->slots = calloc(n, sizeof *co->slots);
    co->sa_slot = calloc(n, sizeof *co->sa_slot);
    co->sa_answered = calloc(n, 1);
    co->sa_sum = calloc((co->fl.dp.distributed ? co->ddg.dim_pad : co->dim + 1),
                        sizeof *co->sa_sum);
    if (co->fl.dp.distributed) {
        co->ddg_out = malloc(co->dim * sizeof *co->ddg_out);
        co->ddg_work = malloc(co->ddg.dim_pad * sizeof *co->ddg_work);
        if (!co->ddg_out || !co->ddg_work)
            return gdn_error(GDN_ENOMEM, "out of memory");
    }
    if (!co->scratch || !co->aggregate || !co->conns || !co->by_owner || !co->roster ||
        !co->cohort || !co->pool || !co->spare || !co->slots || !co->sa_slot || !co->sa_answered ||
        !co->sa_sum)
        return gdn_error(GDN_ENOMEM, "out of memory");
    if ((rc = net_state_open(&co->state, cfg->state_path, conf)) ||
        (rc = net_state_owners(co->state, co->roster, n, &co->nroster)) ||
        (rc = net_state_load(co->state, &co->done, gdn_model_params(co->global), state,
                             nstate, co->dim, &dp_clip, &co->hist, &co->nhist)))
        return rc;
    if (co->done && co->fl.dp.enabled && dp_clip > 0) /* adaptive clipping's state */
        gdn_aggregator_dp_set_clip(co->agg, dp_clip);
    if (cfg->owners) { /* a fixed roster: the file's must agree with it */
        for (size_t i = 0; i < co->nroster; i++)
            if (memcmp(co->roster[i], cfg->owners[i], 32) != 0)
                return gdn_error(GDN_ESTATE, "state file %s: owner %zu differs from the "
                                 "roster given", cfg->state_path, i);
        memcpy(co->roster, cfg->owners, n * sizeof *co->roster);
        co->nroster = n;
    }
    co->nroster_saved = co->nroster;
    if (co->done)
        gdn_log(GDN_LOG_INFO, "resuming after round %u (state %s)", co->done,
                cfg->state_path);
    if (co->fl.he.enabled) {
        net_he_host host = {he_send, he_identity, he_done, co};
        unsigned holders = cfg->he_holders ? cfg->he_holders
                           : n < GDN_FL_HE_MAX_HOLDERS ? (unsigned)n : GDN_FL_HE_MAX_HOLDERS;
        if ((rc = net_he_coord_new(&co->he, &host, co->state, co->dim, n, holders,
                                   co->fl.he.threshold ? co->fl.he.threshold : holders / 2 + 1,
                                   co->fl.he.clip > 0 ? co->fl.he.clip : 1.0,
                                   cfg->min_clients)))
            return rc;
    }
    if ((rc = gdn_tls_ctx_new_server(&co->tls, &cfg->tls)))
        return rc;
    gdn_tls_ctx_fingerprint(co->fp, co->tls);
    if ((rc = gdn_net_listen(&co->lfd, cfg->host, cfg->port, 1024, NULL)))
        return rc;
    if ((co->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return gdn_error(GDN_EIO, "epoll_create1: %s", strerror(errno));
    {
        struct epoll_event e;
        memset(&e, 0, sizeof e);
        e.events = EPOLLIN;
        e.data.ptr = NULL;
        if (epoll_ctl(co->ep, EPOLL_CTL_ADD, co->lfd, &e) != 0)
            return gdn_error(GDN_EIO, "epoll_ctl: %s", strerror(errno));
    }
    return 0;
}

int gdn_coord_run(const gdn_coord_config *cfg, gdn_coord_stats *stats)
{
    coord co;
    int rc;

    memset(&co, 0, sizeof co);
    if ((rc = check_config(cfg)))
        return rc;
    if ((rc = setup(&co, cfg)))
        goto done;
    {
        uint16_t port = cfg->port;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        char hex[GDN_NET_FINGERPRINT_HEX_BYTES];
        if (getsockname(co.lfd, (struct sockaddr *)&ss, &sl) == 0)
            port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        gdn_net_fingerprint_hex(hex, co.fp);
        gdn_log(GDN_LOG_INFO, "coordinator %s listening on %s:%u for %zu owners, %u rounds "
                "(model %s, %zu parameters)", hex, cfg->host ? cfg->host : "127.0.0.1",
                port, co.fl.clients, co.fl.rounds, co.fl.model, co.dim);
        if (cfg->on_listen)
            cfg->on_listen(cfg->ctx, port);
    }
    co.t_wait = gdn_now();
    if (co.done >= co.fl.rounds) {
        gdn_log(GDN_LOG_INFO, "all %u rounds were finished already", co.fl.rounds);
        goto done;
    }
    for (;;) {
        struct epoll_event ev[MAX_EVENTS];
        int n;

        if (cfg->stop && *cfg->stop && !co.finishing) {
            if (co.in_round) { /* not recorded: a restart runs it again, whole */
                gdn_log(GDN_LOG_INFO, "round %u abandoned", co.round);
                co.in_round = 0;
                co.he_stage = 0;
                prio_join(&co);
                free(co.prio_in);
                co.prio_in = NULL;
                co.prio_stage = 0;
                sa_reset(&co);
                for (size_t i = 0; i < co.m; i++)
                    gdn_buf_free(&co.slots[i].bytes);
            }
            gdn_log(GDN_LOG_INFO, "stopping after round %u (resumable)", co.done);
            co.finishing = 1;
            co.t_finish = gdn_now();
            say_bye(&co, GDN_WIRE_BYE_SHUTDOWN, "the coordinator stops");
        }
        if (co.finishing && (co.nconns == 0 || gdn_now() - co.t_finish > 5))
            break;
        n = epoll_wait(co.ep, ev, MAX_EVENTS, co.nready ? 0 : TICK_MS);
        if (n < 0 && errno != EINTR) {
            rc = gdn_error(GDN_EIO, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (!ev[i].data.ptr)
                accept_all(&co);
            else
                on_event(&co, ev[i].data.ptr);
        }
        for (size_t i = 0, k = co.nready; i < co.nconns && k > 0; i++) {
            conn *c = co.conns[i];
            if (!c->ready)
                continue;
            c->ready = 0;
            co.nready--, k--;
            on_event(&co, c);
        }
        timers(&co);
        maybe_done(&co);
        if (!co.rc && !co.finishing && (rc = maybe_start(&co)))
            break;
        reap(&co);
        if (co.rc) {
            rc = co.rc;
            break;
        }
    }
done:
    if (stats) {
        co.stats.bytes_sent = co.gone_sent;
        co.stats.bytes_received = co.gone_received;
        for (size_t i = 0; i < co.nconns; i++) {
            uint64_t s, r;
            gdn_tls_conn_bytes(co.conns[i]->tls, &s, &r);
            co.stats.bytes_sent += s;
            co.stats.bytes_received += r;
        }
        *stats = co.stats;
    }
    coord_free(&co);
    return rc;
}
