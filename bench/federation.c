/* Networked federation at scale (issue #4): a `guardian serve` coordinator
 * process and --clients data owners (threads of this process, each calling
 * gdn_owner_run with its own TLS identity and its IID share of
 * Fashion-MNIST) on loopback, McMahan et al.'s 2NN (mlp:784-200-200-10),
 * every owner in every round (C = 1, E = 1, B = 10, lr 0.05).
 *
 * The coordinator trains nothing, so all of its CPU time (TLS, framing,
 * decoding, aggregation, the state file) is its overhead beyond the owners'
 * training. Measured from its wait4() rusage at exit: CPU seconds and peak
 * RSS (a small launcher process starts it, so that the peak is its own; see
 * below); from its stdout: bytes on the wire; from OUT/metrics.csv: each
 * round's wall seconds. While it runs, /proc/PID/stat and /proc/PID/status are read
 * at phase boundaries (listening, all owners joined, each round's end) to
 * split its CPU into set-up, joining (handshakes) and rounds.
 *
 * One JSON line per run, then a summary line with the medians over runs and
 * the goals: coordinator CPU < 1 ms per client per round (the median round;
 * joining and the first round are reported beside it), peak memory < 2 MiB
 * per connected client (bench/README.md).
 *
 *   build/bench/federation [--clients N] [--rounds R] [--runs K]
 *
 * The coordinator is $GDN_GUARDIAN (default build/guardian). Progress goes to
 * stderr. Both sides run with OPENBLAS_NUM_THREADS=1 (the program re-executes
 * itself with it set if it was not).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* wait4 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/federation.h"
#include "guardian/ledger.h"
#include "guardian/ml.h"
#include "guardian/net.h"

#include "bench.h"

#define MODEL "mlp:784-200-200-10"
#define MAX_CLIENTS 20000
#define MAX_ROUNDS 100
#define MAX_RUNS 50
#define OWNER_STACK ((size_t)512 << 10)
#define RUN_TIMEOUT_S 1800.0
#define POLL_MS 5

static volatile sig_atomic_t interrupted;
static size_t model_bytes; /* 4 x the model's parameters */

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- The temporary federation -------------------------------------------------- */

/* Removes a directory tree (no symbolic links followed). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d) {
        while ((e = readdir(d))) {
            char p[4096];
            struct stat st;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* A CA, the coordinator's identity (server) and n owners' (o0 .. o<n-1>). */
static int make_federation(const char *dir, size_t n)
{
    gdn_net_sign_opts server = {0, 1, NULL}, client = {0, 0, NULL};
    char ca[1024], d[1024];
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    double t = gdn_now();
    int rc;

    snprintf(ca, sizeof ca, "%s/ca", dir);
    snprintf(d, sizeof d, "%s/coord", dir);
    if ((rc = gdn_net_ca_init(ca, "Bench CA", 0, 0)) || (rc = gdn_net_keygen(fp, d, "coord", 0)) ||
        (rc = gdn_net_ca_sign(NULL, ca, d, &server)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "o%zu", i);
        snprintf(d, sizeof d, "%s/%s", dir, name);
        if ((rc = gdn_net_keygen(fp, d, name, 0)) || (rc = gdn_net_ca_sign(NULL, ca, d, &client)))
            return rc;
    }
    fprintf(stderr, "federation: CA, coordinator and %zu owner identities in %.1f s\n", n,
            gdn_now() - t);
    return 0;
}

/* ---- The coordinator process ---------------------------------------------------- */

/* CPU seconds (user + system) and resident / peak memory (MiB) of a live
 * process, from /proc; -1 where unreadable. */
typedef struct sample {
    double cpu_s, rss_mib, hwm_mib;
    unsigned long minflt;
} sample;

static sample sample_proc(pid_t pid)
{
    sample s = {-1, -1, -1, 0};
    char path[64], buf[4096];
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r"))) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        char *p;
        buf[n] = '\0';
        fclose(f);
        /* after "pid (comm) ": state is field 3, utime 14, stime 15 */
        if ((p = strrchr(buf, ')'))) {
            unsigned long ut = 0, st = 0;
            if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu %*u %*u %*u %lu %lu", &s.minflt,
                       &ut, &st) == 3)
                s.cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        }
    }
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r"))) {
        while (fgets(buf, sizeof buf, f)) {
            unsigned long kb;
            if (sscanf(buf, "VmRSS: %lu kB", &kb) == 1)
                s.rss_mib = (double)kb / 1024.0;
            else if (sscanf(buf, "VmHWM: %lu kB", &kb) == 1)
                s.hwm_mib = (double)kb / 1024.0;
        }
        fclose(f);
    }
    return s;
}

/* New complete lines of a file another process appends to. */
typedef struct tail {
    int fd;
    char buf[16384];
    size_t len;
} tail;

typedef void (*line_fn)(void *ctx, const char *line);

static void tail_poll(tail *t, line_fn fn, void *ctx)
{
    for (;;) {
        ssize_t n = read(t->fd, t->buf + t->len, sizeof t->buf - 1 - t->len);
        char *start, *nl;
        if (n <= 0)
            return;
        t->len += (size_t)n;
        t->buf[t->len] = '\0';
        start = t->buf;
        while ((nl = strchr(start, '\n'))) {
            *nl = '\0';
            fn(ctx, start);
            start = nl + 1;
        }
        t->len -= (size_t)(start - t->buf);
        memmove(t->buf, start, t->len);
        if (t->len == sizeof t->buf - 1) /* a line longer than the buffer: drop it */
            t->len = 0;
    }
}

/* What one run observed. */
typedef struct run_obs {
    pid_t pid;
    size_t clients;
    unsigned rounds;
    unsigned port;
    size_t joined, warnings;
    sample listen, all_joined, round_end[MAX_ROUNDS + 1];
    double t_listen, t_joined, t_end[MAX_ROUNDS + 1];
    unsigned rounds_seen;
    int have_done;
    double mb_sent, mb_received;
    size_t peak_connections;
} run_obs;

static void on_out_line(void *p, const char *line)
{
    run_obs *o = p;
    unsigned a, b;
    size_t peak;
    double sent, received;

    if (sscanf(line, "listening on port %u", &a) == 1) {
        o->listen = sample_proc(o->pid);
        o->t_listen = gdn_now();
        o->port = a;
    } else if (sscanf(line, "round %u/%u", &a, &b) == 2 && a >= 1 && a <= MAX_ROUNDS) {
        o->round_end[a] = sample_proc(o->pid);
        o->t_end[a] = gdn_now();
        o->rounds_seen = a > o->rounds_seen ? a : o->rounds_seen;
        fprintf(stderr, "  round %u/%u done (%.1f s after all joined; coordinator CPU %.2f s, "
                        "RSS %.1f MiB, peak %.1f MiB, %lu page faults)\n",
                a, b, o->t_end[a] - o->t_joined, o->round_end[a].cpu_s,
                o->round_end[a].rss_mib, o->round_end[a].hwm_mib, o->round_end[a].minflt);
    } else if (sscanf(line, "coordinator done: %u rounds run here, peak %zu connections, "
                            "%lf MB sent, %lf MB received",
                      &a, &peak, &sent, &received) == 4) {
        o->have_done = 1;
        o->peak_connections = peak;
        o->mb_sent = sent;
        o->mb_received = received;
    }
}

static void on_err_line(void *p, const char *line)
{
    run_obs *o = p;

    if (strstr(line, "] owner ") && strstr(line, " joined from ")) {
        if (++o->joined == o->clients) {
            o->all_joined = sample_proc(o->pid);
            o->t_joined = gdn_now();
            fprintf(stderr, "  all %zu owners joined in %.1f s (coordinator RSS %.1f MiB)\n",
                    o->clients, o->t_joined - o->t_listen, o->all_joined.rss_mib);
        }
    } else if (!strncmp(line, "[error]", 7) || !strncmp(line, "[warn]", 6)) {
        if (++o->warnings <= 10)
            fprintf(stderr, "  coordinator: %s\n", line);
        else if (o->warnings == 11)
            fprintf(stderr, "  coordinator: (further warnings not shown)\n");
    }
}

/* ---- The launcher ---------------------------------------------------------------
 * wait4's ru_maxrss counts the image a process replaced at exec (Linux keeps
 * the larger of the two): a coordinator forked from this process once the
 * data is loaded (about 180 MiB) would report at least that. So a small
 * launcher process, forked at start-up before anything is loaded, forks and
 * execs the coordinators, waits for them and reports their rusage. */

typedef struct launch_report {
    pid_t pid;
    int exited; /* 0: started (pid < 0: fork failed); 1: exited; -1: launcher gone */
    int status;
    struct rusage ru;
} launch_report;

static int launch_req = -1, launch_resp = -1;
static pid_t launcher_pid = -1;

static int write_full(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w, n -= (size_t)w;
    }
    return 0;
}

static int read_full(int fd, void *p, size_t n)
{
    char *c = p;

    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r, n -= (size_t)r;
    }
    return 0;
}

/* Requests: a length, then NUL-terminated strings: the stdout file, the
 * stderr file, the program and its arguments. */
static void launcher_loop(int req, int resp)
{
    static char buf[16384];

    for (;;) {
        const char *args[128];
        launch_report r;
        uint32_t len;
        size_t k = 0, off = 0;
        int fo, fe;

        if (read_full(req, &len, sizeof len) || len >= sizeof buf || read_full(req, buf, len))
            _exit(0); /* the benchmark is gone */
        buf[len] = '\0';
        while (off < len && k < 127) {
            args[k++] = buf + off;
            off += strlen(buf + off) + 1;
        }
        args[k] = NULL;
        memset(&r, 0, sizeof r);
        r.pid = -1;
        fo = k >= 3 ? open(args[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        fe = k >= 3 ? open(args[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
        if (fo >= 0 && fe >= 0 && (r.pid = fork()) == 0) {
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            sigaction(SIGINT, &dfl, NULL);
            sigaction(SIGTERM, &dfl, NULL);
            sigaction(SIGPIPE, &dfl, NULL);
            dup2(fo, 1);
            dup2(fe, 2);
            execv(args[2], (char *const *)&args[2]);
            _exit(127);
        }
        if (fo >= 0)
            close(fo);
        if (fe >= 0)
            close(fe);
        if (write_full(resp, &r, sizeof r))
            _exit(0);
        if (r.pid < 0)
            continue;
        while (wait4(r.pid, &r.status, 0, &r.ru) < 0)
            if (errno != EINTR)
                break;
        r.exited = 1;
        if (write_full(resp, &r, sizeof r))
            _exit(0);
    }
}

static int start_launcher(void)
{
    int req[2], resp[2];
    pid_t pid;

    if (pipe(req) || pipe(resp))
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(req[i], F_SETFD, FD_CLOEXEC);
        fcntl(resp[i], F_SETFD, FD_CLOEXEC);
    }
    fflush(NULL);
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN; /* Ctrl-C: the benchmark stops the coordinator */
        sigaction(SIGINT, &ign, NULL);
        sigaction(SIGTERM, &ign, NULL);
        close(req[1]);
        close(resp[0]);
        launcher_loop(req[0], resp[1]);
        _exit(0);
    }
    close(req[0]);
    close(resp[1]);
    launch_req = req[1];
    launch_resp = resp[0];
    launcher_pid = pid;
    return 0;
}

/* Closing the requests ends the launcher. */
static void stop_launcher(void)
{
    if (launcher_pid < 0)
        return;
    close(launch_req);
    close(launch_resp);
    waitpid(launcher_pid, NULL, 0);
    launcher_pid = -1;
}

/* The launcher's next report, waiting at most wait_ms (-1: no limit);
 * 0 when none came. */
static int launcher_report(launch_report *r, int wait_ms)
{
    struct pollfd p;

    p.fd = launch_resp;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    if (read_full(launch_resp, r, sizeof *r)) {
        memset(r, 0, sizeof *r);
        r->exited = -1;
    }
    return 1;
}

/* Starts `guardian serve` with stdout and stderr into out_path / err_path
 * (created), through the launcher; its pid, or -1. */
static pid_t spawn_coordinator(const char *guardian, const char *dir, const char *out_dir,
                               size_t clients, unsigned rounds, const char *out_path,
                               const char *err_path)
{
    char key[1100], n[32], r[32];
    const char *argv[64];
    gdn_buf req = {0};
    launch_report rep;
    uint32_t len;
    int k = 0, rc = 0;

    snprintf(key, sizeof key, "%s/coord", dir);
    snprintf(n, sizeof n, "%zu", clients);
    snprintf(r, sizeof r, "%u", rounds);
    argv[k++] = out_path;
    argv[k++] = err_path;
    argv[k++] = guardian;
    argv[k++] = "serve";
    argv[k++] = "--key", argv[k++] = key;
    argv[k++] = "--port", argv[k++] = "0";
    argv[k++] = "--clients", argv[k++] = n;
    argv[k++] = "--fraction", argv[k++] = "1";
    argv[k++] = "--rounds", argv[k++] = r;
    argv[k++] = "--model", argv[k++] = MODEL;
    argv[k++] = "--data", argv[k++] = "none";
    argv[k++] = "--local-epochs", argv[k++] = "1";
    argv[k++] = "--batch", argv[k++] = "10";
    argv[k++] = "--lr", argv[k++] = "0.05";
    argv[k++] = "--seed", argv[k++] = "1";
    argv[k++] = "--wait-clients", argv[k++] = n;
    argv[k++] = "--min-clients", argv[k++] = n;
    argv[k++] = "--wait", argv[k++] = "600";
    argv[k++] = "--round-timeout", argv[k++] = "900";
    argv[k++] = "--out", argv[k++] = out_dir;
    for (int i = 0; i < k && !rc; i++)
        rc = gdn_buf_append(&req, argv[i], strlen(argv[i]) + 1);
    len = (uint32_t)req.len;
    if (rc || write_full(launch_req, &len, sizeof len) ||
        write_full(launch_req, req.data, req.len) || !launcher_report(&rep, -1) ||
        rep.exited != 0 || rep.pid < 0) {
        gdn_buf_free(&req);
        gdn_error(GDN_EIO, "could not start %s (through the launcher)", guardian);
        return -1;
    }
    gdn_buf_free(&req);
    return rep.pid;
}

/* ---- The data owners ------------------------------------------------------------ */

typedef struct owner_job {
    gdn_owner_config cfg;
    gdn_owner_ledger ledger;
    uint8_t sk[64];          /* its identity, to co-sign ledger heads */
    gdn_ledger_head held;    /* the last head it co-signed (this run's ledger) */
    int have_held;
    char dir[1024];
    pthread_t th;
    int started, rc;
    char err[300];
} owner_job;

/* The owner's side of the coordinator's ledger, as guardian join does it
 * (cli/join.c) but with the held head in memory: check each new head
 * against the one held (split view), co-sign it, keep it. */
static uint64_t held_size(void *p, const uint8_t pk[32])
{
    const owner_job *j = p;

    (void)pk;
    return j->have_held ? j->held.size : 0;
}

static int check_head(void *p, uint8_t cosig_out[GDN_WIRE_COSIG_BYTES], uint64_t *size,
                      const uint8_t pk[32], const uint8_t head[GDN_WIRE_HEAD_BYTES],
                      const uint8_t *proof, size_t proof_len, uint64_t from_size)
{
    owner_job *j = p;
    gdn_ledger_head fresh, keep;
    gdn_ledger_proof pr;
    gdn_ledger_cosig cosig;
    gdn_ledger_verdict verdict = GDN_LEDGER_ACCEPT;
    int rc;

    if ((rc = gdn_ledger_head_decode(&fresh, head, GDN_WIRE_HEAD_BYTES)))
        return rc;
    if (j->have_held && from_size != j->held.size)
        return gdn_error(GDN_ECRYPTO, "the proof starts at %llu entries, the held head has %llu",
                         (unsigned long long)from_size, (unsigned long long)j->held.size);
    if (proof_len / 32 > GDN_LEDGER_MAX_PROOF)
        return gdn_error(GDN_EFORMAT, "a proof of %zu bytes", proof_len);
    memset(&pr, 0, sizeof pr);
    pr.len = proof_len / 32;
    for (size_t i = 0; i < pr.len; i++)
        memcpy(pr.hash[i], proof + 32 * i, 32);
    if ((rc = gdn_ledger_client_update(&cosig, &keep, &verdict, j->have_held ? &j->held : NULL,
                                       &fresh,
                                       j->have_held && j->held.size < fresh.size ? &pr : NULL,
                                       pk, j->sk))) {
        char why[600];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        return gdn_error(rc, "ledger head refused (%s): %s", gdn_ledger_verdict_name(verdict),
                         why);
    }
    j->held = keep;
    j->have_held = 1;
    gdn_ledger_cosig_encode(cosig_out, &cosig);
    *size = fresh.size;
    return 0;
}

static void *owner_main(void *p)
{
    owner_job *j = p;

    j->rc = gdn_owner_run(&j->cfg);
    if (j->rc)
        snprintf(j->err, sizeof j->err, "%s", gdn_errmsg());
    return NULL;
}

/* The last lines of a log, to stderr (when a run fails). */
static void print_tail(const char *path, int lines)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    long size, from;
    size_t n;
    int nl = 0;
    char *p;

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(f, from, SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (p = buf + n; p > buf; p--)
        if (p[-1] == '\n' && ++nl > lines)
            break;
    fprintf(stderr, "  --- the end of %s:\n%s", path, p);
}

/* ---- One run -------------------------------------------------------------------- */

typedef struct run_result {
    int ok;
    double cpu_s, user_s, sys_s, peak_rss_mib;
    long minor_faults;
    double setup_cpu_s, join_cpu_s, rounds_cpu_s, shutdown_cpu_s;
    double listen_rss_mib, joined_rss_mib;
    double round_s[MAX_ROUNDS], round_s_median, round_cpu_s[MAX_ROUNDS];
    double round_cpu_ms_per_client_median;
    size_t updates_min;
    unsigned rounds_failed;
    int complete; /* every owner's update in every round, no owner failed */
    double mb_sent, mb_received, wire_bytes_per_client_round;
    double clients_cpu_s, wall_s;
    size_t peak_connections, coordinator_warnings;
    unsigned owner_failures;
} run_result;

/* CPU seconds from sample a to sample b, NaN if either is missing. */
static double cpu_between(const sample *a, const sample *b)
{
    return a->cpu_s >= 0 && b->cpu_s >= 0 ? b->cpu_s - a->cpu_s : NAN;
}

static double cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6;
}

/* Reads OUT/metrics.csv: each round's seconds and the fewest updates. */
static int read_metrics(const char *path, run_result *res, unsigned rounds)
{
    FILE *f = fopen(path, "r");
    char line[512];
    unsigned got = 0;

    if (!f)
        return gdn_error(GDN_EIO, "%s: %s", path, strerror(errno));
    res->updates_min = (size_t)-1;
    while (fgets(line, sizeof line, f)) {
        unsigned round;
        size_t cohort, updates, dropouts, refusals;
        int completed;
        double train_loss, test_loss, test_acc, seconds;
        if (sscanf(line, "%u,%zu,%zu,%zu,%zu,%d,%lf,%lf,%lf,%lf,", &round, &cohort, &updates,
                   &dropouts, &refusals, &completed, &train_loss, &test_loss, &test_acc,
                   &seconds) != 10 ||
            round < 1 || round > rounds)
            continue;
        res->round_s[round - 1] = seconds;
        if (updates < res->updates_min)
            res->updates_min = updates;
        res->rounds_failed += !completed;
        got++;
    }
    fclose(f);
    if (got != rounds)
        return gdn_error(GDN_EFORMAT, "%s: %u rounds, expected %u", path, got, rounds);
    return 0;
}

static int run_once(run_result *res, int run, const char *dir, const char *guardian,
                    owner_job *jobs, size_t clients, unsigned rounds)
{
    char out_dir[1100], out_path[1200], err_path[1200], metrics[1200];
    tail tout, terr;
    run_obs *obs = calloc(1, sizeof *obs);
    struct rusage self0, self1;
    launch_report rep;
    pthread_attr_t attr;
    volatile int stop = 0;
    int exited = 0, rc = 0;
    double t0 = gdn_now(), deadline = t0 + RUN_TIMEOUT_S;
    size_t started = 0;

    memset(res, 0, sizeof *res);
    if (!obs)
        return gdn_error(GDN_ENOMEM, "out of memory");
    tout.fd = terr.fd = -1;
    tout.len = terr.len = 0;
    snprintf(out_dir, sizeof out_dir, "%s/serve-%d", dir, run);
    snprintf(out_path, sizeof out_path, "%s/serve-%d.out", dir, run);
    snprintf(err_path, sizeof err_path, "%s/serve-%d.err", dir, run);
    snprintf(metrics, sizeof metrics, "%s/metrics.csv", out_dir);
    obs->clients = clients;
    obs->rounds = rounds;
    fprintf(stderr, "run %d: starting the coordinator (%zu clients, %u rounds)\n", run,
            clients, rounds);
    if ((obs->pid = spawn_coordinator(guardian, dir, out_dir, clients, rounds, out_path,
                                      err_path)) < 0) {
        free(obs);
        return GDN_EIO;
    }
    tout.fd = open(out_path, O_RDONLY | O_CLOEXEC);
    terr.fd = open(err_path, O_RDONLY | O_CLOEXEC);

    /* Listening: then the owners start. */
    memset(&rep, 0, sizeof rep);
    while (!obs->port && !interrupted && gdn_now() < t0 + 60) {
        int got = launcher_report(&rep, POLL_MS);
        tail_poll(&tout, on_out_line, obs);
        tail_poll(&terr, on_err_line, obs);
        if (got) {
            exited = 1;
            break;
        }
    }
    if (!obs->port) {
        rc = gdn_error(GDN_EIO, "the coordinator did not start listening");
        goto end;
    }
    fprintf(stderr, "  coordinator pid %d listening on port %u; starting %zu owners\n",
            (int)obs->pid, obs->port, clients);
    getrusage(RUSAGE_SELF, &self0);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, OWNER_STACK);
    for (size_t i = 0; i < clients; i++) {
        owner_job *j = &jobs[i];
        j->cfg.port = (uint16_t)obs->port;
        j->cfg.stop = &stop;
        j->have_held = 0; /* a new coordinator ledger each run */
        j->rc = 0;
        j->err[0] = '\0';
        j->started = pthread_create(&j->th, &attr, owner_main, j) == 0;
        if (!j->started) {
            rc = gdn_error(GDN_ENOMEM, "could not start owner thread %zu", i);
            break;
        }
        started++;
        if (i % 64 == 63) { /* keep reading the logs while starting */
            tail_poll(&tout, on_out_line, obs);
            tail_poll(&terr, on_err_line, obs);
        }
    }
    pthread_attr_destroy(&attr);

    /* Until the coordinator exits. */
    while (!exited && !rc) {
        int got = launcher_report(&rep, POLL_MS);
        tail_poll(&tout, on_out_line, obs);
        tail_poll(&terr, on_err_line, obs);
        if (got) {
            exited = 1;
            break;
        }
        if (interrupted || gdn_now() > deadline) {
            rc = gdn_error(GDN_EIO, interrupted ? "interrupted" : "the run took too long");
            break;
        }
    }
end:
    if (!exited) { /* SIGTERM: it says Bye and stops; SIGKILL after 10 s */
        kill(obs->pid, SIGTERM);
        if (!launcher_report(&rep, 10000)) {
            kill(obs->pid, SIGKILL);
            launcher_report(&rep, -1);
        }
    }
    tail_poll(&tout, on_out_line, obs);
    tail_poll(&terr, on_err_line, obs);
    if (!rc && rep.exited != 1)
        rc = gdn_error(GDN_EIO, "the launcher process is gone");
    if (!rc && !(WIFEXITED(rep.status) && WEXITSTATUS(rep.status) == 0))
        rc = gdn_error(GDN_EIO, "the coordinator exited with status %d",
                       WIFEXITED(rep.status) ? WEXITSTATUS(rep.status)
                                             : 128 + WTERMSIG(rep.status));
    /* Owners that got Bye{DONE} have returned; any other would retry for
     * retry_ms against a coordinator that is gone. */
    stop = 1;
    if (rc)
        print_tail(err_path, 20);
    fprintf(stderr, "  coordinator exited; joining the owners\n");
    for (size_t i = 0; i < started; i++) {
        pthread_join(jobs[i].th, NULL);
        if (jobs[i].rc) {
            if (!res->owner_failures)
                fprintf(stderr, "  owner %zu: %s\n", i, jobs[i].err);
            res->owner_failures++;
        }
    }
    getrusage(RUSAGE_SELF, &self1);
    res->wall_s = gdn_now() - t0;
    if (rc)
        goto done;

    res->cpu_s = cpu_of(&rep.ru);
    res->user_s = (double)rep.ru.ru_utime.tv_sec + rep.ru.ru_utime.tv_usec / 1e6;
    res->sys_s = (double)rep.ru.ru_stime.tv_sec + rep.ru.ru_stime.tv_usec / 1e6;
    res->minor_faults = rep.ru.ru_minflt;
    res->peak_rss_mib = (double)rep.ru.ru_maxrss / 1024.0;
    res->clients_cpu_s = cpu_of(&self1) - cpu_of(&self0);
    res->listen_rss_mib = obs->listen.rss_mib;
    res->joined_rss_mib = obs->all_joined.rss_mib;
    /* The phases, from the /proc samples (NaN where one is missing). */
    res->setup_cpu_s = obs->listen.cpu_s >= 0 ? obs->listen.cpu_s : NAN;
    res->join_cpu_s = res->rounds_cpu_s = res->shutdown_cpu_s = NAN;
    res->round_cpu_ms_per_client_median = NAN;
    for (unsigned r = 0; r < rounds; r++)
        res->round_cpu_s[r] = NAN;
    if (obs->joined >= clients) {
        const sample *prev = &obs->all_joined;
        int all = 1;
        res->join_cpu_s = cpu_between(&obs->listen, &obs->all_joined);
        for (unsigned r = 1; r <= rounds && r <= obs->rounds_seen; r++) {
            res->round_cpu_s[r - 1] = cpu_between(prev, &obs->round_end[r]);
            all &= isfinite(res->round_cpu_s[r - 1]);
            prev = &obs->round_end[r];
        }
        if (obs->rounds_seen == rounds) {
            res->rounds_cpu_s = cpu_between(&obs->all_joined, &obs->round_end[rounds]);
            if (obs->round_end[rounds].cpu_s >= 0)
                res->shutdown_cpu_s = res->cpu_s - obs->round_end[rounds].cpu_s;
            if (all)
                res->round_cpu_ms_per_client_median =
                    bench_median(res->round_cpu_s, rounds) / (double)clients * 1000;
        }
    }
    if (!obs->have_done) {
        rc = gdn_error(GDN_EFORMAT, "%s: no \"coordinator done\" line", out_path);
        goto done;
    }
    res->mb_sent = obs->mb_sent;
    res->mb_received = obs->mb_received;
    res->peak_connections = obs->peak_connections;
    res->coordinator_warnings = obs->warnings;
    res->wire_bytes_per_client_round =
        (obs->mb_sent + obs->mb_received) * 1e6 / ((double)rounds * (double)clients);
    if ((rc = read_metrics(metrics, res, rounds)))
        goto done;
    res->round_s_median = bench_median(res->round_s, rounds);
    res->complete = res->updates_min == clients && !res->rounds_failed && !res->owner_failures;
    if (!res->complete)
        fprintf(stderr, "run %d is INCOMPLETE: %zu updates in the worst round of %zu, %u rounds "
                        "failed, %u owners failed\n",
                run, res->updates_min, clients, res->rounds_failed, res->owner_failures);
    res->ok = 1;
done:
    if (tout.fd >= 0)
        close(tout.fd);
    if (terr.fd >= 0)
        close(terr.fd);
    free(obs);
    return rc;
}

/* ---- Output --------------------------------------------------------------------- */

static void json_num(gdn_buf *out, const char *name, double v, int digits)
{
    if (isfinite(v))
        gdn_buf_printf(out, ",\"%s\":%.*f", name, digits, v);
    else
        gdn_buf_printf(out, ",\"%s\":null", name);
}

static void json_array(gdn_buf *out, const char *name, const double *v, size_t n, int digits)
{
    gdn_buf_printf(out, ",\"%s\":[", name);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]))
            gdn_buf_printf(out, "%s%.*f", i ? "," : "", digits, v[i]);
        else
            gdn_buf_printf(out, "%snull", i ? "," : "");
    }
    gdn_buf_printf(out, "]");
}

static void json_machine(gdn_buf *out)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512], model[256] = "unknown";

    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && colon) {
                size_t n;
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                n = strcspn(colon, "\n");
                snprintf(model, sizeof model, "%.*s", (int)n, colon);
                break;
            }
        }
        fclose(f);
    }
    gdn_buf_printf(out, ",\"cpu\":");
    bench_json_string(out, model);
    gdn_buf_printf(out, ",\"cores\":%ld", sysconf(_SC_NPROCESSORS_ONLN));
}

static void emit(gdn_buf *out)
{
    if (out->data)
        fwrite(out->data, 1, out->len, stdout);
    fflush(stdout);
    out->len = 0;
}

static void print_run(const run_result *r, int run, size_t clients, unsigned rounds)
{
    gdn_buf out = {0};
    double cr = (double)clients * (double)rounds;

    gdn_buf_printf(&out, "{\"bench\":\"federation\",\"run\":%d,\"model\":\"%s\","
                   "\"model_bytes\":%zu,\"clients\":%zu,\"rounds\":%u,\"complete\":%s,"
                   "\"updates_min\":%zu,\"rounds_failed\":%u",
                   run, MODEL, model_bytes, clients, rounds, r->complete ? "true" : "false",
                   r->updates_min, r->rounds_failed);
    json_num(&out, "cpu_s", r->cpu_s, 3);
    json_num(&out, "user_s", r->user_s, 3);
    json_num(&out, "sys_s", r->sys_s, 3);
    gdn_buf_printf(&out, ",\"minor_faults\":%ld", r->minor_faults);
    json_num(&out, "cpu_ms_per_client_round", r->cpu_s / cr * 1000, 4);
    json_num(&out, "rounds_cpu_ms_per_client_round", r->rounds_cpu_s / cr * 1000, 4);
    json_num(&out, "setup_cpu_s", r->setup_cpu_s, 2);
    json_num(&out, "join_cpu_s", r->join_cpu_s, 2);
    json_num(&out, "join_cpu_ms_per_client", r->join_cpu_s / (double)clients * 1000, 4);
    json_num(&out, "rounds_cpu_s", r->rounds_cpu_s, 2);
    json_num(&out, "shutdown_cpu_s", r->shutdown_cpu_s, 2);
    json_num(&out, "round_cpu_ms_per_client_median", r->round_cpu_ms_per_client_median, 4);
    json_array(&out, "round_cpu_s", r->round_cpu_s, rounds, 2);
    json_num(&out, "round_s_median", r->round_s_median, 3);
    json_array(&out, "round_s", r->round_s, rounds, 3);
    json_num(&out, "peak_rss_mib", r->peak_rss_mib, 1);
    json_num(&out, "rss_mib_per_client", r->peak_rss_mib / (double)clients, 4);
    json_num(&out, "rss_mib_per_client_above_base",
             (r->peak_rss_mib - r->listen_rss_mib) / (double)clients, 4);
    json_num(&out, "listen_rss_mib", r->listen_rss_mib, 1);
    json_num(&out, "joined_rss_mib", r->joined_rss_mib, 1);
    json_num(&out, "mb_sent", r->mb_sent, 1);
    json_num(&out, "mb_received", r->mb_received, 1);
    json_num(&out, "wire_bytes_per_client_round", r->wire_bytes_per_client_round, 0);
    json_num(&out, "wire_per_model_transfer",
             r->wire_bytes_per_client_round / (2.0 * (double)model_bytes), 4);
    gdn_buf_printf(&out, ",\"peak_connections\":%zu,\"owner_failures\":%u,"
                   "\"coordinator_warnings\":%zu",
                   r->peak_connections, r->owner_failures, r->coordinator_warnings);
    json_num(&out, "clients_cpu_s", r->clients_cpu_s, 2);
    json_num(&out, "clients_cpu_ms_per_client_round", r->clients_cpu_s / cr * 1000, 3);
    json_num(&out, "wall_s", r->wall_s, 1);
    json_machine(&out);
    bench_json_env(&out);
    gdn_buf_printf(&out, "}\n");
    emit(&out);
    gdn_buf_free(&out);
}

/* Median of the finite values of v[0..n), NaN if there are none. */
static double median_finite(const double *v, size_t n)
{
    double w[MAX_RUNS];
    size_t k = 0;

    for (size_t i = 0; i < n && i < MAX_RUNS; i++)
        if (isfinite(v[i]))
            w[k++] = v[i];
    return k ? bench_median(w, k) : NAN;
}

static void print_summary(const run_result *res, int runs, size_t clients, unsigned rounds)
{
    double v[MAX_RUNS][9], col[MAX_RUNS], m[9], cr = (double)clients * (double)rounds;
    static const char *names[9] = {
        "cpu_ms_per_client_round_median", "rounds_cpu_ms_per_client_round_median",
        "round_cpu_ms_per_client_median", "join_cpu_ms_per_client_median",
        "round_s_median", "peak_rss_mib_median", "rss_mib_per_client_median",
        "wire_bytes_per_client_round_median", "rss_mib_per_client_above_base_median"};
    static const int digits[9] = {4, 4, 4, 4, 3, 1, 4, 0, 4};
    gdn_buf out = {0};
    int overhead, memory, complete = 1;

    for (int i = 0; i < runs; i++) {
        v[i][0] = res[i].cpu_s / cr * 1000;
        v[i][1] = res[i].rounds_cpu_s / cr * 1000;
        v[i][2] = res[i].round_cpu_ms_per_client_median;
        v[i][3] = res[i].join_cpu_s / (double)clients * 1000;
        v[i][4] = res[i].round_s_median;
        v[i][5] = res[i].peak_rss_mib;
        v[i][6] = res[i].peak_rss_mib / (double)clients;
        v[i][7] = res[i].wire_bytes_per_client_round;
        v[i][8] = (res[i].peak_rss_mib - res[i].listen_rss_mib) / (double)clients;
    }
    for (int k = 0; k < 9; k++) {
        for (int i = 0; i < runs; i++)
            col[i] = v[i][k];
        m[k] = median_finite(col, (size_t)runs);
    }
    for (int i = 0; i < runs; i++)
        complete &= res[i].complete;
    /* the goal is per round: the median round's CPU per owner (a federation
     * runs many rounds over the same connections; joining, once per
     * connection, and the first round's warm-up are reported beside it);
     * only for runs where every owner took part in every round */
    overhead = complete && m[2] < 1;
    memory = complete && m[6] < 2;
    gdn_buf_printf(&out, "{\"bench\":\"federation_summary\",\"model\":\"%s\",\"model_bytes\":%zu,"
                   "\"clients\":%zu,\"rounds\":%u,\"runs\":%d",
                   MODEL, model_bytes, clients, rounds, runs);
    gdn_buf_printf(&out, ",\"all_complete\":%s", complete ? "true" : "false");
    for (int k = 0; k < 9; k++)
        json_num(&out, names[k], m[k], digits[k]);
    gdn_buf_printf(&out, ",\"overhead_goal_met\":%s,\"memory_goal_met\":%s,\"goal_met\":%s",
                   overhead ? "true" : "false", memory ? "true" : "false",
                   overhead && memory ? "true" : "false");
    json_machine(&out);
    bench_json_env(&out);
    gdn_buf_printf(&out, "}\n");
    emit(&out);
    gdn_buf_free(&out);
}

/* ---- Main ----------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: federation [--clients N (2..%d)] [--rounds R (1..%d)] "
                    "[--runs K (1..%d)]\n",
            MAX_CLIENTS, MAX_ROUNDS, MAX_RUNS);
    return 2;
}

/* OpenBLAS reads OPENBLAS_NUM_THREADS when it loads, before main: set it
 * and start again (the coordinator inherits it). */
static void one_blas_thread(char **argv)
{
    const char *v = getenv("OPENBLAS_NUM_THREADS");

    if (v && strcmp(v, "1") == 0)
        return;
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "federation: could not re-execute with OPENBLAS_NUM_THREADS=1 (%s); "
                    "going on\n", strerror(errno));
}

int main(int argc, char **argv)
{
    long clients = 1000, rounds = 20, runs = 3;
    const char *guardian = getenv("GDN_GUARDIAN");
    const char *tmp = getenv("TMPDIR");
    char dir[512];
    gdn_dataset train = {0}, test = {0};
    gdn_partition part = {0};
    gdn_rng rng;
    owner_job *jobs = NULL;
    run_result *res = NULL;
    struct rlimit rl;
    struct sigaction sa;
    int rc = 0, have_dir = 0, done = 0;

    for (int i = 1; i < argc; i++) {
        long *dst = NULL, lo = 0, hi = 0;
        if (strcmp(argv[i], "--clients") == 0)
            dst = &clients, lo = 2, hi = MAX_CLIENTS;
        else if (strcmp(argv[i], "--rounds") == 0)
            dst = &rounds, lo = 1, hi = MAX_ROUNDS;
        else if (strcmp(argv[i], "--runs") == 0)
            dst = &runs, lo = 1, hi = MAX_RUNS;
        if (!dst || i + 1 == argc || bench_parse_count(argv[++i], lo, hi, dst))
            return usage();
    }
    one_blas_thread(argv);
    if (!guardian || !*guardian)
        guardian = "build/guardian";
    if (access(guardian, X_OK) != 0) {
        fprintf(stderr, "federation: %s: not an executable (build it, or set GDN_GUARDIAN)\n",
                guardian);
        return 1;
    }
    /* A socket per owner here, and headroom. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)clients + 64) {
            fprintf(stderr, "federation: %llu file descriptors allowed, %ld clients need more\n",
                    (unsigned long long)rl.rlim_cur, clients);
            return 1;
        }
    }
    if (start_launcher()) { /* before anything large is in memory */
        fprintf(stderr, "federation: cannot start the launcher process: %s\n", strerror(errno));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a closed stdout must not skip the clean-up */
    sigaction(SIGPIPE, &sa, NULL);
    gdn_log_set_level(GDN_LOG_WARN); /* the owners' INFO lines: thousands */

    snprintf(dir, sizeof dir, "%s/gdn-bench-federation-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "federation: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    have_dir = 1;
    fprintf(stderr, "federation: %ld clients, %ld rounds, %ld runs in %s\n", clients, rounds,
            runs, dir);
    {
        size_t nparams = 0;
        if ((rc = gdn_model_count(&nparams, MODEL, 1, 28, 28, 10)))
            goto out;
        model_bytes = 4 * nparams;
    }
    if ((rc = make_federation(dir, (size_t)clients)))
        goto out;
    if ((rc = gdn_data_load_fashion_mnist(&train, &test, NULL)))
        goto out;
    gdn_dataset_free(&test);
    gdn_rng_init_seed(&rng, 1);
    if ((rc = gdn_data_partition(&part, &train, "iid", (size_t)clients, &rng)))
        goto out;
    jobs = calloc((size_t)clients, sizeof *jobs);
    res = calloc((size_t)runs, sizeof *res);
    if (!jobs || !res) {
        rc = gdn_error(GDN_ENOMEM, "out of memory");
        goto out;
    }
    for (long k = 0; k < clients; k++) {
        owner_job *j = &jobs[k];
        snprintf(j->dir, sizeof j->dir, "%s/o%ld", dir, k);
        j->cfg.host = "127.0.0.1";
        j->cfg.tls.dir = j->dir;
        j->cfg.data = &train;
        j->cfg.idx = part.idx + part.offset[k];
        j->cfg.n = gdn_partition_size(&part, (size_t)k);
        j->cfg.retry_ms = 120000;
        j->ledger.held = held_size;
        j->ledger.check = check_head;
        j->ledger.ctx = j;
        j->cfg.ledger = &j->ledger;
        {
            char key[1100];
            snprintf(key, sizeof key, "%s/key.pem", j->dir);
            if ((rc = gdn_net_identity_secret(j->sk, key)))
                goto out;
        }
    }
    for (done = 0; done < runs; done++) {
        if (interrupted) {
            rc = gdn_error(GDN_EIO, "interrupted");
            goto out;
        }
        if ((rc = run_once(&res[done], done + 1, dir, guardian, jobs, (size_t)clients,
                           (unsigned)rounds)))
            goto out;
        print_run(&res[done], done + 1, (size_t)clients, (unsigned)rounds);
        fprintf(stderr, "run %d: coordinator %.2f s CPU (%.4f ms per client-round), peak %.1f "
                        "MiB, rounds %.2f s (median)\n",
                done + 1, res[done].cpu_s,
                res[done].cpu_s / ((double)clients * (double)rounds) * 1000,
                res[done].peak_rss_mib, res[done].round_s_median);
    }
    print_summary(res, (int)runs, (size_t)clients, (unsigned)rounds);
    for (int i = 0; i < runs && !rc; i++)
        if (!res[i].complete)
            rc = gdn_error(GDN_EIO, "run %d was incomplete: see its line", i + 1);
out:
    if (rc)
        fprintf(stderr, "federation: %s: %s\n", gdn_strerror(rc), gdn_errmsg());
    if (have_dir)
        remove_tree(dir);
    stop_launcher();
    if (jobs)
        sodium_memzero(jobs, (size_t)clients * sizeof *jobs);
    free(jobs);
    free(res);
    gdn_partition_free(&part);
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    return rc ? 1 : 0;
}
