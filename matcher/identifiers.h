/*
 * identifiers.h -- Mexican identifiers and e-mail addresses, checked inside
 * huellad (DESIGN.md section 3).
 *
 * Owns the daemon's copy of the rules: the nginx module checks the same
 * identifiers first (422 before any IPC), but huellad never trusts its
 * clients, and the account records it writes must hold only valid values.
 * Each check returns NULL when valid, else the rule broken (English).
 */

#ifndef HUELLA_IDENTIFIERS_H
#define HUELLA_IDENTIFIERS_H

#include <stddef.h>

#define ID_CURP_LEN   18
#define ID_NSS_LEN    11
#define ID_EMAIL_MAX  254

/* 18 ASCII characters: letters, birth date, sex, state, consonants,
 * differentiator and check digit. */
const char *id_curp_check(const char *s, size_t len);
/* Birth date encoded in a valid CURP, as "YYYY-MM-DD" (out[11]). */
void id_curp_birth_date(const char *curp, char out[11]);

/* 11 digits, Luhn check digit last. */
const char *id_nss_check(const char *s, size_t len);

/* A plain ASCII addr-spec: local@domain, no quoting, no comments, nothing
 * that could break a mail header (CR, LF, spaces, angle brackets). */
const char *id_email_check(const char *s, size_t len);

/* 12 (company) or 13 (person) characters shaped as an RFC; the check digit
 * is not enforced (a failed one is only a warning, DESIGN.md 3). */
const char *id_rfc_check(const char *s, size_t len);

#endif /* HUELLA_IDENTIFIERS_H */
