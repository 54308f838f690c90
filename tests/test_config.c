/* core config files: the YAML subset read back exactly, and every refusal
 * (GDN_EFORMAT, or GDN_ERANGE for a limit) naming file:line:column. */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "harness.h"

static int parse_n(gdn_config **out, const char *text, size_t len)
{
    return gdn_config_parse(out, (const uint8_t *)text, len, "t.yaml");
}

static int parse(gdn_config **out, const char *text)
{
    return parse_n(out, text, strlen(text));
}

/* Parses text[0, len), expecting failure with `code` and a detail holding
 * want (which names the place: "t.yaml:LINE:COLUMN: ..."). */
static int rejects_n(const char *text, size_t len, int code, const char *want)
{
    gdn_config *c = (gdn_config *)&c; /* must come back NULL */
    int rc = parse_n(&c, text, len);

    gdn_config_free(c);
    if (rc != code || c != NULL || !strstr(gdn_errmsg(), want)) {
        fprintf(stderr, "    input \"%.60s\": rc %d, detail \"%s\", want \"%s\"\n",
                text, rc, gdn_errmsg(), want);
        return 0;
    }
    return 1;
}

static int rejects(const char *text, int code, const char *want)
{
    return rejects_n(text, strlen(text), code, want);
}

/* Entry i is key = value on line. */
static int entry_is(const gdn_config *c, size_t i, const char *key,
                    const char *value, unsigned line)
{
    const char *k = gdn_config_key(c, i), *v = gdn_config_value(c, i);

    if (!k || !v || strcmp(k, key) != 0 || strcmp(v, value) != 0 ||
        gdn_config_line(c, i) != line) {
        fprintf(stderr, "    entry %zu: %s = \"%s\" on line %u, want %s = \"%s\" on %u\n",
                i, k ? k : "(none)", v ? v : "(none)", gdn_config_line(c, i), key,
                value, line);
        return 0;
    }
    return 1;
}

static const char *tmp_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", gdn_test_tmpdir(), name);
    return buf;
}

GDN_TEST(config_typical_file)
{
    static const char text[] =
        "# guardian serve --config serve.yaml\n"
        "listen: 0.0.0.0      # every interface\n"
        "port: 7443\n"
        "rounds: 10\n"
        "lr: 1e-3\n"
        "'per-round': \"8\"\n"
        "strategy: 'fed''avg'\n"
        "model: \"mlp:784-128-10\"\n"
        "standardize: true\n"
        "\n"
        "owners:\n"
        "  - 3f2a9c\n"
        "  # a comment between items\n"
        "  - \"9b1c # not a comment\"\n"
        "data: [csv:a.csv, 'csv:b c.csv']\n"
        "note: \"tab\\there \\u00e9\"\n"
        "block: |\n"
        "  line one\n"
        "  line two\n"
        "out: runs/a b\n";
    char path[512];
    gdn_config *c;

    tmp_path(path, sizeof path, "serve.yaml");
    CHECK_OK(gdn_file_write_atomic(path, text, sizeof text - 1));
    CHECK_OK(gdn_config_read(&c, path));
    CHECK(strcmp(gdn_config_name(c), path) == 0);
    CHECK_EQ(gdn_config_count(c), 15);
    CHECK(entry_is(c, 0, "listen", "0.0.0.0", 2));
    CHECK(entry_is(c, 1, "port", "7443", 3));
    CHECK(entry_is(c, 2, "rounds", "10", 4));
    CHECK(entry_is(c, 3, "lr", "1e-3", 5));
    CHECK(entry_is(c, 4, "per-round", "8", 6));
    CHECK(entry_is(c, 5, "strategy", "fed'avg", 7));
    CHECK(entry_is(c, 6, "model", "mlp:784-128-10", 8));
    CHECK(entry_is(c, 7, "standardize", "true", 9));
    CHECK(entry_is(c, 8, "owners", "3f2a9c", 12));
    CHECK(entry_is(c, 9, "owners", "9b1c # not a comment", 14));
    CHECK(entry_is(c, 10, "data", "csv:a.csv", 15));
    CHECK(entry_is(c, 11, "data", "csv:b c.csv", 15));
    CHECK(entry_is(c, 12, "note", "tab\there \xc3\xa9", 16));
    CHECK(entry_is(c, 13, "block", "line one\nline two\n", 17));
    CHECK(entry_is(c, 14, "out", "runs/a b", 20));
    CHECK(gdn_config_key(c, 15) == NULL);
    CHECK(gdn_config_value(c, 15) == NULL);
    CHECK_EQ(gdn_config_line(c, 15), 0);
    gdn_config_free(c);
    gdn_config_free(NULL);
}

GDN_TEST(config_empty_and_quoted_values)
{
    static const char *const empty[] = {"", "# only a comment\n\n   # and another",
                                        "\n\n", "---\n", "---\n# nothing\n...\n"};
    gdn_config *c;

    for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
        CHECK_OK(parse(&c, empty[i]));
        CHECK_EQ(gdn_config_count(c), 0);
        CHECK(strcmp(gdn_config_name(c), "t.yaml") == 0);
        gdn_config_free(c);
    }
    /* Quoted, the null spellings are strings; "" is an empty string. */
    CHECK_OK(parse(&c, "a: \"\"\nb: '~'\nc: \"null\"\nd: false\n"));
    CHECK_EQ(gdn_config_count(c), 4);
    CHECK(entry_is(c, 0, "a", "", 1));
    CHECK(entry_is(c, 1, "b", "~", 2));
    CHECK(entry_is(c, 2, "c", "null", 3));
    CHECK(entry_is(c, 3, "d", "false", 4));
    gdn_config_free(c);
}

GDN_TEST(config_flow_mapping_and_limits_at_the_bound)
{
    char key[GDN_CONFIG_MAX_KEY_BYTES + 8];
    gdn_buf b = {0};
    gdn_config *c;

    CHECK_OK(parse(&c, "{a: 1, b-c_D9: \"x\"}"));
    CHECK_EQ(gdn_config_count(c), 2);
    CHECK(entry_is(c, 1, "b-c_D9", "x", 1));
    gdn_config_free(c);

    memset(key, 'k', GDN_CONFIG_MAX_KEY_BYTES);
    key[GDN_CONFIG_MAX_KEY_BYTES] = '\0';
    CHECK_OK(gdn_buf_printf(&b, "%s: ", key));
    for (int i = 0; i < GDN_CONFIG_MAX_VALUE_BYTES; i++)
        CHECK_OK(gdn_buf_append(&b, "v", 1));
    CHECK_OK(gdn_buf_append(&b, "\n", 1));
    for (int i = 1; i < GDN_CONFIG_MAX_ENTRIES; i++)
        CHECK_OK(gdn_buf_printf(&b, "k%d: %d\n", i, i));
    CHECK_OK(parse_n(&c, (const char *)b.data, b.len));
    gdn_buf_free(&b);
    CHECK_EQ(gdn_config_count(c), GDN_CONFIG_MAX_ENTRIES);
    CHECK_EQ(strlen(gdn_config_key(c, 0)), GDN_CONFIG_MAX_KEY_BYTES);
    CHECK_EQ(strlen(gdn_config_value(c, 0)), GDN_CONFIG_MAX_VALUE_BYTES);
    CHECK(entry_is(c, GDN_CONFIG_MAX_ENTRIES - 1, "k4095", "4095", 4096));
    gdn_config_free(c);
}

GDN_TEST(config_refuses_structure)
{
    CHECK(rejects("a: 1\nrounds: 2\nb: 3\nrounds: 4\n", GDN_EFORMAT,
                  "t.yaml:4:1: key 'rounds' appears twice (first on line 2)"));
    CHECK(rejects("{a: 1, rounds: 2, rounds: 3}", GDN_EFORMAT,
                  "t.yaml:1:19: key 'rounds' appears twice"));
    CHECK(rejects("owners:\n  - a\nowners: b\n", GDN_EFORMAT,
                  "t.yaml:3:1: key 'owners' appears twice"));
    CHECK(rejects("a: 1\nb: *x\n", GDN_EFORMAT, "t.yaml:2:4: alias '*x'"));
    CHECK(rejects("a: &x 1\nb: 2\n", GDN_EFORMAT, "t.yaml:1:4: anchor '&x'"));
    CHECK(rejects("&top\na: 1\n", GDN_EFORMAT, "t.yaml:1:1: anchor '&top'"));
    CHECK(rejects("a:\n  - &i 1\n", GDN_EFORMAT, "t.yaml:2:5: anchor '&i'"));
    CHECK(rejects("a: !!str 1\n", GDN_EFORMAT,
                  "t.yaml:1:4: tag 'tag:yaml.org,2002:str'"));
    CHECK(rejects("a: 1\nb: !local x\n", GDN_EFORMAT, "t.yaml:2:4: tag '!local'"));
    CHECK(rejects("!!map\na: 1\n", GDN_EFORMAT, "t.yaml:1:1: tag"));
    CHECK(rejects("a: 1\nb:\n  c: 2\n", GDN_EFORMAT,
                  "t.yaml:3:3: key 'b' holds a mapping"));
    CHECK(rejects("a: {c: 2}\n", GDN_EFORMAT, "t.yaml:1:4: key 'a' holds a mapping"));
    CHECK(rejects("a:\n  - 1\n  - [2, 3]\n", GDN_EFORMAT,
                  "t.yaml:3:5: an item of 'a' is a list or mapping"));
    CHECK(rejects("a:\n  - x: 1\n", GDN_EFORMAT,
                  "t.yaml:2:5: an item of 'a' is a list or mapping"));
    CHECK(rejects("a: 1\nb: []\n", GDN_EFORMAT, "t.yaml:2:4: key 'b' has an empty list"));
    CHECK(rejects("a: 1\n---\nb: 2\n", GDN_EFORMAT, "t.yaml:2:1: a second document"));
    CHECK(rejects("a: 1\n...\n---\nb: 2\n", GDN_EFORMAT, "t.yaml:3:1: a second document"));
    CHECK(rejects("a: 1\n---\n", GDN_EFORMAT, "t.yaml:2:1: a second document"));
    CHECK(rejects("- a\n- b\n", GDN_EFORMAT,
                  "t.yaml:1:1: the top level is not a mapping"));
    CHECK(rejects("\n\njust text\n", GDN_EFORMAT,
                  "t.yaml:3:1: the top level is not a mapping"));
    CHECK(rejects("~\n", GDN_EFORMAT, "t.yaml:1:1: the top level is not a mapping"));
    CHECK(rejects("? [a, b]\n: 1\n", GDN_EFORMAT, "t.yaml:1:3: a key must be a name"));
    CHECK(rejects("a: 1\nb: [1, 2\n", GDN_EFORMAT,
                  "t.yaml:3:1: did not find expected ',' or ']'"));
    CHECK(rejects("a: 1\n  b: 2\n", GDN_EFORMAT, "t.yaml:2:4: mapping values are not allowed"));
}

GDN_TEST(config_refuses_keys_and_values)
{
    char text[GDN_CONFIG_MAX_VALUE_BYTES + 64];
    size_t n;

    CHECK(rejects("a: 1\nx:\nb: 2\n", GDN_EFORMAT, "t.yaml:2:1: key 'x' has no value"));
    CHECK(rejects("x: ~\n", GDN_EFORMAT, "t.yaml:1:1: key 'x' has no value"));
    CHECK(rejects("x: null\n", GDN_EFORMAT, "t.yaml:1:1: key 'x' has no value"));
    CHECK(rejects("a:\n  - 1\n  -\n", GDN_EFORMAT, "t.yaml:3:4: an item of 'a' has no value"));
    CHECK(rejects("a: 1\nb c: 2\n", GDN_EFORMAT,
                  "t.yaml:2:1: key 'b c': a key is made of A-Z, a-z, 0-9, '_' and '-'"));
    CHECK(rejects("\"a.b\": 1\n", GDN_EFORMAT, "t.yaml:1:1: key 'a.b': a key is made of"));
    CHECK(rejects("\"\\u00e9\\n\": 1\n", GDN_EFORMAT,
                  "t.yaml:1:1: key '\\xc3\\xa9\\x0a': a key is made of"));
    CHECK(rejects("\"\": 1\n", GDN_EFORMAT, "t.yaml:1:1: empty key"));
    CHECK(rejects("1.5: 1\n", GDN_EFORMAT, "t.yaml:1:1: key '1.5'"));

    memset(text, 'k', GDN_CONFIG_MAX_KEY_BYTES + 1);
    memcpy(text + GDN_CONFIG_MAX_KEY_BYTES + 1, ": 1\n", 5);
    CHECK(rejects(text, GDN_ERANGE, "t.yaml:1:1: key 'kkkk"));
    CHECK(rejects(text, GDN_ERANGE, "...' is longer than 64 bytes"));

    n = (size_t)snprintf(text, sizeof text, "a: 1\nb: ");
    memset(text + n, 'v', GDN_CONFIG_MAX_VALUE_BYTES + 1);
    memcpy(text + n + GDN_CONFIG_MAX_VALUE_BYTES + 1, "\n", 2);
    CHECK(rejects(text, GDN_ERANGE, "t.yaml:2:4: value of 'b' is longer than 4096 bytes"));
    CHECK(rejects("a: \"x\\0y\"\n", GDN_EFORMAT, "t.yaml:1:4: value of 'a' contains a NUL"));
}

GDN_TEST(config_refuses_bad_text)
{
    CHECK(rejects("a: 1\nb: \xff\n", GDN_EFORMAT, "t.yaml:2:4: invalid UTF-8 (byte 0xff)"));
    CHECK(rejects("a: \xc3\xa9\xc0\xaf\n", GDN_EFORMAT, /* overlong '/' */
                  "t.yaml:1:5: invalid UTF-8 (byte 0xc0)"));
    CHECK(rejects("a: \xed\xa0\x80\n", GDN_EFORMAT, /* a surrogate */
                  "t.yaml:1:4: invalid UTF-8 (byte 0xed)"));
    CHECK(rejects("a: 1\nb: \xe2\x82", GDN_EFORMAT, "t.yaml:2:4: invalid UTF-8"));
    /* Lines end with "\n", "\r\n" or "\r", for libyaml and for these checks. */
    CHECK(rejects("a: 1\r\nb: \xff\r\n", GDN_EFORMAT, "t.yaml:2:4: invalid UTF-8"));
    CHECK(rejects("a: 1\rb: 2\rc: \xff\r", GDN_EFORMAT, "t.yaml:3:4: invalid UTF-8"));
    CHECK(rejects("a: 1\rb: 2\ra: 3\r", GDN_EFORMAT, "t.yaml:3:1: key 'a' appears twice"));
    CHECK(rejects_n("a: 1\nb: x\0y\n", 12, GDN_EFORMAT, "t.yaml:2:5: NUL byte"));
    CHECK(rejects("a: 1\nb: \x01\n", GDN_EFORMAT,
                  "t.yaml:2:4: control characters are not allowed (U+0001)"));
}

GDN_TEST(config_refuses_too_many_values)
{
    gdn_buf b = {0};
    int ok;

    for (int i = 0; i <= GDN_CONFIG_MAX_ENTRIES; i++)
        CHECK_OK(gdn_buf_printf(&b, "k%d: %d\n", i, i));
    CHECK_OK(gdn_buf_append(&b, "", 1));
    ok = rejects((const char *)b.data, GDN_ERANGE, "t.yaml:4097:8: more than 4096 values");
    b.len = 0;
    CHECK_OK(gdn_buf_printf(&b, "owners:\n"));
    for (int i = 0; i <= GDN_CONFIG_MAX_ENTRIES; i++)
        CHECK_OK(gdn_buf_printf(&b, "  - f%d\n", i));
    CHECK_OK(gdn_buf_append(&b, "", 1));
    ok = ok && rejects((const char *)b.data, GDN_ERANGE,
                       "t.yaml:4098:5: more than 4096 values");
    gdn_buf_free(&b);
    CHECK(ok);
}

GDN_TEST(config_read_file_limits)
{
    char path[512];
    uint8_t *big = malloc(GDN_CONFIG_MAX_BYTES + 1);
    gdn_config *c = NULL;
    int rc;

    CHECK(big);
    /* A file of comments exactly at the limit is an empty config. */
    memset(big, '#', GDN_CONFIG_MAX_BYTES + 1);
    for (size_t i = 79; i < GDN_CONFIG_MAX_BYTES; i += 80)
        big[i] = '\n';
    tmp_path(path, sizeof path, "limit.yaml");
    rc = gdn_file_write_atomic(path, big, GDN_CONFIG_MAX_BYTES);
    if (rc == 0 && (rc = gdn_config_read(&c, path)) == 0 && gdn_config_count(c) != 0)
        rc = GDN_EINTERNAL;
    gdn_config_free(c);
    c = (gdn_config *)&c;
    if (rc == 0) {
        tmp_path(path, sizeof path, "over.yaml");
        rc = gdn_file_write_atomic(path, big, GDN_CONFIG_MAX_BYTES + 1);
    }
    free(big);
    CHECK_OK(rc);
    CHECK_EQ(gdn_config_read(&c, path), GDN_ERANGE);
    CHECK(c == NULL);
    CHECK(strstr(gdn_errmsg(), "over.yaml: larger than the limit of 1048576 bytes"));
    CHECK_EQ(gdn_config_parse(&c, (const uint8_t *)"", GDN_CONFIG_MAX_BYTES + 1, "big"),
             GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "big: 1048577 bytes, larger than the limit"));

    tmp_path(path, sizeof path, "missing.yaml");
    CHECK_EQ(gdn_config_read(&c, path), GDN_EIO);
    CHECK(c == NULL && strstr(gdn_errmsg(), "missing.yaml"));
}
