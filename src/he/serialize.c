/* he: compact, validated serialization of ciphertexts and keys.
 *
 * Every object starts with "GCK", a type letter, a version byte and the
 * context's chain id (a hash of N, the primes and dnum), so bytes made for
 * other parameters are refused. Residues mod q_i are bit-packed at q_i's
 * width, least significant bit first; uniform polynomials that a seed
 * determines are stored as the seed. Lengths are exact: the header fixes the
 * size of the rest, checked before anything is read. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "he/he_internal.h"

#define VERSION 1
#define HEADER 13 /* magic 4, version 1, chain id 8 */

static int put_header(gdn_buf *out, char type, const gdn_ckks_ctx *c)
{
    uint8_t h[HEADER] = {'G', 'C', 'K', (uint8_t)type, VERSION};
    gdn_store_le64(h + 5, c->chain_id);
    return gdn_buf_append(out, h, sizeof h);
}

static int get_header(const uint8_t *in, size_t len, char type, const gdn_ckks_ctx *c,
                      const char *what)
{
    if (len < HEADER)
        return gdn_error(GDN_EFORMAT, "ckks %s: %zu bytes, shorter than the header", what, len);
    if (memcmp(in, "GCK", 3) || in[3] != (uint8_t)type)
        return gdn_error(GDN_EFORMAT, "ckks %s: not a serialized %s", what, what);
    if (in[4] != VERSION)
        return gdn_error(GDN_EFORMAT, "ckks %s: version %u, expected %u", what, in[4], VERSION);
    if (gdn_load_le64(in + 5) != c->chain_id)
        return gdn_error(GDN_EFORMAT, "ckks %s: made for other parameters (chain id %016llx, "
                                      "expected %016llx)",
                         what, (unsigned long long)gdn_load_le64(in + 5),
                         (unsigned long long)c->chain_id);
    return 0;
}

static size_t packed_size(const gdn_ckks_ctx *c, unsigned prime)
{
    return c->n * c->ntt[prime].m.bits / 8; /* N >= 4096: whole bytes */
}

static int pack(gdn_buf *out, const uint64_t *v, const gdn_ckks_ctx *c, unsigned prime)
{
    size_t len = packed_size(c, prime), pos = 0;
    unsigned bits = c->ntt[prime].m.bits, have = 0;
    he_u128 acc = 0;
    int rc = gdn_buf_reserve(out, len);
    if (rc)
        return rc;
    uint8_t *p = out->data + out->len;
    for (size_t k = 0; k < c->n; k++) {
        acc |= (he_u128)v[k] << have;
        have += bits;
        while (have >= 8) {
            p[pos++] = (uint8_t)acc;
            acc >>= 8;
            have -= 8;
        }
    }
    out->len += len;
    return 0;
}

/* Reads N residues mod the prime; GDN_EFORMAT when one is >= q. */
static int unpack(uint64_t *v, const uint8_t *in, const gdn_ckks_ctx *c, unsigned prime,
                  const char *what)
{
    const he_mod *m = &c->ntt[prime].m;
    uint64_t mask = ((uint64_t)1 << m->bits) - 1, bad = 0;
    size_t pos = 0;
    unsigned have = 0;
    he_u128 acc = 0;
    for (size_t k = 0; k < c->n; k++) {
        while (have < m->bits) {
            acc |= (he_u128)in[pos++] << have;
            have += 8;
        }
        v[k] = (uint64_t)acc & mask;
        acc >>= m->bits;
        have -= m->bits;
        bad |= (uint64_t)(v[k] >= m->q);
    }
    if (bad)
        return gdn_error(GDN_EFORMAT, "ckks %s: a residue is not below its prime %llu", what,
                         (unsigned long long)m->q);
    return 0;
}

/* ---- Ciphertexts ------------------------------------------------------------- */

int gdn_ckks_ct_save(gdn_buf *out, const gdn_ckks_ct *ct)
{
    const gdn_ckks_ctx *c = ct->ctx;
    uint8_t h[11];
    uint64_t sbits;
    int seeded = ct->seeded && ct->size == 2, rc;

    memcpy(&sbits, &ct->scale, 8);
    h[0] = (uint8_t)seeded;
    h[1] = (uint8_t)ct->size;
    h[2] = (uint8_t)ct->level;
    gdn_store_le64(h + 3, sbits);
    if ((rc = put_header(out, 'C', c)) || (rc = gdn_buf_append(out, h, sizeof h)))
        return rc;
    if (seeded && (rc = gdn_buf_append(out, ct->seed, sizeof ct->seed)))
        return rc;
    for (unsigned k = 0; k < ct->size; k++) {
        if (seeded && k == 1)
            continue;
        for (unsigned i = 0; i <= ct->level; i++)
            if ((rc = pack(out, he_ct_poly(ct, k, i), c, i)))
                return rc;
    }
    return 0;
}

int gdn_ckks_ct_load(gdn_ckks_ct *ct, const uint8_t *in, size_t len)
{
    const gdn_ckks_ctx *c = ct->ctx;
    int rc = get_header(in, len, 'C', c, "ciphertext");
    if (rc)
        return rc;
    if (len < HEADER + 11)
        return gdn_error(GDN_EFORMAT, "ckks ciphertext: truncated header");
    const uint8_t *h = in + HEADER;
    unsigned seeded = h[0], size = h[1], level = h[2];
    uint64_t sbits = gdn_load_le64(h + 3);
    double scale;
    memcpy(&scale, &sbits, 8);
    if (seeded > 1 || size < 2 || size > 3 || (seeded && size != 2))
        return gdn_error(GDN_EFORMAT, "ckks ciphertext: flags %u with size %u", seeded, size);
    if (level >= c->nq)
        return gdn_error(GDN_EFORMAT, "ckks ciphertext: level %u above the top level %u", level,
                         c->nq - 1);
    if (!isfinite(scale) || !(scale > 0) || scale > 0x1p1000)
        return gdn_error(GDN_EFORMAT, "ckks ciphertext: scale %g", scale);
    size_t want = HEADER + 11 + (seeded ? GDN_CKKS_SEED_BYTES : 0), poly = 0;
    for (unsigned i = 0; i <= level; i++)
        poly += packed_size(c, i);
    want += poly * (size - seeded);
    if (len != want)
        return gdn_error(GDN_EFORMAT, "ckks ciphertext: %zu bytes, expected %zu", len, want);
    if ((rc = he_ct_reserve(ct, size)))
        return rc;
    const uint8_t *p = h + 11;
    if (seeded) {
        memcpy(ct->seed, p, GDN_CKKS_SEED_BYTES);
        p += GDN_CKKS_SEED_BYTES;
        he_sample_uniform(he_ct_poly(ct, 1, 0), c, 0, level + 1, ct->seed, 0);
    }
    for (unsigned k = 0; k < size; k++) {
        if (seeded && k == 1)
            continue;
        for (unsigned i = 0; i <= level; i++) {
            if ((rc = unpack(he_ct_poly(ct, k, i), p, c, i, "ciphertext")))
                return rc;
            p += packed_size(c, i);
        }
    }
    ct->size = size;
    ct->level = level;
    ct->scale = scale;
    ct->seeded = (int)seeded;
    return 0;
}

/* ---- Keys ---------------------------------------------------------------------- */

static size_t qp_size(const gdn_ckks_ctx *c)
{
    size_t s = 0;
    for (unsigned i = 0; i < c->nq + c->np; i++)
        s += packed_size(c, i);
    return s;
}

static int pack_qp(gdn_buf *out, const uint64_t *v, const gdn_ckks_ctx *c)
{
    int rc = 0;
    for (unsigned i = 0; i < c->nq + c->np && !rc; i++)
        rc = pack(out, v + (size_t)i * c->n, c, i);
    return rc;
}

static int unpack_qp(uint64_t *v, const uint8_t *in, const gdn_ckks_ctx *c, const char *what)
{
    int rc = 0;
    for (unsigned i = 0; i < c->nq + c->np && !rc; i++) {
        rc = unpack(v + (size_t)i * c->n, in, c, i, what);
        in += packed_size(c, i);
    }
    return rc;
}

int gdn_ckks_pk_save(gdn_buf *out, const gdn_ckks_pk *pk)
{
    int rc = put_header(out, 'P', pk->ctx);
    if (!rc)
        rc = gdn_buf_append(out, pk->seed, sizeof pk->seed);
    return rc ? rc : pack_qp(out, pk->b, pk->ctx);
}

int gdn_ckks_pk_load(gdn_ckks_pk **out, const gdn_ckks_ctx *c, const uint8_t *in, size_t len)
{
    size_t want = HEADER + GDN_CKKS_SEED_BYTES + qp_size(c);
    int rc = get_header(in, len, 'P', c, "public key");
    *out = NULL;
    if (rc)
        return rc;
    if (len != want)
        return gdn_error(GDN_EFORMAT, "ckks public key: %zu bytes, expected %zu", len, want);
    if ((rc = he_pk_alloc(out, c)))
        return rc;
    memcpy((*out)->seed, in + HEADER, GDN_CKKS_SEED_BYTES);
    he_sample_uniform((*out)->a, c, 0, c->nq + c->np, (*out)->seed, 0);
    if ((rc = unpack_qp((*out)->b, in + HEADER + GDN_CKKS_SEED_BYTES, c, "public key"))) {
        gdn_ckks_pk_free(*out);
        *out = NULL;
    }
    return rc;
}

static size_t swk_body(const gdn_ckks_ctx *c)
{
    return GDN_CKKS_SEED_BYTES + c->dnum * qp_size(c);
}

/* perm: the key is stored permuted (Galois keys); it is written in the
 * canonical order, stored[perm[x]] at x. */
static int swk_put(gdn_buf *out, const gdn_ckks_swk *k, const uint32_t *perm)
{
    const gdn_ckks_ctx *c = k->ctx;
    size_t n = c->n, per = (size_t)(c->nq + c->np) * n;
    uint64_t *t = perm ? malloc(per * 8) : NULL;
    int rc = perm && !t ? GDN_ENOMEM : gdn_buf_append(out, k->seed, sizeof k->seed);
    for (unsigned j = 0; j < c->dnum && !rc; j++) {
        const uint64_t *b = k->b + j * per;
        if (perm) {
            for (size_t p = 0; p < per; p += n)
                for (size_t x = 0; x < n; x++)
                    t[p + x] = b[p + perm[x]];
            b = t;
        }
        rc = pack_qp(out, b, c);
    }
    free(t);
    return rc;
}

static int swk_get(gdn_ckks_swk **out, const gdn_ckks_ctx *c, const uint8_t *in,
                   const uint32_t *inv, const char *what)
{
    size_t per = (size_t)(c->nq + c->np) * c->n;
    int rc = he_swk_alloc(out, c);
    if (rc)
        return rc;
    memcpy((*out)->seed, in, GDN_CKKS_SEED_BYTES);
    in += GDN_CKKS_SEED_BYTES;
    for (unsigned j = 0; j < c->dnum && !rc; j++) {
        rc = unpack_qp((*out)->b + j * per, in, c, what);
        in += qp_size(c);
    }
    if (!rc) {
        he_swk_expand_a(*out);
        if (inv)
            rc = he_swk_permute(*out, inv);
    }
    if (rc) {
        gdn_ckks_swk_free(*out);
        *out = NULL;
    }
    return rc;
}

/* A flag byte, then (0) the seed and b, or (1) b and a for keys whose a is
 * not a seed's expansion (a collective relinearization key). */
int gdn_ckks_swk_save(gdn_buf *out, const gdn_ckks_swk *k)
{
    const gdn_ckks_ctx *c = k->ctx;
    size_t per = (size_t)(c->nq + c->np) * c->n;
    uint8_t flag = (uint8_t)(k->explicit_a != 0);
    int rc = put_header(out, 'S', c);
    if (!rc)
        rc = gdn_buf_append(out, &flag, 1);
    if (rc || !flag)
        return rc ? rc : swk_put(out, k, NULL);
    for (unsigned j = 0; j < c->dnum && !rc; j++)
        rc = pack_qp(out, k->b + j * per, c);
    for (unsigned j = 0; j < c->dnum && !rc; j++)
        rc = pack_qp(out, k->a + j * per, c);
    return rc;
}

int gdn_ckks_swk_load(gdn_ckks_swk **out, const gdn_ckks_ctx *c, const uint8_t *in, size_t len)
{
    size_t per = (size_t)(c->nq + c->np) * c->n;
    int rc = get_header(in, len, 'S', c, "switching key");
    *out = NULL;
    if (rc)
        return rc;
    if (len < HEADER + 1 || in[HEADER] > 1)
        return gdn_error(GDN_EFORMAT, "ckks switching key: missing or bad flag");
    int flag = in[HEADER];
    size_t want = HEADER + 1 + (flag ? 2 * c->dnum * qp_size(c) : swk_body(c));
    if (len != want)
        return gdn_error(GDN_EFORMAT, "ckks switching key: %zu bytes, expected %zu", len, want);
    if (!flag)
        return swk_get(out, c, in + HEADER + 1, NULL, "switching key");
    if ((rc = he_swk_alloc(out, c)))
        return rc;
    (*out)->explicit_a = 1;
    const uint8_t *p = in + HEADER + 1;
    for (unsigned j = 0; j < 2 * c->dnum && !rc; j++, p += qp_size(c))
        rc = unpack_qp((j < c->dnum ? (*out)->b : (*out)->a) + (j % c->dnum) * per, p, c,
                       "switching key");
    if (rc) {
        gdn_ckks_swk_free(*out);
        *out = NULL;
    }
    return rc;
}

int gdn_ckks_gk_save(gdn_buf *out, const gdn_ckks_gk *g)
{
    uint8_t b[8];
    int rc = put_header(out, 'G', g->ctx);
    gdn_store_le32(b, (uint32_t)g->count);
    if (!rc)
        rc = gdn_buf_append(out, b, 4);
    for (size_t i = 0; i < g->count && !rc; i++) {
        gdn_store_le64(b, g->galois[i]);
        if (!(rc = gdn_buf_append(out, b, 8)))
            rc = swk_put(out, g->keys[i], g->perm[i]);
    }
    return rc;
}

int gdn_ckks_gk_load(gdn_ckks_gk **out, const gdn_ckks_ctx *c, const uint8_t *in, size_t len)
{
    int rc = get_header(in, len, 'G', c, "Galois keys");
    *out = NULL;
    if (rc)
        return rc;
    if (len < HEADER + 4)
        return gdn_error(GDN_EFORMAT, "ckks Galois keys: truncated count");
    uint32_t count = gdn_load_le32(in + HEADER);
    size_t body = 8 + swk_body(c);
    /* At most one key per element (N of them); the length must match. */
    if (count > c->n || (len - HEADER - 4) / body != count || (len - HEADER - 4) % body)
        return gdn_error(GDN_EFORMAT, "ckks Galois keys: %u keys in %zu bytes", count, len);
    uint32_t *inv = malloc(c->n * sizeof *inv);
    if (!inv)
        return GDN_ENOMEM;
    if ((rc = he_gk_alloc(out, c, count))) {
        free(inv);
        return rc;
    }
    gdn_ckks_gk *g = *out;
    const uint8_t *p = in + HEADER + 4;
    for (uint32_t i = 0; i < count && !rc; i++, p += body) {
        uint64_t e = gdn_load_le64(p);
        int dup = 0;
        for (size_t j = 0; j < g->count; j++)
            dup |= g->galois[j] == e;
        if (!(e & 1) || e >= 2 * (uint64_t)c->n || e == 1 || dup) {
            rc = gdn_error(GDN_EFORMAT, "ckks Galois keys: element %llu is invalid or repeated",
                           (unsigned long long)e);
            break;
        }
        g->galois[i] = e;
        if (!(rc = he_gk_set_perm(g, i)))
            he_perm_inverse(inv, g->perm[i], c->n);
        if (rc || (rc = swk_get(&g->keys[i], c, p + 8, inv, "Galois keys"))) {
            free(g->perm[i]);
            g->perm[i] = NULL;
            break;
        }
        g->count++;
    }
    free(inv);
    if (rc) {
        gdn_ckks_gk_free(g);
        *out = NULL;
    }
    return rc;
}

/* ---- Secret key: 2 bits a coefficient (0, 1, 3 for -1) ---------------------- */

int gdn_ckks_sk_save(gdn_buf *out, const gdn_ckks_sk *sk)
{
    const gdn_ckks_ctx *c = sk->ctx;
    int rc = put_header(out, 'K', c);
    if (rc || (rc = gdn_buf_reserve(out, c->n / 4)))
        return rc;
    uint8_t *p = out->data + out->len;
    for (size_t k = 0; k < c->n; k += 4) {
        uint8_t b = 0;
        for (size_t j = 0; j < 4; j++)
            b |= (uint8_t)((uint8_t)sk->coeff[k + j] & 3) << (2 * j);
        p[k / 4] = b;
    }
    out->len += c->n / 4;
    return 0;
}

int gdn_ckks_sk_load(gdn_ckks_sk **out, const gdn_ckks_ctx *c, const uint8_t *in, size_t len)
{
    int rc = get_header(in, len, 'K', c, "secret key");
    *out = NULL;
    if (rc)
        return rc;
    if (len != HEADER + c->n / 4)
        return gdn_error(GDN_EFORMAT, "ckks secret key: %zu bytes, expected %zu", len,
                         HEADER + c->n / 4);
    int8_t *s = sodium_malloc(c->n);
    unsigned bad = 0;
    if (!s)
        return GDN_ENOMEM;
    /* Branch-free: 2 (binary 10) is the only invalid code. */
    for (size_t k = 0; k < c->n; k++) {
        unsigned v = (in[HEADER + k / 4] >> (2 * (k % 4))) & 3;
        bad |= (v >> 1) & ~v & 1;
        s[k] = (int8_t)((int)(v & 1) - (int)((v >> 1) & 1) * 2 * (int)(v & 1));
    }
    if (bad)
        rc = gdn_error(GDN_EFORMAT, "ckks secret key: a coefficient is not in {-1, 0, 1}");
    else
        rc = he_sk_from_coeff(out, c, s);
    sodium_free(s);
    return rc;
}

/* ---- Multiparty shares: primes, polynomials, secret flag (a byte each), residues */

int gdn_ckks_share_save(gdn_buf *out, const gdn_ckks_share *sh)
{
    const gdn_ckks_ctx *c = he_share_ctx(sh);
    unsigned count = he_share_count(sh), polys = he_share_polys(sh);
    int rc;
    uint8_t h[3] = {(uint8_t)count, (uint8_t)polys, (uint8_t)he_share_secret(sh)};
    if ((rc = put_header(out, 'H', c)) || (rc = gdn_buf_append(out, h, 3)))
        return rc;
    for (unsigned k = 0; k < polys; k++)
        for (unsigned i = 0; i < count && !rc; i++)
            rc = pack(out, he_share_cdata(sh) + ((size_t)k * count + i) * c->n, c, i);
    return rc;
}

int gdn_ckks_share_load(gdn_ckks_share **out, const gdn_ckks_ctx *c, const uint8_t *in,
                        size_t len)
{
    int rc = get_header(in, len, 'H', c, "share");
    *out = NULL;
    if (rc)
        return rc;
    if (len < HEADER + 3)
        return gdn_error(GDN_EFORMAT, "ckks share: truncated header");
    unsigned count = in[HEADER], polys = in[HEADER + 1], secret = in[HEADER + 2];
    if (count < 1 || count > c->nq + c->np || polys < 1 || polys > 2 * c->dnum + 2 ||
        secret > 1)
        return gdn_error(GDN_EFORMAT, "ckks share: %u primes, %u polynomials, flag %u", count,
                         polys, secret);
    size_t want = 0;
    for (unsigned i = 0; i < count; i++)
        want += packed_size(c, i);
    want = HEADER + 3 + want * polys;
    if (len != want)
        return gdn_error(GDN_EFORMAT, "ckks share: %zu bytes, expected %zu", len, want);
    if ((rc = he_share_alloc(out, c, count, polys, (int)secret)))
        return rc;
    const uint8_t *p = in + HEADER + 3;
    for (unsigned k = 0; k < polys; k++)
        for (unsigned i = 0; i < count && !rc; i++) {
            rc = unpack(he_share_data(*out) + ((size_t)k * count + i) * c->n, p, c, i, "share");
            p += packed_size(c, i);
        }
    if (rc) {
        gdn_ckks_share_free(*out);
        *out = NULL;
    }
    return rc;
}
