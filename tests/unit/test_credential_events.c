/*
 * test_credential_events.c -- the credential-event log
 * (matcher/credential_events.c): its records in LMDB (one transaction
 * with the change, numbering across reopen, retention), and the
 * CREDENTIAL_EVENTS op against a real huellad (forked, killed with -9):
 * password changes, recoveries and roles changes append events, refused
 * ones do not, and every malformed request is refused precisely.
 */

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "credential_events.h"
#include "huella_ipc.h"
#include "outbox.h"
#include "identity.h"
#include "ipc_client.h"
#include "store.h"
#include "testd.h"
#include "testd_calls.h"

#define CURP_A   "GARJ850312HDFRMN07"
#define NSS_A    "12851000005"
#define CURP_B   "LOHM900725MJCPRR00"
#define NSS_B    "13861079195"
#define PW       "tierra lejana del norte 42"
#define PW2      "otra frase muy distinta 77"

static char      outbox[96];
static unsigned  keep = 0;        /* 0: the default */

static void
configure(struct hd_config *cfg)
{
    snprintf(cfg->identity.registry_file, PATH_MAX, "config/registry.tsv");
    snprintf(cfg->identity.outbox_dir, PATH_MAX, "%s", outbox);
    cfg->identity.argon2_t_cost = 1;
    cfg->identity.argon2_m_cost_kib = 1024;
    if (keep) {
        cfg->identity.credential_events_keep = keep;
    }
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
    keep = 0;
    testd_mkdir("/tmp/huella-ev-XXXXXX");
    snprintf(outbox, sizeof(outbox), "%s/outbox", dir);
}

static void
teardown(void)
{
    kill_server();
    testd_rmdir();
}

/* ---- the log in LMDB ------------------------------------------------------ */

static struct store *
open_store(MDB_dbi *dbi)
{
    struct store  *st;
    char           err[256], data[128];

    snprintf(data, sizeof(data), "%s/data", dir);
    ck_assert_msg(store_open(&st, data, 64u << 20, 16, err, sizeof(err))
        == 0, "%s", err);
    ck_assert_int_eq(credev_open(store_env(st), dbi), 0);
    return st;
}

struct collected {
    struct credev_event  ev[16];
    unsigned             n;
};

static int
collect(void *arg, const struct credev_event *ev)
{
    struct collected  *c = arg;

    ck_assert_uint_lt(c->n, 16);
    c->ev[c->n++] = *ev;
    return 0;
}

static void
range(struct store *st, MDB_dbi dbi, uint64_t *head, uint64_t *oldest)
{
    MDB_txn  *txn;

    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(credev_range(txn, dbi, head, oldest), 0);
    mdb_txn_abort(txn);
}

START_TEST(test_log_in_one_transaction)
{
    struct store      *st;
    struct collected   c;
    MDB_dbi            dbi;
    MDB_txn           *txn;
    uint64_t           head, oldest, seq;

    st = open_store(&dbi);
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 0);
    ck_assert_uint_eq(oldest, 1);

    /* an aborted change leaves no event, a committed one its event */
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_PASSWORD, 1000,
        10, &seq), 0);
    ck_assert_uint_eq(seq, 1);
    mdb_txn_abort(txn);
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 0);

    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_PASSWORD, 1000,
        10, &seq), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_B, CREDEV_ROLES, 2000,
        10, &seq), 0);
    ck_assert_uint_eq(seq, 2);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);

    /* numbering goes on after a reopen */
    store_close(st);
    st = open_store(&dbi);
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 2);
    ck_assert_uint_eq(oldest, 1);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_ROLES, 3000,
        10, &seq), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(credev_each(txn, dbi, 1, collect, &c), 0);
    mdb_txn_abort(txn);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_uint_eq(c.ev[0].seq, 2);
    ck_assert_str_eq(c.ev[0].subject, CURP_B);
    ck_assert_int_eq(c.ev[0].kind, CREDEV_ROLES);
    ck_assert_uint_eq(c.ev[0].at_ms, 2000);
    ck_assert_uint_eq(c.ev[1].seq, 3);
    ck_assert_str_eq(credev_kind_name(c.ev[1].kind), "roles");
    store_close(st);
}
END_TEST

START_TEST(test_log_retention)
{
    struct store      *st;
    struct collected   c;
    MDB_dbi            dbi;
    MDB_txn           *txn;
    uint64_t           head, oldest, i;

    st = open_store(&dbi);
    for (i = 1; i <= 10; i++) {
        ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
        ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_PASSWORD,
            i, 4, NULL), 0);
        ck_assert_int_eq(mdb_txn_commit(txn), 0);
    }
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 10);
    ck_assert_uint_eq(oldest, 7);                /* the newest 4 */
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(credev_each(txn, dbi, 0, collect, &c), 0);
    mdb_txn_abort(txn);
    ck_assert_uint_eq(c.n, 4);
    ck_assert_uint_eq(c.ev[0].seq, 7);
    ck_assert_uint_eq(c.ev[3].at_ms, 10);

    /* a smaller keep later: pruned a little at each append, never more */
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_ROLES, 11, 1,
        NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 11);
    ck_assert_uint_eq(oldest, 9);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_ROLES, 12, 1,
        NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 12);
    ck_assert_uint_eq(oldest, 11);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(credev_append(txn, dbi, CURP_A, CREDEV_ROLES, 13, 1,
        NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    range(st, dbi, &head, &oldest);
    ck_assert_uint_eq(head, 13);
    ck_assert_uint_eq(oldest, 13);
    store_close(st);
}
END_TEST

/* ---- the op --------------------------------------------------------------- */

static void
u64f(uint16_t tag, uint64_t v)
{
    hipc_put_u64(&rw, tag, v);
}

static uint64_t
rep_u64(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    uint64_t        v = 0;

    ck_assert_msg(hipc_find(rep, rep_len, tag, &d, &n) == 1,
        "tag %u absent (status %d)", tag, status);
    ck_assert_int_eq(hipc_get_u64(d, n, &v), 0);
    return v;
}

static int
has(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;

    return hipc_find(rep, rep_len, tag, &d, &n) == 1;
}

/* The reply's events, decoded. */
static unsigned
events(struct credev_event *out, unsigned cap)
{
    struct hipc_reader  r, in;
    const uint8_t      *d, *e;
    uint32_t            n, m;
    uint16_t            tag, t;
    unsigned            k = 0;
    char                kind[16];

    hipc_reader_init(&r, rep, rep_len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag != HIPC_F_CRED_EVENT) {
            continue;
        }
        ck_assert_uint_lt(k, cap);
        memset(&out[k], 0, sizeof(out[k]));
        hipc_reader_init(&in, d, n);
        while (hipc_next(&in, &t, &e, &m) == 1) {
            switch (t) {
            case HIPC_F_SEQ:
                ck_assert_int_eq(hipc_get_u64(e, m, &out[k].seq), 0);
                break;
            case HIPC_F_EVENT_AT:
                ck_assert_int_eq(hipc_get_u64(e, m, &out[k].at_ms), 0);
                break;
            case HIPC_F_CURP:
            case HIPC_F_TOKEN_ID:
                ck_assert_uint_lt(m, sizeof(out[k].subject));
                memcpy(out[k].subject, e, m);
                break;
            case HIPC_F_EVENT_KIND:
                ck_assert_uint_lt(m, sizeof(kind));
                memcpy(kind, e, m);
                kind[m] = '\0';
                out[k].kind = strcmp(kind, "password") == 0
                    ? CREDEV_PASSWORD : strcmp(kind, "roles") == 0
                    ? CREDEV_ROLES : CREDEV_TOKEN;
                ck_assert(strcmp(kind, "password") == 0
                    || strcmp(kind, "roles") == 0
                    || strcmp(kind, "token") == 0);
                break;
            default:
                ck_abort_msg("unexpected tag %u in an event", t);
            }
        }
        k++;
    }
    return k;
}

static unsigned
feed(uint64_t since, struct credev_event *out, unsigned cap)
{
    begin();
    u64f(HIPC_F_SINCE, since);
    call(HIPC_OP_CREDENTIAL_EVENTS);
    ck_assert_int_eq(status, HIPC_ST_OK);
    return events(out, cap);
}

static void
create(const char *curp, const char *nss, const char *email)
{
    begin();
    s(HIPC_F_CURP, curp);
    s(HIPC_F_NSS, nss);
    s(HIPC_F_EMAIL, email);
    s(HIPC_F_PASSWORD, PW);
    s(HIPC_F_QUESTION, "¿Nombre de tu primera mascota?");
    s(HIPC_F_ANSWER, "Firulais");
    call(HIPC_OP_ACCOUNT_CREATE);
    ck_assert_int_eq(status, HIPC_ST_OK);
}

static void
set_roles(const char *curp, const char *roles)
{
    begin();
    s(HIPC_F_CURP, curp);
    s(HIPC_F_ROLES, roles);
    s(HIPC_F_ACTOR, "tok_admin");
    call(HIPC_OP_ROLES_SET);
}

START_TEST(test_changes_append_events)
{
    struct credev_event  ev[16];
    char                 token[128];
    uint64_t             changed, before;

    start_server();
    create(CURP_A, NSS_A, "juan@example.mx");
    create(CURP_B, NSS_B, "maria@example.mx");

    /* without SINCE: where the feed stands, no events */
    begin();
    call(HIPC_OP_CREDENTIAL_EVENTS);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(rep_u64(HIPC_F_HEAD), 0);
    ck_assert_uint_eq(rep_u64(HIPC_F_OLDEST), 1);
    ck_assert_uint_eq(events(ev, 16), 0);

    /* a password change: the event's time is the account's stamp, which
     * the change's answer carries too */
    before = (uint64_t) id_now_ms();
    begin();
    s(HIPC_F_CURP, CURP_A);
    s(HIPC_F_PASSWORD, PW);
    s(HIPC_F_NEW_PASSWORD, PW2);
    call(HIPC_OP_PASSWORD_CHANGE);
    ck_assert_int_eq(status, HIPC_ST_OK);
    changed = rep_u64(HIPC_F_PASSWORD_CHANGED);
    ck_assert_uint_ge(changed, before);
    ck_assert_uint_eq(feed(0, ev, 16), 1);
    ck_assert_uint_eq(rep_u64(HIPC_F_HEAD), 1);
    ck_assert_uint_eq(ev[0].seq, 1);
    ck_assert_str_eq(ev[0].subject, CURP_A);
    ck_assert_int_eq(ev[0].kind, CREDEV_PASSWORD);
    ck_assert_uint_eq(ev[0].at_ms, changed);

    /* refused changes append nothing */
    begin();
    s(HIPC_F_CURP, CURP_A);
    s(HIPC_F_PASSWORD, "not the current one");
    s(HIPC_F_NEW_PASSWORD, PW);
    call(HIPC_OP_PASSWORD_CHANGE);
    ck_assert_int_eq(status, HIPC_ST_UNAUTHORIZED);
    set_roles("MISM910101HDFSSM01", "worker");
    ck_assert_int_eq(status, HIPC_ST_NOT_FOUND);
    ck_assert_uint_eq(feed(1, ev, 16), 0);
    ck_assert_uint_eq(rep_u64(HIPC_F_HEAD), 1);

    /* roles */
    before = (uint64_t) id_now_ms();
    set_roles(CURP_B, "worker,auditor");
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(feed(1, ev, 16), 1);
    ck_assert_uint_eq(ev[0].seq, 2);
    ck_assert_str_eq(ev[0].subject, CURP_B);
    ck_assert_int_eq(ev[0].kind, CREDEV_ROLES);
    ck_assert_uint_ge(ev[0].at_ms, before);
    ck_assert_uint_le(ev[0].at_ms, (uint64_t) id_now_ms());

    /* a recovery: the account is named by the log */
    begin();
    s(HIPC_F_USER, CURP_A);
    s(HIPC_F_ANSWER, "firulais");
    call(HIPC_OP_RECOVERY_START);
    ck_assert_int_eq(status, HIPC_ST_OK);
    outbox_recovery_token(outbox, NULL, token, sizeof(token));
    begin();
    s(HIPC_F_TOKEN, token);
    s(HIPC_F_NEW_PASSWORD, PW);
    call(HIPC_OP_RECOVERY_FINISH);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(feed(2, ev, 16), 1);
    ck_assert_uint_eq(ev[0].seq, 3);
    ck_assert_str_eq(ev[0].subject, CURP_A);
    ck_assert_int_eq(ev[0].kind, CREDEV_PASSWORD);
    ck_assert_uint_gt(ev[0].at_ms, changed);

    /* all of it, in order; MAX_EVENTS bounds the reply */
    ck_assert_uint_eq(feed(0, ev, 16), 3);
    ck_assert_uint_eq(ev[2].seq, 3);
    begin();
    u64f(HIPC_F_SINCE, 0);
    hipc_put_u32(&rw, HIPC_F_MAX_EVENTS, 2);
    call(HIPC_OP_CREDENTIAL_EVENTS);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(events(ev, 16), 2);
    ck_assert_uint_eq(ev[1].seq, 2);
    ck_assert_uint_eq(rep_u64(HIPC_F_HEAD), 3);
    /* past the head (a follower ahead of a restored backup): none */
    ck_assert_uint_eq(feed(9, ev, 16), 0);
    ck_assert_uint_eq(rep_u64(HIPC_F_HEAD), 3);
    ck_assert(!has(HIPC_F_SINCE_AT));
    /* SINCE_AT: the time of the event SINCE, to check it is the one the
     * caller applied */
    ck_assert_uint_eq(feed(1, ev, 16), 2);
    ck_assert_uint_eq(rep_u64(HIPC_F_SINCE_AT), changed);
    ck_assert_uint_eq(feed(0, ev, 16), 3);
    ck_assert(!has(HIPC_F_SINCE_AT));

    /* a revoked service token: its id, for the nginx token caches */
    begin();
    s(HIPC_F_NAME, "lector nómina");
    s(HIPC_F_ROLES, "auditor");
    s(HIPC_F_ACTOR, "tok_admin");
    call(HIPC_OP_TOKEN_CREATE);
    ck_assert_int_eq(status, HIPC_ST_OK);
    rep_str(HIPC_F_TOKEN_ID, token, sizeof(token));
    ck_assert_uint_eq(feed(3, ev, 16), 0);       /* creating ends nothing */
    begin();
    s(HIPC_F_TOKEN_ID, "tok_0000000000000000");
    s(HIPC_F_ACTOR, "tok_admin");
    call(HIPC_OP_TOKEN_REVOKE);
    ck_assert_int_eq(status, HIPC_ST_NOT_FOUND);
    begin();
    s(HIPC_F_TOKEN_ID, token);
    s(HIPC_F_ACTOR, "tok_admin");
    call(HIPC_OP_TOKEN_REVOKE);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(feed(3, ev, 16), 1);
    ck_assert_uint_eq(ev[0].seq, 4);
    ck_assert_int_eq(ev[0].kind, CREDEV_TOKEN);
    ck_assert_str_eq(ev[0].subject, token);
    ck_assert(!rep_eq(HIPC_F_CURP, token));

    /* acknowledged events survive kill -9, numbering goes on */
    kill_server();
    start_server();
    ck_assert_uint_eq(feed(0, ev, 16), 4);
    ck_assert_str_eq(ev[1].subject, CURP_B);
    set_roles(CURP_A, "worker");
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(feed(4, ev, 16), 1);
    ck_assert_uint_eq(ev[0].seq, 5);
}
END_TEST

START_TEST(test_retention_in_huellad)
{
    struct credev_event  ev[16];
    int                  i;

    keep = 3;
    start_server();
    create(CURP_B, NSS_B, "maria@example.mx");
    for (i = 0; i < 5; i++) {
        set_roles(CURP_B, i % 2 ? "worker" : "worker,auditor");
        ck_assert_int_eq(status, HIPC_ST_OK);
    }
    ck_assert_uint_eq(feed(0, ev, 16), 3);
    ck_assert_uint_eq(rep_u64(HIPC_F_HEAD), 5);
    ck_assert_uint_eq(rep_u64(HIPC_F_OLDEST), 3);
    ck_assert_uint_eq(ev[0].seq, 3);
}
END_TEST

static void
expect_err(int st, const char *code, const char *field)
{
    char  got[64];

    call(HIPC_OP_CREDENTIAL_EVENTS);
    ck_assert_int_eq(status, st);
    rep_str(HIPC_F_ERR_CODE, got, sizeof(got));
    ck_assert_str_eq(got, code);
    if (field) {
        ck_assert_msg(rep_eq(HIPC_F_FIELD, field), "want field %s", field);
    }
}

START_TEST(test_malformed_requests)
{
    uint32_t  four = 1;
    uint8_t   junk[3] = { 1, 2, 3 };

    start_server();
    begin();
    hipc_put(&rw, HIPC_F_SINCE, &four, sizeof(four));
    expect_err(HIPC_ST_BAD_REQUEST, "malformed_field", "since");
    begin();
    hipc_put_u64(&rw, HIPC_F_MAX_EVENTS, 5);
    expect_err(HIPC_ST_BAD_REQUEST, "malformed_field", "max_events");
    begin();
    u64f(HIPC_F_SINCE, 0);
    u64f(HIPC_F_SINCE, 1);
    expect_err(HIPC_ST_BAD_REQUEST, "duplicate_field", "since");
    begin();
    hipc_put_u32(&rw, HIPC_F_MAX_EVENTS, 1);
    hipc_put_u32(&rw, HIPC_F_MAX_EVENTS, 1);
    expect_err(HIPC_ST_BAD_REQUEST, "duplicate_field", "max_events");
    begin();
    s(HIPC_F_CURP, CURP_A);
    expect_err(HIPC_ST_BAD_REQUEST, "unexpected_field", NULL);
    begin();
    hipc_put_u32(&rw, HIPC_F_MAX_EVENTS, 0);
    expect_err(HIPC_ST_INVALID, "invalid_max_events", "max_events");
    begin();
    hipc_put_u32(&rw, HIPC_F_MAX_EVENTS, CREDEV_MAX_LIMIT + 1);
    expect_err(HIPC_ST_INVALID, "invalid_max_events", "max_events");
    begin();
    u64f(HIPC_F_SINCE, 0);
    memcpy(req + rw.len, junk, sizeof(junk));    /* a truncated header */
    rw.len += sizeof(junk);
    expect_err(HIPC_ST_BAD_REQUEST, "malformed_request", NULL);
    /* the largest MAX is fine */
    begin();
    hipc_put_u32(&rw, HIPC_F_MAX_EVENTS, CREDEV_MAX_LIMIT);
    call(HIPC_OP_CREDENTIAL_EVENTS);
    ck_assert_int_eq(status, HIPC_ST_OK);
}
END_TEST

static Suite *
events_suite(void)
{
    Suite  *su = suite_create("credential_events");
    TCase  *tc = tcase_create("log");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_log_in_one_transaction);
    tcase_add_test(tc, test_log_retention);
    tcase_add_test(tc, test_changes_append_events);
    tcase_add_test(tc, test_retention_in_huellad);
    tcase_add_test(tc, test_malformed_requests);
    suite_add_tcase(su, tc);
    return su;
}

int
main(void)
{
    SRunner  *sr = srunner_create(events_suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
