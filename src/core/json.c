/* A strict, bounded JSON parser (RFC 8259) into an arena-allocated tree, and
 * a string writer. Numbers are converted with strtod, which reads '.' as the
 * decimal point as long as the program keeps the "C" LC_NUMERIC locale. */
#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"

/* Plain-integer status of a number (for gdn_json_uint). */
enum { NOT_UINT, UINT_OK, UINT_TOO_BIG };

#define UINT_MAX_EXACT ((uint64_t)1 << 53)

struct gdn_json {
    gdn_json_kind kind;
    int flag;      /* boolean value, or the plain-integer status */
    size_t offset; /* of the value in the text */
    size_t len;    /* string bytes, array elements or object members */
    union {
        struct {
            double d;
            uint64_t u;
        } num;
        const char *str;
        gdn_json **items; /* objects: key, value, key, value, ... */
    } v;
};

/* The arena: a list of chunks freed together. */
struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
};

/* The root node comes first, so gdn_json_free can find the arena from it. */
struct doc {
    gdn_json root;
    struct chunk *arena;
};

typedef struct {
    const char *text, *name;
    size_t len, pos, nodes;
    int depth;
    struct chunk *arena;
    gdn_buf stack; /* children of the open containers (gdn_json pointers) */
} parser;

static void *arena_alloc(struct chunk **arena, size_t n)
{
    struct chunk *c = *arena;
    size_t cap;

    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    if (!c || c->cap - c->used < n) {
        cap = n > 65536 ? n : 65536;
        if (cap > SIZE_MAX - sizeof *c || !(c = malloc(sizeof *c + cap)))
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = *arena;
        *arena = c;
    }
    c->used += n;
    return (char *)c->data + c->used - n;
}

static void arena_free(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
}

static int syntax(parser *p, size_t at, const char *what)
{
    unsigned char c;

    if (at >= p->len)
        return gdn_error(GDN_EFORMAT, "%s: offset %zu: %s, found end of input",
                         p->name, at, what);
    c = (unsigned char)p->text[at];
    if (c > 0x20 && c < 0x7f)
        return gdn_error(GDN_EFORMAT, "%s: offset %zu: %s, found '%c'", p->name,
                         at, what, c);
    return gdn_error(GDN_EFORMAT, "%s: offset %zu: %s, found byte 0x%02x",
                     p->name, at, what, c);
}

/* For errors where the byte found says nothing more. */
static int invalid(parser *p, size_t at, const char *what)
{
    return gdn_error(GDN_EFORMAT, "%s: offset %zu: %s", p->name, at, what);
}

static int oom(parser *p)
{
    return gdn_error(GDN_ENOMEM, "%s: out of memory", p->name);
}

size_t gdn_utf8_seq(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1fu;
    else if ((s[0] & 0xf0) == 0xe0)
        len = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07u;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static size_t utf8_put(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xc0 | cp >> 6);
        dst[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xe0 | cp >> 12);
        dst[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        dst[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | cp >> 18);
    dst[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    dst[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    dst[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex4_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Four hex digits at s (the caller checked they are in bounds); -1 if not. */
static long hex4(const char *s)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        int d = hex4_digit(s[i]);
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && (p->text[p->pos] == ' ' || p->text[p->pos] == '\t' ||
                               p->text[p->pos] == '\n' || p->text[p->pos] == '\r'))
        p->pos++;
}

/* RFC 8259 §7. The decoded string is never longer than its escaped form. */
static int parse_string(parser *p, gdn_json *node)
{
    const char *t = p->text;
    size_t start = p->pos + 1, end = start, i, n = 0, k;
    char *dst;
    long cp, lo;

    while (end < p->len && t[end] != '"')
        end += t[end] == '\\' ? 2 : 1;
    if (end >= p->len)
        return syntax(p, p->len, "unterminated string");
    if (!(dst = arena_alloc(&p->arena, end - start + 1)))
        return oom(p);
    for (i = start; i < end;) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20)
            return syntax(p, i, "control character in string (must be escaped)");
        if (c >= 0x80) {
            if (!(k = gdn_utf8_seq((const unsigned char *)t + i, end - i)))
                return syntax(p, i, "invalid UTF-8 in string");
            memcpy(dst + n, t + i, k);
            n += k;
            i += k;
            continue;
        }
        if (c != '\\') {
            dst[n++] = (char)c;
            i++;
            continue;
        }
        switch (t[i + 1]) {
        case '"': dst[n++] = '"'; break;
        case '\\': dst[n++] = '\\'; break;
        case '/': dst[n++] = '/'; break;
        case 'b': dst[n++] = '\b'; break;
        case 'f': dst[n++] = '\f'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 't': dst[n++] = '\t'; break;
        case 'u':
            if (end - i < 6 || (cp = hex4(t + i + 2)) < 0) {
                for (k = i + 2; k < end && k < i + 6 && hex4_digit(t[k]) >= 0;)
                    k++;
                return syntax(p, k, "expected four hex digits after \\u");
            }
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return invalid(p, i, "lone low surrogate in \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* §7: a character outside the BMP is a surrogate pair. */
                if (end - i < 12 || t[i + 6] != '\\' || t[i + 7] != 'u' ||
                    (lo = hex4(t + i + 8)) < 0xdc00 || lo > 0xdfff)
                    return invalid(p, i, "lone high surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
            n += utf8_put(dst + n, (uint32_t)cp);
            i += 4;
            break;
        default:
            return syntax(p, i + 1, "invalid escape");
        }
        i += 2;
    }
    dst[n] = '\0';
    node->kind = GDN_JSON_STRING;
    node->v.str = dst;
    node->len = n;
    p->pos = end + 1;
    return 0;
}

static int is_digit(parser *p, size_t i)
{
    return i < p->len && p->text[i] >= '0' && p->text[i] <= '9';
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser *p, gdn_json *node)
{
    size_t s = p->pos, i = s, n;
    char small[64], *tmp = small, *end;
    uint64_t u = 0;
    int plain = 1, too_big = 0;

    if (p->text[i] == '-')
        i++, plain = 0;
    if (!is_digit(p, i))
        return syntax(p, i, "expected a digit");
    if (p->text[i] == '0')
        i++;
    else
        while (is_digit(p, i)) {
            unsigned d = (unsigned)(p->text[i++] - '0');
            if (u > (UINT_MAX_EXACT - d) / 10)
                too_big = 1;
            else
                u = u * 10 + d;
        }
    if (i < p->len && p->text[i] == '.') {
        plain = 0;
        if (!is_digit(p, ++i))
            return syntax(p, i, "expected a digit after '.'");
        while (is_digit(p, i))
            i++;
    }
    if (i < p->len && (p->text[i] == 'e' || p->text[i] == 'E')) {
        plain = 0;
        if (++i < p->len && (p->text[i] == '+' || p->text[i] == '-'))
            i++;
        if (!is_digit(p, i))
            return syntax(p, i, "expected a digit in the exponent");
        while (is_digit(p, i))
            i++;
    }
    n = i - s;
    if (n >= sizeof small && !(tmp = malloc(n + 1)))
        return oom(p);
    memcpy(tmp, p->text + s, n);
    tmp[n] = '\0';
    node->v.num.d = strtod(tmp, &end);
    if (tmp != small)
        free(tmp);
    if (end != tmp + n)
        return gdn_error(GDN_EINTERNAL, "%s: offset %zu: strtod stopped early "
                         "(LC_NUMERIC is not \"C\"?)", p->name, s);
    if (isinf(node->v.num.d))
        return gdn_error(GDN_ERANGE, "%s: offset %zu: number out of range",
                         p->name, s);
    node->kind = GDN_JSON_NUMBER;
    node->flag = !plain ? NOT_UINT : too_big ? UINT_TOO_BIG : UINT_OK;
    node->v.num.u = u;
    p->pos = i;
    return 0;
}

static int parse_literal(parser *p, gdn_json *node, const char *word,
                         gdn_json_kind kind, int flag)
{
    size_t n = strlen(word);

    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
        return syntax(p, p->pos, "expected a value");
    node->kind = kind;
    node->flag = flag;
    p->pos += n;
    return 0;
}

static int push(parser *p, gdn_json *child)
{
    return gdn_buf_append(&p->stack, &child, sizeof child) ? oom(p) : 0;
}

/* Moves the children pushed since `base` into the arena. */
static int pop_children(parser *p, gdn_json *node, size_t base, size_t count)
{
    size_t bytes = p->stack.len - base;

    node->v.items = NULL;
    if (bytes) {
        if (!(node->v.items = arena_alloc(&p->arena, bytes)))
            return oom(p);
        memcpy(node->v.items, p->stack.data + base, bytes);
    }
    node->len = count;
    p->stack.len = base;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const gdn_json *x = *(const gdn_json *const *)a;
    const gdn_json *y = *(const gdn_json *const *)b;
    int c;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if ((c = memcmp(x->v.str, y->v.str, x->len)))
        return c;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorting a copy of the keys keeps the check O(n log n) for huge objects. */
static int check_duplicates(parser *p, const gdn_json *obj)
{
    gdn_json **keys;
    size_t n = obj->len, i;
    int rc = 0;

    if (n < 2)
        return 0;
    if (!(keys = malloc(n * sizeof *keys)))
        return oom(p);
    for (i = 0; i < n; i++)
        keys[i] = obj->v.items[2 * i];
    qsort(keys, n, sizeof *keys, key_cmp);
    for (i = 1; i < n && !rc; i++)
        if (keys[i]->len == keys[i - 1]->len &&
            memcmp(keys[i]->v.str, keys[i - 1]->v.str, keys[i]->len) == 0)
            rc = gdn_error(GDN_EFORMAT, "%s: offset %zu: duplicate key \"%.64s\"",
                           p->name, keys[i]->offset, keys[i]->v.str);
    free(keys);
    return rc;
}

static int parse_value(parser *p, gdn_json **out);

static int parse_container(parser *p, gdn_json *node, char open)
{
    char close = open == '[' ? ']' : '}';
    size_t base = p->stack.len, count = 0;
    gdn_json *child;
    int rc;

    if (++p->depth > GDN_JSON_MAX_DEPTH)
        return gdn_error(GDN_ERANGE, "%s: offset %zu: nested deeper than %d",
                         p->name, p->pos, GDN_JSON_MAX_DEPTH);
    node->kind = open == '[' ? GDN_JSON_ARRAY : GDN_JSON_OBJECT;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->text[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            if (open == '{') {
                skip_ws(p);
                if (p->pos >= p->len || p->text[p->pos] != '"')
                    return syntax(p, p->pos, "expected a string key");
                if ((rc = parse_value(p, &child)) || (rc = push(p, child)))
                    return rc;
                skip_ws(p);
                if (p->pos >= p->len || p->text[p->pos] != ':')
                    return syntax(p, p->pos, "expected ':'");
                p->pos++;
            }
            if ((rc = parse_value(p, &child)) || (rc = push(p, child)))
                return rc;
            count++;
            skip_ws(p);
            if (p->pos < p->len && p->text[p->pos] == ',') {
                p->pos++;
                continue;
            }
            if (p->pos < p->len && p->text[p->pos] == close) {
                p->pos++;
                break;
            }
            return syntax(p, p->pos, open == '[' ? "expected ',' or ']'"
                                                 : "expected ',' or '}'");
        }
    }
    p->depth--;
    if ((rc = pop_children(p, node, base, count)))
        return rc;
    return open == '{' ? check_duplicates(p, node) : 0;
}

static int parse_value(parser *p, gdn_json **out)
{
    gdn_json *node;

    skip_ws(p);
    if (p->pos >= p->len)
        return syntax(p, p->pos, "expected a value");
    if (++p->nodes > GDN_JSON_MAX_NODES)
        return gdn_error(GDN_ERANGE, "%s: offset %zu: more than %d values",
                         p->name, p->pos, GDN_JSON_MAX_NODES);
    if (!(node = arena_alloc(&p->arena, sizeof *node)))
        return oom(p);
    memset(node, 0, sizeof *node);
    node->offset = p->pos;
    *out = node;
    switch (p->text[p->pos]) {
    case '{':
    case '[': return parse_container(p, node, p->text[p->pos]);
    case '"': return parse_string(p, node);
    case 't': return parse_literal(p, node, "true", GDN_JSON_BOOL, 1);
    case 'f': return parse_literal(p, node, "false", GDN_JSON_BOOL, 0);
    case 'n': return parse_literal(p, node, "null", GDN_JSON_NULL, 0);
    default:
        if (p->text[p->pos] == '-' || is_digit(p, p->pos))
            return parse_number(p, node);
        return syntax(p, p->pos, "expected a value");
    }
}

int gdn_json_parse(gdn_json **out, const char *text, size_t len,
                   const char *name)
{
    parser p = {.text = text, .len = len, .name = name ? name : "json"};
    struct doc *doc;
    gdn_json *root;
    int rc;

    *out = NULL;
    if (!(doc = arena_alloc(&p.arena, sizeof *doc))) {
        rc = oom(&p);
        goto fail;
    }
    if ((rc = parse_value(&p, &root)))
        goto fail;
    skip_ws(&p);
    if (p.pos != len) {
        rc = syntax(&p, p.pos, "expected end of input");
        goto fail;
    }
    doc->root = *root;
    doc->arena = p.arena;
    gdn_buf_free(&p.stack);
    *out = &doc->root;
    return 0;
fail:
    gdn_buf_free(&p.stack);
    arena_free(p.arena);
    return rc;
}

void gdn_json_free(gdn_json *root)
{
    if (root)
        arena_free(((struct doc *)(void *)root)->arena);
}

gdn_json_kind gdn_json_type(const gdn_json *v)
{
    return v->kind;
}

size_t gdn_json_offset(const gdn_json *v)
{
    return v->offset;
}

size_t gdn_json_len(const gdn_json *v)
{
    return v && (v->kind == GDN_JSON_ARRAY || v->kind == GDN_JSON_OBJECT) ? v->len : 0;
}

const gdn_json *gdn_json_at(const gdn_json *v, size_t i)
{
    if (i >= gdn_json_len(v))
        return NULL;
    return v->kind == GDN_JSON_ARRAY ? v->v.items[i] : v->v.items[2 * i + 1];
}

const char *gdn_json_key(const gdn_json *obj, size_t i)
{
    if (!obj || obj->kind != GDN_JSON_OBJECT || i >= obj->len)
        return NULL;
    return obj->v.items[2 * i]->v.str;
}

const gdn_json *gdn_json_get(const gdn_json *obj, const char *key)
{
    size_t n = strlen(key);

    if (!obj || obj->kind != GDN_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++) {
        const gdn_json *k = obj->v.items[2 * i];
        if (k->len == n && memcmp(k->v.str, key, n) == 0)
            return obj->v.items[2 * i + 1];
    }
    return NULL;
}

const char *gdn_json_string(const gdn_json *v, size_t *len)
{
    if (!v || v->kind != GDN_JSON_STRING)
        return NULL;
    if (len)
        *len = v->len;
    return v->v.str;
}

int gdn_json_bool(const gdn_json *v, int *out)
{
    if (!v || v->kind != GDN_JSON_BOOL)
        return gdn_error(GDN_EFORMAT, "JSON value is not a boolean");
    *out = v->flag;
    return 0;
}

int gdn_json_number(const gdn_json *v, double *out)
{
    if (!v || v->kind != GDN_JSON_NUMBER)
        return gdn_error(GDN_EFORMAT, "JSON value is not a number");
    *out = v->v.num.d;
    return 0;
}

int gdn_json_uint(const gdn_json *v, uint64_t *out)
{
    if (!v || v->kind != GDN_JSON_NUMBER || v->flag == NOT_UINT)
        return gdn_error(GDN_EFORMAT, "JSON value is not a non-negative integer");
    if (v->flag == UINT_TOO_BIG)
        return gdn_error(GDN_ERANGE, "JSON integer is larger than 2^53");
    *out = v->v.num.u;
    return 0;
}

int gdn_json_write_string(gdn_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s), i, k, run;
    size_t len0 = out->len;
    int rc = 0;

    for (i = 0; i < n; i += k)
        if (!(k = gdn_utf8_seq((const unsigned char *)s + i, n - i)))
            return gdn_error(GDN_EINVAL, "string is not valid UTF-8 (byte %zu)", i);
    rc = gdn_buf_append(out, "\"", 1);
    for (i = 0; i < n && !rc; i += run) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        for (run = 0; i + run < n && s[i + run] != '"' && s[i + run] != '\\' &&
                      (unsigned char)s[i + run] >= 0x20;)
            run++;
        if (run) {
            rc = gdn_buf_append(out, s + i, run);
            continue;
        }
        run = 1;
        esc[1] = c == '"'    ? '"'
                 : c == '\\' ? '\\'
                 : c == '\n' ? 'n'
                 : c == '\r' ? 'r'
                 : c == '\t' ? 't'
                 : c == '\b' ? 'b'
                 : c == '\f' ? 'f'
                             : 'u';
        rc = gdn_buf_append(out, esc, esc[1] == 'u' ? 6 : 2);
    }
    if (!rc)
        rc = gdn_buf_append(out, "\"", 1);
    if (rc)
        out->len = len0;
    return rc;
}
