/*
 * enroll_harness.h -- what test_devices.c and test_enrollment.c share: a
 * real huellad (testd.h) with a receipt key and an outbox, request building, reply reading, device keys made with
 * OpenSSL and RFC 9421-style signatures over a signature base.
 * Header-only on purpose: each test program is a single translation unit.
 */

#ifndef HUELLA_ENROLL_HARNESS_H
#define HUELLA_ENROLL_HARNESS_H

#include <check.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "huella_ipc.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"
#include "testd.h"
#include "testd_calls.h"

/* Not every test uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define RFC_E    "AAA010101AAA"
#define RFC_O    "XAXX010101000"

static char    key_path[128];

static void
configure(struct hd_config *cfg)
{
    snprintf(cfg->identity.registry_file, PATH_MAX, "config/registry.tsv");
    snprintf(cfg->identity.outbox_dir, PATH_MAX, "%s/outbox", dir);
    snprintf(cfg->enroll.receipt_key_file, PATH_MAX, "%s", key_path);
}

static void
start_server(void)
{
    testd_fork(configure);
    cl = testd_connect(300);
}

static void
setup(void)
{
    testd_mkdir("/tmp/huella-enr-XXXXXX");
    snprintf(key_path, sizeof(key_path), "%s/keys/receipt-es256.pem", dir);
    start_server();
}

static void
teardown(void)
{
    kill_server();
    testd_rmdir();
}


static int
rep_has(const char *needle)
{
    return memmem(rep, rep_len, needle, strlen(needle)) != NULL;
}

#define expect(st, code)  expect_at(__LINE__, st, code)

static void
expect_at(int line, int st, const char *code)
{
    char  msg[512] = "";
    const uint8_t  *d;
    uint32_t        n;

    if (hipc_find(rep, rep_len, HIPC_F_MESSAGE, &d, &n) == 1 && n < 500) {
        memcpy(msg, d, n);
        msg[n] = '\0';
    }
    ck_assert_msg(status == st, "line %d: status %d, want %d (%s)", line,
        status, st, msg);
    if (code) {
        ck_assert_msg(rep_eq(HIPC_F_ERR_CODE, code), "line %d: want code "
            "%s (%s)", line, code, msg);
    }
}

/* ---- device keys ---------------------------------------------------------- */

static EVP_PKEY *
key_new(const char *kind)
{
    EVP_PKEY  *k = NULL;

    if (strcmp(kind, "ed25519") == 0) {
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

        ck_assert(c && EVP_PKEY_keygen_init(c) == 1
            && EVP_PKEY_keygen(c, &k) == 1);
        EVP_PKEY_CTX_free(c);
    } else if (strcmp(kind, "rsa") == 0) {
        k = EVP_RSA_gen(2048);
    } else {
        k = EVP_EC_gen(kind);   /* "P-256", "P-384" */
    }
    ck_assert_ptr_nonnull(k);
    return k;
}

static void
key_pem(EVP_PKEY *k, int private, char *out, size_t cap)
{
    BIO   *b = BIO_new(BIO_s_mem());
    char  *mem;
    long   n;

    ck_assert(private ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL,
        NULL) == 1 : PEM_write_bio_PUBKEY(b, k) == 1);
    n = BIO_get_mem_data(b, &mem);
    ck_assert(n > 0 && (size_t) n < cap);
    memcpy(out, mem, (size_t) n);
    out[n] = '\0';
    BIO_free(b);
}

/* The RFC 9421 signature value: r||s for P-256, raw for Ed25519. */
static size_t
sign_base(EVP_PKEY *k, const char *base, uint8_t sig[64])
{
    EVP_MD_CTX     *c = EVP_MD_CTX_new();
    uint8_t         der[80];
    size_t          n = sizeof(der);
    const uint8_t  *p = der;
    ECDSA_SIG      *es;
    const BIGNUM   *r, *sv;

    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519) {
        n = 64;
        ck_assert(EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1
            && EVP_DigestSign(c, sig, &n, (const uint8_t *) base,
                strlen(base)) == 1);
        EVP_MD_CTX_free(c);
        return n;
    }
    ck_assert(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k) == 1
        && EVP_DigestSign(c, der, &n, (const uint8_t *) base, strlen(base))
           == 1);
    es = d2i_ECDSA_SIG(NULL, &p, (long) n);
    ck_assert_ptr_nonnull(es);
    ECDSA_SIG_get0(es, &r, &sv);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(sv, sig + 32, 32);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(c);
    return 64;
}

/* Registers a device; returns the status, the id in id_out. */
static int
register_device(EVP_PKEY *k, const char *rfc, const char *purpose,
    char *id_out, size_t cap)
{
    char  pem[4096];

    key_pem(k, 0, pem, sizeof(pem));
    begin();
    s(HIPC_F_RFC, rfc);
    s(HIPC_F_PUBLIC_KEY, pem);
    s(HIPC_F_MAKE, "Acme Biometrics");
    s(HIPC_F_MODEL, "FP-500");
    s(HIPC_F_SERIAL, "SN-0001");
    s(HIPC_F_PURPOSE, purpose);
    s(HIPC_F_ACTOR, "GODE561231GR8");
    call(HIPC_OP_DEVICE_REGISTER);
    if (status == HIPC_ST_OK && id_out) {
        rep_str(HIPC_F_DEVICE_ID, id_out, cap);
    }
    return status;
}

static int
set_status(const char *id, const char *state, const char *rfc)
{
    begin();
    s(HIPC_F_DEVICE_ID, id);
    s(HIPC_F_STATE, state);
    s(HIPC_F_ACTOR, "admin");
    if (rfc) {
        s(HIPC_F_RFC, rfc);
    }
    return call(HIPC_OP_DEVICE_SET_STATUS);
}

#endif /* HUELLA_ENROLL_HARNESS_H */
