/* libFuzzer target for the protocol message decoders (include/guardian/wire.h).
 * Byte 0 picks the decoder family: 0 decodes the rest as an Envelope; 1..14
 * wrap the rest as the body of that message type (gdn_wire_type), so the
 * fuzzer mutates one message's fields directly, 15 as an HePhase; 16 decodes
 * the rest as a float32 vector of (len - 1) / 4 values. Properties: a decoded message
 * passes gdn_wire_check, is of the type its envelope named, re-encodes, and
 * decodes again to the same struct; decoded floats are finite and
 * re-encode to the same bytes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/wire.h"

/* Envelope field `type`, length-delimited, around body[0, n). */
static size_t wrap(uint8_t *out, int type, const uint8_t *body, size_t n)
{
    size_t k = 0, v = n;

    out[k++] = (uint8_t)(type << 3 | 2);
    while (v >= 0x80) {
        out[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[k++] = (uint8_t)v;
    memcpy(out + k, body, n);
    return k + n;
}

static void messages(const uint8_t *in, size_t len, int want)
{
    gdn_wire_msg m, again;
    gdn_buf b = {0};

    if (gdn_wire_decode(&m, in, len) != 0)
        return;
    if (gdn_wire_check(&m) != 0 || (want && (int)m.type != want))
        abort();
    if (gdn_wire_encode(&b, &m) != 0)
        abort();
    if (gdn_wire_decode(&again, b.data, b.len) != 0 || memcmp(&m, &again, sizeof m) != 0)
        abort();
    gdn_buf_free(&b);
}

static void floats(const uint8_t *in, size_t len)
{
    size_t n = len / 4;
    float *v = malloc(n ? n * sizeof *v : 1);
    gdn_buf b = {0};

    if (!v)
        return;
    if (gdn_wire_floats_decode(v, n, in, len) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!isfinite(v[i]))
                abort();
        if (gdn_wire_floats_encode(&b, v, n) != 0 || b.len != len ||
            (len && memcmp(b.data, in, len) != 0))
            abort();
    } else if (len % 4 == 0) {
        /* Refused with the right size: some value must be NaN or infinite. */
        int bad = 0;
        for (size_t i = 0; i < n; i++)
            bad |= ((in[4 * i + 3] & 0x7f) == 0x7f) && (in[4 * i + 2] & 0x80);
        if (!bad)
            abort();
    }
    gdn_buf_free(&b);
    free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t wrapped[GDN_WIRE_MAX_MESSAGE_BYTES + 16];
    int family;

    if (size < 1)
        return 0;
    family = data[0] % (GDN_WIRE_HE_PHASE + 1);
    data++;
    size--;
    if (family == 0)
        messages(data, size, 0);
    else if (family <= GDN_WIRE_PRIO_STEP) {
        if (size > GDN_WIRE_MAX_MESSAGE_BYTES)
            return 0;
        messages(wrapped, wrap(wrapped, family, data, size), family);
    } else if (family == GDN_WIRE_PRIO_STEP + 1) {
        if (size > GDN_WIRE_MAX_MESSAGE_BYTES)
            return 0;
        messages(wrapped, wrap(wrapped, GDN_WIRE_HE_PHASE, data, size), GDN_WIRE_HE_PHASE);
    } else
        floats(data, size);
    return 0;
}
