/* Allocation, byte buffers and files. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guardian/core.h"

void *gdn_alloc_aligned(size_t size)
{
    size_t rounded = (size + 63) & ~(size_t)63;

    if (rounded < size)
        return NULL;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void gdn_free_aligned(void *p)
{
    free(p);
}

int gdn_mul_size(size_t *out, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return GDN_ERANGE;
    *out = n * size;
    return 0;
}

int gdn_buf_reserve(gdn_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (extra > SIZE_MAX - b->len)
        return gdn_error(GDN_ERANGE, "buffer size overflow");
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p)
        return gdn_error(GDN_ENOMEM, "cannot grow buffer to %zu bytes", cap);
    b->data = p;
    b->cap = cap;
    return 0;
}

int gdn_buf_append(gdn_buf *b, const void *p, size_t n)
{
    int rc = gdn_buf_reserve(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int gdn_buf_printf(gdn_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return gdn_error(GDN_EINVAL, "bad format string");
    if ((rc = gdn_buf_reserve(b, (size_t)n + 1)))
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void gdn_buf_free(gdn_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int gdn_file_read(gdn_buf *out, const char *path, size_t max_bytes)
{
    FILE *f = fopen(path, "rb");
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;

    if (!f)
        return gdn_error(GDN_EIO, "%s: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > max_bytes) {
            rc = gdn_error(GDN_ERANGE, "%s: larger than the limit of %zu bytes",
                           path, max_bytes);
            break;
        }
        if ((rc = gdn_buf_append(out, chunk, n)))
            break;
    }
    if (!rc && ferror(f))
        rc = gdn_error(GDN_EIO, "%s: read error", path);
    fclose(f);
    return rc;
}

/* The directory part of path ("." when there is none), for fsync. */
static void sync_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    int fd;

    if (n >= sizeof dir)
        return;
    if (n == 0 && slash)
        n = 1; /* "/file": the root */
    memcpy(dir, slash ? path : ".", slash ? n : 1);
    dir[slash ? n : 1] = '\0';
    if ((fd = open(dir, O_RDONLY | O_CLOEXEC)) >= 0) {
        fsync(fd); /* best effort: the rename is what makes the file whole */
        close(fd);
    }
}

int gdn_file_write_atomic_mode(const char *path, const void *data, size_t len,
                               unsigned mode)
{
    char tmp[4096];
    const uint8_t *p = data;
    int fd, n, err;

    n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return gdn_error(GDN_EINVAL, "path too long: %s", path);
    unlink(tmp); /* a leftover of a crashed run with our pid */
    /* Created with its final mode: a secret never exists readable by others. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return gdn_error(GDN_EIO, "%s: %s", tmp, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        len -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    sync_parent(path);
    return 0;
fail:
    err = errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return gdn_error(GDN_EIO, "%s: %s", path, strerror(err));
}

int gdn_file_write_atomic(const char *path, const void *data, size_t len)
{
    return gdn_file_write_atomic_mode(path, data, len, 0644);
}

int gdn_mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof buf)
        return gdn_error(GDN_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return gdn_error(GDN_EIO, "mkdir %s: %s", buf, strerror(errno));
        buf[i] = c;
    }
    return 0;
}

double gdn_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int gdn_simd_get(_Atomic int *slot, int (*detect)(void))
{
    int level = atomic_load_explicit(slot, memory_order_relaxed);
    if (level < 0) {
        const char *no = getenv("GDN_NO_SIMD");
        level = no && strcmp(no, "1") == 0 ? 0 : detect();
        atomic_store_explicit(slot, level, memory_order_relaxed);
    }
    return level;
}

int gdn_simd_set(_Atomic int *slot, int (*detect)(void), int level)
{
    int max = detect();
    level = level < 0 ? 0 : level > max ? max : level;
    atomic_store_explicit(slot, level, memory_order_relaxed);
    return level;
}
