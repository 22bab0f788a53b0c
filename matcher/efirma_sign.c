/*
 * efirma_sign.c -- signing a login challenge with an e.firma .key.
 *
 * Owns the decryption of the tax authority's encrypted PKCS#8 key files
 * (PBES2 with PBKDF2 and des-ede3-cbc, or AES) and RSA PKCS#1 v1.5
 * SHA-256 signing.  Used by `huellactl efirma-sign` and the tests; the
 * server never sees a .key: browsers sign on the user's machine.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "efirma.h"
#include "efirma_internal.h"


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
    st = efirma_der_exact(key_der, key_len, "key", EFIRMA_KEY_MALFORMED, err,
                          errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (key_len > EFIRMA_FILE_MAX || password_len > 0x7fffffff) {
        return efirma_fail(EFIRMA_KEY_MALFORMED, err, errlen,
                           "key is too large");
    }
    p8 = d2i_X509_SIG(NULL, &p, (long) key_len);
    if (p8 == NULL || p != key_der + key_len) {
        X509_SIG_free(p8);
        p = key_der;
        plain = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long) key_len);
        PKCS8_PRIV_KEY_INFO_free(plain);
        return efirma_fail(EFIRMA_KEY_MALFORMED, err, errlen, plain != NULL
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
            return efirma_fail(EFIRMA_KEY_UNSUPPORTED, err, errlen,
                               "key encryption %s is not supported (PBES2 is)",
                               OBJ_nid2sn(scheme));
        }
        return efirma_fail(EFIRMA_KEY_PASSWORD_INCORRECT, err, errlen,
                           "wrong password for the key (or a damaged .key "
                           "file)");
    }
    *out = EVP_PKCS82PKEY(inf);
    PKCS8_PRIV_KEY_INFO_free(inf);
    if (*out == NULL) {
        /* CBC padding can check out by chance under a wrong password;
         * the key inside then fails to parse. */
        return efirma_fail(EFIRMA_KEY_PASSWORD_INCORRECT, err, errlen,
                           "wrong password for the key (or a damaged .key "
                           "file)");
    }
    if (EVP_PKEY_get_base_id(*out) != EVP_PKEY_RSA) {
        EVP_PKEY_free(*out);
        *out = NULL;
        return efirma_fail(EFIRMA_KEY_UNSUPPORTED, err, errlen,
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
        return efirma_fail(EFIRMA_NONCE_INVALID, err, errlen,
                           "nonce must be 1 to %d bytes", EFIRMA_NONCE_MAX);
    }
    st = decrypt_key(key_der, key_len, password, password_len, &key, err,
                     errlen);
    if (st != EFIRMA_OK) {
        return st;
    }
    if (cert_der != NULL) {
        st = efirma_parse_certificate(cert_der, cert_len, time(NULL), &x, &info,
                                      err, errlen);
        if (st != EFIRMA_OK) {
            EVP_PKEY_free(key);
            return st;
        }
        if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1) {
            X509_free(x);
            EVP_PKEY_free(key);
            return efirma_fail(EFIRMA_KEY_MISMATCH, err, errlen,
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
        st = efirma_fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                         "cannot set up RSA-SHA256 signing: %s",
                         efirma_openssl_reason());
    } else if (need > sig_cap) {
        st = efirma_fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                         "signature needs %zu bytes, buffer has %zu",
                         need, sig_cap);
    } else if (EVP_DigestSign(md, sig, &need, msg, msg_len) != 1) {
        st = efirma_fail(EFIRMA_INTERNAL_ERROR, err, errlen,
                         "signing failed: %s",
                         efirma_openssl_reason());
    } else {
        *sig_len = need;
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return st;
}
