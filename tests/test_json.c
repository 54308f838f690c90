/* core JSON: a strict RFC 8259 parser and the string writer. */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "harness.h"

static int parse(gdn_json **out, const char *text)
{
    return gdn_json_parse(out, text, strlen(text), "t.json");
}

/* Parses text, expecting failure with `code` and a detail containing want. */
static int rejects(const char *text, int code, const char *want)
{
    gdn_json *j = NULL;
    int rc = parse(&j, text);

    gdn_json_free(j);
    if (rc != code || j != NULL || !strstr(gdn_errmsg(), want)) {
        fprintf(stderr, "    input %s: rc %d, detail \"%s\", want \"%s\"\n",
                text, rc, gdn_errmsg(), want);
        return 0;
    }
    return 1;
}

GDN_TEST(json_nested_document)
{
    const char *text = " {\"a\": [1, 2.5, {\"b\": null}], \"c\": true,\n"
                       "\t\"d\": false, \"e\": {}, \"f\": [], \"g\": \"x\"} ";
    const gdn_json *a, *b;
    gdn_json *j;
    double d;
    uint64_t u;
    int flag;

    CHECK_OK(parse(&j, text));
    CHECK_EQ(gdn_json_type(j), GDN_JSON_OBJECT);
    CHECK_EQ(gdn_json_len(j), 6);
    CHECK(strcmp(gdn_json_key(j, 0), "a") == 0);
    CHECK(strcmp(gdn_json_key(j, 5), "g") == 0);
    CHECK(gdn_json_key(j, 6) == NULL);
    a = gdn_json_get(j, "a");
    CHECK(a && gdn_json_type(a) == GDN_JSON_ARRAY && gdn_json_len(a) == 3);
    CHECK(gdn_json_at(j, 0) == a);
    CHECK_EQ(gdn_json_offset(a), 7);
    CHECK_OK(gdn_json_uint(gdn_json_at(a, 0), &u));
    CHECK_EQ(u, 1);
    CHECK_OK(gdn_json_number(gdn_json_at(a, 1), &d));
    CHECK(d == 2.5);
    CHECK_EQ(gdn_json_uint(gdn_json_at(a, 1), &u), GDN_EFORMAT);
    CHECK(gdn_json_at(a, 3) == NULL);
    b = gdn_json_get(gdn_json_at(a, 2), "b");
    CHECK(b && gdn_json_type(b) == GDN_JSON_NULL);
    CHECK_OK(gdn_json_bool(gdn_json_get(j, "c"), &flag));
    CHECK_EQ(flag, 1);
    CHECK_OK(gdn_json_bool(gdn_json_get(j, "d"), &flag));
    CHECK_EQ(flag, 0);
    CHECK_EQ(gdn_json_bool(gdn_json_get(j, "g"), &flag), GDN_EFORMAT);
    CHECK_EQ(gdn_json_len(gdn_json_get(j, "e")), 0);
    CHECK_EQ(gdn_json_type(gdn_json_get(j, "f")), GDN_JSON_ARRAY);
    CHECK_EQ(gdn_json_len(gdn_json_get(j, "f")), 0);
    CHECK(strcmp(gdn_json_string(gdn_json_get(j, "g"), NULL), "x") == 0);
    CHECK(gdn_json_get(j, "zz") == NULL);
    CHECK(gdn_json_get(a, "a") == NULL);
    CHECK(gdn_json_string(a, NULL) == NULL);
    CHECK_EQ(gdn_json_number(a, &d), GDN_EFORMAT);
    gdn_json_free(j);
    gdn_json_free(NULL);

    /* Scalars are documents too, and the text needs no NUL. */
    CHECK_OK(gdn_json_parse(&j, "42xyz", 2, "t"));
    CHECK_OK(gdn_json_uint(j, &u));
    CHECK_EQ(u, 42);
    gdn_json_free(j);
}

GDN_TEST(json_string_escapes)
{
    /* \u00e9 is é (C3 A9); \ud83d\ude00 is U+1F600 (F0 9F 98 80). */
    const char *text = "[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u00E9\", "
                       "\"\\ud83d\\ude00\", \"x\\u0000y\", \"\xc3\xa9\xe2\x82\xac\"]";
    gdn_json *j;
    size_t len;
    const char *s;

    CHECK_OK(parse(&j, text));
    s = gdn_json_string(gdn_json_at(j, 0), &len);
    CHECK(s && len == 12 && memcmp(s, "a\"b\\c/d\b\f\n\r\t", 13) == 0);
    s = gdn_json_string(gdn_json_at(j, 1), &len);
    CHECK(len == 4 && memcmp(s, "\xc3\xa9\xc3\xa9", 5) == 0);
    s = gdn_json_string(gdn_json_at(j, 2), &len);
    CHECK(len == 4 && memcmp(s, "\xf0\x9f\x98\x80", 5) == 0);
    s = gdn_json_string(gdn_json_at(j, 3), &len);
    CHECK(len == 3 && memcmp(s, "x\0y", 4) == 0);
    s = gdn_json_string(gdn_json_at(j, 4), &len);
    CHECK(len == 5 && strcmp(s, "\xc3\xa9\xe2\x82\xac") == 0);
    gdn_json_free(j);

    /* A key with an embedded NUL does not match its C-string prefix. */
    CHECK_OK(parse(&j, "{\"a\\u0000b\": 1, \"a\": 2}"));
    CHECK(gdn_json_get(j, "a") == gdn_json_at(j, 1));
    gdn_json_free(j);
}

GDN_TEST(json_numbers)
{
    static const struct {
        const char *text;
        double value;
    } cases[] = {
        {"0", 0},       {"-0", -0.0},           {"1e-3", 1e-3},
        {"-12.5E+2", -1250}, {"123456789012", 123456789012.0},
        {"0.1", 0.1},   {"1E2", 100},           {"2.5e-400", 0},
    };
    gdn_json *j;
    double d;
    uint64_t u;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_OK(parse(&j, cases[i].text));
        CHECK_OK(gdn_json_number(j, &d));
        CHECK_MSG(d == cases[i].value, "%s: %.17g", cases[i].text, d);
        gdn_json_free(j);
    }
    CHECK_OK(parse(&j, "-0"));
    CHECK_OK(gdn_json_number(j, &d));
    CHECK(signbit(d));
    CHECK_EQ(gdn_json_uint(j, &u), GDN_EFORMAT); /* has a sign */
    gdn_json_free(j);

    CHECK_OK(parse(&j, "[123456789012, 9007199254740992, 9007199254740993, "
                       "99999999999999999999999, 1e3, 1.0, 0]"));
    CHECK_OK(gdn_json_uint(gdn_json_at(j, 0), &u));
    CHECK(u == 123456789012ULL);
    CHECK_OK(gdn_json_uint(gdn_json_at(j, 1), &u));
    CHECK(u == (1ULL << 53));
    CHECK_EQ(gdn_json_uint(gdn_json_at(j, 2), &u), GDN_ERANGE);
    CHECK_EQ(gdn_json_uint(gdn_json_at(j, 3), &u), GDN_ERANGE);
    CHECK_EQ(gdn_json_uint(gdn_json_at(j, 4), &u), GDN_EFORMAT);
    CHECK_EQ(gdn_json_uint(gdn_json_at(j, 5), &u), GDN_EFORMAT);
    CHECK_OK(gdn_json_uint(gdn_json_at(j, 6), &u));
    CHECK_EQ(u, 0);
    gdn_json_free(j);

    /* A number longer than the parser's stack buffer. */
    char longnum[200];
    memset(longnum, '1', sizeof longnum - 1);
    longnum[sizeof longnum - 1] = '\0';
    CHECK_OK(parse(&j, longnum));
    CHECK_OK(gdn_json_number(j, &d));
    CHECK(d > 1.1e198 && d < 1.2e198);
    gdn_json_free(j);
}

GDN_TEST(json_rejects_malformed)
{
    CHECK(rejects("", GDN_EFORMAT, "t.json: offset 0: expected a value, found end of input"));
    CHECK(rejects("[1,2,]", GDN_EFORMAT, "offset 5: expected a value, found ']'"));
    CHECK(rejects("{\"a\":1,}", GDN_EFORMAT, "offset 7: expected a string key"));
    CHECK(rejects("{a:1}", GDN_EFORMAT, "offset 1: expected a string key, found 'a'"));
    CHECK(rejects("{\"a\" 1}", GDN_EFORMAT, "offset 5: expected ':', found '1'"));
    CHECK(rejects("{\"a\":1 \"b\":2}", GDN_EFORMAT, "expected ',' or '}'"));
    CHECK(rejects("[1 2]", GDN_EFORMAT, "offset 3: expected ',' or ']'"));
    CHECK(rejects("{} x", GDN_EFORMAT, "offset 3: expected end of input, found 'x'"));
    CHECK(rejects("[1]]", GDN_EFORMAT, "expected end of input"));
    CHECK(rejects("\"abc", GDN_EFORMAT, "unterminated string"));
    CHECK(rejects("\"abc\\\"", GDN_EFORMAT, "unterminated string"));
    CHECK(rejects("[\"a\nb\"]", GDN_EFORMAT, "offset 3: control character"));
    CHECK(rejects("\"\\x\"", GDN_EFORMAT, "invalid escape"));
    CHECK(rejects("\"\\u12g4\"", GDN_EFORMAT, "offset 5: expected four hex digits after \\u, found 'g'"));
    CHECK(rejects("\"\\u12\"", GDN_EFORMAT, "offset 5: expected four hex digits after \\u, found '\"'"));
    CHECK(rejects("\"\\ud83d\"", GDN_EFORMAT, "offset 1: lone high surrogate in \\u escape"));
    CHECK(rejects("\"\\ud83dx\\ude00\"", GDN_EFORMAT, "lone high surrogate"));
    CHECK(rejects("\"\\ud83d\\u0041\"", GDN_EFORMAT, "lone high surrogate"));
    CHECK(rejects("\"\\ude00\"", GDN_EFORMAT, "lone low surrogate"));
    CHECK(rejects("{\"a\":1,\"b\":2,\"a\":3}", GDN_EFORMAT, "offset 13: duplicate key \"a\""));
    CHECK(rejects("{\"\\u0061\":1,\"a\":2}", GDN_EFORMAT, "duplicate key"));
    CHECK(rejects("01", GDN_EFORMAT, "expected end of input"));
    CHECK(rejects("-", GDN_EFORMAT, "expected a digit"));
    CHECK(rejects("1.", GDN_EFORMAT, "expected a digit after '.'"));
    CHECK(rejects(".5", GDN_EFORMAT, "expected a value"));
    CHECK(rejects("1e", GDN_EFORMAT, "exponent"));
    CHECK(rejects("+1", GDN_EFORMAT, "expected a value, found '+'"));
    CHECK(rejects("1e999", GDN_ERANGE, "number out of range"));
    CHECK(rejects("NaN", GDN_EFORMAT, "expected a value"));
    CHECK(rejects("tru", GDN_EFORMAT, "expected a value"));
    CHECK(rejects("nulll", GDN_EFORMAT, "expected end of input"));
    CHECK(rejects("'a'", GDN_EFORMAT, "found '''"));
    CHECK(rejects("\xef\xbb\xbf{}", GDN_EFORMAT, "found byte 0xef"));
    /* Invalid UTF-8: a lone continuation, an overlong '/', an encoded
     * surrogate, a code point above U+10FFFF, a truncated sequence. */
    CHECK(rejects("\"\x80\"", GDN_EFORMAT, "invalid UTF-8"));
    CHECK(rejects("\"\xc0\xaf\"", GDN_EFORMAT, "invalid UTF-8"));
    CHECK(rejects("\"\xe0\x80\xaf\"", GDN_EFORMAT, "invalid UTF-8"));
    CHECK(rejects("\"\xed\xa0\x80\"", GDN_EFORMAT, "invalid UTF-8"));
    CHECK(rejects("\"\xf4\x90\x80\x80\"", GDN_EFORMAT, "invalid UTF-8"));
    CHECK(rejects("\"\xe2\x82\"", GDN_EFORMAT, "invalid UTF-8"));

    /* A NUL byte inside the given length is not the end of the text. */
    gdn_json *j = NULL;
    CHECK_EQ(gdn_json_parse(&j, "[1]\0", 4, "t"), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "found byte 0x00"));
    CHECK_EQ(gdn_json_parse(&j, "\"a\0\"", 4, "t"), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "control character"));
}

GDN_TEST(json_limits)
{
    char deep[2 * 65 + 1];
    gdn_json *j;

    for (int d = 64; d <= 65; d++) {
        memset(deep, '[', (size_t)d);
        memset(deep + d, ']', (size_t)d);
        deep[2 * d] = '\0';
        if (d == 64) {
            CHECK_OK(parse(&j, deep));
            gdn_json_free(j);
        } else {
            CHECK(rejects(deep, GDN_ERANGE, "nested deeper than 64"));
        }
    }

    /* GDN_JSON_MAX_NODES values parse; one more does not. */
    size_t n = GDN_JSON_MAX_NODES - 1, len = 2 * n + 1;
    char *big = malloc(len + 3);
    CHECK(big);
    big[0] = '[';
    for (size_t i = 0; i < n; i++) {
        big[1 + 2 * i] = '0';
        big[2 + 2 * i] = ',';
    }
    big[len - 1] = ']';
    CHECK_OK(gdn_json_parse(&j, big, len, "big"));
    CHECK_EQ(gdn_json_len(j), n);
    gdn_json_free(j);
    big[len - 1] = ',';
    big[len] = '0';
    big[len + 1] = ']';
    CHECK_EQ(gdn_json_parse(&j, big, len + 2, "big"), GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "more than 1000000 values"));
    free(big);

    /* Many keys: the duplicate check must not be quadratic. */
    gdn_buf b = {0};
    double t0 = gdn_now();
    CHECK_OK(gdn_buf_append(&b, "{", 1));
    for (int i = 0; i < 200000; i++)
        CHECK_OK(gdn_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i));
    CHECK_OK(gdn_buf_append(&b, "}", 1));
    CHECK_OK(gdn_json_parse(&j, (const char *)b.data, b.len, "keys"));
    CHECK_EQ(gdn_json_len(j), 200000);
    gdn_json_free(j);
    CHECK(gdn_now() - t0 < 5.0);
    gdn_buf_free(&b);
}

GDN_TEST(json_write_string)
{
    gdn_buf b = {0};
    gdn_json *j;
    const char *s = "q\"b\\s/\n\r\t\b\f\x01\x1f\xc3\xa9 \xf0\x9f\x98\x80";
    size_t len;

    CHECK_OK(gdn_json_write_string(&b, s));
    CHECK_EQ(b.len, strlen("\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\xc3\xa9 "
                           "\xf0\x9f\x98\x80\""));
    CHECK(memcmp(b.data,
                 "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f\xc3\xa9 "
                 "\xf0\x9f\x98\x80\"", b.len) == 0);
    /* What the writer writes, the parser reads back. */
    CHECK_OK(gdn_json_parse(&j, (const char *)b.data, b.len, "w"));
    CHECK(strcmp(gdn_json_string(j, &len), s) == 0);
    gdn_json_free(j);

    b.len = 0;
    CHECK_OK(gdn_json_write_string(&b, ""));
    CHECK(b.len == 2 && memcmp(b.data, "\"\"", 2) == 0);
    CHECK_EQ(gdn_json_write_string(&b, "ok\xff"), GDN_EINVAL);
    CHECK_EQ(gdn_json_write_string(&b, "\xed\xa0\x80"), GDN_EINVAL);
    CHECK_EQ(b.len, 2);
    gdn_buf_free(&b);
}
