/* secagg: the client side of SecAgg+ (Bell et al. 2020, Algorithm 2, which is
 * Bonawitz et al. 2017 Figure 4 with "all users" replaced by "my neighbours
 * in the graph"). All secrets live in sodium_malloc memory and are wiped as
 * soon as the round no longer needs them. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secagg/internal.h"

typedef struct peer {
    uint32_t index;
    uint8_t keyed;  /* its signed keys arrived in round 1 (it is in U1) */
    uint8_t shared; /* its shares for me arrived in round 2 (it is in U2) */
    uint8_t id_pk[32], c_pk[32], s_pk[32];
    uint8_t recv_key[32]; /* AEAD key of the shares it sends me */
    uint8_t ssk_share[GDN_SECAGG_SHARE_BYTES], b_share[GDN_SECAGG_SHARE_BYTES];
} peer;

enum { C_NEW, C_ADVERTISED, C_SHARED, C_MASKED, C_DONE, C_FAILED };

struct gdn_secagg_client {
    gdn_secagg_params p;
    uint32_t index, state;
    uint8_t id_sk[64];
    uint8_t c_sk[32], c_pk[32], s_sk[32], s_pk[32], b[32];
    gdn_rng rng;
    peer *peers; /* the k neighbours, ascending */
};

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

static peer *find_peer(gdn_secagg_client *c, uint32_t j)
{
    uint32_t lo = 0, hi = c->p.k;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->peers[mid].index < j)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->p.k && c->peers[lo].index == j ? &c->peers[lo] : NULL;
}

/* Once a round is abandoned, nothing more leaves the client. */
static int fail(gdn_secagg_client *c, int code)
{
    c->state = C_FAILED;
    sodium_memzero(c->c_sk, sizeof c->c_sk);
    sodium_memzero(c->s_sk, sizeof c->s_sk);
    sodium_memzero(c->b, sizeof c->b);
    sodium_memzero(c->id_sk, sizeof c->id_sk);
    for (uint32_t i = 0; i < c->p.k; i++) {
        sodium_memzero(c->peers[i].ssk_share, GDN_SECAGG_SHARE_BYTES);
        sodium_memzero(c->peers[i].b_share, GDN_SECAGG_SHARE_BYTES);
        sodium_memzero(c->peers[i].recv_key, 32);
    }
    return code;
}

static int shares_valid(const uint8_t share[GDN_SECAGG_SHARE_BYTES])
{
    uint64_t bad = 0;

    for (int l = 0; l < 8; l++) {
        uint64_t y = gdn_load_le64(share + 8 * l);
        bad |= (y >> 61) | ((y + 1) >> 61); /* not below 2^61 - 1 */
    }
    return bad == 0;
}

int gdn_secagg_client_new(gdn_secagg_client **out, const gdn_secagg_params *p,
                          uint32_t index, const uint8_t identity_sk[64],
                          const uint8_t *roster_pks, gdn_rng *rng)
{
    static const uint8_t rng_nonce[GDN_RNG_NONCEBYTES];
    gdn_secagg_client *c;
    uint8_t seed[32];
    uint32_t *nb;
    sa_graph g;
    int rc;

    if (!out || !identity_sk || !roster_pks || !rng)
        return gdn_error(GDN_EINVAL, "secagg client: missing argument");
    *out = NULL;
    if ((rc = sa_params_check(p)))
        return rc;
    if (index >= p->n)
        return gdn_error(GDN_EINVAL, "secagg client: index %u of %u", index, p->n);
    if (sodium_memcmp(identity_sk + 32, roster_pks + (size_t)32 * index, 32) != 0)
        return gdn_error(GDN_EINVAL, "secagg client %u: identity key is not the "
                                     "roster's key for this index", index);
    c = sodium_malloc(sizeof *c);
    if (!c)
        return gdn_error(GDN_ENOMEM, "secagg client");
    memset(c, 0, sizeof *c);
    c->peers = sodium_malloc((size_t)p->k * sizeof *c->peers);
    nb = malloc((size_t)p->k * sizeof *nb);
    if (!c->peers || !nb) {
        free(nb);
        gdn_secagg_client_free(c);
        return gdn_error(GDN_ENOMEM, "secagg client: %u neighbours", p->k);
    }
    memset(c->peers, 0, (size_t)p->k * sizeof *c->peers);
    c->p = *p;
    c->index = index;
    if ((rc = sa_graph_init(&g, p))) {
        free(nb);
        gdn_secagg_client_free(c);
        return rc;
    }
    sa_graph_neighbours(&g, nb, index);
    sa_graph_free(&g);
    for (uint32_t i = 0; i < p->k; i++) {
        c->peers[i].index = nb[i];
        memcpy(c->peers[i].id_pk, roster_pks + (size_t)32 * nb[i], 32);
    }
    free(nb);
    memcpy(c->id_sk, identity_sk, 64);
    /* A private generator keyed from the caller's: secrets never depend on
     * how the caller uses its generator afterwards. */
    gdn_rng_bytes(rng, seed, sizeof seed);
    gdn_rng_init_key(&c->rng, seed, rng_nonce);
    sodium_memzero(seed, sizeof seed);
    gdn_rng_bytes(&c->rng, c->c_sk, 32);
    gdn_rng_bytes(&c->rng, c->s_sk, 32);
    gdn_rng_bytes(&c->rng, c->b, 32);
    if (crypto_scalarmult_base(c->c_pk, c->c_sk) != 0 ||
        crypto_scalarmult_base(c->s_pk, c->s_sk) != 0) {
        gdn_secagg_client_free(c);
        return gdn_error(GDN_ECRYPTO, "secagg client: X25519 key generation");
    }
    *out = c;
    return 0;
}

void gdn_secagg_client_free(gdn_secagg_client *c)
{
    if (!c)
        return;
    sodium_free(c->peers); /* sodium_free zeroes before freeing */
    gdn_rng_wipe(&c->rng);
    sodium_free(c);
}

/* Round 0 (AdvertiseKeys): c_pk and s_pk, signed with the identity key over
 * the session and our index (Bonawitz et al. 2017 §4, Figure 4 round 0), and
 * a commitment to b so that the server can check the b it rebuilds. */
int gdn_secagg_client_advertise(gdn_secagg_client *c, gdn_buf *out)
{
    uint8_t msg[SA_HEADER_BYTES + SA_KEYS_BYTES + SA_SIG_BYTES];
    uint8_t signed_part[SA_ADV_SIGNED_BYTES];

    if (!c || !out)
        return gdn_error(GDN_EINVAL, "secagg client: missing argument");
    if (c->state != C_NEW)
        return gdn_error(GDN_ESTATE, "secagg client %u: already advertised", c->index);
    sa_header(msg, SA_MSG_ADVERTISE, c->p.session, c->index);
    memcpy(msg + SA_HEADER_BYTES, c->c_pk, 32);
    memcpy(msg + SA_HEADER_BYTES + 32, c->s_pk, 32);
    sa_b_commit(msg + SA_HEADER_BYTES + 64, c->p.session, c->index, c->b);
    sa_adv_signed(signed_part, c->p.session, c->index, msg + SA_HEADER_BYTES);
    crypto_sign_detached(msg + SA_HEADER_BYTES + SA_KEYS_BYTES, NULL, signed_part,
                         sizeof signed_part, c->id_sk);
    sodium_memzero(c->id_sk, sizeof c->id_sk);
    if (gdn_buf_append(out, msg, sizeof msg))
        return fail(c, gdn_error(GDN_ENOMEM, "secagg client: advertisement"));
    c->state = C_ADVERTISED;
    return 0;
}

/* Checks the KEYS request and marks the neighbours it names as keyed. */
static int read_keys(gdn_secagg_client *c, const uint8_t *req, size_t len,
                     uint32_t *count_out)
{
    uint8_t signed_part[SA_ADV_SIGNED_BYTES];
    const uint8_t *e;
    uint32_t count;
    int64_t prev = -1;
    int rc;

    if ((rc = sa_header_check(req, len, SA_MSG_KEYS, c->p.session, c->index, "keys")))
        return rc;
    if (len < SA_HEADER_BYTES + 4)
        return gdn_error(GDN_EFORMAT, "secagg keys: truncated");
    count = gdn_load_le32(req + SA_HEADER_BYTES);
    if (count > c->p.k || len != SA_HEADER_BYTES + 4 + (size_t)count * SA_KEYS_ENTRY)
        return gdn_error(GDN_EFORMAT, "secagg keys: %u entries in %zu bytes (k = %u)",
                         count, len, c->p.k);
    e = req + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_KEYS_ENTRY) {
        uint32_t j = gdn_load_le32(e);
        peer *q = find_peer(c, j);
        if ((int64_t)j <= prev)
            return gdn_error(GDN_EFORMAT, "secagg keys: entry %u: client %u out of "
                                          "order or repeated", i, j);
        prev = j;
        if (!q)
            return gdn_error(GDN_EFORMAT, "secagg keys: client %u is not a "
                                          "neighbour of %u", j, c->index);
        sa_adv_signed(signed_part, c->p.session, j, e + 4);
        if (crypto_sign_verify_detached(e + 4 + SA_KEYS_BYTES, signed_part, sizeof signed_part,
                                        q->id_pk) != 0)
            return gdn_error(GDN_ECRYPTO, "secagg keys: bad signature on the keys of "
                                          "client %u", j);
    }
    e = req + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_KEYS_ENTRY) {
        peer *q = find_peer(c, gdn_load_le32(e));
        q->keyed = 1;
        memcpy(q->c_pk, e + 4, 32);
        memcpy(q->s_pk, e + 36, 32);
    }
    *count_out = count;
    return 0;
}

/* Round 1 (ShareKeys): t-of-|U1 ∩ N(i)| shares of s_sk and b, one AEAD
 * ciphertext per neighbour (Bell et al. 2020 Alg. 2, round 2). */
int gdn_secagg_client_share_keys(gdn_secagg_client *c, gdn_buf *out,
                                 const uint8_t *request, size_t request_len)
{
    uint8_t *sh = NULL, key[32], ad[SA_SHARE_AD_BYTES], *plain = NULL;
    uint32_t *xs = NULL, count = 0, n = 0;
    size_t start;
    int rc;

    if (!c || !out)
        return gdn_error(GDN_EINVAL, "secagg client: missing argument");
    if (c->state != C_ADVERTISED)
        return gdn_error(GDN_ESTATE, "secagg client %u: not expecting keys",
                         c->index);
    if ((rc = read_keys(c, request, request_len, &count)))
        return rc;
    if (count < c->p.t)
        return fail(c, gdn_error(GDN_ESTATE, "secagg client %u: only %u of %u "
                                 "neighbours advertised keys, below the threshold "
                                 "%u; round aborted", c->index, count, c->p.k,
                                 c->p.t));
    xs = malloc((size_t)count * sizeof *xs);
    sh = sodium_malloc((size_t)count * 2 * GDN_SECAGG_SHARE_BYTES);
    plain = sodium_malloc(SA_SHARES_PLAIN);
    if (!xs || !sh || !plain) {
        rc = fail(c, gdn_error(GDN_ENOMEM, "secagg client: shares"));
        goto done;
    }
    for (uint32_t i = 0; i < c->p.k; i++)
        if (c->peers[i].keyed)
            xs[n++] = c->peers[i].index + 1;
    if ((rc = gdn_secagg_shamir_split(sh, c->s_sk, xs, count, c->p.t, &c->rng)) ||
        (rc = gdn_secagg_shamir_split(sh + (size_t)count * GDN_SECAGG_SHARE_BYTES,
                                      c->b, xs, count, c->p.t, &c->rng))) {
        rc = fail(c, rc);
        goto done;
    }
    start = out->len;
    if (gdn_buf_reserve(out, SA_HEADER_BYTES + 4 + (size_t)count * SA_CT_ENTRY)) {
        rc = fail(c, gdn_error(GDN_ENOMEM, "secagg client: shares message"));
        goto done;
    }
    sa_header(out->data + out->len, SA_MSG_SHARES, c->p.session, c->index);
    gdn_store_le32(out->data + out->len + SA_HEADER_BYTES, count);
    out->len += SA_HEADER_BYTES + 4;
    n = 0;
    for (uint32_t i = 0; i < c->p.k; i++) {
        peer *q = &c->peers[i];
        uint8_t *e = out->data + out->len;
        if (!q->keyed)
            continue;
        memcpy(plain, sh + (size_t)n * GDN_SECAGG_SHARE_BYTES, GDN_SECAGG_SHARE_BYTES);
        memcpy(plain + GDN_SECAGG_SHARE_BYTES,
               sh + ((size_t)count + n) * GDN_SECAGG_SHARE_BYTES, GDN_SECAGG_SHARE_BYTES);
        if ((rc = sa_share_keys(key, q->recv_key, c->c_sk, c->c_pk, c->index, q->c_pk,
                                q->index, c->p.session))) {
            out->len = start;
            rc = fail(c, rc);
            goto done;
        }
        sa_share_ad(ad, c->p.session, c->index, q->index);
        gdn_store_le32(e, q->index);
        crypto_aead_chacha20poly1305_ietf_encrypt(e + 4, NULL, plain, SA_SHARES_PLAIN,
                                                  ad, sizeof ad, NULL, zero_nonce, key);
        out->len += SA_CT_ENTRY;
        n++;
    }
    /* c_sk's only other use, decrypting the shares sent to us, is covered
     * by the receive keys derived above. */
    sodium_memzero(c->c_sk, sizeof c->c_sk);
    c->state = C_SHARED;
    rc = 0;
done:
    sodium_memzero(key, sizeof key);
    free(xs);
    sodium_free(sh);
    sodium_free(plain);
    return rc;
}

/* Decrypts the FORWARD message into the peers' share slots. */
static int read_forward(gdn_secagg_client *c, const uint8_t *msg, size_t len,
                        uint32_t *count_out)
{
    uint8_t ad[SA_SHARE_AD_BYTES], plain[SA_SHARES_PLAIN];
    const uint8_t *e;
    uint32_t count;
    int64_t prev = -1;
    int rc;

    if ((rc = sa_header_check(msg, len, SA_MSG_FORWARD, c->p.session, c->index,
                              "forwarded shares")))
        return rc;
    if (len < SA_HEADER_BYTES + 4)
        return gdn_error(GDN_EFORMAT, "secagg forwarded shares: truncated");
    count = gdn_load_le32(msg + SA_HEADER_BYTES);
    if (count > c->p.k || len != SA_HEADER_BYTES + 4 + (size_t)count * SA_CT_ENTRY)
        return gdn_error(GDN_EFORMAT, "secagg forwarded shares: %u entries in %zu "
                                      "bytes (k = %u)", count, len, c->p.k);
    e = msg + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_CT_ENTRY) {
        uint32_t from = gdn_load_le32(e);
        peer *q = find_peer(c, from);
        if ((int64_t)from <= prev || !q || !q->keyed) {
            rc = gdn_error(GDN_EFORMAT, "secagg forwarded shares: entry %u: client %u "
                                        "repeated, out of order or not a keyed "
                                        "neighbour", i, from);
            goto bad;
        }
        prev = from;
        sa_share_ad(ad, c->p.session, from, c->index);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, NULL, NULL, e + 4,
                                                      SA_CT_BYTES, ad, sizeof ad,
                                                      zero_nonce, q->recv_key) != 0) {
            rc = gdn_error(GDN_ECRYPTO, "secagg forwarded shares: shares from client "
                                        "%u fail authentication", from);
            goto bad;
        }
        if (!shares_valid(plain) || !shares_valid(plain + GDN_SECAGG_SHARE_BYTES)) {
            rc = gdn_error(GDN_EFORMAT, "secagg forwarded shares: client %u sent "
                                        "values outside the field", from);
            goto bad;
        }
        memcpy(q->ssk_share, plain, GDN_SECAGG_SHARE_BYTES);
        memcpy(q->b_share, plain + GDN_SECAGG_SHARE_BYTES, GDN_SECAGG_SHARE_BYTES);
        q->shared = 1;
    }
    sodium_memzero(plain, sizeof plain);
    *count_out = count;
    return 0;
bad:
    for (uint32_t i = 0; i < c->p.k; i++) {
        c->peers[i].shared = 0;
        sodium_memzero(c->peers[i].ssk_share, GDN_SECAGG_SHARE_BYTES);
        sodium_memzero(c->peers[i].b_share, GDN_SECAGG_SHARE_BYTES);
    }
    sodium_memzero(plain, sizeof plain);
    return rc;
}

/* Round 2 (MaskedInputCollection): y = x + PRG(b) + sum over the neighbours
 * in U2 of ±PRG(s_ij), + when i < j (Bonawitz et al. 2017 §3, Figure 4). */
int gdn_secagg_client_masked_input(gdn_secagg_client *c, gdn_buf *out,
                                   const uint8_t *forwarded, size_t forwarded_len,
                                   const uint32_t *x)
{
    uint32_t count = 0, m, mask, over = 0, *y;
    uint8_t seed[32], *o;
    int rc;

    if (!c || !out || !x)
        return gdn_error(GDN_EINVAL, "secagg client: missing argument");
    if (c->state != C_SHARED)
        return gdn_error(GDN_ESTATE, "secagg client %u: not expecting shares",
                         c->index);
    m = c->p.length;
    mask = c->p.bits == 32 ? 0xFFFFFFFFu : (1u << c->p.bits) - 1;
    for (uint32_t i = 0; i < m; i++)
        over |= x[i] & ~mask;
    if (over)
        return gdn_error(GDN_EINVAL, "secagg client %u: input values not below "
                                     "2^%u", c->index, c->p.bits);
    if ((rc = read_forward(c, forwarded, forwarded_len, &count)))
        return rc;
    for (uint32_t i = 0; i < c->p.k; i++)
        sodium_memzero(c->peers[i].recv_key, 32);
    if (count < c->p.t)
        return fail(c, gdn_error(GDN_ESTATE, "secagg client %u: shares from only %u "
                                 "neighbours, below the threshold %u; round aborted",
                                 c->index, count, c->p.t));
    y = malloc((size_t)m * sizeof *y);
    if (!y || gdn_buf_reserve(out, SA_HEADER_BYTES + 4 + (size_t)m * 4)) {
        free(y);
        return fail(c, gdn_error(GDN_ENOMEM, "secagg client: masked input of %u", m));
    }
    memcpy(y, x, (size_t)m * sizeof *y);
    sa_prg_add(y, m, c->b, +1);
    for (uint32_t i = 0; i < c->p.k; i++) {
        peer *q = &c->peers[i];
        if (!q->shared)
            continue;
        if ((rc = sa_mask_seed(seed, c->s_sk, c->s_pk, c->index, q->s_pk, q->index,
                               c->p.session))) {
            sodium_memzero(y, (size_t)m * sizeof *y);
            free(y);
            return fail(c, rc);
        }
        sa_prg_add(y, m, seed, c->index < q->index ? +1 : -1);
    }
    sodium_memzero(seed, sizeof seed);
    o = out->data + out->len;
    sa_header(o, SA_MSG_INPUT, c->p.session, c->index);
    gdn_store_le32(o + SA_HEADER_BYTES, m);
    o += SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < m; i++)
        gdn_store_le32(o + 4 * (size_t)i, y[i] & mask);
    out->len += SA_HEADER_BYTES + 4 + (size_t)m * 4;
    sodium_memzero(y, (size_t)m * sizeof *y);
    free(y);
    /* Our own secrets are in the neighbours' hands now; the keys are done. */
    sodium_memzero(c->s_sk, sizeof c->s_sk);
    sodium_memzero(c->b, sizeof c->b);
    c->state = C_MASKED;
    return 0;
}

int sa_client_skip_input(gdn_secagg_client *c, const uint8_t *forwarded,
                         size_t forwarded_len)
{
    uint32_t count = 0;
    int rc;

    if (!c || c->state != C_SHARED)
        return gdn_error(GDN_ESTATE, "secagg client: not expecting shares");
    if ((rc = read_forward(c, forwarded, forwarded_len, &count)))
        return rc;
    for (uint32_t i = 0; i < c->p.k; i++)
        sodium_memzero(c->peers[i].recv_key, 32);
    sodium_memzero(c->s_sk, sizeof c->s_sk);
    sodium_memzero(c->b, sizeof c->b);
    c->state = C_MASKED;
    return 0;
}

/* Round 3 (Unmasking): for each neighbour in U2, the share of b if the server
 * says it survived, else the share of s_sk — and never both (Bonawitz et al.
 * 2017 §4: revealing both would unmask that peer's input). The request must
 * name exactly the peers whose shares we hold, each once, and is answered
 * once: any other request aborts the round for this client. */
int gdn_secagg_client_unmask(gdn_secagg_client *c, gdn_buf *out,
                             const uint8_t *request, size_t request_len)
{
    uint32_t count, held = 0, survived = 0;
    const uint8_t *e;
    int64_t prev = -1;
    uint8_t *o;
    int rc;

    if (!c || !out)
        return gdn_error(GDN_EINVAL, "secagg client: missing argument");
    if (c->state == C_DONE)
        return gdn_error(GDN_ESTATE, "secagg client %u: unmasking already answered; "
                                     "a second answer could reveal both masks of a "
                                     "peer", c->index);
    if (c->state != C_MASKED)
        return gdn_error(GDN_ESTATE, "secagg client %u: not expecting an unmasking "
                                     "request", c->index);
    if ((rc = sa_header_check(request, request_len, SA_MSG_UNMASK_REQ, c->p.session,
                              c->index, "unmasking request")))
        return fail(c, rc);
    if (request_len < SA_HEADER_BYTES + 4)
        return fail(c, gdn_error(GDN_EFORMAT, "secagg unmasking request: truncated"));
    count = gdn_load_le32(request + SA_HEADER_BYTES);
    if (count > c->p.k ||
        request_len != SA_HEADER_BYTES + 4 + (size_t)count * SA_UNMASK_REQ_ENTRY)
        return fail(c, gdn_error(GDN_EFORMAT, "secagg unmasking request: %u entries "
                                 "in %zu bytes", count, request_len));
    for (uint32_t i = 0; i < c->p.k; i++)
        held += c->peers[i].shared;
    e = request + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_UNMASK_REQ_ENTRY) {
        uint32_t j = gdn_load_le32(e);
        peer *q = find_peer(c, j);
        if ((int64_t)j == prev)
            return fail(c, gdn_error(GDN_ECRYPTO, "secagg client %u: unmasking "
                                     "request names client %u twice: answering "
                                     "would reveal both its masks; refused",
                                     c->index, j));
        if ((int64_t)j < prev || !q || !q->shared || e[4] > 1)
            return fail(c, gdn_error(GDN_EFORMAT, "secagg unmasking request: entry "
                                     "%u (client %u, status %u) out of order, not a "
                                     "peer whose shares I hold, or bad status",
                                     i, j, e[4]));
        prev = j;
        survived += e[4];
    }
    if (count != held)
        return fail(c, gdn_error(GDN_EFORMAT, "secagg unmasking request: %u peers "
                                 "named, %u hold shares", count, held));
    if (survived + 1 < c->p.t)
        return fail(c, gdn_error(GDN_ESTATE, "secagg client %u: %u survivors among "
                                 "my neighbours, below the threshold %u; round "
                                 "aborted", c->index, survived + 1, c->p.t));
    if (gdn_buf_reserve(out, SA_HEADER_BYTES + 4 + (size_t)count * SA_UNMASK_ENTRY))
        return fail(c, gdn_error(GDN_ENOMEM, "secagg client: unmasking answer"));
    o = out->data + out->len;
    sa_header(o, SA_MSG_UNMASK, c->p.session, c->index);
    gdn_store_le32(o + SA_HEADER_BYTES, count);
    o += SA_HEADER_BYTES + 4;
    e = request + SA_HEADER_BYTES + 4;
    for (uint32_t i = 0; i < count; i++, e += SA_UNMASK_REQ_ENTRY, o += SA_UNMASK_ENTRY) {
        peer *q = find_peer(c, gdn_load_le32(e));
        gdn_store_le32(o, q->index);
        o[4] = e[4] ? SA_KIND_B : SA_KIND_SSK;
        memcpy(o + 5, e[4] ? q->b_share : q->ssk_share, GDN_SECAGG_SHARE_BYTES);
    }
    out->len += SA_HEADER_BYTES + 4 + (size_t)count * SA_UNMASK_ENTRY;
    for (uint32_t i = 0; i < c->p.k; i++) {
        sodium_memzero(c->peers[i].ssk_share, GDN_SECAGG_SHARE_BYTES);
        sodium_memzero(c->peers[i].b_share, GDN_SECAGG_SHARE_BYTES);
    }
    c->state = C_DONE;
    return 0;
}
