/*
 * test_identity.c -- huellad's identity ops end to end: a real huellad
 * (forked, so it can be killed) with a temp data dir and outbox, driven
 * through ipc_client.  Accounts and the registry cross-check, password
 * login and its lockout, service tokens, recovery through the outbox,
 * e.firma nonce single use, the audit chain (and an entry altered on disk)
 * and kill -9 durability.  Argon2 runs with 1 MiB so the suite stays fast.
 */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "huella_ipc.h"
#include "outbox.h"
#include "identity.h"
#include "identity_store.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"
#include "testd.h"
#include "testd_calls.h"

#define CURP_A   "GARJ850312HDFRMN07"
#define NSS_A    "12851000005"
#define CURP_B   "LOHM900725MJCPRR00"
#define NSS_B    "13861079195"
#define CURP_MIS "MISM910101HDFSSM01"
#define CURP_OUT "BADD110218MCLSRN06"    /* valid, not in the registry */
#define PW       "tierra lejana del norte 42"
#define PW2      "otra frase muy distinta 77"

static char    outbox[96];

static void
configure(struct hd_config *cfg)
{
    snprintf(cfg->identity.registry_file, PATH_MAX, "config/registry.tsv");
    snprintf(cfg->identity.blocklist_file, PATH_MAX,
        "config/common-passwords.txt");
    snprintf(cfg->identity.outbox_dir, PATH_MAX, "%s", outbox);
    cfg->identity.argon2_t_cost = 1;
    cfg->identity.argon2_m_cost_kib = 1024;
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
    testd_mkdir("/tmp/huella-id-XXXXXX");
    snprintf(outbox, sizeof(outbox), "%s/outbox", dir);
    start_server();
}

static void
teardown(void)
{
    kill_server();
    testd_rmdir();
}

/* ---- reply reading ------------------------------------------------------- */

static uint32_t
rep_u32(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n, v = 0;

    ck_assert_int_eq(hipc_find(rep, rep_len, tag, &d, &n), 1);
    ck_assert_int_eq(hipc_get_u32(d, n, &v), 0);
    return v;
}

/* a u64 field of the reply; 0 when absent */
static uint64_t
rep_u64(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    uint64_t        v = 0;

    if (hipc_find(rep, rep_len, tag, &d, &n) != 1) {
        return 0;
    }
    ck_assert_int_eq(hipc_get_u64(d, n, &v), 0);
    return v;
}

#define expect(st, code, field)  expect_at(__LINE__, st, code, field)

static void
expect_at(int line, int st, const char *code, const char *field)
{
    ck_assert_msg(status == st, "line %d: status %d, want %d", line, status,
        st);
    if (code) {
        ck_assert_msg(rep_eq(HIPC_F_ERR_CODE, code), "want code %s", code);
    }
    if (field) {
        ck_assert_msg(rep_eq(HIPC_F_FIELD, field), "want field %s", field);
    }
}

static void
create(const char *curp, const char *nss, const char *email, const char *pw)
{
    begin();
    s(HIPC_F_CURP, curp);
    s(HIPC_F_NSS, nss);
    s(HIPC_F_EMAIL, email);
    s(HIPC_F_PASSWORD, pw);
    s(HIPC_F_QUESTION, "¿Nombre de tu primera mascota?");
    s(HIPC_F_ANSWER, "Firulais");
    call(HIPC_OP_ACCOUNT_CREATE);
}

static void
login(const char *user, const char *pw)
{
    begin();
    s(HIPC_F_USER, user);
    s(HIPC_F_PASSWORD, pw);
    s(HIPC_F_CLIENT, "192.0.2.7");
    call(HIPC_OP_LOGIN_PASSWORD);
}

static void
change_password(const char *curp, const char *current, const char *next)
{
    begin();
    s(HIPC_F_CURP, curp);
    s(HIPC_F_PASSWORD, current);
    s(HIPC_F_NEW_PASSWORD, next);
    call(HIPC_OP_PASSWORD_CHANGE);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_account_create)
{
    create(CURP_A, NSS_A, "juan@example.mx", PW);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_CURP, CURP_A));
    ck_assert(rep_eq(HIPC_F_ROLES, "worker"));
    ck_assert(rep_eq(HIPC_F_NAME, "Juan García Ramírez"));
    ck_assert(rep_eq(HIPC_F_AUTH_METHOD, "password"));

    create(CURP_A, NSS_B, "x@example.mx", PW);
    expect(HIPC_ST_CONFLICT, "account_exists", "curp");
    create(CURP_B, NSS_A, "x@example.mx", PW);
    expect(HIPC_ST_CONFLICT, "account_exists", "nss");

    create("GARJ850312HDFRMN08", NSS_B, "x@example.mx", PW);
    expect(HIPC_ST_INVALID, "invalid_curp", "curp");
    create(CURP_B, "13861079194", "x@example.mx", PW);
    expect(HIPC_ST_INVALID, "invalid_nss", "nss");
    create(CURP_B, NSS_B, "x@@example.mx", PW);
    expect(HIPC_ST_INVALID, "invalid_email", "email");
    create(CURP_B, NSS_B, "x@example.mx\r\nBcc: y@z.mx", PW);
    expect(HIPC_ST_INVALID, "invalid_email", "email");
    create(CURP_B, NSS_B, "x@example.mx", "corta");
    expect(HIPC_ST_INVALID, "password_too_short", "password");
    create(CURP_B, NSS_B, "x@example.mx", "Contraseña2024!!!!");
    expect(HIPC_ST_INVALID, NULL, "password");
    create(CURP_MIS, NSS_B, "x@example.mx", PW);
    expect(HIPC_ST_INVALID, "registry_mismatch", "curp");
    create(CURP_OUT, NSS_B, "x@example.mx", PW);
    expect(HIPC_ST_INVALID, "curp_not_in_registry", "curp");

    begin();
    s(HIPC_F_CURP, CURP_B);
    call(HIPC_OP_ACCOUNT_CREATE);
    expect(HIPC_ST_BAD_REQUEST, "missing_field", NULL);

    begin();
    s(HIPC_F_CURP, CURP_A);
    call(HIPC_OP_ACCOUNT_GET);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_NSS, NSS_A));
    ck_assert(rep_eq(HIPC_F_EMAIL, "juan@example.mx"));
    begin();
    s(HIPC_F_CURP, CURP_B);
    call(HIPC_OP_ACCOUNT_GET);
    expect(HIPC_ST_NOT_FOUND, "account_not_found", "curp");
}
END_TEST

START_TEST(test_login_and_lockout)
{
    int  i;

    create(CURP_A, NSS_A, "juan@example.mx", PW);
    expect(HIPC_ST_OK, NULL, NULL);
    login(CURP_A, PW);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_CURP, CURP_A));
    login(NSS_A, PW);
    expect(HIPC_ST_OK, NULL, NULL);

    login("NOEXISTE", PW);
    expect(HIPC_ST_UNAUTHORIZED, "invalid_credentials", NULL);
    for (i = 1; i <= 4; i++) {
        login(CURP_A, "not the password at all");
        expect(HIPC_ST_UNAUTHORIZED, "invalid_credentials", NULL);
        ck_assert_uint_eq(rep_u32(HIPC_F_ATTEMPTS_LEFT), 5 - i);
    }
    login(CURP_A, "not the password at all");
    expect(HIPC_ST_LOCKED, "account_locked", NULL);
    ck_assert_uint_eq(rep_u32(HIPC_F_RETRY_AFTER), 30);
    login(CURP_A, PW);                       /* right, but locked */
    expect(HIPC_ST_LOCKED, "account_locked", NULL);
    ck_assert_uint_le(rep_u32(HIPC_F_RETRY_AFTER), 30);

    begin();
    s(HIPC_F_CURP, CURP_A);
    s(HIPC_F_ACTOR, "admin");
    call(HIPC_OP_ACCOUNT_UNLOCK);
    expect(HIPC_ST_OK, NULL, NULL);
    login(CURP_A, PW);
    expect(HIPC_ST_OK, NULL, NULL);

    /* password change */
    change_password(CURP_A, "wrong current one", PW2);
    expect(HIPC_ST_UNAUTHORIZED, "invalid_credentials", "password");
    change_password(CURP_A, PW, PW2);
    expect(HIPC_ST_OK, NULL, NULL);
    login(CURP_A, PW2);
    expect(HIPC_ST_OK, NULL, NULL);

    /* roles */
    begin();
    s(HIPC_F_CURP, CURP_A);
    s(HIPC_F_ROLES, "worker,employer_rep");
    s(HIPC_F_ACTOR, "admin");
    call(HIPC_OP_ROLES_SET);
    expect(HIPC_ST_INVALID, "account_rfc_required", "account_rfc");
    begin();
    s(HIPC_F_CURP, CURP_A);
    s(HIPC_F_ROLES, "worker,root");
    s(HIPC_F_ACTOR, "admin");
    call(HIPC_OP_ROLES_SET);
    expect(HIPC_ST_INVALID, "invalid_roles", "roles");
    begin();
    s(HIPC_F_CURP, CURP_A);
    s(HIPC_F_ROLES, "supervisor,worker");
    s(HIPC_F_ACTOR, "admin");
    call(HIPC_OP_ROLES_SET);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_ROLES, "worker,supervisor"));
}
END_TEST

START_TEST(test_tokens)
{
    char  token[128], id[64];

    begin();
    s(HIPC_F_NAME, "payroll");
    s(HIPC_F_ROLES, "auditor");
    s(HIPC_F_ACTOR, "admin");
    call(HIPC_OP_TOKEN_CREATE);
    expect(HIPC_ST_OK, NULL, NULL);
    rep_str(HIPC_F_TOKEN, token, sizeof(token));
    rep_str(HIPC_F_TOKEN_ID, id, sizeof(id));
    ck_assert(strncmp(token, "hut_", 4) == 0);

    begin();
    s(HIPC_F_TOKEN, token);
    call(HIPC_OP_TOKEN_CHECK);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_ROLES, "auditor"));
    ck_assert(rep_eq(HIPC_F_AUTH_METHOD, "token"));

    begin();
    call(HIPC_OP_TOKEN_LIST);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(memmem(rep, rep_len, id, strlen(id)) != NULL);
    ck_assert(memmem(rep, rep_len, token, strlen(token)) == NULL);

    begin();
    s(HIPC_F_TOKEN_ID, id);
    s(HIPC_F_ACTOR, "admin");
    call(HIPC_OP_TOKEN_REVOKE);
    expect(HIPC_ST_OK, NULL, NULL);
    call(HIPC_OP_TOKEN_REVOKE);
    expect(HIPC_ST_NOT_FOUND, "token_not_found", "token_id");
    begin();
    s(HIPC_F_TOKEN, token);
    call(HIPC_OP_TOKEN_CHECK);
    expect(HIPC_ST_UNAUTHORIZED, "token_invalid", NULL);
}
END_TEST

START_TEST(test_recovery)
{
    char  token[128], q1[300], q2[300];

    create(CURP_A, NSS_A, "juan@example.mx", PW);
    expect(HIPC_ST_OK, NULL, NULL);
    begin();
    s(HIPC_F_USER, CURP_A);
    call(HIPC_OP_RECOVERY_START);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_QUESTION, "¿Nombre de tu primera mascota?"));
    /* unknown users get a stable made-up question */
    begin();
    s(HIPC_F_USER, "ZZZZ9999");
    call(HIPC_OP_RECOVERY_START);
    expect(HIPC_ST_OK, NULL, NULL);
    rep_str(HIPC_F_QUESTION, q1, sizeof(q1));
    call(HIPC_OP_RECOVERY_START);
    rep_str(HIPC_F_QUESTION, q2, sizeof(q2));
    ck_assert_str_eq(q1, q2);

    begin();
    s(HIPC_F_USER, CURP_A);
    s(HIPC_F_ANSWER, "wrong");
    call(HIPC_OP_RECOVERY_START);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(access(outbox, F_OK) != 0);        /* nothing mailed */

    begin();
    s(HIPC_F_USER, NSS_A);
    s(HIPC_F_ANSWER, "  firuLAIS ");
    call(HIPC_OP_RECOVERY_START);
    expect(HIPC_ST_OK, NULL, NULL);
    outbox_recovery_token(outbox, "juan@example.mx", token, sizeof(token));

    begin();
    s(HIPC_F_TOKEN, token);
    s(HIPC_F_NEW_PASSWORD, "123456");
    call(HIPC_OP_RECOVERY_FINISH);
    expect(HIPC_ST_INVALID, NULL, "new_password");
    begin();
    s(HIPC_F_TOKEN, token);
    s(HIPC_F_NEW_PASSWORD, PW2);
    call(HIPC_OP_RECOVERY_FINISH);
    expect(HIPC_ST_OK, NULL, NULL);
    call(HIPC_OP_RECOVERY_FINISH);
    expect(HIPC_ST_UNAUTHORIZED, "recovery_token_invalid", "token");
    login(CURP_A, PW2);
    expect(HIPC_ST_OK, NULL, NULL);
}
END_TEST

/*
 * A password change and a recovery stamp the account (unix ms, durable);
 * a login answers the stamp so that nginx ends the sessions opened before
 * it.  A refused change or a login leaves it as it was.
 */
START_TEST(test_password_changed)
{
    char      token[128];
    uint64_t  before, changed, recovered;

    create(CURP_A, NSS_A, "juan@example.mx", PW);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert_uint_eq(rep_u64(HIPC_F_PASSWORD_CHANGED), 0);
    login(CURP_A, PW);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert_uint_eq(rep_u64(HIPC_F_PASSWORD_CHANGED), 0);   /* never */

    before = (uint64_t) id_now_ms();
    change_password(CURP_A, PW, PW2);
    expect(HIPC_ST_OK, NULL, NULL);
    login(CURP_A, PW2);
    expect(HIPC_ST_OK, NULL, NULL);
    changed = rep_u64(HIPC_F_PASSWORD_CHANGED);
    ck_assert_uint_ge(changed, before);
    ck_assert_uint_le(changed, (uint64_t) id_now_ms());

    /* refused: the stamp stays */
    change_password(CURP_A, "wrong current one", PW);
    expect(HIPC_ST_UNAUTHORIZED, "invalid_credentials", "password");
    login(NSS_A, PW2);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert_uint_eq(rep_u64(HIPC_F_PASSWORD_CHANGED), changed);

    /* a recovery stamps it anew */
    begin();
    s(HIPC_F_USER, CURP_A);
    s(HIPC_F_ANSWER, "firulais");
    call(HIPC_OP_RECOVERY_START);
    expect(HIPC_ST_OK, NULL, NULL);
    outbox_recovery_token(outbox, "juan@example.mx", token, sizeof(token));
    begin();
    s(HIPC_F_TOKEN, token);
    s(HIPC_F_NEW_PASSWORD, PW);
    call(HIPC_OP_RECOVERY_FINISH);
    expect(HIPC_ST_OK, NULL, NULL);
    login(CURP_A, PW);
    expect(HIPC_ST_OK, NULL, NULL);
    recovered = rep_u64(HIPC_F_PASSWORD_CHANGED);
    ck_assert_uint_gt(recovered, changed);

    /* kept in the record: it survives kill -9 */
    kill_server();
    start_server();
    login(CURP_A, PW);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert_uint_eq(rep_u64(HIPC_F_PASSWORD_CHANGED), recovered);
}
END_TEST

START_TEST(test_efirma_nonce)
{
    char      nonce[128];
    uint8_t   junk[64];

    begin();
    call(HIPC_OP_EFIRMA_CHALLENGE);
    expect(HIPC_ST_OK, NULL, NULL);
    rep_str(HIPC_F_NONCE, nonce, sizeof(nonce));
    memset(junk, 0x30, sizeof(junk));
    begin();
    hipc_put(&rw, HIPC_F_CERT, junk, sizeof(junk));
    hipc_put(&rw, HIPC_F_SIGNATURE, junk, sizeof(junk));
    s(HIPC_F_NONCE, nonce);
    call(HIPC_OP_EFIRMA_LOGIN);
    /* no trusted AC configured in this test: refused, nonce consumed */
    ck_assert(status != HIPC_ST_OK);
    call(HIPC_OP_EFIRMA_LOGIN);
    expect(HIPC_ST_UNAUTHORIZED, "nonce_invalid", "nonce");

    begin();
    hipc_put(&rw, HIPC_F_CERT, junk, sizeof(junk));
    call(HIPC_OP_EFIRMA_INSPECT);
    expect(HIPC_ST_INVALID, "certificate_malformed", "certificate");
}
END_TEST

START_TEST(test_audit_chain)
{
    struct audit_report  r;
    struct store        *st;
    MDB_txn             *txn;
    MDB_val              k, v;
    uint8_t              key[8] = { 0, 0, 0, 0, 0, 0, 0, 2 }, *copy;
    char                 err[256], data[128];

    create(CURP_A, NSS_A, "juan@example.mx", PW);
    login(CURP_A, "bad password here");
    login(CURP_A, PW);
    begin();
    s(HIPC_F_ACTOR, CURP_A);
    s(HIPC_F_ACTION, "logout");
    s(HIPC_F_TARGET, CURP_A);
    s(HIPC_F_DETAIL, "{\"session\":\"abc\"}");
    call(HIPC_OP_AUDIT_APPEND);
    expect(HIPC_ST_OK, NULL, NULL);
    begin();
    s(HIPC_F_ACTOR, CURP_A);
    s(HIPC_F_ACTION, "Log Out");
    call(HIPC_OP_AUDIT_APPEND);
    expect(HIPC_ST_INVALID, "invalid_action", "action");

    begin();
    call(HIPC_OP_AUDIT_VERIFY);
    expect(HIPC_ST_OK, NULL, NULL);
    begin();
    hipc_put_u32(&rw, HIPC_F_VALUE, 2);
    call(HIPC_OP_AUDIT_LIST);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(memmem(rep, rep_len, "logout", 6) != NULL);

    /* alter entry 2 on disk with the daemon gone */
    kill_server();
    snprintf(data, sizeof(data), "%s/data", dir);
    ck_assert_int_eq(store_open(&st, data, 64 << 20, 16, err, sizeof(err)),
        0);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    k.mv_data = key;
    k.mv_size = 8;
    ck_assert_int_eq(mdb_get(txn, store_identity(st)->audit, &k, &v), 0);
    copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[40] ^= 1;
    v.mv_data = copy;
    ck_assert_int_eq(mdb_put(txn, store_identity(st)->audit, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    free(copy);
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(ids_audit_verify(txn, store_identity(st)->audit, &r),
        -1);
    mdb_txn_abort(txn);
    store_close(st);
    ck_assert_uint_eq(r.first_bad_seq, 2);

    start_server();
    begin();
    call(HIPC_OP_AUDIT_VERIFY);
    ck_assert_int_eq(status, HIPC_ST_CONFLICT);
}
END_TEST

START_TEST(test_durable_account)
{
    create(CURP_B, NSS_B, "maria@example.mx", PW);
    expect(HIPC_ST_OK, NULL, NULL);
    kill_server();               /* SIGKILL right after the reply */
    start_server();
    login(NSS_B, PW);
    expect(HIPC_ST_OK, NULL, NULL);
    ck_assert(rep_eq(HIPC_F_CURP, CURP_B));
}
END_TEST

static Suite *
identity_suite(void)
{
    Suite  *su = suite_create("identity");
    TCase  *tc = tcase_create("ops");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_account_create);
    tcase_add_test(tc, test_login_and_lockout);
    tcase_add_test(tc, test_tokens);
    tcase_add_test(tc, test_recovery);
    tcase_add_test(tc, test_password_changed);
    tcase_add_test(tc, test_efirma_nonce);
    tcase_add_test(tc, test_audit_chain);
    tcase_add_test(tc, test_durable_account);
    suite_add_tcase(su, tc);
    return su;
}

int
main(void)
{
    SRunner  *sr = srunner_create(identity_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
