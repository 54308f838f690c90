/* Party identities: Ed25519 keys, certificate requests, the federation CA,
 * certificates and the revocation list, with OpenSSL 3's EVP and X509 APIs.
 * RFC 5280 profiles: v3 certificates, basicConstraints and keyUsage critical,
 * subject/authority key identifiers; v2 CRLs with cRLNumber. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "net/internal.h"

#define PEM_MAX_BYTES ((size_t)1 << 20)
#define KEY_FILE_MAX 16384
#define BACKDATE_SECONDS 300 /* tolerate parties' clocks 5 minutes apart */
#define MAX_DAYS 36500

/* ---- Shared helpers --------------------------------------------------------- */

int net_ossl_error(int code, const char *fmt, ...)
{
    char msg[400];
    unsigned long e = ERR_get_error();
    const char *why = e ? ERR_reason_error_string(e) : NULL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ERR_clear_error();
    if (e)
        return gdn_error(code, "%s: %s", msg, why ? why : "OpenSSL error");
    return gdn_error(code, "%s", msg);
}

int net_path(char *out, size_t cap, const char *dir, const char *file)
{
    int n = snprintf(out, cap, "%s/%s", dir, file);

    if (n < 0 || (size_t)n >= cap)
        return gdn_error(GDN_EINVAL, "path too long: %s/%s", dir, file);
    return 0;
}

int net_file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* A BIO over the bytes of a PEM file (read into b; caller frees both). */
static int open_pem(BIO **bio, gdn_buf *b, const char *path)
{
    int rc = gdn_file_read(b, path, PEM_MAX_BYTES);

    if (rc)
        return rc;
    if (!(*bio = BIO_new_mem_buf(b->data, (int)b->len)))
        return net_ossl_error(GDN_ENOMEM, "%s", path);
    return 0;
}

int net_load_cert(X509 **out, const char *path)
{
    gdn_buf b = {0};
    BIO *bio = NULL;
    int rc = open_pem(&bio, &b, path);

    *out = NULL;
    if (!rc && !(*out = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        rc = net_ossl_error(GDN_EFORMAT, "%s: not a PEM certificate", path);
    BIO_free(bio);
    gdn_buf_free(&b);
    return rc;
}

int net_load_crl(X509_CRL **out, const char *path)
{
    gdn_buf b = {0};
    BIO *bio = NULL;
    int rc = open_pem(&bio, &b, path);

    *out = NULL;
    if (!rc && !(*out = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)))
        rc = net_ossl_error(GDN_EFORMAT, "%s: not a PEM certificate revocation list", path);
    BIO_free(bio);
    gdn_buf_free(&b);
    return rc;
}

static int load_req(X509_REQ **out, const char *path)
{
    gdn_buf b = {0};
    BIO *bio = NULL;
    int rc = open_pem(&bio, &b, path);

    *out = NULL;
    if (!rc && !(*out = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)))
        rc = net_ossl_error(GDN_EFORMAT, "%s: not a PEM certificate request", path);
    BIO_free(bio);
    gdn_buf_free(&b);
    return rc;
}

/* Never prompt for a passphrase: our keys are not encrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int net_load_key(EVP_PKEY **out, const char *path)
{
    uint8_t buf[KEY_FILE_MAX];
    size_t len = 0;
    BIO *bio = NULL;
    int fd, rc = 0;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return gdn_error(GDN_EIO, "%s: %s", path, strerror(errno));
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = gdn_error(GDN_EIO, "%s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof buf) {
            rc = gdn_error(GDN_ERANGE, "%s: larger than a key file can be", path);
            break;
        }
    }
    close(fd);
    if (!rc && !(bio = BIO_new_mem_buf(buf, (int)len)))
        rc = net_ossl_error(GDN_ENOMEM, "%s", path);
    if (!rc && !(*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)))
        rc = net_ossl_error(GDN_EFORMAT, "%s: not an unencrypted PEM private key", path);
    BIO_free(bio);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int net_pkey_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], EVP_PKEY *pk)
{
    unsigned char *der = NULL;
    unsigned int mdlen = 0;
    int n = i2d_PUBKEY(pk, &der), ok;

    if (n <= 0)
        return net_ossl_error(GDN_ECRYPTO, "encoding a public key");
    ok = EVP_Digest(der, (size_t)n, fp, &mdlen, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok || mdlen != GDN_NET_FINGERPRINT_BYTES)
        return net_ossl_error(GDN_ECRYPTO, "SHA-256 of a public key");
    return 0;
}

void net_name_str(char *out, size_t cap, const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n;

    out[0] = '\0';
    if (!b)
        return;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_get_mem_data(b, &p);
        snprintf(out, cap, "%.*s", (int)(n > 0 ? n : 0), p);
    }
    BIO_free(b);
}

void net_serial_str(char *out, size_t cap, const ASN1_INTEGER *serial)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;

    if (hex) {
        for (char *c = hex; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        snprintf(out, cap, "0x%s", hex);
    } else {
        snprintf(out, cap, "?");
    }
    OPENSSL_free(hex);
    BN_free(bn);
}

void net_time_str(char *out, size_t cap, const ASN1_TIME *t)
{
    struct tm tm;

    if (!t || !ASN1_TIME_to_tm(t, &tm) ||
        strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, cap, "?");
}

void gdn_net_fingerprint_hex(char out[GDN_NET_FINGERPRINT_HEX_BYTES],
                             const uint8_t fp[GDN_NET_FINGERPRINT_BYTES])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < GDN_NET_FINGERPRINT_BYTES; i++) {
        out[2 * i] = digits[fp[i] >> 4];
        out[2 * i + 1] = digits[fp[i] & 15];
    }
    out[2 * GDN_NET_FINGERPRINT_BYTES] = '\0';
}

/* ---- Writing files ------------------------------------------------------------ */


/* Writes what a memory BIO holds to path, atomically; wipes it when secret. */
static int write_bio(const char *path, BIO *b, int secret)
{
    BUF_MEM *m = NULL;
    int rc;

    BIO_get_mem_ptr(b, &m);
    if (!m)
        return gdn_error(GDN_EINTERNAL, "%s: no PEM produced", path);
    rc = gdn_file_write_atomic_mode(path, m->data, m->length, secret ? 0600 : 0644);
    if (secret)
        OPENSSL_cleanse(m->data, m->length);
    return rc;
}

static int write_key(const char *path, EVP_PKEY *pk)
{
    /* A secure-memory BIO wipes its buffer whenever it grows or is freed. */
    BIO *b = BIO_new(BIO_s_secmem());
    int rc;

    if (!b)
        return net_ossl_error(GDN_ENOMEM, "%s", path);
    if (!PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL))
        rc = net_ossl_error(GDN_ECRYPTO, "%s: encoding the private key", path);
    else
        rc = write_bio(path, b, 1);
    BIO_free(b);
    return rc;
}

static int write_cert(const char *path, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc;

    if (!b)
        return net_ossl_error(GDN_ENOMEM, "%s", path);
    rc = PEM_write_bio_X509(b, x) ? write_bio(path, b, 0)
                                  : net_ossl_error(GDN_EFORMAT, "%s: encoding", path);
    BIO_free(b);
    return rc;
}

static int write_req(const char *path, X509_REQ *req)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc;

    if (!b)
        return net_ossl_error(GDN_ENOMEM, "%s", path);
    rc = PEM_write_bio_X509_REQ(b, req) ? write_bio(path, b, 0)
                                        : net_ossl_error(GDN_EFORMAT, "%s: encoding", path);
    BIO_free(b);
    return rc;
}

static int write_crl_file(const char *path, X509_CRL *crl)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc;

    if (!b)
        return net_ossl_error(GDN_ENOMEM, "%s", path);
    rc = PEM_write_bio_X509_CRL(b, crl) ? write_bio(path, b, 0)
                                        : net_ossl_error(GDN_EFORMAT, "%s: encoding", path);
    BIO_free(b);
    return rc;
}

/* ---- Building certificates ---------------------------------------------------- */

static int check_name(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > GDN_NET_NAME_MAX)
        return gdn_error(GDN_EINVAL, "name '%s': expected 1 to %d bytes", name,
                         GDN_NET_NAME_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return gdn_error(GDN_EINVAL, "name: control character at byte %zu", i);
    return 0;
}

static int check_days(int *days, int dflt)
{
    if (*days == 0)
        *days = dflt;
    if (*days < 1 || *days > MAX_DAYS)
        return gdn_error(GDN_EINVAL, "validity of %d days: expected 1 to %d", *days,
                         MAX_DAYS);
    return 0;
}

static X509_NAME *make_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();

    if (n && !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
                                         -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* 127 random bits, top bit clear and next set: positive, always 16 octets. */
static int set_serial(X509 *x)
{
    uint8_t b[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(b, sizeof b) != 1)
        return net_ossl_error(GDN_ECRYPTO, "random serial number");
    b[0] = (uint8_t)((b[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(b, sizeof b, NULL);
    ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok ? 0 : net_ossl_error(GDN_ECRYPTO, "serial number");
}

static int set_validity(X509 *x, int days)
{
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
        return net_ossl_error(GDN_EINTERNAL, "certificate validity");
    return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e && X509_add_ext(x, e, -1);

    X509_EXTENSION_free(e);
    return ok ? 0 : net_ossl_error(GDN_EINTERNAL, "extension %s = %s", OBJ_nid2sn(nid), value);
}

static int valid_dns_name(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

static int add_general_name(GENERAL_NAMES *gens, const char *host)
{
    unsigned char addr[16];
    GENERAL_NAME *gn = GENERAL_NAME_new();
    int ok = 0;

    if (!gn)
        return gdn_error(GDN_ENOMEM, "subjectAltName");
    if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
        if (ip) {
            GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
            ok = 1;
        }
    } else if (valid_dns_name(host, strlen(host))) {
        ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
        if (dns && ASN1_STRING_set(dns, host, -1)) {
            GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
            ok = 1;
        } else {
            ASN1_IA5STRING_free(dns);
        }
    } else {
        GENERAL_NAME_free(gn);
        return gdn_error(GDN_EINVAL, "host '%s' is neither a DNS name nor an IP address",
                         host);
    }
    if (!ok || !sk_GENERAL_NAME_push(gens, gn)) {
        GENERAL_NAME_free(gn);
        return net_ossl_error(GDN_ENOMEM, "subjectAltName %s", host);
    }
    return 0;
}

/* localhost, 127.0.0.1 and every name of the comma-separated list. */
static int add_san(X509 *x, const char *hosts)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    int rc;

    if (!gens)
        return gdn_error(GDN_ENOMEM, "subjectAltName");
    rc = add_general_name(gens, "localhost");
    if (!rc)
        rc = add_general_name(gens, "127.0.0.1");
    for (const char *p = hosts; !rc && p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char tok[256];
        if (len == 0 || len >= sizeof tok) {
            rc = gdn_error(GDN_EINVAL, "--host: empty or overlong name in '%s'", hosts);
            break;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (strcmp(tok, "localhost") != 0 && strcmp(tok, "127.0.0.1") != 0)
            rc = add_general_name(gens, tok);
        p = end ? end + 1 : p + len;
    }
    if (!rc && !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT))
        rc = net_ossl_error(GDN_EINTERNAL, "subjectAltName");
    GENERAL_NAMES_free(gens);
    return rc;
}

static int fill_info(gdn_net_cert_info *out, X509 *x)
{
    memset(out, 0, sizeof *out);
    net_serial_str(out->serial, sizeof out->serial, X509_get0_serialNumber(x));
    net_name_str(out->subject, sizeof out->subject, X509_get_subject_name(x));
    net_time_str(out->not_after, sizeof out->not_after, X509_get0_notAfter(x));
    out->is_ca = X509_check_ca(x) != 0;
    out->server = (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) &&
                  (X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
    return net_pkey_fingerprint(out->fingerprint, X509_get0_pubkey(x));
}

static EVP_PKEY *new_ed25519(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

/* ---- The CRL ---------------------------------------------------------------- */

/* A CRL number one above old's (1 without one). */
static ASN1_INTEGER *next_crl_number(X509_CRL *old)
{
    ASN1_INTEGER *prev = old ? X509_CRL_get_ext_d2i(old, NID_crl_number, NULL, NULL) : NULL;
    BIGNUM *bn = prev ? ASN1_INTEGER_to_BN(prev, NULL) : BN_new();
    ASN1_INTEGER *next = NULL;

    if (bn && BN_add_word(bn, 1))
        next = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    ASN1_INTEGER_free(prev);
    return next;
}

/* Signs and writes a CRL: old's entries plus `add` (either may be NULL). */
static int issue_crl(size_t *entries, const char *path, X509 *ca, EVP_PKEY *cakey,
                     X509_CRL *old, X509 *add, int days)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = X509_gmtime_adj(NULL, 0);
    ASN1_INTEGER *num = next_crl_number(old);
    STACK_OF(X509_REVOKED) *prev = old ? X509_CRL_get_REVOKED(old) : NULL;
    X509_EXTENSION *akid = NULL;
    X509V3_CTX ctx;
    int rc = 0;

    if (!crl || !t || !num || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
        !X509_CRL_set1_lastUpdate(crl, t) || !X509_time_adj_ex(t, days, 0, NULL) ||
        !X509_CRL_set1_nextUpdate(crl, t)) {
        rc = net_ossl_error(GDN_ENOMEM, "building the CRL");
        goto out;
    }
    for (int i = 0; i < sk_X509_REVOKED_num(prev); i++) {
        X509_REVOKED *r = X509_REVOKED_dup(sk_X509_REVOKED_value(prev, i));
        if (!r || !X509_CRL_add0_revoked(crl, r)) {
            X509_REVOKED_free(r);
            rc = net_ossl_error(GDN_ENOMEM, "building the CRL");
            goto out;
        }
    }
    if (add) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_TIME *now = X509_gmtime_adj(NULL, 0);
        int ok = r && now && X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(add)) &&
                 X509_REVOKED_set_revocationDate(r, now) && X509_CRL_add0_revoked(crl, r);
        ASN1_TIME_free(now);
        if (!ok) {
            X509_REVOKED_free(r);
            rc = net_ossl_error(GDN_ENOMEM, "building the CRL");
            goto out;
        }
    }
    X509_CRL_sort(crl);
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    akid = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!akid || !X509_CRL_add_ext(crl, akid, -1) ||
        !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) ||
        !X509_CRL_sign(crl, cakey, NULL)) {
        rc = net_ossl_error(GDN_ECRYPTO, "signing the CRL");
        goto out;
    }
    if (entries)
        *entries = (size_t)sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    rc = write_crl_file(path, crl);
out:
    X509_EXTENSION_free(akid);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    return rc;
}

/* ---- Public ------------------------------------------------------------------- */

int gdn_net_keygen(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const char *dir,
                   const char *name, int overwrite)
{
    char key_path[4096], csr_path[4096];
    EVP_PKEY *pk = NULL;
    X509_REQ *req = NULL;
    X509_NAME *subj = NULL;
    int rc;

    if (!name)
        name = "guardian-party";
    if ((rc = check_name(name)) || (rc = net_path(key_path, sizeof key_path, dir, "key.pem")) ||
        (rc = net_path(csr_path, sizeof csr_path, dir, "csr.pem")))
        return rc;
    if (!overwrite && net_file_exists(key_path))
        return gdn_error(GDN_ESTATE, "%s exists: this party already has a key", key_path);
    if ((rc = gdn_mkdir_p(dir)))
        return rc;
    if (!(pk = new_ed25519())) {
        rc = net_ossl_error(GDN_ECRYPTO, "Ed25519 key generation");
        goto out;
    }
    if (!(req = X509_REQ_new()) || !(subj = make_name(name)) ||
        !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req, subj) || !X509_REQ_set_pubkey(req, pk) ||
        !X509_REQ_sign(req, pk, NULL)) {
        rc = net_ossl_error(GDN_ECRYPTO, "certificate request for %s", name);
        goto out;
    }
    /* The key last: a crash in between leaves no key, so keygen runs again. */
    if ((rc = write_req(csr_path, req)) || (rc = write_key(key_path, pk)))
        goto out;
    rc = net_pkey_fingerprint(fp, pk);
out:
    X509_NAME_free(subj);
    X509_REQ_free(req);
    EVP_PKEY_free(pk);
    return rc;
}

int gdn_net_ca_init(const char *ca_dir, const char *name, int days, int overwrite)
{
    char key_path[4096], cert_path[4096], crl_path[4096];
    EVP_PKEY *pk = NULL;
    X509 *x = NULL;
    X509_NAME *subj = NULL;
    X509V3_CTX ctx;
    int rc;

    if (!name)
        name = "Guardian federation CA";
    if ((rc = check_name(name)) || (rc = check_days(&days, GDN_NET_CA_DEFAULT_DAYS)) ||
        (rc = net_path(key_path, sizeof key_path, ca_dir, "ca-key.pem")) ||
        (rc = net_path(cert_path, sizeof cert_path, ca_dir, "ca.pem")) ||
        (rc = net_path(crl_path, sizeof crl_path, ca_dir, "crl.pem")))
        return rc;
    if (!overwrite && net_file_exists(key_path))
        return gdn_error(GDN_ESTATE,
                         "%s exists: a CA is already there (replacing it would "
                         "invalidate every certificate it signed)",
                         key_path);
    if ((rc = gdn_mkdir_p(ca_dir)))
        return rc;
    if (!(pk = new_ed25519())) {
        rc = net_ossl_error(GDN_ECRYPTO, "Ed25519 key generation");
        goto out;
    }
    if (!(x = X509_new()) || !(subj = make_name(name)) ||
        !X509_set_version(x, X509_VERSION_3) || !X509_set_subject_name(x, subj) ||
        !X509_set_issuer_name(x, subj) || !X509_set_pubkey(x, pk)) {
        rc = net_ossl_error(GDN_ENOMEM, "CA certificate");
        goto out;
    }
    if ((rc = set_serial(x)) || (rc = set_validity(x, days)))
        goto out;
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE")) ||
        (rc = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
        (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) ||
        (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")))
        goto out;
    if (!X509_sign(x, pk, NULL)) {
        rc = net_ossl_error(GDN_ECRYPTO, "signing the CA certificate");
        goto out;
    }
    if ((rc = write_cert(cert_path, x)) ||
        (rc = issue_crl(NULL, crl_path, x, pk, NULL, NULL, GDN_NET_CRL_DEFAULT_DAYS)))
        goto out;
    rc = write_key(key_path, pk);
out:
    X509_NAME_free(subj);
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}

/* The CA of ca_dir: its certificate and key, checked to belong together. */
static int load_ca(X509 **ca, EVP_PKEY **key, const char *ca_dir)
{
    char path[4096];
    int rc;

    *ca = NULL;
    *key = NULL;
    if ((rc = net_path(path, sizeof path, ca_dir, "ca.pem")) || (rc = net_load_cert(ca, path)) ||
        (rc = net_path(path, sizeof path, ca_dir, "ca-key.pem")) || (rc = net_load_key(key, path)))
        goto fail;
    if (X509_check_private_key(*ca, *key) != 1) {
        rc = net_ossl_error(GDN_ECRYPTO, "%s: does not match %s/ca.pem", path, ca_dir);
        goto fail;
    }
    return 0;
fail:
    X509_free(*ca);
    EVP_PKEY_free(*key);
    *ca = NULL;
    *key = NULL;
    return rc;
}

/* The request's CN, as UTF-8, into cn. */
static int req_common_name(char *cn, size_t cap, X509_REQ *req, const char *path)
{
    X509_NAME *name = X509_REQ_get_subject_name(req);
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    unsigned char *utf8 = NULL;
    int n;

    if (i < 0)
        return gdn_error(GDN_EFORMAT, "%s: the request has no common name", path);
    n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0)
        return net_ossl_error(GDN_EFORMAT, "%s: common name", path);
    snprintf(cn, cap, "%.*s", n, (const char *)utf8);
    OPENSSL_free(utf8);
    return check_name(cn);
}

int gdn_net_ca_sign(gdn_net_cert_info *out, const char *ca_dir, const char *party_dir,
                    const gdn_net_sign_opts *opts)
{
    gdn_net_sign_opts o = opts ? *opts : (gdn_net_sign_opts){0};
    char path[4096], cn[GDN_NET_NAME_MAX * 4 + 1];
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *cakey = NULL, *pub;
    X509_REQ *req = NULL;
    X509_NAME *subj = NULL;
    X509V3_CTX ctx;
    gdn_buf ca_pem = {0};
    int rc;

    if ((rc = check_days(&o.days, GDN_NET_DEFAULT_DAYS)) || (rc = load_ca(&ca, &cakey, ca_dir)) ||
        (rc = net_path(path, sizeof path, party_dir, "csr.pem")) || (rc = load_req(&req, path)))
        goto out;
    pub = X509_REQ_get0_pubkey(req);
    if (!pub || X509_REQ_verify(req, pub) != 1) {
        rc = net_ossl_error(GDN_ECRYPTO, "%s: the request's signature does not verify", path);
        goto out;
    }
    if (!EVP_PKEY_is_a(pub, "ED25519")) {
        rc = gdn_error(GDN_EINVAL, "%s: a %s key; Guardian parties use Ed25519", path,
                       EVP_PKEY_get0_type_name(pub));
        goto out;
    }
    if ((rc = req_common_name(cn, sizeof cn, req, path)))
        goto out;
    if (!(x = X509_new()) || !(subj = make_name(cn)) || !X509_set_version(x, X509_VERSION_3) ||
        !X509_set_subject_name(x, subj) || !X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
        !X509_set_pubkey(x, pub)) {
        rc = net_ossl_error(GDN_ENOMEM, "certificate");
        goto out;
    }
    if ((rc = set_serial(x)) || (rc = set_validity(x, o.days)))
        goto out;
    X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
    if ((rc = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")) ||
        (rc = add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature")) ||
        (rc = add_ext(x, &ctx, NID_ext_key_usage, o.server ? "serverAuth" : "clientAuth")) ||
        (rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) ||
        (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")))
        goto out;
    if (o.server && (rc = add_san(x, o.hosts)))
        goto out;
    if (!o.server && o.hosts && *o.hosts) {
        rc = gdn_error(GDN_EINVAL, "host names are for server certificates only");
        goto out;
    }
    if (!X509_sign(x, cakey, NULL)) {
        rc = net_ossl_error(GDN_ECRYPTO, "signing the certificate");
        goto out;
    }
    if ((rc = net_path(path, sizeof path, party_dir, "cert.pem")) || (rc = write_cert(path, x)) ||
        (rc = net_path(path, sizeof path, ca_dir, "ca.pem")) ||
        (rc = gdn_file_read(&ca_pem, path, PEM_MAX_BYTES)) ||
        (rc = net_path(path, sizeof path, party_dir, "ca.pem")) ||
        (rc = gdn_file_write_atomic(path, ca_pem.data, ca_pem.len)))
        goto out;
    if (out)
        rc = fill_info(out, x);
out:
    gdn_buf_free(&ca_pem);
    X509_NAME_free(subj);
    X509_REQ_free(req);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}

int gdn_net_ca_revoke(gdn_net_cert_info *revoked, size_t *entries, const char *ca_dir,
                      const char *cert_file, int crl_days)
{
    char crl_path[4096];
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *cakey = NULL;
    X509_CRL *old = NULL;
    X509_REVOKED *found = NULL;
    int rc;

    if ((rc = check_days(&crl_days, GDN_NET_CRL_DEFAULT_DAYS)) ||
        (rc = net_path(crl_path, sizeof crl_path, ca_dir, "crl.pem")) ||
        (rc = load_ca(&ca, &cakey, ca_dir)))
        goto out;
    if (net_file_exists(crl_path)) {
        if ((rc = net_load_crl(&old, crl_path)))
            goto out;
        if (X509_CRL_verify(old, cakey) != 1) {
            rc = net_ossl_error(GDN_ECRYPTO, "%s: not signed by this CA", crl_path);
            goto out;
        }
    }
    if (cert_file) {
        if ((rc = net_load_cert(&cert, cert_file)))
            goto out;
        if (X509_check_issued(ca, cert) != X509_V_OK || X509_verify(cert, cakey) != 1) {
            rc = net_ossl_error(GDN_EINVAL, "%s: not issued by the CA in %s", cert_file, ca_dir);
            goto out;
        }
        if (revoked && (rc = fill_info(revoked, cert)))
            goto out;
        if (old && X509_CRL_get0_by_serial(old, &found, X509_get0_serialNumber(cert)) == 1) {
            X509_free(cert); /* already there: re-issue only */
            cert = NULL;
        }
    }
    rc = issue_crl(entries, crl_path, ca, cakey, old, cert, crl_days);
out:
    X509_CRL_free(old);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    return rc;
}

int gdn_net_cert_info_read(gdn_net_cert_info *out, const char *cert_file)
{
    X509 *x = NULL;
    int rc = net_load_cert(&x, cert_file);

    if (!rc)
        rc = fill_info(out, x);
    X509_free(x);
    return rc;
}

int gdn_net_fingerprint_file(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const char *pem_file)
{
    gdn_buf b = {0};
    BIO *bio = NULL;
    EVP_PKEY *pk = NULL;
    X509 *x = NULL;
    X509_REQ *req = NULL;
    const char *text;
    int rc = gdn_file_read(&b, pem_file, PEM_MAX_BYTES);

    if (rc || (rc = gdn_buf_append(&b, "", 1))) /* a NUL for strstr */
        goto out;
    text = (const char *)b.data;
    if (strstr(text, "PRIVATE KEY-----")) {
        rc = net_load_key(&pk, pem_file);
    } else if (strstr(text, "-----BEGIN CERTIFICATE REQUEST-----")) {
        if (!(rc = load_req(&req, pem_file)) && !(pk = X509_REQ_get_pubkey(req)))
            rc = net_ossl_error(GDN_EFORMAT, "%s: no public key", pem_file);
    } else if (strstr(text, "-----BEGIN CERTIFICATE-----")) {
        if (!(rc = net_load_cert(&x, pem_file)) && !(pk = X509_get_pubkey(x)))
            rc = net_ossl_error(GDN_EFORMAT, "%s: no public key", pem_file);
    } else if (!(bio = BIO_new_mem_buf(b.data, (int)(b.len - 1))) ||
               !(pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL))) {
        rc = net_ossl_error(GDN_EFORMAT,
                            "%s: not a PEM certificate, request, public or private key",
                            pem_file);
    }
    if (!rc)
        rc = net_pkey_fingerprint(fp, pk);
out:
    EVP_PKEY_free(pk);
    X509_REQ_free(req);
    X509_free(x);
    BIO_free(bio);
    gdn_buf_free(&b);
    return rc;
}

int gdn_net_identity_secret(uint8_t sk[64], const char *key_file)
{
    EVP_PKEY *key = NULL;
    uint8_t seed[32], pk[32];
    size_t n = sizeof seed;
    int rc;

    if ((rc = net_load_key(&key, key_file)))
        return rc;
    if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_private_key(key, seed, &n) != 1 || n != sizeof seed)
        rc = net_ossl_error(GDN_EFORMAT, "%s: not an Ed25519 key", key_file);
    else
        crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    EVP_PKEY_free(key);
    return rc;
}
