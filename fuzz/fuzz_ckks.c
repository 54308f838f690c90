/* Fuzzes the CKKS parsers a server runs on untrusted bytes: ciphertexts,
 * public keys, switching keys, Galois keys, secret keys and multiparty
 * shares, for one small
 * context (N = 4096, primes of 30 and 30 bits, special prime of 40 bits).
 * Input: byte 0 picks the parser, the rest is the serialized object. A
 * ciphertext that parses is decrypted and decoded as well. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "guardian/ckks.h"
#include "guardian/core.h"

static gdn_ckks_ctx *ctx;
static gdn_ckks_sk *sk;
static gdn_ckks_ct *ct;
static gdn_ckks_pt *pt;

static int setup(void)
{
    gdn_ckks_params p = {0};
    gdn_rng rng;
    if (ctx)
        return 1;
    p.log_n = 12, p.n_primes = 2, p.prime_bits[0] = 30, p.prime_bits[1] = 30;
    p.n_special = 1, p.special_bits[0] = 40, p.scale = 0x1p25;
    gdn_rng_init_seed(&rng, 1);
    return gdn_ckks_ctx_new(&ctx, &p) == 0 && gdn_ckks_keygen(&sk, ctx, &rng) == 0 &&
           gdn_ckks_ct_new(&ct, ctx) == 0 && gdn_ckks_pt_new(&pt, ctx) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static double re[8], im[8];
    if (size < 1 || !setup())
        return 0;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    switch (data[0] % 6) {
    case 0:
        if (gdn_ckks_ct_load(ct, in, len) == 0 && gdn_ckks_decrypt(pt, ct, sk) == 0)
            gdn_ckks_decode(re, im, 8, pt);
        break;
    case 1: {
        gdn_ckks_pk *pk = NULL;
        gdn_ckks_pk_load(&pk, ctx, in, len);
        gdn_ckks_pk_free(pk);
        break;
    }
    case 2: {
        gdn_ckks_swk *k = NULL;
        gdn_ckks_swk_load(&k, ctx, in, len);
        gdn_ckks_swk_free(k);
        break;
    }
    case 3: {
        gdn_ckks_gk *g = NULL;
        gdn_ckks_gk_load(&g, ctx, in, len);
        gdn_ckks_gk_free(g);
        break;
    }
    case 4: {
        gdn_ckks_share *sh = NULL;
        gdn_ckks_share_load(&sh, ctx, in, len);
        gdn_ckks_share_free(sh);
        break;
    }
    default: {
        gdn_ckks_sk *k = NULL;
        gdn_ckks_sk_load(&k, ctx, in, len);
        gdn_ckks_sk_free(k);
        break;
    }
    }
    return 0;
}
