/* Test runner: runs every registered test (or those whose name contains an
 * argument) and prints "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "harness.h"

#define MAX_TESTS 1024

static struct { const char *name; gdn_test_fn fn; } tests[MAX_TESTS];
static size_t ntests;
static int current_failed;
static char tmpdir[256];

void gdn_test_register(const char *name, gdn_test_fn fn)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "too many tests\n");
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    ntests++;
}

void gdn_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    current_failed = 1;
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

const char *gdn_test_vectors_dir(void)
{
    const char *d = getenv("GDN_VECTORS");
    return d && *d ? d : "../shared/vectors";
}

const char *gdn_test_fmnist_dir(void)
{
    const char *d = getenv("GDN_FASHION_MNIST_DIR");
    return d && *d ? d : GDN_FASHION_MNIST_DIR;
}

const char *gdn_test_tmpdir(void)
{
    return tmpdir;
}

int gdn_test_guardian(const char *args, const char *log)
{
    const char *g = getenv("GDN_GUARDIAN");
    char cmd[8192];
    int st;

    snprintf(cmd, sizeof cmd, "%s %s > '%s' 2>&1", g && *g ? g : "build/guardian",
             args, log);
    st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int gdn_test_file_contains(const char *path, const char *needle)
{
    gdn_buf b = {0};
    int found = 0;

    if (gdn_file_read(&b, path, 1 << 26) == 0 && gdn_buf_append(&b, "", 1) == 0)
        found = strstr((const char *)b.data, needle) != NULL;
    gdn_buf_free(&b);
    return found;
}

static void nap(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Processes a test started: whatever is still running when the test ends
 * (a failed CHECK skipped its wait) is killed, so nothing outlives the run. */
static pid_t spawned[64];
static size_t nspawned;

static void reap_spawned(void)
{
    for (size_t i = 0; i < nspawned; i++)
        if (kill(spawned[i], 0) == 0 && waitpid(spawned[i], NULL, WNOHANG) == 0) {
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], NULL, 0);
        }
    nspawned = 0;
}

int gdn_test_spawn(const char *args, const char *log, const char *env)
{
    const char *g = getenv("GDN_GUARDIAN");
    char cmd[8192];
    pid_t pid;

    snprintf(cmd, sizeof cmd, "%s exec %s %s > '%s' 2>&1", env ? env : "",
             g && *g ? g : "build/guardian", args, log);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (pid > 0 && nspawned < sizeof spawned / sizeof spawned[0])
        spawned[nspawned++] = pid;
    return pid > 0 ? (int)pid : -1;
}

int gdn_test_wait(int pid, double timeout)
{
    double end = gdn_now() + timeout;
    int st;

    for (;;) {
        pid_t r = waitpid((pid_t)pid, &st, WNOHANG);
        if (r == (pid_t)pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0)
            return -1;
        if (gdn_now() > end) {
            kill((pid_t)pid, SIGKILL);
            waitpid((pid_t)pid, &st, 0);
            return -1;
        }
        nap();
    }
}

int gdn_test_wait_file(const char *path, const char *needle, double timeout)
{
    double end = gdn_now() + timeout;

    while (!gdn_test_file_contains(path, needle)) {
        if (gdn_now() > end)
            return 0;
        nap();
    }
    return 1;
}

unsigned gdn_test_wait_port(const char *path)
{
    gdn_buf b = {0};
    unsigned port = 0;

    if (!gdn_test_wait_file(path, "listening on port ", 60))
        return 0;
    if (gdn_file_read(&b, path, 1 << 20) == 0 && gdn_buf_append(&b, "", 1) == 0) {
        const char *p = strstr((const char *)b.data, "listening on port ");
        if (p)
            port = (unsigned)strtoul(p + 18, NULL, 10);
    }
    gdn_buf_free(&b);
    return port;
}

static int by_name(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    return strcmp(x, y);
}

int main(int argc, char **argv)
{
    size_t passed = 0, failed = 0;
    char cmd[300];

    /* Registration order depends on the linker; run in name order. */
    qsort(tests, ntests, sizeof tests[0], by_name);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gdn-test-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    gdn_log_set_level(GDN_LOG_WARN);
    for (size_t i = 0; i < ntests; i++) {
        int selected = argc < 2;
        for (int a = 1; a < argc; a++)
            selected |= strstr(tests[i].name, argv[a]) != NULL;
        if (!selected)
            continue;
        current_failed = 0;
        double t0 = gdn_now();
        tests[i].fn();
        reap_spawned();
        printf("%s %-40s %.2fs\n", current_failed ? "FAIL" : "ok  ",
               tests[i].name, gdn_now() - t0);
        fflush(stdout);
        current_failed ? failed++ : passed++;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (failed && getenv("GDN_TEST_KEEP")) /* the failures' files, for a look */
        fprintf(stderr, "kept %s (GDN_TEST_KEEP)\n", tmpdir);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
