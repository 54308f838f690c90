/* libFuzzer target for the frame decoder and the chunk reassembler.
 * Input: byte 0 picks the frame limit (64 << (b % 12) bytes), byte 1 the
 * piece sizes, the rest is the byte stream a peer sent. Properties: decoding
 * in pieces gives the same frames and the same error as decoding all at
 * once, and as reading in place (space/wrote); no frame exceeds the limit and the decoder holds no more than one
 * frame; CHUNK payloads fed to the reassembler (limit 4096) yield objects
 * of exactly the announced size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/net.h"

#define REASM_LIMIT 4096

typedef struct {
    uint8_t type;
    uint32_t len;
    uint64_t hash;
} rec;

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void reassemble(gdn_frame_reasm *r, const gdn_frame *f)
{
    gdn_buf obj = {0};
    uint64_t total;
    int rc;

    if (f->type != GDN_FRAME_CHUNK)
        return;
    total = f->len >= GDN_FRAME_CHUNK_HEADER_BYTES ? gdn_load_le64(f->payload + 12) : 0;
    rc = gdn_frame_reasm_push(r, f->payload, f->len);
    if (rc == 1) {
        if (gdn_frame_reasm_take(&obj, NULL, r) || obj.len != total || obj.len > REASM_LIMIT)
            abort();
        gdn_buf_free(&obj);
    }
}

/* Decodes data in pieces (piece 0: all at once); returns the error or the
 * finish result, with the frames in out[0, *n). */
static int decode(rec *out, size_t *n, const uint8_t *data, size_t len, uint32_t max,
                  unsigned piece, gdn_frame_reasm *r)
{
    gdn_frame_decoder *d;
    size_t pos = 0, base;
    unsigned state = piece * 2654435761u + 1;
    int rc = 0;

    *n = 0;
    if (gdn_frame_decoder_new(&d, max))
        abort();
    base = gdn_frame_decoder_memory(d);
    while (pos < len && rc >= 0) {
        size_t take = len - pos;
        if (piece) {
            state = state * 1103515245u + 12345u;
            size_t k = 1 + (state >> 16) % (piece * 4);
            if (k < take)
                take = k;
        }
        while (take > 0) {
            gdn_frame f;
            size_t used;
            rc = gdn_frame_decoder_push(d, &f, &used, data + pos, take);
            if (used > take || gdn_frame_decoder_memory(d) > base + max)
                abort();
            pos += used;
            take -= used;
            if (rc < 0)
                break;
            if (rc == 1) {
                if (f.len > max || f.type == 0 || f.type >= GDN_FRAME_TYPE_END)
                    abort();
                out[*n].type = f.type;
                out[*n].len = f.len;
                out[*n].hash = fnv(f.payload, f.len);
                (*n)++;
                if (r)
                    reassemble(r, &f);
            } else if (take != 0) {
                abort(); /* 0 means every byte was taken */
            }
        }
    }
    if (rc >= 0)
        rc = gdn_frame_decoder_finish(d);
    gdn_frame_decoder_free(d);
    return rc;
}

/* The same stream read in place (space/wrote), pieces at most `piece` bytes. */
static int decode_in_place(rec *out, size_t *n, const uint8_t *data, size_t len,
                           uint32_t max, unsigned piece)
{
    gdn_frame_decoder *d;
    size_t pos = 0, base;
    int rc = 0;

    *n = 0;
    if (gdn_frame_decoder_new(&d, max))
        abort();
    base = gdn_frame_decoder_memory(d);
    while (pos < len && rc >= 0) {
        uint8_t *dst;
        size_t room, k;
        gdn_frame f;
        if ((rc = gdn_frame_decoder_space(d, &dst, &room)) < 0)
            break;
        if (room == 0 || gdn_frame_decoder_memory(d) > base + max)
            abort();
        k = room < len - pos ? room : len - pos;
        if (piece && k > piece)
            k = piece;
        memcpy(dst, data + pos, k);
        pos += k;
        rc = gdn_frame_decoder_wrote(d, &f, k);
        if (rc == 1) {
            out[*n].type = f.type;
            out[*n].len = f.len;
            out[*n].hash = fnv(f.payload, f.len);
            (*n)++;
        }
    }
    if (rc >= 0)
        rc = gdn_frame_decoder_finish(d);
    gdn_frame_decoder_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t max;
    unsigned piece;
    size_t na, nb, cap;
    rec *a, *b;
    gdn_frame_reasm *r;
    int ra, rb;

    if (size < 2)
        return 0;
    max = (uint32_t)64 << (data[0] % 12);
    piece = data[1];
    data += 2;
    size -= 2;
    cap = size / GDN_FRAME_HEADER_BYTES + 1;
    a = calloc(cap, sizeof *a);
    b = calloc(cap, sizeof *b);
    if (!a || !b || gdn_frame_reasm_new(&r, REASM_LIMIT))
        abort();
    ra = decode(a, &na, data, size, max, 0, r);
    rb = decode(b, &nb, data, size, max, piece, NULL);
    if (ra != rb || na != nb)
        abort();
    for (size_t i = 0; i < na; i++)
        if (a[i].type != b[i].type || a[i].len != b[i].len || a[i].hash != b[i].hash)
            abort();
    rb = decode_in_place(b, &nb, data, size, max, piece);
    if (ra != rb || na != nb)
        abort();
    for (size_t i = 0; i < na; i++)
        if (a[i].type != b[i].type || a[i].len != b[i].len || a[i].hash != b[i].hash)
            abort();
    gdn_frame_reasm_free(r);
    free(a);
    free(b);
    return 0;
}
