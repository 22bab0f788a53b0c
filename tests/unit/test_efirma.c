/*
 * test_efirma.c -- e.firma certificates, logins and .key signing.
 *
 * Owns: a small certificate factory that builds, with OpenSSL, a CA and
 * certificates in the tax authority's format (x500UniqueIdentifier
 * "RFC_COMPANY / RFC_REPRESENTATIVE", serialNumber " / CURP", 20-digit
 * ASCII serials, SAT-like encrypted PKCS#8 keys with PBES2 + PBKDF2 +
 * des-ede3-cbc), and the checks that every field read, every login
 * failure reason and every bad input behave as efirma.h promises.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <pthread.h>
#include <jansson.h>

#include "ctl.h"
#include "efirma.h"

/* 2026-01-01T00:00:00Z: every validity period is relative to it. */
#define NOW   ((time_t) 1767225600)
#define DAY   86400L
#define YEAR  (365L * DAY)

#define COMPANY_UID   "AAA010101AAA / GODE561231GR8"
#define COMPANY_SN    " / GODE561231HDFRRN00"
#define PERSON_UID    "GODE561231GR8"
#define PERSON_SN     "GODE561231HDFRRN00"
#define SAT_SERIAL    "00001000000504465028"

static EVP_PKEY  *ca_key, *leaf_key, *other_key, *small_key, *ec_key;
static X509      *ca_cert, *other_ca_cert;

/* The factory also runs in main(), outside any test: plain asserts. */
#define need(c)                                                         \
    do {                                                                \
        if (!(c)) {                                                     \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);    \
            abort();                                                    \
        }                                                               \
    } while (0)

/* ---- certificate factory ------------------------------------------------ */

struct spec {
    const char  *uid;            /* x500UniqueIdentifier, NULL = none */
    int          uid_type;       /* 0 = UTF8 text, else raw ASN.1 type */
    const char  *sn;             /* serialNumber attribute */
    const char  *cn;
    const char  *o;
    const char  *ou;             /* branch: makes it a CSD */
    int          dup_uid;        /* add x500UniqueIdentifier twice */
    long         nb, na;         /* validity, seconds from NOW */
    int          ca;             /* CA:TRUE + keyCertSign */
    const char  *key_usage;      /* NULL = SAT's usual set */
    const unsigned char *serial; /* NULL = SAT_SERIAL */
    size_t       serial_len;
    long         serial_int;     /* used when serial_len == 0 && serial */
    int          v1;             /* a version 1 certificate */
};

static void
spec_default(struct spec *s, const char *uid, const char *sn)
{
    memset(s, 0, sizeof(*s));
    s->uid = uid;
    s->sn = sn;
    s->cn = "ESCUELA KEMPER URGATE SA DE CV";
    s->o = "ESCUELA KEMPER URGATE SA DE CV";
    s->nb = -30 * DAY;
    s->na = 4 * YEAR;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX       ctx;
    X509_EXTENSION  *e;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    need(e != NULL);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

static void
name_add(X509_NAME *n, int nid, const char *v)
{
    /* a raw UTF8String: no length limits, so oversized values can be
     * built too */
    need(X509_NAME_add_entry_by_NID(n, nid, V_ASN1_UTF8STRING,
                                         (const unsigned char *) v, -1, -1,
                                         0) == 1);
}

static X509 *
make_cert(const struct spec *s, EVP_PKEY *key, X509 *issuer,
          EVP_PKEY *issuer_key)
{
    X509          *x = X509_new();
    X509_NAME     *n = X509_NAME_new();
    ASN1_INTEGER  *serial;
    BIGNUM        *bn;

    need(x != NULL && n != NULL);
    X509_set_version(x, s->v1 ? X509_VERSION_1 : X509_VERSION_3);
    if (s->serial != NULL && s->serial_len == 0) {
        serial = ASN1_INTEGER_new();
        ASN1_INTEGER_set(serial, s->serial_int);
    } else {
        bn = s->serial ? BN_bin2bn(s->serial, (int) s->serial_len, NULL)
                       : BN_bin2bn((const unsigned char *) SAT_SERIAL, 20,
                                   NULL);
        serial = BN_to_ASN1_INTEGER(bn, NULL);
        BN_free(bn);
    }
    X509_set_serialNumber(x, serial);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_set(X509_getm_notBefore(x), NOW + s->nb);
    ASN1_TIME_set(X509_getm_notAfter(x), NOW + s->na);

    if (s->cn) name_add(n, NID_commonName, s->cn);
    if (s->cn) name_add(n, NID_name, s->cn);
    if (s->o) name_add(n, NID_organizationName, s->o);
    name_add(n, NID_countryName, "MX");
    name_add(n, NID_pkcs9_emailAddress, "kemper@example.mx");
    if (s->uid) {
        if (s->uid_type) {
            need(X509_NAME_add_entry_by_NID(n, NID_x500UniqueIdentifier,
                      s->uid_type, (const unsigned char *) s->uid,
                      (int) strlen(s->uid), -1, 0) == 1);
        } else {
            name_add(n, NID_x500UniqueIdentifier, s->uid);
        }
        if (s->dup_uid) name_add(n, NID_x500UniqueIdentifier, s->uid);
    }
    if (s->sn) name_add(n, NID_serialNumber, s->sn);
    if (s->ou) name_add(n, NID_organizationalUnitName, s->ou);
    X509_set_subject_name(x, n);
    X509_NAME_free(n);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                   : X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    if (!s->v1) {
        if (s->ca) {
            add_ext(x, issuer ? issuer : x, NID_basic_constraints,
                    "critical,CA:TRUE");
            add_ext(x, issuer ? issuer : x, NID_key_usage,
                    "critical,keyCertSign,cRLSign");
            add_ext(x, issuer ? issuer : x, NID_subject_key_identifier,
                    "hash");
        } else {
            add_ext(x, issuer ? issuer : x, NID_key_usage,
                    s->key_usage ? s->key_usage
                    : "critical,digitalSignature,nonRepudiation,"
                      "dataEncipherment,keyAgreement");
            add_ext(x, issuer ? issuer : x, NID_ext_key_usage,
                    "emailProtection,clientAuth");
        }
    }
    need(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static X509 *
make_ca(const char *cn, EVP_PKEY *key, X509 *parent, EVP_PKEY *parent_key,
        long nb, long na)
{
    struct spec  s;
    X509_NAME   *n;
    X509        *x;

    spec_default(&s, NULL, NULL);
    s.ca = 1;
    s.cn = cn;
    s.o = "SERVICIO DE ADMINISTRACION TRIBUTARIA";
    s.nb = nb;
    s.na = na;
    x = make_cert(&s, key, parent, parent_key);
    /* A CA's subject carries no RFC: rebuild it plainly, then re-sign. */
    n = X509_NAME_new();
    name_add(n, NID_commonName, cn);
    name_add(n, NID_organizationName, "SERVICIO DE ADMINISTRACION TRIBUTARIA");
    name_add(n, NID_organizationalUnitName, "SAT-IES Authority");
    name_add(n, NID_countryName, "MX");
    X509_set_subject_name(x, n);
    if (parent == NULL) X509_set_issuer_name(x, n);
    X509_NAME_free(n);
    need(X509_sign(x, parent_key ? parent_key : key, EVP_sha256()) > 0);
    return x;
}

static unsigned char *
der_of(X509 *x, size_t *len)
{
    unsigned char  *out = NULL;
    int             n = i2d_X509(x, &out);

    need(n > 0);
    *len = (size_t) n;
    return out;
}

/* A leaf from `s` signed by the test CA, as DER; frees the X509. */
static unsigned char *
leaf_der(const struct spec *s, EVP_PKEY *key, size_t *len)
{
    X509           *x = make_cert(s, key, ca_cert, ca_key);
    unsigned char  *d = der_of(x, len);

    X509_free(x);
    return d;
}

/* Encrypted PKCS#8 DER the way the tax authority writes .key files. */
static unsigned char *
key_der(EVP_PKEY *k, const EVP_CIPHER *cipher, int prf, const char *pw,
        size_t *len)
{
    PKCS8_PRIV_KEY_INFO  *inf = EVP_PKEY2PKCS8(k);
    X509_ALGOR           *pbe = PKCS5_pbe2_set_iv(cipher, 2048, NULL, 0,
                                                  NULL, prf);
    X509_SIG             *sig;
    unsigned char        *out = NULL;
    int                   n;

    need(inf != NULL && pbe != NULL);
    sig = PKCS8_set0_pbe(pw, (int) strlen(pw), inf, pbe);
    need(sig != NULL);
    n = i2d_X509_SIG(sig, &out);
    need(n > 0);
    *len = (size_t) n;
    X509_SIG_free(sig);
    PKCS8_PRIV_KEY_INFO_free(inf);
    return out;
}

static size_t
raw_sign(EVP_PKEY *k, const char *msg, unsigned char *sig)
{
    EVP_MD_CTX  *md = EVP_MD_CTX_new();
    size_t       n = EFIRMA_SIG_MAX;

    need(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1);
    need(EVP_DigestSign(md, sig, &n, (const unsigned char *) msg,
                             strlen(msg)) == 1);
    EVP_MD_CTX_free(md);
    return n;
}

static struct efirma_trust *
trust_of(X509 *a, X509 *b)
{
    struct efirma_trust  *t = efirma_trust_new();
    unsigned char        *d;
    size_t                n;
    char                  err[256];

    need(t != NULL);
    if (a) {
        d = der_of(a, &n);
        need(efirma_trust_add_der(t, d, n, err, sizeof(err)) == EFIRMA_OK);
        OPENSSL_free(d);
    }
    if (b) {
        d = der_of(b, &n);
        need(efirma_trust_add_der(t, d, n, err, sizeof(err)) == EFIRMA_OK);
        OPENSSL_free(d);
    }
    return t;
}

/* inspect must refuse with `want`; the reason must mention `needle`. */
static void
inspect_fails(const struct spec *s, EVP_PKEY *key, enum efirma_status want,
              const char *needle)
{
    struct efirma_info   info;
    unsigned char       *d;
    size_t               n;
    char                 err[512] = "";
    enum efirma_status   st;

    d = leaf_der(s, key, &n);
    st = efirma_inspect(d, n, NOW, &info, err, sizeof(err));
    ck_assert_msg(st == want, "want %s, got %s (%s) [%s]",
                  efirma_status_code(want), efirma_status_code(st), err,
                  needle ? needle : "");
    if (needle) {
        ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in '%s'",
                      needle, err);
    }
    ck_assert_str_eq(info.rfc, "");
    OPENSSL_free(d);
}

/* ---- inspect ------------------------------------------------------------- */

START_TEST(inspect_company)
{
    struct spec          s;
    struct efirma_info   info;
    unsigned char       *d;
    size_t               n;
    char                 err[256] = "";

    spec_default(&s, COMPANY_UID, COMPANY_SN);
    d = leaf_der(&s, leaf_key, &n);
    ck_assert_int_eq(efirma_inspect(d, n, NOW, &info, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_str_eq(info.rfc, "AAA010101AAA");
    ck_assert_str_eq(info.representative_rfc, "GODE561231GR8");
    ck_assert_str_eq(info.curp, "GODE561231HDFRRN00");
    ck_assert_str_eq(info.name, "ESCUELA KEMPER URGATE SA DE CV");
    ck_assert_str_eq(info.serial,
                     "3030303031303030303030353034343635303238");
    ck_assert_str_eq(info.certificate_number, SAT_SERIAL);
    ck_assert_str_eq(info.not_before, "2025-12-02T00:00:00Z");
    ck_assert_str_eq(info.not_after, "2029-12-31T00:00:00Z");
    ck_assert_int_eq(info.not_before_epoch, NOW - 30 * DAY);
    ck_assert_int_eq(info.is_company, 1);
    ck_assert_int_eq(info.is_seal, 0);
    ck_assert_str_eq(info.branch, "");
    ck_assert_int_eq(info.expired, 0);
    ck_assert_int_eq(info.not_yet_valid, 0);
    ck_assert_msg(strstr(info.issuer, "CN=AC UAT") != NULL, "%s",
                  info.issuer);
    ck_assert_msg(strstr(info.issuer, "C=MX") != NULL, "%s", info.issuer);
    OPENSSL_free(d);
}
END_TEST

START_TEST(inspect_person_and_expiry)
{
    struct spec          s;
    struct efirma_info   info;
    unsigned char       *d;
    size_t               n;
    char                 err[256] = "";

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.cn = "DANIEL GONZALEZ DIAZ";
    s.o = NULL;
    s.nb = -5 * YEAR;
    s.na = -1 * YEAR;
    d = leaf_der(&s, leaf_key, &n);
    ck_assert_int_eq(efirma_inspect(d, n, NOW, &info, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_str_eq(info.rfc, "GODE561231GR8");
    ck_assert_str_eq(info.representative_rfc, "");
    ck_assert_str_eq(info.curp, "GODE561231HDFRRN00");
    ck_assert_str_eq(info.name, "DANIEL GONZALEZ DIAZ");
    ck_assert_int_eq(info.is_company, 0);
    ck_assert_int_eq(info.expired, 1);
    /* the same certificate, seen five years ago, was not yet valid */
    ck_assert_int_eq(efirma_inspect(d, n, NOW - 6 * YEAR, &info, err,
                                    sizeof(err)), EFIRMA_OK);
    ck_assert_int_eq(info.not_yet_valid, 1);
    ck_assert_int_eq(info.expired, 0);
    OPENSSL_free(d);
}
END_TEST

START_TEST(inspect_subject_variants)
{
    struct spec          s;
    struct efirma_info   info;
    unsigned char       *d;
    size_t               n;
    char                 err[256] = "";

    /* "Ñ" and "&" belong to RFCs; serialNumber may be absent; O when no
     * CN. */
    spec_default(&s, "AÑ&010101AB1", NULL);
    s.cn = NULL;
    s.o = "AÑ&UA SA";
    d = leaf_der(&s, leaf_key, &n);
    ck_assert_int_eq(efirma_inspect(d, n, NOW, &info, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_str_eq(info.rfc, "AÑ&010101AB1");
    ck_assert_str_eq(info.curp, "");
    ck_assert_str_eq(info.name, "AÑ&UA SA");
    ck_assert_int_eq(info.is_company, 1);
    OPENSSL_free(d);

    /* A non-digit serial has no certificate number. */
    spec_default(&s, PERSON_UID, PERSON_SN);
    s.serial = (const unsigned char *) "\x01\xab\xcd";
    s.serial_len = 3;
    d = leaf_der(&s, leaf_key, &n);
    ck_assert_int_eq(efirma_inspect(d, n, NOW, &info, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_str_eq(info.serial, "01abcd");
    ck_assert_str_eq(info.certificate_number, "");
    OPENSSL_free(d);
}
END_TEST

START_TEST(inspect_bad_subject)
{
    static const struct { const char *uid, *sn, *needle; } bad[] = {
        { NULL, PERSON_SN, "no x500UniqueIdentifier" },
        { "", PERSON_SN, "is not an RFC" },
        { "gode561231gr8", PERSON_SN, "is not an RFC" },
        { "GODE561331GR8", PERSON_SN, "is not an RFC" },    /* month 13 */
        { "GODE5612319R8X", PERSON_SN, "is not an RFC" },   /* too long */
        { "GO1E561231GR8", PERSON_SN, "is not an RFC" },
        { "GODE561231G-8", PERSON_SN, "is not an RFC" },
        { "AAA010101AAA / GODE561231GR8 / X", COMPANY_SN, "more than one" },
        { "AAA010101AAA / BBB010101BBB", COMPANY_SN, "representative" },
        { "GODE561231GR8 / GODE561231GR8", COMPANY_SN, "company RFC" },
        { "AAA010101AAA / ", COMPANY_SN, "representative" },
        { " / GODE561231GR8", COMPANY_SN, "is not an RFC" },
        { "GODE561231GR8\n", PERSON_SN, "control character" },
        { PERSON_UID, "GODE561231HDFRRN0", "is not a CURP" },
        { PERSON_UID, "GODE561231ZDFRRN00", "is not a CURP" },
        { PERSON_UID, "GODE561231HDFRRN0A", "is not a CURP" },
        { PERSON_UID, "gode561231hdfrrn00", "is not a CURP" },
        { PERSON_UID, "XEXX010101HNEXXXA4 / GODE561231HDFRRN00",
          "expected ' / CURP'" },
        { PERSON_UID, " / ", "is not a CURP" },
        { PERSON_UID, "/ a / b", "more than one" },
    };
    struct spec  s;
    size_t       i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec_default(&s, bad[i].uid, bad[i].sn);
        inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_SUBJECT_INVALID,
                      bad[i].needle);
    }

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.dup_uid = 1;
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_SUBJECT_INVALID,
                  "more than one x500UniqueIdentifier");

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.uid_type = V_ASN1_BIT_STRING;
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_SUBJECT_INVALID,
                  "not a text string");

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.cn = "DANIEL\x01";
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_SUBJECT_INVALID,
                  "CN contains a control");

    {
        char long_cn[400];
        memset(long_cn, 'A', sizeof(long_cn) - 1);
        long_cn[sizeof(long_cn) - 1] = '\0';
        spec_default(&s, PERSON_UID, PERSON_SN);
        s.cn = long_cn;
        s.o = NULL;
        inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_SUBJECT_INVALID,
                      "too long");
    }
}
END_TEST

START_TEST(inspect_bad_fields)
{
    static const unsigned char zero[] = { 0 };
    unsigned char  big[21];
    struct spec    s;

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.serial = zero;
    s.serial_len = 0;
    s.serial_int = -5;
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_MALFORMED, "negative");

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.serial = zero;
    s.serial_len = 0;
    s.serial_int = 0;
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_MALFORMED, "zero");

    memset(big, '7', sizeof(big));
    spec_default(&s, PERSON_UID, PERSON_SN);
    s.serial = big;
    s.serial_len = sizeof(big);
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_MALFORMED, "21 octets");

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.nb = YEAR;
    s.na = -YEAR;
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_MALFORMED,
                  "before notBefore");

    spec_default(&s, PERSON_UID, PERSON_SN);
    s.v1 = 1;
    inspect_fails(&s, leaf_key, EFIRMA_CERTIFICATE_MALFORMED, "version");
}
END_TEST

/* A validity time outside RFC 5280's two forms. */
START_TEST(inspect_bad_time)
{
    struct spec          s;
    struct efirma_info   info;
    X509                *x;
    ASN1_TIME           *t;
    unsigned char       *d;
    size_t               n;
    char                 err[256] = "";
    const char          *forms[] = { "2601010000Z", "260101000000+0100",
                                     "26010100000QZ", "261301000000Z" };
    size_t               i;

    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        spec_default(&s, PERSON_UID, PERSON_SN);
        x = make_cert(&s, leaf_key, ca_cert, ca_key);
        t = ASN1_STRING_type_new(V_ASN1_UTCTIME);
        ASN1_STRING_set(t, forms[i], (int) strlen(forms[i]));
        X509_set1_notAfter(x, t);
        ASN1_STRING_free(t);
        X509_sign(x, ca_key, EVP_sha256());
        d = der_of(x, &n);
        ck_assert_int_eq(efirma_inspect(d, n, NOW, &info, err, sizeof(err)),
                         EFIRMA_CERTIFICATE_MALFORMED);
        OPENSSL_free(d);
        X509_free(x);
    }
}
END_TEST

START_TEST(inspect_bad_encoding)
{
    struct spec          s;
    struct efirma_info   info;
    unsigned char       *d, *buf;
    size_t               n, i, ok = 0;
    char                 err[256];
    enum efirma_status   st;
    static const char    pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n";

    ck_assert_int_eq(efirma_inspect(NULL, 0, NOW, &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_MALFORMED);
    ck_assert_int_eq(efirma_inspect((const unsigned char *) pem,
                                    sizeof(pem) - 1, NOW, &info, err,
                                    sizeof(err)),
                     EFIRMA_CERTIFICATE_MALFORMED);
    ck_assert_msg(strstr(err, "PEM") != NULL, "%s", err);

    spec_default(&s, COMPANY_UID, COMPANY_SN);
    d = leaf_der(&s, leaf_key, &n);
    buf = malloc(n + 8);

    /* every truncation */
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(efirma_inspect(d, i, NOW, &info, err, sizeof(err)),
                         EFIRMA_CERTIFICATE_MALFORMED);
    }
    /* trailing bytes */
    memcpy(buf, d, n);
    buf[n] = 0;
    ck_assert_int_eq(efirma_inspect(buf, n + 1, NOW, &info, err,
                                    sizeof(err)),
                     EFIRMA_CERTIFICATE_MALFORMED);
    ck_assert_msg(strstr(err, "1 trailing byte") != NULL, "%s", err);

    /* BER: indefinite outer length, and a non-minimal long form */
    ck_assert(d[0] == 0x30 && d[1] == 0x82);
    buf[0] = 0x30;
    buf[1] = 0x80;
    memcpy(buf + 2, d + 4, n - 4);
    buf[n - 2] = 0;
    buf[n - 1] = 0;
    ck_assert_int_eq(efirma_inspect(buf, n, NOW, &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_MALFORMED);
    ck_assert_msg(strstr(err, "indefinite") != NULL, "%s", err);
    buf[0] = 0x30;
    buf[1] = 0x83;
    buf[2] = 0;
    memcpy(buf + 3, d + 2, n - 2);
    ck_assert_int_eq(efirma_inspect(buf, n + 1, NOW, &info, err,
                                    sizeof(err)),
                     EFIRMA_CERTIFICATE_MALFORMED);
    ck_assert_msg(strstr(err, "non-minimal") != NULL, "%s", err);

    /* every single-byte corruption: refused or described, never a crash */
    for (i = 0; i < n; i++) {
        memcpy(buf, d, n);
        buf[i] ^= 0x5a;
        st = efirma_inspect(buf, n, NOW, &info, err, sizeof(err));
        ck_assert(st == EFIRMA_OK || st == EFIRMA_CERTIFICATE_MALFORMED
                  || st == EFIRMA_CERTIFICATE_SUBJECT_INVALID);
        ok += st == EFIRMA_OK;
    }
    /* inspect does not check the CA's signature: flips inside the key,
     * the signature or a name's text are still a certificate. */
    ck_assert_msg(ok < n, "%zu of %zu corruptions accepted", ok, n);
    free(buf);
    OPENSSL_free(d);
}
END_TEST

/* ---- login ---------------------------------------------------------------- */

static enum efirma_status
login(const struct spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
      struct efirma_trust *t, const char *signed_nonce, const char *nonce,
      struct efirma_info *info, char *err, size_t errlen)
{
    X509                *x = make_cert(s, key, issuer, ikey);
    unsigned char       *d, sig[EFIRMA_SIG_MAX];
    size_t               n, sl;
    enum efirma_status   st;

    d = der_of(x, &n);
    sl = raw_sign(key, signed_nonce, sig);
    st = efirma_verify_login(d, n, sig, sl, (const unsigned char *) nonce,
                             strlen(nonce), t, NOW, info, err, errlen);
    OPENSSL_free(d);
    X509_free(x);
    return st;
}

START_TEST(login_ok_and_failures)
{
    struct efirma_trust  *t = trust_of(ca_cert, NULL);
    struct efirma_trust  *empty = efirma_trust_new();
    struct efirma_info    info;
    struct spec           s;
    char                  err[512];
    const char           *nonce = "n-3q2+7w/Kx9";

    spec_default(&s, COMPANY_UID, COMPANY_SN);
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)), EFIRMA_OK);
    ck_assert_str_eq(info.rfc, "AAA010101AAA");
    ck_assert_str_eq(info.curp, "GODE561231HDFRRN00");

    /* signature over another nonce */
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, "other", nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_SIGNATURE_INVALID);
    ck_assert_str_eq(info.rfc, "AAA010101AAA");   /* who tried, for audit */
    ck_assert_str_eq(efirma_status_code(EFIRMA_SIGNATURE_INVALID),
                     "signature_invalid");
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, "",
                           &info, err, sizeof(err)), EFIRMA_NONCE_INVALID);
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, empty, nonce,
                           nonce, &info, err, sizeof(err)),
                     EFIRMA_TRUST_STORE_INVALID);

    /* expired, not yet valid */
    s.nb = -5 * YEAR;
    s.na = -DAY;
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_EXPIRED);
    ck_assert_str_eq(efirma_status_code(EFIRMA_CERTIFICATE_EXPIRED),
                     "certificate_expired");
    ck_assert_msg(strstr(err, "expired on") != NULL, "%s", err);
    ck_assert_int_eq(info.expired, 1);
    s.nb = DAY;
    s.na = 4 * YEAR;
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_NOT_YET_VALID);

    /* issued by a CA nobody configured, even under the same name */
    spec_default(&s, COMPANY_UID, COMPANY_SN);
    ck_assert_int_eq(login(&s, leaf_key, other_ca_cert, other_key, t, nonce,
                           nonce, &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_UNTRUSTED);
    ck_assert_str_eq(efirma_status_code(EFIRMA_CERTIFICATE_UNTRUSTED),
                     "certificate_untrusted");
    {
        X509 *forged = make_ca("AC UAT", other_key, NULL, NULL, -YEAR,
                               10 * YEAR);
        ck_assert_int_eq(login(&s, leaf_key, forged, other_key, t, nonce,
                               nonce, &info, err, sizeof(err)),
                         EFIRMA_CERTIFICATE_UNTRUSTED);
        X509_free(forged);
    }
    /* self-signed leaf */
    ck_assert_int_eq(login(&s, leaf_key, NULL, NULL, t, nonce, nonce, &info,
                           err, sizeof(err)), EFIRMA_CERTIFICATE_UNTRUSTED);

    /* keys and usages that cannot log in */
    ck_assert_int_eq(login(&s, small_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_KEY_UNSUPPORTED);
    ck_assert_int_eq(login(&s, ec_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_KEY_UNSUPPORTED);
    /* a CSD (invoice seal, with its branch as OU) is no e.firma */
    s.ou = "Sucursal 1";
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_USAGE_INVALID);
    ck_assert_int_eq(info.is_seal, 1);
    ck_assert_str_eq(info.branch, "Sucursal 1");
    ck_assert_msg(strstr(err, "CSD") != NULL, "%s", err);
    s.ou = NULL;
    s.key_usage = "critical,keyEncipherment";
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_USAGE_INVALID);
    /* a certificate without an RFC is no e.firma */
    spec_default(&s, NULL, PERSON_SN);
    ck_assert_int_eq(login(&s, leaf_key, ca_cert, ca_key, t, nonce, nonce,
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_SUBJECT_INVALID);

    efirma_trust_free(t);
    efirma_trust_free(empty);
}
END_TEST

START_TEST(login_bad_signature_bytes)
{
    struct efirma_trust  *t = trust_of(ca_cert, NULL);
    struct efirma_info    info;
    struct spec           s;
    unsigned char        *d, sig[EFIRMA_SIG_MAX];
    size_t                n, sl;
    char                  err[512];
    const unsigned char  *nonce = (const unsigned char *) "abc";

    spec_default(&s, PERSON_UID, PERSON_SN);
    d = leaf_der(&s, leaf_key, &n);
    sl = raw_sign(leaf_key, "abc", sig);
    ck_assert_int_eq(efirma_verify_login(d, n, sig, sl, nonce, 3, t, NOW,
                                         &info, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_int_eq(efirma_verify_login(d, n, sig, sl - 1, nonce, 3, t, NOW,
                                         &info, err, sizeof(err)),
                     EFIRMA_SIGNATURE_INVALID);
    ck_assert_int_eq(efirma_verify_login(d, n, NULL, 0, nonce, 3, t, NOW,
                                         &info, err, sizeof(err)),
                     EFIRMA_SIGNATURE_INVALID);
    sig[sl / 2] ^= 1;
    ck_assert_int_eq(efirma_verify_login(d, n, sig, sl, nonce, 3, t, NOW,
                                         &info, err, sizeof(err)),
                     EFIRMA_SIGNATURE_INVALID);
    /* a signature made by another key */
    sl = raw_sign(other_key, "abc", sig);
    ck_assert_int_eq(efirma_verify_login(d, n, sig, sl, nonce, 3, t, NOW,
                                         &info, err, sizeof(err)),
                     EFIRMA_SIGNATURE_INVALID);
    /* garbage certificate with a good signature */
    ck_assert_int_eq(efirma_verify_login(sig, sl, sig, sl, nonce, 3, t, NOW,
                                         NULL, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_MALFORMED);
    OPENSSL_free(d);
    efirma_trust_free(t);
}
END_TEST

START_TEST(login_chains)
{
    EVP_PKEY             *ik = EVP_RSA_gen(2048);
    X509                 *inter = make_ca("AC DEL SAT 5", ik, ca_cert, ca_key,
                                          -YEAR, 5 * YEAR);
    X509                 *old_ca = make_ca("AC VIEJA", other_key, NULL, NULL,
                                           -10 * YEAR, -YEAR);
    struct efirma_trust  *t;
    struct efirma_info    info;
    struct spec           s;
    char                  err[512];

    spec_default(&s, COMPANY_UID, COMPANY_SN);
    /* the issuing AC alone is enough: it is an anchor */
    t = trust_of(inter, NULL);
    ck_assert_int_eq(login(&s, leaf_key, inter, ik, t, "x", "x", &info, err,
                           sizeof(err)), EFIRMA_OK);
    efirma_trust_free(t);
    t = trust_of(ca_cert, inter);
    ck_assert_int_eq(login(&s, leaf_key, inter, ik, t, "x", "x", &info, err,
                           sizeof(err)), EFIRMA_OK);
    efirma_trust_free(t);
    /* the root alone is not: the client sends no intermediates */
    t = trust_of(ca_cert, NULL);
    ck_assert_int_eq(login(&s, leaf_key, inter, ik, t, "x", "x", &info, err,
                           sizeof(err)), EFIRMA_CERTIFICATE_UNTRUSTED);
    efirma_trust_free(t);
    /* an AC that has itself expired vouches for nothing */
    t = trust_of(old_ca, NULL);
    s.nb = -2 * YEAR;
    ck_assert_int_eq(login(&s, leaf_key, old_ca, other_key, t, "x", "x",
                           &info, err, sizeof(err)),
                     EFIRMA_CERTIFICATE_UNTRUSTED);
    efirma_trust_free(t);
    X509_free(inter);
    X509_free(old_ca);
    EVP_PKEY_free(ik);
}
END_TEST

/* ---- trust store files ---------------------------------------------------- */

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE  *f = fopen(path, "wb");

    ck_assert(f != NULL);
    ck_assert_int_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

START_TEST(trust_files)
{
    char                  dir[] = "/tmp/test_efirma.XXXXXX";
    char                  path[256], err[512];
    struct efirma_trust  *t = efirma_trust_new();
    unsigned char        *d;
    size_t                n;
    FILE                 *f;
    struct spec           s;
    X509                 *leaf;

    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/two.pem", dir);
    f = fopen(path, "w");
    PEM_write_X509(f, ca_cert);
    PEM_write_X509(f, other_ca_cert);
    fclose(f);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_int_eq(efirma_trust_count(t), 2);
    unlink(path);

    snprintf(path, sizeof(path), "%s/ca.cer", dir);
    d = der_of(ca_cert, &n);
    write_file(path, d, n);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_int_eq(efirma_trust_count(t), 3);
    /* DER with trailing garbage */
    d = OPENSSL_realloc(d, n + 1);
    d[n] = 'x';
    write_file(path, d, n + 1);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_TRUST_STORE_INVALID);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    OPENSSL_free(d);
    unlink(path);

    /* a leaf is not a CA */
    spec_default(&s, PERSON_UID, PERSON_SN);
    leaf = make_cert(&s, leaf_key, ca_cert, ca_key);
    snprintf(path, sizeof(path), "%s/leaf.pem", dir);
    f = fopen(path, "w");
    PEM_write_X509(f, leaf);
    fclose(f);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_TRUST_STORE_INVALID);
    ck_assert_msg(strstr(err, "not a CA") != NULL, "%s", err);
    unlink(path);
    X509_free(leaf);

    /* broken PEM, empty file, missing file */
    snprintf(path, sizeof(path), "%s/bad.pem", dir);
    write_file(path, "-----BEGIN CERTIFICATE-----\nAAAA\n", 33);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_TRUST_STORE_INVALID);
    write_file(path, "", 0);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_TRUST_STORE_INVALID);
    unlink(path);
    ck_assert_int_eq(efirma_trust_add_file(t, path, err, sizeof(err)),
                     EFIRMA_TRUST_STORE_INVALID);
    ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);
    ck_assert_int_eq(efirma_trust_count(t), 3);
    rmdir(dir);
    efirma_trust_free(t);
}
END_TEST

/* ---- signing with a .key ---------------------------------------------------- */

START_TEST(sign_with_key)
{
    struct efirma_trust  *t = trust_of(ca_cert, NULL);
    struct efirma_info    info;
    struct spec           s;
    unsigned char        *cer, *key, *aes, sig[EFIRMA_SIG_MAX], buf[8192];
    size_t                cn, kn, an, sl;
    char                  err[512];
    const unsigned char  *nonce = (const unsigned char *) "reto-123";
    PKCS8_PRIV_KEY_INFO  *plain;
    unsigned char        *pd = NULL;
    int                   pn;

    spec_default(&s, COMPANY_UID, COMPANY_SN);
    cer = leaf_der(&s, leaf_key, &cn);
    key = key_der(leaf_key, EVP_des_ede3_cbc(), NID_hmacWithSHA1,
                  "12345678a", &kn);

    ck_assert_int_eq(efirma_sign(key, kn, "12345678a", 9, cer, cn, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_OK);
    ck_assert_int_eq(sl, 256);
    ck_assert_int_eq(efirma_verify_login(cer, cn, sig, sl, nonce, 8, t, NOW,
                                         &info, err, sizeof(err)),
                     EFIRMA_OK);
    /* without the certificate check */
    ck_assert_int_eq(efirma_sign(key, kn, "12345678a", 9, NULL, 0, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_OK);

    /* wrong, empty and truncated passwords */
    ck_assert_int_eq(efirma_sign(key, kn, "12345678b", 9, cer, cn, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_PASSWORD_INCORRECT);
    ck_assert_int_eq(efirma_sign(key, kn, "", 0, cer, cn, nonce, 8, sig,
                                 sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_PASSWORD_INCORRECT);
    ck_assert_int_eq(efirma_sign(key, kn, "12345678a", 8, cer, cn, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_PASSWORD_INCORRECT);
    ck_assert_int_eq(sl, 0);

    /* AES-256-CBC with HMAC-SHA256, as newer tools write */
    aes = key_der(leaf_key, EVP_aes_256_cbc(), NID_hmacWithSHA256, "clave",
                  &an);
    ck_assert_int_eq(efirma_sign(aes, an, "clave", 5, cer, cn, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_OK);

    /* the key of another certificate */
    OPENSSL_free(aes);
    aes = key_der(other_key, EVP_des_ede3_cbc(), NID_hmacWithSHA1, "clave",
                  &an);
    ck_assert_int_eq(efirma_sign(aes, an, "clave", 5, cer, cn, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_MISMATCH);

    /* an EC key is not an e.firma key */
    OPENSSL_free(aes);
    aes = key_der(ec_key, EVP_des_ede3_cbc(), NID_hmacWithSHA1, "clave",
                  &an);
    ck_assert_int_eq(efirma_sign(aes, an, "clave", 5, NULL, 0, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_UNSUPPORTED);
    OPENSSL_free(aes);

    /* an unencrypted PKCS#8 */
    plain = EVP_PKEY2PKCS8(leaf_key);
    pn = i2d_PKCS8_PRIV_KEY_INFO(plain, &pd);
    ck_assert_int_eq(efirma_sign(pd, (size_t) pn, "x", 1, NULL, 0, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_MALFORMED);
    ck_assert_msg(strstr(err, "not encrypted") != NULL, "%s", err);
    OPENSSL_free(pd);
    PKCS8_PRIV_KEY_INFO_free(plain);

    /* truncated, trailing, garbage, empty nonce, small buffer */
    ck_assert_int_eq(efirma_sign(key, kn - 1, "12345678a", 9, NULL, 0, nonce,
                                 8, sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_MALFORMED);
    memcpy(buf, key, kn);
    buf[kn] = 0;
    ck_assert_int_eq(efirma_sign(buf, kn + 1, "12345678a", 9, NULL, 0,
                                 nonce, 8, sig, sizeof(sig), &sl, err,
                                 sizeof(err)), EFIRMA_KEY_MALFORMED);
    ck_assert_int_eq(efirma_sign(cer, cn, "12345678a", 9, NULL, 0, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_MALFORMED);
    ck_assert_int_eq(efirma_sign(NULL, 0, "12345678a", 9, NULL, 0, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_MALFORMED);
    ck_assert_int_eq(efirma_sign(key, kn, "12345678a", 9, NULL, 0, nonce, 0,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_NONCE_INVALID);
    ck_assert_int_eq(efirma_sign(key, kn, "12345678a", 9, NULL, 0, nonce, 8,
                                 sig, 100, &sl, err, sizeof(err)),
                     EFIRMA_INTERNAL_ERROR);
    /* a corrupted ciphertext is a wrong password or a damaged file */
    memcpy(buf, key, kn);
    buf[kn - 9] ^= 0xff;     /* the padding's last byte, via CBC */
    ck_assert_int_eq(efirma_sign(buf, kn, "12345678a", 9, NULL, 0, nonce, 8,
                                 sig, sizeof(sig), &sl, err, sizeof(err)),
                     EFIRMA_KEY_PASSWORD_INCORRECT);

    OPENSSL_free(cer);
    OPENSSL_free(key);
    efirma_trust_free(t);
}
END_TEST

/* ---- huellactl efirma-sign / efirma-inspect ------------------------------ */

/* Run a ctl_* entry point with stdout captured into `out`. */
static int
run_ctl(int (*fn)(int, char **), char **argv, char *out, size_t cap)
{
    char    path[] = "/tmp/test_efirma_out.XXXXXX";
    int     fd = mkstemp(path), saved, rc, argc = 0;
    ssize_t n;

    need(fd >= 0);
    while (argv[argc] != NULL) argc++;
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    rc = fn(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

START_TEST(cli_sign_and_inspect)
{
    char                  dir[] = "/tmp/test_efirma_cli.XXXXXX";
    char                  cer[256], key[256], pw[256], out[8192];
    unsigned char        *cd, *kd, sig[EFIRMA_SIG_MAX], dcert[4096];
    size_t                cn, kn;
    int                   sl, dl;
    struct spec           s;
    struct efirma_trust  *t = trust_of(ca_cert, NULL);
    json_t               *j;
    json_error_t          je;
    char                  err[256];

    ck_assert(mkdtemp(dir) != NULL);
    snprintf(cer, sizeof(cer), "%s/firma.cer", dir);
    snprintf(key, sizeof(key), "%s/firma.key", dir);
    snprintf(pw, sizeof(pw), "%s/password.txt", dir);
    spec_default(&s, COMPANY_UID, COMPANY_SN);
    s.na = 10 * YEAR;       /* inspect uses the real clock */
    cd = leaf_der(&s, leaf_key, &cn);
    kd = key_der(leaf_key, EVP_des_ede3_cbc(), NID_hmacWithSHA1, "s3creto",
                 &kn);
    write_file(cer, cd, cn);
    write_file(key, kd, kn);
    write_file(pw, "s3creto\r\n", 9);

    {
        char *argv[] = { "efirma-sign", "--cer", cer, "--key", key,
                         "--password-file", pw, "--nonce", "Zx9-q_7", NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_sign, argv, out, sizeof(out)),
                         0);
    }
    j = json_loads(out, 0, &je);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "nonce")),
                     "Zx9-q_7");
    sl = EVP_DecodeBlock(sig, (const unsigned char *) json_string_value(
                         json_object_get(j, "signature")), 344);
    ck_assert_int_eq(sl, 258);          /* 256 bytes + 2 of padding */
    dl = EVP_DecodeBlock(dcert, (const unsigned char *) json_string_value(
                         json_object_get(j, "certificate")),
                         (int) strlen(json_string_value(
                         json_object_get(j, "certificate")))) ;
    ck_assert(dl >= (int) cn && memcmp(dcert, cd, cn) == 0);
    ck_assert_int_eq(efirma_verify_login(cd, cn, sig, 256,
                                         (const unsigned char *) "Zx9-q_7",
                                         7, t, NOW, NULL, err, sizeof(err)),
                     EFIRMA_OK);
    json_decref(j);

    {
        char *argv[] = { "efirma-inspect", cer, NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_inspect, argv, out, sizeof(out)),
                         0);
    }
    j = json_loads(out, 0, &je);
    ck_assert_msg(j != NULL, "%s", out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "rfc")),
                     "AAA010101AAA");
    ck_assert_str_eq(json_string_value(json_object_get(j,
                     "representative_rfc")), "GODE561231GR8");
    ck_assert_str_eq(json_string_value(json_object_get(j, "curp")),
                     "GODE561231HDFRRN00");
    ck_assert(json_is_false(json_object_get(j, "expired")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "efirma");
    ck_assert(json_string_value(json_object_get(j, "issuer")) != NULL);
    json_decref(j);

    /* failures: wrong password, missing option, bad nonce, not a .cer */
    write_file(pw, "otro\n", 5);
    {
        char *argv[] = { "efirma-sign", "--cer", cer, "--key", key,
                         "--password-file", pw, "--nonce", "n", NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_sign, argv, out, sizeof(out)),
                         1);
        ck_assert_str_eq(out, "");
    }
    {
        char *argv[] = { "efirma-sign", "--cer", cer, "--key", key, NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_sign, argv, out, sizeof(out)),
                         2);
    }
    {
        char *argv[] = { "efirma-sign", "--cer", cer, "--key", key,
                         "--password-file", pw, "--nonce", "a b", NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_sign, argv, out, sizeof(out)),
                         2);
    }
    {
        char *argv[] = { "efirma-inspect", key, NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_inspect, argv, out, sizeof(out)),
                         1);
    }
    {
        char *argv[] = { "efirma-inspect", "/nonexistent.cer", NULL };
        ck_assert_int_eq(run_ctl(ctl_efirma_inspect, argv, out, sizeof(out)),
                         1);
    }
    unlink(cer);
    unlink(key);
    unlink(pw);
    rmdir(dir);
    OPENSSL_free(cd);
    OPENSSL_free(kd);
    efirma_trust_free(t);
}
END_TEST

/* ---- one trust store, many threads ---------------------------------------- */

struct login_job {
    const unsigned char        *cert, *sig;
    size_t                      cert_len, sig_len;
    const struct efirma_trust  *trust;
    int                         ok;
};

static void *
login_worker(void *arg)
{
    struct login_job    *j = arg;
    struct efirma_info   info;
    char                 err[256];
    int                  i;

    for (i = 0; i < 25; i++) {
        j->ok += efirma_verify_login(j->cert, j->cert_len, j->sig, j->sig_len,
                                     (const unsigned char *) "hilo", 4,
                                     j->trust, NOW, &info, err, sizeof(err))
                 == EFIRMA_OK && strcmp(info.rfc, "AAA010101AAA") == 0;
    }
    return NULL;
}

START_TEST(login_threads)
{
    struct efirma_trust  *t = trust_of(ca_cert, NULL);
    struct login_job      jobs[4];
    pthread_t             th[4];
    struct spec           s;
    unsigned char        *d, sig[EFIRMA_SIG_MAX];
    size_t                n, sl;
    int                   i;

    spec_default(&s, COMPANY_UID, COMPANY_SN);
    d = leaf_der(&s, leaf_key, &n);
    sl = raw_sign(leaf_key, "hilo", sig);
    for (i = 0; i < 4; i++) {
        jobs[i] = (struct login_job) { d, sig, n, sl, t, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, login_worker,
                                        &jobs[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(jobs[i].ok, 25);
    }
    OPENSSL_free(d);
    efirma_trust_free(t);
}
END_TEST

START_TEST(status_codes)
{
    int  i;

    for (i = EFIRMA_OK; i <= EFIRMA_INTERNAL_ERROR; i++) {
        const char *c = efirma_status_code((enum efirma_status) i);
        ck_assert(c != NULL && c[0] != '\0');
    }
    ck_assert_str_eq(efirma_status_code(EFIRMA_CERTIFICATE_NOT_YET_VALID),
                     "certificate_not_yet_valid");
    ck_assert_str_eq(efirma_status_code((enum efirma_status) 999),
                     "internal_error");
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("efirma");
    TCase    *tc = tcase_create("efirma");
    SRunner  *sr;
    int       failed;

    ca_key = EVP_RSA_gen(2048);
    leaf_key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    small_key = EVP_RSA_gen(1024);
    ec_key = EVP_EC_gen("P-256");
    if (!ca_key || !leaf_key || !other_key || !small_key || !ec_key) {
        fprintf(stderr, "key generation failed\n");
        return 1;
    }
    ca_cert = make_ca("AC UAT", ca_key, NULL, NULL, -YEAR, 10 * YEAR);
    other_ca_cert = make_ca("AC OTRA", other_key, NULL, NULL, -YEAR,
                            10 * YEAR);

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, inspect_company);
    tcase_add_test(tc, inspect_person_and_expiry);
    tcase_add_test(tc, inspect_subject_variants);
    tcase_add_test(tc, inspect_bad_subject);
    tcase_add_test(tc, inspect_bad_fields);
    tcase_add_test(tc, inspect_bad_time);
    tcase_add_test(tc, inspect_bad_encoding);
    tcase_add_test(tc, login_ok_and_failures);
    tcase_add_test(tc, login_bad_signature_bytes);
    tcase_add_test(tc, login_chains);
    tcase_add_test(tc, trust_files);
    tcase_add_test(tc, sign_with_key);
    tcase_add_test(tc, cli_sign_and_inspect);
    tcase_add_test(tc, login_threads);
    tcase_add_test(tc, status_codes);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    X509_free(ca_cert);
    X509_free(other_ca_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(small_key);
    EVP_PKEY_free(ec_key);
    return failed == 0 ? 0 : 1;
}
