/*
 * receipt.h -- receipts (acuses, DESIGN.md section 7): the server's ES256
 * signing key, JWS compact serialization (RFC 7515), folios, the receipts
 * database, the JWK set, and offline verification.
 *
 * A receipt is a JWS with header {"alg":"ES256","typ":"JWT","kid":KID} and
 * a JSON payload holding at least "folio", "type" and "iat"; the signature
 * is the raw r||s (64 bytes, RFC 7518 3.4), base64url.  KID is the RFC 7638
 * thumbprint of the public JWK.  Folios ("HUE-2026-000000123") come from a
 * durable counter incremented in the same write transaction that stores
 * the receipt, so a folio is never issued twice nor lost half-written.
 *
 * Verification needs only the public key: receipt_verify() is what
 * `huellactl receipt verify` runs, without huellad.
 */

#ifndef HUELLA_RECEIPT_H
#define HUELLA_RECEIPT_H

#include <jansson.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stddef.h>

#include "ops.h"

#define RECEIPT_FOLIO_MAX  32

/* Loads the signing key from path, generating a P-256 key (mode 0600,
 * parent directories 0700) when the file does not exist. */
int receipt_init(const char *path, char *err, size_t errlen);

/* Issues a receipt inside txn: takes the next folio, adds "folio", "type",
 * "iat" and "iss" to payload (which it does not steal), signs, stores it
 * under the folio.  *jws is malloc'ed.  rfc/curp (may be NULL) are kept
 * beside it for RECEIPT_GET's authorization.  0 or an LMDB error (or -1
 * when signing failed). */
int receipt_issue(MDB_txn *txn, const char *type, json_t *payload,
    const char *rfc, const char *curp, char folio[RECEIPT_FOLIO_MAX],
    char **jws);

/* The JWK set holding the public key, as JSON text (malloc'ed). */
char *receipt_jwks(void);

/* Offline verification of a JWS compact receipt with pub (a P-256 key).
 * 0 with *payload (the decoded JSON, caller json_decref()s) and the
 * header's kid (may be NULL), or -1 with a reason. */
int receipt_verify(const char *jws, EVP_PKEY *pub, json_t **payload,
    char *kid, size_t kidcap, char *err, size_t errlen);

/* The EC P-256 public key of a JWK object; NULL with a reason. */
EVP_PKEY *receipt_key_from_jwk(json_t *jwk, char *err, size_t errlen);

/* base64url without padding; returns the length written (out needs
 * 4 * ceil(len / 3) + 1 bytes), or -1 on decode errors. */
size_t b64url_encode(const uint8_t *in, size_t len, char *out);
long b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* RECEIPT_GET and JWKS (ring thread, read-only). */
void receipt_ops_handle(struct hd_request *rq, struct hd_thread *th);

#endif /* HUELLA_RECEIPT_H */
