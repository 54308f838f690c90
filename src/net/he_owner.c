/* Encrypted aggregation, the data owner's side (net/he.h): encrypting its
 * update under the collective key, and as a key holder, its part of set-up
 * and its decryption shares. Secrets (the holder's s_i, dealt shares, its
 * threshold key, the encryption randomness) come from the system's CSPRNG
 * and never leave the process except as the threshold key file in --state
 * DIR (mode 0600, written whole then renamed) and as shares sealed to
 * another holder. Static helpers first, the functions of he.h last. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "net/he.h"

#define KEY_MAGIC "GDNHEK1\n"
#define GUARD_MAGIC "GDNHEG1\n"
#define KEY_HEADER (8 + 32 + NET_HE_CRS_BYTES + 16)
#define GUARD_BYTES (8 + NET_HE_CRS_BYTES + 8)
#define MAX_FILE ((size_t)16 << 20)

struct net_he_owner {
    char dir[2048];
    uint8_t *id_sk;        /* 64 bytes, sodium_malloc */
    uint8_t coordinator[32];
    gdn_ckks_ctx *ctx;
    gdn_ckks_pk *pk;       /* the collective key, as the coordinator sent it */
    uint8_t key_crs[NET_HE_CRS_BYTES];
    uint32_t key_holders, key_t;
    uint64_t seen_round;
    /* a set-up under way: phase 1 seen, waiting for phase 2 */
    int pending;
    uint8_t crs[NET_HE_CRS_BYTES];
    uint32_t holders, t, j, min_clients;
    uint8_t pks[GDN_WIRE_HE_MAX_HOLDERS][32];
    gdn_ckks_share *mine;  /* the share it dealt itself (secret) */
};

/* ---- Files --------------------------------------------------------------------- */

static int file_path(char *out, size_t cap, const net_he_owner *h, const char *ext)
{
    char hex[GDN_NET_FINGERPRINT_HEX_BYTES];

    gdn_net_fingerprint_hex(hex, h->coordinator);
    if ((size_t)snprintf(out, cap, "%s/he-%.16s.%s", h->dir, hex, ext) >= cap)
        return gdn_error(GDN_EINVAL, "he: state path too long");
    return 0;
}

int net_he_key_file_parse(net_he_key_file *out, const uint8_t *in, size_t len)
{
    memset(out, 0, sizeof *out);
    if (len < KEY_HEADER || memcmp(in, KEY_MAGIC, 8) != 0)
        return gdn_error(GDN_EFORMAT, "he key file: not one (%zu bytes)", len);
    memcpy(out->coordinator, in + 8, 32);
    memcpy(out->crs, in + 40, NET_HE_CRS_BYTES);
    out->holders = gdn_load_le32(in + 72);
    out->t = gdn_load_le32(in + 76);
    out->j = gdn_load_le32(in + 80);
    out->min_clients = gdn_load_le32(in + 84);
    if (out->holders < 2 || out->holders > GDN_WIRE_HE_MAX_HOLDERS || out->t < 2 ||
        out->t > out->holders || out->j < 1 || out->j > out->holders || out->min_clients < 1)
        return gdn_error(GDN_EFORMAT, "he key file: holder %u of %u, threshold %u, "
                         "min_clients %u", out->j, out->holders, out->t, out->min_clients);
    out->tsk = in + KEY_HEADER;
    out->tsk_len = len - KEY_HEADER;
    return 0;
}

/* The key file for this coordinator, its threshold key loaded (*tsk). */
static int load_key_file(net_he_owner *h, net_he_key_file *kf, gdn_ckks_tsk **tsk,
                         gdn_buf *bytes)
{
    char path[2200];
    int rc;

    *tsk = NULL;
    if ((rc = file_path(path, sizeof path, h, "key")))
        return rc;
    if ((rc = gdn_file_read(bytes, path, MAX_FILE)))
        return gdn_error(rc, "he: no threshold key for this coordinator (%s)", path);
    if ((rc = net_he_key_file_parse(kf, bytes->data, bytes->len)))
        return rc;
    if (sodium_memcmp(kf->coordinator, h->coordinator, 32) != 0)
        return gdn_error(GDN_ESTATE, "he: %s belongs to another coordinator", path);
    if ((rc = gdn_ckks_tsk_load(tsk, h->ctx, kf->tsk, kf->tsk_len)))
        return rc;
    return 0;
}

/* The last round this holder decrypted for the key of crs (0: none). */
static int guard_read(net_he_owner *h, const uint8_t crs[32], uint64_t *last)
{
    char path[2200];
    gdn_buf b = {0};
    int rc;

    *last = 0;
    if ((rc = file_path(path, sizeof path, h, "guard")))
        return rc;
    if (gdn_file_read(&b, path, 4096)) /* none yet */
        return 0;
    if (b.len != GUARD_BYTES || memcmp(b.data, GUARD_MAGIC, 8) != 0)
        rc = gdn_error(GDN_EFORMAT, "he: %s is damaged; refusing to decrypt", path);
    else if (memcmp(b.data + 8, crs, NET_HE_CRS_BYTES) == 0)
        *last = gdn_load_le64(b.data + 8 + NET_HE_CRS_BYTES);
    gdn_buf_free(&b);
    return rc;
}

static int guard_write(net_he_owner *h, const uint8_t crs[32], uint64_t round)
{
    char path[2200];
    uint8_t b[GUARD_BYTES];
    int rc;

    if ((rc = file_path(path, sizeof path, h, "guard")))
        return rc;
    memcpy(b, GUARD_MAGIC, 8);
    memcpy(b + 8, crs, NET_HE_CRS_BYTES);
    gdn_store_le64(b + 8 + NET_HE_CRS_BYTES, round);
    return gdn_file_write_atomic_mode(path, b, sizeof b, 0600);
}

/* ---- Set-up ------------------------------------------------------------------------ */

static int ensure_ctx(net_he_owner *h)
{
    return h->ctx ? 0 : gdn_fl_he_context(&h->ctx);
}

static void pending_clear(net_he_owner *h)
{
    gdn_ckks_share_free(h->mine); /* secret: wiped */
    h->mine = NULL;
    h->pending = 0;
}

/* Seals share (dealt to holder k) from this holder j, bound to the set-up. */
static int seal(gdn_buf *out, const net_he_owner *h, uint32_t k, const gdn_ckks_share *sh,
                const uint8_t xsk[32])
{
    gdn_buf m = {0};
    uint8_t xpk[32], le[8];
    size_t at;
    int rc;

    if (crypto_sign_ed25519_pk_to_curve25519(xpk, h->pks[k - 1]) != 0)
        return gdn_error(GDN_ECRYPTO, "he: holder %u's identity key is not a valid point", k);
    gdn_store_le32(le, h->j);
    gdn_store_le32(le + 4, k);
    if ((rc = gdn_buf_append(&m, h->crs, sizeof h->crs)) || (rc = gdn_buf_append(&m, le, 8)) ||
        (rc = gdn_ckks_share_save(&m, sh)))
        goto done;
    gdn_store_le32(le, k);
    gdn_store_le32(le + 4, (uint32_t)(m.len + NET_HE_BOX_OVERHEAD));
    if ((rc = gdn_buf_append(out, le, 8)) ||
        (rc = gdn_buf_reserve(out, m.len + NET_HE_BOX_OVERHEAD)))
        goto done;
    at = out->len;
    randombytes_buf(out->data + at, crypto_box_NONCEBYTES);
    if (crypto_box_easy(out->data + at + crypto_box_NONCEBYTES, m.data, m.len,
                        out->data + at, xpk, xsk) != 0) {
        rc = gdn_error(GDN_ECRYPTO, "he: sealing the share for holder %u failed", k);
        goto done;
    }
    out->len += m.len + NET_HE_BOX_OVERHEAD;
done:
    if (m.data)
        sodium_memzero(m.data, m.len);
    gdn_buf_free(&m);
    return rc;
}

static int setup_request(net_he_owner *h, gdn_buf *answer, const uint8_t *in, size_t len)
{
    net_he_setup req;
    gdn_ckks_sk *sk = NULL;
    gdn_ckks_share *ckg = NULL, *dealt[GDN_WIRE_HE_MAX_HOLDERS] = {0};
    uint8_t xsk[32], le[4];
    gdn_rng rng;
    size_t at;
    int rc;

    pending_clear(h);
    if ((rc = net_he_setup_parse(&req, in, len)) || (rc = ensure_ctx(h)))
        return rc;
    if (sodium_memcmp(req.pks + 32 * (size_t)(req.j - 1), h->id_sk + 32, 32) != 0)
        return gdn_error(GDN_ESTATE, "he: the set-up request names another key as holder %u",
                         req.j);
    memcpy(h->crs, req.crs, sizeof h->crs);
    h->holders = req.holders, h->t = req.t, h->j = req.j, h->min_clients = req.min_clients;
    memcpy(h->pks, req.pks, (size_t)32 * req.holders);
    gdn_rng_init_system(&rng);
    if (crypto_sign_ed25519_sk_to_curve25519(xsk, h->id_sk) != 0) {
        rc = gdn_error(GDN_ECRYPTO, "he: converting the identity key failed");
        goto done;
    }
    if ((rc = gdn_ckks_keygen(&sk, h->ctx, &rng)) ||
        (rc = gdn_ckks_ckg_share(&ckg, sk, h->crs, &rng)) ||
        (rc = gdn_ckks_thr_deal(dealt, h->t, h->holders, sk, &rng)))
        goto done;
    answer->len = 0;
    at = 0;
    if ((rc = gdn_buf_append(answer, "\0\0\0\0", 4)) || (rc = gdn_ckks_share_save(answer, ckg)))
        goto done;
    gdn_store_le32(answer->data + at, (uint32_t)(answer->len - 4));
    gdn_store_le32(le, h->holders - 1);
    if ((rc = gdn_buf_append(answer, le, 4)))
        goto done;
    for (uint32_t k = 1; k <= h->holders && !rc; k++)
        if (k != h->j)
            rc = seal(answer, h, k, dealt[k - 1], xsk);
    if (!rc) {
        h->mine = dealt[h->j - 1];
        dealt[h->j - 1] = NULL;
        h->pending = 1;
        gdn_log(GDN_LOG_INFO, "he: key set-up as holder %u of %u (threshold %u): CKG share "
                "and %u sealed shares sent", h->j, h->holders, h->t, h->holders - 1);
    }
done:
    sodium_memzero(xsk, sizeof xsk);
    gdn_rng_wipe(&rng);
    gdn_ckks_sk_free(sk);
    gdn_ckks_share_free(ckg);
    for (unsigned k = 0; k < GDN_WIRE_HE_MAX_HOLDERS; k++)
        gdn_ckks_share_free(dealt[k]);
    return rc;
}

/* Opens the box from holder `from`: its share for this holder. */
static int open_box(gdn_ckks_share **out, net_he_owner *h, uint32_t from, const uint8_t *box,
                    size_t n, const uint8_t xsk[32])
{
    uint8_t xpk[32];
    size_t mlen = n - NET_HE_BOX_OVERHEAD;
    uint8_t *m = sodium_malloc(mlen ? mlen : 1);
    int rc = 0;

    if (!m)
        return gdn_error(GDN_ENOMEM, "he: out of memory");
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, h->pks[from - 1]) != 0 ||
        crypto_box_open_easy(m, box + crypto_box_NONCEBYTES, n - crypto_box_NONCEBYTES, box,
                             xpk, xsk) != 0)
        rc = gdn_error(GDN_ECRYPTO, "he: the share from holder %u does not open (forged or "
                       "for another holder)", from);
    else if (mlen < NET_HE_CRS_BYTES + 8 || sodium_memcmp(m, h->crs, NET_HE_CRS_BYTES) != 0 ||
             gdn_load_le32(m + 32) != from || gdn_load_le32(m + 36) != h->j)
        rc = gdn_error(GDN_ECRYPTO, "he: the share from holder %u is for another set-up or "
                       "holder", from);
    else
        rc = gdn_ckks_share_load(out, h->ctx, m + 40, mlen - 40);
    sodium_free(m); /* wipes */
    return rc;
}

static int write_key_file(net_he_owner *h, const gdn_ckks_tsk *tsk)
{
    char path[2200];
    gdn_buf b = {0};
    uint8_t le[16];
    int rc;

    if ((rc = file_path(path, sizeof path, h, "key")))
        return rc;
    gdn_store_le32(le, h->holders);
    gdn_store_le32(le + 4, h->t);
    gdn_store_le32(le + 8, h->j);
    gdn_store_le32(le + 12, h->min_clients);
    if (!(rc = gdn_buf_append(&b, KEY_MAGIC, 8)) &&
        !(rc = gdn_buf_append(&b, h->coordinator, 32)) &&
        !(rc = gdn_buf_append(&b, h->crs, sizeof h->crs)) && !(rc = gdn_buf_append(&b, le, 16)) &&
        !(rc = gdn_ckks_tsk_save(&b, tsk)))
        rc = gdn_file_write_atomic_mode(path, b.data, b.len, 0600);
    if (b.data)
        sodium_memzero(b.data, b.cap);
    gdn_buf_free(&b);
    return rc;
}

static int deal_request(net_he_owner *h, const uint8_t *in, size_t len)
{
    uint32_t who[GDN_WIRE_HE_MAX_HOLDERS];
    const uint8_t *data[GDN_WIRE_HE_MAX_HOLDERS];
    size_t lens[GDN_WIRE_HE_MAX_HOLDERS], off = 4;
    gdn_ckks_share *recv[GDN_WIRE_HE_MAX_HOLDERS] = {0};
    gdn_ckks_tsk *tsk = NULL;
    uint8_t xsk[32];
    int rc;

    if (!h->pending)
        return gdn_error(GDN_ESTATE, "he: relayed shares without a set-up under way");
    if (len < 4 || gdn_load_le32(in) != h->holders - 1)
        return gdn_error(GDN_EFORMAT, "he: relayed shares: expected %u", h->holders - 1);
    if ((rc = net_he_entries_parse(who, data, lens, h->holders - 1, h->holders, h->j, in, len,
                                   &off)))
        return rc;
    if (off != len)
        return gdn_error(GDN_EFORMAT, "he: %zu bytes after the relayed shares", len - off);
    if (crypto_sign_ed25519_sk_to_curve25519(xsk, h->id_sk) != 0)
        return gdn_error(GDN_ECRYPTO, "he: converting the identity key failed");
    for (uint32_t i = 0; i + 1 < h->holders && !rc; i++)
        rc = open_box(&recv[who[i] - 1], h, who[i], data[i], lens[i], xsk);
    sodium_memzero(xsk, sizeof xsk);
    recv[h->j - 1] = h->mine;
    if (!rc && !(rc = gdn_ckks_thr_key(&tsk, h->ctx, h->j, h->t,
                                       (const gdn_ckks_share *const *)recv, h->holders)))
        rc = write_key_file(h, tsk);
    recv[h->j - 1] = NULL;
    for (unsigned k = 0; k < GDN_WIRE_HE_MAX_HOLDERS; k++)
        gdn_ckks_share_free(recv[k]);
    gdn_ckks_tsk_free(tsk);
    pending_clear(h);
    if (!rc)
        gdn_log(GDN_LOG_INFO, "he: threshold key of holder %u stored in %s", h->j, h->dir);
    return rc;
}

static int key_message(net_he_owner *h, const uint8_t *in, size_t len)
{
    net_he_key_msg km;
    gdn_ckks_pk *pk = NULL;
    int rc;

    if ((rc = net_he_key_parse(&km, in, len)) || (rc = ensure_ctx(h)) ||
        (rc = gdn_ckks_pk_load(&pk, h->ctx, km.pk, km.pk_len)))
        return rc;
    gdn_ckks_pk_free(h->pk);
    h->pk = pk;
    memcpy(h->key_crs, km.crs, sizeof h->key_crs);
    h->key_holders = km.holders, h->key_t = km.t;
    return 0;
}

/* ---- Decryption ------------------------------------------------------------------------ */

static int decrypt_request(net_he_owner *h, gdn_buf *answer, uint64_t round, const uint8_t *in,
                           size_t len)
{
    net_he_decrypt_req req;
    net_he_key_file kf;
    gdn_ckks_tsk *tsk = NULL;
    gdn_fl_he_sum *sum = NULL;
    gdn_buf bytes = {0};
    uint64_t last;
    gdn_rng rng;
    int rc, member = 0;

    if ((rc = net_he_decrypt_parse(&req, in, len)) || (rc = ensure_ctx(h)) ||
        (rc = load_key_file(h, &kf, &tsk, &bytes)))
        goto done;
    for (uint32_t i = 0; i < req.t; i++) {
        member |= req.set[i] == kf.j;
        if (req.set[i] > kf.holders)
            rc = gdn_error(GDN_EFORMAT, "he: decryption set names holder %u of %u",
                           req.set[i], kf.holders);
    }
    /* The guard (docs/ckks.md, "Between processes"). */
    if (!rc && sodium_memcmp(req.crs, kf.crs, NET_HE_CRS_BYTES) != 0)
        rc = gdn_error(GDN_ESTATE, "he: decryption request for another collective key");
    else if (!rc && (req.t != kf.t || !member))
        rc = gdn_error(GDN_ESTATE, "he: decryption set of %u holders without this one "
                       "(threshold %u, holder %u)", req.t, kf.t, kf.j);
    else if (!rc && req.contributions < kf.min_clients)
        rc = gdn_error(GDN_ESTATE, "he: refusing to decrypt a sum of %llu updates: fewer than "
                       "the %u agreed at set-up", (unsigned long long)req.contributions,
                       kf.min_clients);
    else if (!rc && round < h->seen_round)
        rc = gdn_error(GDN_ESTATE, "he: refusing to decrypt for round %llu: round %llu is "
                       "under way", (unsigned long long)round,
                       (unsigned long long)h->seen_round);
    else if (!rc && !(rc = guard_read(h, kf.crs, &last)) && round <= last)
        rc = gdn_error(GDN_ESTATE, "he: refusing a second decryption for round %llu (this "
                       "holder answered round %llu already)", (unsigned long long)round,
                       (unsigned long long)last);
    if (rc)
        goto done;
    /* recorded before the share leaves: a restart cannot answer twice */
    if ((rc = guard_write(h, kf.crs, round)) ||
        (rc = gdn_fl_he_sum_new(&sum, h->ctx, (size_t)req.dim, req.clip)) ||
        (rc = gdn_fl_he_sum_load(sum, req.cts, req.cts_len)))
        goto done;
    gdn_rng_init_system(&rng);
    answer->len = 0;
    rc = gdn_fl_he_holder_share(answer, sum, tsk, req.set, req.t, GDN_FL_HE_SMUDGE_BITS, &rng);
    gdn_rng_wipe(&rng);
    if (!rc)
        gdn_log(GDN_LOG_INFO, "round %llu: decryption share sent as holder %u (a sum of %llu "
                "updates)", (unsigned long long)round, kf.j,
                (unsigned long long)req.contributions);
done:
    if (bytes.data)
        sodium_memzero(bytes.data, bytes.cap);
    gdn_buf_free(&bytes);
    gdn_ckks_tsk_free(tsk);
    gdn_fl_he_sum_free(sum);
    return rc;
}

/* ---- The functions of he.h -------------------------------------------------------------- */

int net_he_owner_new(net_he_owner **out, const char *dir, const uint8_t id_sk[64])
{
    net_he_owner *h;

    *out = NULL;
    if (strlen(dir) >= sizeof h->dir)
        return gdn_error(GDN_EINVAL, "he: state directory path too long");
    if (sodium_init() < 0)
        return gdn_error(GDN_ECRYPTO, "he: libsodium cannot start");
    if (!(h = calloc(1, sizeof *h)) || !(h->id_sk = sodium_malloc(64))) {
        free(h);
        return gdn_error(GDN_ENOMEM, "out of memory");
    }
    memcpy(h->id_sk, id_sk, 64);
    memcpy(h->dir, dir, strlen(dir) + 1);
    *out = h;
    return 0;
}

void net_he_owner_free(net_he_owner *h)
{
    if (!h)
        return;
    pending_clear(h);
    sodium_free(h->id_sk);
    gdn_ckks_pk_free(h->pk);
    gdn_ckks_ctx_free(h->ctx);
    free(h);
}

void net_he_owner_session(net_he_owner *h, const uint8_t coordinator[32])
{
    if (memcmp(h->coordinator, coordinator, 32) != 0) {
        gdn_ckks_pk_free(h->pk);
        h->pk = NULL;
        h->seen_round = 0;
    }
    memcpy(h->coordinator, coordinator, 32);
    pending_clear(h); /* a set-up does not survive a lost connection */
}

void net_he_owner_seen_round(net_he_owner *h, uint64_t round)
{
    if (round > h->seen_round)
        h->seen_round = round;
}

int net_he_owner_handle(net_he_owner *h, gdn_buf *answer, uint32_t phase, uint64_t round,
                        const uint8_t *in, size_t len)
{
    int rc;

    answer->len = 0;
    switch (phase) {
    case GDN_WIRE_HE_SETUP:
        return setup_request(h, answer, in, len);
    case GDN_WIRE_HE_DEAL:
        rc = deal_request(h, in, len);
        return gdn_buf_append(answer, rc ? "\0" : "\1", 1) ? GDN_ENOMEM : rc;
    case GDN_WIRE_HE_KEY:
        return key_message(h, in, len);
    case GDN_WIRE_HE_DECRYPT:
        return decrypt_request(h, answer, round, in, len);
    default:
        return gdn_error(GDN_EFORMAT, "he: phase %u", phase);
    }
}

int net_he_owner_encrypt(net_he_owner *h, gdn_buf *out, const gdn_wire_he *p,
                         const float *local, const float *global, size_t dim,
                         uint64_t examples)
{
    gdn_rng rng;
    int rc;

    if (!h->pk || memcmp(h->key_crs, p->key_id, sizeof h->key_crs) != 0 ||
        h->key_holders != p->holders || h->key_t != p->threshold)
        return gdn_error(GDN_ESTATE, "he: the round names a collective key this owner has "
                         "not received");
    gdn_rng_init_system(&rng); /* fresh: the coordinator cannot derive it */
    rc = gdn_fl_he_client_encrypt(out, h->ctx, h->pk, local, global, dim, (double)examples,
                                  p->weight_scale, p->clip, &rng);
    gdn_rng_wipe(&rng);
    return rc;
}
