/* Config files: a top-level YAML mapping of option names to scalars or
 * sequences of scalars, read with libyaml's event parser. Anything beyond
 * that subset (anchors, aliases, tags, nesting, more documents) is refused
 * rather than interpreted, so a file means the same to every reader. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "guardian/core.h"

struct entry {
    size_t key, value;       /* offsets into text */
    unsigned line, key_line; /* 1-based */
};

struct gdn_config {
    char *name;
    gdn_buf text; /* every key and value, each NUL-terminated */
    struct entry *entries;
    size_t n, cap;
};

typedef struct {
    yaml_parser_t yaml;
    yaml_event_t ev;
    int have_ev; /* ev holds an event to delete */
    const uint8_t *data;
    size_t len;
    const char *name;
    gdn_config *c;
} parser;

/* Room for a key, anchor or tag shown in an error: up to SHOW_MAX bytes of
 * it, each as at most 4 characters, and "...". */
#define SHOW_MAX 48
#define SHOW_BYTES (SHOW_MAX * 4 + 4)

/* s[0, n) for an error message: printable ASCII as is, other bytes as \xNN. */
static const char *show(char out[SHOW_BYTES], const void *s, size_t n)
{
    const unsigned char *b = s;
    size_t o = 0;

    for (size_t i = 0; i < n && i < SHOW_MAX; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            out[o++] = (char)b[i];
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02x", b[i]);
    }
    if (n > SHOW_MAX)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
    return out;
}

static const char *show_str(char out[SHOW_BYTES], const yaml_char_t *s)
{
    return show(out, s, strlen((const char *)s));
}

/* 1-based line and column of data[off], counted as libyaml counts them: in
 * characters, with "\r\n", "\n" and a lone "\r" ending a line. */
static void locate(const uint8_t *data, size_t len, size_t off, size_t *line,
                   size_t *col)
{
    *line = 1, *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (data[i] == '\n' || (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n')))
            ++*line, *col = 1;
        else if ((data[i] & 0xc0) != 0x80)
            ++*col;
    }
}

static int fail_line(const char *name, int code, size_t line, size_t col,
                     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static int fail_line(const char *name, int code, size_t line, size_t col,
                     const char *fmt, va_list ap)
{
    char what[320];

    vsnprintf(what, sizeof what, fmt, ap);
    return gdn_error(code, "%s:%zu:%zu: %s", name, line, col, what);
}

/* An error at a libyaml mark (0-based line and column). */
static int fail_at(parser *p, int code, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(parser *p, int code, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fail_line(p->name, code, mark.line + 1, mark.column + 1, fmt, ap);
    va_end(ap);
    return rc;
}

/* An error at a byte offset of the text. */
static int fail_offset(const char *name, const uint8_t *data, size_t len, size_t off,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail_offset(const char *name, const uint8_t *data, size_t len, size_t off,
                       const char *fmt, ...)
{
    va_list ap;
    size_t line, col;
    int rc;

    locate(data, len, off, &line, &col);
    va_start(ap, fmt);
    rc = fail_line(name, GDN_EFORMAT, line, col, fmt, ap);
    va_end(ap);
    return rc;
}

static int oom(const char *name)
{
    return gdn_error(GDN_ENOMEM, "%s: out of memory", name);
}

/* Valid UTF-8 (RFC 3629) without NUL, checked before libyaml sees it so the
 * error can name the place. */
static int check_text(const uint8_t *data, size_t len, const char *name)
{
    size_t k;

    for (size_t i = 0; i < len; i += k) {
        if (data[i] == 0)
            return fail_offset(name, data, len, i, "NUL byte");
        if (!(k = gdn_utf8_seq(data + i, len - i)))
            return fail_offset(name, data, len, i, "invalid UTF-8 (byte 0x%02x)", data[i]);
    }
    return 0;
}

/* The error libyaml reported, as file:line:column and its words. */
static int yaml_failure(parser *p)
{
    const yaml_parser_t *y = &p->yaml;
    const char *problem = y->problem ? y->problem : "syntax error";
    size_t off = y->problem_offset < p->len ? y->problem_offset : p->len;

    switch (y->error) {
    case YAML_MEMORY_ERROR:
        return oom(p->name);
    case YAML_READER_ERROR:
        if (y->problem_value >= 0)
            return fail_offset(p->name, p->data, p->len, off, "%s (U+%04X)", problem,
                               (unsigned)y->problem_value);
        return fail_offset(p->name, p->data, p->len, off, "%s", problem);
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
        if (y->context)
            return fail_at(p, GDN_EFORMAT, y->problem_mark,
                           "%s (%s at line %zu, column %zu)", problem, y->context,
                           y->context_mark.line + 1, y->context_mark.column + 1);
        return fail_at(p, GDN_EFORMAT, y->problem_mark, "%s", problem);
    default:
        return gdn_error(GDN_EFORMAT, "%s: %s", p->name, problem);
    }
}

static int next(parser *p)
{
    if (p->have_ev)
        yaml_event_delete(&p->ev);
    p->have_ev = 0;
    if (!yaml_parser_parse(&p->yaml, &p->ev))
        return yaml_failure(p);
    p->have_ev = 1;
    return 0;
}

/* Refuses aliases, anchors and explicit tags on the current event. */
static int check_node(parser *p)
{
    const yaml_event_t *e = &p->ev;
    const yaml_char_t *anchor, *tag;
    char s[SHOW_BYTES];

    switch (e->type) {
    case YAML_ALIAS_EVENT:
        return fail_at(p, GDN_EFORMAT, e->start_mark,
                       "alias '*%s': aliases are not supported",
                       show_str(s, e->data.alias.anchor));
    case YAML_SCALAR_EVENT:
        anchor = e->data.scalar.anchor, tag = e->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = e->data.sequence_start.anchor, tag = e->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = e->data.mapping_start.anchor, tag = e->data.mapping_start.tag;
        break;
    default:
        return 0;
    }
    if (anchor)
        return fail_at(p, GDN_EFORMAT, e->start_mark,
                       "anchor '&%s': anchors are not supported", show_str(s, anchor));
    if (tag)
        return fail_at(p, GDN_EFORMAT, e->start_mark,
                       "tag '%s': tags are not supported", show_str(s, tag));
    return 0;
}

/* YAML 1.1's null: a plain scalar that is empty, "~" or "null". */
static int is_null(const yaml_event_t *e)
{
    const char *v = (const char *)e->data.scalar.value;

    return e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (e->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
            strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
            strcmp(v, "NULL") == 0);
}

static const char *text_at(const gdn_config *c, size_t off)
{
    return (const char *)c->text.data + off;
}

static int add_text(parser *p, const void *s, size_t n, size_t *off)
{
    *off = p->c->text.len;
    if (gdn_buf_append(&p->c->text, s, n) || gdn_buf_append(&p->c->text, "", 1))
        return oom(p->name);
    return 0;
}

/* The current event, a non-null scalar, as a value of the key at key. */
static int add_value(parser *p, size_t key, unsigned key_line)
{
    const yaml_event_t *e = &p->ev;
    const uint8_t *v = e->data.scalar.value;
    size_t n = e->data.scalar.length, k;
    gdn_config *c = p->c;
    struct entry *grown;
    char s[SHOW_BYTES];

    show_str(s, (const yaml_char_t *)text_at(c, key));
    if (n > GDN_CONFIG_MAX_VALUE_BYTES)
        return fail_at(p, GDN_ERANGE, e->start_mark,
                       "value of '%s' is longer than %d bytes", s,
                       GDN_CONFIG_MAX_VALUE_BYTES);
    /* Escapes in quoted scalars can make bytes the text does not hold. */
    for (size_t i = 0; i < n; i += k) {
        if (v[i] == 0)
            return fail_at(p, GDN_EFORMAT, e->start_mark,
                           "value of '%s' contains a NUL character", s);
        if (!(k = gdn_utf8_seq(v + i, n - i)))
            return fail_at(p, GDN_EFORMAT, e->start_mark,
                           "value of '%s' is not valid UTF-8", s);
    }
    if (c->n == GDN_CONFIG_MAX_ENTRIES)
        return fail_at(p, GDN_ERANGE, e->start_mark, "more than %d values",
                       GDN_CONFIG_MAX_ENTRIES);
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        if (!(grown = realloc(c->entries, cap * sizeof *grown)))
            return oom(p->name);
        c->entries = grown;
        c->cap = cap;
    }
    c->entries[c->n].key = key;
    c->entries[c->n].line = (unsigned)e->start_mark.line + 1;
    c->entries[c->n].key_line = key_line;
    if (add_text(p, v, n, &c->entries[c->n].value))
        return GDN_ENOMEM;
    c->n++;
    return 0;
}

/* The items of a sequence (the current event starts it). */
static int parse_sequence(parser *p, size_t key, unsigned key_line)
{
    yaml_mark_t start = p->ev.start_mark;
    size_t items = 0;
    char s[SHOW_BYTES];
    int rc;

    show_str(s, (const yaml_char_t *)text_at(p->c, key));
    for (;;) {
        if ((rc = next(p)) || (rc = check_node(p)))
            return rc;
        switch (p->ev.type) {
        case YAML_SEQUENCE_END_EVENT:
            if (items == 0)
                return fail_at(p, GDN_EFORMAT, start, "key '%s' has an empty list", s);
            return 0;
        case YAML_SCALAR_EVENT:
            if (is_null(&p->ev))
                return fail_at(p, GDN_EFORMAT, p->ev.start_mark,
                               "an item of '%s' has no value", s);
            if ((rc = add_value(p, key, key_line)))
                return rc;
            items++;
            break;
        default:
            return fail_at(p, GDN_EFORMAT, p->ev.start_mark,
                           "an item of '%s' is a list or mapping: only plain "
                           "values can be listed", s);
        }
    }
}

/* A key (the current event) checked against the rules and earlier keys. */
static int add_key(parser *p, size_t *key)
{
    const yaml_event_t *e = &p->ev;
    const uint8_t *k = e->data.scalar.value;
    size_t n = e->data.scalar.length;
    const gdn_config *c = p->c;
    char s[SHOW_BYTES];

    show(s, k, n);
    if (n == 0)
        return fail_at(p, GDN_EFORMAT, e->start_mark, "empty key");
    if (n > GDN_CONFIG_MAX_KEY_BYTES)
        return fail_at(p, GDN_ERANGE, e->start_mark, "key '%s' is longer than %d bytes",
                       s, GDN_CONFIG_MAX_KEY_BYTES);
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-'))
            return fail_at(p, GDN_EFORMAT, e->start_mark,
                           "key '%s': a key is made of A-Z, a-z, 0-9, '_' and '-'", s);
    /* Entries of one key are adjacent; compare each key once. */
    for (size_t i = 0; i < c->n; i++)
        if ((i == 0 || c->entries[i].key != c->entries[i - 1].key) &&
            strcmp(text_at(c, c->entries[i].key), (const char *)k) == 0)
            return fail_at(p, GDN_EFORMAT, e->start_mark,
                           "key '%s' appears twice (first on line %u)", s,
                           c->entries[i].key_line);
    return add_text(p, k, n, key);
}

/* The members of the top-level mapping (the current event starts it). */
static int parse_mapping(parser *p)
{
    yaml_mark_t key_mark;
    size_t key = 0;
    unsigned key_line;
    char s[SHOW_BYTES];
    int rc;

    for (;;) {
        if ((rc = next(p)) || (rc = check_node(p)))
            return rc;
        if (p->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (p->ev.type != YAML_SCALAR_EVENT)
            return fail_at(p, GDN_EFORMAT, p->ev.start_mark,
                           "a key must be a name, not a list or mapping");
        key_mark = p->ev.start_mark;
        key_line = (unsigned)key_mark.line + 1;
        if ((rc = add_key(p, &key)) || (rc = next(p)) || (rc = check_node(p)))
            return rc;
        show_str(s, (const yaml_char_t *)text_at(p->c, key));
        switch (p->ev.type) {
        case YAML_SCALAR_EVENT:
            if (is_null(&p->ev))
                return fail_at(p, GDN_EFORMAT, key_mark, "key '%s' has no value", s);
            rc = add_value(p, key, key_line);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = parse_sequence(p, key, key_line);
            break;
        default:
            rc = fail_at(p, GDN_EFORMAT, p->ev.start_mark,
                         "key '%s' holds a mapping: nested mappings are not "
                         "supported", s);
        }
        if (rc)
            return rc;
    }
}

static int parse_stream(parser *p)
{
    int rc;

    if ((rc = next(p)) || (rc = next(p))) /* STREAM-START, then a document */
        return rc;
    if (p->ev.type == YAML_STREAM_END_EVENT)
        return 0; /* nothing but comments and blank lines */
    if ((rc = next(p)) || (rc = check_node(p)))
        return rc;
    if (p->ev.type == YAML_MAPPING_START_EVENT) {
        if ((rc = parse_mapping(p)))
            return rc;
    } else if (!(p->ev.type == YAML_SCALAR_EVENT && p->ev.data.scalar.length == 0 &&
                 p->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE)) {
        /* An empty scalar is a "---" with nothing after it: empty too. */
        return fail_at(p, GDN_EFORMAT, p->ev.start_mark,
                       "the top level is not a mapping of option names to values");
    }
    if ((rc = next(p)) || (rc = next(p))) /* DOCUMENT-END, then the stream's end */
        return rc;
    if (p->ev.type != YAML_STREAM_END_EVENT)
        return fail_at(p, GDN_EFORMAT, p->ev.start_mark,
                       "a second document: a config file holds one");
    return 0;
}

int gdn_config_parse(gdn_config **out, const uint8_t *data, size_t len,
                     const char *name)
{
    parser p = {.data = data, .len = len, .name = name ? name : "config"};
    size_t name_len = strlen(p.name);
    int rc;

    *out = NULL;
    if (len > GDN_CONFIG_MAX_BYTES)
        return gdn_error(GDN_ERANGE, "%s: %zu bytes, larger than the limit of %zu",
                         p.name, len, (size_t)GDN_CONFIG_MAX_BYTES);
    if ((rc = check_text(data, len, p.name)))
        return rc;
    if (!(p.c = calloc(1, sizeof *p.c)) || !(p.c->name = malloc(name_len + 1))) {
        gdn_config_free(p.c);
        return oom(p.name);
    }
    memcpy(p.c->name, p.name, name_len + 1);
    if (!yaml_parser_initialize(&p.yaml)) {
        gdn_config_free(p.c);
        return oom(p.name);
    }
    yaml_parser_set_encoding(&p.yaml, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&p.yaml, len ? data : (const uint8_t *)"", len);
    rc = parse_stream(&p);
    if (p.have_ev)
        yaml_event_delete(&p.ev);
    yaml_parser_delete(&p.yaml);
    if (rc) {
        gdn_config_free(p.c);
        return rc;
    }
    *out = p.c;
    return 0;
}

int gdn_config_read(gdn_config **out, const char *path)
{
    gdn_buf b = {0};
    int rc;

    *out = NULL;
    if ((rc = gdn_file_read(&b, path, GDN_CONFIG_MAX_BYTES)) == 0)
        rc = gdn_config_parse(out, b.data, b.len, path);
    gdn_buf_free(&b);
    return rc;
}

size_t gdn_config_count(const gdn_config *c)
{
    return c->n;
}

const char *gdn_config_key(const gdn_config *c, size_t i)
{
    return i < c->n ? text_at(c, c->entries[i].key) : NULL;
}

const char *gdn_config_value(const gdn_config *c, size_t i)
{
    return i < c->n ? text_at(c, c->entries[i].value) : NULL;
}

unsigned gdn_config_line(const gdn_config *c, size_t i)
{
    return i < c->n ? c->entries[i].line : 0;
}

const char *gdn_config_name(const gdn_config *c)
{
    return c->name;
}

void gdn_config_free(gdn_config *c)
{
    if (!c)
        return;
    free(c->name);
    gdn_buf_free(&c->text);
    free(c->entries);
    free(c);
}
