/*
 * efirma.c -- e.firma certificates and challenge signatures on OpenSSL 3.
 *
 * Owns the strict reading of a tax-authority .cer (outer DER checked by
 * hand before OpenSSL sees it, no trailing bytes, canonical re-encoding,
 * RFC 5280 time and serial forms), the reading of the holder's RFC and
 * CURP from the subject the way the tax authority writes them, the login
 * check (validity, chain to configured ACs, RSA-SHA256 over the nonce) and
 * signing with an encrypted PKCS#8 key.  See efirma.h for the formats.
 *
 * Every public call leaves OpenSSL's per-thread error queue empty, so a
 * daemon thread that serves many logins never accumulates stale errors.
 */

#include "efirma.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define EFIRMA_NONCE_MAX      4096
#define EFIRMA_FILE_MAX       (1024 * 1024)

struct efirma_trust {
    X509_STORE  *store;
    size_t       count;
};

static const char *const efirma_codes[] = {
    [EFIRMA_OK] = "ok",
    [EFIRMA_CERTIFICATE_MALFORMED] = "certificate_malformed",
    [EFIRMA_CERTIFICATE_SUBJECT_INVALID] = "certificate_subject_invalid",
    [EFIRMA_CERTIFICATE_KEY_UNSUPPORTED] = "certificate_key_unsupported",
    [EFIRMA_CERTIFICATE_USAGE_INVALID] = "certificate_usage_invalid",
    [EFIRMA_CERTIFICATE_EXPIRED] = "certificate_expired",
    [EFIRMA_CERTIFICATE_NOT_YET_VALID] = "certificate_not_yet_valid",
    [EFIRMA_CERTIFICATE_UNTRUSTED] = "certificate_untrusted",
    [EFIRMA_SIGNATURE_INVALID] = "signature_invalid",
    [EFIRMA_NONCE_INVALID] = "nonce_invalid",
    [EFIRMA_KEY_MALFORMED] = "key_malformed",
    [EFIRMA_KEY_PASSWORD_INCORRECT] = "key_password_incorrect",
    [EFIRMA_KEY_UNSUPPORTED] = "key_unsupported",
    [EFIRMA_KEY_MISMATCH] = "key_mismatch",
    [EFIRMA_TRUST_STORE_INVALID] = "trust_store_invalid",
    [EFIRMA_INTERNAL_ERROR] = "internal_error",
};

const char *
efirma_status_code(enum efirma_status st)
{
    if ((size_t) st >= sizeof(efirma_codes) / sizeof(efirma_codes[0])
        || efirma_codes[st] == NULL)
    {
        return "internal_error";
    }
    return efirma_codes[st];
}

/* Record a human reason and hand back the status, in one expression. */
static enum efirma_status
fail(enum efirma_status st, char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    ERR_clear_error();
    return st;
}

static const char *
openssl_reason(void)
{
    const char  *r = ERR_reason_error_string(ERR_peek_last_error());

    return r != NULL ? r : "unknown reason";
}

/*
 * The outermost DER header, read by hand: OpenSSL's decoder also accepts
 * BER (indefinite lengths, long-form lengths that could be short), and
 * it stops at the end of the first object without a word about what
 * follows.  Returns 0 and the object's total size, or -1 with a reason.
 */
static int
der_outer_sequence(const unsigned char *p, size_t len, size_t *total,
                   const char **why)
{
    size_t  content = 0, hdr, n, i;

    if (len < 2) {
        *why = "too short to be DER";
        return -1;
    }
    if (p[0] != 0x30) {
        *why = "does not start with a DER SEQUENCE (is it PEM or base64?)";
        return -1;
    }
    if (p[1] < 0x80) {
        hdr = 2;
        content = p[1];
    } else if (p[1] == 0x80) {
        *why = "uses an indefinite length (BER, not DER)";
        return -1;
    } else {
        n = p[1] & 0x7f;
        if (n > 4) {
            *why = "declares an absurd length";
            return -1;
        }
        if (len < 2 + n) {
            *why = "is truncated inside its length";
            return -1;
        }
        if (p[2] == 0) {
            *why = "has a non-minimal length encoding (not DER)";
            return -1;
        }
        for (i = 0; i < n; i++) {
            content = (content << 8) | p[2 + i];
        }
        if (content < 0x80) {
            *why = "has a non-minimal length encoding (not DER)";
            return -1;
        }
        hdr = 2 + n;
    }
    *total = hdr + content;
    return 0;
}

static enum efirma_status
der_exact(const unsigned char *der, size_t len, const char *what,
          enum efirma_status bad, char *err, size_t errlen)
{
    const char  *why;
    size_t       total;

    if (der == NULL || len == 0) {
        return fail(bad, err, errlen, "%s is empty", what);
    }
    if (der_outer_sequence(der, len, &total, &why) != 0) {
        return fail(bad, err, errlen, "%s %s", what, why);
    }
    if (total > len) {
        return fail(bad, err, errlen,
                    "%s is truncated: its DER header says %zu bytes, got %zu",
                    what, total, len);
    }
    if (total < len) {
        return fail(bad, err, errlen,
                    "%s is followed by %zu trailing bytes", what,
                    len - total);
    }
    return EFIRMA_OK;
}

/* RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ or GeneralizedTime
 * YYYYMMDDHHMMSSZ, nothing else. */
static int
time_iso(const ASN1_TIME *t, char out[EFIRMA_TIME_MAX], int64_t *epoch)
{
    struct tm   tm;
    int         type = ASN1_STRING_type(t);
    int         n = ASN1_STRING_length(t);
    const unsigned char *d = ASN1_STRING_get0_data(t);

    if (!((type == V_ASN1_UTCTIME && n == 13)
          || (type == V_ASN1_GENERALIZEDTIME && n == 15))
        || d[n - 1] != 'Z')
    {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return -1;
    }
    if (strftime(out, EFIRMA_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        return -1;
    }
    *epoch = (int64_t) timegm(&tm);
    return 0;
}

/* ---- the subject, as the tax authority writes it ---------------------- */

static int
is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* Month 01-12 and day 01-31 of six YYMMDD digits (shape only: the
 * identifier validator does the calendar). */
static int
yymmdd_plausible(const char *s)
{
    int  mm = (s[2] - '0') * 10 + (s[3] - '0');
    int  dd = (s[4] - '0') * 10 + (s[5] - '0');

    return mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31;
}

/*
 * The shape of an RFC: 3 (company) or 4 (person) letters from A-Z, "&"
 * and "Ñ", six date digits, three homoclave characters.  Returns 12 or 13
 * (the RFC's length in characters) or 0.
 */
static int
rfc_shape(const char *s, size_t len)
{
    size_t  i = 0;
    int     letters = 0, k;

    while (i < len && letters < 5) {
        unsigned char c = (unsigned char) s[i];
        if (is_upper(c) || c == '&') {
            i++;
        } else if (c == 0xC3 && i + 1 < len && (unsigned char) s[i + 1] == 0x91) {
            i += 2;                                 /* "Ñ" in UTF-8 */
        } else {
            break;
        }
        letters++;
    }
    if (letters != 3 && letters != 4) {
        return 0;
    }
    if (len - i != 9) {
        return 0;
    }
    for (k = 0; k < 6; k++) {
        if (!is_digit((unsigned char) s[i + k])) {
            return 0;
        }
    }
    if (!yymmdd_plausible(s + i)) {
        return 0;
    }
    for (k = 6; k < 9; k++) {
        unsigned char c = (unsigned char) s[i + k];
        if (!is_upper(c) && !is_digit(c)) {
            return 0;
        }
    }
    return letters + 9;
}

/* CURP: 4 letters, YYMMDD, sex H/M/X, 2-letter state, 3 consonants,
 * differentiator (digit or letter), check digit.  Shape only. */
static int
curp_shape(const char *s, size_t len)
{
    size_t  i;

    if (len != 18) {
        return 0;
    }
    for (i = 0; i < 4; i++) {
        if (!is_upper((unsigned char) s[i])) return 0;
    }
    for (i = 4; i < 10; i++) {
        if (!is_digit((unsigned char) s[i])) return 0;
    }
    if (!yymmdd_plausible(s + 4)) return 0;
    if (s[10] != 'H' && s[10] != 'M' && s[10] != 'X') return 0;
    for (i = 11; i < 16; i++) {
        if (!is_upper((unsigned char) s[i])) return 0;
    }
    if (!is_upper((unsigned char) s[16]) && !is_digit((unsigned char) s[16]))
        return 0;
    return is_digit((unsigned char) s[17]);
}

static void
trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && (*s)[*len - 1] == ' ') {
        (*len)--;
    }
}

/* "A / B" -> A and B trimmed (has_slash = 1); "A" -> A (has_slash = 0).
 * More than one slash is refused. */
static int
split_slash(const char *s, const char **a, size_t *alen, const char **b,
            size_t *blen, int *has_slash)
{
    const char  *slash = strchr(s, '/');

    if (slash == NULL) {
        *a = s;
        *alen = strlen(s);
        *b = NULL;
        *blen = 0;
        *has_slash = 0;
        trim(a, alen);
        return 0;
    }
    if (strchr(slash + 1, '/') != NULL) {
        return -1;
    }
    *a = s;
    *alen = (size_t) (slash - s);
    *b = slash + 1;
    *blen = strlen(slash + 1);
    *has_slash = 1;
    trim(a, alen);
    trim(b, blen);
    return 0;
}

/*
 * The one value of attribute `nid` in `name` as UTF-8 text, or *present =
 * 0.  Two values of the same attribute are ambiguous and refused, and so
 * are non-text types, NUL bytes and control characters (they would end
 * up in JSON, HTML and logs).
 */
static enum efirma_status
subject_text(const X509_NAME *name, int nid, const char *label, char *out,
             size_t cap, int *present, char *err, size_t errlen)
{
    const X509_NAME_ENTRY  *e;
    const ASN1_STRING      *d;
    unsigned char          *u = NULL;
    int                     idx, n, type, i;

    out[0] = '\0';
    *present = 0;
    idx = X509_NAME_get_index_by_NID(name, nid, -1);
    if (idx < 0) {
        return EFIRMA_OK;
    }
    if (X509_NAME_get_index_by_NID(name, nid, idx) >= 0) {
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject has more than one %s", label);
    }
    e = X509_NAME_get_entry(name, idx);
    d = X509_NAME_ENTRY_get_data(e);
    type = ASN1_STRING_type(d);
    if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING
        && type != V_ASN1_IA5STRING && type != V_ASN1_T61STRING
        && type != V_ASN1_BMPSTRING && type != V_ASN1_UNIVERSALSTRING)
    {
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject %s is not a text string (ASN.1 type %d)",
                    label, type);
    }
    n = ASN1_STRING_to_UTF8(&u, d);
    if (n < 0) {
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject %s is not valid text", label);
    }
    for (i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f) {
            OPENSSL_free(u);
            return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                        "subject %s contains a control character or NUL",
                        label);
        }
    }
    if ((size_t) n >= cap) {
        OPENSSL_free(u);
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject %s is too long (%d bytes, at most %zu)",
                    label, n, cap - 1);
    }
    memcpy(out, u, (size_t) n);
    out[n] = '\0';
    OPENSSL_free(u);
    *present = 1;
    return EFIRMA_OK;
}

static enum efirma_status
subject_identity(const X509 *x, struct efirma_info *info, char *err,
                 size_t errlen)
{
    const X509_NAME     *subj = X509_get_subject_name(x);
    char                 buf[EFIRMA_NAME_MAX];
    const char          *a, *b;
    size_t               alen, blen;
    int                  present, slash, shape_a, shape_b;
    enum efirma_status   st;

    /* x500UniqueIdentifier: "RFC" or "RFC_COMPANY / RFC_REPRESENTATIVE" */
    st = subject_text(subj, NID_x500UniqueIdentifier,
                      "x500UniqueIdentifier (RFC)", buf, sizeof(buf),
                      &present, err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (!present) {
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject has no x500UniqueIdentifier (2.5.4.45): "
                    "not an e.firma certificate (no RFC)");
    }
    if (split_slash(buf, &a, &alen, &b, &blen, &slash) != 0) {
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject x500UniqueIdentifier '%s' has more than one '/'",
                    buf);
    }
    shape_a = rfc_shape(a, alen);
    if (shape_a == 0) {
        return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                    "subject x500UniqueIdentifier '%s': '%.*s' is not an RFC",
                    buf, (int) alen, a);
    }
    if (slash) {
        shape_b = rfc_shape(b, blen);
        if (shape_a != 12) {
            return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                        "subject x500UniqueIdentifier '%s': before the '/' "
                        "must be a company RFC (12 characters)", buf);
        }
        if (shape_b != 13) {
            return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                        "subject x500UniqueIdentifier '%s': after the '/' "
                        "must be the representative's RFC (13 characters)",
                        buf);
        }
        memcpy(info->representative_rfc, b, blen);
        info->representative_rfc[blen] = '\0';
    }
    memcpy(info->rfc, a, alen);
    info->rfc[alen] = '\0';
    info->is_company = shape_a == 12;

    /* serialNumber: "CURP" or " / CURP"; absent for some holders. */
    st = subject_text(subj, NID_serialNumber, "serialNumber (CURP)", buf,
                      sizeof(buf), &present, err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (present) {
        if (split_slash(buf, &a, &alen, &b, &blen, &slash) != 0) {
            return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                        "subject serialNumber '%s' has more than one '/'",
                        buf);
        }
        if (slash) {
            if (alen != 0) {
                return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                            "subject serialNumber '%s': expected ' / CURP'",
                            buf);
            }
            a = b;
            alen = blen;
        }
        if (!curp_shape(a, alen)) {
            return fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                        "subject serialNumber '%s': '%.*s' is not a CURP",
                        buf, (int) alen, a);
        }
        memcpy(info->curp, a, alen);
        info->curp[alen] = '\0';
    }

    /* The holder's name: CN, else O, else name (2.5.4.41). */
    st = subject_text(subj, NID_commonName, "CN", info->name,
                      sizeof(info->name), &present, err, errlen);
    if (st == EFIRMA_OK && !present) {
        st = subject_text(subj, NID_organizationName, "O", info->name,
                          sizeof(info->name), &present, err, errlen);
    }
    if (st == EFIRMA_OK && !present) {
        st = subject_text(subj, NID_name, "name", info->name,
                          sizeof(info->name), &present, err, errlen);
    }
    return st;
}

/* ---- the certificate as a whole ---------------------------------------- */

static void
utf8_truncate(char *s, size_t cap, size_t len)
{
    if (len < cap) {
        s[len] = '\0';
        return;
    }
    len = cap - 1;
    while (len > 0 && ((unsigned char) s[len] & 0xC0) == 0x80) {
        len--;                       /* don't cut a character in half */
    }
    s[len] = '\0';
}

static enum efirma_status
issuer_line(const X509 *x, char *out, size_t cap, char *err, size_t errlen)
{
    BIO            *bio = BIO_new(BIO_s_mem());
    char           *mem;
    long            n;
    unsigned long   flags = (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)
                            | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN
                            | XN_FLAG_DUMP_UNKNOWN_FIELDS;

    if (bio == NULL
        || X509_NAME_print_ex(bio, X509_get_issuer_name(x), 0, flags) < 0)
    {
        BIO_free(bio);
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "issuer name cannot be printed");
    }
    n = BIO_get_mem_data(bio, &mem);
    if (n < 0) {
        n = 0;
    }
    memcpy(out, mem, (size_t) n < cap ? (size_t) n : cap - 1);
    utf8_truncate(out, cap, (size_t) n);
    BIO_free(bio);
    return EFIRMA_OK;
}

static enum efirma_status
serial_hex(const X509 *x, struct efirma_info *info, char *err, size_t errlen)
{
    static const char      hex[] = "0123456789abcdef";
    const ASN1_INTEGER    *sn = X509_get0_serialNumber(x);
    const unsigned char   *d = ASN1_STRING_get0_data(sn);
    int                    n = ASN1_STRING_length(sn), i, digits = 1;

    if (ASN1_STRING_type(sn) == V_ASN1_NEG_INTEGER) {
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "serial number is negative (RFC 5280 4.1.2.2)");
    }
    while (n > 0 && d[0] == 0) {
        d++;
        n--;
    }
    if (n <= 0) {
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "serial number is zero (RFC 5280 4.1.2.2)");
    }
    if (n > 20) {
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "serial number has %d octets, at most 20 "
                    "(RFC 5280 4.1.2.2)", n);
    }
    for (i = 0; i < n; i++) {
        info->serial[2 * i] = hex[d[i] >> 4];
        info->serial[2 * i + 1] = hex[d[i] & 0xf];
        digits &= is_digit(d[i]);
    }
    info->serial[2 * n] = '\0';
    /* The tax authority's serials are its 20-digit certificate numbers
     * written as ASCII: show the number people see on their papers. */
    if (digits) {
        memcpy(info->certificate_number, d, (size_t) n);
        info->certificate_number[n] = '\0';
    }
    return EFIRMA_OK;
}

/* Parse strictly and describe; on success *out_x is the certificate. */
static enum efirma_status
parse_certificate(const unsigned char *der, size_t len, time_t now,
                  X509 **out_x, struct efirma_info *info, char *err,
                  size_t errlen)
{
    const unsigned char  *p = der;
    const X509_ALGOR     *outer_alg, *tbs_alg;
    unsigned char        *re = NULL;
    X509                 *x;
    enum efirma_status    st;
    int                   relen;

    memset(info, 0, sizeof(*info));
    *out_x = NULL;
    st = der_exact(der, len, "certificate", EFIRMA_CERTIFICATE_MALFORMED,
                   err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (len > EFIRMA_FILE_MAX || len > (size_t) 0x7fffffff) {
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "certificate is too large (%zu bytes)", len);
    }
    x = d2i_X509(NULL, &p, (long) len);
    if (x == NULL) {
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "certificate is not X.509: %s", openssl_reason());
    }
    if (p != der + len) {
        X509_free(x);
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "certificate is followed by %zu trailing bytes",
                    (size_t) (der + len - p));
    }
    /* Re-encoding must give back the very same bytes: catches BER where
     * DER is required in the parts OpenSSL does not keep verbatim. */
    relen = i2d_X509(x, &re);
    if (relen < 0 || (size_t) relen != len || memcmp(re, der, len) != 0) {
        OPENSSL_free(re);
        X509_free(x);
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "certificate is not canonical DER");
    }
    OPENSSL_free(re);

    if (X509_get_version(x) != X509_VERSION_3) {
        st = fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                  "certificate version is %ld, e.firma certificates are v3",
                  X509_get_version(x) + 1);
        goto bad;
    }
    X509_get0_signature(NULL, &outer_alg, x);
    tbs_alg = X509_get0_tbs_sigalg(x);
    if (X509_ALGOR_cmp(outer_alg, tbs_alg) != 0) {
        st = fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                  "signature algorithm differs inside and outside the "
                  "signed part (RFC 5280 4.1.1.2)");
        goto bad;
    }
    /* Computing the extension cache flags duplicated or undecodable
     * extensions as invalid. */
    if (X509_get_extension_flags(x) & EXFLAG_INVALID) {
        st = fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                  "certificate has an invalid or duplicated extension");
        goto bad;
    }
    if (time_iso(X509_get0_notBefore(x), info->not_before,
                 &info->not_before_epoch) != 0)
    {
        st = fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                  "notBefore is not a valid RFC 5280 time");
        goto bad;
    }
    if (time_iso(X509_get0_notAfter(x), info->not_after,
                 &info->not_after_epoch) != 0)
    {
        st = fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                  "notAfter is not a valid RFC 5280 time");
        goto bad;
    }
    if (info->not_after_epoch < info->not_before_epoch) {
        st = fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                  "notAfter (%s) is before notBefore (%s)",
                  info->not_after, info->not_before);
        goto bad;
    }
    st = serial_hex(x, info, err, errlen);
    if (st != EFIRMA_OK) {
        goto bad;
    }
    st = issuer_line(x, info->issuer, sizeof(info->issuer), err, errlen);
    if (st != EFIRMA_OK) {
        goto bad;
    }
    st = subject_identity(x, info, err, errlen);
    if (st != EFIRMA_OK) {
        goto bad;
    }
    info->expired = (int64_t) now > info->not_after_epoch;
    info->not_yet_valid = (int64_t) now < info->not_before_epoch;
    *out_x = x;
    ERR_clear_error();
    return EFIRMA_OK;

bad:
    X509_free(x);
    memset(info, 0, sizeof(*info));
    return st;
}

enum efirma_status
efirma_inspect(const unsigned char *der, size_t len, time_t now,
               struct efirma_info *out, char *err, size_t errlen)
{
    X509                *x;
    enum efirma_status   st;

    st = parse_certificate(der, len, now, &x, out, err, errlen);
    X509_free(x);
    return st;
}

/* ---- trusted CAs -------------------------------------------------------- */

struct efirma_trust *
efirma_trust_new(void)
{
    struct efirma_trust  *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->store = X509_STORE_new();
    if (t->store == NULL) {
        free(t);
        return NULL;
    }
    /* Every configured AC is an anchor: the tax authority's issuing ACs
     * can be listed without their root. */
    X509_STORE_set_flags(t->store, X509_V_FLAG_PARTIAL_CHAIN);
    return t;
}

void
efirma_trust_free(struct efirma_trust *trust)
{
    if (trust != NULL) {
        X509_STORE_free(trust->store);
        free(trust);
    }
}

size_t
efirma_trust_count(const struct efirma_trust *trust)
{
    return trust != NULL ? trust->count : 0;
}

static enum efirma_status
trust_add_x509(struct efirma_trust *trust, X509 *x, const char *what,
               char *err, size_t errlen)
{
    if (X509_check_ca(x) == 0) {
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                    "%s is not a CA certificate", what);
    }
    if (X509_STORE_add_cert(trust->store, x) != 1) {
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                    "%s cannot be added: %s", what, openssl_reason());
    }
    trust->count++;
    return EFIRMA_OK;
}

enum efirma_status
efirma_trust_add_der(struct efirma_trust *trust, const unsigned char *der,
                     size_t len, char *err, size_t errlen)
{
    const unsigned char  *p = der;
    enum efirma_status    st;
    X509                 *x;

    if (trust == NULL) {
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen, "no trust store");
    }
    st = der_exact(der, len, "CA certificate", EFIRMA_TRUST_STORE_INVALID,
                   err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    x = d2i_X509(NULL, &p, (long) len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                    "CA certificate is not X.509: %s", openssl_reason());
    }
    st = trust_add_x509(trust, x, "certificate", err, errlen);
    X509_free(x);
    ERR_clear_error();
    return st;
}

enum efirma_status
efirma_trust_add_file(struct efirma_trust *trust, const char *path,
                      char *err, size_t errlen)
{
    FILE                *f;
    unsigned char       *buf;
    size_t               len;
    BIO                 *bio;
    X509                *x;
    enum efirma_status   st = EFIRMA_OK;
    char                 what[64];
    int                  n = 0;

    if (trust == NULL) {
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen, "no trust store");
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                    "%s: cannot open: %m", path);
    }
    buf = malloc(EFIRMA_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return fail(EFIRMA_INTERNAL_ERROR, err, errlen, "out of memory");
    }
    len = fread(buf, 1, EFIRMA_FILE_MAX + 1, f);
    fclose(f);
    if (len > EFIRMA_FILE_MAX) {
        free(buf);
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                    "%s: larger than %d bytes", path, EFIRMA_FILE_MAX);
    }
    buf[len] = '\0';
    if (strstr((char *) buf, "-----BEGIN") == NULL) {
        st = efirma_trust_add_der(trust, buf, len, err, errlen);
        free(buf);
        if (st != EFIRMA_OK && err != NULL && errlen > 0) {
            char  tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", err);
            snprintf(err, errlen, "%s: %s", path, tmp);
        }
        return st;
    }
    bio = BIO_new_mem_buf(buf, (int) len);
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        n++;
        snprintf(what, sizeof(what), "certificate #%d", n);
        st = trust_add_x509(trust, x, what, err, errlen);
        X509_free(x);
        if (st != EFIRMA_OK) {
            break;
        }
    }
    if (st == EFIRMA_OK) {
        unsigned long e = ERR_peek_last_error();
        if (n == 0 || (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)) {
            st = fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                      "%s: unreadable PEM after %d certificate(s): %s", path,
                      n, e != 0 ? openssl_reason() : "none found");
        }
    } else if (err != NULL && errlen > 0) {
        char  tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errlen, "%s: %s", path, tmp);
    }
    BIO_free(bio);
    free(buf);
    ERR_clear_error();
    return st;
}

/* ---- login ---------------------------------------------------------------- */

static enum efirma_status
check_login_key(X509 *x, char *err, size_t errlen)
{
    EVP_PKEY  *pkey = X509_get0_pubkey(x);
    int        bits;

    if (pkey == NULL) {
        return fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                    "certificate public key is unreadable");
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        return fail(EFIRMA_CERTIFICATE_KEY_UNSUPPORTED, err, errlen,
                    "certificate key is %s; e.firma keys are RSA",
                    OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
    }
    bits = EVP_PKEY_get_bits(pkey);
    if (bits < EFIRMA_MIN_RSA_BITS) {
        return fail(EFIRMA_CERTIFICATE_KEY_UNSUPPORTED, err, errlen,
                    "certificate key has %d bits, at least %d required",
                    bits, EFIRMA_MIN_RSA_BITS);
    }
    if (X509_check_ca(x) != 0
        && (X509_get_extension_flags(x) & EXFLAG_CA))
    {
        return fail(EFIRMA_CERTIFICATE_USAGE_INVALID, err, errlen,
                    "a CA certificate cannot be used to log in");
    }
    if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE)
        && !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
    {
        return fail(EFIRMA_CERTIFICATE_USAGE_INVALID, err, errlen,
                    "certificate keyUsage does not allow digitalSignature");
    }
    return EFIRMA_OK;
}

static enum efirma_status
check_chain(X509 *x, const struct efirma_trust *trust, time_t now,
            char *err, size_t errlen)
{
    X509_STORE_CTX      *ctx = X509_STORE_CTX_new();
    X509_VERIFY_PARAM   *vp;
    enum efirma_status   st = EFIRMA_OK;
    int                  code;

    if (ctx == NULL || X509_STORE_CTX_init(ctx, trust->store, x, NULL) != 1) {
        X509_STORE_CTX_free(ctx);
        return fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                    "cannot set up chain verification");
    }
    vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, now);
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) != 1) {
        code = X509_STORE_CTX_get_error(ctx);
        st = fail(EFIRMA_CERTIFICATE_UNTRUSTED, err, errlen,
                  "certificate does not chain to a trusted CA: %s "
                  "(at depth %d)", X509_verify_cert_error_string(code),
                  X509_STORE_CTX_get_error_depth(ctx));
    }
    X509_STORE_CTX_free(ctx);
    return st;
}

static enum efirma_status
check_signature(X509 *x, const unsigned char *sig, size_t sig_len,
                const unsigned char *msg, size_t msg_len, char *err,
                size_t errlen)
{
    EVP_PKEY      *pkey = X509_get0_pubkey(x);
    EVP_MD_CTX    *md;
    EVP_PKEY_CTX  *pctx = NULL;
    int            ok;

    if (sig == NULL || sig_len == 0) {
        return fail(EFIRMA_SIGNATURE_INVALID, err, errlen,
                    "signature is empty");
    }
    if (sig_len != (size_t) EVP_PKEY_get_size(pkey)) {
        return fail(EFIRMA_SIGNATURE_INVALID, err, errlen,
                    "signature is %zu bytes, the certificate's key makes "
                    "%d-byte signatures", sig_len, EVP_PKEY_get_size(pkey));
    }
    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey,
                                   NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
    {
        EVP_MD_CTX_free(md);
        return fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                    "cannot set up RSA-SHA256 verification: %s",
                    openssl_reason());
    }
    ok = EVP_DigestVerify(md, sig, sig_len, msg, msg_len);
    EVP_MD_CTX_free(md);
    if (ok != 1) {
        return fail(EFIRMA_SIGNATURE_INVALID, err, errlen,
                    "signature does not verify with the certificate's key "
                    "(RSA PKCS#1 v1.5, SHA-256, over the nonce)");
    }
    return EFIRMA_OK;
}

enum efirma_status
efirma_verify_login(const unsigned char *cert_der, size_t cert_len,
                    const unsigned char *sig, size_t sig_len,
                    const unsigned char *nonce, size_t nonce_len,
                    const struct efirma_trust *trust, time_t now,
                    struct efirma_info *info, char *err, size_t errlen)
{
    struct efirma_info   scratch;
    struct efirma_info  *in = info != NULL ? info : &scratch;
    enum efirma_status   st;
    X509                *x;

    memset(in, 0, sizeof(*in));
    if (nonce == NULL || nonce_len == 0 || nonce_len > EFIRMA_NONCE_MAX) {
        return fail(EFIRMA_NONCE_INVALID, err, errlen,
                    "nonce must be 1 to %d bytes", EFIRMA_NONCE_MAX);
    }
    if (trust == NULL || trust->count == 0) {
        return fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                    "no trusted CA certificates are configured");
    }
    st = parse_certificate(cert_der, cert_len, now, &x, in, err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    st = check_login_key(x, err, errlen);
    if (st == EFIRMA_OK && in->not_yet_valid) {
        st = fail(EFIRMA_CERTIFICATE_NOT_YET_VALID, err, errlen,
                  "certificate is valid only from %s", in->not_before);
    }
    if (st == EFIRMA_OK && in->expired) {
        st = fail(EFIRMA_CERTIFICATE_EXPIRED, err, errlen,
                  "certificate expired on %s", in->not_after);
    }
    if (st == EFIRMA_OK) {
        st = check_chain(x, trust, now, err, errlen);
    }
    if (st == EFIRMA_OK) {
        st = check_signature(x, sig, sig_len, nonce, nonce_len, err, errlen);
    }
    X509_free(x);
    ERR_clear_error();
    return st;
}

/* ---- signing with a .key ------------------------------------------------- */

static enum efirma_status
decrypt_key(const unsigned char *key_der, size_t key_len,
            const char *password, size_t password_len, EVP_PKEY **out,
            char *err, size_t errlen)
{
    const unsigned char     *p = key_der;
    const X509_ALGOR        *alg;
    X509_SIG                *p8;
    PKCS8_PRIV_KEY_INFO     *inf;
    PKCS8_PRIV_KEY_INFO     *plain;
    enum efirma_status       st;
    int                      scheme;

    *out = NULL;
    st = der_exact(key_der, key_len, "key", EFIRMA_KEY_MALFORMED, err,
                   errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (key_len > EFIRMA_FILE_MAX || password_len > 0x7fffffff) {
        return fail(EFIRMA_KEY_MALFORMED, err, errlen, "key is too large");
    }
    p8 = d2i_X509_SIG(NULL, &p, (long) key_len);
    if (p8 == NULL || p != key_der + key_len) {
        X509_SIG_free(p8);
        p = key_der;
        plain = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) key_len);
        PKCS8_PRIV_KEY_INFO_free(plain);
        return fail(EFIRMA_KEY_MALFORMED, err, errlen, plain != NULL
                    ? "key is not encrypted; an e.firma .key is an "
                      "encrypted PKCS#8 file"
                    : "key is not an encrypted PKCS#8 (DER) file");
    }
    X509_SIG_get0(p8, &alg, NULL);
    scheme = OBJ_obj2nid(alg->algorithm);
    inf = PKCS8_decrypt(p8, password != NULL ? password : "",
                        (int) password_len);
    X509_SIG_free(p8);
    if (inf == NULL) {
        if (scheme != NID_pbes2) {
            return fail(EFIRMA_KEY_UNSUPPORTED, err, errlen,
                        "key encryption %s is not supported (PBES2 is)",
                        OBJ_nid2sn(scheme));
        }
        return fail(EFIRMA_KEY_PASSWORD_INCORRECT, err, errlen,
                    "wrong password for the key (or a damaged .key file)");
    }
    *out = EVP_PKCS82PKEY(inf);
    PKCS8_PRIV_KEY_INFO_free(inf);
    if (*out == NULL) {
        /* CBC padding can check out by chance under a wrong password;
         * the key inside then fails to parse. */
        return fail(EFIRMA_KEY_PASSWORD_INCORRECT, err, errlen,
                    "wrong password for the key (or a damaged .key file)");
    }
    if (EVP_PKEY_get_base_id(*out) != EVP_PKEY_RSA) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return fail(EFIRMA_KEY_UNSUPPORTED, err, errlen,
                    "key is not RSA; e.firma keys are");
    }
    return EFIRMA_OK;
}

enum efirma_status
efirma_sign(const unsigned char *key_der, size_t key_len,
            const char *password, size_t password_len,
            const unsigned char *cert_der, size_t cert_len,
            const unsigned char *msg, size_t msg_len,
            unsigned char *sig, size_t sig_cap, size_t *sig_len,
            char *err, size_t errlen)
{
    struct efirma_info   info;
    EVP_PKEY            *key;
    EVP_MD_CTX          *md = NULL;
    EVP_PKEY_CTX        *pctx = NULL;
    enum efirma_status   st;
    X509                *x = NULL;
    size_t               need = 0;

    *sig_len = 0;
    if (msg == NULL || msg_len == 0 || msg_len > EFIRMA_NONCE_MAX) {
        return fail(EFIRMA_NONCE_INVALID, err, errlen,
                    "nonce must be 1 to %d bytes", EFIRMA_NONCE_MAX);
    }
    st = decrypt_key(key_der, key_len, password, password_len, &key, err,
                     errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (cert_der != NULL) {
        st = parse_certificate(cert_der, cert_len, time(NULL), &x, &info,
                               err, errlen);
        if (st != EFIRMA_OK) {
            EVP_PKEY_free(key);
            return st;
        }
        if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
            X509_free(x);
            EVP_PKEY_free(key);
            return fail(EFIRMA_KEY_MISMATCH, err, errlen,
                        "the .key does not belong to the .cer");
        }
        X509_free(x);
    }
    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, key,
                                 NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1
        || EVP_DigestSign(md, NULL, &need, msg, msg_len) != 1)
    {
        st = fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                  "cannot set up RSA-SHA256 signing: %s", openssl_reason());
    } else if (need > sig_cap) {
        st = fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                  "signature needs %zu bytes, buffer has %zu", need, sig_cap);
    } else if (EVP_DigestSign(md, sig, &need, msg, msg_len) != 1) {
        st = fail(EFIRMA_INTERNAL_ERROR, err, errlen, "signing failed: %s",
                  openssl_reason());
    } else {
        *sig_len = need;
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return st;
}
