/*
 * test_sigblocks.c -- the signature blocks (sigblocks.h) and their upkeep
 * by the store (store.h): random puts, replacements and deletes checked
 * against a model after every transaction (every slot map entry points at
 * its own key and signature, every lane dense, counts equal), the bulk
 * rebuild, and store_open()'s migration of a version-2 per-finger
 * "signatures" database (copied into blocks, then deleted).
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "match.h"
#include "prefilter.h"
#include "sigblocks.h"
#include "store.h"

#define NKEYS  12000

static char  dir[64];

static MDB_env              *env;
static struct sigblock_dbs   dbs;

/* The model: which keys hold which signature (the signature is derived
 * from the key and a generation so replacements are visible). */
static uint32_t  gen[NKEYS];          /* 0: absent */

static size_t
make_key(unsigned i, uint8_t *buf)
{
    int  n = snprintf((char *) buf, 40, "K%05uAAAAAAAAAAAA", i / 3);

    buf[n] = 0;
    buf[n + 1] = (uint8_t) (i % 3 + 1);
    return (size_t) n + 2;
}

static void
make_sig(unsigned i, uint32_t g, uint8_t *sig)
{
    unsigned  j;

    for (j = 0; j < HM_SIG_BYTES; j++) {
        sig[j] = (uint8_t) (i * 131u + g * 7u + j);
    }
}

static void
env_up(void)
{
    MDB_txn  *txn;

    snprintf(dir, sizeof(dir), "/tmp/huella-test-sigblocks-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, (size_t) 1 << 30), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "sigblocks", MDB_CREATE,
        &dbs.blocks), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "sigslots", MDB_CREATE, &dbs.slots),
        0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    memset(gen, 0, sizeof(gen));
}

static void
rm_dir(const char *d)
{
    char  path[128];

    snprintf(path, sizeof(path), "%s/data.mdb", d);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", d);
    unlink(path);
    rmdir(d);
}

static void
env_down(void)
{
    mdb_env_close(env);
    rm_dir(dir);
}

/* Walks every block: each slot's key is in the model with that very
 * signature, its slot map entry points back at it, only a lane's last
 * block is partly filled, and the totals agree. */
static void
check_consistent(MDB_txn *txn)
{
    MDB_cursor            *cur;
    MDB_val                k, v, fk, rv;
    struct sigblock_view   b;
    uint8_t                sig[HM_SIG_BYTES], kb[48];
    unsigned               seen = 0, present = 0, i, slot;
    int                    lane = -1, partial = 0, rc;
    uint32_t               ref[2], expect_number = 0;
    MDB_stat               st;

    for (i = 0; i < NKEYS; i++) {
        present += gen[i] != 0;
    }
    ck_assert_int_eq(mdb_cursor_open(txn, dbs.blocks, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        ck_assert_int_eq(sigblock_decode(&k, &v, &b), 0);
        ck_assert_uint_gt(b.used, 0);
        if ((int) b.lane != lane) {
            lane = (int) b.lane;
            partial = 0;
            expect_number = 0;
        }
        /* Blocks are numbered from 0 without gaps; only the last of a
         * lane is partly filled. */
        ck_assert_uint_eq(b.number, expect_number);
        expect_number++;
        ck_assert_int_eq(partial, 0);
        partial = b.used < SIGBLOCK_SLOTS;
        for (slot = 0; slot < b.used; slot++) {
            fk = sigblock_slot_key(&b, slot);
            ck_assert_uint_gt(fk.mv_size, 2);
            ck_assert_uint_eq(sigblock_lane(fk.mv_data, fk.mv_size - 2),
                b.lane);
            i = (unsigned) atoi((const char *) fk.mv_data + 1) * 3
                + ((const uint8_t *) fk.mv_data)[fk.mv_size - 1] - 1;
            ck_assert_uint_lt(i, NKEYS);
            ck_assert_uint_eq(make_key(i, kb), fk.mv_size);
            ck_assert(memcmp(kb, fk.mv_data, fk.mv_size) == 0);
            ck_assert_uint_ne(gen[i], 0);
            make_sig(i, gen[i], sig);
            ck_assert(memcmp(sig, b.sigs + (size_t) slot * HM_SIG_BYTES,
                HM_SIG_BYTES) == 0);
            ck_assert_int_eq(mdb_get(txn, dbs.slots, &fk, &rv), 0);
            ck_assert_uint_eq(rv.mv_size, sizeof(ref));
            memcpy(ref, rv.mv_data, sizeof(ref));
            ck_assert_uint_eq(ref[0], b.number);
            ck_assert_uint_eq(ref[1], slot);
            seen++;
        }
        for (slot = b.used; slot < SIGBLOCK_SLOTS; slot++) {
            ck_assert_uint_eq(sigblock_slot_key(&b, slot).mv_size, 0);
        }
    }
    ck_assert_int_eq(rc, MDB_NOTFOUND);
    mdb_cursor_close(cur);
    ck_assert_uint_eq(seen, present);
    ck_assert_int_eq(mdb_stat(txn, dbs.slots, &st), 0);
    ck_assert_uint_eq(st.ms_entries, present);
}

static void
op_put(MDB_txn *txn, unsigned i)
{
    uint8_t  kb[48], sig[HM_SIG_BYTES];
    MDB_val  k = { make_key(i, kb), kb };

    gen[i]++;
    make_sig(i, gen[i], sig);
    ck_assert_int_eq(sigblock_put(txn, &dbs, &k, sig), 0);
}

static void
op_del(MDB_txn *txn, unsigned i)
{
    uint8_t  kb[48];
    MDB_val  k = { make_key(i, kb), kb };

    ck_assert_int_eq(sigblock_del(txn, &dbs, &k), 0);
    gen[i] = 0;
}

START_TEST(test_random_upkeep)
{
    MDB_txn   *txn;
    unsigned   round, n, i;

    env_up();
    srand(7);
    for (round = 0; round < 12; round++) {
        ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
        for (n = 0; n < (round < 4 ? 4000u : 1500u); n++) {
            i = (unsigned) rand() % NKEYS;
            if (round >= 4 && rand() % 100 < (round < 8 ? 45 : 80)) {
                op_del(txn, i);        /* also of absent keys: a no-op */
            } else {
                op_put(txn, i);        /* new, or a replacement */
            }
        }
        check_consistent(txn);
        if (round % 3 == 2) {
            mdb_txn_abort(txn);        /* the model must follow: redo */
            ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
            /* Rebuild the model from the committed state instead. */
            memset(gen, 0, sizeof(gen));
            {
                MDB_cursor            *cur;
                MDB_val                k, v, fk;
                struct sigblock_view   b;
                unsigned               slot, j, g;
                uint8_t                sig[HM_SIG_BYTES];
                int                    rc;

                ck_assert_int_eq(mdb_cursor_open(txn, dbs.blocks, &cur), 0);
                for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
                     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
                {
                    ck_assert_int_eq(sigblock_decode(&k, &v, &b), 0);
                    for (slot = 0; slot < b.used; slot++) {
                        fk = sigblock_slot_key(&b, slot);
                        j = (unsigned) atoi((const char *) fk.mv_data + 1)
                            * 3 + ((const uint8_t *) fk.mv_data)[
                                fk.mv_size - 1] - 1;
                        for (g = 1; g < 1000; g++) {
                            make_sig(j, g, sig);
                            if (memcmp(sig, b.sigs + (size_t) slot
                                    * HM_SIG_BYTES, HM_SIG_BYTES) == 0)
                            {
                                break;
                            }
                        }
                        ck_assert_uint_lt(g, 1000);
                        gen[j] = g;
                    }
                }
                mdb_cursor_close(cur);
            }
            check_consistent(txn);
            mdb_txn_abort(txn);
        } else {
            ck_assert_int_eq(mdb_txn_commit(txn), 0);
        }
    }
    /* Delete everything: no block is left. */
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    for (i = 0; i < NKEYS; i++) {
        op_del(txn, i);
    }
    check_consistent(txn);
    {
        MDB_stat  st;

        ck_assert_int_eq(mdb_stat(txn, dbs.blocks, &st), 0);
        ck_assert_uint_eq(st.ms_entries, 0);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    env_down();
}
END_TEST

struct rebuild_src {
    unsigned  next;
};

static int
rebuild_next(void *arg, MDB_val *fkey, uint8_t *sig)
{
    struct rebuild_src  *s = arg;
    static uint8_t       kb[48];
    unsigned             i;

    for (;;) {
        i = s->next++;
        if (i >= NKEYS) {
            return MDB_NOTFOUND;
        }
        if (i % 5 == 4) {
            return 1;                   /* "not searchable": left out */
        }
        if (gen[i] != 0) {
            break;
        }
    }
    fkey->mv_data = kb;
    fkey->mv_size = make_key(i, kb);
    make_sig(i, gen[i], sig);
    return 0;
}

START_TEST(test_rebuild)
{
    struct rebuild_src  src = { 0 };
    MDB_txn            *txn;
    unsigned            i;

    env_up();
    /* Some stale content, replaced wholesale by the rebuild. */
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    for (i = 0; i < 3000; i++) {
        op_put(txn, (i * 7) % NKEYS);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    for (i = 0; i < NKEYS; i++) {
        gen[i] = i % 2 ? 3 : 0;
    }
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(sigblock_rebuild(txn, &dbs, rebuild_next, &src), 0);
    for (i = 0; i < NKEYS; i++) {
        if (i % 5 == 4) {
            gen[i] = 0;                 /* left out by the source */
        }
    }
    check_consistent(txn);
    /* Upkeep goes on from a rebuilt state. */
    for (i = 0; i < NKEYS; i += 3) {
        if (i % 2) {
            op_del(txn, i);
        } else {
            op_put(txn, i);
        }
    }
    check_consistent(txn);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    env_down();
}
END_TEST

/* store level: fingers put, replaced and deleted keep the blocks in step;
 * a version-2 database (per-finger "signatures", no "sigblocks" in meta)
 * is migrated at open, copying its signatures. */
static const char *
shared_dir(void)
{
    const char  *d = getenv("HUELLA_SHARED");

    return d != NULL && d[0] != '\0' ? d : "../shared";
}

static long
load_template(const char *name, uint8_t *out)
{
    struct hm_fingerprint  fp;
    char                   path[1024], err[256];
    static uint8_t         buf[65536];
    FILE                  *f;
    size_t                 n;

    snprintf(path, sizeof(path), "%s/data/fvc2002/DB1_B/%s", shared_dir(),
        name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (set HUELLA_SHARED)", path);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    ck_assert_int_eq(hm_parse(1, buf, n, &fp, err, sizeof(err)), 0);
    return hm_encode(&fp, out, HM_STORED_MAX, err, sizeof(err));
}

/* Every signature in the blocks, checked against its finger's template;
 * returns how many there are. */
static uint64_t
check_store_blocks(struct store *st, MDB_txn *txn)
{
    MDB_cursor            *cur;
    MDB_val                k, v, fk;
    struct sigblock_view   b;
    struct store_finger    f;
    char                   curp[STORE_CURP_MAX];
    uint8_t                sig[HM_SIG_BYTES];
    uint64_t               n = 0;
    unsigned               slot;
    int                    rc;

    ck_assert_int_eq(store_sigblock_cursor(st, txn, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        ck_assert_int_eq(sigblock_decode(&k, &v, &b), 0);
        for (slot = 0; slot < b.used; slot++) {
            fk = sigblock_slot_key(&b, slot);
            ck_assert_int_eq(store_finger_get_key(st, txn, &fk, curp, &f),
                0);
            ck_assert_int_eq(hm_signature_from_stored(f.stored,
                f.stored_len, sig), 0);
            ck_assert(memcmp(sig, b.sigs + (size_t) slot * HM_SIG_BYTES,
                HM_SIG_BYTES) == 0);
            n++;
        }
    }
    mdb_cursor_close(cur);
    ck_assert_uint_eq(n, store_count_signatures(st, txn));
    return n;
}

START_TEST(test_store_upkeep_and_migration)
{
    char                  data[] = "/tmp/huella-test-sigstore-XXXXXX";
    char                  err[256], curp[STORE_CURP_MAX];
    static uint8_t        t1[HM_STORED_MAX], t2[HM_STORED_MAX];
    long                  n1 = load_template("101_1.iso", t1);
    long                  n2 = load_template("102_1.iso", t2);
    struct store         *st;
    struct store_finger   f;
    MDB_txn              *txn;
    MDB_dbi               old, meta;
    MDB_cursor           *cur;
    MDB_val               k, v;
    unsigned              i;
    int                   rc;

    ck_assert_int_gt(n1, 0);
    ck_assert_int_gt(n2, 0);
    ck_assert_ptr_nonnull(mkdtemp(data));
    ck_assert_int_eq(store_open(&st, data, 256u << 20, 16, err,
        sizeof(err)), 0);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    memset(&f, 0, sizeof(f));
    for (i = 0; i < 600; i++) {
        struct store_subject  s;

        memset(&s, 0, sizeof(s));
        snprintf(s.curp, sizeof(s.curp), "SUBJ%06uHDFRRN01", i);
        ck_assert_int_eq(store_subject_create(st, txn, &s), 0);
        f.position = 1;
        f.stored = i % 2 ? t1 : t2;
        f.stored_len = (size_t) (i % 2 ? n1 : n2);
        ck_assert_int_eq(store_finger_put(st, txn, s.curp, &f), 0);
        f.position = 6;
        ck_assert_int_eq(store_finger_put(st, txn, s.curp, &f), 0);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    /* Replace, delete fingers, delete subjects. */
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    for (i = 0; i < 600; i += 3) {
        snprintf(curp, sizeof(curp), "SUBJ%06uHDFRRN01", i);
        f.position = 1;
        f.stored = t1;
        f.stored_len = (size_t) n1;
        ck_assert_int_eq(store_finger_put(st, txn, curp, &f), 0);
        snprintf(curp, sizeof(curp), "SUBJ%06uHDFRRN01", i + 1);
        ck_assert_int_eq(store_finger_delete(st, txn, curp, 6), 0);
        snprintf(curp, sizeof(curp), "SUBJ%06uHDFRRN01", i + 2);
        ck_assert_int_eq(store_subject_delete(st, txn, curp), 0);
    }
    ck_assert_uint_eq(check_store_blocks(st, txn),
        store_count_fingers(st, txn));
    ck_assert_uint_eq(store_count_fingers(st, txn), 1200 - 200 - 400);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);

    /* Make it look like a version-2 database: a per-finger "signatures"
     * database (here with deliberately different bytes, to see that they
     * are the ones copied), no "sigblocks" layout in meta. */
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "signatures", MDB_CREATE, &old), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    ck_assert_int_eq(store_finger_cursor(st, txn, &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    {
        MDB_val  sv = { HM_SIG_BYTES, NULL };

        ck_assert_int_eq(mdb_put(txn, old, &k, &sv, MDB_RESERVE), 0);
        memset(sv.mv_data, 0x5a, HM_SIG_BYTES);
    }
    mdb_cursor_close(cur);
    k.mv_data = "sigblocks";
    k.mv_size = 9;
    ck_assert_int_eq(mdb_del(txn, meta, &k, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    store_close(st);

    ck_assert_int_eq(store_open(&st, data, 256u << 20, 16, err,
        sizeof(err)), 0);
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_uint_eq(store_count_signatures(st, txn), 600);
    ck_assert_int_eq(mdb_dbi_open(txn, "signatures", 0, &old),
        MDB_NOTFOUND);
    {
        MDB_val                bk, bv;
        struct sigblock_view   b;
        uint64_t               copied = 0;
        unsigned               slot, j;

        ck_assert_int_eq(store_sigblock_cursor(st, txn, &cur), 0);
        for (rc = mdb_cursor_get(cur, &bk, &bv, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &bk, &bv, MDB_NEXT))
        {
            ck_assert_int_eq(sigblock_decode(&bk, &bv, &b), 0);
            for (slot = 0; slot < b.used; slot++) {
                for (j = 0; j < HM_SIG_BYTES; j++) {
                    ck_assert_uint_eq(b.sigs[slot * HM_SIG_BYTES + j], 0x5a);
                }
                copied++;
            }
        }
        mdb_cursor_close(cur);
        ck_assert_uint_eq(copied, 600);
    }
    mdb_txn_abort(txn);
    store_close(st);

    /* Layout current but counts disagree (e.g. a lost slot map): rebuilt
     * from the templates themselves. */
    ck_assert_int_eq(store_open(&st, data, 256u << 20, 16, err,
        sizeof(err)), 0);
    ck_assert_int_eq(store_write_begin(st, NULL, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "sigslots", 0, &old), 0);
    ck_assert_int_eq(mdb_drop(txn, old, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    store_close(st);
    ck_assert_int_eq(store_open(&st, data, 256u << 20, 16, err,
        sizeof(err)), 0);
    ck_assert_int_eq(store_read_begin(st, &txn), 0);
    ck_assert_uint_eq(check_store_blocks(st, txn), 600);
    mdb_txn_abort(txn);
    store_close(st);
    rm_dir(data);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("sigblocks");
    TCase    *tc = tcase_create("core");
    SRunner  *sr;
    int       failed;

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_random_upkeep);
    tcase_add_test(tc, test_rebuild);
    tcase_add_test(tc, test_store_upkeep_and_migration);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
