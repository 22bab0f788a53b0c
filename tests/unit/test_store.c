/*
 * test_store.c -- the LMDB layout: subject and finger CRUD, prefix
 * isolation between CURPs, the NSS index, durability across a reopen, hot
 * backup.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

static char  dir[64];
static char  err[512];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/huella-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
    char  cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        /* leave it */
    }
}

static struct store *
open_store(const char *path)
{
    struct store  *st = NULL;

    ck_assert_msg(store_open(&st, path, 64u << 20, 16, err, sizeof(err))
        == 0, "%s", err);
    return st;
}

static void
put_subject_nss(struct store *st, const char *curp, const char *nss,
    const char *name)
{
    struct store_subject  s = { 0 };
    MDB_txn              *txn;

    snprintf(s.curp, sizeof(s.curp), "%s", curp);
    snprintf(s.nss, sizeof(s.nss), "%s", nss);
    snprintf(s.name, sizeof(s.name), "%s", name);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_subject_create(st, txn, &s), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void
put_subject(struct store *st, const char *curp, const char *name)
{
    put_subject_nss(st, curp, "12851000005", name);
}

/* The CURP store_subject_find_nss() gives for nss, or "" for none. */
static const char *
find_nss(struct store *st, const char *nss)
{
    static char  curp[STORE_CURP_MAX];
    MDB_txn     *txn;
    int          rc;

    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    rc = store_subject_find_nss(st, txn, nss, curp);
    mdb_txn_abort(txn);
    ck_assert_msg(rc == 0 || rc == MDB_NOTFOUND, "find_nss: %s",
        mdb_strerror(rc));
    if (rc != 0) {
        curp[0] = '\0';
    }
    return curp;
}

static void
delete_subject(struct store *st, const char *curp)
{
    MDB_txn  *txn;

    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_subject_delete(st, txn, curp), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void
put_finger(struct store *st, const char *curp, unsigned pos, uint8_t fill,
    size_t len)
{
    uint8_t              *buf = malloc(len);
    struct store_finger   f = { 0 };
    MDB_txn              *txn;

    memset(buf, fill, len);
    f.position = (uint8_t) pos;
    f.format = 1;
    f.quality = 80;
    f.minutiae = 40;
    f.stored = buf;
    f.stored_len = len;
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_finger_put(st, txn, curp, &f), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    free(buf);
}

static int
count_cb(void *arg, const struct store_finger *f)
{
    (*(unsigned *) arg)++;
    ck_assert_uint_ge(f->stored_len, 1);
    return 0;
}

START_TEST(test_subject_crud)
{
    struct store          *st = open_store(dir);
    struct store_subject   s = { 0 }, out;
    MDB_txn               *txn;

    put_subject(st, "GARJ850312HDFRMN07", "Juan García Ramírez");
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(store_subject_get(st, txn, "GARJ850312HDFRMN07", &out),
        0);
    ck_assert_str_eq(out.name, "Juan García Ramírez");
    ck_assert_str_eq(out.nss, "12851000005");
    ck_assert_uint_gt(out.created, 0);
    ck_assert_int_eq(store_subject_get(st, txn, "LOHM900725MJCPRR00", &out),
        MDB_NOTFOUND);
    ck_assert_uint_eq(store_count_subjects(st, txn), 1);
    {
        char  curp[STORE_CURP_MAX];

        ck_assert_int_eq(store_subject_find_nss(st, txn, "12851000005",
            curp), 0);
        ck_assert_str_eq(curp, "GARJ850312HDFRMN07");
        ck_assert_int_eq(store_subject_find_nss(st, txn, "1285100000",
            curp), MDB_NOTFOUND);
    }
    mdb_txn_abort(txn);

    /* A second create of the same CURP is a conflict, not an overwrite. */
    snprintf(s.curp, sizeof(s.curp), "GARJ850312HDFRMN07");
    snprintf(s.name, sizeof(s.name), "Someone Else");
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_subject_create(st, txn, &s), MDB_KEYEXIST);
    mdb_txn_abort(txn);

    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_subject_delete(st, txn, "GARJ850312HDFRMN07"), 0);
    ck_assert_int_eq(store_subject_delete(st, txn, "GARJ850312HDFRMN07"),
        MDB_NOTFOUND);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    store_close(st);
}
END_TEST

/* Behind the store's back, as an older huellad would leave it: the NSS
 * index dropped (key NULL) or one of its entries deleted. */
static void
damage_nss_index(MDB_val *key, MDB_val *val)
{
    MDB_env  *env;
    MDB_txn  *txn;
    MDB_dbi   dbi;

    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 32), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "subject_nss", MDB_DUPSORT, &dbi), 0);
    if (key == NULL) {
        ck_assert_int_eq(mdb_drop(txn, dbi, 1), 0);
    } else {
        ck_assert_int_eq(mdb_del(txn, dbi, key, val), 0);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* The NSS index follows creates and deletes, keeps subjects that share an
 * NSS apart, and is rebuilt at open when it is missing (an environment
 * written before it existed) or incomplete. */
START_TEST(test_nss_index)
{
    struct store  *st = open_store(dir);
    MDB_val        k = { 11, "41907800143" }, v = { 18, "MEGA900101HDFRRL05" };

    put_subject_nss(st, "ZUMA900101HDFRRL05", "41907800143", "Z");
    put_subject_nss(st, "MEGA900101HDFRRL05", "41907800143", "M");
    put_subject_nss(st, "LOHM900725MJCPRR00", "", "No NSS");
    put_subject(st, "GARJ850312HDFRMN07", "G");
    ck_assert_str_eq(find_nss(st, "41907800143"), "MEGA900101HDFRRL05");
    ck_assert_str_eq(find_nss(st, "12851000005"), "GARJ850312HDFRMN07");
    ck_assert_str_eq(find_nss(st, ""), "");
    ck_assert_str_eq(find_nss(st, "4190780014"), "");
    delete_subject(st, "MEGA900101HDFRRL05");
    ck_assert_str_eq(find_nss(st, "41907800143"), "ZUMA900101HDFRRL05");
    delete_subject(st, "LOHM900725MJCPRR00");
    store_close(st);

    /* The index dropped, then one entry missing: each open rebuilds it. */
    damage_nss_index(NULL, NULL);
    st = open_store(dir);
    ck_assert_str_eq(find_nss(st, "41907800143"), "ZUMA900101HDFRRL05");
    ck_assert_str_eq(find_nss(st, "12851000005"), "GARJ850312HDFRMN07");
    put_subject_nss(st, "MEGA900101HDFRRL05", "41907800143", "M");
    store_close(st);

    damage_nss_index(&k, &v);
    st = open_store(dir);
    ck_assert_str_eq(find_nss(st, "41907800143"), "MEGA900101HDFRRL05");
    store_close(st);
}
END_TEST

START_TEST(test_finger_crud_and_isolation)
{
    struct store         *st = open_store(dir);
    struct store_finger   f;
    MDB_txn              *txn;
    unsigned              n = 0;
    const char           *a = "GARJ850312HDFRMN07", *b = "GARJ850312HDFRMN0Ñ";

    put_subject(st, a, "A");
    put_subject(st, b, "B");
    put_finger(st, a, 2, 0xAA, 300);
    put_finger(st, a, 7, 0xAB, 5000);          /* an overflow page */
    put_finger(st, b, 2, 0xBB, 200);
    put_finger(st, a, 2, 0xAC, 310);           /* replaces */

    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(store_finger_get(st, txn, a, 2, &f), 0);
    ck_assert_uint_eq(f.stored_len, 310);
    ck_assert_uint_eq(f.stored[0], 0xAC);
    ck_assert_uint_eq(f.position, 2);
    ck_assert_uint_eq(f.quality, 80);
    ck_assert_int_eq(store_finger_get(st, txn, a, 3, &f), MDB_NOTFOUND);
    ck_assert_int_eq(store_finger_each(st, txn, a, count_cb, &n), 0);
    ck_assert_uint_eq(n, 2);
    n = 0;
    ck_assert_int_eq(store_finger_each(st, txn, b, count_cb, &n), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(store_count_fingers(st, txn), 3);
    mdb_txn_abort(txn);

    /* Deleting a subject takes its fingers and only its fingers. */
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_subject_delete(st, txn, a), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_uint_eq(store_count_fingers(st, txn), 1);
    ck_assert_int_eq(store_finger_get(st, txn, b, 2, &f), 0);
    ck_assert_uint_eq(f.stored[0], 0xBB);
    mdb_txn_abort(txn);

    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_finger_delete(st, txn, b, 2), 0);
    ck_assert_int_eq(store_finger_delete(st, txn, b, 2), MDB_NOTFOUND);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    store_close(st);
}
END_TEST

START_TEST(test_scan_decodes_every_finger)
{
    struct store         *st = open_store(dir);
    struct store_finger   f;
    MDB_txn              *txn;
    MDB_cursor           *cur;
    MDB_val               k, v;
    char                  curp[STORE_CURP_MAX];
    unsigned              n = 0, i;
    char                  c[19];

    for (i = 0; i < 50; i++) {
        snprintf(c, sizeof(c), "AAAA%06uHDFXXX0%u", i, i % 10);
        put_subject(st, c, "x");
        put_finger(st, c, 1 + i % 10, (uint8_t) i, 100 + i);
    }
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(store_finger_cursor(st, txn, &cur), 0);
    while (mdb_cursor_get(cur, &k, &v, n ? MDB_NEXT : MDB_FIRST) == 0) {
        ck_assert_int_eq(store_finger_decode(&k, &v, curp, &f), 0);
        ck_assert_uint_eq(strlen(curp), 18);
        ck_assert_uint_eq(f.stored_len, 100 + f.stored[0]);
        n++;
    }
    ck_assert_uint_eq(n, 50);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    store_close(st);
}
END_TEST

START_TEST(test_reopen_keeps_commits)
{
    struct store         *st = open_store(dir);
    struct store_subject  s = { 0 };
    struct store_finger   f;
    MDB_txn              *txn;

    put_subject(st, "GARJ850312HDFRMN07", "Durable");
    put_finger(st, "GARJ850312HDFRMN07", 2, 0x5A, 400);
    /* An aborted write leaves nothing behind. */
    snprintf(s.curp, sizeof(s.curp), "LOHM900725MJCPRR00");
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(store_subject_create(st, txn, &s), 0);
    mdb_txn_abort(txn);
    store_close(st);

    st = open_store(dir);
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_int_eq(store_subject_get(st, txn, "GARJ850312HDFRMN07", &s),
        0);
    ck_assert_str_eq(s.name, "Durable");
    ck_assert_int_eq(store_finger_get(st, txn, "GARJ850312HDFRMN07", 2, &f),
        0);
    ck_assert_uint_eq(f.stored_len, 400);
    ck_assert_int_eq(store_subject_get(st, txn, "LOHM900725MJCPRR00", &s),
        MDB_NOTFOUND);
    mdb_txn_abort(txn);
    store_close(st);
}
END_TEST

START_TEST(test_backup_opens_as_a_store)
{
    struct store         *st = open_store(dir), *copy;
    struct store_subject  s;
    MDB_txn              *txn;
    char                  bdir[128];

    put_subject(st, "GARJ850312HDFRMN07", "Backed up");
    snprintf(bdir, sizeof(bdir), "%s/backup/nested", dir);
    ck_assert_msg(store_backup(st, bdir, err, sizeof(err)) == 0, "%s", err);
    /* A second copy into the same place is refused, not overwritten. */
    ck_assert_int_eq(store_backup(st, bdir, err, sizeof(err)), -1);
    ck_assert(strstr(err, "already holds") != NULL);
    store_close(st);

    copy = open_store(bdir);
    ck_assert_int_eq(store_read_begin(copy, &txn), 0);
    ck_assert_int_eq(store_subject_get(copy, txn, "GARJ850312HDFRMN07", &s),
        0);
    ck_assert_str_eq(s.name, "Backed up");
    mdb_txn_abort(txn);
    store_close(copy);
}
END_TEST

START_TEST(test_open_errors)
{
    struct store  *st = NULL;

    ck_assert_int_eq(store_open(&st, "/proc/huella-no", 64u << 20, 16, err,
        sizeof(err)), -1);
    ck_assert(strstr(err, "/proc/huella-no") != NULL);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("store");
    TCase    *tc = tcase_create("store");
    SRunner  *sr;
    int       failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_subject_crud);
    tcase_add_test(tc, test_nss_index);
    tcase_add_test(tc, test_finger_crud_and_isolation);
    tcase_add_test(tc, test_scan_decodes_every_finger);
    tcase_add_test(tc, test_reopen_keeps_commits);
    tcase_add_test(tc, test_backup_opens_as_a_store);
    tcase_add_test(tc, test_open_errors);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
