/*
 * mail.h -- outgoing mail for account recovery: an RFC 5322 message,
 * written into identity.mail.outbox_dir or sent through an SMTP relay.
 *
 * Owns the message format (UTF-8 text/plain, headers ASCII or RFC 2047
 * encoded) and the minimal SMTP client (EHLO, MAIL, RCPT, DATA, QUIT, each
 * step with a timeout; meant for a relay on loopback, no TLS, no AUTH).
 * Callers pass addresses already checked by id_email_check(), so nothing
 * can inject a header.
 */

#ifndef HUELLA_MAIL_H
#define HUELLA_MAIL_H

#include <stddef.h>

#include "config.h"

#define MAIL_TIMEOUT_MS  10000

/* Builds the message into a malloc'd string; NULL on out of memory. */
char *mail_compose(const char *from, const char *to, const char *subject,
    const char *body);

/* Writes `msg` as a new file in dir (atomically: temp file + rename). */
int mail_outbox_write(const char *dir, const char *msg, char *path_out,
    size_t path_cap, char *err, size_t errlen);

/* Delivers `msg` through host:port.  0, or -1 with the failing step. */
int mail_smtp_send(const char *host, unsigned port, const char *from,
    const char *to, const char *msg, char *err, size_t errlen);

/* The bare address inside "Name <addr>" (or the string itself). */
void mail_address(const char *from, char *out, size_t cap);

#endif /* HUELLA_MAIL_H */
