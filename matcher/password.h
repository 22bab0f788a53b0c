/*
 * password.h -- memorized secrets: Argon2id hashing of passwords and
 * security answers, and the NIST SP 800-63B rev 4 password rules.
 *
 * Owns: the stored form (a PHC string, "$argon2id$v=19$m=...,t=...,p=...
 * $salt$hash"), Unicode normalization of secrets before hashing (NFKC, so
 * "ñ" typed composed or decomposed is the same password), the common-
 * password blocklist, and the policy verdict with a snake_case reason.
 *
 * Hashing costs tens of milliseconds and 64 MiB by design: call it on
 * huellad's worker threads, never on the nginx worker, and cap how many
 * run at once (memory = concurrent hashes x m_cost).  Everything here is
 * thread-safe; a loaded blocklist is read-only.
 */

#ifndef HUELLA_PASSWORD_H
#define HUELLA_PASSWORD_H

#include <stddef.h>
#include <stdint.h>

#define PASSWORD_HASH_MAX           160   /* encoded PHC string + NUL */
#define PASSWORD_MIN_SINGLE_FACTOR  15    /* SP 800-63B rev 4 3.1.1.2 */
#define PASSWORD_MIN_MULTI_FACTOR   8
#define PASSWORD_MAX_CHARS          128   /* rev 4: allow at least 64 */
#define PASSWORD_MAX_BYTES          1024  /* before normalization */

struct password_params {
    uint32_t  t_cost;        /* passes */
    uint32_t  m_cost_kib;    /* memory, KiB */
    uint32_t  parallelism;   /* lanes */
};

/* t=3, m=64 MiB, p=1: see password.c for why. */
extern const struct password_params password_params_default;

enum password_result {
    PASSWORD_OK = 0,          /* hashed; or verified: it matches */
    PASSWORD_MISMATCH,        /* verified: it does not match */
    PASSWORD_INPUT_INVALID,   /* not UTF-8, too long, empty answer */
    PASSWORD_HASH_INVALID,    /* stored string malformed or absurd costs */
    PASSWORD_PARAMS_INVALID,  /* costs out of the accepted range */
    PASSWORD_ERROR            /* out of memory, no randomness */
};

/* 0, or -1 with a reason: t 1..64, m 8*p KiB..4 GiB, p 1..16. */
int password_params_check(const struct password_params *p, char *err,
                          size_t errlen);

enum password_result password_hash(const char *password, size_t len,
                                   const struct password_params *p,
                                   char out[PASSWORD_HASH_MAX]);

/* Constant-time comparison inside libargon2; the time depends only on
 * the stored costs. */
enum password_result password_verify(const char *encoded,
                                     const char *password, size_t len);

/* For an unknown user: costs what a verify with `p` costs, always
 * PASSWORD_MISMATCH, so response time does not tell accounts apart. */
enum password_result password_verify_nobody(const char *password,
                                            size_t len,
                                            const struct password_params *p);

/* 1 when `encoded` was made with other costs or another algorithm (hash
 * the password again after a successful verify), 0 when current. */
int password_needs_rehash(const char *encoded,
                          const struct password_params *p);

/*
 * Security answers are compared forgivingly: case, accents, punctuation
 * and spacing do not count ("  Peña-Nieto " == "pena nieto").  The
 * normalized answer must keep at least 2 characters.
 */
enum password_result password_answer_hash(const char *answer, size_t len,
                                          const struct password_params *p,
                                          char out[PASSWORD_HASH_MAX]);
enum password_result password_answer_verify(const char *encoded,
                                            const char *answer, size_t len);
/* The normalized answer (what is hashed); -1 if invalid or too long. */
int password_answer_normalize(const char *answer, size_t len, char *out,
                              size_t cap);

/* ---- policy (NIST SP 800-63B rev 4, 3.1.1.2) ---------------------------- */

enum password_policy_result {
    PASSWORD_POLICY_OK = 0,
    PASSWORD_POLICY_TOO_SHORT,
    PASSWORD_POLICY_TOO_LONG,
    PASSWORD_POLICY_ENCODING_INVALID,   /* not UTF-8, control characters */
    PASSWORD_POLICY_COMMON,             /* on the blocklist, or a variant */
    PASSWORD_POLICY_REPETITIVE,         /* "aaaa...", "abcd...", "1234..." */
    PASSWORD_POLICY_CONTAINS_IDENTITY   /* CURP, NSS, RFC, name, e-mail */
};

/* "password_too_short", "password_common", ... */
const char *password_policy_code(enum password_policy_result r);

struct password_blocklist;

/* One password a line, UTF-8; blank lines and lines starting with '#'
 * are skipped.  Entries are folded (case, accents, spaces) at load. */
struct password_blocklist *password_blocklist_load(const char *path,
                                                   char *err,
                                                   size_t errlen);
void password_blocklist_free(struct password_blocklist *bl);
size_t password_blocklist_size(const struct password_blocklist *bl);
int password_blocklist_contains(const struct password_blocklist *bl,
                                const char *password, size_t len);

/* What the password must not contain; any field may be NULL. */
struct password_identity {
    const char  *curp;
    const char  *nss;
    const char  *rfc;
    const char  *matricula;
    const char  *email;
    const char  *name;        /* full name, words separated by spaces */
};

struct password_policy {
    size_t                            min_chars;  /* 15 single factor */
    size_t                            max_chars;  /* 0 = the maximum */
    const struct password_blocklist  *blocklist;  /* NULL = none */
};

/*
 * The verdict on a prospective password; `msg` gets a sentence for the
 * user (English; the portal translates by code).  Length is counted in
 * Unicode code points after NFKC, as rev 4 asks.
 */
enum password_policy_result
password_policy_check(const struct password_policy *policy,
                      const char *password, size_t len,
                      const struct password_identity *id,
                      char *msg, size_t msglen);

#endif /* HUELLA_PASSWORD_H */
