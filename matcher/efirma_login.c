/*
 * efirma_login.c -- the configured trusted ACs and the e.firma login check.
 *
 * Owns the trust store (an X509_STORE in which every configured AC is an
 * anchor) and efirma_verify_login(): key type and size, key usage,
 * validity period, chain, then the RSA-SHA256 signature over the nonce.
 * The store is read-only once loaded, so worker threads share it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "efirma.h"
#include "efirma_internal.h"

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
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "%s is not a CA certificate", what);
    }
    if (X509_STORE_add_cert(trust->store, x) != 1) {
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "%s cannot be added: %s",
                           what, efirma_openssl_reason());
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
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "no trust store");
    }
    st = efirma_der_exact(der, len, "CA certificate",
                          EFIRMA_TRUST_STORE_INVALID,
                          err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    x = d2i_X509(NULL, &p, (long) len);
    if (x == NULL || p != der + len) {
        X509_free(x);
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "CA certificate is not X.509: %s",
                           efirma_openssl_reason());
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
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "no trust store");
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "%s: cannot open: %m", path);
    }
    buf = malloc(EFIRMA_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return efirma_fail(EFIRMA_INTERNAL_ERROR, err, errlen, "out of memory");
    }
    len = fread(buf, 1, EFIRMA_FILE_MAX + 1, f);
    fclose(f);
    if (len > EFIRMA_FILE_MAX) {
        free(buf);
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
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
            st = efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                             "%s: unreadable PEM after %d certificate(s): %s",
                             path, n,
                             e != 0 ? efirma_openssl_reason() : "none found");
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

/* ---- login ------------------------------------------------------------- */

static enum efirma_status
check_login_key(X509 *x, char *err, size_t errlen)
{
    EVP_PKEY  *pkey = X509_get0_pubkey(x);
    int        bits;

    if (pkey == NULL) {
        return efirma_fail(EFIRMA_CERTIFICATE_MALFORMED, err, errlen,
                           "certificate public key is unreadable");
    }
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        return efirma_fail(EFIRMA_CERTIFICATE_KEY_UNSUPPORTED, err, errlen,
                           "certificate key is %s; e.firma keys are RSA",
                           OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
    }
    bits = EVP_PKEY_get_bits(pkey);
    if (bits < EFIRMA_MIN_RSA_BITS) {
        return efirma_fail(EFIRMA_CERTIFICATE_KEY_UNSUPPORTED, err, errlen,
                           "certificate key has %d bits, at least %d required",
                           bits, EFIRMA_MIN_RSA_BITS);
    }
    if (X509_check_ca(x) != 0
        && (X509_get_extension_flags(x) & EXFLAG_CA))
    {
        return efirma_fail(EFIRMA_CERTIFICATE_USAGE_INVALID, err, errlen,
                           "a CA certificate cannot be used to log in");
    }
    if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE)
        && !(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE))
    {
        return efirma_fail(EFIRMA_CERTIFICATE_USAGE_INVALID, err, errlen,
                           "certificate keyUsage does not allow "
                           "digitalSignature");
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
        return efirma_fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                           "cannot set up chain verification");
    }
    vp = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(vp, now);
    X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
    if (X509_verify_cert(ctx) != 1) {
        code = X509_STORE_CTX_get_error(ctx);
        st = efirma_fail(EFIRMA_CERTIFICATE_UNTRUSTED, err, errlen,
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
        return efirma_fail(EFIRMA_SIGNATURE_INVALID, err, errlen,
                           "signature is empty");
    }
    if (sig_len != (size_t) EVP_PKEY_get_size(pkey)) {
        return efirma_fail(EFIRMA_SIGNATURE_INVALID, err, errlen,
                           "signature is %zu bytes, the certificate's key "
                           "makes "
                           "%d-byte signatures",
                           sig_len, EVP_PKEY_get_size(pkey));
    }
    md = EVP_MD_CTX_new();
    if (md == NULL
        || EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey,
                                   NULL) != 1
        || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
    {
        EVP_MD_CTX_free(md);
        return efirma_fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                           "cannot set up RSA-SHA256 verification: %s",
                           efirma_openssl_reason());
    }
    ok = EVP_DigestVerify(md, sig, sig_len, msg, msg_len);
    EVP_MD_CTX_free(md);
    if (ok != 1) {
        return efirma_fail(EFIRMA_SIGNATURE_INVALID, err, errlen,
                           "signature does not verify with the certificate's "
                           "key "
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
        return efirma_fail(EFIRMA_NONCE_INVALID, err, errlen,
                           "nonce must be 1 to %d bytes", EFIRMA_NONCE_MAX);
    }
    if (trust == NULL || trust->count == 0) {
        return efirma_fail(EFIRMA_TRUST_STORE_INVALID, err, errlen,
                           "no trusted CA certificates are configured");
    }
    st = efirma_parse_certificate(cert_der, cert_len, now, &x, in, err, errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    st = check_login_key(x, err, errlen);
    if (st == EFIRMA_OK && in->is_seal) {
        st = efirma_fail(EFIRMA_CERTIFICATE_USAGE_INVALID, err, errlen,
                         "this is a seal certificate (CSD, branch '%s') for "
                         "invoices; sign in with the e.firma", in->branch);
    }
    if (st == EFIRMA_OK && in->not_yet_valid) {
        st = efirma_fail(EFIRMA_CERTIFICATE_NOT_YET_VALID, err, errlen,
                         "certificate is valid only from %s", in->not_before);
    }
    if (st == EFIRMA_OK && in->expired) {
        st = efirma_fail(EFIRMA_CERTIFICATE_EXPIRED, err, errlen,
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
