/*
 * efirma.c -- e.firma certificates and challenge signatures on OpenSSL 3.
 *
 * Owns the strict reading of a tax-authority .cer (outer DER checked by
 * hand before OpenSSL sees it, no trailing bytes, canonical re-encoding,
 * RFC 5280 time and serial forms) and the reading of the holder's RFC and
 * CURP from the subject the way the tax authority writes them.  The login
 * check lives in efirma_login.c, signing with a .key in efirma_sign.c;
 * see efirma.h for the formats.
 *
 * Every public call leaves OpenSSL's per-thread error queue empty, so a
 * daemon thread that serves many logins never accumulates stale errors.
 */

#include "efirma.h"
#include "efirma_internal.h"

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
enum efirma_status
efirma_fail(enum efirma_status st, char *err, size_t errlen,
            const char *fmt, ...)
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

const char *
efirma_openssl_reason(void)
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

enum efirma_status
efirma_der_exact(const unsigned char *der, size_t len, const char *what,
          enum efirma_status bad, char *err, size_t errlen)
{
    const char  *why;
    size_t       total;

    if (der == NULL || len == 0) {
        return efirma_fail(bad, err, errlen, "%s is empty", what);
    }
    if (der_outer_sequence(der, len, &total, &why) != 0) {
        return efirma_fail(bad, err, errlen, "%s %s", what, why);
    }
    if (total > len) {
        return efirma_fail(bad, err, errlen,
                           "%s is truncated: its DER header says %zu bytes, "
                           "got %zu",
                           what, total, len);
    }
    if (total < len) {
        return efirma_fail(bad, err, errlen,
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
        } else if (c == 0xC3 && i + 1 < len
                   && (unsigned char) s[i + 1] == 0x91)
        {
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
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                           "subject has more than one %s", label);
    }
    e = X509_NAME_get_entry(name, idx);
    d = X509_NAME_ENTRY_get_data(e);
    type = ASN1_STRING_type(d);
    if (type != V_ASN1_UTF8STRING && type != V_ASN1_PRINTABLESTRING
        && type != V_ASN1_IA5STRING && type != V_ASN1_T61STRING
        && type != V_ASN1_BMPSTRING && type != V_ASN1_UNIVERSALSTRING)
    {
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                           "subject %s is not a text string (ASN.1 type %d)",
                           label, type);
    }
    n = ASN1_STRING_to_UTF8(&u, d);
    if (n < 0) {
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                           "subject %s is not valid text", label);
    }
    for (i = 0; i < n; i++) {
        if (u[i] < 0x20 || u[i] == 0x7f) {
            OPENSSL_free(u);
            return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                               "subject %s contains a control character or NUL",
                               label);
        }
    }
    if ((size_t) n >= cap) {
        OPENSSL_free(u);
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
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
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                           "subject has no x500UniqueIdentifier (2.5.4.45): "
                           "not an e.firma certificate (no RFC)");
    }
    if (split_slash(buf, &a, &alen, &b, &blen, &slash) != 0) {
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                           "subject x500UniqueIdentifier '%s' has more than "
                           "one '/'",
                           buf);
    }
    shape_a = rfc_shape(a, alen);
    if (shape_a == 0) {
        return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                           "subject x500UniqueIdentifier '%s': '%.*s' is not "
                           "an RFC",
                           buf, (int) alen, a);
    }
    if (slash) {
        shape_b = rfc_shape(b, blen);
        if (shape_a != 12) {
            return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                               "subject x500UniqueIdentifier '%s': before the "
                               "'/' "
                               "must be a company RFC (12 characters)", buf);
        }
        if (shape_b != 13) {
            return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                               "subject x500UniqueIdentifier '%s': after the "
                               "'/' "
                               "must be the representative's RFC (13 "
                               "characters)",
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
            return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                               "subject serialNumber '%s' has more than one "
                               "'/'",
                               buf);
        }
        if (slash) {
            if (alen != 0) {
                return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID,
                                   err, errlen, "subject serialNumber '%s': "
                                   "expected ' / CURP'", buf);
            }
            a = b;
            alen = blen;
        }
        if (!curp_shape(a, alen)) {
            return efirma_fail(EFIRMA_CERTIFICATE_SUBJECT_INVALID, err, errlen,
                               "subject serialNumber '%s': '%.*s' is not a "
                               "CURP",
                               buf, (int) alen, a);
        }
        memcpy(info->curp, a, alen);
        info->curp[alen] = '\0';
    }

    /* The tax authority issues seal certificates (CSD) for invoicing
     * with the same subject plus an OU naming the branch; e.firma
     * certificates have no OU. */
    st = subject_text(subj, NID_organizationalUnitName, "OU", info->branch,
                      sizeof(info->branch), &present, err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    info->is_seal = present;

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
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
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
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "serial number is negative (RFC 5280 4.1.2.2)");
    }
    while (n > 0 && d[0] == 0) {
        d++;
        n--;
    }
    if (n <= 0) {
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "serial number is zero (RFC 5280 4.1.2.2)");
    }
    if (n > 20) {
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
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
enum efirma_status
efirma_parse_certificate(const unsigned char *der, size_t len, time_t now,
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
    st = efirma_der_exact(der, len, "certificate", EFIRMA_CERTIFICATE_MALFORMED,
                          err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (len > EFIRMA_FILE_MAX || len > (size_t) 0x7fffffff) {
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "certificate is too large (%zu bytes)", len);
    }
    x = d2i_X509(NULL, &p, (long) len);
    if (x == NULL) {
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "certificate is not X.509: %s",
                           efirma_openssl_reason());
    }
    if (p != der + len) {
        X509_free(x);
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "certificate is followed by %zu trailing bytes",
                           (size_t) (der + len - p));
    }
    /* Re-encoding must give back the very same bytes: catches BER where
     * DER is required in the parts OpenSSL does not keep verbatim. */
    relen = i2d_X509(x, &re);
    if (relen < 0 || (size_t) relen != len || memcmp(re, der, len) != 0) {
        OPENSSL_free(re);
        X509_free(x);
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "certificate is not canonical DER");
    }
    OPENSSL_free(re);

    if (X509_get_version(x) != X509_VERSION_3) {
        st = efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                         "certificate version is %ld, e.firma certificates "
                         "are v3",
                         X509_get_version(x) + 1);
        goto bad;
    }
    X509_get0_signature(NULL, &outer_alg, x);
    tbs_alg = X509_get0_tbs_sigalg(x);
    if (X509_ALGOR_cmp(outer_alg, tbs_alg) != 0) {
        st = efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                         "signature algorithm differs inside and outside the "
                         "signed part (RFC 5280 4.1.1.2)");
        goto bad;
    }
    /* Computing the extension cache flags duplicated or undecodable
     * extensions as invalid. */
    if (X509_get_extension_flags(x) & EXFLAG_INVALID) {
        st = efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                         "certificate has an invalid or duplicated extension");
        goto bad;
    }
    if (time_iso(X509_get0_notBefore(x), info->not_before,
                 &info->not_before_epoch) != 0)
    {
        st = efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                         "notBefore is not a valid RFC 5280 time");
        goto bad;
    }
    if (time_iso(X509_get0_notAfter(x), info->not_after,
                 &info->not_after_epoch) != 0)
    {
        st = efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                         "notAfter is not a valid RFC 5280 time");
        goto bad;
    }
    if (info->not_after_epoch < info->not_before_epoch) {
        st = efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
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

    st = efirma_parse_certificate(der, len, now, &x, out, err, errlen);
    X509_free(x);
    return st;
}
