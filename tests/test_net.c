/* net: identities (CA, keys, certificates, CRL), mutually authenticated TLS
 * 1.3 on loopback with each refusal checked by its message, frames and chunk
 * reassembly, and the `guardian keygen` / `guardian ca` commands. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "guardian/net.h"
#include "harness.h"

#define TIMEOUT_MS 4000

/* ---- A federation made once with the library ------------------------------------ */

static char fed[512];      /* root of the test federation */
static int fed_state;      /* 0 not made, 1 made, -1 failed */
static uint8_t fp_coord[32], fp_alice[32], fp_bob[32];

static const char *dir_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", fed, name);
    return out;
}

/* Re-signs a party's certificate with the CA's key, valid only in the past. */
static int make_expired(const char *ca_dir, const char *party_dir)
{
    char path[700];
    FILE *f;
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *key = NULL;
    int ok = 0;

    snprintf(path, sizeof path, "%s/ca.pem", ca_dir);
    if ((f = fopen(path, "r"))) {
        ca = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/ca-key.pem", ca_dir);
    if ((f = fopen(path, "r"))) {
        key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/cert.pem", party_dir);
    if ((f = fopen(path, "r"))) {
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (ca && key && x) {
        ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL) - 10 * 86400);
        ASN1_TIME *u = ASN1_TIME_set(NULL, time(NULL) - 86400);
        ok = t && u && X509_set1_notBefore(x, t) && X509_set1_notAfter(x, u) &&
             X509_sign(x, key, NULL) > 0 && (f = fopen(path, "w")) != NULL;
        if (ok) {
            ok = PEM_write_X509(f, x);
            fclose(f);
        }
        ASN1_TIME_free(t);
        ASN1_TIME_free(u);
    }
    X509_free(ca);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/* ca (federation CA), coord (server), alice, bob, carol (clients; carol
 * expired), evil (another CA) and mallory (a client of evil). */
static int make_federation(void)
{
    char ca[600], evil[600], d[600];
    gdn_net_sign_opts server = {.days = 30, .server = 1, .hosts = "coord.example,10.1.2.3"};
    gdn_net_sign_opts client = {.days = 30};
    uint8_t fp[32];

    if (fed_state)
        return fed_state > 0 ? 0 : -1;
    fed_state = -1;
    snprintf(fed, sizeof fed, "%s/fed", gdn_test_tmpdir());
    dir_of(ca, sizeof ca, "ca");
    dir_of(evil, sizeof evil, "evil");
    if (gdn_net_ca_init(ca, "Test Federation CA", 0, 0) ||
        gdn_net_ca_init(evil, "Evil CA", 0, 0) ||
        gdn_net_keygen(fp_coord, dir_of(d, sizeof d, "coord"), "coord", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &server) ||
        gdn_net_keygen(fp_alice, dir_of(d, sizeof d, "alice"), "alice", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &client) ||
        gdn_net_keygen(fp_bob, dir_of(d, sizeof d, "bob"), "bob", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &client) ||
        gdn_net_keygen(fp, dir_of(d, sizeof d, "carol"), "carol", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &client) || make_expired(ca, d) ||
        gdn_net_keygen(fp, dir_of(d, sizeof d, "mallory"), "mallory", 0) ||
        gdn_net_ca_sign(NULL, evil, d, &client))
        return -1;
    fed_state = 1;
    return 0;
}

static int ctx_for(gdn_tls_ctx **out, const char *party, int server, const char *crl)
{
    char dir[600];
    gdn_tls_config cfg = {.dir = dir_of(dir, sizeof dir, party), .crl_file = crl};

    return server ? gdn_tls_ctx_new_server(out, &cfg) : gdn_tls_ctx_new_client(out, &cfg);
}

/* ---- A server thread: accepts one connection, says hello, echoes a frame ----------- */

typedef struct {
    gdn_tls_ctx *ctx;
    int lfd;
    int echo;
    int rc;
    char msg[512];
    uint8_t fp[32];
} server_job;

static void *serve_one(void *arg)
{
    server_job *j = arg;
    gdn_tls_conn *c = NULL;
    gdn_frame_decoder *d = NULL;
    gdn_frame f;

    j->rc = gdn_tls_accept(&c, j->ctx, j->lfd, TIMEOUT_MS);
    if (!j->rc)
        j->rc = gdn_tls_peer_fingerprint(j->fp, c);
    if (!j->rc)
        j->rc = gdn_tls_send_frame(c, GDN_FRAME_MESSAGE, "hello", 5, GDN_FRAME_MAX_DEFAULT,
                                   TIMEOUT_MS);
    if (!j->rc && j->echo && !(j->rc = gdn_frame_decoder_new(&d, 0)) &&
        !(j->rc = gdn_tls_recv_frame(c, d, &f, TIMEOUT_MS)))
        j->rc = gdn_tls_send_frame(c, f.type, f.payload, f.len, GDN_FRAME_MAX_DEFAULT,
                                   TIMEOUT_MS);
    if (j->rc)
        snprintf(j->msg, sizeof j->msg, "%s", gdn_errmsg());
    else
        gdn_tls_shutdown(c);
    gdn_frame_decoder_free(d);
    gdn_tls_conn_free(c);
    return NULL;
}

typedef struct {
    pthread_t thread;
    server_job job;
    uint16_t port;
} server;

static int server_start(server *s, gdn_tls_ctx *ctx, int echo)
{
    memset(s, 0, sizeof *s);
    s->job.ctx = ctx;
    s->job.echo = echo;
    if (gdn_net_listen(&s->job.lfd, "127.0.0.1", 0, 16, &s->port))
        return -1;
    return pthread_create(&s->thread, NULL, serve_one, &s->job) ? -1 : 0;
}

static void server_join(server *s)
{
    pthread_join(s->thread, NULL);
    close(s->job.lfd);
}

/* A library client to host:port expecting `host` in the server's certificate:
 * connects, reads the hello. 0 when it got through; msg says why not. */
static int client_hello(char *msg, size_t cap, gdn_tls_ctx *ctx, const char *host,
                        uint16_t port)
{
    gdn_tls_conn *c = NULL;
    gdn_frame_decoder *d = NULL;
    gdn_frame f;
    int fd = -1, rc;

    msg[0] = '\0';
    rc = gdn_net_connect(&fd, "127.0.0.1", port, TIMEOUT_MS);
    if (!rc && (rc = gdn_tls_conn_new(&c, ctx, fd, host, 1)))
        close(fd);
    for (int step = 0; !rc && step < 1000; step++) {
        rc = gdn_tls_handshake(c);
        if (rc > 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            rc = 0;
            continue;
        }
        break;
    }
    if (!rc && !(rc = gdn_frame_decoder_new(&d, 0)))
        rc = gdn_tls_recv_frame(c, d, &f, TIMEOUT_MS);
    if (!rc && (f.len != 5 || memcmp(f.payload, "hello", 5) != 0))
        rc = gdn_error(GDN_EFORMAT, "unexpected hello");
    if (rc)
        snprintf(msg, cap, "%s", gdn_errmsg());
    gdn_frame_decoder_free(d);
    gdn_tls_conn_free(c);
    return rc;
}

/* A client made with OpenSSL directly, trusting anything: an attacker, or an
 * old peer. cert/key may be NULL; max_version 0: any. 1 if it read data. */
static int raw_client(uint16_t port, const char *cert, const char *key, int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    struct timeval tv = {4, 0};
    char buf[16];
    int fd = -1, ok = 0;

    if (!ctx || gdn_net_connect(&fd, "127.0.0.1", port, TIMEOUT_MS))
        goto out;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (max_version)
        SSL_CTX_set_max_proto_version(ctx, max_version);
    if (cert && (SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
                 SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))
        goto out;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (!(ssl = SSL_new(ctx)) || !SSL_set_fd(ssl, fd))
        goto out;
    ok = SSL_connect(ssl) == 1 && SSL_read(ssl, buf, sizeof buf) > 0;
out:
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
    return ok;
}

/* ---- Identities -------------------------------------------------------------------- */

/* RFC 8410 §4: an Ed25519 SubjectPublicKeyInfo is this prefix and the key. */
static void independent_fingerprint(uint8_t fp[32], const char *cert_path)
{
    static const uint8_t prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
    uint8_t spki[44];
    size_t n = 32;
    FILE *f = fopen(cert_path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    memset(fp, 0, 32);
    if (f)
        fclose(f);
    memcpy(spki, prefix, sizeof prefix);
    if (x && EVP_PKEY_get_raw_public_key(X509_get0_pubkey(x), spki + 12, &n) && n == 32)
        crypto_hash_sha256(fp, spki, sizeof spki);
    X509_free(x);
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

    if (f)
        fclose(f);
    return x;
}

GDN_TEST(net_identity_files)
{
    char d[600], p[700];
    uint8_t fp[32], fp2[32];
    struct stat st;
    gdn_net_cert_info info;
    X509 *ca, *coord, *alice;

    CHECK_OK(make_federation());
    /* Private keys: mode 0600. Fingerprint: one value from key, request, cert. */
    snprintf(p, sizeof p, "%s/key.pem", dir_of(d, sizeof d, "alice"));
    CHECK(stat(p, &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s/ca-key.pem", dir_of(d, sizeof d, "ca"));
    CHECK(stat(p, &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s/key.pem", dir_of(d, sizeof d, "alice"));
    CHECK_OK(gdn_net_fingerprint_file(fp, p));
    CHECK(memcmp(fp, fp_alice, 32) == 0);
    snprintf(p, sizeof p, "%s/csr.pem", d);
    CHECK_OK(gdn_net_fingerprint_file(fp, p));
    CHECK(memcmp(fp, fp_alice, 32) == 0);
    snprintf(p, sizeof p, "%s/cert.pem", d);
    CHECK_OK(gdn_net_fingerprint_file(fp, p));
    CHECK(memcmp(fp, fp_alice, 32) == 0);
    independent_fingerprint(fp2, p);
    CHECK(memcmp(fp2, fp_alice, 32) == 0);
    CHECK_OK(gdn_net_cert_info_read(&info, p));
    CHECK(strcmp(info.subject, "CN=alice") == 0);
    CHECK(!info.is_ca && !info.server);
    CHECK(strncmp(info.serial, "0x", 2) == 0 && strlen(info.serial) == 34);
    /* A key is never replaced by accident. */
    CHECK_EQ(gdn_net_keygen(fp, d, "alice", 0), GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "already has a key") != NULL);

    snprintf(p, sizeof p, "%s/ca.pem", dir_of(d, sizeof d, "ca"));
    ca = read_cert(p);
    snprintf(p, sizeof p, "%s/cert.pem", dir_of(d, sizeof d, "coord"));
    coord = read_cert(p);
    snprintf(p, sizeof p, "%s/cert.pem", dir_of(d, sizeof d, "alice"));
    alice = read_cert(p);
    CHECK(ca && coord && alice);
    /* CA: v3, CA:TRUE, keyCertSign + cRLSign only, self-signed. */
    CHECK_EQ(X509_get_version(ca), X509_VERSION_3);
    CHECK(X509_get_extension_flags(ca) & EXFLAG_CA);
    CHECK_EQ(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    CHECK_EQ(X509_verify(ca, X509_get0_pubkey(ca)), 1);
    /* Server: signed by the CA, serverAuth, names localhost, 127.0.0.1, --host. */
    CHECK_EQ(X509_verify(coord, X509_get0_pubkey(ca)), 1);
    CHECK(!(X509_get_extension_flags(coord) & EXFLAG_CA));
    CHECK_EQ(X509_get_key_usage(coord), KU_DIGITAL_SIGNATURE);
    CHECK_EQ(X509_get_extended_key_usage(coord), XKU_SSL_SERVER);
    CHECK_EQ(X509_check_host(coord, "localhost", 0, 0, NULL), 1);
    CHECK_EQ(X509_check_host(coord, "coord.example", 0, 0, NULL), 1);
    CHECK_EQ(X509_check_host(coord, "other.example", 0, 0, NULL), 0);
    CHECK_EQ(X509_check_ip_asc(coord, "127.0.0.1", 0), 1);
    CHECK_EQ(X509_check_ip_asc(coord, "10.1.2.3", 0), 1);
    CHECK_EQ(X509_check_ip_asc(coord, "10.1.2.4", 0), 0);
    /* Client: clientAuth, no names. */
    CHECK_EQ(X509_get_extended_key_usage(alice), XKU_SSL_CLIENT);
    CHECK_EQ(X509_check_host(alice, "localhost", 0, 0, NULL), 0);
    CHECK_EQ(X509_cmp_time(X509_get0_notAfter(alice), NULL), 1);
    X509_free(ca);
    X509_free(coord);
    X509_free(alice);
    /* Bad requests are refused with a reason. */
    gdn_net_sign_opts bad = {.server = 1, .hosts = "ok.example,bad name"};
    CHECK_EQ(gdn_net_ca_sign(NULL, dir_of(p, sizeof p, "ca"), dir_of(d, sizeof d, "alice"), &bad),
             GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "'bad name' is neither a DNS name nor an IP address") != NULL);
    CHECK_EQ(gdn_net_keygen(fp, d, "", 1), GDN_EINVAL);
}

GDN_TEST(net_tls_handshake_and_fingerprints)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL;
    gdn_tls_conn *c = NULL;
    gdn_frame_decoder *dec = NULL;
    gdn_frame f;
    server s;
    uint8_t fp[32], *big = malloc(200000);
    uint64_t sent = 0, received = 0;
    int rc, rc_hello = -1, rc_echo = -1, same = 0;
    char msg[512] = "";

    CHECK(big != NULL);
    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(ctx_for(&cctx, "alice", 0, NULL));
    gdn_tls_ctx_fingerprint(fp, sctx);
    CHECK(memcmp(fp, fp_coord, 32) == 0);
    for (size_t i = 0; i < 200000; i++)
        big[i] = (uint8_t)(i * 31 + 7);
    CHECK_OK(server_start(&s, sctx, 1));
    rc = gdn_tls_connect(&c, cctx, "localhost", s.port, TIMEOUT_MS);
    if (!rc) {
        rc = gdn_tls_peer_fingerprint(fp, c);
        gdn_frame_decoder_new(&dec, 0);
        rc_hello = gdn_tls_recv_frame(c, dec, &f, TIMEOUT_MS);
        if (!rc_hello)
            rc_hello = f.len == 5 && memcmp(f.payload, "hello", 5) == 0 ? 0 : -1;
        rc_echo = gdn_tls_send_frame(c, GDN_FRAME_MESSAGE, big, 200000, GDN_FRAME_MAX_DEFAULT,
                                     TIMEOUT_MS);
        if (!rc_echo)
            rc_echo = gdn_tls_recv_frame(c, dec, &f, TIMEOUT_MS);
        same = !rc_echo && f.len == 200000 && memcmp(f.payload, big, 200000) == 0;
        /* The server closes cleanly: a read at a frame boundary sees CLOSED. */
        if (same)
            same = gdn_tls_recv_frame(c, dec, &f, TIMEOUT_MS) == GDN_NET_CLOSED;
        gdn_tls_conn_bytes(c, &sent, &received);
    } else {
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
    }
    server_join(&s);
    gdn_frame_decoder_free(dec);
    gdn_tls_conn_free(c);
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    free(big);
    CHECK_MSG(rc == 0, "client: %s", msg);
    CHECK_MSG(s.job.rc == 0, "server: %s", s.job.msg);
    /* Each side sees the other's key. */
    CHECK(memcmp(fp, fp_coord, 32) == 0);
    CHECK(memcmp(s.job.fp, fp_alice, 32) == 0);
    CHECK_EQ(rc_hello, 0);
    CHECK_EQ(rc_echo, 0);
    CHECK(same);
    /* On the wire: the payload, frame headers and TLS overhead. */
    CHECK(sent > 200005 && sent < 204000);
    CHECK(received > 200010 && received < 206000);
}

/* Runs a server with sctx against `client` and returns the server's message. */
typedef enum { LIB_CLIENT, RAW_CLIENT, PLAIN_TCP } client_kind;

typedef struct {
    client_kind kind;
    gdn_tls_ctx *ctx;   /* LIB_CLIENT */
    const char *host;   /* LIB_CLIENT */
    const char *party;  /* RAW_CLIENT: its cert.pem and key.pem, or NULL */
    int max_version;    /* RAW_CLIENT */
    int got_through;
    char client_msg[512];
} client_spec;

static int run_refusal(server *s, gdn_tls_ctx *sctx, client_spec *cl)
{
    char cert[700], key[700], d[600];

    if (server_start(s, sctx, 0))
        return -1;
    if (cl->kind == LIB_CLIENT) {
        cl->got_through = client_hello(cl->client_msg, sizeof cl->client_msg, cl->ctx,
                                       cl->host, s->port) == 0;
    } else if (cl->kind == RAW_CLIENT) {
        if (cl->party) {
            snprintf(cert, sizeof cert, "%s/cert.pem", dir_of(d, sizeof d, cl->party));
            snprintf(key, sizeof key, "%s/key.pem", d);
        }
        cl->got_through = raw_client(s->port, cl->party ? cert : NULL,
                                     cl->party ? key : NULL, cl->max_version);
    } else {
        int fd = -1;
        char buf[64];
        if (gdn_net_connect(&fd, "127.0.0.1", s->port, TIMEOUT_MS) == 0) {
            struct timeval tv = {4, 0};
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            send(fd, "hello, plain TCP\n", 17, MSG_NOSIGNAL);
            cl->got_through = recv(fd, buf, sizeof buf, 0) > 0;
            close(fd);
        }
    }
    server_join(s);
    return 0;
}

GDN_TEST(net_tls_refuses_other_ca)
{
    gdn_tls_ctx *sctx = NULL;
    client_spec cl = {.kind = RAW_CLIENT, .party = "mallory"};
    server s;

    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(run_refusal(&s, sctx, &cl));
    gdn_tls_ctx_free(sctx);
    CHECK(!cl.got_through);
    CHECK_EQ(s.job.rc, GDN_ECRYPTO);
    CHECK_MSG(strstr(s.job.msg, "peer 127.0.0.1:") == s.job.msg &&
                  strstr(s.job.msg, ": certificate not issued by the federation CA "
                                    "(issuer CN=Evil CA, subject CN=mallory)"),
              "server said: %s", s.job.msg);
}

GDN_TEST(net_tls_refuses_revoked_after_reload)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL;
    client_spec cl = {.kind = LIB_CLIENT, .host = "127.0.0.1"};
    gdn_net_cert_info info;
    char ca[600], bob[600], cert[700], crl[700], want[200];
    size_t entries = 0;
    server s;

    CHECK_OK(make_federation());
    dir_of(ca, sizeof ca, "ca");
    snprintf(crl, sizeof crl, "%s/crl.pem", ca);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir_of(bob, sizeof bob, "bob"));
    CHECK_OK(ctx_for(&sctx, "coord", 1, crl));
    CHECK_OK(ctx_for(&cctx, "bob", 0, NULL));
    cl.ctx = cctx;
    /* Before: bob gets in. */
    CHECK_OK(run_refusal(&s, sctx, &cl));
    CHECK_MSG(cl.got_through && s.job.rc == 0, "client: %s; server: %s", cl.client_msg,
              s.job.msg);
    CHECK(memcmp(s.job.fp, fp_bob, 32) == 0);
    /* Revoke, reload the CRL in the running server: bob is refused. */
    CHECK_OK(gdn_net_ca_revoke(&info, &entries, ca, cert, 0));
    CHECK_EQ(entries, 1);
    CHECK(memcmp(info.fingerprint, fp_bob, 32) == 0);
    CHECK_OK(gdn_net_ca_revoke(NULL, &entries, ca, cert, 0)); /* again: no duplicate */
    CHECK_EQ(entries, 1);
    CHECK_OK(gdn_tls_ctx_reload_crl(sctx));
    CHECK_OK(run_refusal(&s, sctx, &cl));
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    CHECK(!cl.got_through);
    snprintf(want, sizeof want, ": certificate revoked (serial %s, CN=bob)", info.serial);
    CHECK_EQ(s.job.rc, GDN_ECRYPTO);
    CHECK_MSG(strstr(s.job.msg, "peer 127.0.0.1:") == s.job.msg && strstr(s.job.msg, want),
              "server said: %s", s.job.msg);
    /* TLS 1.3: the client hears of it at its first read, from the alert. */
    CHECK_MSG(strstr(cl.client_msg, "refused our certificate (alert: certificate revoked)") ||
                  strstr(cl.client_msg, "Connection reset"),
              "client said: %s", cl.client_msg);
}

GDN_TEST(net_tls_refuses_expired)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL;
    client_spec cl = {.kind = LIB_CLIENT, .host = "localhost"};
    server s;

    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(ctx_for(&cctx, "carol", 0, NULL));
    cl.ctx = cctx;
    CHECK_OK(run_refusal(&s, sctx, &cl));
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    CHECK(!cl.got_through);
    CHECK_MSG(strstr(s.job.msg, ": certificate expired on ") && strstr(s.job.msg, "CN=carol"),
              "server said: %s", s.job.msg);
}

GDN_TEST(net_tls_refuses_server_for_other_host)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL, *bad = NULL;
    client_spec cl = {.kind = LIB_CLIENT, .host = "other.example"};
    server s;

    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(ctx_for(&cctx, "alice", 0, NULL));
    cl.ctx = cctx;
    CHECK_OK(run_refusal(&s, sctx, &cl));
    CHECK(!cl.got_through);
    CHECK_MSG(strstr(cl.client_msg,
                     "server other.example (127.0.0.1:") == cl.client_msg &&
                  strstr(cl.client_msg, "): certificate is not for host 'other.example' (it "
                                        "names DNS:localhost, IP:127.0.0.1, "
                                        "DNS:coord.example, IP:10.1.2.3)"),
              "client said: %s", cl.client_msg);
    CHECK_MSG(strstr(s.job.msg, "sent TLS alert") || strstr(s.job.msg, "refused our"),
              "server said: %s", s.job.msg);
    /* Wrong IP address, too. */
    cl.host = "10.1.2.4";
    CHECK_OK(run_refusal(&s, sctx, &cl));
    CHECK_MSG(strstr(cl.client_msg, "certificate is not for host '10.1.2.4'"), "client said: %s",
              cl.client_msg);
    /* The right names pass. */
    cl.host = "coord.example";
    CHECK_OK(run_refusal(&s, sctx, &cl));
    CHECK_MSG(cl.got_through, "client said: %s", cl.client_msg);
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    /* A client certificate cannot serve, nor the server's act as a client. */
    CHECK_EQ(ctx_for(&bad, "alice", 1, NULL), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "not a server certificate (sign it with --server)"));
    CHECK_EQ(ctx_for(&bad, "coord", 0, NULL), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "not a client certificate"));
    /* A certificate of another CA, with our CA as trust anchor. */
    char mallory[600], ca[600], want[1400];
    gdn_tls_config cfg = {.dir = dir_of(mallory, sizeof mallory, "mallory"), .ca_file = ca};
    snprintf(ca, sizeof ca, "%s/ca/ca.pem", fed);
    CHECK_EQ(gdn_tls_ctx_new_client(&bad, &cfg), GDN_EINVAL);
    snprintf(want, sizeof want,
             "%s/cert.pem: not issued by the CA of %s (sign it with guardian ca sign)",
             mallory, ca);
    CHECK_MSG(strstr(gdn_errmsg(), want), "%s", gdn_errmsg());
}

GDN_TEST(net_tls_refuses_plain_tcp)
{
    gdn_tls_ctx *sctx = NULL;
    client_spec cl = {.kind = PLAIN_TCP};
    server s;

    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(run_refusal(&s, sctx, &cl));
    gdn_tls_ctx_free(sctx);
    CHECK(!cl.got_through);
    CHECK_EQ(s.job.rc, GDN_EFORMAT);
    CHECK_MSG(strstr(s.job.msg, "peer 127.0.0.1:") == s.job.msg &&
                  strstr(s.job.msg, ": not TLS (plain TCP?): first bytes "
                                    "68 65 6c 6c 6f 2c 20 70"),
              "server said: %s", s.job.msg);
}

GDN_TEST(net_tls_refuses_tls12_and_missing_cert)
{
    gdn_tls_ctx *sctx = NULL;
    client_spec old = {.kind = RAW_CLIENT, .party = "alice", .max_version = TLS1_2_VERSION};
    client_spec anon = {.kind = RAW_CLIENT};
    client_spec ok = {.kind = RAW_CLIENT, .party = "alice"};
    server s1, s2, s3;

    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(run_refusal(&s1, sctx, &old));
    CHECK_OK(run_refusal(&s2, sctx, &anon));
    CHECK_OK(run_refusal(&s3, sctx, &ok)); /* the raw client itself works */
    gdn_tls_ctx_free(sctx);
    CHECK(!old.got_through);
    CHECK_MSG(strstr(s1.job.msg, ": offers only TLS 1.2 or older; TLS 1.3 is required"),
              "server said: %s", s1.job.msg);
    CHECK(!anon.got_through);
    CHECK_MSG(strstr(s2.job.msg, ": sent no client certificate"), "server said: %s",
              s2.job.msg);
    CHECK_MSG(ok.got_through && s3.job.rc == 0, "server said: %s", s3.job.msg);
}

/* Steps both handshakes in turn until both are done: 0, or the first error. */
static int handshake_both(gdn_tls_conn *sc, gdn_tls_conn *cc, int *wants)
{
    int rs = 1, rcl = 1;

    for (int i = 0; i < 2000 && (rs || rcl); i++) {
        if (rcl)
            rcl = gdn_tls_handshake(cc);
        if (rs)
            rs = gdn_tls_handshake(sc);
        if (rs < 0 || rcl < 0)
            return rs < 0 ? rs : rcl;
        *wants += (rs > 0) + (rcl > 0);
        if (rs || rcl) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    return rs || rcl ? gdn_error(GDN_EIO, "handshake did not finish") : 0;
}

static int connect_pair(gdn_tls_conn **sc, gdn_tls_conn **cc, gdn_tls_ctx *sctx,
                        gdn_tls_ctx *cctx, int lfd, uint16_t port)
{
    int cfd = -1, sfd = -1, rc;

    if ((rc = gdn_net_connect(&cfd, "127.0.0.1", port, TIMEOUT_MS)) ||
        (rc = gdn_net_accept(&sfd, lfd, TIMEOUT_MS)) ||
        (rc = gdn_tls_conn_new(sc, sctx, sfd, NULL, 1)) ||
        (rc = gdn_tls_conn_new(cc, cctx, cfd, "127.0.0.1", 1)))
        return rc;
    return 0;
}

/* Both ends non-blocking in one thread, driven by the WANT codes. */
GDN_TEST(net_tls_nonblocking_steps)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL;
    gdn_tls_conn *sc = NULL, *cc = NULL;
    gdn_frame_decoder *d = NULL;
    gdn_frame f = {0};
    gdn_buf out = {0};
    int lfd = -1, sfd = -1, wants = 0, frames = 0, saw_pending = 0;
    uint16_t port;
    uint8_t fp[32], buf[4096];
    size_t off = 0, n, used;

    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(ctx_for(&cctx, "alice", 0, NULL));
    CHECK_OK(gdn_net_listen(&lfd, NULL, 0, 4, &port));
    CHECK_EQ(gdn_net_accept(&sfd, lfd, 0), GDN_NET_WANT_READ);
    CHECK_OK(connect_pair(&sc, &cc, sctx, cctx, lfd, port));
    CHECK_EQ(gdn_tls_handshake(sc), GDN_NET_WANT_READ); /* nothing sent yet */
    CHECK_EQ(gdn_tls_read(sc, buf, sizeof buf, &n), GDN_ESTATE);
    CHECK_OK(handshake_both(sc, cc, &wants));
    CHECK(wants > 0);
    CHECK_OK(gdn_tls_peer_fingerprint(fp, sc));
    CHECK(memcmp(fp, fp_alice, 32) == 0);
    CHECK_OK(gdn_tls_peer_fingerprint(fp, cc));
    CHECK(memcmp(fp, fp_coord, 32) == 0);
    CHECK_EQ(gdn_tls_read(sc, buf, sizeof buf, &n), GDN_NET_WANT_READ);
    /* Three frames written by the client, read by the server in small reads. */
    for (int i = 0; i < 3; i++)
        CHECK_OK(gdn_frame_encode(&out, GDN_FRAME_MESSAGE, buf, 1000u * (unsigned)i + 1, 1 << 20));
    while (off < out.len) {
        CHECK_OK(gdn_tls_write(cc, out.data + off, out.len - off, &n));
        off += n;
    }
    CHECK_OK(gdn_frame_decoder_new(&d, 0));
    for (int i = 0; i < 1000 && frames < 3; i++) {
        int rc = gdn_tls_read(sc, buf, 100, &n);
        if (rc == GDN_NET_WANT_READ) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            continue;
        }
        CHECK_OK(rc);
        for (size_t p = 0; p < n; p += used) {
            rc = gdn_frame_decoder_push(d, &f, &used, buf + p, n - p);
            CHECK(rc >= 0);
            if (rc == 1) {
                CHECK_EQ(f.len, 1000u * (unsigned)frames + 1);
                frames++;
            }
        }
        /* One record carries all three frames: the rest waits decrypted. */
        if (!saw_pending && frames < 3) {
            CHECK(gdn_tls_pending(sc) > 0);
            saw_pending = 1;
        }
    }
    CHECK_EQ(frames, 3);
    /* A clean close: close_notify is seen as CLOSED. */
    CHECK_OK(gdn_tls_shutdown(cc));
    int rc = GDN_NET_WANT_READ;
    for (int i = 0; i < 1000 && rc == GDN_NET_WANT_READ; i++)
        rc = gdn_tls_read(sc, buf, sizeof buf, &n);
    CHECK_EQ(rc, GDN_NET_CLOSED);
    gdn_tls_conn_free(sc);
    gdn_tls_conn_free(cc);
    sc = cc = NULL;
    /* A peer that vanishes mid-frame (killed): the reader gets an error, not
     * an end of stream, and the decoder names what was cut off. */
    CHECK_OK(connect_pair(&sc, &cc, sctx, cctx, lfd, port));
    CHECK_OK(handshake_both(sc, cc, &wants));
    CHECK_OK(gdn_tls_write_all(cc, out.data, 1500, TIMEOUT_MS)); /* frame 3 cut short */
    gdn_tls_conn_free(cc); /* no close_notify */
    cc = NULL;
    CHECK_OK(gdn_tls_recv_frame(sc, d, &f, TIMEOUT_MS));
    CHECK_EQ(f.len, 1);
    CHECK_OK(gdn_tls_recv_frame(sc, d, &f, TIMEOUT_MS));
    CHECK_EQ(f.len, 1001);
    rc = gdn_tls_recv_frame(sc, d, &f, TIMEOUT_MS);
    CHECK_EQ(rc, GDN_EIO);
    CHECK_MSG(strstr(gdn_errmsg(), ": connection cut without TLS close_notify"), "%s",
              gdn_errmsg());
    CHECK_EQ(gdn_frame_decoder_finish(d), GDN_EFORMAT);
    CHECK_MSG(strcmp(gdn_errmsg(), "stream ended inside a frame of type 1 (483 of 2001 "
                                   "payload bytes)") == 0,
              "%s", gdn_errmsg());
    gdn_buf_free(&out);
    gdn_frame_decoder_free(d);
    gdn_tls_conn_free(sc);
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    close(lfd);
}

/* Back-pressure: 3 MiB written non-blocking to a peer that reads late and in
 * pieces. Records wait in the writer's buffer while the socket is full
 * (WANT_WRITE, then gdn_tls_flush); the reader gets records read ahead
 * several at a time (gdn_tls_pending while the socket may be empty); every
 * byte arrives once, in order. */
/* gdn_tls_send_object writes the frames gdn_frame_encode_object makes,
 * an empty object included (one empty chunk). */
GDN_TEST(net_tls_send_object_writes_the_encoded_frames)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL;
    gdn_tls_conn *sc = NULL, *cc = NULL;
    int lfd = -1, wants = 0;
    uint16_t port;
    uint8_t obj[10000], got[16384];
    gdn_buf want = {0};
    size_t in = 0, n;

    for (size_t i = 0; i < sizeof obj; i++)
        obj[i] = (uint8_t)(i * 31 + 7);
    CHECK_OK(gdn_frame_encode_object(&want, 5, obj, sizeof obj, 1024));
    CHECK_OK(gdn_frame_encode_object(&want, 6, NULL, 0, 1024));
    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(ctx_for(&cctx, "alice", 0, NULL));
    CHECK_OK(gdn_net_listen(&lfd, NULL, 0, 4, &port));
    CHECK_OK(connect_pair(&sc, &cc, sctx, cctx, lfd, port));
    CHECK_OK(handshake_both(sc, cc, &wants));
    CHECK_OK(gdn_tls_send_object(cc, 5, obj, sizeof obj, 1024, 5000));
    CHECK_OK(gdn_tls_send_object(cc, 6, NULL, 0, 1024, 5000));
    CHECK_EQ(gdn_tls_send_object(cc, 7, obj, 1, GDN_FRAME_CHUNK_HEADER_BYTES, 5000),
             GDN_EINVAL);
    CHECK_OK(gdn_tls_flush(cc));
    for (int step = 0; step < 1000 && in < want.len; step++) {
        int rc = gdn_tls_read(sc, got + in, sizeof got - in, &n);
        if (rc == GDN_NET_WANT_READ) {
            struct pollfd p = {gdn_tls_conn_fd(sc), POLLIN, 0};
            poll(&p, 1, 100);
            continue;
        }
        CHECK_OK(rc);
        if (rc)
            break;
        in += n;
    }
    CHECK_EQ(in, want.len);
    CHECK(in == want.len && memcmp(got, want.data, in) == 0);
    gdn_buf_free(&want);
    gdn_tls_conn_free(sc);
    gdn_tls_conn_free(cc);
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    if (lfd >= 0)
        close(lfd);
}

GDN_TEST(net_tls_buffered_writes_under_backpressure)
{
    gdn_tls_ctx *sctx = NULL, *cctx = NULL;
    gdn_tls_conn *sc = NULL, *cc = NULL;
    int lfd = -1, wants = 0, blocked = 0;
    uint16_t port;
    const size_t total = (size_t)3 << 20;
    uint8_t *data = malloc(total), *got = malloc(total);
    size_t off = 0, in = 0, n;
    uint64_t sent, received;

    CHECK(data && got);
    if (!data || !got)
        goto out;
    for (size_t i = 0; i < total; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    CHECK_OK(make_federation());
    CHECK_OK(ctx_for(&sctx, "coord", 1, NULL));
    CHECK_OK(ctx_for(&cctx, "alice", 0, NULL));
    CHECK_OK(gdn_net_listen(&lfd, NULL, 0, 4, &port));
    CHECK_OK(connect_pair(&sc, &cc, sctx, cctx, lfd, port));
    CHECK_OK(handshake_both(sc, cc, &wants));
    { /* small socket buffers: 3 MiB cannot sit in the kernel */
        int small = 32768;
        CHECK_OK(setsockopt(gdn_tls_conn_fd(cc), SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
        CHECK_OK(setsockopt(gdn_tls_conn_fd(sc), SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
    }
    for (int step = 0; step < 200000 && in < total; step++) {
        int rc;
        if (off < total) {
            rc = gdn_tls_write(cc, data + off, total - off, &n);
            if (rc == GDN_NET_WANT_WRITE) {
                blocked++;
            } else {
                CHECK_OK(rc);
                if (rc)
                    goto out;
                off += n;
            }
        } else {
            rc = gdn_tls_flush(cc);
            CHECK(rc == 0 || rc == GDN_NET_WANT_WRITE);
        }
        if (off < total / 2 && !blocked)
            continue; /* the reader starts once the writer has been stopped */
        for (int r = 0; r < 8 && in < total; r++) {
            rc = gdn_tls_read(sc, got + in, (size_t)(step % 3 ? 16384 : 777), &n);
            if (rc == GDN_NET_WANT_READ)
                break;
            CHECK_OK(rc);
            if (rc)
                goto out;
            in += n;
        }
    }
    CHECK_EQ(in, total);
    CHECK(memcmp(data, got, total) == 0);
    CHECK(blocked > 0); /* the socket did fill up */
    CHECK_OK(gdn_tls_flush(cc));
    gdn_tls_conn_bytes(cc, &sent, &received);
    gdn_tls_conn_bytes(sc, &received, &sent);
    CHECK(sent > total && sent < total + total / 50); /* records: 22 bytes each */
out:
    gdn_tls_conn_free(sc);
    gdn_tls_conn_free(cc);
    gdn_tls_ctx_free(sctx);
    gdn_tls_ctx_free(cctx);
    if (lfd >= 0)
        close(lfd);
    free(data);
    free(got);
}

/* ---- Frames -------------------------------------------------------------------- */

GDN_TEST(net_frame_roundtrip_random_chunks)
{
    enum { NFRAMES = 120 };
    gdn_buf wire = {0};
    gdn_rng rng;
    uint32_t lens[NFRAMES];
    uint8_t types[NFRAMES], *payload = malloc(70000);
    gdn_frame_decoder *d = NULL;

    CHECK(payload != NULL);
    gdn_rng_init_seed(&rng, 42);
    gdn_rng_bytes(&rng, payload, 70000);
    for (int i = 0; i < NFRAMES; i++) {
        uint64_t k = gdn_rng_uniform(&rng, 4);
        lens[i] = (uint32_t)(k == 0 ? 0 : k == 1 ? gdn_rng_uniform(&rng, 16)
                                    : k == 2 ? gdn_rng_uniform(&rng, 2000)
                                             : gdn_rng_uniform(&rng, 70001));
        types[i] = (uint8_t)(1 + gdn_rng_uniform(&rng, GDN_FRAME_TYPE_END - 1));
        CHECK_OK(gdn_frame_encode(&wire, types[i], payload, lens[i], GDN_FRAME_MAX_DEFAULT));
    }
    CHECK_OK(gdn_frame_decoder_new(&d, 0));
    for (int pass = 0; pass < 4; pass++) {
        size_t pos = 0;
        int got = 0;
        while (pos < wire.len) {
            /* Pass 0: byte by byte; then pieces up to 7, 300 and 100000 bytes. */
            size_t max = pass == 0 ? 1 : pass == 1 ? 7 : pass == 2 ? 300 : 100000;
            size_t piece = 1 + (size_t)gdn_rng_uniform(&rng, max);
            if (piece > wire.len - pos)
                piece = wire.len - pos;
            while (piece > 0) {
                gdn_frame f;
                size_t used;
                int rc = gdn_frame_decoder_push(d, &f, &used, wire.data + pos, piece);
                CHECK_MSG(rc >= 0, "pass %d: %s", pass, gdn_errmsg());
                CHECK(used <= piece);
                pos += used;
                piece -= used;
                if (rc == 1) {
                    CHECK(got < NFRAMES);
                    CHECK_EQ(f.type, types[got]);
                    CHECK_EQ(f.len, lens[got]);
                    CHECK(memcmp(f.payload, payload, f.len) == 0);
                    got++;
                }
            }
        }
        CHECK_EQ(got, NFRAMES);
        CHECK_OK(gdn_frame_decoder_finish(d));
        CHECK_EQ(gdn_frame_decoder_need(d), GDN_FRAME_HEADER_BYTES);
    }
    gdn_frame_decoder_free(d);
    gdn_buf_free(&wire);
    free(payload);
}

GDN_TEST(net_frame_limits_garbage_truncation)
{
    gdn_frame_decoder *d = NULL;
    gdn_frame f;
    size_t used, base;
    uint8_t hdr[5], junk[300] = {0};

    /* Oversized: refused as soon as the length is known, nothing allocated. */
    CHECK_OK(gdn_frame_decoder_new(&d, 1024));
    base = gdn_frame_decoder_memory(d);
    gdn_frame_header(hdr, GDN_FRAME_MESSAGE, 1025);
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, hdr, 4), GDN_ERANGE);
    CHECK(strcmp(gdn_errmsg(), "frame of 1025 bytes exceeds the limit of 1024 bytes") == 0);
    CHECK_EQ(used, 4);
    CHECK_EQ(gdn_frame_decoder_memory(d), base);
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, hdr, 5), GDN_ERANGE); /* stays failed */
    gdn_frame_decoder_free(d);
    /* At the limit it passes; memory grows with the bytes, not the header. */
    CHECK_OK(gdn_frame_decoder_new(&d, 0));
    gdn_frame_header(hdr, GDN_FRAME_CHUNK, GDN_FRAME_MAX_DEFAULT);
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, hdr, 5), 0);
    CHECK_EQ(gdn_frame_decoder_need(d), GDN_FRAME_MAX_DEFAULT);
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, junk, 100), 0);
    CHECK(gdn_frame_decoder_memory(d) <= base + 256);
    CHECK_EQ(gdn_frame_decoder_need(d), GDN_FRAME_MAX_DEFAULT - 100);
    /* Truncated by the end of the stream. */
    CHECK_EQ(gdn_frame_decoder_finish(d), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(), "stream ended inside a frame of type 2 (100 of 1048576 "
                               "payload bytes)") == 0);
    gdn_frame_decoder_free(d);
    CHECK_OK(gdn_frame_decoder_new(&d, 0));
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, hdr, 3), 0);
    CHECK_EQ(gdn_frame_decoder_need(d), 2);
    CHECK_EQ(gdn_frame_decoder_finish(d), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(), "stream ended inside a frame header (3 of 5 bytes)") == 0);
    gdn_frame_decoder_free(d);
    /* Garbage: an HTTP request, a zero type, a type out of range, all ones. */
    static const struct { const char *bytes; size_t n; int rc; const char *msg; } bad[] = {
        {"GET / HTTP/1.1\r\n", 16, GDN_ERANGE,
         "frame of 542393671 bytes exceeds the limit of 1048576 bytes"},
        {"\x03\x00\x00\x00\x00" "abc", 8, GDN_EFORMAT, "frame type 0 is not valid (garbage?)"},
        {"\x03\x00\x00\x00\xc8" "abc", 8, GDN_EFORMAT, "frame type 200 is not valid (garbage?)"},
        {"\xff\xff\xff\xff\x01", 5, GDN_ERANGE,
         "frame of 4294967295 bytes exceeds the limit of 1048576 bytes (garbage?)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_OK(gdn_frame_decoder_new(&d, 0));
        int rc = gdn_frame_decoder_push(d, &f, &used, bad[i].bytes, bad[i].n);
        CHECK_MSG(rc == bad[i].rc && strcmp(gdn_errmsg(), bad[i].msg) == 0, "case %zu: %d %s",
                  i, rc, gdn_errmsg());
        gdn_frame_decoder_free(d);
    }
    /* A big frame's buffer is released once the next frame starts. */
    uint8_t *big = calloc(1, 200000);
    gdn_buf wire = {0};
    CHECK(big != NULL);
    CHECK_OK(gdn_frame_encode(&wire, GDN_FRAME_MESSAGE, big, 200000, GDN_FRAME_MAX_DEFAULT));
    CHECK_OK(gdn_frame_encode(&wire, GDN_FRAME_MESSAGE, "x", 1, GDN_FRAME_MAX_DEFAULT));
    CHECK_EQ(gdn_frame_encode(&wire, GDN_FRAME_MESSAGE, big, 200000, 1000), GDN_ERANGE);
    CHECK_OK(gdn_frame_decoder_new(&d, 0));
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, wire.data, wire.len), 1);
    CHECK_EQ(used, 200005);
    CHECK(gdn_frame_decoder_memory(d) >= 200000);
    CHECK_EQ(gdn_frame_decoder_push(d, &f, &used, wire.data + 200005, wire.len - 200005), 1);
    CHECK(f.len == 1 && f.payload[0] == 'x');
    CHECK(gdn_frame_decoder_memory(d) < base + 1024);
    gdn_frame_decoder_free(d);
    gdn_buf_free(&wire);
    free(big);
}

/* Splits a frame stream into its frames' payloads (all CHUNK frames). */
static size_t split_frames(const uint8_t *p[], uint32_t len[], size_t max, const gdn_buf *wire)
{
    size_t n = 0, pos = 0;

    while (pos + 5 <= wire->len && n < max) {
        len[n] = gdn_load_le32(wire->data + pos);
        p[n] = wire->data + pos + 5;
        pos += 5 + len[n];
        n++;
    }
    return n;
}

GDN_TEST(net_frame_chunk_reassembly)
{
    enum { TOTAL = 300000, MAXP = 65536 };
    const size_t per = MAXP - GDN_FRAME_CHUNK_HEADER_BYTES;
    uint8_t *obj = malloc(TOTAL), mk[64];
    gdn_buf wire = {0}, got = {0}, forged = {0};
    gdn_frame_reasm *r = NULL;
    const uint8_t *p[16];
    uint32_t len[16], stream = 0;
    gdn_rng rng;
    size_t n;
    int rc = 0;

    CHECK(obj != NULL);
    gdn_rng_init_seed(&rng, 7);
    gdn_rng_bytes(&rng, obj, TOTAL);
    CHECK_OK(gdn_frame_encode_object(&wire, 9, obj, TOTAL, MAXP));
    n = split_frames(p, len, 16, &wire);
    CHECK_EQ(n, (TOTAL + per - 1) / per);
    CHECK_EQ(wire.len, TOTAL + n * (5 + GDN_FRAME_CHUNK_HEADER_BYTES));
    CHECK_EQ(wire.data[4], GDN_FRAME_CHUNK);
    /* In order: complete exactly at the last chunk. */
    CHECK_OK(gdn_frame_reasm_new(&r, TOTAL));
    for (size_t i = 0; i < n; i++) {
        rc = gdn_frame_reasm_push(r, p[i], len[i]);
        CHECK_EQ(rc, i + 1 == n ? 1 : 0);
    }
    CHECK_EQ(gdn_frame_reasm_push(r, p[0], len[0]), GDN_ESTATE); /* take it first */
    CHECK_OK(gdn_frame_reasm_take(&got, &stream, r));
    CHECK_EQ(stream, 9);
    CHECK(got.len == TOTAL && memcmp(got.data, obj, TOTAL) == 0);
    CHECK_EQ(gdn_frame_reasm_take(&got, &stream, r), GDN_ESTATE);
    /* Out of order: a stream must open at offset 0. */
    CHECK_EQ(gdn_frame_reasm_push(r, p[1], len[1]), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(), "stream 9 starts at offset 65516, not 0 (out of order?)") == 0);
    /* A gap, an overlap. */
    CHECK_EQ(gdn_frame_reasm_push(r, p[0], len[0]), 0);
    CHECK_EQ(gdn_frame_reasm_push(r, p[2], len[2]), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(),
                 "stream 9: chunk at offset 131032 leaves a gap after the 65516 bytes "
                 "received") == 0);
    CHECK_EQ(gdn_frame_reasm_push(r, p[0], len[0]), 0);
    CHECK_EQ(gdn_frame_reasm_push(r, p[1], len[1]), 0);
    CHECK_EQ(gdn_frame_reasm_push(r, p[1], len[1]), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(),
                 "stream 9: chunk at offset 65516 overlaps the 131032 bytes received") == 0);
    /* Another stream, another total, past the end, too short, empty. */
    gdn_buf_free(&forged);
    CHECK_OK(gdn_frame_encode_chunk(&forged, 10, 0, TOTAL, obj, 100, MAXP));
    CHECK_OK(gdn_frame_encode_chunk(&forged, 9, 0, TOTAL + 1, obj, 100, MAXP));
    CHECK_OK(gdn_frame_reasm_push(r, p[0], len[0]));
    CHECK_EQ(gdn_frame_reasm_push(r, forged.data + 5, 120), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(), "chunk of stream 10 while stream 9 is open") == 0);
    CHECK_OK(gdn_frame_reasm_push(r, p[0], len[0]));
    CHECK_EQ(gdn_frame_reasm_push(r, forged.data + 130, 120), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(), "stream 9: total changed from 300000 to 300001") == 0);
    gdn_store_le32(mk, 4);
    gdn_store_le64(mk + 4, 0);
    gdn_store_le64(mk + 12, 10); /* 10 bytes announced, 20 sent */
    memset(mk + 20, 0xab, 20);
    CHECK_EQ(gdn_frame_reasm_push(r, mk, 40), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(),
                 "stream 4: chunk of 20 bytes at offset 0 runs past the object's 10 bytes") == 0);
    CHECK_EQ(gdn_frame_reasm_push(r, mk, 19), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "shorter than its 20-byte header") != NULL);
    CHECK_EQ(gdn_frame_reasm_push(r, mk, 20), GDN_EFORMAT);
    CHECK(strcmp(gdn_errmsg(), "stream 4: empty chunk") == 0);
    /* Over the caller's limit: refused at the first chunk, before any copy. */
    gdn_frame_reasm_free(r);
    CHECK_OK(gdn_frame_reasm_new(&r, 100000));
    CHECK_EQ(gdn_frame_reasm_push(r, p[0], len[0]), GDN_ERANGE);
    CHECK(strcmp(gdn_errmsg(),
                 "stream 9: object of 300000 bytes exceeds the limit of 100000 bytes") == 0);
    /* Empty object: one empty chunk. */
    gdn_buf_free(&wire);
    CHECK_OK(gdn_frame_encode_object(&wire, 3, NULL, 0, MAXP));
    CHECK_EQ(wire.len, 25);
    CHECK_EQ(gdn_frame_reasm_push(r, wire.data + 5, 20), 1);
    CHECK_OK(gdn_frame_reasm_take(&got, &stream, r));
    CHECK(got.len == 0 && stream == 3);
    gdn_frame_reasm_free(r);
    gdn_buf_free(&wire);
    gdn_buf_free(&got);
    gdn_buf_free(&forged);
    free(obj);
}

/* ---- The guardian command -------------------------------------------------------- */

#define run gdn_test_guardian
#define log_has gdn_test_file_contains

GDN_TEST(net_cli_keygen_ca_sign_revoke)
{
    char t[600], log[700], args[3000], path[700], hex[65], want[100];
    uint8_t fp[32];
    gdn_net_cert_info alice;
    X509_CRL *crl = NULL;
    X509_REVOKED *rev = NULL;
    X509 *x;
    struct stat st;

    snprintf(t, sizeof t, "%s/cli-fed", gdn_test_tmpdir());
    snprintf(log, sizeof log, "%s/log", gdn_test_tmpdir());
    snprintf(args, sizeof args, "ca init --out %s/ca --name 'CLI CA'", t);
    int rc = run(args, log);
    CHECK_MSG(rc == 0, "guardian %s: exit %d (is `ca` wired into src/cli/main.c?)", args, rc);
    CHECK(log_has(log, "(CN=CLI CA, valid until "));
    snprintf(args, sizeof args, "keygen --out %s/coord", t);
    CHECK_EQ(run(args, log), 0);
    snprintf(path, sizeof path, "%s/coord/key.pem", t);
    CHECK_OK(gdn_net_fingerprint_file(fp, path));
    gdn_net_fingerprint_hex(hex, fp);
    snprintf(want, sizeof want, "fingerprint: %s\n", hex);
    CHECK(log_has(log, want));
    CHECK(log_has(log, "(CN=coord: for the federation's CA to sign)"));
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(args, sizeof args, "ca sign --ca %s/ca --in %s/coord --server --host coord.example",
             t, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(log_has(log, want));
    CHECK(log_has(log, "/coord/cert.pem (server, CN=coord, serial 0x"));
    snprintf(args, sizeof args, "keygen --out %s/alice/ --name alice", t);
    CHECK_EQ(run(args, log), 0);
    snprintf(args, sizeof args, "ca sign --ca %s/ca --in %s/alice --days 10", t, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(log_has(log, "(client, CN=alice, serial 0x"));
    snprintf(path, sizeof path, "%s/alice/cert.pem", t);
    CHECK_OK(gdn_net_cert_info_read(&alice, path));
    snprintf(args, sizeof args, "ca revoke --ca %s/ca --cert %s", t, path);
    CHECK_EQ(run(args, log), 0);
    snprintf(want, sizeof want, "revoked:     serial %s (CN=alice)", alice.serial);
    CHECK(log_has(log, want));
    CHECK(log_has(log, "crl.pem (1 entry)"));
    snprintf(path, sizeof path, "%s/ca/crl.pem", t);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof path, "%s/alice/cert.pem", t);
    x = read_cert(path);
    CHECK(crl && x);
    CHECK_EQ(X509_CRL_get0_by_serial(crl, &rev, X509_get0_serialNumber(x)), 1);
    X509_CRL_free(crl);
    X509_free(x);
    snprintf(args, sizeof args, "ca crl --ca %s/ca --days 30", t);
    CHECK_EQ(run(args, log), 0);
    CHECK(log_has(log, "(1 entry, valid 30 days)"));
    /* Mistakes a user can make. */
    snprintf(args, sizeof args, "keygen --out %s/alice", t);
    CHECK_EQ(run(args, log), 1);
    CHECK(log_has(log, "already has a key"));
    snprintf(args, sizeof args, "ca sign --ca %s/ca --in %s/alice --server --client", t, t);
    CHECK_EQ(run(args, log), 1);
    CHECK(log_has(log, "--server or --client, not both"));
    snprintf(args, sizeof args, "ca sign --ca %s/nowhere --in %s/alice", t, t);
    CHECK_EQ(run(args, log), 1);
    CHECK(log_has(log, "nowhere/ca.pem: No such file or directory"));
    CHECK_EQ(run("ca", log), 2);
    CHECK(log_has(log, "usage: guardian ca SUBCOMMAND"));
    CHECK_EQ(run("ca frob", log), 2);
    CHECK(log_has(log, "unknown subcommand 'frob'"));
    CHECK_EQ(run("ca sign --help", log), 0);
    CHECK(log_has(log, "--host NAMES"));
}
