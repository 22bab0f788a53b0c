/*
 * password_text.c -- Unicode normalization and folding of secrets (ICU).
 *
 * Owns the conversion of a secret's UTF-8 text to the bytes that are
 * hashed or compared; see password_text.h.  ICU's normalizer instances
 * are process-wide singletons that ICU initializes thread-safely.
 */

#include "password_text.h"
#include "password.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

/* UTF-16 buffers hold secrets too. */
static void
wipe16(UChar *u, int32_t cap)
{
    if (u != NULL) {
        explicit_bzero(u, (size_t) cap * sizeof(UChar));
        free(u);
    }
}

static UChar *
to16(const char *in, size_t len, int32_t *n, int32_t *cap)
{
    UErrorCode  e = U_ZERO_ERROR;
    int32_t     need = 0;
    UChar      *u;

    if (len > PASSWORD_MAX_BYTES || (in == NULL && len > 0)) {
        return NULL;
    }
    if (in == NULL) {
        in = "";
    }
    u_strFromUTF8(NULL, 0, &need, in, (int32_t) len, &e);
    if (U_FAILURE(e) && e != U_BUFFER_OVERFLOW_ERROR) {
        return NULL;                            /* ill-formed UTF-8 */
    }
    *cap = need + 1;
    u = malloc(sizeof(UChar) * (size_t) *cap);
    if (u == NULL) {
        return NULL;
    }
    e = U_ZERO_ERROR;
    u_strFromUTF8(u, *cap, n, in, (int32_t) len, &e);
    if (U_FAILURE(e)) {
        wipe16(u, *cap);
        return NULL;
    }
    return u;
}

static UChar *
normalize(const UNormalizer2 *nz, const UChar *src, int32_t n,
          int32_t *out_n, int32_t *out_cap)
{
    UErrorCode  e = U_ZERO_ERROR;
    int32_t     need;
    UChar      *dst;

    need = unorm2_normalize(nz, src, n, NULL, 0, &e);
    if ((U_FAILURE(e) && e != U_BUFFER_OVERFLOW_ERROR)
        || need > TEXT_MAX_BYTES)
    {
        return NULL;
    }
    *out_cap = need + 1;
    dst = malloc(sizeof(UChar) * (size_t) *out_cap);
    if (dst == NULL) {
        return NULL;
    }
    e = U_ZERO_ERROR;
    *out_n = unorm2_normalize(nz, src, n, dst, *out_cap, &e);
    if (U_FAILURE(e)) {
        wipe16(dst, *out_cap);
        return NULL;
    }
    return dst;
}

static int
to8(const UChar *src, int32_t n, struct text *out)
{
    UErrorCode  e = U_ZERO_ERROR;
    int32_t     need = 0;

    u_strToUTF8(NULL, 0, &need, src, n, &e);
    if ((U_FAILURE(e) && e != U_BUFFER_OVERFLOW_ERROR)
        || need > TEXT_MAX_BYTES)
    {
        return -1;
    }
    out->cap = (size_t) need + 1;
    out->s = malloc(out->cap);
    if (out->s == NULL) {
        return -1;
    }
    e = U_ZERO_ERROR;
    u_strToUTF8(out->s, need + 1, NULL, src, n, &e);
    if (U_FAILURE(e)) {
        text_wipe(out);
        return -1;
    }
    out->s[need] = '\0';
    out->len = (size_t) need;
    return 0;
}

int
text_nfkc(const char *in, size_t len, struct text *out)
{
    UErrorCode            e = U_ZERO_ERROR;
    const UNormalizer2   *nfkc = unorm2_getNFKCInstance(&e);
    UChar                *u, *v;
    int32_t               un = 0, ucap = 0, vn = 0, vcap = 0;
    int                   rc = -1;

    memset(out, 0, sizeof(*out));
    if (U_FAILURE(e) || (u = to16(in, len, &un, &ucap)) == NULL) {
        return -1;
    }
    v = normalize(nfkc, u, un, &vn, &vcap);
    if (v != NULL) {
        rc = to8(v, vn, out);
    }
    wipe16(u, ucap);
    wipe16(v, vcap);
    return rc;
}

int
text_fold(const char *in, size_t len, enum text_fold_mode mode,
          struct text *out)
{
    UErrorCode            e = U_ZERO_ERROR;
    const UNormalizer2   *nfkd = unorm2_getNFKDInstance(&e);
    UChar                *u, *f = NULL, *d = NULL, *k = NULL;
    int32_t               un = 0, ucap = 0, fn = 0, fcap = 0;
    int32_t               dn = 0, dcap = 0, i = 0, j = 0;
    UChar32               c;
    int                   rc = -1, pending = 0, letter, digit, keep;

    memset(out, 0, sizeof(*out));
    if (U_FAILURE(e) || (u = to16(in, len, &un, &ucap)) == NULL) {
        return -1;
    }
    /* case fold first (it can expand: "ß" -> "ss"), then decompose so
     * accents become separate marks that are dropped below */
    fn = u_strFoldCase(NULL, 0, u, un, U_FOLD_CASE_DEFAULT, &e);
    if ((U_FAILURE(e) && e != U_BUFFER_OVERFLOW_ERROR) || fn > TEXT_MAX_BYTES
        || (f = malloc(sizeof(UChar) * (size_t) (fcap = fn + 1))) == NULL)
    {
        goto done;
    }
    e = U_ZERO_ERROR;
    fn = u_strFoldCase(f, fcap, u, un, U_FOLD_CASE_DEFAULT, &e);
    if (U_FAILURE(e) || (d = normalize(nfkd, f, fn, &dn, &dcap)) == NULL) {
        goto done;
    }
    k = malloc(sizeof(UChar) * (size_t) dcap);
    if (k == NULL) {
        goto done;
    }
    while (i < dn) {
        U16_NEXT(d, i, dn, c);
        switch (u_charType(c)) {
        case U_NON_SPACING_MARK:
        case U_ENCLOSING_MARK:
        case U_COMBINING_SPACING_MARK:
            continue;                           /* accents */
        default:
            break;
        }
        letter = u_isalpha(c);
        digit = u_isdigit(c);
        switch (mode) {
        case TEXT_FOLD_ANSWER:
            keep = letter || digit;
            if (!keep) {
                pending = j > 0;                /* a word boundary */
            }
            break;
        case TEXT_FOLD_KEY:
            keep = !u_isUWhiteSpace(c);
            break;
        case TEXT_FOLD_ALNUM:
            keep = letter || digit;
            break;
        default:
            keep = letter;
            break;
        }
        if (!keep) {
            continue;
        }
        if (pending) {
            k[j++] = ' ';
            pending = 0;
        }
        U16_APPEND_UNSAFE(k, j, c);
    }
    rc = to8(k, j, out);

done:
    wipe16(u, ucap);
    wipe16(f, fcap);
    wipe16(d, dcap);
    wipe16(k, dcap);
    return rc;
}

size_t
text_chars(const char *s, size_t len)
{
    size_t  i, n = 0;

    for (i = 0; i < len; i++) {
        n += ((unsigned char) s[i] & 0xC0) != 0x80;
    }
    return n;
}

void
text_wipe(struct text *t)
{
    if (t->s != NULL) {
        explicit_bzero(t->s, t->cap);
        free(t->s);
    }
    memset(t, 0, sizeof(*t));
}
