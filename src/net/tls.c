/* Mutually authenticated TLS 1.3 over non-blocking sockets (OpenSSL 3).
 *
 * Trust: only the federation CA of the configuration (no system roots), its
 * CRL when present (X509_V_FLAG_CRL_CHECK), no session resumption, so every
 * connection re-checks certificate and revocation. The socket BIO is ours:
 * it writes with MSG_NOSIGNAL (a peer that vanishes cannot SIGPIPE the
 * coordinator) and counts the bytes on the wire. Refusals are explained:
 * the verify callback keeps the first certificate failure with the
 * certificate's serial, names and dates, and alerts and protocol errors are
 * turned into sentences. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/internal.h"

#define LABEL_BYTES 320
#define STACK_FRAME_BYTES 16384 /* frames up to this size go out in one write */
/* Records go out through a buffer of this size, so that a model's 50 records
 * of 16 KiB take 13 send() calls instead of 50; and records come in through
 * OpenSSL's read-ahead buffer of this size, several records per recv(). */
#define SOCKET_BUFFER_BYTES ((size_t)4 * (16384 + 256)) /* 4 records */

struct gdn_tls_ctx {
    SSL_CTX *ssl;
    int server;
    X509 *ca;
    char crl_path[4096]; /* "" when no CRL */
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
};

struct gdn_tls_conn {
    SSL *ssl;
    int fd, own_fd, server;
    int peeked;    /* server: first bytes looked like TLS */
    int done;      /* handshake complete */
    int failed;    /* a fatal error happened: no more calls */
    int eof;       /* the socket read returned 0 */
    int sys_errno; /* errno of the last failed socket call */
    uint64_t sent, received;
    uint8_t *wb;           /* records written, not yet sent: [wb_off, wb_len) */
    size_t wb_off, wb_len;
    char label[LABEL_BYTES];
    char host[256]; /* client: the name the server's certificate must carry */
    /* The first certificate verification failure (verify callback). */
    int verr;
    char vsubject[160], vissuer[160], vserial[44], vtime[32], vnames[256];
};

/* ---- The socket BIO ------------------------------------------------------------ */

static BIO_METHOD *bio_method;
static CRYPTO_ONCE bio_once = CRYPTO_ONCE_STATIC_INIT;

/* Sends what the write buffer holds: 0 when it is empty, 1 when the socket
 * would block first, -1 on an error (sys_errno). */
static int wb_drain(gdn_tls_conn *c)
{
    while (c->wb_off < c->wb_len) {
        ssize_t n = send(c->fd, c->wb + c->wb_off, c->wb_len - c->wb_off, MSG_NOSIGNAL);
        if (n >= 0) {
            c->wb_off += (size_t)n;
            c->sent += (uint64_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
        c->sys_errno = errno;
        return -1;
    }
    c->wb_off = c->wb_len = 0;
    return 0;
}

static int wb_failed(gdn_tls_conn *c)
{
    c->failed = 1;
    return gdn_error(GDN_EIO, "%s: %s", c->label, strerror(c->sys_errno));
}

/* Takes up to len bytes into the write buffer, sending it when full; a retry
 * when it is full and the socket would block. */
static int bio_write_ex(BIO *b, const char *buf, size_t len, size_t *written)
{
    gdn_tls_conn *c = BIO_get_data(b);
    size_t room;

    BIO_clear_retry_flags(b);
    *written = 0;
    if (c->wb_len + len > SOCKET_BUFFER_BYTES && wb_drain(c) < 0)
        return 0;
    if (c->wb_off > 0) { /* what was sent makes room at the front */
        memmove(c->wb, c->wb + c->wb_off, c->wb_len - c->wb_off);
        c->wb_len -= c->wb_off;
        c->wb_off = 0;
    }
    if (!c->wb && !(c->wb = malloc(SOCKET_BUFFER_BYTES))) {
        c->sys_errno = ENOMEM;
        return 0;
    }
    room = SOCKET_BUFFER_BYTES - c->wb_len;
    if (room == 0) {
        BIO_set_retry_write(b);
        return 0;
    }
    if (len > room)
        len = room;
    memcpy(c->wb + c->wb_len, buf, len);
    c->wb_len += len;
    *written = len;
    return 1;
}

static int bio_read_ex(BIO *b, char *buf, size_t cap, size_t *got)
{
    gdn_tls_conn *c = BIO_get_data(b);

    BIO_clear_retry_flags(b);
    *got = 0;
    for (;;) {
        ssize_t n = recv(c->fd, buf, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            c->received += (uint64_t)n;
            return 1;
        }
        if (n == 0) {
            c->eof = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(b);
        else
            c->sys_errno = errno;
        return 0;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    gdn_tls_conn *c = BIO_get_data(b);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: { /* the end of a handshake flight or an alert */
        int r = c ? wb_drain(c) : 0;
        BIO_clear_retry_flags(b);
        if (r > 0)
            BIO_set_retry_write(b);
        return r == 0;
    }
    case BIO_CTRL_WPENDING:
        return c ? (long)(c->wb_len - c->wb_off) : 0;
    case BIO_CTRL_EOF: /* lets OpenSSL tell a cut connection from an error */
        return c ? c->eof : 0;
    default:
        return 0;
    }
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void make_bio_method(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "guardian socket");

    if (m && BIO_meth_set_write_ex(m, bio_write_ex) && BIO_meth_set_read_ex(m, bio_read_ex) &&
        BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
        bio_method = m;
    else
        BIO_meth_free(m);
}

/* ---- Explaining refusals ---------------------------------------------------------- */

static void san_names(char *out, size_t cap, X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(gens) && used + 1 < cap; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
        char ip[INET6_ADDRSTRLEN] = "?";
        int n = 0;
        if (gn->type == GEN_DNS) {
            const ASN1_STRING *s = gn->d.dNSName;
            n = snprintf(out + used, cap - used, "%sDNS:%.*s", used ? ", " : "",
                         ASN1_STRING_length(s), (const char *)ASN1_STRING_get0_data(s));
        } else if (gn->type == GEN_IPADD) {
            const ASN1_OCTET_STRING *s = gn->d.iPAddress;
            int len = ASN1_STRING_length(s);
            if (len == 4 || len == 16)
                inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), ip,
                          sizeof ip);
            n = snprintf(out + used, cap - used, "%sIP:%s", used ? ", " : "", ip);
        }
        if (n > 0)
            used += (size_t)n < cap - used ? (size_t)n : cap - used - 1;
    }
    if (!gens)
        snprintf(out, cap, "no subjectAltName");
    GENERAL_NAMES_free(gens);
}

/* Keeps the first failure, with what the message will need from the cert. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    gdn_tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    X509 *x = X509_STORE_CTX_get_current_cert(store);
    int err = X509_STORE_CTX_get_error(store);

    if (ok || !c || c->verr)
        return ok;
    c->verr = err;
    if (!x)
        return ok;
    net_name_str(c->vsubject, sizeof c->vsubject, X509_get_subject_name(x));
    net_name_str(c->vissuer, sizeof c->vissuer, X509_get_issuer_name(x));
    net_serial_str(c->vserial, sizeof c->vserial, X509_get0_serialNumber(x));
    net_time_str(c->vtime, sizeof c->vtime,
                 err == X509_V_ERR_CERT_NOT_YET_VALID ? X509_get0_notBefore(x)
                                                      : X509_get0_notAfter(x));
    if (err == X509_V_ERR_HOSTNAME_MISMATCH || err == X509_V_ERR_IP_ADDRESS_MISMATCH)
        san_names(c->vnames, sizeof c->vnames, x);
    return ok;
}

static int verify_error(gdn_tls_conn *c)
{
    const char *l = c->label;
    int rc;

    switch (c->verr) {
    case X509_V_ERR_CERT_REVOKED:
        rc = gdn_error(GDN_ECRYPTO, "%s: certificate revoked (serial %s, %s)", l, c->vserial,
                       c->vsubject);
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        rc = gdn_error(GDN_ECRYPTO, "%s: certificate expired on %s (serial %s, %s)", l,
                       c->vtime, c->vserial, c->vsubject);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        rc = gdn_error(GDN_ECRYPTO, "%s: certificate not valid before %s (serial %s, %s)", l,
                       c->vtime, c->vserial, c->vsubject);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        rc = gdn_error(GDN_ECRYPTO,
                       "%s: certificate not issued by the federation CA (issuer %s, "
                       "subject %s)",
                       l, c->vissuer, c->vsubject);
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        rc = gdn_error(GDN_ECRYPTO, "%s: certificate is not for host '%s' (it names %s)", l,
                       c->host, c->vnames);
        break;
    case X509_V_ERR_INVALID_PURPOSE:
        rc = gdn_error(GDN_ECRYPTO,
                       c->server ? "%s: certificate is not for TLS clients (%s; a server "
                                   "certificate?)"
                                 : "%s: certificate is not for TLS servers (%s; not signed "
                                   "with --server?)",
                       l, c->vsubject);
        break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
        rc = gdn_error(GDN_ECRYPTO, "%s: no CRL of the federation CA to check %s against", l,
                       c->vsubject);
        break;
    case X509_V_ERR_CRL_HAS_EXPIRED:
        rc = gdn_error(GDN_ECRYPTO,
                       "%s: our CRL has expired: re-issue it (guardian ca crl) and reload", l);
        break;
    default:
        rc = gdn_error(GDN_ECRYPTO, "%s: certificate refused: %s (%s)", l,
                       X509_verify_cert_error_string(c->verr), c->vsubject);
    }
    return rc;
}

static int is_certificate_alert(int desc)
{
    return desc == SSL_AD_BAD_CERTIFICATE || desc == SSL_AD_UNSUPPORTED_CERTIFICATE ||
           desc == SSL_AD_CERTIFICATE_REVOKED || desc == SSL_AD_CERTIFICATE_EXPIRED ||
           desc == SSL_AD_CERTIFICATE_UNKNOWN || desc == SSL_AD_UNKNOWN_CA ||
           desc == SSL_AD_CERTIFICATE_REQUIRED;
}

/* The message for a failed SSL_* call whose SSL_get_error was `e`. */
static int describe_failure(gdn_tls_conn *c, int e)
{
    unsigned long err = ERR_peek_error();
    /* SSL_R_* codes only mean something for errors of the SSL library. */
    int reason = err && ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0;
    const char *l = c->label;
    int rc;

    if (c->verr) {
        rc = verify_error(c);
    } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL) {
        rc = gdn_error(GDN_ECRYPTO,
                       c->server ? "%s: offers only TLS 1.2 or older; TLS 1.3 is required"
                                 : "%s: speaks only TLS 1.2 or older; TLS 1.3 is required",
                       l);
    } else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        rc = gdn_error(GDN_ECRYPTO, "%s: sent no client certificate", l);
    } else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
               reason == SSL_R_HTTPS_PROXY_REQUEST || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
               reason == SSL_R_RECORD_LENGTH_MISMATCH) {
        rc = gdn_error(GDN_EFORMAT, "%s: does not speak TLS (plain TCP?)", l);
    } else if (reason > SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
        int desc = reason - SSL_AD_REASON_OFFSET;
        if (desc == SSL_AD_PROTOCOL_VERSION)
            rc = gdn_error(GDN_ECRYPTO, "%s: refused our TLS version (alert: %s)", l,
                           SSL_alert_desc_string_long(desc));
        else if (is_certificate_alert(desc))
            rc = gdn_error(GDN_ECRYPTO, "%s: refused our certificate (alert: %s)", l,
                           SSL_alert_desc_string_long(desc));
        else
            rc = gdn_error(GDN_ECRYPTO, "%s: sent TLS alert '%s'", l,
                           SSL_alert_desc_string_long(desc));
    } else if (reason == SSL_R_UNEXPECTED_EOF_WHILE_READING || (e == SSL_ERROR_SYSCALL && !err)) {
        if (c->sys_errno)
            rc = gdn_error(GDN_EIO, "%s: %s", l, strerror(c->sys_errno));
        else
            rc = gdn_error(GDN_EIO,
                           c->done ? "%s: connection cut without TLS close_notify"
                                   : "%s: connection closed during the TLS handshake",
                           l);
    } else if (err) {
        const char *why = ERR_reason_error_string(err);
        rc = gdn_error(GDN_ECRYPTO, "%s: TLS: %s", l, why ? why : "unknown OpenSSL error");
    } else {
        rc = gdn_error(GDN_EIO, "%s: TLS error %d", l, e);
    }
    ERR_clear_error();
    return rc;
}

/* Maps a failed SSL_* call (result r) to a WANT code, CLOSED or an error. */
static int ssl_result(gdn_tls_conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return GDN_NET_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return GDN_NET_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        if (c->done)
            return GDN_NET_CLOSED;
        c->failed = 1;
        return gdn_error(GDN_EIO, "%s: closed the connection during the TLS handshake",
                         c->label);
    default:
        c->failed = 1;
        return describe_failure(c, e);
    }
}

/* Server side, before OpenSSL reads anything: a TLS connection opens with a
 * handshake record, type 22 and version 3.x (RFC 8446 §5.1). */
static int check_first_bytes(gdn_tls_conn *c)
{
    uint8_t b[8];
    char hex[3 * sizeof b + 1];
    ssize_t n;

    do
        n = recv(c->fd, b, sizeof b, MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return GDN_NET_WANT_READ;
    c->failed = 1;
    if (n < 0)
        return gdn_error(GDN_EIO, "%s: %s", c->label, strerror(errno));
    if (n == 0)
        return gdn_error(GDN_EIO, "%s: closed the connection before the TLS handshake",
                         c->label);
    if (b[0] != 22 || (n >= 2 && b[1] != 3)) {
        size_t used = 0;
        for (ssize_t i = 0; i < n; i++)
            used += (size_t)snprintf(hex + used, sizeof hex - used, "%s%02x", i ? " " : "", b[i]);
        return gdn_error(GDN_EFORMAT, "%s: not TLS (plain TCP?): first bytes %s", c->label,
                         hex);
    }
    c->failed = 0;
    c->peeked = 1;
    return 0;
}

/* ---- Contexts --------------------------------------------------------------------- */

/* A store trusting only ca, checking crl_path's CRL when there is one. */
static int make_store(X509_STORE **out, X509 *ca, const char *crl_path)
{
    X509_STORE *st = X509_STORE_new();
    X509_CRL *crl = NULL;
    int rc = 0;

    *out = NULL;
    if (!st || !X509_STORE_add_cert(st, ca)) {
        rc = net_ossl_error(GDN_ENOMEM, "certificate store");
        goto out;
    }
    if (*crl_path) {
        const ASN1_TIME *next;
        char when[32];
        if ((rc = net_load_crl(&crl, crl_path)))
            goto out;
        if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
            rc = net_ossl_error(GDN_ECRYPTO, "%s: not signed by the federation CA", crl_path);
            goto out;
        }
        next = X509_CRL_get0_nextUpdate(crl);
        if (next && X509_cmp_time(next, NULL) < 0) {
            net_time_str(when, sizeof when, next);
            rc = gdn_error(GDN_ECRYPTO,
                           "%s: expired on %s; re-issue it with guardian ca crl", crl_path,
                           when);
            goto out;
        }
        if (!X509_STORE_add_crl(st, crl)) {
            rc = net_ossl_error(GDN_ENOMEM, "%s", crl_path);
            goto out;
        }
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
    }
    X509_STORE_set_flags(st, X509_V_FLAG_X509_STRICT);
    *out = st;
    st = NULL;
out:
    X509_CRL_free(crl);
    X509_STORE_free(st);
    return rc;
}

static int resolve_path(char *out, size_t cap, const char *given, const char *dir,
                        const char *file)
{
    if (given) {
        if (strlen(given) >= cap)
            return gdn_error(GDN_EINVAL, "path too long: %s", given);
        snprintf(out, cap, "%s", given);
        return 0;
    }
    if (!dir)
        return gdn_error(GDN_EINVAL, "TLS configuration: neither a directory nor %s given",
                         file);
    return net_path(out, cap, dir, file);
}

/* Our own certificate: issued by the CA, for our role, matching the key. */
static int check_own_cert(X509 *cert, X509 *ca, const char *cert_path, const char *ca_path,
                          int server)
{
    if (X509_check_ca(ca) == 0)
        return gdn_error(GDN_EINVAL, "%s: not a CA certificate", ca_path);
    if (X509_check_issued(ca, cert) != X509_V_OK ||
        X509_verify(cert, X509_get0_pubkey(ca)) != 1)
        return net_ossl_error(GDN_EINVAL,
                              "%s: not issued by the CA of %s (sign it with guardian ca sign)",
                              cert_path, ca_path);
    if (X509_check_purpose(cert, server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT,
                           0) != 1)
        return gdn_error(GDN_EINVAL,
                         server ? "%s: not a server certificate (sign it with --server)"
                                : "%s: not a client certificate (sign it with --client)",
                         cert_path);
    return 0;
}

static int ctx_new(gdn_tls_ctx **out, const gdn_tls_config *cfg, int server)
{
    char key_path[4096], cert_path[4096], ca_path[4096];
    gdn_tls_ctx *t = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    X509_STORE *store = NULL;
    int rc;

    *out = NULL;
    if (!(t = calloc(1, sizeof *t)))
        return gdn_error(GDN_ENOMEM, "TLS context");
    t->server = server;
    if ((rc = resolve_path(key_path, sizeof key_path, cfg->key_file, cfg->dir, "key.pem")) ||
        (rc = resolve_path(cert_path, sizeof cert_path, cfg->cert_file, cfg->dir, "cert.pem")) ||
        (rc = resolve_path(ca_path, sizeof ca_path, cfg->ca_file, cfg->dir, "ca.pem")))
        goto fail;
    if (cfg->crl_file) {
        if ((rc = resolve_path(t->crl_path, sizeof t->crl_path, cfg->crl_file, NULL, "")))
            goto fail;
    } else if (cfg->dir) {
        if ((rc = net_path(t->crl_path, sizeof t->crl_path, cfg->dir, "crl.pem")))
            goto fail;
        if (!net_file_exists(t->crl_path))
            t->crl_path[0] = '\0';
    }
    if ((rc = net_load_key(&key, key_path)) || (rc = net_load_cert(&cert, cert_path)) ||
        (rc = net_load_cert(&t->ca, ca_path)) ||
        (rc = check_own_cert(cert, t->ca, cert_path, ca_path, server)) ||
        (rc = make_store(&store, t->ca, t->crl_path)) ||
        (rc = net_pkey_fingerprint(t->fp, X509_get0_pubkey(cert))))
        goto fail;
    t->ssl = SSL_CTX_new_ex(NULL, NULL, server ? TLS_server_method() : TLS_client_method());
    if (!t->ssl || !SSL_CTX_set_min_proto_version(t->ssl, TLS1_3_VERSION) ||
        !SSL_CTX_use_certificate(t->ssl, cert) || !SSL_CTX_use_PrivateKey(t->ssl, key)) {
        rc = net_ossl_error(GDN_ECRYPTO, "TLS context (%s, %s)", cert_path, key_path);
        goto fail;
    }
    if (!SSL_CTX_check_private_key(t->ssl)) {
        rc = net_ossl_error(GDN_ECRYPTO, "%s does not match %s", key_path, cert_path);
        goto fail;
    }
    SSL_CTX_set_cert_store(t->ssl, store);
    store = NULL;
    SSL_CTX_set_verify(t->ssl,
                       server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                              : SSL_VERIFY_PEER,
                       verify_cb);
    SSL_CTX_set_verify_depth(t->ssl, 2);
    /* Buffers stay with their connection (no SSL_MODE_RELEASE_BUFFERS): a
     * federation's connections are busy every round, and releasing them
     * costs an allocation and a copy per record; about 34 KiB each, plus
     * the read-ahead and write buffers of SOCKET_BUFFER_BYTES. */
    SSL_CTX_set_mode(t->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(t->ssl, 1);
    SSL_CTX_set_default_read_buffer_len(t->ssl, SOCKET_BUFFER_BYTES);
    /* No resumption: a resumed session would skip the revocation check. */
    SSL_CTX_set_options(t->ssl, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(t->ssl, 0);
    SSL_CTX_set_session_cache_mode(t->ssl, SSL_SESS_CACHE_OFF);
    EVP_PKEY_free(key);
    X509_free(cert);
    *out = t;
    return 0;
fail:
    X509_STORE_free(store);
    EVP_PKEY_free(key);
    X509_free(cert);
    gdn_tls_ctx_free(t);
    return rc;
}

int gdn_tls_ctx_new_server(gdn_tls_ctx **out, const gdn_tls_config *cfg)
{
    return ctx_new(out, cfg, 1);
}

int gdn_tls_ctx_new_client(gdn_tls_ctx **out, const gdn_tls_config *cfg)
{
    return ctx_new(out, cfg, 0);
}

int gdn_tls_ctx_reload_crl(gdn_tls_ctx *ctx)
{
    X509_STORE *store;
    int rc = make_store(&store, ctx->ca, ctx->crl_path);

    if (rc)
        return rc;
    SSL_CTX_set_cert_store(ctx->ssl, store);
    return 0;
}

void gdn_tls_ctx_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const gdn_tls_ctx *ctx)
{
    memcpy(fp, ctx->fp, GDN_NET_FINGERPRINT_BYTES);
}

void gdn_tls_ctx_free(gdn_tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    X509_free(ctx->ca);
    free(ctx);
}

/* ---- Connections: incremental interface -------------------------------------------- */

static int is_ip_address(const char *host)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

int gdn_tls_conn_new(gdn_tls_conn **out, gdn_tls_ctx *ctx, int fd, const char *host,
                     int own_fd)
{
    gdn_tls_conn *c;
    char addr[128];
    BIO *bio;
    int ok;

    *out = NULL;
    if (!ctx->server && (!host || !*host))
        return gdn_error(GDN_EINVAL, "a TLS client needs the server's host name");
    CRYPTO_THREAD_run_once(&bio_once, make_bio_method);
    if (!bio_method)
        return gdn_error(GDN_ENOMEM, "TLS socket BIO");
    if (!(c = calloc(1, sizeof *c)))
        return gdn_error(GDN_ENOMEM, "TLS connection");
    c->fd = fd;
    c->server = ctx->server;
    if (!c->server && strlen(host) >= sizeof c->host) {
        free(c);
        return gdn_error(GDN_EINVAL, "server name too long: %s", host);
    }
    if (!c->server)
        snprintf(c->host, sizeof c->host, "%s", host);
    gdn_net_peer_address(addr, sizeof addr, fd);
    if (c->server || (strncmp(addr, host, strlen(host)) == 0 && addr[strlen(host)] == ':'))
        snprintf(c->label, sizeof c->label, "%s %s", c->server ? "peer" : "server", addr);
    else
        snprintf(c->label, sizeof c->label, "server %s (%s)", host, addr);
    if (!(c->ssl = SSL_new(ctx->ssl)) || !(bio = BIO_new(bio_method))) {
        SSL_free(c->ssl);
        free(c);
        return net_ossl_error(GDN_ENOMEM, "TLS connection");
    }
    BIO_set_data(bio, c);
    SSL_set_bio(c->ssl, bio, bio);
    SSL_set_app_data(c->ssl, c);
    if (c->server) {
        SSL_set_accept_state(c->ssl);
    } else {
        X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
        SSL_set_connect_state(c->ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (is_ip_address(host))
            ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
        else
            ok = SSL_set1_host(c->ssl, host) && SSL_set_tlsext_host_name(c->ssl, host);
        if (!ok) {
            SSL_free(c->ssl);
            free(c);
            return net_ossl_error(GDN_EINVAL, "server name '%s'", host);
        }
    }
    c->own_fd = own_fd;
    *out = c;
    return 0;
}

void gdn_tls_conn_free(gdn_tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    if (c->own_fd && c->fd >= 0)
        close(c->fd);
    free(c->wb);
    free(c);
}

int gdn_tls_handshake(gdn_tls_conn *c)
{
    int r, rc;

    if (c->done)
        return 0;
    if (c->failed)
        return gdn_error(GDN_ESTATE, "%s: the TLS handshake already failed", c->label);
    if (c->server && !c->peeked && (rc = check_first_bytes(c)))
        return rc;
    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->done = 1;
        return 0;
    }
    return ssl_result(c, r);
}

int gdn_tls_read(gdn_tls_conn *c, void *buf, size_t cap, size_t *n)
{
    *n = 0;
    if (!c->done || c->failed)
        return gdn_error(GDN_ESTATE, "%s: read on a connection %s", c->label,
                         c->failed ? "that failed" : "before its handshake");
    if (cap == 0)
        return gdn_error(GDN_EINVAL, "read of 0 bytes");
    ERR_clear_error();
    if (SSL_read_ex(c->ssl, buf, cap, n) == 1)
        return 0;
    return ssl_result(c, 0);
}

int gdn_tls_write(gdn_tls_conn *c, const void *buf, size_t len, size_t *n)
{
    *n = 0;
    if (!c->done || c->failed)
        return gdn_error(GDN_ESTATE, "%s: write on a connection %s", c->label,
                         c->failed ? "that failed" : "before its handshake");
    if (len == 0)
        return 0;
    /* A call of SSL_write_ex makes one record (partial writes): go on until
     * the buffer is full, so that its records leave in few send() calls. */
    while (*n < len) {
        size_t k;
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, (const uint8_t *)buf + *n, len - *n, &k) != 1) {
            int rc = ssl_result(c, 0);
            if (rc == GDN_NET_WANT_WRITE && *n > 0)
                break; /* report what went in; the next call gets the WANT */
            return rc;
        }
        *n += k;
    }
    return wb_drain(c) < 0 ? wb_failed(c) : 0;
}

int gdn_tls_flush(gdn_tls_conn *c)
{
    int r;

    if (c->failed)
        return gdn_error(GDN_ESTATE, "%s: flush on a connection that failed", c->label);
    if ((r = wb_drain(c)) < 0)
        return wb_failed(c);
    return r ? GDN_NET_WANT_WRITE : 0;
}

int gdn_tls_shutdown(gdn_tls_conn *c)
{
    int r;

    if (!c->done || c->failed)
        return 0; /* nothing to close cleanly */
    ERR_clear_error();
    r = SSL_shutdown(c->ssl);
    if (r >= 0)
        return wb_drain(c) > 0 ? GDN_NET_WANT_WRITE : 0;
    r = ssl_result(c, r);
    return r == GDN_NET_CLOSED ? 0 : r;
}

size_t gdn_tls_pending(const gdn_tls_conn *c)
{
    int n = SSL_pending(c->ssl);

    if (n > 0)
        return (size_t)n;
    return SSL_has_pending(c->ssl) ? 1 : 0; /* records read ahead, not decrypted */
}

int gdn_tls_peer_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const gdn_tls_conn *c)
{
    X509 *peer;

    if (!c->done)
        return gdn_error(GDN_ESTATE, "%s: no verified peer before the handshake", c->label);
    if (!(peer = SSL_get0_peer_certificate(c->ssl)) ||
        SSL_get_verify_result(c->ssl) != X509_V_OK)
        return gdn_error(GDN_ECRYPTO, "%s: no verified peer certificate", c->label);
    return net_pkey_fingerprint(fp, X509_get0_pubkey(peer));
}

int gdn_tls_peer_public_key(uint8_t pk[32], const gdn_tls_conn *c)
{
    X509 *peer;
    EVP_PKEY *key;
    size_t n = 32;

    if (!c->done || !(peer = SSL_get0_peer_certificate(c->ssl)) ||
        SSL_get_verify_result(c->ssl) != X509_V_OK || !(key = X509_get0_pubkey(peer)))
        return gdn_error(GDN_ESTATE, "%s: no verified peer certificate", c->label);
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(key, pk, &n) != 1 || n != 32)
        return gdn_error(GDN_EFORMAT, "%s: the peer's key is not Ed25519", c->label);
    return 0;
}

const char *gdn_tls_peer_label(const gdn_tls_conn *c)
{
    return c->label;
}

int gdn_tls_conn_fd(const gdn_tls_conn *c)
{
    return c->fd;
}

void gdn_tls_conn_bytes(const gdn_tls_conn *c, uint64_t *sent, uint64_t *received)
{
    if (sent)
        *sent = c->sent;
    if (received)
        *received = c->received;
}

/* ---- Direct interface ------------------------------------------------------------- */

/* Waits as a WANT code asks, until the deadline. */
static int wait_want(gdn_tls_conn *c, int want, double deadline, const char *what)
{
    int rc = net_wait_fd(c->fd, want == GDN_NET_WANT_WRITE, deadline);

    if (rc == 0)
        return gdn_error(GDN_EIO, "%s: timed out %s", c->label, what);
    return rc < 0 ? rc : 0;
}

static double deadline_of(int timeout_ms)
{
    return gdn_now() + (timeout_ms > 0 ? timeout_ms : 1) / 1000.0;
}

static int handshake_until(gdn_tls_conn *c, double deadline)
{
    for (;;) {
        int rc = gdn_tls_handshake(c);
        if (rc <= 0)
            return rc;
        if (rc == GDN_NET_CLOSED)
            return gdn_error(GDN_EIO, "%s: closed during the handshake", c->label);
        if ((rc = wait_want(c, rc, deadline, "in the TLS handshake")))
            return rc;
    }
}

int gdn_tls_connect(gdn_tls_conn **out, gdn_tls_ctx *ctx, const char *host, uint16_t port,
                    int timeout_ms)
{
    double deadline = deadline_of(timeout_ms);
    gdn_tls_conn *c = NULL;
    int fd, rc;

    *out = NULL;
    if ((rc = gdn_net_connect(&fd, host, port, timeout_ms)))
        return rc;
    if ((rc = gdn_tls_conn_new(&c, ctx, fd, host, 1))) {
        close(fd);
        return rc;
    }
    if ((rc = handshake_until(c, deadline))) {
        gdn_tls_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int gdn_tls_accept(gdn_tls_conn **out, gdn_tls_ctx *ctx, int listen_fd, int timeout_ms)
{
    double deadline = deadline_of(timeout_ms);
    gdn_tls_conn *c = NULL;
    int fd, rc;

    *out = NULL;
    if ((rc = gdn_net_accept(&fd, listen_fd, timeout_ms > 0 ? timeout_ms : 1)))
        return rc == GDN_NET_WANT_READ ? gdn_error(GDN_EIO, "no connection") : rc;
    if ((rc = gdn_tls_conn_new(&c, ctx, fd, NULL, 1))) {
        close(fd);
        return rc;
    }
    if ((rc = handshake_until(c, deadline))) {
        gdn_tls_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int gdn_tls_write_all(gdn_tls_conn *c, const void *buf, size_t len, int timeout_ms)
{
    double deadline = deadline_of(timeout_ms);
    const uint8_t *p = buf;
    int rc;

    while (len > 0) {
        size_t n;
        rc = gdn_tls_write(c, p, len, &n);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            if (rc == GDN_NET_CLOSED)
                return gdn_error(GDN_EIO, "%s: closed while we were writing", c->label);
            if ((rc = wait_want(c, rc, deadline, "writing")))
                return rc;
            continue;
        }
        p += n;
        len -= n;
    }
    while ((rc = gdn_tls_flush(c)) == GDN_NET_WANT_WRITE)
        if ((rc = wait_want(c, rc, deadline, "writing")))
            return rc;
    return rc;
}

int gdn_tls_read_full(gdn_tls_conn *c, void *buf, size_t len, int timeout_ms)
{
    double deadline = deadline_of(timeout_ms);
    uint8_t *p = buf;
    size_t got = 0;

    while (got < len) {
        size_t n;
        int rc = gdn_tls_read(c, p + got, len - got, &n);
        if (rc < 0)
            return rc;
        if (rc == GDN_NET_CLOSED) {
            if (got == 0)
                return GDN_NET_CLOSED;
            return gdn_error(GDN_EIO, "%s: closed after %zu of %zu bytes", c->label, got, len);
        }
        if (rc > 0) {
            if ((rc = wait_want(c, rc, deadline, "reading")))
                return rc;
            continue;
        }
        got += n;
    }
    return 0;
}

int gdn_tls_send_frame(gdn_tls_conn *c, uint8_t type, const void *payload, size_t len,
                       uint32_t max_payload, int timeout_ms)
{
    uint8_t small[STACK_FRAME_BYTES];
    double deadline = deadline_of(timeout_ms);
    int rc, left_ms;

    if (type == 0 || type >= GDN_FRAME_TYPE_END)
        return gdn_error(GDN_EINVAL, "frame type %u is not valid", type);
    if (len > max_payload)
        return gdn_error(GDN_ERANGE, "frame of %zu bytes exceeds the limit of %u bytes", len,
                         max_payload);
    gdn_frame_header(small, type, (uint32_t)len);
    if (len <= sizeof small - GDN_FRAME_HEADER_BYTES) { /* one TLS record */
        if (len)
            memcpy(small + GDN_FRAME_HEADER_BYTES, payload, len);
        return gdn_tls_write_all(c, small, GDN_FRAME_HEADER_BYTES + len, timeout_ms);
    }
    if ((rc = gdn_tls_write_all(c, small, GDN_FRAME_HEADER_BYTES, timeout_ms)))
        return rc;
    left_ms = (int)((deadline - gdn_now()) * 1000.0);
    return gdn_tls_write_all(c, payload, len, left_ms > 0 ? left_ms : 1);
}

int gdn_tls_send_object(gdn_tls_conn *c, uint32_t stream, const void *data, uint64_t len,
                        uint32_t max_payload, int timeout_ms)
{
    const uint8_t *p = data;
    gdn_buf frame = {0};
    uint64_t off = 0;
    int rc;

    if (max_payload <= GDN_FRAME_CHUNK_HEADER_BYTES)
        return gdn_error(GDN_EINVAL, "frame limit %u leaves no room for chunk data",
                         max_payload);
    size_t per = max_payload - GDN_FRAME_CHUNK_HEADER_BYTES;
    do {
        size_t n = len - off < per ? (size_t)(len - off) : per;
        frame.len = 0;
        if (!(rc = gdn_frame_encode_chunk(&frame, stream, off, len, p + off, n, max_payload)))
            rc = gdn_tls_write_all(c, frame.data, frame.len, timeout_ms);
        off += n;
    } while (!rc && off < len);
    gdn_buf_free(&frame);
    return rc;
}

int gdn_tls_recv_frame(gdn_tls_conn *c, gdn_frame_decoder *d, gdn_frame *frame,
                       int timeout_ms)
{
    uint8_t buf[STACK_FRAME_BYTES];
    double deadline = deadline_of(timeout_ms);

    for (;;) {
        /* Never read past the frame: what follows stays in the connection. */
        size_t want = gdn_frame_decoder_need(d), n, used;
        int rc;
        if (want > sizeof buf)
            want = sizeof buf;
        rc = gdn_tls_read(c, buf, want, &n);
        if (rc == GDN_NET_CLOSED) {
            if ((rc = gdn_frame_decoder_finish(d))) {
                char why[400];
                snprintf(why, sizeof why, "%s", gdn_errmsg());
                return gdn_error(rc, "%s: %s", c->label, why);
            }
            return GDN_NET_CLOSED;
        }
        if (rc > 0) {
            if ((rc = wait_want(c, rc, deadline, "waiting for a frame")))
                return rc;
            continue;
        }
        if (rc < 0)
            return rc;
        rc = gdn_frame_decoder_push(d, frame, &used, buf, n);
        if (rc < 0) {
            char why[400];
            snprintf(why, sizeof why, "%s", gdn_errmsg());
            return gdn_error(rc, "%s: %s", c->label, why);
        }
        if (rc == 1)
            return 0;
    }
}
