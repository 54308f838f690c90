/* Encrypted aggregation between processes, the pieces (net/he.h): three key
 * holders run set-up through their request handlers with this test as the
 * relay, the sum of clients' encrypted updates is decrypted by two of them
 * against the plaintext mean, and the holders' guard refuses what it must
 * (a second request for a round, a restart included; a sum of too few; an
 * old round; another key). The networked runs are in test_federation.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "guardian/core.h"
#include "guardian/fl.h"
#include "harness.h"
#include "net/he.h"

#define H 3
#define T 2
#define DIM 5000 /* two ciphertexts */
#define CLIENTS 4

typedef struct holders {
    char dir[H][600];
    uint8_t pk[H][32], sk[H][64];
    net_he_owner *o[H];
    uint8_t crs[32], coord[32];
    gdn_ckks_ctx *ctx;
    gdn_ckks_pk *cpk;
} holders;

static void holders_free(holders *hs)
{
    for (int i = 0; i < H; i++)
        net_he_owner_free(hs->o[i]);
    gdn_ckks_pk_free(hs->cpk);
    gdn_ckks_ctx_free(hs->ctx);
}

static int setup_request(gdn_buf *req, const holders *hs, unsigned j, unsigned min_clients)
{
    uint8_t le[16];

    gdn_store_le32(le, H);
    gdn_store_le32(le + 4, T);
    gdn_store_le32(le + 8, j);
    gdn_store_le32(le + 12, min_clients);
    req->len = 0;
    if (gdn_buf_append(req, hs->crs, 32) || gdn_buf_append(req, le, 16))
        return -1;
    for (int i = 0; i < H; i++)
        if (gdn_buf_append(req, hs->pk[i], 32))
            return -1;
    return 0;
}

/* Set-up with this test as the coordinator: 0 when every holder stored its key. */
static int run_setup(holders *hs, const char *name, int tamper)
{
    gdn_buf req = {0}, ans[H] = {{0}}, relay = {0}, out = {0};
    gdn_ckks_share *ckg[H] = {0};
    uint32_t who[H][H - 1];
    const uint8_t *data[H][H - 1];
    size_t lens[H][H - 1];
    int rc = -1;

    memset(hs, 0, sizeof *hs);
    randombytes_buf(hs->crs, 32);
    randombytes_buf(hs->coord, 32);
    if (gdn_fl_he_context(&hs->ctx))
        return -1;
    for (int i = 0; i < H; i++) {
        snprintf(hs->dir[i], sizeof hs->dir[i], "%s/%s-h%d", gdn_test_tmpdir(), name, i + 1);
        crypto_sign_keypair(hs->pk[i], hs->sk[i]);
        if (gdn_mkdir_p(hs->dir[i]) || net_he_owner_new(&hs->o[i], hs->dir[i], hs->sk[i]))
            goto out;
        net_he_owner_session(hs->o[i], hs->coord);
    }
    for (int i = 0; i < H; i++) { /* phase 1 */
        size_t off = 4;
        uint32_t n;
        if (setup_request(&req, hs, (unsigned)i + 1, 2) ||
            net_he_owner_handle(hs->o[i], &ans[i], GDN_WIRE_HE_SETUP, 0, req.data, req.len))
            goto out;
        n = gdn_load_le32(ans[i].data);
        if (gdn_ckks_share_load(&ckg[i], hs->ctx, ans[i].data + 4, n))
            goto out;
        off = 4 + n + 4;
        if (net_he_entries_parse(who[i], data[i], lens[i], H - 1, H, (uint32_t)i + 1,
                                 ans[i].data, ans[i].len, &off) || off != ans[i].len)
            goto out;
    }
    if (gdn_ckks_ckg_combine(&hs->cpk, hs->ctx, (const gdn_ckks_share *const *)ckg, H,
                             hs->crs))
        goto out;
    for (int k = 0; k < H; k++) { /* phase 2: what holder k was dealt */
        uint8_t le[8];
        relay.len = 0;
        gdn_store_le32(le, H - 1);
        gdn_buf_append(&relay, le, 4);
        for (int i = 0; i < H; i++)
            for (int e = 0; e < H - 1; e++)
                if (i != k && who[i][e] == (uint32_t)k + 1) {
                    gdn_store_le32(le, (uint32_t)i + 1);
                    gdn_store_le32(le + 4, (uint32_t)lens[i][e]);
                    gdn_buf_append(&relay, le, 8);
                    gdn_buf_append(&relay, data[i][e], lens[i][e]);
                }
        if (tamper && k == 0)
            relay.data[relay.len - 1] ^= 1; /* the last box's MAC */
        if (net_he_owner_handle(hs->o[k], &out, GDN_WIRE_HE_DEAL, 0, relay.data, relay.len) &&
            !tamper)
            goto out;
        if (out.len != 1 || out.data[0] != (tamper && k == 0 ? 0 : 1))
            goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < H; i++) {
        gdn_buf_free(&ans[i]);
        gdn_ckks_share_free(ckg[i]);
    }
    gdn_buf_free(&req);
    gdn_buf_free(&relay);
    gdn_buf_free(&out);
    return rc;
}

/* The decryption request for set {a, b}. */
static int decrypt_request(gdn_buf *req, const holders *hs, gdn_fl_he_sum *sum, unsigned a,
                           unsigned b, uint64_t contributions, const uint8_t *crs)
{
    uint8_t le[24];
    double clip = 1.0;
    uint64_t bits;

    memcpy(&bits, &clip, 8);
    (void)hs;
    req->len = 0;
    gdn_store_le32(le, T);
    gdn_store_le32(le + 4, a);
    gdn_store_le32(le + 8, b);
    if (gdn_buf_append(req, crs, 32) || gdn_buf_append(req, le, 12))
        return -1;
    gdn_store_le64(le, contributions);
    gdn_store_le64(le + 8, DIM);
    gdn_store_le64(le + 16, bits);
    if (gdn_buf_append(req, le, 24))
        return -1;
    return gdn_fl_he_sum_save(req, sum);
}

GDN_TEST(he_net_setup_decrypt_and_guard)
{
    holders hs;
    gdn_fl_he_sum *sum = NULL, *other = NULL;
    gdn_buf enc = {0}, req = {0}, sh[2] = {{0}};
    float *global = malloc(DIM * sizeof *global), *local = malloc(DIM * sizeof *local);
    float *out = malloc(DIM * sizeof *out);
    double *want = calloc(DIM, sizeof *want), wsum = 0, err = 0;
    gdn_rng rng;
    struct stat st;
    char path[800], hex[65];

    CHECK(global && local && out && want);
    CHECK(run_setup(&hs, "he-guard", 0) == 0);
    /* the key files: private to the holder */
    gdn_net_fingerprint_hex(hex, hs.coord);
    snprintf(path, sizeof path, "%s/he-%.16s.key", hs.dir[0], hex);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* four clients' updates, encrypted under the collective key */
    gdn_rng_init_seed(&rng, 11);
    for (size_t k = 0; k < DIM; k++)
        global[k] = (float)(gdn_rng_double(&rng) - 0.5);
    CHECK_OK(gdn_fl_he_sum_new(&sum, hs.ctx, DIM, 1.0));
    for (int c = 0; c < CLIENTS; c++) {
        double w = 100.0 * (c + 1);
        for (size_t k = 0; k < DIM; k++) {
            local[k] = global[k] + (float)(0.2 * (gdn_rng_double(&rng) - 0.5));
            want[k] += w / 400 * ((double)local[k] - (double)global[k]);
        }
        wsum += w / 400;
        enc.len = 0;
        CHECK_OK(gdn_fl_he_client_encrypt(&enc, hs.ctx, hs.cpk, local, global, DIM, w, 400,
                                          1.0, &rng));
        CHECK_OK(gdn_fl_he_sum_add(sum, enc.data, enc.len));
    }
    CHECK_EQ(gdn_fl_he_sum_added(sum), CLIENTS);
    /* a truncated update is refused and leaves the sum alone */
    CHECK_EQ(gdn_fl_he_sum_add(sum, enc.data, enc.len - 1), GDN_EFORMAT);
    CHECK_EQ(gdn_fl_he_sum_added(sum), CLIENTS);

    /* holders 1 and 3 decrypt round 1; the coordinator combines */
    CHECK(decrypt_request(&req, &hs, sum, 1, 3, CLIENTS, hs.crs) == 0);
    net_he_owner_seen_round(hs.o[0], 1);
    CHECK_OK(net_he_owner_handle(hs.o[0], &sh[0], GDN_WIRE_HE_DECRYPT, 1, req.data, req.len));
    CHECK_OK(net_he_owner_handle(hs.o[2], &sh[1], GDN_WIRE_HE_DECRYPT, 1, req.data, req.len));
    {
        const uint8_t *p[2] = {sh[0].data, sh[1].data};
        size_t n[2] = {sh[0].len, sh[1].len};
        CHECK_OK(gdn_fl_he_combine(out, sum, global, p, n, 2));
    }
    for (size_t k = 0; k < DIM; k++)
        err = fmax(err, fabs((double)out[k] - ((double)global[k] + want[k] / wsum)));
    /* docs/ckks.md: the sum is within 2^-10, the mean within that / sum of w */
    CHECK_MSG(err < 0x1p-10 / wsum + 1e-6, "mean off by %g", err);

    /* the guard: a second request for round 1, also after a restart */
    CHECK_EQ(net_he_owner_handle(hs.o[0], &sh[0], GDN_WIRE_HE_DECRYPT, 1, req.data, req.len),
             GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "second decryption for round 1"));
    net_he_owner_free(hs.o[0]);
    CHECK_OK(net_he_owner_new(&hs.o[0], hs.dir[0], hs.sk[0]));
    net_he_owner_session(hs.o[0], hs.coord);
    CHECK_EQ(net_he_owner_handle(hs.o[0], &sh[0], GDN_WIRE_HE_DECRYPT, 1, req.data, req.len),
             GDN_ESTATE);
    /* a sum of fewer contributions than agreed at set-up (2) */
    CHECK(decrypt_request(&req, &hs, sum, 1, 3, 1, hs.crs) == 0);
    CHECK_EQ(net_he_owner_handle(hs.o[0], &sh[0], GDN_WIRE_HE_DECRYPT, 2, req.data, req.len),
             GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "fewer than the 2 agreed"));
    /* a round older than the one under way */
    CHECK(decrypt_request(&req, &hs, sum, 1, 2, CLIENTS, hs.crs) == 0);
    net_he_owner_seen_round(hs.o[1], 5);
    CHECK_EQ(net_he_owner_handle(hs.o[1], &sh[0], GDN_WIRE_HE_DECRYPT, 4, req.data, req.len),
             GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "round 5 is under way"));
    /* a set without this holder, and another key */
    CHECK_EQ(net_he_owner_handle(hs.o[2], &sh[0], GDN_WIRE_HE_DECRYPT, 6, req.data, req.len),
             GDN_ESTATE);
    {
        uint8_t crs[32];
        memcpy(crs, hs.crs, 32);
        crs[0] ^= 1;
        CHECK(decrypt_request(&req, &hs, sum, 1, 2, CLIENTS, crs) == 0);
        CHECK_EQ(net_he_owner_handle(hs.o[1], &sh[0], GDN_WIRE_HE_DECRYPT, 6, req.data,
                                     req.len), GDN_ESTATE);
    }
    /* a later round is answered by the restarted holder 1 */
    CHECK(decrypt_request(&req, &hs, sum, 1, 2, CLIENTS, hs.crs) == 0);
    CHECK_OK(net_he_owner_handle(hs.o[0], &sh[0], GDN_WIRE_HE_DECRYPT, 2, req.data, req.len));
    CHECK_OK(net_he_owner_handle(hs.o[1], &sh[1], GDN_WIRE_HE_DECRYPT, 6, req.data, req.len));
    {
        const uint8_t *p[2] = {sh[0].data, sh[1].data};
        size_t n[2] = {sh[0].len, sh[1].len};
        CHECK_OK(gdn_fl_he_combine(out, sum, global, p, n, 2));
        /* one holder's answer is not a decryption */
        CHECK_OK(gdn_fl_he_sum_new(&other, hs.ctx, DIM, 1.0));
        CHECK(gdn_fl_he_combine(out, sum, global, p, n, 1) != 0 ||
              fabs((double)out[0] - ((double)global[0] + want[0] / wsum)) > 1e-2);
    }
    gdn_fl_he_sum_free(sum);
    gdn_fl_he_sum_free(other);
    gdn_buf_free(&enc);
    gdn_buf_free(&req);
    gdn_buf_free(&sh[0]);
    gdn_buf_free(&sh[1]);
    holders_free(&hs);
    free(global);
    free(local);
    free(out);
    free(want);
}

/* A share sealed to holder 1 and altered on the way does not open: holder
 * 1 stores no key and says so; the payload parsers refuse malformed bytes. */
GDN_TEST(he_net_tampered_share_and_parsers)
{
    holders hs;
    net_he_setup s;
    net_he_decrypt_req d;
    net_he_key_msg k;
    net_he_key_file f;
    uint8_t junk[200] = {0};
    char path[800], hex[65];
    struct stat st;

    CHECK(run_setup(&hs, "he-tamper", 1) == 0);
    gdn_net_fingerprint_hex(hex, hs.coord);
    snprintf(path, sizeof path, "%s/he-%.16s.key", hs.dir[0], hex);
    CHECK(stat(path, &st) != 0); /* holder 1: none */
    snprintf(path, sizeof path, "%s/he-%.16s.key", hs.dir[1], hex);
    CHECK(stat(path, &st) == 0);
    holders_free(&hs);

    CHECK_EQ(net_he_setup_parse(&s, junk, 47), GDN_EFORMAT);
    gdn_store_le32(junk + 32, 3), gdn_store_le32(junk + 36, 2), gdn_store_le32(junk + 40, 4);
    gdn_store_le32(junk + 44, 1);
    CHECK_EQ(net_he_setup_parse(&s, junk, 48 + 96), GDN_EFORMAT); /* holder 4 of 3 */
    gdn_store_le32(junk + 40, 3);
    CHECK_EQ(net_he_setup_parse(&s, junk, 48 + 95), GDN_EFORMAT); /* a key short */
    CHECK_OK(net_he_setup_parse(&s, junk, 48 + 96));
    CHECK_EQ(net_he_decrypt_parse(&d, junk, 36), GDN_EFORMAT);
    gdn_store_le32(junk + 32, 2), gdn_store_le32(junk + 36, 1), gdn_store_le32(junk + 40, 1);
    CHECK_EQ(net_he_decrypt_parse(&d, junk, 100), GDN_EFORMAT); /* holder 1 twice */
    CHECK_EQ(net_he_key_parse(&k, junk, 40), GDN_EFORMAT);
    CHECK_EQ(net_he_key_file_parse(&f, junk, sizeof junk), GDN_EFORMAT);
}
