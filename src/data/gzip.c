/* gzip decompression (RFC 1952) through zlib, bounded in output size. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "guardian/data.h"

/* Deflate expands at most about 1032:1 (zlib's FAQ), so a size hint larger
 * than that cannot be honest and is not used to reserve memory. */
#define DEFLATE_MAX_RATIO 1032
#define GROW_MIN ((size_t)1 << 16)

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Grows b to hold at least `want` more bytes (exactly that many extra). */
static int grow(gdn_buf *b, size_t want)
{
    uint8_t *p;

    if (b->cap - b->len >= want)
        return 0;
    if (want > SIZE_MAX - b->len)
        return gdn_error(GDN_ERANGE, "buffer size overflow");
    p = realloc(b->data, b->len + want);
    if (!p)
        return gdn_error(GDN_ENOMEM, "cannot grow buffer to %zu bytes",
                         b->len + want);
    b->data = p;
    b->cap = b->len + want;
    return 0;
}

static int is_gzip(const uint8_t *in, size_t len)
{
    return len >= 2 && in[0] == 0x1f && in[1] == 0x8b;
}

/* Bytes of output to reserve up front: the trailer's ISIZE (RFC 1952 §2.3.1,
 * size mod 2^32 of the last member) when it is plausible. */
static size_t first_reserve(const uint8_t *in, size_t len, size_t limit)
{
    size_t hint = GROW_MIN;

    if (len >= 18) {
        size_t isize = gdn_load_le32(in + len - 4);
        size_t bound = len > SIZE_MAX / DEFLATE_MAX_RATIO
                           ? SIZE_MAX
                           : len * DEFLATE_MAX_RATIO;
        if (isize > 0 && isize <= bound)
            hint = isize;
    }
    return min_size(hint, limit);
}

static int inflate_all(gdn_buf *out, const uint8_t *in, size_t len,
                       size_t max_bytes, const char *name, size_t start)
{
    /* One byte past the limit tells "exactly max_bytes" from "more". */
    size_t limit = max_bytes == SIZE_MAX ? max_bytes : max_bytes + 1;
    z_stream zs;
    int rc = 0, zr;

    memset(&zs, 0, sizeof zs);
    /* windowBits 15 + 32: accept gzip (or zlib) headers, 32 KiB window. */
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return gdn_error(GDN_ENOMEM, "%s: cannot initialise zlib", name);
    if ((rc = grow(out, first_reserve(in, len, limit))))
        goto done;
    for (;;) {
        size_t consumed = (size_t)(zs.next_in ? zs.next_in - in : 0);
        size_t produced = out->len - start, room, before;

        if (out->cap == out->len) {
            size_t want = min_size(produced > GROW_MIN ? produced : GROW_MIN,
                                   limit - produced);
            if ((rc = grow(out, want)))
                goto done;
        }
        room = out->cap - out->len;
        zs.next_in = (Bytef *)(uintptr_t)(in + consumed);
        zs.avail_in = (uInt)min_size(len - consumed, UINT_MAX);
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)min_size(room, UINT_MAX);
        before = zs.avail_out;
        zr = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        if (out->len - start > max_bytes) {
            rc = gdn_error(GDN_ERANGE,
                           "%s: decompresses to more than the limit of %zu "
                           "bytes",
                           name, max_bytes);
            goto done;
        }
        consumed = (size_t)(zs.next_in - in);
        if (zr == Z_STREAM_END) {
            if (consumed == len)
                break;
            /* RFC 1952 §2.2: a file may hold several members in a row. */
            if (!is_gzip(in + consumed, len - consumed)) {
                rc = gdn_error(GDN_EFORMAT,
                               "%s: %zu bytes of trailing data after the gzip "
                               "stream at offset %zu",
                               name, len - consumed, consumed);
                goto done;
            }
            inflateReset(&zs);
            continue;
        }
        if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR ||
            zr == Z_MEM_ERROR) {
            rc = gdn_error(zr == Z_MEM_ERROR ? GDN_ENOMEM : GDN_EFORMAT,
                           "%s: corrupt gzip data near offset %zu: %s", name,
                           consumed, zs.msg ? zs.msg : "inflate failed");
            goto done;
        }
        /* Z_OK or Z_BUF_ERROR: with all input used and output room left,
         * inflate is waiting for bytes that the file does not have. */
        if (consumed == len && zs.avail_out > 0) {
            rc = gdn_error(GDN_EFORMAT,
                           "%s: truncated gzip data (%zu bytes, stream not "
                           "finished)",
                           name, len);
            goto done;
        }
    }
done:
    inflateEnd(&zs);
    return rc;
}

int gdn_data_gunzip(gdn_buf *out, const uint8_t *in, size_t len,
                    size_t max_bytes, const char *name)
{
    size_t start = out->len;
    int rc;

    if (!name)
        name = "(gzip)";
    if (!is_gzip(in, len)) {
        if (len > max_bytes)
            return gdn_error(GDN_ERANGE,
                             "%s: %zu bytes, over the limit of %zu", name, len,
                             max_bytes);
        return gdn_buf_append(out, in, len);
    }
    rc = inflate_all(out, in, len, max_bytes, name, start);
    if (rc)
        out->len = start;
    return rc;
}
