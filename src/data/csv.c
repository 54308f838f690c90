/* CSV datasets: numeric feature columns and one label column.
 *
 * Records and quoting follow RFC 4180: fields are separated by commas,
 * records end with LF or CRLF, and a field in double quotes may hold commas,
 * line breaks and quotes written twice (""). Beyond the RFC we accept a UTF-8
 * byte-order mark, spaces around fields, blank lines (skipped) and a missing
 * final line break. The input is text[0, len): no NUL terminator is needed. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"
#include "guardian/data.h"

#define SHOW_CHARS 40    /* a field quoted in an error shows at most this */

typedef struct {
    const char *s; /* content, trimmed; inside the quotes when quoted */
    size_t len;
    int escaped; /* quoted content holding "" pairs */
} csv_field;

typedef struct {
    const char *p, *end; /* next unread byte, end of input */
    const char *name;
    size_t line;       /* physical line of p, 1-based */
    size_t rec_line;   /* line where the current record starts */
    csv_field *fields; /* fields of the current record ... */
    size_t nfields;    /* ... counted (only max_fields are kept) */
    size_t cap, max_fields;
    gdn_buf scratch; /* an unescaped or NUL-terminated field */
} csv_parser;

typedef struct {
    char *s;
    size_t len;
    uint32_t hash;
    int id; /* order of first appearance; -1 for an empty slot */
} label_slot;

/* Open addressing, linear probing, at most half full; grows with the
 * labels seen, up to 2 x GDN_DATA_MAX_CLASSES slots. */
typedef struct {
    label_slot *slots;
    size_t nslots; /* a power of two, or 0 */
    char **names;  /* by id, owned */
    int count;
} label_table;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* ---- Records ------------------------------------------------------------ */

static int keep_field(csv_parser *ps, const char *s, size_t len, int escaped)
{
    if (ps->nfields < ps->max_fields) {
        if (ps->nfields == ps->cap) {
            size_t cap = ps->cap ? ps->cap * 2 : 64;
            csv_field *f;

            if (cap > ps->max_fields)
                cap = ps->max_fields;
            f = realloc(ps->fields, cap * sizeof *f);
            if (!f)
                return gdn_error(GDN_ENOMEM, "%s: cannot allocate %zu fields",
                                 ps->name, cap);
            ps->fields = f;
            ps->cap = cap;
        }
        ps->fields[ps->nfields].s = s;
        ps->fields[ps->nfields].len = len;
        ps->fields[ps->nfields].escaped = escaped;
    }
    ps->nfields++;
    return 0;
}

/* The quoted field starting after the opening quote at ps->p. */
static int quoted_field(csv_parser *ps)
{
    const char *start = ps->p, *p = ps->p;
    size_t open_line = ps->line;
    int escaped = 0;

    for (;;) {
        const char *q = memchr(p, '"', (size_t)(ps->end - p));

        if (!q)
            return gdn_error(GDN_EFORMAT,
                             "%s:%zu: quoted field never closed", ps->name,
                             open_line);
        for (const char *c = p; c < q; c++)
            ps->line += *c == '\n';
        if (q + 1 < ps->end && q[1] == '"') {
            escaped = 1;
            p = q + 2;
            continue;
        }
        ps->p = q + 1;
        while (ps->p < ps->end && is_blank(*ps->p))
            ps->p++;
        if (ps->p < ps->end && *ps->p != ',' && *ps->p != '\n')
            return gdn_error(GDN_EFORMAT,
                             "%s:%zu: '%c' after a closing quote, expected ',' "
                             "or a line end",
                             ps->name, ps->line, *ps->p);
        return keep_field(ps, start, (size_t)(q - start), escaped);
    }
}

/* Reads the next non-blank record. Returns 1 when one was read, 0 at the end
 * of the input, or a negative error. */
static int next_record(csv_parser *ps)
{
    int rc;

    for (;;) {
        const char *q = ps->p;

        while (q < ps->end && is_blank(*q))
            q++;
        if (q == ps->end) {
            ps->p = q;
            return 0;
        }
        if (*q != '\n')
            break;
        ps->p = q + 1;
        ps->line++;
    }
    ps->rec_line = ps->line;
    ps->nfields = 0;
    for (;;) {
        while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
            ps->p++;
        if (ps->p < ps->end && *ps->p == '"') {
            ps->p++;
            rc = quoted_field(ps);
        } else {
            const char *start = ps->p, *e;

            while (ps->p < ps->end && *ps->p != ',' && *ps->p != '\n')
                ps->p++;
            for (e = ps->p; e > start && is_blank(e[-1]); e--)
                ;
            rc = keep_field(ps, start, (size_t)(e - start), 0);
        }
        if (rc)
            return rc;
        if (ps->p == ps->end)
            return 1;
        if (*ps->p++ == '\n') {
            ps->line++;
            return 1;
        }
    }
}

/* ---- Fields ------------------------------------------------------------- */

/* The content of f with "" unescaped (in ps->scratch when needed). */
static int field_content(csv_parser *ps, const csv_field *f, const char **s,
                         size_t *len)
{
    int rc;

    if (!f->escaped) {
        *s = f->s;
        *len = f->len;
        return 0;
    }
    ps->scratch.len = 0;
    if ((rc = gdn_buf_reserve(&ps->scratch, f->len + 1)))
        return rc;
    for (size_t i = 0; i < f->len; i++) {
        ps->scratch.data[ps->scratch.len++] = (uint8_t)f->s[i];
        if (f->s[i] == '"')
            i++; /* the second quote of a "" pair */
    }
    *s = (const char *)ps->scratch.data;
    *len = ps->scratch.len;
    return 0;
}

/* A field for an error message: unescaped, cut to SHOW_CHARS with "...". */
static void field_show(char *buf, size_t size, const csv_field *f)
{
    size_t n = 0;

    for (size_t i = 0; i < f->len && n + 4 < size; i++) {
        if (n == SHOW_CHARS) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        buf[n++] = f->s[i];
        if (f->s[i] == '"' && f->escaped)
            i++;
    }
    buf[n] = '\0';
}

/* Parses a decimal number, [+-]digits[.digits][(e|E)[+-]digits] with spaces
 * around it, that fits a finite float. Returns 1 and sets *v when s is one;
 * 0 when it is not; a negative error on allocation failure. */
static int parse_number(gdn_buf *scratch, const char *s, size_t len, float *v)
{
    size_t i = 0, start, int_digits = 0, frac_digits = 0, exp_digits = 0;
    int neg = 0, plain;
    double d;
    char *endp;

    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    s += i;
    len -= i;
    i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    start = i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        int_digits++;
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            frac_digits++;
    if (int_digits + frac_digits == 0)
        return 0;
    plain = i == len;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            exp_digits++;
        if (exp_digits == 0)
            return 0;
    }
    if (i != len)
        return 0;
    if (plain && frac_digits == 0 && int_digits <= 15) {
        /* Exact in a double, so this rounds to float exactly as strtod. */
        uint64_t u = 0;
        for (size_t k = start; k < start + int_digits; k++)
            u = u * 10 + (uint64_t)(s[k] - '0');
        d = (double)u;
        *v = (float)(neg ? -d : d);
        return 1;
    }
    scratch->len = 0;
    if (gdn_buf_append(scratch, s, len) || gdn_buf_append(scratch, "", 1))
        return GDN_ENOMEM;
    d = strtod((const char *)scratch->data, &endp);
    if (endp != (const char *)scratch->data + len || !isfinite(d) ||
        fabs(d) > FLT_MAX)
        return 0;
    *v = (float)d;
    return 1;
}

static int field_number(csv_parser *ps, const csv_field *f, float *v)
{
    const char *s;
    size_t len;
    int rc;

    if ((rc = field_content(ps, f, &s, &len)))
        return rc;
    return parse_number(&ps->scratch, s, len, v);
}

/* ---- Labels ------------------------------------------------------------- */

static uint32_t fnv1a(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void labels_free(label_table *t)
{
    for (int i = 0; i < t->count; i++)
        free(t->names[i]);
    free(t->names);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static label_slot *label_find(label_table *t, const char *s, size_t len,
                              uint32_t h)
{
    size_t mask = t->nslots - 1, i = h & mask;

    for (;; i = (i + 1) & mask) {
        label_slot *slot = &t->slots[i];
        if (slot->id < 0 || (slot->hash == h && slot->len == len &&
                             memcmp(slot->s, s, len) == 0))
            return slot;
    }
}

/* Makes room for one more label: doubles slots and names when needed. */
static int labels_grow(label_table *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 64;
    label_slot *old = t->slots;
    size_t old_n = t->nslots;
    char **names;

    if ((size_t)t->count + 1 <= t->nslots / 2)
        return 0;
    names = realloc(t->names, n / 2 * sizeof *names);
    if (!names)
        return GDN_ENOMEM;
    t->names = names;
    t->slots = malloc(n * sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return GDN_ENOMEM;
    }
    t->nslots = n;
    for (size_t i = 0; i < n; i++)
        t->slots[i].id = -1;
    for (size_t i = 0; i < old_n; i++)
        if (old[i].id >= 0)
            *label_find(t, old[i].s, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* The id of label s, added when new: >= 0, or a negative error. */
static int label_id(label_table *t, const char *s, size_t len,
                    const csv_parser *ps)
{
    uint32_t h = fnv1a(s, len);
    label_slot *slot;

    if (t->nslots) {
        slot = label_find(t, s, len, h);
        if (slot->id >= 0)
            return slot->id;
    }
    if (t->count == GDN_DATA_MAX_CLASSES)
        return gdn_error(GDN_ERANGE,
                         "%s:%zu: more than %d distinct labels (is the label "
                         "column right?)",
                         ps->name, ps->rec_line, GDN_DATA_MAX_CLASSES);
    if (labels_grow(t))
        return gdn_error(GDN_ENOMEM, "%s: cannot store a label", ps->name);
    slot = label_find(t, s, len, h);
    slot->s = malloc(len + 1);
    if (!slot->s)
        return gdn_error(GDN_ENOMEM, "%s: cannot store a label", ps->name);
    memcpy(slot->s, s, len);
    slot->s[len] = '\0';
    slot->len = len;
    slot->hash = h;
    slot->id = t->count;
    t->names[t->count] = slot->s;
    return t->count++;
}

typedef struct {
    const char *s;
    double v;
    int id;
    int numeric;
} label_key;

static int label_cmp(const void *a, const void *b)
{
    const label_key *x = a, *y = b;

    if (x->numeric && x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* Numbers the labels in sorted order (numerically when all are numbers),
 * rewrites y and hands the names over to out->class_names. */
static int labels_finish(gdn_dataset *out, label_table *t, gdn_buf *scratch)
{
    label_key *keys = calloc((size_t)t->count, sizeof *keys);
    int32_t *rank = calloc((size_t)t->count, sizeof *rank);
    int numeric = 1, rc = 0;

    out->class_names = calloc((size_t)t->count, sizeof(char *));
    if (!keys || !rank || !out->class_names) {
        rc = gdn_error(GDN_ENOMEM, "cannot sort %d labels", t->count);
        goto done;
    }
    for (int i = 0; i < t->count; i++) {
        float f = 0;
        int r = parse_number(scratch, t->names[i], strlen(t->names[i]), &f);

        if (r < 0) {
            rc = gdn_error(GDN_ENOMEM, "cannot sort labels");
            goto done;
        }
        numeric &= r;
        keys[i].s = t->names[i];
        keys[i].v = f;
        keys[i].id = i;
    }
    for (int i = 0; i < t->count; i++)
        keys[i].numeric = numeric;
    qsort(keys, (size_t)t->count, sizeof *keys, label_cmp);
    for (int r = 0; r < t->count; r++) {
        rank[keys[r].id] = r;
        out->class_names[r] = t->names[keys[r].id];
    }
    for (size_t i = 0; i < out->n; i++)
        out->y[i] = rank[out->y[i]];
    out->classes = t->count;
    t->count = 0; /* the names now belong to out */
done:
    free(keys);
    free(rank);
    return rc;
}

/* ---- The file ------------------------------------------------------------ */

/* Column of the label option in the first record; sets *named when the
 * option was matched by name (the first record is then a header). */
static int label_column(csv_parser *ps, const char *label, size_t ncols,
                        size_t *col, int *named)
{
    size_t want = strlen(label ? label : ""), k = 0;

    *named = 0;
    if (want == 0) {
        *col = ncols - 1;
        return 0;
    }
    while (k < want && label[k] >= '0' && label[k] <= '9')
        k++;
    if (k == want) {
        size_t c = 0;
        for (k = 0; k < want && c <= ncols; k++)
            c = c * 10 + (size_t)(label[k] - '0');
        if (c >= ncols)
            return gdn_error(GDN_EINVAL,
                             "%s: label column %s is out of range: %zu columns "
                             "(0-based)",
                             ps->name, label, ncols);
        *col = c;
        return 0;
    }
    for (size_t c = 0; c < ncols; c++) {
        const char *s;
        size_t len;
        int rc = field_content(ps, &ps->fields[c], &s, &len);

        if (rc)
            return rc;
        if (len == want && memcmp(s, label, want) == 0) {
            *col = c;
            *named = 1;
            return 0;
        }
    }
    return gdn_error(GDN_EINVAL, "%s:%zu: no column named '%s' in the header",
                     ps->name, ps->rec_line, label);
}

/* Error for field c of the current record, naming its column. */
static int field_error(const csv_parser *ps, const csv_field *header,
                       size_t c, const char *what)
{
    char value[SHOW_CHARS + 8], col[SHOW_CHARS + 8];

    field_show(value, sizeof value, &ps->fields[c]);
    if (!header)
        return gdn_error(GDN_EFORMAT, "%s:%zu: column %zu: '%s' %s", ps->name,
                         ps->rec_line, c + 1, value, what);
    field_show(col, sizeof col, &header[c]);
    return gdn_error(GDN_EFORMAT, "%s:%zu: column %zu ('%s'): '%s' %s",
                     ps->name, ps->rec_line, c + 1, col, value, what);
}

/* An upper bound on the data records: every record takes a line and,
 * having ncols fields, ncols - 1 commas. It bounds the allocation by the
 * input size whatever the first line claims. */
static size_t max_records(const char *text, size_t len, size_t ncols)
{
    size_t lines = 1, commas = 0;

    for (size_t i = 0; i < len; i++) {
        lines += text[i] == '\n';
        commas += text[i] == ',';
    }
    commas /= ncols - 1;
    return lines < commas ? lines : commas;
}

static int parse_rows(gdn_dataset *out, csv_parser *ps, label_table *labels,
                      const csv_field *header, size_t ncols, size_t label_col)
{
    size_t dim = ncols - 1, cap = out->n, n = 0;
    int rc;

    out->n = 0;
    while ((rc = next_record(ps)) == 1) {
        float *row;
        const char *s;
        size_t len, k = 0;

        if (ps->nfields != ncols)
            return gdn_error(GDN_EFORMAT, "%s:%zu: %zu columns, expected %zu",
                             ps->name, ps->rec_line, ps->nfields, ncols);
        if (n == cap)
            return gdn_error(GDN_ERANGE,
                             "%s:%zu: more rows than the limit of %zu values "
                             "(%zu examples)",
                             ps->name, ps->rec_line, GDN_DATA_MAX_VALUES,
                             GDN_DATA_MAX_EXAMPLES);
        row = out->x + n * dim;
        for (size_t c = 0; c < ncols; c++) {
            if (c == label_col)
                continue;
            if (ps->fields[c].len == 0)
                return field_error(ps, header, c, "is empty, expected a number");
            rc = field_number(ps, &ps->fields[c], &row[k++]);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return field_error(ps, header, c, "is not a number");
        }
        if ((rc = field_content(ps, &ps->fields[label_col], &s, &len)))
            return rc;
        if (len == 0)
            return field_error(ps, header, label_col, "is an empty label");
        if ((rc = label_id(labels, s, len, ps)) < 0)
            return rc;
        out->y[n++] = rc;
        out->n = n;
    }
    if (rc < 0)
        return rc;
    if (n == 0)
        return gdn_error(GDN_EFORMAT, "%s: no data rows", ps->name);
    return 0;
}

static int parse_csv(gdn_dataset *out, csv_parser *ps, label_table *labels,
                     const char *label, const char *text, size_t len)
{
    csv_field *header = NULL;
    size_t ncols, label_col = 0, rows;
    const char *first = ps->p;
    int rc, named, is_header = 0;

    ps->max_fields = GDN_DATA_MAX_FEATURES + 1;
    if ((rc = next_record(ps)) < 0)
        return rc;
    if (rc == 0)
        return gdn_error(GDN_EFORMAT, "%s: empty file, no data rows", ps->name);
    ncols = ps->nfields;
    if (ncols > ps->max_fields)
        return gdn_error(GDN_ERANGE,
                         "%s:%zu: %zu columns, over the limit of %zu features "
                         "and a label",
                         ps->name, ps->rec_line, ncols, GDN_DATA_MAX_FEATURES);
    if (ncols < 2)
        return gdn_error(GDN_EFORMAT,
                         "%s:%zu: 1 column, need at least one feature and a "
                         "label",
                         ps->name, ps->rec_line);
    if ((rc = label_column(ps, label, ncols, &label_col, &named)))
        return rc;
    is_header = named;
    for (size_t c = 0; c < ncols && !is_header; c++) {
        float v;

        if (c == label_col)
            continue;
        if ((rc = field_number(ps, &ps->fields[c], &v)) < 0)
            return rc;
        is_header = rc == 0;
    }
    if (is_header) {
        header = malloc(ncols * sizeof *header);
        if (!header)
            return gdn_error(GDN_ENOMEM, "%s: cannot keep the header", ps->name);
        memcpy(header, ps->fields, ncols * sizeof *header);
    } else {
        ps->p = first; /* the first record is data: read it again */
        ps->line = 1;
    }
    ps->max_fields = ncols;
    rows = max_records(text, len, ncols);
    if (rows > GDN_DATA_MAX_EXAMPLES)
        rows = GDN_DATA_MAX_EXAMPLES;
    if (rows > GDN_DATA_MAX_VALUES / (ncols - 1))
        rows = GDN_DATA_MAX_VALUES / (ncols - 1);
    if ((rc = gdn_data_alloc(out, rows, ncols - 1)))
        goto done;
    rc = parse_rows(out, ps, labels, header, ncols, label_col);
    if (!rc)
        rc = labels_finish(out, labels, &ps->scratch);
done:
    free(header);
    return rc;
}

int gdn_data_parse_csv(gdn_dataset *out, const char *text, size_t len,
                       const char *label, const char *name)
{
    csv_parser ps;
    label_table labels;
    const char *nul;
    int rc;

    memset(out, 0, sizeof *out);
    memset(&ps, 0, sizeof ps);
    if (!name)
        name = "csv";
    if (!text && len)
        return gdn_error(GDN_EINVAL, "%s: NULL text", name);
    nul = len ? memchr(text, '\0', len) : NULL;
    if (nul)
        return gdn_error(GDN_EFORMAT, "%s: NUL byte at offset %zu, not text",
                         name, (size_t)(nul - text));
    memset(&labels, 0, sizeof labels);
    ps.name = name;
    ps.p = text;
    ps.end = text + len;
    ps.line = 1;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        ps.p += 3; /* UTF-8 byte-order mark, as spreadsheets write */
    rc = parse_csv(out, &ps, &labels, label, text, len);
    if (rc)
        gdn_dataset_free(out);
    labels_free(&labels);
    free(ps.fields);
    gdn_buf_free(&ps.scratch);
    return rc;
}

int gdn_data_load_csv(gdn_dataset *out, const char *path, const char *label)
{
    gdn_buf text = {0};
    int rc;

    memset(out, 0, sizeof *out);
    if (!path)
        return gdn_error(GDN_EINVAL, "load_csv: NULL path");
    if ((rc = gdn_file_read(&text, path, GDN_DATA_MAX_FILE_BYTES)))
        goto done;
    rc = gdn_data_parse_csv(out, (const char *)text.data, text.len, label,
                            path);
done:
    gdn_buf_free(&text);
    return rc;
}
