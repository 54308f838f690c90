/* Frames: le32 payload length || u8 type || payload, and CHUNK frames that
 * carry large objects in pieces. Every length comes from the network, so
 * each is checked against the receiver's limit before anything is buffered. */
#include <stdlib.h>
#include <string.h>

#include "guardian/net.h"

/* Buffers above this are released between frames: a connection that once
 * received a 1 MiB chunk does not keep 1 MiB while idle. */
#define KEEP_BYTES ((size_t)64 << 10)

struct gdn_frame_decoder {
    uint32_t max;
    uint8_t hdr[GDN_FRAME_HEADER_BYTES];
    size_t hdr_have;
    uint32_t len; /* payload length, once the header is complete */
    uint8_t *buf;
    size_t cap, have;
    int frame_out; /* a frame was returned: start afresh at the next push */
    int failed;
};

struct gdn_frame_reasm {
    uint64_t max_total;
    int open, complete;
    uint32_t stream;
    uint64_t total;
    gdn_buf data;
};

/* ---- Encoding --------------------------------------------------------------- */

void gdn_frame_header(uint8_t hdr[GDN_FRAME_HEADER_BYTES], uint8_t type, uint32_t len)
{
    gdn_store_le32(hdr, len);
    hdr[4] = type;
}

int gdn_frame_encode(gdn_buf *out, uint8_t type, const void *payload, size_t len,
                     uint32_t max_payload)
{
    uint8_t hdr[GDN_FRAME_HEADER_BYTES];
    int rc;

    if (type == 0 || type >= GDN_FRAME_TYPE_END)
        return gdn_error(GDN_EINVAL, "frame type %u is not valid", type);
    if (len > max_payload)
        return gdn_error(GDN_ERANGE, "frame of %zu bytes exceeds the limit of %u bytes",
                         len, max_payload);
    gdn_frame_header(hdr, type, (uint32_t)len);
    if ((rc = gdn_buf_reserve(out, sizeof hdr + len)))
        return rc;
    gdn_buf_append(out, hdr, sizeof hdr);
    gdn_buf_append(out, payload, len);
    return 0;
}

int gdn_frame_encode_chunk(gdn_buf *out, uint32_t stream, uint64_t offset,
                           uint64_t total, const void *data, size_t n,
                           uint32_t max_payload)
{
    uint8_t hdr[GDN_FRAME_HEADER_BYTES + GDN_FRAME_CHUNK_HEADER_BYTES];
    int rc;

    if (offset > total || n > total - offset)
        return gdn_error(GDN_EINVAL, "chunk [%llu, +%zu) outside an object of %llu bytes",
                         (unsigned long long)offset, n, (unsigned long long)total);
    if (max_payload < GDN_FRAME_CHUNK_HEADER_BYTES ||
        n > max_payload - GDN_FRAME_CHUNK_HEADER_BYTES)
        return gdn_error(GDN_ERANGE, "chunk of %zu bytes does not fit frames of %u bytes",
                         n, max_payload);
    gdn_frame_header(hdr, GDN_FRAME_CHUNK, (uint32_t)(n + GDN_FRAME_CHUNK_HEADER_BYTES));
    gdn_store_le32(hdr + 5, stream);
    gdn_store_le64(hdr + 9, offset);
    gdn_store_le64(hdr + 17, total);
    if ((rc = gdn_buf_reserve(out, sizeof hdr + (data ? n : 0))))
        return rc;
    gdn_buf_append(out, hdr, sizeof hdr);
    if (data)
        gdn_buf_append(out, data, n);
    return 0;
}

int gdn_frame_encode_object(gdn_buf *out, uint32_t stream, const void *data,
                            uint64_t len, uint32_t max_payload)
{
    const uint8_t *p = data;
    uint64_t off = 0;
    size_t per;
    int rc;

    if (max_payload <= GDN_FRAME_CHUNK_HEADER_BYTES)
        return gdn_error(GDN_EINVAL, "frame limit %u leaves no room for chunk data",
                         max_payload);
    per = max_payload - GDN_FRAME_CHUNK_HEADER_BYTES;
    do {
        size_t n = len - off < per ? (size_t)(len - off) : per;
        if ((rc = gdn_frame_encode_chunk(out, stream, off, len, p + off, n, max_payload)))
            return rc;
        off += n;
    } while (off < len);
    return 0;
}

/* ---- Decoding --------------------------------------------------------------- */

int gdn_frame_decoder_new(gdn_frame_decoder **out, uint32_t max_payload)
{
    gdn_frame_decoder *d;

    *out = NULL;
    if (max_payload == 0)
        max_payload = GDN_FRAME_MAX_DEFAULT;
    if (max_payload > GDN_FRAME_MAX_LIMIT)
        return gdn_error(GDN_EINVAL, "frame limit %u above the maximum %u", max_payload,
                         GDN_FRAME_MAX_LIMIT);
    if (!(d = calloc(1, sizeof *d)))
        return gdn_error(GDN_ENOMEM, "frame decoder");
    d->max = max_payload;
    *out = d;
    return 0;
}

void gdn_frame_decoder_free(gdn_frame_decoder *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

size_t gdn_frame_decoder_memory(const gdn_frame_decoder *d)
{
    return sizeof *d + d->cap;
}

size_t gdn_frame_decoder_need(const gdn_frame_decoder *d)
{
    if (d->frame_out || d->hdr_have == 0)
        return GDN_FRAME_HEADER_BYTES;
    if (d->hdr_have < GDN_FRAME_HEADER_BYTES)
        return GDN_FRAME_HEADER_BYTES - d->hdr_have;
    return d->len - d->have;
}

int gdn_frame_decoder_finish(const gdn_frame_decoder *d)
{
    if (d->frame_out || d->hdr_have == 0)
        return 0;
    if (d->hdr_have < GDN_FRAME_HEADER_BYTES)
        return gdn_error(GDN_EFORMAT, "stream ended inside a frame header (%zu of %d bytes)",
                         d->hdr_have, GDN_FRAME_HEADER_BYTES);
    return gdn_error(GDN_EFORMAT,
                     "stream ended inside a frame of type %u (%zu of %u payload bytes)",
                     d->hdr[4], d->have, d->len);
}

static void start_frame(gdn_frame_decoder *d)
{
    d->frame_out = 0;
    d->hdr_have = 0;
    d->have = 0;
    d->len = 0;
    if (d->cap > KEEP_BYTES) {
        free(d->buf);
        d->buf = NULL;
        d->cap = 0;
    }
}

static int fail(gdn_frame_decoder *d, int rc)
{
    d->failed = rc;
    return rc;
}

/* Checks the header bytes known so far; the length as soon as it is whole. */
static int check_header(gdn_frame_decoder *d)
{
    if (d->hdr_have >= 4) {
        uint32_t len = gdn_load_le32(d->hdr);
        if (len > d->max)
            return fail(d, gdn_error(GDN_ERANGE,
                                     "frame of %u bytes exceeds the limit of %u bytes%s",
                                     len, d->max,
                                     len > GDN_FRAME_MAX_LIMIT ? " (garbage?)" : ""));
        d->len = len;
    }
    if (d->hdr_have == GDN_FRAME_HEADER_BYTES &&
        (d->hdr[4] == 0 || d->hdr[4] >= GDN_FRAME_TYPE_END))
        return fail(d, gdn_error(GDN_EFORMAT, "frame type %u is not valid (garbage?)",
                                 d->hdr[4]));
    return 0;
}

/* Room for `more` payload bytes, growing geometrically but never past the
 * announced length, which check_header has bounded. */
static int grow(gdn_frame_decoder *d, size_t more)
{
    size_t need = d->have + more, cap;
    uint8_t *p;

    if (need <= d->cap)
        return 0;
    cap = d->cap < 256 ? 256 : d->cap * 2;
    if (cap < need)
        cap = need;
    if (cap > d->len)
        cap = d->len;
    if (!(p = realloc(d->buf, cap)))
        return fail(d, gdn_error(GDN_ENOMEM, "frame buffer of %zu bytes", cap));
    d->buf = p;
    d->cap = cap;
    return 0;
}

static void emit(gdn_frame_decoder *d, gdn_frame *frame)
{
    frame->type = d->hdr[4];
    frame->len = d->len;
    frame->payload = d->len ? d->buf : (const uint8_t *)"";
    d->frame_out = 1;
}

int gdn_frame_decoder_push(gdn_frame_decoder *d, gdn_frame *frame, size_t *used,
                           const void *data, size_t len)
{
    const uint8_t *p = data;
    size_t pos = 0;
    int rc;

    *used = 0;
    if (d->failed)
        return gdn_error(d->failed, "frame stream already failed");
    if (d->frame_out)
        start_frame(d);
    while (pos < len) {
        if (d->hdr_have < GDN_FRAME_HEADER_BYTES) {
            size_t take = GDN_FRAME_HEADER_BYTES - d->hdr_have;
            if (take > len - pos)
                take = len - pos;
            memcpy(d->hdr + d->hdr_have, p + pos, take);
            d->hdr_have += take;
            pos += take;
            *used = pos;
            if ((rc = check_header(d)))
                return rc;
            if (d->hdr_have == GDN_FRAME_HEADER_BYTES && d->len == 0) {
                emit(d, frame);
                return 1;
            }
            continue;
        }
        size_t take = d->len - d->have;
        if (take > len - pos)
            take = len - pos;
        if ((rc = grow(d, take)))
            return rc;
        memcpy(d->buf + d->have, p + pos, take);
        d->have += take;
        pos += take;
        *used = pos;
        if (d->have == d->len) {
            emit(d, frame);
            return 1;
        }
    }
    return 0;
}

int gdn_frame_decoder_space(gdn_frame_decoder *d, uint8_t **dst, size_t *n)
{
    int rc;

    *dst = NULL, *n = 0;
    if (d->failed)
        return gdn_error(d->failed, "frame stream already failed");
    if (d->frame_out)
        start_frame(d);
    if (d->hdr_have < GDN_FRAME_HEADER_BYTES) {
        *dst = d->hdr + d->hdr_have;
        *n = GDN_FRAME_HEADER_BYTES - d->hdr_have;
        return 0;
    }
    if ((rc = grow(d, d->len - d->have))) /* the frame's length: bounded */
        return rc;
    *dst = d->buf + d->have;
    *n = d->len - d->have;
    return 0;
}

int gdn_frame_decoder_wrote(gdn_frame_decoder *d, gdn_frame *frame, size_t k)
{
    int rc;

    if (d->failed || d->frame_out)
        return gdn_error(GDN_ESTATE, "frame decoder: wrote without space");
    if (d->hdr_have < GDN_FRAME_HEADER_BYTES) {
        if (k > GDN_FRAME_HEADER_BYTES - d->hdr_have)
            return gdn_error(GDN_EINVAL, "frame decoder: %zu bytes past the header", k);
        d->hdr_have += k;
        if ((rc = check_header(d)))
            return rc;
        if (d->hdr_have == GDN_FRAME_HEADER_BYTES && d->len == 0) {
            emit(d, frame);
            return 1;
        }
        return 0;
    }
    if (k > d->len - d->have || d->have + k > d->cap)
        return gdn_error(GDN_EINVAL, "frame decoder: %zu bytes past the frame", k);
    d->have += k;
    if (d->have == d->len) {
        emit(d, frame);
        return 1;
    }
    return 0;
}

/* ---- Reassembly ------------------------------------------------------------- */

int gdn_frame_reasm_new(gdn_frame_reasm **out, uint64_t max_total)
{
    gdn_frame_reasm *r;

    *out = NULL;
    if (max_total > SIZE_MAX / 2)
        return gdn_error(GDN_EINVAL, "object limit %llu too large for memory",
                         (unsigned long long)max_total);
    if (!(r = calloc(1, sizeof *r)))
        return gdn_error(GDN_ENOMEM, "chunk reassembler");
    r->max_total = max_total;
    *out = r;
    return 0;
}

void gdn_frame_reasm_give(gdn_frame_reasm *r, gdn_buf *buf)
{
    gdn_buf_free(&r->data);
    r->data = *buf;
    r->data.len = 0;
    memset(buf, 0, sizeof *buf);
}

void gdn_frame_reasm_reset(gdn_frame_reasm *r)
{
    gdn_buf_free(&r->data);
    r->open = r->complete = 0;
    r->stream = 0;
    r->total = 0;
}

void gdn_frame_reasm_free(gdn_frame_reasm *r)
{
    if (!r)
        return;
    gdn_buf_free(&r->data);
    free(r);
}

static int reasm_fail(gdn_frame_reasm *r, int rc)
{
    gdn_frame_reasm_reset(r);
    return rc;
}

/* Objects up to this size get their announced total at once, in one
 * allocation (a model of 797 KB grown by doubling copied 800 KB more). */
#define REASM_WHOLE ((size_t)16 << 20)

/* Room for n more bytes, never more than the announced total. */
static int reasm_grow(gdn_frame_reasm *r, size_t n)
{
    size_t need = r->data.len + n, cap;
    uint8_t *p;

    if (need <= r->data.cap)
        return 0;
    if (r->total <= REASM_WHOLE)
        cap = (size_t)r->total;
    else
        cap = r->data.cap < 4096 ? 4096 : r->data.cap * 2;
    if (cap < need)
        cap = need;
    if (cap > r->total)
        cap = (size_t)r->total;
    if (!(p = realloc(r->data.data, cap)))
        return gdn_error(GDN_ENOMEM, "object buffer of %zu bytes", cap);
    r->data.data = p;
    r->data.cap = cap;
    return 0;
}

int gdn_frame_reasm_push(gdn_frame_reasm *r, const uint8_t *payload, size_t len)
{
    uint32_t stream;
    uint64_t offset, total, got;
    size_t n;

    if (r->complete)
        return gdn_error(GDN_ESTATE, "stream %u is complete: take it first", r->stream);
    if (len < GDN_FRAME_CHUNK_HEADER_BYTES)
        return reasm_fail(r, gdn_error(GDN_EFORMAT,
                                       "chunk of %zu bytes is shorter than its %d-byte header",
                                       len, GDN_FRAME_CHUNK_HEADER_BYTES));
    stream = gdn_load_le32(payload);
    offset = gdn_load_le64(payload + 4);
    total = gdn_load_le64(payload + 12);
    n = len - GDN_FRAME_CHUNK_HEADER_BYTES;
    got = r->data.len;
    if (!r->open) {
        if (offset != 0)
            return reasm_fail(r, gdn_error(GDN_EFORMAT,
                                           "stream %u starts at offset %llu, not 0 "
                                           "(out of order?)",
                                           stream, (unsigned long long)offset));
        if (total > r->max_total)
            return reasm_fail(r, gdn_error(GDN_ERANGE,
                                           "stream %u: object of %llu bytes exceeds the "
                                           "limit of %llu bytes",
                                           stream, (unsigned long long)total,
                                           (unsigned long long)r->max_total));
        r->open = 1;
        r->stream = stream;
        r->total = total;
    } else if (stream != r->stream) {
        return reasm_fail(r, gdn_error(GDN_EFORMAT,
                                       "chunk of stream %u while stream %u is open",
                                       stream, r->stream));
    } else if (total != r->total) {
        return reasm_fail(r, gdn_error(GDN_EFORMAT,
                                       "stream %u: total changed from %llu to %llu", stream,
                                       (unsigned long long)r->total,
                                       (unsigned long long)total));
    } else if (offset != got) {
        return reasm_fail(r, gdn_error(GDN_EFORMAT,
                                       "stream %u: chunk at offset %llu %s the %llu bytes "
                                       "received",
                                       stream, (unsigned long long)offset,
                                       offset < got ? "overlaps" : "leaves a gap after",
                                       (unsigned long long)got));
    }
    if (n > r->total - got)
        return reasm_fail(r, gdn_error(GDN_EFORMAT,
                                       "stream %u: chunk of %zu bytes at offset %llu runs "
                                       "past the object's %llu bytes",
                                       stream, n, (unsigned long long)offset,
                                       (unsigned long long)r->total));
    if (n == 0 && r->total != 0)
        return reasm_fail(r, gdn_error(GDN_EFORMAT, "stream %u: empty chunk", stream));
    if (n) {
        int rc = reasm_grow(r, n);
        if (rc)
            return reasm_fail(r, rc);
        memcpy(r->data.data + r->data.len, payload + GDN_FRAME_CHUNK_HEADER_BYTES, n);
        r->data.len += n;
    }
    if (r->data.len == r->total) {
        r->complete = 1;
        return 1;
    }
    return 0;
}

int gdn_frame_reasm_take(gdn_buf *out, uint32_t *stream, gdn_frame_reasm *r)
{
    if (!r->complete)
        return gdn_error(GDN_ESTATE, "no complete object to take");
    if (stream)
        *stream = r->stream;
    gdn_buf_free(out);
    *out = r->data;
    memset(&r->data, 0, sizeof r->data);
    gdn_frame_reasm_reset(r);
    return 0;
}
