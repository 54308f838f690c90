/* Guardian core: errors, allocation, byte buffers, randomness, logging, progress.
 *
 * Error convention (every module): a function that can fail returns int, 0 on
 * success or a negative GDN_E* code, and writes results through out-parameters.
 * A failing function may leave a human-readable detail ("train.csv:17: 31
 * columns, expected 30") in a per-thread buffer read with gdn_errmsg(). */
#ifndef GUARDIAN_CORE_H
#define GUARDIAN_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Errors ------------------------------------------------------------ */

enum {
    GDN_OK = 0,
    GDN_EINVAL = -1,   /* invalid argument or option */
    GDN_ENOMEM = -2,   /* out of memory */
    GDN_EIO = -3,      /* file or system I/O failed */
    GDN_EFORMAT = -4,  /* malformed input (file or message) */
    GDN_ERANGE = -5,   /* value or size outside its allowed range */
    GDN_ECRYPTO = -6,  /* cryptographic failure (bad tag, bad signature, ...) */
    GDN_ESTATE = -7,   /* call not valid in the object's current state */
    GDN_EINTR = -8,    /* interrupted by the user */
    GDN_EINTERNAL = -9 /* a bug: an internal invariant does not hold */
};

/* Short fixed description of an error code ("malformed input"). */
const char *gdn_strerror(int code);

/* Detail of the last error set on this thread, or "" when none. */
const char *gdn_errmsg(void);

/* Records a printf-style detail for this thread and returns `code`, so that
 * failing paths read `return gdn_error(GDN_EFORMAT, "%s:%zu: ...", ...);`. */
int gdn_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears this thread's error detail. */
void gdn_error_clear(void);

/* ---- Allocation --------------------------------------------------------- */

/* 64-byte aligned allocation for vectors used with SIMD and BLAS; size 0
 * returns a valid pointer. Free with gdn_free_aligned (accepts NULL). */
void *gdn_alloc_aligned(size_t size);
void gdn_free_aligned(void *p);

/* n * size with overflow check: 0 on success, GDN_ERANGE on overflow. */
int gdn_mul_size(size_t *out, size_t n, size_t size);

/* ---- Byte buffers ------------------------------------------------------- */

typedef struct gdn_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} gdn_buf; /* zero-initialise before use; owner calls gdn_buf_free */

int gdn_buf_reserve(gdn_buf *b, size_t extra);
int gdn_buf_append(gdn_buf *b, const void *p, size_t n);
int gdn_buf_printf(gdn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void gdn_buf_free(gdn_buf *b);

/* Explicit little-endian encoding (never casts of byte pointers). */
static inline void gdn_store_le32(uint8_t p[4], uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t gdn_load_le32(const uint8_t p[4])
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline void gdn_store_le64(uint8_t p[8], uint64_t v)
{
    gdn_store_le32(p, (uint32_t)v);
    gdn_store_le32(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t gdn_load_le64(const uint8_t p[8])
{
    return (uint64_t)gdn_load_le32(p) | (uint64_t)gdn_load_le32(p + 4) << 32;
}
static inline uint32_t gdn_load_be32(const uint8_t p[4])
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}
/* The low `bits` bits of x in reverse order (NTT index permutations). */
static inline size_t gdn_bit_reverse(size_t x, unsigned bits)
{
    size_t r = 0;
    for (unsigned i = 0; i < bits; i++)
        r |= ((x >> i) & 1) << (bits - 1 - i);
    return r;
}

/* Length of the UTF-8 sequence at s[0..n) (RFC 3629 §4), 0 when it is not
 * valid: overlong forms, surrogates and code points above U+10FFFF are not. */
size_t gdn_utf8_seq(const unsigned char *s, size_t n);

/* ---- Files -------------------------------------------------------------- */

/* Reads a whole file (at most max_bytes) into *out (caller frees). */
int gdn_file_read(gdn_buf *out, const char *path, size_t max_bytes);

/* Writes a file atomically: a temporary file beside it, fsync, rename. A
 * crash leaves either the old file or the new one, never a partial one. */
int gdn_file_write_atomic(const char *path, const void *data, size_t len);
/* The same with the file's permission bits (0600 for secrets), which it has
 * from its creation on. */
int gdn_file_write_atomic_mode(const char *path, const void *data, size_t len,
                               unsigned mode);

/* Creates a directory and its parents (like mkdir -p). */
int gdn_mkdir_p(const char *path);

/* ---- Randomness ---------------------------------------------------------
 * One generator type, a ChaCha20 keystream (RFC 8439, through libsodium):
 * keyed from the OS CSPRNG for secrets, or from a 64-bit seed for
 * reproducible experiments. Treat the fields as private. */

#define GDN_RNG_KEYBYTES 32
#define GDN_RNG_NONCEBYTES 12

typedef struct gdn_rng {
    uint8_t key[GDN_RNG_KEYBYTES];
    uint8_t nonce[GDN_RNG_NONCEBYTES];
    uint32_t counter;   /* next ChaCha20 block */
    uint32_t pos;       /* bytes of buf consumed */
    uint8_t buf[256];   /* keystream not yet used */
} gdn_rng;

/* Key from libsodium's randombytes (the OS CSPRNG). Must not fail silently:
 * returns GDN_ECRYPTO if libsodium cannot initialise. */
int gdn_rng_init_system(gdn_rng *rng);
/* Reproducible stream: key = BLAKE2b-256("guardian rng seed" || le64(seed)). */
void gdn_rng_init_seed(gdn_rng *rng, uint64_t seed);
/* Raw ChaCha20 keystream for an explicit key and nonce, block counter 0. */
void gdn_rng_init_key(gdn_rng *rng, const uint8_t key[GDN_RNG_KEYBYTES],
                      const uint8_t nonce[GDN_RNG_NONCEBYTES]);
/* Independent child stream `stream` of a parent: the child key is
 * BLAKE2b-256 keyed by the parent key of le64(stream). Parent unchanged. */
void gdn_rng_derive(gdn_rng *child, const gdn_rng *parent, uint64_t stream);

void gdn_rng_bytes(gdn_rng *rng, void *out, size_t n);
uint32_t gdn_rng_u32(gdn_rng *rng);
uint64_t gdn_rng_u64(gdn_rng *rng);
/* Uniform integer in [0, bound), unbiased (rejection); bound > 0. */
uint64_t gdn_rng_uniform(gdn_rng *rng, uint64_t bound);
/* Uniform float in [0, 1) with 24 random bits. */
float gdn_rng_float(gdn_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double gdn_rng_double(gdn_rng *rng);
/* Standard normal (polar Box-Muller). For experiments only: not for DP. */
double gdn_rng_normal(gdn_rng *rng);
/* Fisher-Yates shuffle of n indices. */
void gdn_rng_shuffle(gdn_rng *rng, uint32_t *idx, size_t n);
/* Wipes the generator state (sodium_memzero). */
void gdn_rng_wipe(gdn_rng *rng);

/* ---- Logging ------------------------------------------------------------ */

typedef enum { GDN_LOG_ERROR, GDN_LOG_WARN, GDN_LOG_INFO, GDN_LOG_DEBUG } gdn_log_level;

void gdn_log_set_level(gdn_log_level level);
gdn_log_level gdn_log_get_level(void);
/* Writes "[LEVEL] message" to stderr when level is enabled. */
void gdn_log(gdn_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- Progress ----------------------------------------------------------- */
/* On a terminal, one line redrawn in place with a bar, rate and ETA; when
 * stderr is not a TTY, a plain line at every 10% so logs stay readable. */

typedef struct gdn_progress {
    const char *label;
    uint64_t total, done;
    double t_start, t_last;
    int tty, last_decile;
    char suffix[96];
} gdn_progress;

void gdn_progress_start(gdn_progress *p, const char *label, uint64_t total);
/* Sets progress to `done` of total; suffix (may be NULL) is shown after the bar. */
void gdn_progress_update(gdn_progress *p, uint64_t done, const char *suffix);
void gdn_progress_end(gdn_progress *p);

/* Monotonic clock in seconds. */
double gdn_now(void);

/* ---- Vector level ------------------------------------------------------- */
/* One module's vector kernels; detect() returns the best level the CPU has
 * (0: portable C). gdn_simd_get caches it in *slot (-1 until first use;
 * detection is idempotent, so a race only repeats it), 0 when the
 * environment has GDN_NO_SIMD=1. gdn_simd_set clamps level to
 * [0, detect()], stores it and returns it (tests run every level). */
int gdn_simd_get(_Atomic int *slot, int (*detect)(void));
int gdn_simd_set(_Atomic int *slot, int (*detect)(void), int level);

/* ---- JSON (RFC 8259) ----------------------------------------------------
 * A strict parser into a read-only tree held in one arena: UTF-8 only, no
 * trailing commas or garbage, duplicate keys rejected, at most
 * GDN_JSON_MAX_DEPTH nested containers and GDN_JSON_MAX_NODES values. */

#define GDN_JSON_MAX_DEPTH 64
#define GDN_JSON_MAX_NODES 1000000

typedef struct gdn_json gdn_json; /* opaque */
typedef enum {
    GDN_JSON_NULL, GDN_JSON_BOOL, GDN_JSON_NUMBER, GDN_JSON_STRING,
    GDN_JSON_ARRAY, GDN_JSON_OBJECT
} gdn_json_kind;

/* Parses text[0, len) (no NUL needed) into *out. Errors read
 * "<name>: offset 117: expected ':', found '}'" (byte offset into text). */
int gdn_json_parse(gdn_json **out, const char *text, size_t len,
                   const char *name);
/* Frees a whole tree; takes the root from gdn_json_parse, or NULL. */
void gdn_json_free(gdn_json *root);

gdn_json_kind gdn_json_type(const gdn_json *v);
/* Byte offset of the value in the parsed text, for error messages. */
size_t gdn_json_offset(const gdn_json *v);
/* Number of elements of an array or members of an object; 0 otherwise. */
size_t gdn_json_len(const gdn_json *v);
/* Element i of an array, or the value of member i of an object (document
 * order); NULL when out of range or v is neither. */
const gdn_json *gdn_json_at(const gdn_json *v, size_t i);
/* Key of member i of an object, NUL-terminated; NULL when out of range. */
const char *gdn_json_key(const gdn_json *obj, size_t i);
/* Value of `key` in an object; NULL when absent or obj is not an object. */
const gdn_json *gdn_json_get(const gdn_json *obj, const char *key);
/* Decoded UTF-8 of a string, NUL-terminated; *len (may be NULL) excludes
 * the terminator and counts any \u0000. NULL when v is not a string. */
const char *gdn_json_string(const gdn_json *v, size_t *len);
/* A boolean as 0 or 1; GDN_EFORMAT when v is not a boolean. */
int gdn_json_bool(const gdn_json *v, int *out);
/* A number as the nearest double; GDN_EFORMAT when v is not a number. */
int gdn_json_number(const gdn_json *v, double *out);
/* A number written as a plain non-negative integer (no sign, fraction or
 * exponent): GDN_EFORMAT for any other value, GDN_ERANGE above 2^53. */
int gdn_json_uint(const gdn_json *v, uint64_t *out);

/* Appends s as a quoted JSON string, escaping '"', '\\' and control
 * characters; GDN_EINVAL (nothing appended) when s is not valid UTF-8. */
int gdn_json_write_string(gdn_buf *out, const char *s);

/* ---- Config files --------------------------------------------------------
 * A config file: a YAML mapping at the top level whose keys are option names
 * and whose values are scalars, or sequences of scalars (an option given
 * several times). Parsed by libyaml; anchors, aliases, tags other than the
 * plain ones (any explicit tag, "!!str" included), nested mappings, nested or
 * empty sequences, documents after the first, and duplicate keys are refused.
 * Errors name file:line:column and what is wrong ("serve.yaml:4:3: key
 * 'rounds' appears twice"): GDN_ERANGE when a limit below is exceeded,
 * GDN_EFORMAT for everything else, GDN_EIO when the file cannot be read.
 * Limits: file at most GDN_CONFIG_MAX_BYTES, at most GDN_CONFIG_MAX_ENTRIES
 * values, a key 1 to GDN_CONFIG_MAX_KEY_BYTES of [A-Za-z0-9_-], a value at
 * most GDN_CONFIG_MAX_VALUE_BYTES; the text is valid UTF-8 without NUL. */

#define GDN_CONFIG_MAX_BYTES (1u << 20)
#define GDN_CONFIG_MAX_ENTRIES 4096
#define GDN_CONFIG_MAX_KEY_BYTES 64
#define GDN_CONFIG_MAX_VALUE_BYTES 4096

typedef struct gdn_config gdn_config; /* opaque */

/* Reads and parses the file at path; a file over the limit is refused before
 * parsing. The name in errors and gdn_config_name is path. */
int gdn_config_read(gdn_config **out, const char *path);
/* Parses data[0, len) (no NUL needed); name is used in errors. An empty
 * text, one holding only comments, or a lone "---" is an empty config. */
int gdn_config_parse(gdn_config **out, const uint8_t *data, size_t len,
                     const char *name);
/* Values, in file order; a sequence gives one entry per item, all with its
 * key. Scalars are their text: "true", "10", "1e-3", a quoted string's
 * content. A null value ("key:" with nothing, "~", "null") is refused. */
size_t gdn_config_count(const gdn_config *c);
/* Key and value of entry i, NUL-terminated; NULL when i is out of range. */
const char *gdn_config_key(const gdn_config *c, size_t i);
const char *gdn_config_value(const gdn_config *c, size_t i);
/* 1-based line of entry i's value; 0 when i is out of range. */
unsigned gdn_config_line(const gdn_config *c, size_t i);
/* The file name given to gdn_config_read or gdn_config_parse. */
const char *gdn_config_name(const gdn_config *c);
void gdn_config_free(gdn_config *c); /* accepts NULL */

#endif
