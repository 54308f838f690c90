/* libFuzzer target for encrypted aggregation's parsers between processes
 * (src/net/he.h): the set-up request, the sealed-share entries, the
 * decryption request, the public-key message, a holder's key file with its
 * threshold key (gdn_ckks_tsk_load), and a client's encrypted update as the
 * coordinator adds it (gdn_fl_he_sum_add). Byte 0 picks one. Properties:
 * what parses is within the bounds the parser promises; a refused update
 * leaves the sum untouched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/he.h"

static gdn_ckks_ctx *ctx;
static gdn_fl_he_sum *sum;

static void setup(const uint8_t *in, size_t len)
{
    net_he_setup s;

    if (net_he_setup_parse(&s, in, len) == 0 &&
        (s.holders < 2 || s.holders > GDN_WIRE_HE_MAX_HOLDERS || s.t < 2 || s.t > s.holders ||
         s.j < 1 || s.j > s.holders || s.min_clients < 1 || len != 48 + 32 * (size_t)s.holders))
        abort();
}

static void entries(const uint8_t *in, size_t len)
{
    uint32_t who[GDN_WIRE_HE_MAX_HOLDERS];
    const uint8_t *data[GDN_WIRE_HE_MAX_HOLDERS];
    size_t lens[GDN_WIRE_HE_MAX_HOLDERS], off = 3, count, holders, self;

    if (len < 3)
        return;
    count = in[0] % GDN_WIRE_HE_MAX_HOLDERS, holders = 1 + in[1] % 40, self = in[2] % 40;
    if (net_he_entries_parse(who, data, lens, count, (uint32_t)holders, (uint32_t)self, in,
                             len, &off) == 0) {
        if (off > len)
            abort();
        for (size_t i = 0; i < count; i++)
            if (who[i] < 1 || who[i] > holders || who[i] == self ||
                lens[i] < NET_HE_BOX_OVERHEAD || data[i] < in || data[i] + lens[i] > in + len)
                abort();
    }
}

static void decrypt(const uint8_t *in, size_t len)
{
    net_he_decrypt_req d;

    if (net_he_decrypt_parse(&d, in, len) == 0 &&
        (d.t < 2 || d.t > GDN_WIRE_HE_MAX_HOLDERS || d.contributions < 1 || d.dim < 1 ||
         d.dim > NET_HE_MAX_DIM || !(d.clip > 0) || d.cts_len < 1 ||
         d.cts + d.cts_len != in + len))
        abort();
}

static void key(const uint8_t *in, size_t len)
{
    net_he_key_msg k;
    gdn_ckks_pk *pk = NULL;

    if (net_he_key_parse(&k, in, len) == 0) {
        if (k.t < 2 || k.t > k.holders || k.pk + k.pk_len != in + len)
            abort();
        if (gdn_ckks_pk_load(&pk, ctx, k.pk, k.pk_len) == 0)
            gdn_ckks_pk_free(pk);
    }
}

static void key_file(const uint8_t *in, size_t len)
{
    net_he_key_file f;
    gdn_ckks_tsk *tsk = NULL;

    if (net_he_key_file_parse(&f, in, len) == 0) {
        if (f.j < 1 || f.j > f.holders || f.t > f.holders)
            abort();
        if (gdn_ckks_tsk_load(&tsk, ctx, f.tsk, f.tsk_len) == 0)
            gdn_ckks_tsk_free(tsk);
    }
}

static void update(const uint8_t *in, size_t len)
{
    size_t before = gdn_fl_he_sum_added(sum);
    int rc = gdn_fl_he_sum_add(sum, in, len);

    if (gdn_fl_he_sum_added(sum) != before + (rc == 0))
        abort();
    gdn_fl_he_sum_reset(sum);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx && (gdn_fl_he_context(&ctx) || gdn_fl_he_sum_new(&sum, ctx, 100, 1.0)))
        abort();
    if (size < 1)
        return 0;
    switch (data[0] % 6) {
    case 0: setup(data + 1, size - 1); break;
    case 1: entries(data + 1, size - 1); break;
    case 2: decrypt(data + 1, size - 1); break;
    case 3: key(data + 1, size - 1); break;
    case 4: key_file(data + 1, size - 1); break;
    default: update(data + 1, size - 1); break;
    }
    return 0;
}
