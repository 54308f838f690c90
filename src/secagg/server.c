/* secagg: the server side of SecAgg+ (Bell et al. 2020, Algorithm 2; the
 * rounds of Bonawitz et al. 2017 Figure 4 restricted to graph neighbours).
 *
 * stage[i] counts the rounds client i completed; the survivor set U_r of
 * round r is {i : stage[i] >= r}. Masked inputs are added into the running
 * sum as they arrive, so the server holds one vector, not n. The shares the
 * server collects for a client are of one kind only — b if it survived the
 * masked-input round, s_sk if it dropped after sharing — which is what keeps
 * every individual input masked (Bonawitz et al. 2017 §4). */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secagg/internal.h"

enum { ROUND_ADVERTISE, ROUND_SHARES, ROUND_INPUT, ROUND_UNMASK, ROUND_DONE,
       ROUND_FAILED };

struct gdn_secagg_server {
    gdn_secagg_params p;
    uint32_t round;
    uint8_t *roster;   /* n * 32 identity keys */
    uint8_t *stage;    /* n */
    uint8_t *keys;     /* n * (c_pk, s_pk, sig) as in the KEYS entry, minus index */
    uint32_t *nb;      /* n * k neighbours, each row ascending */
    uint8_t *ct;       /* n * k ciphertexts from client i to its neighbour slot */
    uint8_t *share;    /* n * k shares of client i's secret, from neighbour slot */
    uint8_t *share_ok; /* n * k */
    uint32_t *sum;     /* running sum mod 2^32 of the masked inputs */
};

#define KEY_REC (SA_KEYS_BYTES + SA_SIG_BYTES) /* c_pk, s_pk, commit, sig */

static uint32_t *row(const gdn_secagg_server *s, uint32_t i)
{
    return s->nb + (size_t)i * s->p.k;
}

/* Slot of j in i's neighbour row, or k when j is not a neighbour. */
static uint32_t slot(const gdn_secagg_server *s, uint32_t i, uint32_t j)
{
    const uint32_t *r = row(s, i);
    uint32_t lo = 0, hi = s->p.k;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r[mid] < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->p.k && r[lo] == j ? lo : s->p.k;
}

/* Neighbours of i in U_r. */
static uint32_t count_in(const gdn_secagg_server *s, uint32_t i, uint32_t r)
{
    uint32_t c = 0;

    for (uint32_t a = 0; a < s->p.k; a++)
        c += s->stage[row(s, i)[a]] >= r;
    return c;
}

int gdn_secagg_server_new(gdn_secagg_server **out, const gdn_secagg_params *p,
                          const uint8_t *roster_pks)
{
    gdn_secagg_server *s;
    size_t nk;
    sa_graph g;
    int rc;

    if (!out || !roster_pks)
        return gdn_error(GDN_EINVAL, "secagg server: missing argument");
    *out = NULL;
    if ((rc = sa_params_check(p)))
        return rc;
    s = calloc(1, sizeof *s);
    if (!s)
        return gdn_error(GDN_ENOMEM, "secagg server");
    s->p = *p;
    nk = (size_t)p->n * p->k;
    s->roster = malloc((size_t)p->n * 32);
    s->stage = calloc(p->n, 1);
    s->keys = calloc(p->n, KEY_REC);
    s->nb = malloc(nk * sizeof *s->nb);
    s->sum = calloc(p->length, sizeof *s->sum);
    if (!s->roster || !s->stage || !s->keys || !s->nb || !s->sum) {
        gdn_secagg_server_free(s);
        return gdn_error(GDN_ENOMEM, "secagg server: %u clients, length %u", p->n,
                         p->length);
    }
    memcpy(s->roster, roster_pks, (size_t)p->n * 32);
    if ((rc = sa_graph_init(&g, p))) {
        gdn_secagg_server_free(s);
        return rc;
    }
    for (uint32_t i = 0; i < p->n; i++)
        sa_graph_neighbours(&g, row(s, i), i);
    sa_graph_free(&g);
    *out = s;
    return 0;
}

void gdn_secagg_server_free(gdn_secagg_server *s)
{
    if (!s)
        return;
    if (s->share)
        sodium_memzero(s->share, (size_t)s->p.n * s->p.k * GDN_SECAGG_SHARE_BYTES);
    free(s->roster);
    free(s->stage);
    free(s->keys);
    free(s->nb);
    free(s->ct);
    free(s->share);
    free(s->share_ok);
    free(s->sum);
    free(s);
}

int gdn_secagg_server_alive(const gdn_secagg_server *s, uint32_t i)
{
    return s && i < s->p.n && s->round < ROUND_FAILED && s->stage[i] >= s->round;
}

/* ---- Collecting ----------------------------------------------------------- */

static int collect_advertise(gdn_secagg_server *s, uint32_t from, const uint8_t *msg,
                             size_t len)
{
    uint8_t signed_part[SA_ADV_SIGNED_BYTES];
    const uint8_t *b = msg + SA_HEADER_BYTES;

    if (len != SA_HEADER_BYTES + KEY_REC)
        return gdn_error(GDN_EFORMAT, "secagg advertisement from client %u: %zu bytes, "
                                      "expected %d", from, len, SA_HEADER_BYTES + KEY_REC);
    sa_adv_signed(signed_part, s->p.session, from, b);
    if (crypto_sign_verify_detached(b + SA_KEYS_BYTES, signed_part, sizeof signed_part,
                                    s->roster + (size_t)32 * from) != 0)
        return gdn_error(GDN_ECRYPTO, "secagg advertisement from client %u: bad "
                                      "signature", from);
    memcpy(s->keys + (size_t)from * KEY_REC, b, KEY_REC);
    return 0;
}

static int collect_shares(gdn_secagg_server *s, uint32_t from, const uint8_t *msg,
                          size_t len)
{
    uint32_t count, want = count_in(s, from, 1), a = 0;
    const uint8_t *e;

    if (len < SA_HEADER_BYTES + 4)
        return gdn_error(GDN_EFORMAT, "secagg shares from client %u: truncated", from);
    count = gdn_load_le32(msg + SA_HEADER_BYTES);
    if (count != want || len != SA_HEADER_BYTES + 4 + (size_t)count * SA_CT_ENTRY)
        return gdn_error(GDN_EFORMAT, "secagg shares from client %u: %u entries in "
                                      "%zu bytes, expected %u", from, count, len, want);
    /* Receivers must be exactly U1 ∩ N(from), ascending. */
    e = msg + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_CT_ENTRY) {
        while (s->stage[row(s, from)[a]] < 1)
            a++;
        if (gdn_load_le32(e) != row(s, from)[a])
            return gdn_error(GDN_EFORMAT, "secagg shares from client %u: entry %u is "
                                          "for client %u, expected %u", from, i,
                                          gdn_load_le32(e), row(s, from)[a]);
        a++;
    }
    e = msg + SA_HEADER_BYTES + 4;
    a = 0;
    for (uint32_t i = 0; i < count; i++, e += SA_CT_ENTRY) {
        while (s->stage[row(s, from)[a]] < 1)
            a++;
        memcpy(s->ct + ((size_t)from * s->p.k + a) * SA_CT_BYTES, e + 4, SA_CT_BYTES);
        a++;
    }
    return 0;
}

static int collect_input(gdn_secagg_server *s, uint32_t from, const uint8_t *msg,
                         size_t len)
{
    uint32_t m = s->p.length, over = 0;
    uint32_t mask = s->p.bits == 32 ? 0xFFFFFFFFu : (1u << s->p.bits) - 1;
    const uint8_t *y = msg + SA_HEADER_BYTES + 4;

    if (len < SA_HEADER_BYTES + 4 || gdn_load_le32(msg + SA_HEADER_BYTES) != m ||
        len != SA_HEADER_BYTES + 4 + (size_t)m * 4)
        return gdn_error(GDN_EFORMAT, "secagg masked input from client %u: %zu bytes, "
                                      "expected length %u", from, len, m);
    for (uint32_t i = 0; i < m; i++)
        over |= gdn_load_le32(y + 4 * (size_t)i) & ~mask;
    if (over)
        return gdn_error(GDN_EFORMAT, "secagg masked input from client %u: values "
                                      "not below 2^%u", from, s->p.bits);
    for (uint32_t i = 0; i < m; i++)
        s->sum[i] += gdn_load_le32(y + 4 * (size_t)i);
    return 0;
}

static int collect_unmask(gdn_secagg_server *s, uint32_t from, const uint8_t *msg,
                          size_t len)
{
    uint32_t count, want = count_in(s, from, 2), a = 0;
    const uint8_t *e;

    if (len < SA_HEADER_BYTES + 4)
        return gdn_error(GDN_EFORMAT, "secagg unmasking from client %u: truncated", from);
    count = gdn_load_le32(msg + SA_HEADER_BYTES);
    if (count != want || len != SA_HEADER_BYTES + 4 + (size_t)count * SA_UNMASK_ENTRY)
        return gdn_error(GDN_EFORMAT, "secagg unmasking from client %u: %u entries in "
                                      "%zu bytes, expected %u", from, count, len, want);
    e = msg + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_UNMASK_ENTRY) {
        uint32_t v;
        uint8_t kind;
        uint64_t bad = 0;
        while (s->stage[row(s, from)[a]] < 2)
            a++;
        v = row(s, from)[a++];
        kind = s->stage[v] >= 3 ? SA_KIND_B : SA_KIND_SSK;
        if (gdn_load_le32(e) != v || e[4] != kind)
            return gdn_error(GDN_EFORMAT, "secagg unmasking from client %u: entry %u "
                                          "is (client %u, kind %u), expected (%u, %u)",
                                          from, i, gdn_load_le32(e), e[4], v, kind);
        for (int l = 0; l < 8; l++) {
            uint64_t y = gdn_load_le64(e + 5 + 8 * l);
            bad |= (y >> 61) | ((y + 1) >> 61);
        }
        if (bad)
            return gdn_error(GDN_EFORMAT, "secagg unmasking from client %u: share of "
                                          "client %u outside the field", from, v);
    }
    e = msg + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_UNMASK_ENTRY) {
        uint32_t v = gdn_load_le32(e), b = slot(s, v, from);
        memcpy(s->share + ((size_t)v * s->p.k + b) * GDN_SECAGG_SHARE_BYTES, e + 5,
               GDN_SECAGG_SHARE_BYTES);
        s->share_ok[(size_t)v * s->p.k + b] = 1;
    }
    return 0;
}

int gdn_secagg_server_collect(gdn_secagg_server *s, uint32_t from, const uint8_t *msg,
                              size_t len)
{
    static const uint8_t types[] = {SA_MSG_ADVERTISE, SA_MSG_SHARES, SA_MSG_INPUT,
                                    SA_MSG_UNMASK};
    static const char *const names[] = {"advertisement", "shares", "masked input",
                                        "unmasking"};
    int rc;

    if (!s || !msg)
        return gdn_error(GDN_EINVAL, "secagg server: missing argument");
    if (s->round > ROUND_UNMASK)
        return gdn_error(GDN_ESTATE, "secagg server: round is over");
    if (from >= s->p.n)
        return gdn_error(GDN_EINVAL, "secagg server: client %u of %u", from, s->p.n);
    if ((rc = sa_header_check(msg, len, types[s->round], s->p.session, from,
                              names[s->round])))
        return rc;
    if (s->stage[from] != s->round)
        return gdn_error(GDN_ESTATE, "secagg %s from client %u: %s", names[s->round],
                         from, s->stage[from] > s->round
                                   ? "already received (replayed?)"
                                   : "client dropped in an earlier round");
    switch (s->round) {
    case ROUND_ADVERTISE: rc = collect_advertise(s, from, msg, len); break;
    case ROUND_SHARES: rc = collect_shares(s, from, msg, len); break;
    case ROUND_INPUT: rc = collect_input(s, from, msg, len); break;
    default: rc = collect_unmask(s, from, msg, len); break;
    }
    if (rc == 0)
        s->stage[from]++;
    return rc;
}

/* ---- Rounds ---------------------------------------------------------------- */

int gdn_secagg_server_advance(gdn_secagg_server *s)
{
    static const char *const names[] = {"advertised keys", "shared keys",
                                        "sent masked inputs"};
    uint32_t alive = 0;
    size_t nk;

    if (!s)
        return gdn_error(GDN_EINVAL, "secagg server: missing argument");
    if (s->round >= ROUND_UNMASK)
        return gdn_error(GDN_ESTATE, "secagg server: no round to advance to (finish "
                                     "after unmasking)");
    for (uint32_t i = 0; i < s->p.n; i++)
        alive += s->stage[i] > s->round;
    if (alive < s->p.t) {
        uint32_t r = s->round;
        s->round = ROUND_FAILED;
        return gdn_error(GDN_ESTATE, "secagg: only %u clients %s, below the threshold "
                                     "t = %u; round failed", alive, names[r], s->p.t);
    }
    nk = (size_t)s->p.n * s->p.k;
    if (s->round == ROUND_ADVERTISE) {
        s->ct = malloc(nk * SA_CT_BYTES);
        if (!s->ct)
            return gdn_error(GDN_ENOMEM, "secagg server: ciphertexts");
    } else if (s->round == ROUND_INPUT) {
        s->share = malloc(nk * GDN_SECAGG_SHARE_BYTES);
        s->share_ok = calloc(nk, 1);
        if (!s->share || !s->share_ok)
            return gdn_error(GDN_ENOMEM, "secagg server: shares");
    }
    s->round++;
    return 0;
}

int gdn_secagg_server_request(gdn_secagg_server *s, gdn_buf *out, uint32_t to)
{
    static const uint8_t types[] = {0, SA_MSG_KEYS, SA_MSG_FORWARD, SA_MSG_UNMASK_REQ};
    static const size_t entry[] = {0, SA_KEYS_ENTRY, SA_CT_ENTRY, SA_UNMASK_REQ_ENTRY};
    uint32_t r, count, need;
    uint8_t *o;

    if (!s || !out)
        return gdn_error(GDN_EINVAL, "secagg server: missing argument");
    r = s->round;
    if (r < ROUND_SHARES || r > ROUND_UNMASK)
        return gdn_error(GDN_ESTATE, "secagg server: no request in this round");
    if (to >= s->p.n || s->stage[to] < r)
        return gdn_error(GDN_EINVAL, "secagg server: client %u is not a survivor", to);
    /* Round 1: keys of U1 ∩ N(to); 2: ciphertexts to `to` from U2 ∩ N(to);
     * 3: U2 ∩ N(to), each marked survived (in U3) or dropped. */
    need = r == ROUND_SHARES ? 1 : 2;
    count = count_in(s, to, need);
    if (gdn_buf_reserve(out, SA_HEADER_BYTES + 4 + count * entry[r]))
        return gdn_error(GDN_ENOMEM, "secagg server: request");
    o = out->data + out->len;
    sa_header(o, types[r], s->p.session, to);
    gdn_store_le32(o + SA_HEADER_BYTES, count);
    o += SA_HEADER_BYTES + 4;
    for (uint32_t a = 0; a < s->p.k; a++) {
        uint32_t j = row(s, to)[a];
        if (s->stage[j] < need)
            continue;
        gdn_store_le32(o, j);
        if (r == ROUND_SHARES) {
            memcpy(o + 4, s->keys + (size_t)j * KEY_REC, KEY_REC);
        } else if (r == ROUND_INPUT) {
            uint32_t b = slot(s, j, to);
            memcpy(o + 4, s->ct + ((size_t)j * s->p.k + b) * SA_CT_BYTES, SA_CT_BYTES);
        } else {
            o[4] = s->stage[j] >= 3;
        }
        o += entry[r];
    }
    out->len += SA_HEADER_BYTES + 4 + count * entry[r];
    return 0;
}

/* ---- Unmasking ------------------------------------------------------------- */

/* Recovers client v's secret from the first t shares the server holds. */
static int recover(gdn_secagg_server *s, uint8_t secret[32], uint32_t v)
{
    uint8_t *sh = malloc((size_t)s->p.t * GDN_SECAGG_SHARE_BYTES);
    uint32_t *xs = malloc((size_t)s->p.t * sizeof *xs), c = 0;
    int rc;

    if (!sh || !xs) {
        free(sh);
        free(xs);
        return gdn_error(GDN_ENOMEM, "secagg server: recovery");
    }
    for (uint32_t a = 0; a < s->p.k && c < s->p.t; a++) {
        size_t at = (size_t)v * s->p.k + a;
        if (!s->share_ok[at])
            continue;
        memcpy(sh + (size_t)c * GDN_SECAGG_SHARE_BYTES,
               s->share + at * GDN_SECAGG_SHARE_BYTES, GDN_SECAGG_SHARE_BYTES);
        xs[c++] = row(s, v)[a] + 1;
    }
    rc = gdn_secagg_shamir_combine(secret, sh, xs, c, s->p.t);
    sodium_memzero(sh, (size_t)s->p.t * GDN_SECAGG_SHARE_BYTES);
    free(sh);
    free(xs);
    return rc;
}

static int needs_recovery(const gdn_secagg_server *s, uint32_t v)
{
    /* Survivors' b always; dropped-after-sharing clients' s_sk when some
     * survivor masked against them (Bonawitz et al. 2017 Figure 4, round 4). */
    return s->stage[v] >= 3 || (s->stage[v] == 2 && count_in(s, v, 3) > 0);
}

static int unmask(gdn_secagg_server *s)
{
    uint8_t secret[32], pk[32], seed[32];
    int rc = 0;

    for (uint32_t v = 0; v < s->p.n && rc == 0; v++) {
        if (!needs_recovery(s, v))
            continue;
        if ((rc = recover(s, secret, v)))
            break;
        if (s->stage[v] >= 3) {
            sa_b_commit(pk, s->p.session, v, secret);
            if (sodium_memcmp(pk, s->keys + (size_t)v * KEY_REC + 64, 32) != 0) {
                rc = gdn_error(GDN_ECRYPTO, "secagg: recovered self-mask seed of client "
                                            "%u does not match its commitment (bad "
                                            "shares)", v);
                break;
            }
            sa_prg_add(s->sum, s->p.length, secret, -1);
            continue;
        }
        crypto_scalarmult_base(pk, secret);
        if (sodium_memcmp(pk, s->keys + (size_t)v * KEY_REC + 32, 32) != 0) {
            rc = gdn_error(GDN_ECRYPTO, "secagg: recovered mask key of client %u does "
                                        "not match its advertised key (bad shares)", v);
            break;
        }
        for (uint32_t a = 0; a < s->p.k && rc == 0; a++) {
            uint32_t j = row(s, v)[a];
            if (s->stage[j] < 3)
                continue;
            rc = sa_mask_seed(seed, secret, pk, v, s->keys + (size_t)j * KEY_REC + 32,
                              j, s->p.session);
            /* j added +PRG(s_jv) when j < v: take it back out. */
            if (rc == 0)
                sa_prg_add(s->sum, s->p.length, seed, j < v ? -1 : +1);
        }
    }
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int gdn_secagg_server_finish(gdn_secagg_server *s, uint32_t *sum, uint32_t *count)
{
    uint32_t mask, survivors = 0;
    int rc;

    if (!s || !sum || !count)
        return gdn_error(GDN_EINVAL, "secagg server: missing argument");
    if (s->round != ROUND_UNMASK)
        return gdn_error(GDN_ESTATE, "secagg server: finish only after the unmasking "
                                     "round");
    /* Check every recovery first: a round that cannot finish reconstructs
     * nothing at all. */
    for (uint32_t v = 0; v < s->p.n; v++) {
        uint32_t have = 0;
        if (!needs_recovery(s, v))
            continue;
        for (uint32_t a = 0; a < s->p.k; a++)
            have += s->share_ok[(size_t)v * s->p.k + a];
        if (have < s->p.t) {
            s->round = ROUND_FAILED;
            return gdn_error(GDN_ESTATE, "secagg: cannot unmask: %u of the %u shares "
                                         "needed for the %s of client %u arrived; "
                                         "round failed, nothing reconstructed", have,
                             s->p.t, s->stage[v] >= 3 ? "self-mask" : "mask key", v);
        }
    }
    if ((rc = unmask(s))) {
        s->round = ROUND_FAILED;
        return rc;
    }
    mask = s->p.bits == 32 ? 0xFFFFFFFFu : (1u << s->p.bits) - 1;
    for (uint32_t i = 0; i < s->p.length; i++)
        sum[i] = s->sum[i] & mask;
    for (uint32_t v = 0; v < s->p.n; v++)
        survivors += s->stage[v] >= 3;
    *count = survivors;
    s->round = ROUND_DONE;
    return 0;
}
