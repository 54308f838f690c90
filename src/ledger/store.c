/* The ledger on disk: one SQLite file in WAL mode with synchronous=FULL, so
 * that a commit is on stable storage when it returns and a crash at any
 * point (kill -9, power loss) leaves the last committed state. Entries and
 * heads are staged in one open transaction and made durable together by
 * gdn_ledger_store_commit: batching many appends per commit is what makes
 * durable appends fast (one WAL fsync per batch).
 *
 * Tables: meta(key, value) holds the format version and the log id;
 * entries(idx, leaf_hash, data); heads(id, size, head) with the canonical
 * 145-byte encoding; cosigs(head_id, client, cosig). Every blob read back
 * is checked for type and length before it is used. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ledger/ledger_internal.h"

#define STORE_FORMAT 1

typedef unsigned long long ull;

struct gdn_ledger_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *ins_entry, *ins_head, *ins_cosig, *get_entry, *get_head;
    gdn_ledger_tree *tree;
    ledger_sha sha;
    uint8_t log_id[32];
    int in_tx;
    uint64_t committed_size, heads, committed_heads;
    gdn_ledger_head last, committed_last;
    int have_last, committed_have_last;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY,"
    " leaf_hash BLOB NOT NULL, data BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS heads(id INTEGER PRIMARY KEY,"
    " size INTEGER NOT NULL, head BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cosigs(head_id INTEGER NOT NULL,"
    " client BLOB NOT NULL, cosig BLOB NOT NULL,"
    " PRIMARY KEY(head_id, client));";

/* ---- small SQLite helpers ----------------------------------------------- */

static int db_error(sqlite3 *db, const char *path, const char *what)
{
    return gdn_error(GDN_EIO, "%s: %s: %s", path, what,
                     db ? sqlite3_errmsg(db) : "cannot allocate a connection");
}

static int exec(sqlite3 *db, const char *path, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(db, path, sql);
    return 0;
}

static int prepare(sqlite3 *db, const char *path, sqlite3_stmt **st,
                   const char *sql)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return db_error(db, path, sql);
    return 0;
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* A blob column of exactly `want` bytes (or at most `max` when want is 0). */
static int column_blob(const uint8_t **out, size_t *len, sqlite3_stmt *st,
                       int col, size_t want, size_t max, const char *what)
{
    int n;

    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(st, col) != SQLITE_BLOB)
        return gdn_error(GDN_EFORMAT, "%s is not a blob", what);
    *out = sqlite3_column_blob(st, col);
    n = sqlite3_column_bytes(st, col);
    if (n < 0 || (want && (size_t)n != want) || (!want && (size_t)n > max))
        return gdn_error(GDN_EFORMAT, "%s is %d bytes, expected %s%zu", what,
                         n, want ? "" : "at most ", want ? want : max);
    *len = (size_t)n;
    return 0;
}

/* PRAGMA journal_mode=WAL answers with the mode now in force. */
static int set_wal(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st;
    int ok;

    if (prepare(db, path, &st, "PRAGMA journal_mode=WAL"))
        return GDN_EIO;
    ok = sqlite3_step(st) == SQLITE_ROW &&
         sqlite3_column_type(st, 0) == SQLITE_TEXT &&
         strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!ok)
        return gdn_error(GDN_EIO, "%s: cannot switch to WAL mode", path);
    return 0;
}

/* Reads meta: the format must be ours, the log id 32 bytes; *found = 0 when
 * the file has no log id yet. */
static int read_meta(sqlite3 *db, const char *path, uint8_t log_id[32],
                     int *found)
{
    sqlite3_stmt *st;
    const uint8_t *p;
    size_t len;
    int rc = 0, step;

    *found = 0;
    if (prepare(db, path, &st, "SELECT key, value FROM meta"))
        return GDN_EIO;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (!key)
            continue;
        if (strcmp(key, "format") == 0) {
            if (sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
                sqlite3_column_int64(st, 1) != STORE_FORMAT) {
                rc = gdn_error(GDN_EFORMAT,
                               "%s: ledger format %lld is not supported (this "
                               "build reads %d)", path,
                               (long long)sqlite3_column_int64(st, 1),
                               STORE_FORMAT);
                break;
            }
        } else if (strcmp(key, "log_id") == 0) {
            if ((rc = column_blob(&p, &len, st, 1, 32, 0, "log id"))) {
                rc = gdn_error(rc, "%s: meta: %s", path, gdn_errmsg());
                break;
            }
            memcpy(log_id, p, 32);
            *found = 1;
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_error(db, path, "reading meta");
    sqlite3_finalize(st);
    return rc;
}

/* ---- opening: rebuild and check ----------------------------------------- */

static int load_entries(gdn_ledger_store *s)
{
    sqlite3_stmt *st;
    const uint8_t *leaf, *data;
    size_t leaf_len, len;
    uint8_t h[GDN_LEDGER_HASH_BYTES];
    uint64_t expect = 0;
    int rc = 0, step;

    if (prepare(s->db, s->path, &st,
                "SELECT idx, leaf_hash, data FROM entries ORDER BY idx"))
        return GDN_EIO;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
            (uint64_t)sqlite3_column_int64(st, 0) != expect) {
            rc = gdn_error(GDN_EFORMAT,
                           "%s: entry %llu is missing (next stored index: "
                           "%lld)", s->path, (ull)expect,
                           (long long)sqlite3_column_int64(st, 0));
            break;
        }
        if ((rc = column_blob(&leaf, &leaf_len, st, 1, 32, 0, "leaf hash")) ||
            (rc = column_blob(&data, &len, st, 2, 0,
                              GDN_LEDGER_MAX_ENTRY_BYTES, "entry")) ||
            (rc = gdn_ledger_entry_check(data, len))) {
            rc = gdn_error(rc, "%s: entry %llu: %s", s->path, (ull)expect,
                           gdn_errmsg());
            break;
        }
        ledger_sha_leaf(&s->sha, h, data, len);
        if (memcmp(h, leaf, sizeof h) != 0) {
            rc = gdn_error(GDN_ECRYPTO,
                           "%s: entry %llu: the stored leaf hash is not the "
                           "hash of the entry", s->path, (ull)expect);
            break;
        }
        if ((rc = gdn_ledger_tree_append(s->tree, h)))
            break;
        expect++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_error(s->db, s->path, "reading entries");
    sqlite3_finalize(st);
    return rc;
}

static int load_heads(gdn_ledger_store *s)
{
    sqlite3_stmt *st;
    const uint8_t *p;
    size_t len;
    uint8_t root[GDN_LEDGER_HASH_BYTES];
    int rc = 0, step;

    if (prepare(s->db, s->path, &st, "SELECT id, head FROM heads ORDER BY id"))
        return GDN_EIO;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_INTEGER ||
            (uint64_t)sqlite3_column_int64(st, 0) != s->heads) {
            rc = gdn_error(GDN_EFORMAT, "%s: head %llu is missing", s->path,
                           (ull)s->heads);
            break;
        }
        if ((rc = column_blob(&p, &len, st, 1, GDN_LEDGER_HEAD_BYTES, 0,
                              "head")) ||
            (rc = gdn_ledger_head_decode(&s->last, p, len))) {
            rc = gdn_error(rc, "%s: head %llu: %s", s->path, (ull)s->heads,
                           gdn_errmsg());
            break;
        }
        s->have_last = 1;
        s->heads++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_error(s->db, s->path, "reading heads");
    sqlite3_finalize(st);
    if (rc || !s->have_last)
        return rc;
    /* The latest head must describe the entries we rebuilt; the full check
     * of every head is gdn_ledger_audit_file's. */
    if (memcmp(s->last.log_id, s->log_id, 32) != 0 ||
        s->last.size > gdn_ledger_tree_size(s->tree) ||
        gdn_ledger_tree_root(root, s->tree, s->last.size) != 0 ||
        memcmp(root, s->last.root, sizeof root) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "%s: the latest head (size %llu) does not match the "
                         "%llu stored entries; run an audit", s->path,
                         (ull)s->last.size,
                         (ull)gdn_ledger_tree_size(s->tree));
    return 0;
}

static int init_meta(gdn_ledger_store *s, const uint8_t log_id[32])
{
    sqlite3_stmt *st;
    uint8_t stored[32];
    int found, rc;

    if ((rc = exec(s->db, s->path, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = exec(s->db, s->path, schema)) ||
        (rc = read_meta(s->db, s->path, stored, &found)))
        goto fail;
    if (found) {
        if (log_id && memcmp(log_id, stored, 32) != 0) {
            rc = gdn_error(GDN_EINVAL,
                           "%s: the ledger has another log id than the one "
                           "given", s->path);
            goto fail;
        }
        memcpy(s->log_id, stored, 32);
        return exec(s->db, s->path, "COMMIT");
    }
    if (!log_id) {
        rc = gdn_error(GDN_EINVAL, "%s: a new ledger needs a log id", s->path);
        goto fail;
    }
    memcpy(s->log_id, log_id, 32);
    if ((rc = prepare(s->db, s->path, &st,
                      "INSERT INTO meta(key, value) VALUES('format', ?1),"
                      " ('log_id', ?2)")))
        goto fail;
    sqlite3_bind_int(st, 1, STORE_FORMAT);
    sqlite3_bind_blob(st, 2, log_id, 32, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(s->db, s->path, "writing meta");
    sqlite3_finalize(st);
    if (rc)
        goto fail;
    return exec(s->db, s->path, "COMMIT");
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int gdn_ledger_store_open(gdn_ledger_store **out, const char *path,
                          const uint8_t log_id[32])
{
    gdn_ledger_store *s;
    size_t n;
    int rc;

    if (!out || !path)
        return gdn_error(GDN_EINVAL, "ledger store open: bad arguments");
    *out = NULL;
    if (!(s = calloc(1, sizeof *s)))
        return gdn_error(GDN_ENOMEM, "ledger store: out of memory");
    n = strlen(path) + 1;
    if (!(s->path = malloc(n))) {
        free(s);
        return gdn_error(GDN_ENOMEM, "ledger store: out of memory");
    }
    memcpy(s->path, path, n);
    ledger_sha_init(&s->sha);
    if ((rc = gdn_ledger_tree_new(&s->tree)))
        goto fail;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_error(s->db, path, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = set_wal(s->db, path)) ||
        (rc = exec(s->db, path, "PRAGMA synchronous=FULL")) ||
        (rc = init_meta(s, log_id)) || (rc = load_entries(s)) ||
        (rc = load_heads(s)))
        goto fail;
    if ((rc = prepare(s->db, path, &s->ins_entry,
                      "INSERT INTO entries(idx, leaf_hash, data)"
                      " VALUES(?,?,?)")) ||
        (rc = prepare(s->db, path, &s->ins_head,
                      "INSERT INTO heads(id, size, head) VALUES(?,?,?)")) ||
        (rc = prepare(s->db, path, &s->ins_cosig,
                      "INSERT OR IGNORE INTO cosigs(head_id, client, cosig)"
                      " VALUES(?,?,?)")) ||
        (rc = prepare(s->db, path, &s->get_entry,
                      "SELECT data FROM entries WHERE idx=?")) ||
        (rc = prepare(s->db, path, &s->get_head,
                      "SELECT head FROM heads WHERE id=?")))
        goto fail;
    s->committed_size = gdn_ledger_tree_size(s->tree);
    s->committed_heads = s->heads;
    s->committed_last = s->last;
    s->committed_have_last = s->have_last;
    *out = s;
    return 0;
fail:
    gdn_ledger_store_close(s);
    return rc;
}

void gdn_ledger_store_close(gdn_ledger_store *s)
{
    if (!s)
        return;
    if (s->in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(s->ins_entry);
    sqlite3_finalize(s->ins_head);
    sqlite3_finalize(s->ins_cosig);
    sqlite3_finalize(s->get_entry);
    sqlite3_finalize(s->get_head);
    sqlite3_close(s->db);
    gdn_ledger_tree_free(s->tree);
    ledger_sha_free(&s->sha);
    free(s->path);
    free(s);
}

/* ---- writing ------------------------------------------------------------ */

/* Forgets everything staged: the database rolls back, the tree and the head
 * sequence return to the last commit. */
static void discard(gdn_ledger_store *s)
{
    if (s->in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_tx = 0;
    gdn_ledger_tree_truncate(s->tree, s->committed_size);
    s->heads = s->committed_heads;
    s->last = s->committed_last;
    s->have_last = s->committed_have_last;
}

/* A database error while staging: discard and report. */
static int staging_failed(gdn_ledger_store *s, const char *what)
{
    char msg[256];

    snprintf(msg, sizeof msg, "%s", sqlite3_errmsg(s->db));
    discard(s);
    return gdn_error(GDN_EIO,
                     "%s: %s: %s (entries and heads staged since the last "
                     "commit were discarded)", s->path, what, msg);
}

static int begin(gdn_ledger_store *s)
{
    if (s->in_tx)
        return 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s->db, s->path, "BEGIN");
    s->in_tx = 1;
    return 0;
}

int gdn_ledger_store_append(gdn_ledger_store *s, uint64_t *index,
                            const uint8_t *entry, size_t len)
{
    uint8_t h[GDN_LEDGER_HASH_BYTES];
    uint64_t idx;
    int rc;

    if (!s || (!entry && len))
        return gdn_error(GDN_EINVAL, "ledger store append: bad arguments");
    if ((rc = gdn_ledger_entry_check(entry, len)))
        return rc;
    idx = gdn_ledger_tree_size(s->tree);
    if (idx >= (uint64_t)INT64_MAX)
        return gdn_error(GDN_ERANGE, "%s: ledger is full", s->path);
    ledger_sha_leaf(&s->sha, h, entry, len);
    if ((rc = begin(s)) || (rc = gdn_ledger_tree_append(s->tree, h)))
        return rc;
    sqlite3_bind_int64(s->ins_entry, 1, (sqlite3_int64)idx);
    sqlite3_bind_blob(s->ins_entry, 2, h, sizeof h, SQLITE_STATIC);
    sqlite3_bind_blob(s->ins_entry, 3, entry, (int)len, SQLITE_STATIC);
    rc = sqlite3_step(s->ins_entry);
    done(s->ins_entry);
    if (rc != SQLITE_DONE)
        return staging_failed(s, "append");
    if (index)
        *index = idx;
    return 0;
}

int gdn_ledger_store_commit(gdn_ledger_store *s)
{
    if (!s)
        return gdn_error(GDN_EINVAL, "ledger store commit: store is NULL");
    if (!s->in_tx)
        return 0;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        return staging_failed(s, "commit");
    s->in_tx = 0;
    s->committed_size = gdn_ledger_tree_size(s->tree);
    s->committed_heads = s->heads;
    s->committed_last = s->last;
    s->committed_have_last = s->have_last;
    return 0;
}

int gdn_ledger_store_rollback(gdn_ledger_store *s)
{
    if (!s)
        return gdn_error(GDN_EINVAL, "ledger store rollback: store is NULL");
    discard(s);
    return 0;
}

int gdn_ledger_store_put_head(gdn_ledger_store *s, uint64_t *head_id,
                              const gdn_ledger_head *h)
{
    uint8_t root[GDN_LEDGER_HASH_BYTES], enc[GDN_LEDGER_HEAD_BYTES];
    int rc;

    if (!s || !h)
        return gdn_error(GDN_EINVAL, "ledger store put head: bad arguments");
    if (memcmp(h->log_id, s->log_id, 32) != 0)
        return gdn_error(GDN_EINVAL, "%s: a head of another ledger (log id)",
                         s->path);
    if (h->size > gdn_ledger_tree_size(s->tree))
        return gdn_error(GDN_EINVAL,
                         "%s: a head of size %llu, the ledger has %llu entries",
                         s->path, (ull)h->size,
                         (ull)gdn_ledger_tree_size(s->tree));
    if (s->have_last &&
        (h->size < s->last.size || h->timestamp < s->last.timestamp))
        return gdn_error(GDN_EINVAL,
                         "%s: a head (size %llu, time %llu) older than the "
                         "last one (size %llu, time %llu)", s->path, (ull)h->size,
                         (ull)h->timestamp, (ull)s->last.size,
                         (ull)s->last.timestamp);
    if ((rc = gdn_ledger_tree_root(root, s->tree, h->size)))
        return rc;
    if (memcmp(root, h->root, sizeof root) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "%s: the head's root is not the root of the first "
                         "%llu entries", s->path, (ull)h->size);
    if ((rc = begin(s)))
        return rc;
    gdn_ledger_head_encode(enc, h);
    sqlite3_bind_int64(s->ins_head, 1, (sqlite3_int64)s->heads);
    sqlite3_bind_int64(s->ins_head, 2, (sqlite3_int64)h->size);
    sqlite3_bind_blob(s->ins_head, 3, enc, sizeof enc, SQLITE_STATIC);
    rc = sqlite3_step(s->ins_head);
    done(s->ins_head);
    if (rc != SQLITE_DONE)
        return staging_failed(s, "put head");
    if (head_id)
        *head_id = s->heads;
    s->heads++;
    s->last = *h;
    s->have_last = 1;
    return 0;
}

int gdn_ledger_store_put_cosig(gdn_ledger_store *s, uint64_t head_id,
                               const gdn_ledger_cosig *c)
{
    gdn_ledger_head h;
    uint8_t enc[GDN_LEDGER_COSIG_BYTES];
    int rc;

    if (!s || !c)
        return gdn_error(GDN_EINVAL, "ledger store put cosig: bad arguments");
    if ((rc = gdn_ledger_store_head(s, &h, head_id)) ||
        (rc = gdn_ledger_cosig_verify(c, &h)) || (rc = begin(s)))
        return rc;
    gdn_ledger_cosig_encode(enc, c);
    sqlite3_bind_int64(s->ins_cosig, 1, (sqlite3_int64)head_id);
    sqlite3_bind_blob(s->ins_cosig, 2, c->client, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s->ins_cosig, 3, enc, sizeof enc, SQLITE_STATIC);
    rc = sqlite3_step(s->ins_cosig);
    done(s->ins_cosig);
    if (rc != SQLITE_DONE)
        return staging_failed(s, "put co-signature");
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

uint64_t gdn_ledger_store_size(const gdn_ledger_store *s)
{
    return s ? gdn_ledger_tree_size(s->tree) : 0;
}

const gdn_ledger_tree *gdn_ledger_store_tree(const gdn_ledger_store *s)
{
    return s ? s->tree : NULL;
}

const uint8_t *gdn_ledger_store_log_id(const gdn_ledger_store *s)
{
    return s ? s->log_id : NULL;
}

uint64_t gdn_ledger_store_head_count(const gdn_ledger_store *s)
{
    return s ? s->heads : 0;
}

int gdn_ledger_store_entry(const gdn_ledger_store *s, gdn_buf *out,
                           uint64_t index)
{
    const uint8_t *p;
    size_t len;
    int rc, step;

    if (!s || !out)
        return gdn_error(GDN_EINVAL, "ledger store entry: bad arguments");
    if (index >= gdn_ledger_tree_size(s->tree))
        return gdn_error(GDN_ERANGE, "%s: entry %llu of %llu", s->path,
                         (ull)index, (ull)gdn_ledger_tree_size(s->tree));
    sqlite3_bind_int64(s->get_entry, 1, (sqlite3_int64)index);
    step = sqlite3_step(s->get_entry);
    if (step != SQLITE_ROW)
        rc = step == SQLITE_DONE
                 ? gdn_error(GDN_EFORMAT, "%s: entry %llu is missing", s->path,
                             (ull)index)
                 : db_error(s->db, s->path, "reading an entry");
    else if (!(rc = column_blob(&p, &len, s->get_entry, 0, 0,
                                GDN_LEDGER_MAX_ENTRY_BYTES, "entry")))
        rc = gdn_buf_append(out, p, len);
    done(s->get_entry);
    return rc;
}

int gdn_ledger_store_head(const gdn_ledger_store *s, gdn_ledger_head *out,
                          uint64_t head_id)
{
    const uint8_t *p;
    size_t len;
    int rc, step;

    if (!s || !out)
        return gdn_error(GDN_EINVAL, "ledger store head: bad arguments");
    if (head_id >= s->heads)
        return gdn_error(GDN_ERANGE, "%s: head %llu of %llu", s->path,
                         (ull)head_id, (ull)s->heads);
    if (head_id + 1 == s->heads) {
        *out = s->last;
        return 0;
    }
    sqlite3_bind_int64(s->get_head, 1, (sqlite3_int64)head_id);
    step = sqlite3_step(s->get_head);
    if (step != SQLITE_ROW)
        rc = step == SQLITE_DONE
                 ? gdn_error(GDN_EFORMAT, "%s: head %llu is missing", s->path,
                             (ull)head_id)
                 : db_error(s->db, s->path, "reading a head");
    else if (!(rc = column_blob(&p, &len, s->get_head, 0,
                                GDN_LEDGER_HEAD_BYTES, 0, "head")))
        rc = gdn_ledger_head_decode(out, p, len);
    done(s->get_head);
    return rc;
}

/* ---- audit of a file ---------------------------------------------------- */

typedef struct head_cursor {
    sqlite3_stmt *st;
    uint64_t next_id; /* id the next row must have */
    int have;         /* h holds the next unprocessed head */
    uint64_t id;
    gdn_ledger_head h;
} head_cursor;

/* Advances to the next stored head; problems go to the auditor. */
static int next_head(head_cursor *c, gdn_ledger_auditor *a, const char *path)
{
    const uint8_t *p;
    size_t len;
    int step, rc;

    c->have = 0;
    step = sqlite3_step(c->st);
    if (step == SQLITE_DONE)
        return 0;
    if (step != SQLITE_ROW)
        return ledger_auditor_fail(a, GDN_EIO, "%s: reading heads: %s", path,
                                   sqlite3_errmsg(sqlite3_db_handle(c->st)));
    if (sqlite3_column_type(c->st, 0) != SQLITE_INTEGER ||
        (uint64_t)sqlite3_column_int64(c->st, 0) != c->next_id)
        return ledger_auditor_fail(a, GDN_EFORMAT,
                                   "head %llu is missing (heads were deleted)",
                                   (ull)c->next_id);
    if ((rc = column_blob(&p, &len, c->st, 1, GDN_LEDGER_HEAD_BYTES, 0,
                          "the head")) ||
        (rc = gdn_ledger_head_decode(&c->h, p, len))) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
        return ledger_auditor_fail(a, rc, "head %llu: %s", (ull)c->next_id,
                                   msg);
    }
    c->id = c->next_id++;
    c->have = 1;
    return 0;
}

static int audit_cosigs(sqlite3_stmt *st, gdn_ledger_auditor *a,
                        uint64_t head_id, const char *path)
{
    const uint8_t *p, *client;
    size_t len, clen;
    gdn_ledger_cosig c;
    int rc = 0, step;

    sqlite3_bind_int64(st, 1, (sqlite3_int64)head_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = column_blob(&client, &clen, st, 0, 32, 0, "client")) ||
            (rc = column_blob(&p, &len, st, 1, GDN_LEDGER_COSIG_BYTES, 0,
                              "co-signature")) ||
            (rc = gdn_ledger_cosig_decode(&c, p, len))) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s", gdn_errmsg());
            rc = ledger_auditor_fail(a, rc, "head %llu: %s", (ull)head_id, msg);
            break;
        }
        if (memcmp(client, c.client, 32) != 0) {
            rc = ledger_auditor_fail(a, GDN_EFORMAT,
                                     "head %llu: a co-signature filed under "
                                     "another client", (ull)head_id);
            break;
        }
        if ((rc = gdn_ledger_auditor_add_cosig(a, &c)))
            break;
    }
    if (!rc && step != SQLITE_DONE)
        rc = ledger_auditor_fail(a, GDN_EIO, "%s: reading co-signatures: %s",
                                 path, sqlite3_errmsg(sqlite3_db_handle(st)));
    done(st);
    return rc;
}

static int cmp_head_size(const void *x, const void *y)
{
    const gdn_ledger_head *a = x, *b = y;
    return (a->size > b->size) - (a->size < b->size);
}

/* Feeds every head (stored or held) whose size the entries have reached. */
static int heads_up_to(head_cursor *c, sqlite3_stmt *cosigs,
                       const gdn_ledger_head *held, size_t n_held,
                       size_t *next_held, gdn_ledger_auditor *a,
                       const char *path, int final)
{
    uint64_t n = gdn_ledger_auditor_size(a);
    int rc;

    while (c->have && (final || c->h.size <= n)) {
        if ((rc = gdn_ledger_auditor_add_head(a, &c->h, 0)) ||
            (rc = audit_cosigs(cosigs, a, c->id, path)) ||
            (rc = next_head(c, a, path)))
            return rc;
    }
    while (*next_held < n_held && (final || held[*next_held].size <= n)) {
        if ((rc = gdn_ledger_auditor_add_head(a, &held[*next_held], 1)))
            return rc;
        ++*next_held;
    }
    return 0;
}

int gdn_ledger_audit_file(gdn_ledger_audit_report *report, const char *path,
                          const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES],
                          const gdn_ledger_head *held, size_t n_held)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *entries = NULL, *cosigs = NULL;
    head_cursor hc = {0};
    gdn_ledger_auditor *a = NULL;
    gdn_ledger_head *sorted = NULL;
    uint8_t log_id[32];
    size_t next_held = 0;
    int rc, found, step;

    if (!report || !path || !pk || (n_held && !held))
        return gdn_error(GDN_EINVAL, "ledger audit: bad arguments");
    memset(report, 0, sizeof *report);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_error(db, path, "open");
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    if ((rc = read_meta(db, path, log_id, &found)))
        goto out;
    if (!found) {
        rc = gdn_error(GDN_EFORMAT, "%s: no log id: not a ledger", path);
        goto out;
    }
    if ((rc = gdn_ledger_auditor_new(&a, log_id, pk)))
        goto out;
    if (n_held) {
        if (!(sorted = malloc(n_held * sizeof *sorted))) {
            rc = gdn_error(GDN_ENOMEM, "ledger audit: out of memory");
            goto out;
        }
        memcpy(sorted, held, n_held * sizeof *sorted);
        qsort(sorted, n_held, sizeof *sorted, cmp_head_size);
    }
    /* One read transaction: the entries, heads and co-signatures we see
     * belong to one committed state even if a writer is active. */
    if ((rc = exec(db, path, "BEGIN")) ||
        (rc = prepare(db, path, &entries,
                      "SELECT idx, leaf_hash, data FROM entries"
                      " ORDER BY idx")) ||
        (rc = prepare(db, path, &hc.st,
                      "SELECT id, head FROM heads ORDER BY id")) ||
        (rc = prepare(db, path, &cosigs,
                      "SELECT client, cosig FROM cosigs WHERE head_id=?"
                      " ORDER BY client")))
        goto out;
    if ((rc = next_head(&hc, a, path)) ||
        (rc = heads_up_to(&hc, cosigs, sorted, n_held, &next_held, a, path, 0)))
        goto finish;
    while ((step = sqlite3_step(entries)) == SQLITE_ROW) {
        uint64_t expect = gdn_ledger_auditor_size(a);
        const uint8_t *leaf, *data;
        size_t leaf_len, len;
        if (sqlite3_column_type(entries, 0) != SQLITE_INTEGER ||
            (uint64_t)sqlite3_column_int64(entries, 0) != expect) {
            rc = ledger_auditor_fail(a, GDN_EFORMAT,
                                     "entry %llu is missing (entries were "
                                     "deleted)", (ull)expect);
            goto finish;
        }
        if ((rc = column_blob(&leaf, &leaf_len, entries, 1, 32, 0,
                              "its leaf hash")) ||
            (rc = column_blob(&data, &len, entries, 2, 0,
                              GDN_LEDGER_MAX_ENTRY_BYTES, "its data"))) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s", gdn_errmsg());
            rc = ledger_auditor_fail(a, rc, "entry %llu: %s", (ull)expect, msg);
            goto finish;
        }
        if ((rc = gdn_ledger_auditor_add_entry(a, data, len, leaf)) ||
            (rc = heads_up_to(&hc, cosigs, sorted, n_held, &next_held, a,
                              path, 0)))
            goto finish;
    }
    if (step != SQLITE_DONE) {
        rc = ledger_auditor_fail(a, GDN_EIO, "%s: reading entries: %s", path,
                                 sqlite3_errmsg(db));
        goto finish;
    }
    /* Heads beyond the last entry mean the ledger lost entries. */
    rc = heads_up_to(&hc, cosigs, sorted, n_held, &next_held, a, path, 1);
finish:
    {
        /* The auditor holds the first problem; an error it did not see
         * (a misuse) still fails the audit. */
        int frc = gdn_ledger_auditor_finish(a, report);
        if (frc || !rc)
            rc = frc;
        if (rc)
            report->ok = 0;
    }
out:
    if (rc && !report->problem[0])
        snprintf(report->problem, sizeof report->problem, "%s", gdn_errmsg());
    sqlite3_finalize(entries);
    sqlite3_finalize(hc.st);
    sqlite3_finalize(cosigs);
    if (db) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    gdn_ledger_auditor_free(a);
    free(sorted);
    return rc;
}
