/* Helpers shared by the net module's files (OpenSSL objects in and out). */
#ifndef GDN_NET_INTERNAL_H
#define GDN_NET_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "guardian/net.h"

/* Records "<detail>: <OpenSSL's reason>" (the oldest queued error) and
 * clears OpenSSL's error queue; returns code. */
int net_ossl_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dir + "/" + file into out; GDN_EINVAL when it does not fit. */
int net_path(char *out, size_t cap, const char *dir, const char *file);
int net_file_exists(const char *path);

/* PEM loaders; errors name the file. The key file is read with read(2)
 * into a buffer that is wiped afterwards. */
int net_load_key(EVP_PKEY **out, const char *path);
int net_load_cert(X509 **out, const char *path);
int net_load_crl(X509_CRL **out, const char *path);

/* SHA-256 of the DER SubjectPublicKeyInfo. */
int net_pkey_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], EVP_PKEY *pk);

/* Text forms for messages: "CN=alice", "0x1f2e...", "2027-01-01 00:00:00 UTC". */
void net_name_str(char *out, size_t cap, const X509_NAME *name);
void net_serial_str(char *out, size_t cap, const ASN1_INTEGER *serial);
void net_time_str(char *out, size_t cap, const ASN1_TIME *t);

/* Waits until fd is readable (or writable) or the gdn_now() deadline has
 * passed: 1 ready, 0 deadline passed, < 0 error. */
int net_wait_fd(int fd, int for_write, double deadline);

#endif
