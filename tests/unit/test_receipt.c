/*
 * test_receipt.c -- the receipt key and its encodings without a daemon:
 * the key file is generated once (mode 0600) and reloaded with the same
 * kid; the JWK set's key is the file's key; base64url is strict.  Whole
 * receipts are signed and verified (also by the openssl CLI and through
 * JWKS) in test_enrollment.c.
 */

#include <check.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "receipt.h"

START_TEST(test_key_file_and_jwks)
{
    char         dir[] = "/tmp/huella-rcpt-XXXXXX", path[128], err[256];
    char        *a, *b, cmd[160];
    struct stat  st;
    json_t      *set;
    EVP_PKEY    *k, *f;
    FILE        *fp;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/var/keys/r.pem", dir);
    umask(022);
    ck_assert_msg(receipt_init(path, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* the key's directory is private, the run directory above it stays
     * open to nginx's unprivileged workers (var/huellad.sock) */
    snprintf(cmd, sizeof(cmd), "%s/var/keys", dir);
    ck_assert_int_eq(stat(cmd, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    snprintf(cmd, sizeof(cmd), "%s/var", dir);
    ck_assert_int_eq(stat(cmd, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0755);
    a = receipt_jwks();
    ck_assert_msg(receipt_init(path, err, sizeof(err)) == 0, "%s", err);
    b = receipt_jwks();
    ck_assert_str_eq(a, b);                    /* same key, same kid */
    set = json_loads(a, 0, NULL);
    k = receipt_key_from_jwk(json_array_get(json_object_get(set, "keys"), 0),
        err, sizeof(err));
    ck_assert_msg(k != NULL, "%s", err);
    fp = fopen(path, "r");
    f = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    ck_assert_int_eq(EVP_PKEY_eq(k, f), 1);
    EVP_PKEY_free(k);
    EVP_PKEY_free(f);
    json_decref(set);
    free(a);
    free(b);
    /* not a P-256 key: refused at start */
    fp = fopen(path, "w");
    fputs("not a key\n", fp);
    fclose(fp);
    ck_assert_int_ne(receipt_init(path, err, sizeof(err)), 0);
    ck_assert(strstr(err, "P-256") != NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_b64url)
{
    const uint8_t  in[] = { 0xfb, 0xff, 0x00, 0x10, 0x3e };
    char           out[16];
    uint8_t        back[8];
    size_t         n = b64url_encode(in, sizeof(in), out);

    ck_assert_str_eq(out, "-_8AED4");
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(b64url_decode(out, n, back, sizeof(back)), 5);
    ck_assert_int_eq(memcmp(back, in, 5), 0);
    ck_assert_int_eq(b64url_decode("ab+/", 4, back, sizeof(back)), -1);
    ck_assert_int_eq(b64url_decode("abc=", 4, back, sizeof(back)), -1);
    ck_assert_int_eq(b64url_decode("a", 1, back, sizeof(back)), -1);
    ck_assert_int_eq(b64url_decode("-_8AED5", 7, back, sizeof(back)), -1);
}
END_TEST

START_TEST(test_verify_refusals)
{
    char       err[256];
    json_t    *p;
    EVP_PKEY  *k = EVP_EC_gen("P-256");

    ck_assert_int_ne(receipt_verify("abc", k, &p, NULL, 0, err,
        sizeof(err)), 0);
    ck_assert_int_ne(receipt_verify("eyJhbGciOiJub25lIn0.e30.", k, &p, NULL,
        0, err, sizeof(err)), 0);             /* alg none */
    ck_assert(strstr(err, "ES256") != NULL);
    EVP_PKEY_free(k);
}
END_TEST

int
main(void)
{
    Suite    *su = suite_create("receipt");
    TCase    *tc = tcase_create("receipt");
    SRunner  *sr;
    int       failed;

    tcase_add_test(tc, test_key_file_and_jwks);
    tcase_add_test(tc, test_b64url);
    tcase_add_test(tc, test_verify_refusals);
    suite_add_tcase(su, tc);
    sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
