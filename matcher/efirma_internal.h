/*
 * efirma_internal.h -- what efirma.c shares with efirma_login.c and
 * efirma_sign.c; not for callers outside the e.firma files.
 */

#ifndef HUELLA_EFIRMA_INTERNAL_H
#define HUELLA_EFIRMA_INTERNAL_H

#include <openssl/x509.h>

#include "efirma.h"

#define EFIRMA_NONCE_MAX      4096
#define EFIRMA_FILE_MAX       (1024 * 1024)

struct efirma_trust {
    X509_STORE  *store;
    size_t       count;
};

/* Record a human reason, clear OpenSSL's error queue, return `st`. */
enum efirma_status efirma_fail(enum efirma_status st, char *err,
                               size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* OpenSSL's reason for the last error, never NULL. */
const char *efirma_openssl_reason(void);

/* `der` is exactly one DER SEQUENCE: definite minimal length, no
 * trailing bytes.  `what` names it in the reason; `bad` is returned. */
enum efirma_status efirma_der_exact(const unsigned char *der, size_t len,
                                    const char *what,
                                    enum efirma_status bad,
                                    char *err, size_t errlen);

/* Strict parse and description of a .cer; *out_x is the caller's. */
enum efirma_status efirma_parse_certificate(const unsigned char *der,
                                            size_t len, time_t now,
                                            X509 **out_x,
                                            struct efirma_info *info,
                                            char *err, size_t errlen);

#endif /* HUELLA_EFIRMA_INTERNAL_H */
