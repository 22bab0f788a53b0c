/*
 * test_password.c -- Argon2id hashing, security answers and the NIST SP
 * 800-63B rev 4 password policy.
 *
 * Owns: round trips (with cheap costs so the suite stays fast, and one
 * at the default costs, timed), Unicode normalization, every malformed
 * stored hash, the rehash rule, answer folding, each policy reason with
 * its code, and the shipped blocklist config/common-passwords.txt.
 */

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "password.h"

static const struct password_params cheap = { 1, 256, 1 };

static const char *
blocklist_path(void)
{
    const char  *p = getenv("HUELLA_BLOCKLIST");

    return p != NULL && p[0] != '\0' ? p : "config/common-passwords.txt";
}

#define S(x) x, strlen(x)

START_TEST(hash_round_trip)
{
    char  h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];

    ck_assert_int_eq(password_hash(S("tortuga marina come nubes"), &cheap, h1),
                     PASSWORD_OK);
    ck_assert_msg(strncmp(h1, "$argon2id$v=19$m=256,t=1,p=1$", 29) == 0,
                  "%s", h1);
    ck_assert_int_eq(password_verify(h1, S("tortuga marina come nubes")),
                     PASSWORD_OK);
    ck_assert_int_eq(password_verify(h1, S("tortuga marina come nube")),
                     PASSWORD_MISMATCH);
    ck_assert_int_eq(password_verify(h1, S("")), PASSWORD_MISMATCH);
    /* a fresh salt each time */
    ck_assert_int_eq(password_hash(S("tortuga marina come nubes"), &cheap, h2),
                     PASSWORD_OK);
    ck_assert_str_ne(h1, h2);
    ck_assert_int_eq(password_verify_nobody(S("x"), &cheap),
                     PASSWORD_MISMATCH);
}
END_TEST

START_TEST(hash_default_costs)
{
    char             h[PASSWORD_HASH_MAX];
    struct timespec  a, b;
    double           ms;

    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(password_hash(S("una contraseña larga y rara"),
                                   &password_params_default, h),
                     PASSWORD_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (double) (b.tv_sec - a.tv_sec) * 1e3
         + (double) (b.tv_nsec - a.tv_nsec) / 1e6;
    printf("argon2id t=3 m=64MiB p=1: %.0f ms per hash\n", ms);
    ck_assert_msg(strncmp(h, "$argon2id$v=19$m=65536,t=3,p=1$", 31) == 0,
                  "%s", h);
    ck_assert_int_eq(password_verify(h, S("una contraseña larga y rara")),
                     PASSWORD_OK);
    ck_assert_int_eq(password_needs_rehash(h, &password_params_default), 0);
    ck_assert_int_eq(password_needs_rehash(h, &cheap), 1);
}
END_TEST

START_TEST(hash_unicode_normalized)
{
    char  h[PASSWORD_HASH_MAX];

    /* "ñ" precomposed (U+00F1) and as n + combining tilde (U+0303) */
    ck_assert_int_eq(password_hash(S("ma\xc3\xb1" "ana temprano"), &cheap, h),
                     PASSWORD_OK);
    ck_assert_int_eq(password_verify(h, S("man\xcc\x83" "ana temprano")),
                     PASSWORD_OK);
    ck_assert_int_eq(password_verify(h, S("manana temprano")),
                     PASSWORD_MISMATCH);
    /* fullwidth letters are their ASCII selves under NFKC */
    ck_assert_int_eq(password_hash(S("\xef\xbc\xa1\xef\xbc\xa2" "C"), &cheap, h),
                     PASSWORD_OK);
    ck_assert_int_eq(password_verify(h, S("ABC")), PASSWORD_OK);
    /* case still matters in passwords */
    ck_assert_int_eq(password_verify(h, S("abc")), PASSWORD_MISMATCH);
}
END_TEST

START_TEST(hash_bad_input)
{
    static const char *bad[] = {
        "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xff", "ab\xe2\x82",
        "\xf4\x90\x80\x80",
    };
    char    h[PASSWORD_HASH_MAX], big[PASSWORD_MAX_BYTES + 2];
    size_t  i;
    struct password_params  p;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(password_hash(S(bad[i]), &cheap, h),
                         PASSWORD_INPUT_INVALID);
        ck_assert_int_eq(password_verify("$argon2id$v=19$m=256,t=1,p=1$"
                                         "c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo"
                                         "aGFzaGhhc2g", S(bad[i])),
                         PASSWORD_INPUT_INVALID);
    }
    memset(big, 'a', sizeof(big));
    ck_assert_int_eq(password_hash(big, PASSWORD_MAX_BYTES + 1, &cheap, h),
                     PASSWORD_INPUT_INVALID);
    ck_assert_int_eq(password_hash(big, PASSWORD_MAX_BYTES, &cheap, h),
                     PASSWORD_OK);
    /* costs out of range */
    p = cheap; p.t_cost = 0;
    ck_assert_int_eq(password_hash(S("x"), &p, h), PASSWORD_PARAMS_INVALID);
    p = cheap; p.m_cost_kib = 4;
    ck_assert_int_eq(password_hash(S("x"), &p, h), PASSWORD_PARAMS_INVALID);
    p = cheap; p.parallelism = 17;
    ck_assert_int_eq(password_hash(S("x"), &p, h), PASSWORD_PARAMS_INVALID);
    p = cheap; p.m_cost_kib = 4u * 1024 * 1024 + 1;
    ck_assert_int_eq(password_params_check(&p, h, sizeof(h)), -1);
    ck_assert_msg(strstr(h, "m_cost") != NULL, "%s", h);
    ck_assert_int_eq(password_params_check(&password_params_default, NULL, 0),
                     0);
    ck_assert_int_eq(password_hash(S("x"), NULL, h), PASSWORD_PARAMS_INVALID);
}
END_TEST

START_TEST(verify_bad_hashes)
{
    char         h[PASSWORD_HASH_MAX], bad[PASSWORD_HASH_MAX + 8];
    const char  *tail;
    static const char *malformed[] = {
        "", "x", "$argon2id$", "$argon2id$v=19$m=256,t=1,p=1$",
        "$argon2id$v=19$m=256,t=1,p=1$$",
        "$argon2id$v=18$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo",
        "$argon2id$v=19$m=4194305,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$m=256,t=1000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$m=256,t=1,p=0$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$t=1,m=256,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$m=256,t=1,p=1$c2Fs*HNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$m=256,t=1,p=1$c2F$aGFzaGhhc2hoYXNoaGFz",
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFz",
        "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFz$",
    };
    size_t  i;

    for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        ck_assert_msg(password_verify(malformed[i], S("x"))
                      == PASSWORD_HASH_INVALID, "%s", malformed[i]);
        ck_assert_int_eq(password_needs_rehash(malformed[i], &cheap), 1);
    }
    ck_assert_int_eq(password_verify(NULL, S("x")), PASSWORD_HASH_INVALID);

    /* a changed character in the stored hash is a mismatch, no more */
    ck_assert_int_eq(password_hash(S("abc"), &cheap, h), PASSWORD_OK);
    strcpy(bad, h);
    tail = strrchr(bad, '$');
    bad[tail - bad + 3] = bad[tail - bad + 3] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(password_verify(bad, S("abc")), PASSWORD_MISMATCH);
    /* the same in the salt */
    strcpy(bad, h);
    bad[31] = bad[31] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(password_verify(bad, S("abc")), PASSWORD_MISMATCH);
}
END_TEST

START_TEST(rehash_rule)
{
    char                    h[PASSWORD_HASH_MAX];
    struct password_params  p = cheap;

    ck_assert_int_eq(password_hash(S("abc"), &cheap, h), PASSWORD_OK);
    ck_assert_int_eq(password_needs_rehash(h, &cheap), 0);
    p.t_cost = 2;
    ck_assert_int_eq(password_needs_rehash(h, &p), 1);
    p = cheap; p.m_cost_kib = 512;
    ck_assert_int_eq(password_needs_rehash(h, &p), 1);
    p = cheap; p.parallelism = 2;
    ck_assert_int_eq(password_needs_rehash(h, &p), 1);
    ck_assert_int_eq(password_needs_rehash("$2y$10$abcdefghijklmnopqrstuv",
                                           &cheap), 1);
}
END_TEST

START_TEST(answers)
{
    char  out[64], h[PASSWORD_HASH_MAX];

    ck_assert_int_eq(password_answer_normalize(S("  Pe\xc3\xb1" "a-Nieto. "),
                                               out, sizeof(out)), 0);
    ck_assert_str_eq(out, "pena nieto");
    ck_assert_int_eq(password_answer_normalize(S("\xc3\x81RBOL  de\tMANGO"),
                                               out, sizeof(out)), 0);
    ck_assert_str_eq(out, "arbol de mango");
    ck_assert_int_eq(password_answer_normalize(S("Stra\xc3\x9f" "e"), out,
                                               sizeof(out)), 0);
    ck_assert_str_eq(out, "strasse");
    ck_assert_int_eq(password_answer_normalize(S("a"), out, sizeof(out)), -1);
    ck_assert_int_eq(password_answer_normalize(S("!!! ..."), out,
                                               sizeof(out)), -1);
    ck_assert_int_eq(password_answer_normalize(S("\xc3"), out, sizeof(out)),
                     -1);
    ck_assert_int_eq(password_answer_normalize(S("abcdef"), out, 4), -1);

    ck_assert_int_eq(password_answer_hash(S("Pe\xc3\xb1" "a Nieto"), &cheap,
                                          h), PASSWORD_OK);
    ck_assert_int_eq(password_answer_verify(h, S("pena   NIETO.")),
                     PASSWORD_OK);
    ck_assert_int_eq(password_answer_verify(h, S("pena nieta")),
                     PASSWORD_MISMATCH);
    ck_assert_int_eq(password_answer_verify(h, S("\xff")),
                     PASSWORD_INPUT_INVALID);
    ck_assert_int_eq(password_answer_hash(S("?"), &cheap, h),
                     PASSWORD_INPUT_INVALID);
    ck_assert_int_eq(password_answer_verify("nope", S("pena nieto")),
                     PASSWORD_HASH_INVALID);
}
END_TEST

/* ---- policy ------------------------------------------------------------- */

static struct password_blocklist *shipped;

static enum password_policy_result
check_pw(size_t min, const char *pw, const struct password_identity *id)
{
    struct password_policy  pol = { min, 0, shipped };
    char                    msg[256];
    enum password_policy_result r;

    r = password_policy_check(&pol, pw, strlen(pw), id, msg, sizeof(msg));
    ck_assert_msg(r == PASSWORD_POLICY_OK ? msg[0] == '\0' : msg[0] != '\0',
                  "message for %s", pw);
    return r;
}

#define POLICY(min, pw, id, want)                                         \
    ck_assert_msg(check_pw(min, pw, id) == (want), "'%s': want %s, got %s", \
                  pw, password_policy_code(want),                          \
                  password_policy_code(check_pw(min, pw, id)))

START_TEST(policy_length_and_encoding)
{
    char  long_pw[200];

    POLICY(15, "tortuga marina come nubes", NULL, PASSWORD_POLICY_OK);
    POLICY(15, "tortuga marina", NULL, PASSWORD_POLICY_TOO_SHORT);   /* 14 */
    POLICY(8, "tortugas", NULL, PASSWORD_POLICY_OK);
    POLICY(8, "tortuga", NULL, PASSWORD_POLICY_TOO_SHORT);
    POLICY(0, "pato rojo y verde", NULL, PASSWORD_POLICY_OK);  /* 0 = 15 */
    POLICY(0, "patorojoverde", NULL, PASSWORD_POLICY_TOO_SHORT);
    /* code points, not bytes: "ñandú pájaro ñu", 15 characters, 19 bytes */
    POLICY(15, "\xc3\xb1" "and\xc3\xba p\xc3\xa1jaro \xc3\xb1u", NULL,
           PASSWORD_POLICY_OK);
    POLICY(16, "\xc3\xb1" "and\xc3\xba p\xc3\xa1jaro \xc3\xb1u", NULL,
           PASSWORD_POLICY_TOO_SHORT);
    /* 64 allowed, 128 allowed, 129 not */
    memset(long_pw, 0, sizeof(long_pw));
    for (size_t i = 0; i < 129; i++) long_pw[i] = "qkzvmwxjhbfdgpsy"[(i * 7) % 16];
    POLICY(15, long_pw, NULL, PASSWORD_POLICY_TOO_LONG);
    long_pw[128] = '\0';
    POLICY(15, long_pw, NULL, PASSWORD_POLICY_OK);
    long_pw[64] = '\0';
    POLICY(15, long_pw, NULL, PASSWORD_POLICY_OK);
    /* every printable character is fine, no composition rules */
    POLICY(15, "~!@#$%^&*()_+{}|:\"<>? `-=[]\\;',./", NULL, PASSWORD_POLICY_OK);
    POLICY(15, "sololetrasminusculasperolargas", NULL, PASSWORD_POLICY_OK);
    POLICY(15, "tortuga\tmarina come nubes", NULL,
           PASSWORD_POLICY_ENCODING_INVALID);
    POLICY(15, "tortuga marina come nubes\n", NULL,
           PASSWORD_POLICY_ENCODING_INVALID);
    POLICY(15, "tortuga marina \xc2\x85 come nubes", NULL,
           PASSWORD_POLICY_ENCODING_INVALID);
    POLICY(15, "tortuga marina \xc3 come nubes", NULL,
           PASSWORD_POLICY_ENCODING_INVALID);
    {
        struct password_policy pol = { 15, 0, NULL };
        char msg[128];
        ck_assert_int_eq(password_policy_check(&pol, "tortuga marina\0 come",
                                               20, NULL, msg, sizeof(msg)),
                         PASSWORD_POLICY_ENCODING_INVALID);
    }
    ck_assert_str_eq(password_policy_code(PASSWORD_POLICY_TOO_SHORT),
                     "password_too_short");
    ck_assert_str_eq(password_policy_code(PASSWORD_POLICY_COMMON),
                     "password_common");
    ck_assert_str_eq(password_policy_code((enum password_policy_result) 99),
                     "password_invalid");
}
END_TEST

START_TEST(policy_common_and_repetitive)
{
    POLICY(8, "password", NULL, PASSWORD_POLICY_COMMON);
    POLICY(8, "PASSWORD", NULL, PASSWORD_POLICY_COMMON);
    POLICY(8, "P@ssw0rd", NULL, PASSWORD_POLICY_COMMON);
    POLICY(8, "password2024!", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "Contrase\xc3\xb1" "a2024!!", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "contrasena 2024!", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "te amo mucho 12345", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "passwordpassword", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "chivaschivaschivas", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "qwertyuiopasdfgh", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "1q2w3e4r5t6y7u8i", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "123456789012345", NULL, PASSWORD_POLICY_COMMON);
    POLICY(15, "Mexico lindo y querido", NULL, PASSWORD_POLICY_COMMON);
    /* too much around the word: no longer "a listed word" */
    POLICY(15, "dragon 8h3k2 9x7q4z", NULL, PASSWORD_POLICY_OK);

    POLICY(15, "xyxyxyxyxyxyxyxy", NULL, PASSWORD_POLICY_REPETITIVE);
    POLICY(15, "abcdabcdabcdabcd", NULL, PASSWORD_POLICY_REPETITIVE);
    POLICY(15, "lmnopqrstuvwxyz", NULL, PASSWORD_POLICY_REPETITIVE);
    POLICY(15, "zyxwvutsrqponml", NULL, PASSWORD_POLICY_REPETITIVE);
    POLICY(15, "7890123456789012", NULL, PASSWORD_POLICY_REPETITIVE);
    POLICY(15, "k k k k k k k k k", NULL, PASSWORD_POLICY_REPETITIVE);
    POLICY(15, "abcdeabcdeabcde", NULL, PASSWORD_POLICY_OK);   /* period 5 */
}
END_TEST

START_TEST(policy_identity)
{
    struct password_identity id = {
        .curp = "GODE561231HDFRRN00",
        .nss = "12345678903",
        .rfc = "GODE561231GR8",
        .matricula = "A-99817",
        .email = "daniel.gonzalez@example.mx",
        .name = "DANIEL GONZ\xc3\x81LEZ D\xc3\x8d" "AZ",
    };

    POLICY(15, "mi curp: gode561231hdfrrn00", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "GODE-561231 y luego m\xc3\xa1s cosas", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "mi nss es 12345678903", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "matricula a99817 vale", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "daniel.gonzalez@example.mx", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "DanielGonzalez#77", &id, PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "Gonz\xc3\xa1lez D\xc3\xad" "az 1956!!", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "diaz.diaz.diaz.diaz", &id, PASSWORD_POLICY_OK);
    POLICY(15, "yo soy daniel gonzalez diaz", &id,
           PASSWORD_POLICY_CONTAINS_IDENTITY);
    POLICY(15, "tortuga marina come nubes", &id, PASSWORD_POLICY_OK);
    /* empty and absent fields are ignored */
    {
        struct password_identity none = { .curp = "", .name = "" };
        POLICY(15, "tortuga marina come nubes", &none, PASSWORD_POLICY_OK);
    }
}
END_TEST

START_TEST(blocklist_files)
{
    char                        dir[] = "/tmp/test_password.XXXXXX";
    char                        path[256], err[256];
    struct password_blocklist  *bl;
    FILE                       *f;
    char                        line[600];

    ck_assert(shipped != NULL);
    ck_assert_msg(password_blocklist_size(shipped) >= 2000, "%zu entries",
                  password_blocklist_size(shipped));
    ck_assert(password_blocklist_contains(shipped, S("123456")));
    ck_assert(password_blocklist_contains(shipped, S("Contrase\xc3\xb1" "a")));
    ck_assert(password_blocklist_contains(shipped, S("QWERTY")));
    ck_assert(password_blocklist_contains(shipped, S("te amo")));
    ck_assert(!password_blocklist_contains(shipped,
                                           S("tortuga marina come nubes")));
    ck_assert(!password_blocklist_contains(NULL, S("123456")));

    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/list.txt", dir);
    f = fopen(path, "w");
    fputs("# comment\n\nHola\nhola\r\nH O L A\nh\xc3\xb3la\nadios\n", f);
    fclose(f);
    bl = password_blocklist_load(path, err, sizeof(err));
    ck_assert_msg(bl != NULL, "%s", err);
    ck_assert_int_eq(password_blocklist_size(bl), 2);
    password_blocklist_free(bl);

    f = fopen(path, "w");
    fputs("hola\nmal\xff\n", f);
    fclose(f);
    ck_assert(password_blocklist_load(path, err, sizeof(err)) == NULL);
    ck_assert_msg(strstr(err, ":2:") != NULL, "%s", err);

    memset(line, 'a', sizeof(line));
    line[sizeof(line) - 1] = '\0';
    f = fopen(path, "w");
    fputs(line, f);
    fputs("\n", f);
    fclose(f);
    ck_assert(password_blocklist_load(path, err, sizeof(err)) == NULL);
    ck_assert_msg(strstr(err, "longer") != NULL, "%s", err);
    unlink(path);

    ck_assert(password_blocklist_load(path, err, sizeof(err)) == NULL);
    ck_assert_msg(strstr(err, "cannot open") != NULL, "%s", err);
    f = fopen(path, "w");
    fclose(f);
    bl = password_blocklist_load(path, err, sizeof(err));
    ck_assert(bl != NULL);
    ck_assert_int_eq(password_blocklist_size(bl), 0);
    password_blocklist_free(bl);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- threads: ICU, libargon2 and a shared blocklist ---------------------- */

static void *
password_worker(void *arg)
{
    struct password_policy  pol = { 15, 0, shipped };
    char                    h[PASSWORD_HASH_MAX], msg[128];
    int                    *ok = arg, i;

    for (i = 0; i < 20; i++) {
        *ok += password_hash(S("ma\xc3\xb1" "ana llueve fuerte"), &cheap, h)
               == PASSWORD_OK
               && password_verify(h, S("man\xcc\x83" "ana llueve fuerte"))
                  == PASSWORD_OK
               && password_policy_check(&pol, S("Contrase\xc3\xb1" "a2024!!"),
                                        NULL, msg, sizeof(msg))
                  == PASSWORD_POLICY_COMMON;
    }
    return NULL;
}

START_TEST(threads)
{
    pthread_t  th[4];
    int        ok[4] = { 0 }, i;

    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, password_worker, &ok[i]),
                         0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(ok[i], 20);
    }
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("password");
    TCase    *tc = tcase_create("password");
    SRunner  *sr;
    char      err[256];
    int       failed;

    shipped = password_blocklist_load(blocklist_path(), err, sizeof(err));
    if (shipped == NULL) {
        fprintf(stderr, "%s (set HUELLA_BLOCKLIST)\n", err);
        return 1;
    }
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hash_round_trip);
    tcase_add_test(tc, hash_default_costs);
    tcase_add_test(tc, hash_unicode_normalized);
    tcase_add_test(tc, hash_bad_input);
    tcase_add_test(tc, verify_bad_hashes);
    tcase_add_test(tc, rehash_rule);
    tcase_add_test(tc, answers);
    tcase_add_test(tc, policy_length_and_encoding);
    tcase_add_test(tc, policy_common_and_repetitive);
    tcase_add_test(tc, policy_identity);
    tcase_add_test(tc, blocklist_files);
    tcase_add_test(tc, threads);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    password_blocklist_free(shipped);
    return failed == 0 ? 0 : 1;
}
