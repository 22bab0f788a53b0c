/*
 * test_devices.c -- registered capture devices through a real huellad:
 * registration with strictly parsed keys (RSA, P-384, garbage, a private
 * key and a key already registered are refused), status changes (revoked
 * is final, an employer acts only on its own devices), the listing, and
 * DEVICE_VERIFY's every rejection code with real ES256 and Ed25519
 * signatures made here.
 */

#include "enroll_harness.h"

#define BASE "\"@method\": POST\n\"@path\": /api/v1/subjects/X/enrollment\n" \
    "\"content-digest\": sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\n" \
    "\"@signature-params\": (\"@method\" \"@path\" \"content-digest\")" \
    ";created=1700000000;keyid=\"dev\";nonce=\"abc\""

static int
verify(const char *id, const char *purpose, const char *base,
    const uint8_t *sig, size_t sig_len)
{
    begin();
    s(HIPC_F_DEVICE_ID, id);
    hipc_put(&rw, HIPC_F_SIG_BASE, base, strlen(base));
    hipc_put(&rw, HIPC_F_SIGNATURE, sig, sig_len);
    s(HIPC_F_PURPOSE, purpose);
    return call(HIPC_OP_DEVICE_VERIFY);
}

START_TEST(test_register_keys)
{
    EVP_PKEY  *ec = key_new("P-256"), *ed = key_new("ed25519");
    EVP_PKEY  *rsa = key_new("rsa"), *p384 = key_new("P-384");
    char       id[64], pem[8192], folio[64];

    ck_assert_int_eq(register_device(ec, RFC_E, "enrollment", id,
        sizeof(id)), HIPC_ST_OK);
    ck_assert(strncmp(id, "dev_", 4) == 0 && strlen(id) == 20);
    ck_assert(rep_eq(HIPC_F_KEY_ALG, "ES256"));
    rep_str(HIPC_F_FOLIO, folio, sizeof(folio));
    ck_assert(strncmp(folio, "HUE-", 4) == 0);
    ck_assert(rep_has("eyJ"));       /* a JWS receipt */
    ck_assert_int_eq(register_device(ed, RFC_E, "kiosk", id, sizeof(id)),
        HIPC_ST_OK);
    ck_assert(rep_eq(HIPC_F_KEY_ALG, "Ed25519"));

    register_device(rsa, RFC_E, "kiosk", NULL, 0);
    expect(HIPC_ST_INVALID, "unsupported_key_type");
    ck_assert(rep_eq(HIPC_F_FIELD, "public_key_pem"));
    register_device(p384, RFC_E, "kiosk", NULL, 0);
    expect(HIPC_ST_INVALID, "unsupported_key_type");
    register_device(ec, RFC_E, "kiosk", NULL, 0);
    expect(HIPC_ST_CONFLICT, "device_key_registered");
    {
        EVP_PKEY  *other = key_new("P-256");

        register_device(other, RFC_E, "office", NULL, 0);
        expect(HIPC_ST_INVALID, "invalid_purpose");
        EVP_PKEY_free(other);
    }

    /* A private key, garbage, and two blocks. */
    key_pem(ec, 1, pem, sizeof(pem));
    begin();
    s(HIPC_F_RFC, RFC_E);
    s(HIPC_F_PUBLIC_KEY, pem);
    s(HIPC_F_MAKE, "m");
    s(HIPC_F_MODEL, "m");
    s(HIPC_F_SERIAL, "s");
    s(HIPC_F_PURPOSE, "kiosk");
    s(HIPC_F_ACTOR, "a");
    call(HIPC_OP_DEVICE_REGISTER);
    expect(HIPC_ST_INVALID, "invalid_public_key");
    begin();
    s(HIPC_F_RFC, RFC_E);
    s(HIPC_F_PUBLIC_KEY, "-----BEGIN PUBLIC KEY-----\nAAAA\n"
        "-----END PUBLIC KEY-----\n");
    s(HIPC_F_MAKE, "m");
    s(HIPC_F_MODEL, "m");
    s(HIPC_F_SERIAL, "s");
    s(HIPC_F_PURPOSE, "kiosk");
    s(HIPC_F_ACTOR, "a");
    call(HIPC_OP_DEVICE_REGISTER);
    expect(HIPC_ST_INVALID, "invalid_public_key");
    key_pem(ed, 0, pem, sizeof(pem));
    memmove(pem + strlen(pem), pem, strlen(pem) + 1);  /* two blocks */
    begin();
    s(HIPC_F_RFC, RFC_E);
    s(HIPC_F_PUBLIC_KEY, pem);
    s(HIPC_F_MAKE, "m");
    s(HIPC_F_MODEL, "m");
    s(HIPC_F_SERIAL, "s");
    s(HIPC_F_PURPOSE, "kiosk");
    s(HIPC_F_ACTOR, "a");
    call(HIPC_OP_DEVICE_REGISTER);
    expect(HIPC_ST_INVALID, "invalid_public_key");
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p384);
}
END_TEST

static void
verify_codes(const char *kind)
{
    EVP_PKEY  *k = key_new(kind);
    char       id[64];
    uint8_t    sig[64];
    size_t     n;

    ck_assert_int_eq(register_device(k, RFC_E, "kiosk", id, sizeof(id)),
        HIPC_ST_OK);
    n = sign_base(k, BASE, sig);
    ck_assert_int_eq(verify(id, "kiosk", BASE, sig, n), HIPC_ST_OK);
    ck_assert(rep_eq(HIPC_F_RFC, RFC_E));
    ck_assert(rep_eq(HIPC_F_PURPOSE, "kiosk"));
    verify(id, "enrollment", BASE, sig, n);
    expect(HIPC_ST_UNAUTHORIZED, "device_purpose_mismatch");
    verify(id, "kiosk", BASE "x", sig, n);              /* tampered base */
    expect(HIPC_ST_UNAUTHORIZED, "signature_invalid");
    sig[5] ^= 1;
    verify(id, "kiosk", BASE, sig, n);
    expect(HIPC_ST_UNAUTHORIZED, "signature_invalid");
    sig[5] ^= 1;
    verify(id, "kiosk", BASE, sig, 63);
    expect(HIPC_ST_UNAUTHORIZED, "signature_invalid");
    verify("dev_0000000000000000", "kiosk", BASE, sig, n);
    expect(HIPC_ST_UNAUTHORIZED, "device_unknown");

    ck_assert_int_eq(set_status(id, "suspended", RFC_O), HIPC_ST_FORBIDDEN);
    ck_assert(rep_eq(HIPC_F_ERR_CODE, "device_not_owned"));
    ck_assert_int_eq(set_status(id, "suspended", RFC_E), HIPC_ST_OK);
    verify(id, "kiosk", BASE, sig, n);
    expect(HIPC_ST_UNAUTHORIZED, "device_suspended");
    ck_assert_int_eq(set_status(id, "active", NULL), HIPC_ST_OK);
    ck_assert_int_eq(verify(id, "kiosk", BASE, sig, n), HIPC_ST_OK);
    ck_assert_int_eq(set_status(id, "revoked", NULL), HIPC_ST_OK);
    verify(id, "kiosk", BASE, sig, n);
    expect(HIPC_ST_UNAUTHORIZED, "device_revoked");
    set_status(id, "active", NULL);
    expect(HIPC_ST_CONFLICT, "device_revoked");
    set_status(id, "paused", NULL);
    expect(HIPC_ST_INVALID, "invalid_status");
    set_status("dev_ffffffffffffffff", "active", NULL);
    expect(HIPC_ST_NOT_FOUND, "device_not_found");
    EVP_PKEY_free(k);
}

START_TEST(test_verify_es256)
{
    verify_codes("P-256");
}
END_TEST

START_TEST(test_verify_ed25519)
{
    verify_codes("ed25519");
}
END_TEST

START_TEST(test_list_and_last_used)
{
    EVP_PKEY  *a = key_new("P-256"), *b = key_new("ed25519");
    char       ida[64], idb[64];
    uint8_t    sig[64];
    size_t     n;

    register_device(a, RFC_E, "kiosk", ida, sizeof(ida));
    register_device(b, RFC_O, "enrollment", idb, sizeof(idb));
    n = sign_base(a, BASE, sig);
    ck_assert_int_eq(verify(ida, "kiosk", BASE, sig, n), HIPC_ST_OK);
    begin();
    s(HIPC_F_RFC, RFC_E);
    ck_assert_int_eq(call(HIPC_OP_DEVICE_LIST), HIPC_ST_OK);
    ck_assert(rep_has(ida) && !rep_has(idb));
    ck_assert(rep_has("\"status\":\"active\""));
    ck_assert(!rep_has("\"last_used\":null"));
    begin();
    ck_assert_int_eq(call(HIPC_OP_DEVICE_LIST), HIPC_ST_OK);
    ck_assert(rep_has(ida) && rep_has(idb));
    ck_assert(rep_has("\"last_used\":null"));      /* b never used */
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}
END_TEST

static Suite *
suite(void)
{
    Suite  *su = suite_create("devices");
    TCase  *tc = tcase_create("devices");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_register_keys);
    tcase_add_test(tc, test_verify_es256);
    tcase_add_test(tc, test_verify_ed25519);
    tcase_add_test(tc, test_list_and_last_used);
    suite_add_tcase(su, tc);
    return su;
}

int
main(void)
{
    SRunner  *sr = srunner_create(suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
