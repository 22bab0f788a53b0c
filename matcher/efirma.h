/*
 * efirma.h -- the tax authority's e.firma (FIEL): reading its X.509
 * certificates, checking a challenge-response login, and signing a
 * challenge with an encrypted PKCS#8 key (for scripts and tests).
 *
 * Owns: struct efirma_info (what a .cer says about its holder), the trust
 * store of configured CA certificates, and the status codes every failure
 * maps to.  Everything here is pure compute on buffers: no files except the
 * trust store loader, no globals, safe to call from any thread once the
 * trust store is built (it is read-only afterwards).
 *
 * Formats (DESIGN.md section 6):
 *   .cer  DER X.509.  Subject x500UniqueIdentifier (2.5.4.45) holds the RFC,
 *         "RFC" (a person) or "RFC_COMPANY / RFC_REPRESENTATIVE";
 *         serialNumber (2.5.4.5) holds the CURP, "CURP" or " / CURP".
 *   .key  DER PKCS#8 EncryptedPrivateKeyInfo (PBES2, PBKDF2, des-ede3-cbc
 *         in real files; AES also accepted), RSA.
 *   login RSA PKCS#1 v1.5 with SHA-256 over the nonce's bytes exactly as
 *         issued (the ASCII string, no terminator).
 */

#ifndef HUELLA_EFIRMA_H
#define HUELLA_EFIRMA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Buffer sizes, terminator included.  An RFC has 12 or 13 characters, one
 * of which may be a two-byte "Ñ"; a CURP has 18 ASCII characters. */
#define EFIRMA_RFC_MAX       32
#define EFIRMA_CURP_MAX      24
#define EFIRMA_NAME_MAX      256
#define EFIRMA_SERIAL_MAX    48     /* 20 octets in hex (RFC 5280 4.1.2.2) */
#define EFIRMA_TIME_MAX      24     /* "2025-01-31T23:59:59Z" */
#define EFIRMA_ISSUER_MAX    1024
#define EFIRMA_SIG_MAX       1024   /* RSA up to 8192 bits */
#define EFIRMA_MIN_RSA_BITS  2048

enum efirma_status {
    EFIRMA_OK = 0,
    EFIRMA_CERTIFICATE_MALFORMED,       /* not strict DER X.509 */
    EFIRMA_CERTIFICATE_SUBJECT_INVALID, /* RFC/CURP missing or malformed */
    EFIRMA_CERTIFICATE_KEY_UNSUPPORTED, /* not RSA, or under 2048 bits */
    EFIRMA_CERTIFICATE_USAGE_INVALID,   /* no digitalSignature; a CA; a CSD */
    EFIRMA_CERTIFICATE_EXPIRED,
    EFIRMA_CERTIFICATE_NOT_YET_VALID,
    EFIRMA_CERTIFICATE_UNTRUSTED,
    EFIRMA_SIGNATURE_INVALID,
    EFIRMA_NONCE_INVALID,               /* empty or oversized */
    EFIRMA_KEY_MALFORMED,               /* not an encrypted PKCS#8 DER */
    EFIRMA_KEY_PASSWORD_INCORRECT,
    EFIRMA_KEY_UNSUPPORTED,             /* cipher/KDF unavailable, not RSA */
    EFIRMA_KEY_MISMATCH,                /* .key is not the .cer's key */
    EFIRMA_TRUST_STORE_INVALID,
    EFIRMA_INTERNAL_ERROR
};

/* The snake_case code for the HTTP error body, e.g. "certificate_expired". */
const char *efirma_status_code(enum efirma_status st);

struct efirma_info {
    char     rfc[EFIRMA_RFC_MAX];            /* company's, or the person's */
    char     representative_rfc[EFIRMA_RFC_MAX]; /* "" for a person */
    char     curp[EFIRMA_CURP_MAX];          /* "" when absent */
    char     name[EFIRMA_NAME_MAX];          /* CN, else O, else name */
    char     serial[EFIRMA_SERIAL_MAX];      /* lowercase hex */
    char     certificate_number[EFIRMA_SERIAL_MAX]; /* SAT's "número de
                                             certificado": the serial's
                                             octets when all ASCII digits */
    char     not_before[EFIRMA_TIME_MAX];    /* ISO 8601 UTC */
    char     not_after[EFIRMA_TIME_MAX];
    int64_t  not_before_epoch;
    int64_t  not_after_epoch;
    char     branch[EFIRMA_NAME_MAX];        /* OU: "" for an e.firma */
    int      is_company;                     /* 12-character RFC */
    int      is_seal;                        /* a CSD (invoice seal), not
                                                an e.firma: only CSDs carry
                                                an OU (the branch) */
    int      expired;                        /* now > not_after */
    int      not_yet_valid;                  /* now < not_before */
    char     issuer[EFIRMA_ISSUER_MAX];      /* one line, UTF-8 */
};

/*
 * Parse a .cer strictly and describe it.  `now` decides the expired and
 * not_yet_valid flags only; an expired certificate is still described
 * (the portal shows it).  On failure `err` gets a human reason naming the
 * field; `out` is zeroed.
 */
enum efirma_status efirma_inspect(const unsigned char *der, size_t len,
                                  time_t now, struct efirma_info *out,
                                  char *err, size_t errlen);

/* The configured trusted CA certificates (the tax authority's ACs). */
struct efirma_trust;

struct efirma_trust *efirma_trust_new(void);
void efirma_trust_free(struct efirma_trust *trust);

/* Add every certificate in a PEM file (one or many) or a DER file. */
enum efirma_status efirma_trust_add_file(struct efirma_trust *trust,
                                         const char *path,
                                         char *err, size_t errlen);
enum efirma_status efirma_trust_add_der(struct efirma_trust *trust,
                                        const unsigned char *der, size_t len,
                                        char *err, size_t errlen);
size_t efirma_trust_count(const struct efirma_trust *trust);

/*
 * Check an e.firma login: the certificate parses, is an e.firma (RFC in
 * the subject, no OU: a CSD invoice seal cannot sign in), holds an RSA
 * key of at least 2048 bits, is within its
 * validity period at `now`, chains to a certificate in `trust` (any of
 * them is an anchor: the configured ACs need not be self-signed roots),
 * and `sig` is its RSA PKCS#1 v1.5 SHA-256 signature over `nonce`.
 * On success, and on every failure after parsing, `info` (may be NULL)
 * describes the certificate so the caller can audit who tried.
 * The caller owns nonce single-use and freshness.
 */
enum efirma_status efirma_verify_login(const unsigned char *cert_der,
                                       size_t cert_len,
                                       const unsigned char *sig,
                                       size_t sig_len,
                                       const unsigned char *nonce,
                                       size_t nonce_len,
                                       const struct efirma_trust *trust,
                                       time_t now,
                                       struct efirma_info *info,
                                       char *err, size_t errlen);

/*
 * Decrypt an encrypted PKCS#8 .key with `password` and sign `msg` with
 * RSA PKCS#1 v1.5 SHA-256 into `sig` (capacity `sig_cap`, EFIRMA_SIG_MAX
 * is always enough).  When `cert_der` is given, the key must be that
 * certificate's key (EFIRMA_KEY_MISMATCH otherwise).
 */
enum efirma_status efirma_sign(const unsigned char *key_der, size_t key_len,
                               const char *password, size_t password_len,
                               const unsigned char *cert_der, size_t cert_len,
                               const unsigned char *msg, size_t msg_len,
                               unsigned char *sig, size_t sig_cap,
                               size_t *sig_len,
                               char *err, size_t errlen);

#endif /* HUELLA_EFIRMA_H */
