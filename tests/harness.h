/* The test harness: tests register themselves with GDN_TEST and check values
 * with CHECK*; the runner (tests/main.c) runs all of them, or those whose
 * name contains argv[1], and ends with "N passed, N failed". */
#ifndef GDN_TEST_HARNESS_H
#define GDN_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*gdn_test_fn)(void);
void gdn_test_register(const char *name, gdn_test_fn fn);
void gdn_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Directory of the official vectors: $GDN_VECTORS or ../shared/vectors. */
const char *gdn_test_vectors_dir(void);
/* Fashion-MNIST directory ($GDN_FASHION_MNIST_DIR or the Debian path). */
const char *gdn_test_fmnist_dir(void);
/* A fresh scratch directory for this test run (removed by the runner). */
const char *gdn_test_tmpdir(void);
/* Runs the guardian command ($GDN_GUARDIAN, else build/guardian) with args,
 * its stdout and stderr into the file log; returns its exit code (-1 when it
 * did not exit normally). */
int gdn_test_guardian(const char *args, const char *log);
/* Whether the file at path contains needle (0 when it cannot be read). */
int gdn_test_file_contains(const char *path, const char *needle);
/* Starts the guardian command in the background like gdn_test_guardian,
 * with env ("NAME=value ..." or NULL) added; returns its pid (-1 on failure). */
int gdn_test_spawn(const char *args, const char *log, const char *env);
/* Waits up to timeout seconds for pid: its exit code, 128 + the signal that
 * killed it, or -1 on timeout (it is then killed). */
int gdn_test_wait(int pid, double timeout);
/* Waits up to timeout seconds until the file at path contains needle. */
int gdn_test_wait_file(const char *path, const char *needle, double timeout);
/* The port a server logged ("listening on port N") to the file at path
 * within 60 s; 0 if none. */
unsigned gdn_test_wait_port(const char *path);

#define GDN_TEST(name)                                                        \
    static void test_##name(void);                                            \
    __attribute__((constructor)) static void register_##name(void)            \
    {                                                                         \
        gdn_test_register(#name, test_##name);                                \
    }                                                                         \
    static void test_##name(void)

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            gdn_test_fail(__FILE__, __LINE__, "%s", #cond);                   \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CHECK_MSG(cond, ...)                                                  \
    do {                                                                      \
        if (!(cond)) {                                                        \
            gdn_test_fail(__FILE__, __LINE__, __VA_ARGS__);                   \
            return;                                                           \
        }                                                                     \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    CHECK_MSG((a) == (b), "%s == %s: %lld vs %lld", #a, #b, (long long)(a),   \
              (long long)(b))

/* Passes a library call that returns 0, or fails showing its error. */
#define CHECK_OK(call)                                                        \
    do {                                                                      \
        int rc_ = (call);                                                     \
        CHECK_MSG(rc_ == 0, "%s returned %d (%s): %s", #call, rc_,            \
                  gdn_strerror(rc_), gdn_errmsg());                           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                 \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        CHECK_MSG(fabs(a_ - b_) <= (tol), "%s ~ %s: %.9g vs %.9g (tol %g)",   \
                  #a, #b, a_, b_, (double)(tol));                             \
    } while (0)

#endif
