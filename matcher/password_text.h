/*
 * password_text.h -- Unicode handling of secrets, shared by password.c
 * and password_policy.c (internal: the daemon calls password.h).
 *
 * Owns the two ways a secret's text is turned into bytes: NFKC (what a
 * password hash covers) and folding (lowercase, no accents, spacing and
 * punctuation per mode) for security answers and for comparing passwords
 * with the blocklist and with the holder's own data.  Buffers are heap
 * copies of secrets: text_wipe() zeroes them before freeing.
 */

#ifndef HUELLA_PASSWORD_TEXT_H
#define HUELLA_PASSWORD_TEXT_H

#include <stddef.h>

#define TEXT_MAX_BYTES  4096    /* a normalized secret, NUL excluded */

struct text {
    char    *s;                 /* UTF-8, NUL-terminated */
    size_t   len;
    size_t   cap;
};

enum text_fold_mode {
    TEXT_FOLD_ANSWER,   /* letters and digits, one space between words */
    TEXT_FOLD_KEY,      /* everything but whitespace */
    TEXT_FOLD_ALNUM,    /* letters and digits only */
    TEXT_FOLD_LETTERS   /* letters only */
};

/* 0, or -1 for invalid UTF-8, input over PASSWORD_MAX_BYTES or output
 * over TEXT_MAX_BYTES. */
int text_nfkc(const char *in, size_t len, struct text *out);
int text_fold(const char *in, size_t len, enum text_fold_mode mode,
              struct text *out);

/* Unicode code points in valid UTF-8. */
size_t text_chars(const char *s, size_t len);

void text_wipe(struct text *t);

#endif /* HUELLA_PASSWORD_TEXT_H */
