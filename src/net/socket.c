/* TCP sockets for the coordinator and its clients: always non-blocking, so
 * one code path serves the epoll loop and the blocking helpers (which wait
 * with poll and a deadline). */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/internal.h"

static int set_flags(int fd)
{
    int one = 1, fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return gdn_error(GDN_EIO, "socket flags: %s", strerror(errno));
    /* Frames are small and answered at once: no Nagle delay. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

int net_wait_fd(int fd, int for_write, double deadline)
{
    for (;;) {
        double left = deadline - gdn_now();
        struct pollfd p = {.fd = fd, .events = (short)(for_write ? POLLOUT : POLLIN)};
        int ms, n;

        if (left <= 0)
            return 0;
        ms = left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
        n = poll(&p, 1, ms);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return gdn_error(GDN_EIO, "poll: %s", strerror(errno));
    }
}

void gdn_net_peer_address(char *out, size_t cap, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN];

    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, cap, "?");
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

static int resolve(struct addrinfo **res, const char *host, uint16_t port, int passive)
{
    struct addrinfo hints;
    char service[8];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(service, sizeof service, "%u", (unsigned)port);
    rc = getaddrinfo(host, service, &hints, res);
    if (rc)
        return gdn_error(GDN_EIO, "cannot resolve %s: %s", host, gai_strerror(rc));
    return 0;
}

int gdn_net_listen(int *fd, const char *host, uint16_t port, int backlog, uint16_t *bound)
{
    struct addrinfo *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int s = -1, err = 0, one = 1, rc;

    *fd = -1;
    if (!host)
        host = "127.0.0.1";
    if ((rc = resolve(&res, host, port, 1)))
        return rc;
    for (ai = res; ai; ai = ai->ai_next) {
        s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (s < 0) {
            err = errno;
            continue;
        }
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(s, backlog > 0 ? backlog : 128) == 0)
            break;
        err = errno;
        close(s);
        s = -1;
    }
    freeaddrinfo(res);
    if (s < 0)
        return gdn_error(GDN_EIO, "listen on %s:%u: %s", host, (unsigned)port, strerror(err));
    if ((rc = set_flags(s))) {
        close(s);
        return rc;
    }
    if (bound) {
        *bound = 0;
        if (getsockname(s, (struct sockaddr *)&ss, &len) == 0)
            *bound = ntohs(ss.ss_family == AF_INET6
                               ? ((const struct sockaddr_in6 *)&ss)->sin6_port
                               : ((const struct sockaddr_in *)&ss)->sin_port);
    }
    *fd = s;
    return 0;
}

int gdn_net_accept(int *fd, int listen_fd, int timeout_ms)
{
    double deadline = gdn_now() + (timeout_ms > 0 ? timeout_ms : 0) / 1000.0;
    int s, rc;

    *fd = -1;
    for (;;) {
        s = accept(listen_fd, NULL, NULL);
        if (s >= 0)
            break;
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return gdn_error(GDN_EIO, "accept: %s", strerror(errno));
        if (timeout_ms <= 0)
            return GDN_NET_WANT_READ;
        if ((rc = net_wait_fd(listen_fd, 0, deadline)) < 0)
            return rc;
        if (rc == 0)
            return gdn_error(GDN_EIO, "no connection within %d ms", timeout_ms);
    }
    if ((rc = set_flags(s))) {
        close(s);
        return rc;
    }
    *fd = s;
    return 0;
}

/* One address: 0 connected, else errno (ETIMEDOUT past the deadline). */
static int connect_one(int s, const struct addrinfo *ai, double deadline)
{
    int err = 0, rc;
    socklen_t len = sizeof err;

    if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return errno;
    rc = net_wait_fd(s, 1, deadline);
    if (rc < 0)
        return EIO;
    if (rc == 0)
        return ETIMEDOUT;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return errno;
    return err;
}

int gdn_net_connect(int *fd, const char *host, uint16_t port, int timeout_ms)
{
    double deadline = gdn_now() + (timeout_ms > 0 ? timeout_ms : 1) / 1000.0;
    struct addrinfo *res = NULL, *ai;
    int s = -1, err = 0, rc;

    *fd = -1;
    if ((rc = resolve(&res, host, port, 0)))
        return rc;
    for (ai = res; ai; ai = ai->ai_next) {
        s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (s < 0) {
            err = errno;
            continue;
        }
        if ((rc = set_flags(s)) == 0 && (err = connect_one(s, ai, deadline)) == 0)
            break;
        close(s);
        s = -1;
        if (rc) {
            freeaddrinfo(res);
            return rc;
        }
        if (err == ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    if (s < 0)
        return gdn_error(GDN_EIO, "connect to %s:%u: %s", host, (unsigned)port,
                         err == ETIMEDOUT ? "timed out" : strerror(err));
    *fd = s;
    return 0;
}
