/* Encrypted aggregation, the coordinator's side (net/he.h): set-up of the
 * collective key among the holders, kept in the state file; per round the
 * ciphertext sum and threshold decryption by t holders. The coordinator
 * holds no key material: it relays sealed boxes it cannot open and adds
 * ciphertexts. Static helpers first, then the payload parsers, then the
 * coordinator's functions. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "net/he.h"

#define KEY_BLOB "he_key"

enum { SETUP_NONE, SETUP_SHARES, SETUP_DEALT, SETUP_DONE };

struct net_he_coord {
    net_he_host host;
    net_state *state;
    gdn_ckks_ctx *ctx;
    gdn_ckks_pk *pk;
    gdn_buf key_msg;        /* phase 3's payload, once the key exists */
    size_t dim, owners, min_clients;
    unsigned holders, t;
    double clip;
    uint8_t crs[NET_HE_CRS_BYTES];
    uint32_t *holder_owner; /* holder number - 1 -> owner index */
    /* set-up under way */
    int setup;
    double setup_deadline;
    uint8_t *answered;      /* holders */
    gdn_ckks_share **ckg;   /* holders */
    gdn_buf *boxes;         /* holders x holders: [from * H + to], sealed */
    /* the round's sum and its decryption */
    gdn_fl_he_sum *sum;
    int decrypting;
    uint64_t round;
    double deadline;
    unsigned set[GDN_WIRE_HE_MAX_HOLDERS];
    gdn_buf shares[GDN_WIRE_HE_MAX_HOLDERS]; /* by position in set */
    uint8_t got[GDN_WIRE_HE_MAX_HOLDERS];
    float *out;
    const float *global;
};

/* ---- Payload parsers ------------------------------------------------------------ */

static int need(size_t len, size_t off, size_t n, const char *what)
{
    if (off > len || len - off < n)
        return gdn_error(GDN_EFORMAT, "he: %s truncated (%zu bytes)", what, len);
    return 0;
}

int net_he_setup_parse(net_he_setup *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (need(len, 0, NET_HE_CRS_BYTES + 16, "set-up request"))
        return GDN_EFORMAT;
    memcpy(out->crs, in, NET_HE_CRS_BYTES);
    out->holders = gdn_load_le32(in + 32);
    out->t = gdn_load_le32(in + 36);
    out->j = gdn_load_le32(in + 40);
    out->min_clients = gdn_load_le32(in + 44);
    if (out->holders < 2 || out->holders > GDN_WIRE_HE_MAX_HOLDERS || out->t < 2 ||
        out->t > out->holders || out->j < 1 || out->j > out->holders || out->min_clients < 1)
        return gdn_error(GDN_EFORMAT, "he: set-up request for holder %u of %u, threshold %u, "
                         "min_clients %u", out->j, out->holders, out->t, out->min_clients);
    if (len != 48 + (size_t)32 * out->holders)
        return gdn_error(GDN_EFORMAT, "he: set-up request of %zu bytes, expected %zu", len,
                         48 + (size_t)32 * out->holders);
    out->pks = in + 48;
    return 0;
}

int net_he_entries_parse(uint32_t *who, const uint8_t **data, size_t *lens, size_t count,
                         uint32_t holders, uint32_t self, const uint8_t *in, size_t len,
                         size_t *off)
{
    uint64_t seen = 0;

    for (size_t i = 0; i < count; i++) {
        uint32_t n;
        if (need(len, *off, 8, "dealt shares"))
            return GDN_EFORMAT;
        who[i] = gdn_load_le32(in + *off);
        n = gdn_load_le32(in + *off + 4);
        *off += 8;
        if (who[i] < 1 || who[i] > holders || who[i] == self || (seen >> who[i] & 1))
            return gdn_error(GDN_EFORMAT, "he: dealt share %zu names holder %u (of %u; self "
                             "%u; each once)", i + 1, who[i], holders, self);
        seen |= (uint64_t)1 << who[i];
        if (n < NET_HE_BOX_OVERHEAD || need(len, *off, n, "dealt share"))
            return gdn_error(GDN_EFORMAT, "he: dealt share %zu of %u bytes", i + 1, n);
        data[i] = in + *off;
        lens[i] = n;
        *off += n;
    }
    return 0;
}

int net_he_decrypt_parse(net_he_decrypt_req *out, const uint8_t *in, size_t len)
{
    size_t off = NET_HE_CRS_BYTES + 4;
    uint64_t bits;

    memset(out, 0, sizeof *out);
    if (need(len, 0, off, "decryption request"))
        return GDN_EFORMAT;
    memcpy(out->crs, in, NET_HE_CRS_BYTES);
    out->t = gdn_load_le32(in + NET_HE_CRS_BYTES);
    if (out->t < 2 || out->t > GDN_WIRE_HE_MAX_HOLDERS)
        return gdn_error(GDN_EFORMAT, "he: decryption request for %u holders", out->t);
    if (need(len, off, (size_t)4 * out->t + 24, "decryption request"))
        return GDN_EFORMAT;
    for (uint32_t i = 0; i < out->t; i++, off += 4) {
        out->set[i] = gdn_load_le32(in + off);
        if (out->set[i] < 1 || out->set[i] > GDN_WIRE_HE_MAX_HOLDERS)
            return gdn_error(GDN_EFORMAT, "he: decryption set names holder %u", out->set[i]);
        for (uint32_t k = 0; k < i; k++)
            if (out->set[k] == out->set[i])
                return gdn_error(GDN_EFORMAT, "he: decryption set names holder %u twice",
                                 out->set[i]);
    }
    out->contributions = gdn_load_le64(in + off);
    out->dim = gdn_load_le64(in + off + 8);
    bits = gdn_load_le64(in + off + 16);
    memcpy(&out->clip, &bits, 8);
    off += 24;
    if (out->contributions < 1 || out->dim < 1 || out->dim > NET_HE_MAX_DIM ||
        !(out->clip > 0) || !(out->clip <= 0x1p20))
        return gdn_error(GDN_EFORMAT, "he: decryption request of %llu contributions, "
                         "dimension %llu, clip %g", (unsigned long long)out->contributions,
                         (unsigned long long)out->dim, out->clip);
    if (len == off)
        return gdn_error(GDN_EFORMAT, "he: decryption request without ciphertexts");
    out->cts = in + off;
    out->cts_len = len - off;
    return 0;
}

int net_he_key_parse(net_he_key_msg *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (need(len, 0, NET_HE_CRS_BYTES + 9, "public key"))
        return GDN_EFORMAT;
    memcpy(out->crs, in, NET_HE_CRS_BYTES);
    out->holders = gdn_load_le32(in + 32);
    out->t = gdn_load_le32(in + 36);
    if (out->holders < 2 || out->holders > GDN_WIRE_HE_MAX_HOLDERS || out->t < 2 ||
        out->t > out->holders)
        return gdn_error(GDN_EFORMAT, "he: public key of %u holders, threshold %u",
                         out->holders, out->t);
    out->pk = in + 40;
    out->pk_len = len - 40;
    return 0;
}

/* ---- Set-up ----------------------------------------------------------------------- */

static void setup_clear(net_he_coord *h)
{
    unsigned H = h->holders;

    for (unsigned i = 0; i < H; i++) {
        gdn_ckks_share_free(h->ckg[i]);
        h->ckg[i] = NULL;
    }
    for (size_t i = 0; i < (size_t)H * H; i++)
        gdn_buf_free(&h->boxes[i]);
    memset(h->answered, 0, H);
    h->setup = SETUP_NONE;
}

/* The key message of phase 3. */
static int make_key_msg(net_he_coord *h)
{
    uint8_t le[8];
    int rc;

    h->key_msg.len = 0;
    gdn_store_le32(le, h->holders);
    gdn_store_le32(le + 4, h->t);
    if ((rc = gdn_buf_append(&h->key_msg, h->crs, sizeof h->crs)) ||
        (rc = gdn_buf_append(&h->key_msg, le, 8)))
        return rc;
    return gdn_ckks_pk_save(&h->key_msg, h->pk);
}

static void send_copy(net_he_coord *h, uint32_t owner, uint32_t phase, uint64_t round,
                      const gdn_buf *b)
{
    gdn_buf c = {0};

    if (gdn_buf_append(&c, b->data, b->len)) {
        gdn_log(GDN_LOG_WARN, "he: out of memory for owner %u's message", owner);
        return;
    }
    h->host.send(h->host.ctx, owner, phase, round, &c);
    gdn_buf_free(&c);
}

/* The key blob: crs || le32 H || le32 t || H x le32 owner || pk. */
static int save_key(net_he_coord *h)
{
    gdn_buf b = {0};
    uint8_t le[4];
    int rc = gdn_buf_append(&b, h->crs, sizeof h->crs);

    gdn_store_le32(le, h->holders);
    if (!rc)
        rc = gdn_buf_append(&b, le, 4);
    gdn_store_le32(le, h->t);
    if (!rc)
        rc = gdn_buf_append(&b, le, 4);
    for (unsigned i = 0; i < h->holders && !rc; i++) {
        gdn_store_le32(le, h->holder_owner[i]);
        rc = gdn_buf_append(&b, le, 4);
    }
    if (!rc && !(rc = gdn_ckks_pk_save(&b, h->pk)))
        rc = net_state_put_blob(h->state, KEY_BLOB, b.data, b.len);
    gdn_buf_free(&b);
    return rc;
}

static int load_key(net_he_coord *h)
{
    gdn_buf b = {0};
    size_t off = NET_HE_CRS_BYTES + 8 + (size_t)4 * h->holders;
    int rc = net_state_get_blob(h->state, KEY_BLOB, &b);

    if (rc || b.len == 0) {
        gdn_buf_free(&b);
        return rc;
    }
    if (b.len < off || gdn_load_le32(b.data + 32) != h->holders ||
        gdn_load_le32(b.data + 36) != h->t) {
        gdn_buf_free(&b);
        return gdn_error(GDN_ESTATE, "state file: the stored HE key is for other holders or "
                         "another threshold");
    }
    memcpy(h->crs, b.data, sizeof h->crs);
    for (unsigned i = 0; i < h->holders; i++) {
        h->holder_owner[i] = gdn_load_le32(b.data + 40 + 4 * (size_t)i);
        if (h->holder_owner[i] >= h->owners) {
            gdn_buf_free(&b);
            return gdn_error(GDN_ESTATE, "state file: HE holder %u is owner %u", i + 1,
                             h->holder_owner[i]);
        }
    }
    if (!(rc = gdn_ckks_pk_load(&h->pk, h->ctx, b.data + off, b.len - off)) &&
        !(rc = make_key_msg(h)))
        h->setup = SETUP_DONE;
    gdn_buf_free(&b);
    return rc;
}

/* Phase 1 to the H connected owners with the lowest indices. */
static void setup_start(net_he_coord *h, double now, double timeout)
{
    unsigned H = h->holders, n = 0;
    gdn_buf pks = {0};
    uint8_t le[16];

    for (uint32_t o = 0; o < h->owners && n < H; o++)
        if (h->host.identity(h->host.ctx, o))
            h->holder_owner[n++] = o;
    if (n < H)
        return;
    randombytes_buf(h->crs, sizeof h->crs); /* public: it seeds the CKG's a */
    for (unsigned i = 0; i < H; i++)
        if (gdn_buf_append(&pks, h->host.identity(h->host.ctx, h->holder_owner[i]), 32)) {
            gdn_buf_free(&pks);
            return;
        }
    setup_clear(h);
    h->setup = SETUP_SHARES;
    h->setup_deadline = now + timeout;
    gdn_log(GDN_LOG_INFO, "he: key set-up among %u holders (threshold %u)", H, h->t);
    for (unsigned i = 0; i < H; i++) {
        gdn_buf req = {0};
        gdn_store_le32(le, H);
        gdn_store_le32(le + 4, h->t);
        gdn_store_le32(le + 8, i + 1);
        gdn_store_le32(le + 12, (uint32_t)h->min_clients);
        if (gdn_buf_append(&req, h->crs, sizeof h->crs) || gdn_buf_append(&req, le, 16) ||
            gdn_buf_append(&req, pks.data, pks.len)) {
            gdn_buf_free(&req);
            break;
        }
        h->host.send(h->host.ctx, h->holder_owner[i], GDN_WIRE_HE_SETUP, 0, &req);
        gdn_buf_free(&req);
    }
    gdn_buf_free(&pks);
}

static void setup_fail(net_he_coord *h, const char *why)
{
    gdn_log(GDN_LOG_WARN, "he: key set-up failed: %s; trying again", why);
    setup_clear(h);
}

/* Every CKG share is in: the collective key, then each holder's boxes. */
static void setup_relay(net_he_coord *h, double now, double timeout)
{
    unsigned H = h->holders;
    int rc;

    gdn_ckks_pk_free(h->pk);
    h->pk = NULL;
    if ((rc = gdn_ckks_ckg_combine(&h->pk, h->ctx, (const gdn_ckks_share *const *)h->ckg, H,
                                   h->crs))) {
        setup_fail(h, gdn_errmsg());
        return;
    }
    h->setup = SETUP_DEALT;
    h->setup_deadline = now + timeout;
    memset(h->answered, 0, H);
    for (unsigned k = 0; k < H; k++) {
        gdn_buf req = {0};
        uint8_t le[8];
        gdn_store_le32(le, H - 1);
        rc = gdn_buf_append(&req, le, 4);
        for (unsigned i = 0; i < H && !rc; i++) {
            const gdn_buf *box = &h->boxes[(size_t)i * H + k];
            if (i == k)
                continue;
            gdn_store_le32(le, i + 1);
            gdn_store_le32(le + 4, (uint32_t)box->len);
            if (!(rc = gdn_buf_append(&req, le, 8)))
                rc = gdn_buf_append(&req, box->data, box->len);
        }
        if (!rc)
            h->host.send(h->host.ctx, h->holder_owner[k], GDN_WIRE_HE_DEAL, 0, &req);
        gdn_buf_free(&req);
    }
}

static void setup_finish(net_he_coord *h)
{
    int rc;

    if ((rc = make_key_msg(h)) || (rc = save_key(h))) {
        setup_fail(h, gdn_errmsg());
        return;
    }
    for (size_t i = 0; i < (size_t)h->holders * h->holders; i++)
        gdn_buf_free(&h->boxes[i]);
    h->setup = SETUP_DONE;
    gdn_log(GDN_LOG_INFO, "he: collective key made by %u holders (threshold %u); stored",
            h->holders, h->t);
    for (uint32_t o = 0; o < h->owners; o++)
        net_he_coord_hello(h, o);
}

static long holder_of(const net_he_coord *h, uint32_t owner)
{
    for (unsigned i = 0; i < h->holders; i++)
        if (h->holder_owner[i] == owner)
            return (long)i;
    return -1;
}

static void setup_answer(net_he_coord *h, unsigned i, uint32_t phase, const uint8_t *in,
                         size_t len)
{
    unsigned H = h->holders;
    size_t off = 4;
    uint32_t n, who[GDN_WIRE_HE_MAX_HOLDERS];
    const uint8_t *data[GDN_WIRE_HE_MAX_HOLDERS];
    size_t lens[GDN_WIRE_HE_MAX_HOLDERS];
    char why[600];

    if (h->answered[i])
        return;
    if (phase == GDN_WIRE_HE_DEAL && h->setup == SETUP_DEALT) {
        if (len != 1 || in[0] != 1) {
            snprintf(why, sizeof why, "holder %u could not build its key", i + 1);
            setup_fail(h, why);
            return;
        }
        h->answered[i] = 1;
        for (unsigned k = 0; k < H; k++)
            if (!h->answered[k])
                return;
        setup_finish(h);
        return;
    }
    if (phase != GDN_WIRE_HE_SETUP || h->setup != SETUP_SHARES)
        return;
    if (len < 4 || (n = gdn_load_le32(in)) > len - 4 ||
        gdn_ckks_share_load(&h->ckg[i], h->ctx, in + 4, n) ||
        need(len, (off = 4 + (size_t)n), 4, "set-up answer") ||
        gdn_load_le32(in + off) != H - 1 ||
        (off += 4, net_he_entries_parse(who, data, lens, H - 1, H, i + 1, in, len, &off)) ||
        off != len) {
        snprintf(why, sizeof why, "holder %u's answer: %s", i + 1,
                 *gdn_errmsg() ? gdn_errmsg() : "malformed");
        setup_fail(h, why);
        return;
    }
    for (unsigned k = 0; k + 1 < H; k++) {
        gdn_buf *box = &h->boxes[(size_t)i * H + (who[k] - 1)];
        box->len = 0;
        if (gdn_buf_append(box, data[k], lens[k])) {
            setup_fail(h, "out of memory");
            return;
        }
    }
    h->answered[i] = 1;
}

/* ---- Decryption -------------------------------------------------------------------- */

static void decrypt_end(net_he_coord *h, int ok, const char *why)
{
    h->decrypting = 0;
    for (unsigned i = 0; i < GDN_WIRE_HE_MAX_HOLDERS; i++)
        gdn_buf_free(&h->shares[i]);
    h->host.done(h->host.ctx, ok, why);
}

static void decrypt_combine(net_he_coord *h)
{
    const uint8_t *sh[GDN_WIRE_HE_MAX_HOLDERS];
    size_t lens[GDN_WIRE_HE_MAX_HOLDERS];
    char why[700];

    for (unsigned i = 0; i < h->t; i++)
        sh[i] = h->shares[i].data, lens[i] = h->shares[i].len;
    if (gdn_fl_he_combine(h->out, h->sum, h->global, sh, lens, h->t)) {
        snprintf(why, sizeof why, "combining the decryption shares: %s", gdn_errmsg());
        decrypt_end(h, 0, why);
        return;
    }
    decrypt_end(h, 1, NULL);
}

/* ---- The coordinator's functions --------------------------------------------------- */

int net_he_coord_new(net_he_coord **out, const net_he_host *host, net_state *state,
                     size_t dim, size_t owners, unsigned holders, unsigned threshold,
                     double clip, size_t min_clients)
{
    net_he_coord *h;
    int rc;

    *out = NULL;
    if (sodium_init() < 0)
        return gdn_error(GDN_ECRYPTO, "he: libsodium cannot start");
    if (holders < 2 || holders > GDN_WIRE_HE_MAX_HOLDERS || holders > owners ||
        threshold < 2 || threshold > holders)
        return gdn_error(GDN_EINVAL, "he: %u key holders with threshold %u among %zu owners "
                         "(need 2 <= threshold <= holders <= min(owners, %d))", holders,
                         threshold, owners, GDN_WIRE_HE_MAX_HOLDERS);
    if (!(h = calloc(1, sizeof *h)))
        return gdn_error(GDN_ENOMEM, "out of memory");
    h->host = *host;
    h->state = state;
    h->dim = dim, h->owners = owners, h->min_clients = min_clients;
    h->holders = holders, h->t = threshold, h->clip = clip;
    h->holder_owner = calloc(holders, sizeof *h->holder_owner);
    h->answered = calloc(holders, 1);
    h->ckg = calloc(holders, sizeof *h->ckg);
    h->boxes = calloc((size_t)holders * holders, sizeof *h->boxes);
    if (!h->holder_owner || !h->answered || !h->ckg || !h->boxes)
        rc = gdn_error(GDN_ENOMEM, "out of memory");
    else if (!(rc = gdn_fl_he_context(&h->ctx)) &&
             !(rc = gdn_fl_he_sum_new(&h->sum, h->ctx, dim, clip)))
        rc = load_key(h);
    if (rc) {
        net_he_coord_free(h);
        return rc;
    }
    if (h->setup == SETUP_DONE)
        gdn_log(GDN_LOG_INFO, "he: the collective key of %u holders from the state file",
                holders);
    *out = h;
    return 0;
}

void net_he_coord_free(net_he_coord *h)
{
    if (!h)
        return;
    if (h->ckg)
        setup_clear(h);
    for (unsigned i = 0; i < GDN_WIRE_HE_MAX_HOLDERS; i++)
        gdn_buf_free(&h->shares[i]);
    free(h->holder_owner);
    free(h->answered);
    free(h->ckg);
    free(h->boxes);
    gdn_buf_free(&h->key_msg);
    gdn_fl_he_sum_free(h->sum);
    gdn_ckks_pk_free(h->pk);
    gdn_ckks_ctx_free(h->ctx);
    free(h);
}

int net_he_coord_ready(const net_he_coord *h)
{
    return h->setup == SETUP_DONE;
}

void net_he_coord_params(const net_he_coord *h, gdn_wire_he *p)
{
    p->holders = h->holders;
    p->threshold = h->t;
    p->clip = h->clip;
    memcpy(p->key_id, h->crs, sizeof p->key_id);
}

uint64_t net_he_coord_update_bytes(const net_he_coord *h)
{
    /* at most: each ciphertext's two polynomials at level 1 (two primes), 8
     * bytes a residue, plus headers; parsing checks the exact form */
    uint64_t n = 2 * gdn_ckks_slots(h->ctx);
    return (uint64_t)gdn_fl_he_count(h->ctx, h->dim) * (4 + 256 + 2 * 2 * 8 * n);
}

void net_he_coord_hello(net_he_coord *h, uint32_t owner)
{
    if (h->setup == SETUP_DONE && h->host.identity(h->host.ctx, owner))
        send_copy(h, owner, GDN_WIRE_HE_KEY, 0, &h->key_msg);
}

void net_he_coord_tick(net_he_coord *h, double now, double timeout)
{
    if (h->setup == SETUP_DONE)
        return;
    if (h->setup == SETUP_NONE) {
        setup_start(h, now, timeout);
        return;
    }
    if (now > h->setup_deadline) {
        setup_fail(h, "a holder did not answer in time");
        return;
    }
    if (h->setup == SETUP_SHARES) {
        for (unsigned i = 0; i < h->holders; i++)
            if (!h->answered[i])
                return;
        setup_relay(h, now, timeout);
    }
}

void net_he_coord_answer(net_he_coord *h, uint32_t owner, uint32_t phase, uint64_t round,
                         const uint8_t *in, size_t len)
{
    long i = holder_of(h, owner);

    if (i < 0)
        return;
    if (phase != GDN_WIRE_HE_DECRYPT) {
        if (h->setup == SETUP_SHARES || h->setup == SETUP_DEALT)
            setup_answer(h, (unsigned)i, phase, in, len);
        return;
    }
    if (!h->decrypting || round != h->round)
        return; /* late: the round is over */
    for (unsigned k = 0; k < h->t; k++) {
        if (h->set[k] != (unsigned)i + 1 || h->got[k])
            continue;
        h->shares[k].len = 0;
        if (gdn_buf_append(&h->shares[k], in, len)) {
            decrypt_end(h, 0, "out of memory");
            return;
        }
        h->got[k] = 1;
        for (unsigned m = 0; m < h->t; m++)
            if (!h->got[m])
                return;
        decrypt_combine(h);
        return;
    }
}

void net_he_coord_lost(net_he_coord *h, uint32_t owner)
{
    long i = holder_of(h, owner);
    char why[200];

    if (i < 0)
        return;
    if (h->setup == SETUP_SHARES || h->setup == SETUP_DEALT) {
        snprintf(why, sizeof why, "holder %ld (owner %u) left", i + 1, owner);
        setup_fail(h, why);
    }
    if (h->decrypting)
        for (unsigned k = 0; k < h->t; k++)
            if (h->set[k] == (unsigned)i + 1 && !h->got[k]) {
                snprintf(why, sizeof why, "HE decryption: holder %ld (owner %u) left before "
                         "answering", i + 1, owner);
                decrypt_end(h, 0, why);
                return;
            }
}

void net_he_coord_begin(net_he_coord *h)
{
    gdn_fl_he_sum_reset(h->sum);
}

int net_he_coord_add(net_he_coord *h, const uint8_t *in, size_t len)
{
    return gdn_fl_he_sum_add(h->sum, in, len);
}

size_t net_he_coord_added(const net_he_coord *h)
{
    return gdn_fl_he_sum_added(h->sum);
}

void net_he_coord_decrypt(net_he_coord *h, uint64_t round, float *out, const float *global,
                          double deadline)
{
    gdn_buf req = {0};
    unsigned n = 0;
    uint8_t le[24];
    uint64_t bits;
    char why[300];

    for (unsigned i = 0; i < h->holders && n < h->t; i++)
        if (h->host.identity(h->host.ctx, h->holder_owner[i]))
            h->set[n++] = i + 1;
    h->decrypting = 1;
    h->round = round, h->out = out, h->global = global, h->deadline = deadline;
    memset(h->got, 0, sizeof h->got);
    if (n < h->t) {
        snprintf(why, sizeof why, "HE decryption needs %u of the %u key holders, only %u "
                 "connected; the sum stays encrypted", h->t, h->holders, n);
        decrypt_end(h, 0, why);
        return;
    }
    gdn_store_le32(le, h->t);
    if (gdn_buf_append(&req, h->crs, sizeof h->crs) || gdn_buf_append(&req, le, 4))
        goto oom;
    for (unsigned k = 0; k < h->t; k++) {
        gdn_store_le32(le, h->set[k]);
        if (gdn_buf_append(&req, le, 4))
            goto oom;
    }
    memcpy(&bits, &h->clip, 8);
    gdn_store_le64(le, gdn_fl_he_sum_added(h->sum));
    gdn_store_le64(le + 8, h->dim);
    gdn_store_le64(le + 16, bits);
    if (gdn_buf_append(&req, le, 24) || gdn_fl_he_sum_save(&req, h->sum))
        goto oom;
    gdn_log(GDN_LOG_INFO, "round %llu: the sum of %zu encrypted updates goes to %u holders "
            "for decryption", (unsigned long long)round, gdn_fl_he_sum_added(h->sum), h->t);
    for (unsigned k = 0; k < h->t && h->decrypting; k++)
        send_copy(h, h->holder_owner[h->set[k] - 1], GDN_WIRE_HE_DECRYPT, round, &req);
    gdn_buf_free(&req);
    return;
oom:
    gdn_buf_free(&req);
    decrypt_end(h, 0, "out of memory for the decryption request");
}

int net_he_coord_decrypting(const net_he_coord *h)
{
    return h->decrypting;
}

void net_he_coord_expire(net_he_coord *h, double now)
{
    if (h->decrypting && now > h->deadline)
        decrypt_end(h, 0, "HE decryption: the holders did not answer in time");
}
