/* The coordinator's state file (state.h): SQLite in WAL mode with
 * synchronous=FULL, so a committed round survives kill -9 and power loss. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sqlite3.h>

#include "net/state.h"

#define STATE_FORMAT "guardian-coordinator-2"

struct net_state {
    sqlite3 *db;
    char path[1024];
};

static int db_fail(net_state *s, const char *what)
{
    return gdn_error(GDN_EIO, "state file %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static int exec(net_state *s, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = gdn_error(GDN_EIO, "state file %s: %s", s->path, err ? err : "?");
        sqlite3_free(err);
        return rc;
    }
    return 0;
}

static int prepare(net_state *s, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(s, "prepare");
    return 0;
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS owners(idx INTEGER PRIMARY KEY,"
    " fingerprint BLOB NOT NULL UNIQUE);"
    "CREATE TABLE IF NOT EXISTS rounds(round INTEGER PRIMARY KEY, completed INTEGER,"
    " cohort INTEGER, updates INTEGER, dropouts INTEGER, refusals INTEGER,"
    " train_loss REAL, evaluated INTEGER, test_loss REAL, test_accuracy REAL,"
    " seconds REAL, model_sha256 BLOB, epsilon REAL,"
    " finished_at TEXT DEFAULT CURRENT_TIMESTAMP);"
    "CREATE TABLE IF NOT EXISTS participants(round INTEGER, idx INTEGER, status TEXT,"
    " examples INTEGER, loss REAL, PRIMARY KEY(round, idx));"
    "CREATE TABLE IF NOT EXISTS checkpoints(round INTEGER PRIMARY KEY,"
    " sha256 BLOB NOT NULL, model BLOB, state BLOB, dp_clip REAL);"
    "CREATE TABLE IF NOT EXISTS blobs(name TEXT PRIMARY KEY, data BLOB NOT NULL);";

/* meta: the format must be ours and the config the same as before. */
static int check_meta(net_state *s, const char *key, const char *want)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    if ((rc = prepare(s, &st, "SELECT value FROM meta WHERE key = ?")))
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *have = (const char *)sqlite3_column_text(st, 0);
        if (!have || strcmp(have, want) != 0)
            rc = gdn_error(GDN_ESTATE,
                           "state file %s belongs to another federation: its %s is\n  %s\n"
                           "and this run's is\n  %s\n(use another --state, or the same "
                           "settings to resume)",
                           s->path, key, have ? have : "(none)", want);
    } else if (step == SQLITE_DONE) {
        sqlite3_finalize(st);
        if ((rc = prepare(s, &st, "INSERT INTO meta(key, value) VALUES(?, ?)")))
            return rc;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, want, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(s, "writing meta");
    } else {
        rc = db_fail(s, "reading meta");
    }
    sqlite3_finalize(st);
    return rc;
}

int net_state_open(net_state **out, const char *path, const char *config)
{
    net_state *s;
    int rc;

    *out = NULL;
    if (!(s = calloc(1, sizeof *s)))
        return gdn_error(GDN_ENOMEM, "out of memory");
    if (strlen(path) >= sizeof s->path) {
        free(s);
        return gdn_error(GDN_EINVAL, "state file path too long");
    }
    memcpy(s->path, path, strlen(path) + 1);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = db_fail(s, "open");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")) ||
        (rc = exec(s, "BEGIN IMMEDIATE")))
        goto fail;
    if ((rc = exec(s, schema)) || (rc = check_meta(s, "format", STATE_FORMAT)) ||
        (rc = check_meta(s, "config", config))) {
        exec(s, "ROLLBACK");
        goto fail;
    }
    if ((rc = exec(s, "COMMIT")))
        goto fail;
    *out = s;
    return 0;
fail:
    net_state_close(s);
    return rc;
}

void net_state_close(net_state *s)
{
    if (!s)
        return;
    sqlite3_close(s->db);
    free(s);
}

int net_state_owners(net_state *s, uint8_t (*fp)[32], size_t cap, size_t *n)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    *n = 0;
    if ((rc = prepare(s, &st, "SELECT idx, fingerprint FROM owners ORDER BY idx")))
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 idx = sqlite3_column_int64(st, 0);
        if (idx != (sqlite3_int64)*n || *n >= cap ||
            sqlite3_column_bytes(st, 1) != 32) {
            rc = gdn_error(GDN_EFORMAT, "state file %s: owner %lld out of place or "
                           "beyond the %zu clients configured", s->path, (long long)idx, cap);
            break;
        }
        memcpy(fp[*n], sqlite3_column_blob(st, 1), 32);
        (*n)++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_fail(s, "reading owners");
    sqlite3_finalize(st);
    return rc;
}

int net_state_add_owners(net_state *s, size_t first, const uint8_t (*fp)[32], size_t n)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = prepare(s, &st, "INSERT INTO owners(idx, fingerprint) VALUES(?, ?)"))) {
        exec(s, "ROLLBACK");
        return rc;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(first + i));
        sqlite3_bind_blob(st, 2, fp[i], 32, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "adding an owner");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc) {
        exec(s, "ROLLBACK");
        return rc;
    }
    return exec(s, "COMMIT");
}

/* Little-endian floats in and out of blobs. */
static int put_floats(gdn_buf *b, const float *v, size_t n)
{
    return gdn_wire_floats_encode(b, v, n);
}

static int load_history(net_state *s, gdn_coord_round **hist, size_t *nhist)
{
    sqlite3_stmt *st;
    gdn_coord_round *h = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, step;

    if ((rc = prepare(s, &st, "SELECT round, completed, cohort, updates, dropouts, refusals,"
                              " train_loss, evaluated, test_loss, test_accuracy, seconds,"
                              " model_sha256, epsilon FROM rounds ORDER BY round")))
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        gdn_coord_round *r;
        if (n == cap) {
            void *p = realloc(h, (cap = cap ? 2 * cap : 64) * sizeof *h);
            if (!p) {
                rc = gdn_error(GDN_ENOMEM, "out of memory");
                break;
            }
            h = p;
        }
        r = memset(&h[n++], 0, sizeof *h);
        r->round = (unsigned)sqlite3_column_int64(st, 0);
        r->completed = sqlite3_column_int(st, 1);
        r->cohort = (size_t)sqlite3_column_int64(st, 2);
        r->updates = (size_t)sqlite3_column_int64(st, 3);
        r->dropouts = (size_t)sqlite3_column_int64(st, 4);
        r->refusals = (size_t)sqlite3_column_int64(st, 5);
        r->train_loss = sqlite3_column_double(st, 6);
        r->evaluated = sqlite3_column_int(st, 7);
        r->test_loss = sqlite3_column_double(st, 8);
        r->test_accuracy = sqlite3_column_double(st, 9);
        r->seconds = sqlite3_column_double(st, 10);
        if (sqlite3_column_bytes(st, 11) == 32)
            memcpy(r->model_sha256, sqlite3_column_blob(st, 11), 32);
        r->epsilon = sqlite3_column_type(st, 12) == SQLITE_NULL ? INFINITY
                                                                 : sqlite3_column_double(st, 12);
    }
    if (!rc && step != SQLITE_DONE)
        rc = db_fail(s, "reading rounds");
    sqlite3_finalize(st);
    if (rc) {
        free(h);
        return rc;
    }
    *hist = h;
    *nhist = n;
    return 0;
}

int net_state_load(net_state *s, unsigned *round, float *model, float *const *state,
                   size_t nstate, size_t dim, double *dp_clip, gdn_coord_round **hist,
                   size_t *nhist)
{
    sqlite3_stmt *st;
    int rc = 0, step;

    *round = 0;
    *hist = NULL;
    *nhist = 0;
    if ((rc = prepare(s, &st, "SELECT round, sha256, model, state, dp_clip FROM checkpoints"
                              " WHERE model IS NOT NULL ORDER BY round DESC LIMIT 1")))
        return rc;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const uint8_t *m = sqlite3_column_blob(st, 2), *v = sqlite3_column_blob(st, 3);
        size_t mlen = (size_t)sqlite3_column_bytes(st, 2);
        size_t vlen = (size_t)sqlite3_column_bytes(st, 3);
        uint8_t h[32];
        unsigned r = (unsigned)sqlite3_column_int64(st, 0);
        if (m)
            crypto_hash_sha256(h, m, mlen);
        if (!m || sqlite3_column_bytes(st, 1) != 32 ||
            memcmp(h, sqlite3_column_blob(st, 1), 32) != 0)
            rc = gdn_error(GDN_EFORMAT, "state file %s: the checkpoint of round %u does "
                           "not match its SHA-256", s->path, r);
        else if (vlen != nstate * dim * 4 ||
                 (rc = gdn_wire_floats_decode(model, dim, m, mlen)))
            rc = rc ? rc : gdn_error(GDN_EFORMAT, "state file %s: round %u's checkpoint "
                                     "has the wrong size for this model", s->path, r);
        for (size_t i = 0; !rc && i < nstate; i++)
            rc = gdn_wire_floats_decode(state[i], dim, v + i * dim * 4, dim * 4);
        if (!rc) {
            *round = r;
            *dp_clip = sqlite3_column_double(st, 4);
        }
    } else if (step != SQLITE_DONE) {
        rc = db_fail(s, "reading the checkpoint");
    }
    sqlite3_finalize(st);
    return rc ? rc : load_history(s, hist, nhist);
}

static int insert_round(net_state *s, const gdn_coord_round *r)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare(s, &st, "INSERT OR REPLACE INTO rounds(round, completed, cohort,"
                              " updates, dropouts, refusals, train_loss, evaluated,"
                              " test_loss, test_accuracy, seconds, model_sha256, epsilon)"
                              " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)")))
        return rc;
    sqlite3_bind_int64(st, 1, r->round);
    sqlite3_bind_int(st, 2, r->completed);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)r->cohort);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)r->updates);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)r->dropouts);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)r->refusals);
    sqlite3_bind_double(st, 7, r->train_loss);
    sqlite3_bind_int(st, 8, r->evaluated);
    sqlite3_bind_double(st, 9, r->test_loss);
    sqlite3_bind_double(st, 10, r->test_accuracy);
    sqlite3_bind_double(st, 11, r->seconds);
    sqlite3_bind_blob(st, 12, r->model_sha256, 32, SQLITE_STATIC);
    if (isfinite(r->epsilon)) /* NULL: infinite (DP without noise) */
        sqlite3_bind_double(st, 13, r->epsilon);
    else
        sqlite3_bind_null(st, 13);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "writing a round");
    sqlite3_finalize(st);
    return rc;
}

static int insert_participants(net_state *s, unsigned round, const net_participant *p,
                               size_t np)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare(s, &st, "INSERT OR REPLACE INTO participants(round, idx, status,"
                              " examples, loss) VALUES(?,?,?,?,?)")))
        return rc;
    for (size_t i = 0; !rc && i < np; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, round);
        sqlite3_bind_int64(st, 2, p[i].idx);
        sqlite3_bind_text(st, 3, p[i].status, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)p[i].examples);
        sqlite3_bind_double(st, 5, p[i].loss);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_fail(s, "writing participants");
    }
    sqlite3_finalize(st);
    return rc;
}

static int insert_checkpoint(net_state *s, unsigned round, const float *model,
                             float *const *state, size_t nstate, size_t dim, size_t keep,
                             double dp_clip)
{
    gdn_buf m = {0}, v = {0};
    sqlite3_stmt *st = NULL;
    uint8_t h[32];
    int rc;

    if ((rc = put_floats(&m, model, dim)))
        goto done;
    for (size_t i = 0; i < nstate; i++)
        if ((rc = put_floats(&v, state[i], dim)))
            goto done;
    crypto_hash_sha256(h, m.data, m.len);
    if ((rc = prepare(s, &st, "INSERT OR REPLACE INTO checkpoints(round, sha256, model,"
                              " state, dp_clip) VALUES(?,?,?,?,?)")))
        goto done;
    sqlite3_bind_double(st, 5, dp_clip);
    sqlite3_bind_int64(st, 1, round);
    sqlite3_bind_blob(st, 2, h, 32, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 3, m.data, m.len, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 4, v.data ? (const void *)v.data : (const void *)"", v.len,
                        SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_fail(s, "writing a checkpoint");
        goto done;
    }
    sqlite3_finalize(st);
    if ((rc = prepare(s, &st, "UPDATE checkpoints SET model = NULL, state = NULL"
                              " WHERE round <= ? AND model IS NOT NULL")))
        goto done;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)round - (sqlite3_int64)keep);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_fail(s, "dropping old checkpoints");
done:
    sqlite3_finalize(st);
    gdn_buf_free(&m);
    gdn_buf_free(&v);
    return rc;
}

int net_state_commit(net_state *s, const gdn_coord_round *r, const net_participant *p,
                     size_t np, const float *model, float *const *state, size_t nstate,
                     size_t dim, size_t keep, double dp_clip)
{
    int rc;

    if ((rc = exec(s, "BEGIN IMMEDIATE")))
        return rc;
    if ((rc = insert_round(s, r)) || (rc = insert_participants(s, r->round, p, np)) ||
        (rc = insert_checkpoint(s, r->round, model, state, nstate, dim, keep ? keep : 1,
                                dp_clip))) {
        exec(s, "ROLLBACK");
        return rc;
    }
    return exec(s, "COMMIT");
}

int net_state_put_blob(net_state *s, const char *name, const void *data, size_t len)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare(s, &st, "INSERT OR REPLACE INTO blobs(name, data) VALUES(?, ?)")))
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob64(st, 2, data, len, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_fail(s, "writing a blob");
    sqlite3_finalize(st);
    return rc;
}

int net_state_get_blob(net_state *s, const char *name, gdn_buf *out)
{
    sqlite3_stmt *st;
    int rc, step;

    out->len = 0;
    if ((rc = prepare(s, &st, "SELECT data FROM blobs WHERE name = ?")))
        return rc;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = gdn_buf_append(out, sqlite3_column_blob(st, 0),
                            (size_t)sqlite3_column_bytes(st, 0));
    else if (step != SQLITE_DONE)
        rc = db_fail(s, "reading a blob");
    sqlite3_finalize(st);
    return rc;
}
