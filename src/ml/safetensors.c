/* Model files in the safetensors format (github.com/huggingface/safetensors,
 * README "Format"): an 8-byte little-endian header length N, N bytes of
 * UTF-8 JSON, then the byte buffer that the header's data_offsets index.
 * Written and read through the public ml.h API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/ml.h"

/* The reference implementation refuses headers above 100 MB. */
#define HEADER_MAX ((uint64_t)100 * 1000 * 1000)
#define FILE_MAX ((size_t)4 << 30)
#define DIM_MAX ((uint64_t)1 << 24)
#define CLASSES_MAX ((uint64_t)1 << 20)
#define METADATA "__metadata__"

/* ---- Writing ------------------------------------------------------------- */

static int write_header(gdn_buf *out, const gdn_model *m)
{
    size_t c, h, w, pos = 0;
    gdn_tensor_info t;
    int rc;

    gdn_model_input_shape(m, &c, &h, &w);
    if ((rc = gdn_buf_printf(out, "{\"" METADATA "\":{\"format\":\"pt\","
                                  "\"guardian_spec\":")) ||
        (rc = gdn_json_write_string(out, gdn_model_spec(m))) ||
        (rc = gdn_buf_printf(out, ",\"guardian_input\":\"%zux%zux%zu\","
                                  "\"guardian_classes\":\"%d\"}",
                             c, h, w, gdn_model_classes(m))))
        return rc;
    for (size_t i = 0; i < gdn_model_ntensors(m); i++) {
        if ((rc = gdn_model_tensor(m, i, &t)) ||
            (rc = gdn_buf_append(out, ",", 1)) ||
            (rc = gdn_json_write_string(out, t.name)) ||
            (rc = gdn_buf_printf(out, ":{\"dtype\":\"F32\",\"shape\":[")))
            return rc;
        for (size_t d = 0; d < t.ndim; d++)
            if ((rc = gdn_buf_printf(out, "%s%zu", d ? "," : "", t.shape[d])))
                return rc;
        if ((rc = gdn_buf_printf(out, "],\"data_offsets\":[%zu,%zu]}", pos,
                                 pos + 4 * t.size)))
            return rc;
        pos += 4 * t.size;
    }
    if ((rc = gdn_buf_append(out, "}", 1)))
        return rc;
    /* Trailing spaces are allowed; they make the byte buffer 8-aligned. */
    while (out->len % 8)
        if ((rc = gdn_buf_append(out, " ", 1)))
            return rc;
    return 0;
}

int gdn_model_save(const gdn_model *m, const char *path)
{
    /* gdn_model_params takes a mutable model; we only read the vector. */
    const float *params = gdn_model_params((gdn_model *)m);
    gdn_buf out = {0};
    gdn_tensor_info t;
    uint8_t *p;
    uint32_t u;
    size_t data_bytes;
    int rc;

    if ((rc = gdn_mul_size(&data_bytes, gdn_model_nparams(m), 4)) ||
        (rc = gdn_buf_append(&out, "\0\0\0\0\0\0\0\0", 8)) ||
        (rc = write_header(&out, m)) ||
        (rc = gdn_buf_reserve(&out, data_bytes)))
        goto done;
    gdn_store_le64(out.data, (uint64_t)(out.len - 8));
    for (size_t i = 0; i < gdn_model_ntensors(m); i++) {
        if ((rc = gdn_model_tensor(m, i, &t)))
            goto done;
        if ((rc = gdn_buf_reserve(&out, 4 * t.size)))
            goto done;
        p = out.data + out.len;
        for (size_t k = 0; k < t.size; k++) {
            memcpy(&u, &params[t.offset + k], 4);
            gdn_store_le32(p + 4 * k, u);
        }
        out.len += 4 * t.size;
    }
    rc = gdn_file_write_atomic(path, out.data, out.len);
done:
    gdn_buf_free(&out);
    return rc;
}

/* ---- Reading ------------------------------------------------------------- */

struct span {
    uint64_t begin, end;
    size_t tensor;
};

static int span_cmp(const void *a, const void *b)
{
    const struct span *x = a, *y = b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Decimal digits only, 1 <= value <= max; advances *s. */
static int parse_dim(const char **s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = *s;

    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((v = v * 10 + (uint64_t)(*p - '0')) > max)
            return -1;
    if (v == 0)
        return -1;
    *out = v;
    *s = p;
    return 0;
}

/* A string of __metadata__; the spec says every value is a string. */
static int meta_string(const char **out, const gdn_json *meta, const char *key,
                       const char *name)
{
    size_t len;
    const char *s = gdn_json_string(gdn_json_get(meta, key), &len);

    if (!s)
        return gdn_error(GDN_EFORMAT,
                         "%s: not a Guardian model file (its __metadata__ has "
                         "no \"%s\"; Guardian writes guardian_spec, "
                         "guardian_input and guardian_classes)", name, key);
    if (strlen(s) != len)
        return gdn_error(GDN_EFORMAT, "%s: __metadata__ \"%s\" contains a NUL",
                         name, key);
    *out = s;
    return 0;
}

/* Builds the model that __metadata__ describes. */
static int model_from_metadata(gdn_model **out, const gdn_json *root,
                               uint64_t data_len, const char *name)
{
    const gdn_json *meta = gdn_json_get(root, METADATA);
    const char *spec = NULL, *input = NULL, *classes = NULL, *s;
    uint64_t c, h, w, k;
    size_t nparams;
    char detail[512];
    int rc;

    if (!meta)
        return gdn_error(GDN_EFORMAT,
                         "%s: not a Guardian model file (the safetensors header "
                         "has no __metadata__ with guardian_spec, guardian_input "
                         "and guardian_classes)", name);
    if (gdn_json_type(meta) != GDN_JSON_OBJECT)
        return gdn_error(GDN_EFORMAT, "%s: __metadata__ is not an object", name);
    for (size_t i = 0; i < gdn_json_len(meta); i++)
        if (gdn_json_type(gdn_json_at(meta, i)) != GDN_JSON_STRING)
            return gdn_error(GDN_EFORMAT,
                             "%s: __metadata__ \"%.64s\" is not a string", name,
                             gdn_json_key(meta, i));
    if ((rc = meta_string(&spec, meta, "guardian_spec", name)) ||
        (rc = meta_string(&input, meta, "guardian_input", name)) ||
        (rc = meta_string(&classes, meta, "guardian_classes", name)))
        return rc;
    s = input;
    if (parse_dim(&s, DIM_MAX, &c) || *s++ != 'x' || parse_dim(&s, DIM_MAX, &h) ||
        *s++ != 'x' || parse_dim(&s, DIM_MAX, &w) || *s)
        return gdn_error(GDN_EFORMAT,
                         "%s: __metadata__ guardian_input \"%.64s\" is not "
                         "CxHxW (e.g. 1x28x28)", name, input);
    s = classes;
    if (parse_dim(&s, CLASSES_MAX, &k) || *s)
        return gdn_error(GDN_EFORMAT,
                         "%s: __metadata__ guardian_classes \"%.64s\" is not a "
                         "number of classes", name, classes);
    /* Check the size the spec implies before allocating anything for it. */
    rc = gdn_model_count(&nparams, spec, (size_t)c, (size_t)h, (size_t)w, (int)k);
    if (!rc && (uint64_t)nparams * 4 != data_len)
        return gdn_error(GDN_EFORMAT,
                         "%s: model '%.64s' has %zu parameters (%llu bytes), the "
                         "file's data buffer has %llu bytes", name, spec, nparams,
                         (unsigned long long)nparams * 4,
                         (unsigned long long)data_len);
    if (!rc)
        rc = gdn_model_new(out, spec, (size_t)c, (size_t)h, (size_t)w, (int)k);
    if (rc) {
        /* gdn_error must not read the buffer it writes: copy it first. */
        memcpy(detail, gdn_errmsg(), sizeof detail);
        detail[sizeof detail - 1] = '\0';
        return gdn_error(rc == GDN_ENOMEM ? rc : GDN_EFORMAT,
                         "%s: __metadata__: %s", name, detail);
    }
    return 0;
}

/* "[64,32,5,5]" from a shape array, or "" when it is not one of integers. */
static void format_shape(char *buf, size_t cap, const gdn_json *shape)
{
    size_t n = 0;
    uint64_t d;

    buf[0] = '\0';
    if (gdn_json_type(shape) != GDN_JSON_ARRAY)
        return;
    for (size_t i = 0; i < gdn_json_len(shape) && n < cap; i++) {
        if (gdn_json_uint(gdn_json_at(shape, i), &d)) {
            buf[0] = '\0';
            return;
        }
        n += (size_t)snprintf(buf + n, cap - n, "%s%llu", i ? "," : "[",
                              (unsigned long long)d);
    }
    if (n < cap)
        snprintf(buf + n, cap - n, "%s]", gdn_json_len(shape) ? "" : "[");
}

static int check_tensor(struct span *sp, const gdn_json *e,
                        const gdn_tensor_info *t, uint64_t data_len,
                        const char *name)
{
    const gdn_json *dtype = gdn_json_get(e, "dtype");
    const gdn_json *shape = gdn_json_get(e, "shape");
    const gdn_json *offs = gdn_json_get(e, "data_offsets");
    char got[128], want[128];
    int match;

    if (gdn_json_type(e) != GDN_JSON_OBJECT || gdn_json_len(e) != 3 || !dtype ||
        !shape || !offs)
        return gdn_error(GDN_EFORMAT,
                         "%s: tensor '%s': expected an object with exactly "
                         "dtype, shape and data_offsets", name, t->name);
    if (!gdn_json_string(dtype, NULL) || strcmp(gdn_json_string(dtype, NULL), "F32"))
        return gdn_error(GDN_EFORMAT, "%s: tensor '%s': dtype %.32s, expected F32",
                         name, t->name,
                         gdn_json_string(dtype, NULL) ? gdn_json_string(dtype, NULL)
                                                      : "(not a string)");
    format_shape(got, sizeof got, shape);
    if (!got[0])
        return gdn_error(GDN_EFORMAT,
                         "%s: tensor '%s': shape is not an array of "
                         "non-negative integers", name, t->name);
    match = gdn_json_len(shape) == t->ndim;
    for (size_t d = 0; d < t->ndim && match; d++) {
        uint64_t v;
        match = !gdn_json_uint(gdn_json_at(shape, d), &v) && v == t->shape[d];
    }
    if (!match) {
        size_t n = 0;
        for (size_t d = 0; d < t->ndim; d++)
            n += (size_t)snprintf(want + n, sizeof want - n, "%s%zu",
                                  d ? "," : "[", t->shape[d]);
        snprintf(want + n, sizeof want - n, "]");
        return gdn_error(GDN_EFORMAT, "%s: tensor '%s': shape %s expected %s",
                         name, t->name, got, want);
    }
    if (gdn_json_type(offs) != GDN_JSON_ARRAY || gdn_json_len(offs) != 2 ||
        gdn_json_uint(gdn_json_at(offs, 0), &sp->begin) ||
        gdn_json_uint(gdn_json_at(offs, 1), &sp->end))
        return gdn_error(GDN_EFORMAT,
                         "%s: tensor '%s': data_offsets is not [begin, end]",
                         name, t->name);
    if (sp->begin > sp->end || sp->end > data_len)
        return gdn_error(GDN_EFORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] do not fit "
                         "the %llu-byte data buffer", name, t->name,
                         (unsigned long long)sp->begin,
                         (unsigned long long)sp->end,
                         (unsigned long long)data_len);
    if (sp->end - sp->begin != 4 * (uint64_t)t->size)
        return gdn_error(GDN_EFORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu "
                         "bytes, expected %zu (%zu floats)", name, t->name,
                         (unsigned long long)sp->begin,
                         (unsigned long long)sp->end,
                         (unsigned long long)(sp->end - sp->begin),
                         4 * t->size, t->size);
    return 0;
}

/* The spec requires the byte buffer to be entirely indexed and the tensors
 * not to overlap: sorted by offset, each begins where the previous ends. */
static int check_coverage(struct span *sp, size_t n, const gdn_tensor_info *t,
                          const char *name)
{
    uint64_t pos = 0;

    qsort(sp, n, sizeof *sp, span_cmp);
    for (size_t i = 0; i < n; i++) {
        if (sp[i].begin < pos)
            return gdn_error(GDN_EFORMAT,
                             "%s: tensors '%s' and '%s' overlap in the data "
                             "buffer", name, t[sp[i - 1].tensor].name,
                             t[sp[i].tensor].name);
        if (sp[i].begin > pos)
            return gdn_error(GDN_EFORMAT,
                             "%s: bytes [%llu, %llu) of the data buffer belong "
                             "to no tensor", name, (unsigned long long)pos,
                             (unsigned long long)sp[i].begin);
        pos = sp[i].end;
    }
    /* No byte can follow the last tensor: the tensors' sizes were checked to
     * add up to the data buffer's before the model was built. */
    return 0;
}

/* Names the first header entry that is not a tensor of the model. */
static int find_extra(const gdn_json *root, const gdn_tensor_info *t, size_t n,
                      const char *name)
{
    for (size_t i = 0; i < gdn_json_len(root); i++) {
        const char *key = gdn_json_key(root, i);
        size_t j = 0;
        if (strcmp(key, METADATA) == 0)
            continue;
        while (j < n && strcmp(key, t[j].name) != 0)
            j++;
        if (j == n)
            return gdn_error(GDN_EFORMAT,
                             "%s: unexpected tensor '%.64s' (not a parameter of "
                             "the model)", name, key);
    }
    return gdn_error(GDN_EINTERNAL, "%s: header entry count mismatch", name);
}

static int load_tensors(gdn_model *m, const gdn_json *root, const uint8_t *data,
                        uint64_t data_len, const char *name)
{
    size_t n = gdn_model_ntensors(m), total = 0;
    gdn_tensor_info *t = calloc(n ? n : 1, sizeof *t);
    struct span *sp = calloc(n ? n : 1, sizeof *sp);
    float *params = gdn_model_params(m);
    const gdn_json *e;
    int rc = 0;

    if (!t || !sp) {
        rc = gdn_error(GDN_ENOMEM, "%s: out of memory", name);
        goto done;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        if ((rc = gdn_model_tensor(m, i, &t[i])))
            goto done;
        total += t[i].size;
        if (!(e = gdn_json_get(root, t[i].name)))
            rc = gdn_error(GDN_EFORMAT,
                           "%s: tensor '%s' is missing (model %s has %zu "
                           "tensors)", name, t[i].name, gdn_model_spec(m), n);
        else
            rc = check_tensor(&sp[i], e, &t[i], data_len, name);
        sp[i].tensor = i;
    }
    if (rc)
        goto done;
    if (total != gdn_model_nparams(m)) {
        rc = gdn_error(GDN_EINTERNAL, "%s: the model's tensors hold %zu of its "
                       "%zu parameters", name, total, gdn_model_nparams(m));
        goto done;
    }
    if (gdn_json_len(root) != n + 1) {
        rc = find_extra(root, t, n, name);
        goto done;
    }
    if ((rc = check_coverage(sp, n, t, name)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = data + sp[i].begin;
        float *dst = params + t[sp[i].tensor].offset;
        for (size_t k = 0; k < t[sp[i].tensor].size; k++) {
            uint32_t u = gdn_load_le32(p + 4 * k);
            memcpy(&dst[k], &u, 4);
        }
    }
done:
    free(t);
    free(sp);
    return rc;
}

int gdn_model_load_bytes(gdn_model **out, const uint8_t *data, size_t len,
                         const char *name)
{
    gdn_json *root = NULL;
    gdn_model *m = NULL;
    char hname[512];
    uint64_t hlen;
    int rc;

    *out = NULL;
    name = name ? name : "model";
    if (len < 8)
        return gdn_error(GDN_EFORMAT,
                         "%s: %zu bytes, too short for a safetensors file", name,
                         len);
    hlen = gdn_load_le64(data);
    if (hlen > HEADER_MAX)
        return gdn_error(GDN_EFORMAT,
                         "%s: header length %llu is above the limit of %llu "
                         "bytes (not a safetensors file?)", name,
                         (unsigned long long)hlen, (unsigned long long)HEADER_MAX);
    if (hlen > len - 8)
        return gdn_error(GDN_EFORMAT,
                         "%s: header length %llu runs past the end of the "
                         "%zu-byte file (truncated?)", name,
                         (unsigned long long)hlen, len);
    snprintf(hname, sizeof hname, "%s: header", name);
    if ((rc = gdn_json_parse(&root, (const char *)data + 8, (size_t)hlen, hname)))
        return rc;
    if (gdn_json_type(root) != GDN_JSON_OBJECT) {
        rc = gdn_error(GDN_EFORMAT, "%s: the header is not a JSON object", name);
        goto fail;
    }
    if ((rc = model_from_metadata(&m, root, len - 8 - hlen, name)) ||
        (rc = load_tensors(m, root, data + 8 + hlen, len - 8 - hlen, name)))
        goto fail;
    gdn_json_free(root);
    *out = m;
    return 0;
fail:
    gdn_json_free(root);
    gdn_model_free(m);
    return rc;
}

int gdn_model_load(gdn_model **out, const char *path)
{
    gdn_buf b = {0};
    int rc;

    *out = NULL;
    if ((rc = gdn_file_read(&b, path, FILE_MAX)) == 0)
        rc = gdn_model_load_bytes(out, b.data, b.len, path);
    gdn_buf_free(&b);
    return rc;
}
