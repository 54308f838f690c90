/* Guardian net: party identities (Ed25519 keys, X.509 certificates from the
 * federation's own CA), mutually authenticated TLS 1.3 connections, and the
 * length-prefixed frames every message travels in.
 *
 * Files (docs/identities.md):
 *   CA directory:    ca-key.pem (mode 0600), ca.pem, crl.pem
 *   party directory: key.pem (mode 0600), csr.pem, and after `guardian ca
 *                    sign`: cert.pem and ca.pem (a copy of the CA's)
 * A party is named by its fingerprint: SHA-256 of its public key as DER
 * SubjectPublicKeyInfo (what `openssl pkey -pubout -outform DER | sha256sum`
 * prints). Certificates carry it; the CN is only a label for people.
 *
 * Error convention as in core.h, plus three positive results of the
 * non-blocking calls: GDN_NET_WANT_READ / GDN_NET_WANT_WRITE (call again when
 * the socket is readable / writable) and GDN_NET_CLOSED (clean end of stream). */
#ifndef GUARDIAN_NET_H
#define GUARDIAN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_NET_WANT_READ 1
#define GDN_NET_WANT_WRITE 2
#define GDN_NET_CLOSED 3

/* ---- Identities ---------------------------------------------------------- */

#define GDN_NET_FINGERPRINT_BYTES 32
#define GDN_NET_FINGERPRINT_HEX_BYTES (2 * GDN_NET_FINGERPRINT_BYTES + 1)
#define GDN_NET_NAME_MAX 64       /* longest CN (RFC 5280 ub-common-name) */
#define GDN_NET_DEFAULT_DAYS 365  /* certificate validity */
#define GDN_NET_CA_DEFAULT_DAYS 3650
#define GDN_NET_CRL_DEFAULT_DAYS 365 /* a CRL's nextUpdate: re-issue before */

/* What `guardian ca sign` and `ca revoke` report about a certificate. */
typedef struct gdn_net_cert_info {
    uint8_t fingerprint[GDN_NET_FINGERPRINT_BYTES];
    char serial[44];     /* "0x" and lowercase hex */
    char subject[160];   /* "CN=alice" */
    char not_after[32];  /* "2027-05-01 12:00:00 UTC" */
    int is_ca;
    int server;          /* extendedKeyUsage has serverAuth */
} gdn_net_cert_info;

/* Options of gdn_net_ca_sign. */
typedef struct gdn_net_sign_opts {
    int days;          /* validity from now (0: GDN_NET_DEFAULT_DAYS) */
    int server;        /* 1: serverAuth and a subjectAltName; 0: clientAuth */
    const char *hosts; /* servers: comma-separated DNS names or IP addresses
                          named besides localhost and 127.0.0.1; may be NULL */
} gdn_net_sign_opts;

/* Lowercase hex of a fingerprint, NUL-terminated. */
void gdn_net_fingerprint_hex(char out[GDN_NET_FINGERPRINT_HEX_BYTES],
                             const uint8_t fp[GDN_NET_FINGERPRINT_BYTES]);

/* Makes a party: DIR (created) with key.pem, a fresh Ed25519 key, and
 * csr.pem, a request for CN=name signed by it; fp gets the fingerprint.
 * GDN_ESTATE when DIR/key.pem exists, unless overwrite. */
int gdn_net_keygen(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const char *dir,
                   const char *name, int overwrite);

/* Makes a federation CA: DIR/ca-key.pem (Ed25519), DIR/ca.pem (self-signed
 * X.509 v3, CA:TRUE, keyCertSign and cRLSign, `days` valid; 0: default) and
 * an empty DIR/crl.pem. GDN_ESTATE when DIR/ca-key.pem exists, unless overwrite. */
int gdn_net_ca_init(const char *ca_dir, const char *name, int days, int overwrite);

/* Signs PARTY_DIR/csr.pem with the CA of ca_dir after checking the request's
 * own signature; writes PARTY_DIR/cert.pem and PARTY_DIR/ca.pem. */
int gdn_net_ca_sign(gdn_net_cert_info *out, const char *ca_dir,
                    const char *party_dir, const gdn_net_sign_opts *opts);

/* Adds cert_file (which this CA must have issued) to ca_dir/crl.pem and
 * re-signs the CRL, valid crl_days (0: default); cert_file NULL re-issues
 * the CRL unchanged but for its dates. *revoked (may be NULL) describes the
 * certificate, *entries (may be NULL) counts the CRL's entries. Revoking a
 * revoked certificate again is not an error. */
int gdn_net_ca_revoke(gdn_net_cert_info *revoked, size_t *entries,
                      const char *ca_dir, const char *cert_file, int crl_days);

/* The party's Ed25519 identity secret key from its key.pem, in libsodium's
 * 64-byte form (seed || public key), for signing protocol messages (SecAgg+
 * key advertisements). The caller wipes it. */
int gdn_net_identity_secret(uint8_t sk[64], const char *key_file);

/* Describes a PEM certificate file. */
int gdn_net_cert_info_read(gdn_net_cert_info *out, const char *cert_file);

/* Fingerprint of the public key in a PEM certificate, request or key file. */
int gdn_net_fingerprint_file(uint8_t fp[GDN_NET_FINGERPRINT_BYTES],
                             const char *pem_file);

/* ---- Sockets ------------------------------------------------------------- */
/* Every socket made here is non-blocking, close-on-exec, TCP_NODELAY. The
 * TLS layer writes with MSG_NOSIGNAL: a vanished peer never raises SIGPIPE. */

/* Listens on host:port (host NULL: 127.0.0.1; port 0: an ephemeral one);
 * *bound (may be NULL) gets the port actually bound. */
int gdn_net_listen(int *fd, const char *host, uint16_t port, int backlog,
                   uint16_t *bound);

/* Accepts one connection, waiting up to timeout_ms (0: not at all, then
 * GDN_NET_WANT_READ when none is pending). */
int gdn_net_accept(int *fd, int listen_fd, int timeout_ms);

/* Connects to host:port (every address host resolves to, in order), within
 * timeout_ms in total. Errors name host, port and the reason. */
int gdn_net_connect(int *fd, const char *host, uint16_t port, int timeout_ms);

/* "127.0.0.1:5555" or "[::1]:5555" of the socket's peer; "?" if unknown. */
void gdn_net_peer_address(char *out, size_t cap, int fd);

/* ---- TLS ------------------------------------------------------------------
 * TLS 1.3 only, both sides authenticated by certificates of one federation
 * CA, no session resumption (each connection re-checks the certificate and
 * the CRL). A refused handshake leaves a specific gdn_errmsg():
 *   "peer 127.0.0.1:5555: certificate revoked (serial 0x..., CN=alice)"
 *   "peer ...: certificate not issued by the federation CA (issuer CN=...)"
 *   "peer ...: certificate expired on 2024-01-01 00:00:00 UTC (...)"
 *   "peer ...: not TLS (plain TCP?): first bytes 47 45 54 20"
 *   "peer ...: offers only TLS 1.2 or older; TLS 1.3 is required"
 *   "server x (127.0.0.1:5555): certificate is not for host 'x' (it names ...)"
 * In TLS 1.3 a client finishes its handshake before the server has checked
 * the client's certificate: a client learns of a refusal at its first read
 * ("server ...: refused our certificate: revoked"), so protocols should let
 * the server speak first. */

typedef struct gdn_tls_ctx gdn_tls_ctx;   /* opaque: configuration, shared */
typedef struct gdn_tls_conn gdn_tls_conn; /* opaque: one connection */

/* Where a party's credentials are. Paths left NULL default to DIR/key.pem,
 * DIR/cert.pem, DIR/ca.pem and, if that file exists, DIR/crl.pem. A crl_file
 * given explicitly must exist. With a CRL, every peer certificate is checked
 * against it (X509_V_FLAG_CRL_CHECK). */
typedef struct gdn_tls_config {
    const char *dir;
    const char *key_file, *cert_file, *ca_file, *crl_file;
} gdn_tls_config;

/* A context for the coordinator: requires a client certificate. */
int gdn_tls_ctx_new_server(gdn_tls_ctx **out, const gdn_tls_config *cfg);
/* A context for data owners: checks the server's certificate and name. */
int gdn_tls_ctx_new_client(gdn_tls_ctx **out, const gdn_tls_config *cfg);
/* Re-reads the CRL file; connections made afterwards use it. Call it from
 * the thread that runs the handshakes (the store is replaced, not locked). */
int gdn_tls_ctx_reload_crl(gdn_tls_ctx *ctx);
/* Fingerprint of this side's own certificate. */
void gdn_tls_ctx_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES],
                             const gdn_tls_ctx *ctx);
void gdn_tls_ctx_free(gdn_tls_ctx *ctx);

/* Direct interface: blocking calls with a timeout (milliseconds, > 0). */

/* Connects to host:port and completes the handshake, checking that the
 * server's certificate names host. *out owns the socket. */
int gdn_tls_connect(gdn_tls_conn **out, gdn_tls_ctx *ctx, const char *host,
                    uint16_t port, int timeout_ms);
/* Accepts one connection on listen_fd and completes the handshake; on a
 * refusal nothing is kept and gdn_errmsg() says why. *out owns the socket. */
int gdn_tls_accept(gdn_tls_conn **out, gdn_tls_ctx *ctx, int listen_fd,
                   int timeout_ms);
/* Writes all len bytes. */
int gdn_tls_write_all(gdn_tls_conn *c, const void *buf, size_t len, int timeout_ms);
/* Reads exactly len bytes; GDN_NET_CLOSED if the peer closed cleanly first. */
int gdn_tls_read_full(gdn_tls_conn *c, void *buf, size_t len, int timeout_ms);

/* Incremental interface, for non-blocking sockets driven by poll or epoll.
 * After GDN_NET_WANT_READ or _WRITE, wait for that and call again with the
 * same arguments. Data may sit decrypted inside the connection although the
 * socket is not readable: drain while gdn_tls_pending() > 0. */

/* Wraps a connected socket. host: for clients, the name or IP address the
 * server's certificate must carry; NULL for servers. own_fd: close fd in
 * gdn_tls_conn_free. */
int gdn_tls_conn_new(gdn_tls_conn **out, gdn_tls_ctx *ctx, int fd,
                     const char *host, int own_fd);
/* One handshake step: 0 when done, a WANT code, or an error. */
int gdn_tls_handshake(gdn_tls_conn *c);
/* Reads up to cap bytes: 0 with *n > 0, a WANT code, GDN_NET_CLOSED, or an
 * error (a connection cut without TLS close_notify is GDN_EIO). */
int gdn_tls_read(gdn_tls_conn *c, void *buf, size_t cap, size_t *n);
/* Writes up to len bytes: 0 with *n > 0 written, a WANT code, or an error.
 * Records may wait in the connection's buffer while the socket is full:
 * call gdn_tls_flush when there is nothing more to write. */
int gdn_tls_write(gdn_tls_conn *c, const void *buf, size_t len, size_t *n);
/* Sends the buffered records: 0 when all went out, GDN_NET_WANT_WRITE, or an error. */
int gdn_tls_flush(gdn_tls_conn *c);
/* Sends close_notify: 0 when sent, a WANT code, or an error. */
int gdn_tls_shutdown(gdn_tls_conn *c);
/* Decrypted bytes buffered in the connection, readable without the socket. */
size_t gdn_tls_pending(const gdn_tls_conn *c);
/* After the handshake: the verified peer's fingerprint (GDN_ESTATE before). */
int gdn_tls_peer_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES],
                             const gdn_tls_conn *c);
/* After the handshake: the verified peer's raw Ed25519 public key (the key
 * its SecAgg+ advertisements are signed with). */
int gdn_tls_peer_public_key(uint8_t pk[32], const gdn_tls_conn *c);
/* "peer 127.0.0.1:5555" (server side) or "server host:port" (client side):
 * the prefix of this connection's error messages. */
const char *gdn_tls_peer_label(const gdn_tls_conn *c);
int gdn_tls_conn_fd(const gdn_tls_conn *c);
/* Bytes sent and received on the socket, TLS overhead included. */
void gdn_tls_conn_bytes(const gdn_tls_conn *c, uint64_t *sent, uint64_t *received);
/* Frees the connection (no close_notify: call gdn_tls_shutdown first for a
 * clean close); closes the socket if owned. Accepts NULL. */
void gdn_tls_conn_free(gdn_tls_conn *c);

/* ---- Frames ----------------------------------------------------------------
 * A frame is le32 length || u8 type || payload, the length counting the
 * payload only. Its limit is the receiver's (GDN_FRAME_MAX_DEFAULT unless
 * configured); larger objects (models) travel as CHUNK frames whose payload
 * is le32 stream || le64 offset || le64 total || data. */

#define GDN_FRAME_HEADER_BYTES 5
#define GDN_FRAME_CHUNK_HEADER_BYTES 20
#define GDN_FRAME_MAX_DEFAULT ((uint32_t)1 << 20)
#define GDN_FRAME_MAX_LIMIT ((uint32_t)1 << 30) /* no frame limit may exceed */

enum {
    GDN_FRAME_MESSAGE = 1, /* payload: one encoded protocol message */
    GDN_FRAME_CHUNK = 2,   /* payload: one piece of a large object */
    GDN_FRAME_TYPE_END = 16 /* types 0 and >= this are refused as garbage */
};

typedef struct gdn_frame {
    uint8_t type;
    uint32_t len;
    const uint8_t *payload; /* valid until the next call on its decoder */
} gdn_frame;

/* Direct interface: whole frames. */

/* Appends one frame; GDN_ERANGE if len exceeds max_payload. */
int gdn_frame_encode(gdn_buf *out, uint8_t type, const void *payload, size_t len,
                     uint32_t max_payload);
/* Appends one CHUNK frame carrying data[0, n) at offset of a total-byte
 * object of `stream`; GDN_ERANGE if it does not fit max_payload. data NULL:
 * the frame's headers only, its n payload bytes to be sent right after. */
int gdn_frame_encode_chunk(gdn_buf *out, uint32_t stream, uint64_t offset,
                           uint64_t total, const void *data, size_t n,
                           uint32_t max_payload);
/* Appends data[0, len) as CHUNK frames, each as large as max_payload allows
 * (one empty chunk when len is 0). */
int gdn_frame_encode_object(gdn_buf *out, uint32_t stream, const void *data,
                            uint64_t len, uint32_t max_payload);
/* Writes the 5-byte header of a frame (for writing header and payload apart). */
void gdn_frame_header(uint8_t hdr[GDN_FRAME_HEADER_BYTES], uint8_t type,
                      uint32_t len);

/* Incremental decoder: bytes in arbitrary pieces in, frames out. It holds at
 * most one frame, grows its buffer only as payload bytes arrive and checks
 * a header before it buffers any payload. */
typedef struct gdn_frame_decoder gdn_frame_decoder;

/* max_payload: 1 .. GDN_FRAME_MAX_LIMIT (0: GDN_FRAME_MAX_DEFAULT). */
int gdn_frame_decoder_new(gdn_frame_decoder **out, uint32_t max_payload);
/* Consumes bytes of data until a frame is complete: returns 1 with *frame
 * set, 0 when all len bytes were taken and more are needed, or an error
 * (GDN_ERANGE oversized, GDN_EFORMAT bad type). *used counts the bytes
 * taken; call again with the rest. After an error, the stream is unusable. */
int gdn_frame_decoder_push(gdn_frame_decoder *d, gdn_frame *frame, size_t *used,
                           const void *data, size_t len);
/* Bytes still missing from the frame under way (header first): reading
 * exactly that many never reads past a frame. */
size_t gdn_frame_decoder_need(const gdn_frame_decoder *d);
/* Reading in place, without push's copy: *dst and *n are where the next
 * bytes of the stream go and how many of them the decoder takes there (the
 * rest of a header, or of a payload); after writing k <= *n bytes there,
 * wrote() says what push would have: 1 with a frame, 0, or an error. */
int gdn_frame_decoder_space(gdn_frame_decoder *d, uint8_t **dst, size_t *n);
int gdn_frame_decoder_wrote(gdn_frame_decoder *d, gdn_frame *frame, size_t k);
/* At end of stream: 0 if it ended between frames, GDN_EFORMAT naming what
 * was cut off otherwise. */
int gdn_frame_decoder_finish(const gdn_frame_decoder *d);
/* Heap bytes the decoder holds (for memory accounting). */
size_t gdn_frame_decoder_memory(const gdn_frame_decoder *d);
void gdn_frame_decoder_free(gdn_frame_decoder *d);

/* Reassembly of one object from CHUNK payloads: the first chunk opens the
 * stream at offset 0 and fixes stream id and total (at most max_total);
 * each next chunk must continue exactly where the last ended. Memory grows
 * with the bytes received, never with the announced total. */
typedef struct gdn_frame_reasm gdn_frame_reasm;

int gdn_frame_reasm_new(gdn_frame_reasm **out, uint64_t max_total);
/* Takes one CHUNK payload: 1 when the object is complete, 0 when more is
 * expected, or an error (GDN_EFORMAT gap, overlap, other stream or total;
 * GDN_ERANGE over max_total), which drops the partial object. */
int gdn_frame_reasm_push(gdn_frame_reasm *r, const uint8_t *payload, size_t len);
/* Moves a complete object into *out (replacing its contents; caller frees)
 * and its stream id into *stream (may be NULL); resets r. */
int gdn_frame_reasm_take(gdn_buf *out, uint32_t *stream, gdn_frame_reasm *r);
/* Hands r a buffer (taken over, emptied) for the next object: one whose
 * capacity holds it is filled in place, without an allocation. */
void gdn_frame_reasm_give(gdn_frame_reasm *r, gdn_buf *buf);
/* Drops any partial object. */
void gdn_frame_reasm_reset(gdn_frame_reasm *r);
void gdn_frame_reasm_free(gdn_frame_reasm *r);

/* Frames over TLS, blocking with a timeout: one frame each. recv returns
 * GDN_NET_CLOSED at a clean close between frames; the frame points into d. */
int gdn_tls_send_frame(gdn_tls_conn *c, uint8_t type, const void *payload,
                       size_t len, uint32_t max_payload, int timeout_ms);
/* An object as the chunk frames gdn_frame_encode_object makes (at least
 * one), written one at a time: memory of one frame, timeout_ms per frame. */
int gdn_tls_send_object(gdn_tls_conn *c, uint32_t stream, const void *data, uint64_t len,
                        uint32_t max_payload, int timeout_ms);
int gdn_tls_recv_frame(gdn_tls_conn *c, gdn_frame_decoder *d, gdn_frame *frame,
                       int timeout_ms);

#endif
