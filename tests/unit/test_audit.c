/*
 * test_audit.c -- the audit trail's hash chain.
 *
 * Owns: a chain of entries kept in memory the way huellad keeps them in
 * LMDB (one buffer per sequence number), and the proof that every kind
 * of tampering -- a flipped byte anywhere, a rewritten entry with a fresh
 * hash, removed entries at the start, middle or end, duplicates, a
 * consistent rewrite of the tail -- is reported at the right entry; plus
 * the field rules of the encoder and the decoder's bounds.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

#define N      10
#define BUFMAX 512

struct chain {
    uint8_t   buf[N + 2][BUFMAX];
    size_t    len[N + 2];
    uint8_t   hash[N + 2][AUDIT_HASH_LEN];
    size_t    count;
    size_t    pos;
    int       fail_at;          /* read error at this index, -1 none */
};

static int
chain_next(void *ctx, const uint8_t **e, size_t *n)
{
    struct chain  *c = ctx;

    if ((int) c->pos == c->fail_at) {
        return -1;
    }
    if (c->pos >= c->count) {
        return 0;
    }
    *e = c->buf[c->pos];
    *n = c->len[c->pos];
    c->pos++;
    return 1;
}

static void
put(struct chain *c, size_t i, uint64_t seq, const uint8_t *prev,
    const char *detail)
{
    char                 actor[32], err[128];
    struct audit_record  r = { seq, 1767225600000LL + (int64_t) seq * 1000,
                               actor, "login_failed", "GODE561231HDFRRN00",
                               detail };
    long                 n;

    snprintf(actor, sizeof(actor), "user-%llu", (unsigned long long) seq);
    n = audit_entry_encode(&r, prev, c->buf[i], BUFMAX, c->hash[i], err,
                           sizeof(err));
    ck_assert_msg(n > 0, "%s", err);
    ck_assert_int_eq((size_t) n, audit_entry_size(&r));
    c->len[i] = (size_t) n;
}

static void
build(struct chain *c)
{
    static const uint8_t  zero[AUDIT_HASH_LEN];
    size_t                i;

    memset(c, 0, sizeof(*c));
    c->fail_at = -1;
    for (i = 0; i < N; i++) {
        put(c, i, i + 1, i == 0 ? zero : c->hash[i - 1],
            "{\"ip\":\"192.0.2.7\",\"reason\":\"password\"}");
    }
    c->count = N;
}

static void
drop(struct chain *c, size_t i)
{
    memmove(c->buf[i], c->buf[i + 1], (c->count - i - 1) * BUFMAX);
    memmove(c->len + i, c->len + i + 1, (c->count - i - 1) * sizeof(size_t));
    memmove(c->hash[i], c->hash[i + 1], (c->count - i - 1) * AUDIT_HASH_LEN);
    c->count--;
}

static enum audit_verdict
verify(struct chain *c, const struct audit_anchor *a, struct audit_report *r)
{
    c->pos = 0;
    audit_chain_verify(chain_next, c, a, r);
    return r->verdict;
}

START_TEST(intact_chain)
{
    struct chain         c;
    struct audit_report  r;
    struct audit_view    v;
    char                 hex[65];

    build(&c);
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_CHAIN_OK);
    ck_assert_int_eq(r.entries, N);
    ck_assert_int_eq(r.head_seq, N);
    ck_assert(memcmp(r.head_hash, c.hash[N - 1], AUDIT_HASH_LEN) == 0);
    ck_assert_str_eq(audit_verdict_code(r.verdict), "ok");

    ck_assert_int_eq(audit_entry_decode(c.buf[3], c.len[3], &v, NULL, 0), 0);
    ck_assert_int_eq(v.seq, 4);
    ck_assert_int_eq(v.time_ms, 1767225604000LL);
    ck_assert(v.actor_len == 6 && memcmp(v.actor, "user-4", 6) == 0);
    ck_assert(v.action_len == 12 && memcmp(v.action, "login_failed", 12) == 0);
    ck_assert(v.target_len == 18);
    ck_assert(memcmp(v.prev_hash, c.hash[2], AUDIT_HASH_LEN) == 0);
    ck_assert(memcmp(v.hash, c.hash[3], AUDIT_HASH_LEN) == 0);
    audit_hash_hex(v.hash, hex);
    ck_assert_int_eq(strlen(hex), 64);

    c.count = 0;
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_CHAIN_OK);
    ck_assert_int_eq(r.entries, 0);
}
END_TEST

/* Any single changed byte of entry 3 is caught at entry 3. */
START_TEST(every_byte_of_an_entry)
{
    struct chain         c;
    struct audit_report  r;
    size_t               i;

    build(&c);
    for (i = 0; i < c.len[2]; i++) {
        c.buf[2][i] ^= 0x20;
        ck_assert_msg(verify(&c, NULL, &r) != AUDIT_CHAIN_OK, "byte %zu", i);
        ck_assert_msg(r.first_bad_seq == 3, "byte %zu: %s at %llu (%s)", i,
                      audit_verdict_code(r.verdict),
                      (unsigned long long) r.first_bad_seq, r.message);
        c.buf[2][i] ^= 0x20;
    }
    /* every truncation and an extra byte */
    for (i = 0; i < c.len[2]; i++) {
        size_t keep = c.len[2];
        c.len[2] = i;
        ck_assert(verify(&c, NULL, &r) == AUDIT_ENTRY_MALFORMED);
        ck_assert_int_eq(r.first_bad_seq, 3);
        c.len[2] = keep;
    }
    c.len[2]++;
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_MALFORMED);
}
END_TEST

START_TEST(rewritten_entry)
{
    struct chain         c;
    struct audit_report  r;

    build(&c);
    /* entry 5 rewritten with a fresh, self-consistent hash */
    put(&c, 4, 5, c.hash[3], "{\"reason\":\"nothing happened\"}");
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_ALTERED);
    ck_assert_int_eq(r.first_bad_seq, 5);
    ck_assert_msg(strstr(r.message, "rewritten") != NULL, "%s", r.message);

    /* entry 1 replaced by one that does not start from zero */
    build(&c);
    put(&c, 0, 1, c.hash[5], "{}");
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_ALTERED);
    ck_assert_int_eq(r.first_bad_seq, 1);
}
END_TEST

START_TEST(removed_entries)
{
    struct chain         c;
    struct audit_report  r;
    struct audit_anchor  a;

    build(&c);
    drop(&c, 4);
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_REMOVED);
    ck_assert_int_eq(r.first_bad_seq, 5);
    ck_assert_str_eq(r.message, "entry 5 was removed");
    ck_assert_str_eq(audit_verdict_code(r.verdict), "entry_removed");

    build(&c);
    drop(&c, 4);
    drop(&c, 4);
    drop(&c, 4);
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_REMOVED);
    ck_assert_str_eq(r.message, "entries 5 to 7 were removed");

    build(&c);
    drop(&c, 0);
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_REMOVED);
    ck_assert_int_eq(r.first_bad_seq, 1);

    /* the tail: invisible to the chain, caught by an anchor */
    build(&c);
    a.seq = N;
    memcpy(a.hash, c.hash[N - 1], AUDIT_HASH_LEN);
    ck_assert_int_eq(verify(&c, &a, &r), AUDIT_CHAIN_OK);
    c.count = N - 2;
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_CHAIN_OK);
    ck_assert_int_eq(verify(&c, &a, &r), AUDIT_ENTRY_REMOVED);
    ck_assert_int_eq(r.first_bad_seq, N - 1);
    c.count = 0;
    ck_assert_int_eq(verify(&c, &a, &r), AUDIT_ENTRY_REMOVED);
    ck_assert_int_eq(r.first_bad_seq, 1);
}
END_TEST

START_TEST(consistent_tail_rewrite_needs_anchor)
{
    struct chain         c;
    struct audit_report  r;
    struct audit_anchor  a;
    size_t               i;

    build(&c);
    a.seq = 8;
    memcpy(a.hash, c.hash[7], AUDIT_HASH_LEN);
    for (i = 6; i < N; i++) {
        put(&c, i, i + 1, c.hash[i - 1], "{\"forged\":true}");
    }
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_CHAIN_OK);
    ck_assert_int_eq(verify(&c, &a, &r), AUDIT_ENTRY_ALTERED);
    ck_assert_int_eq(r.first_bad_seq, 8);
}
END_TEST

START_TEST(order_and_read_errors)
{
    struct chain         c;
    struct audit_report  r;

    build(&c);
    memcpy(c.buf[4], c.buf[3], BUFMAX);         /* entry 4 twice */
    c.len[4] = c.len[3];
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_ENTRY_OUT_OF_ORDER);
    ck_assert_int_eq(r.first_bad_seq, 5);

    build(&c);
    c.fail_at = 6;
    ck_assert_int_eq(verify(&c, NULL, &r), AUDIT_READ_ERROR);
    ck_assert_int_eq(r.first_bad_seq, 7);
    ck_assert_int_eq(r.entries, 6);
    ck_assert_str_eq(audit_verdict_code(AUDIT_ENTRY_OUT_OF_ORDER),
                     "entry_out_of_order");
    ck_assert_str_eq(audit_verdict_code((enum audit_verdict) 77), "unknown");
}
END_TEST

START_TEST(encoder_rules)
{
    static const uint8_t  zero[AUDIT_HASH_LEN];
    static char           big[AUDIT_DETAIL_MAX + 2];
    uint8_t               buf[BUFMAX], h[AUDIT_HASH_LEN];
    char                  err[128];
    struct audit_record   ok = { 1, 0, "Jos\xc3\xa9 P\xc3\xa9rez", "role.grant",
                                 NULL, NULL };
    struct {
        struct audit_record  r;
        const char          *needle;
    } bad[] = {
        { { 0, 0, "a", "x", NULL, NULL }, "seq" },
        { { 1, 0, NULL, "x", NULL, NULL }, "required" },
        { { 1, 0, "a", NULL, NULL, NULL }, "required" },
        { { 1, 0, "", "x", NULL, NULL }, "actor" },
        { { 1, 0, "a\nb", "x", NULL, NULL }, "actor" },
        { { 1, 0, "a\xc0\xaf", "x", NULL, NULL }, "actor" },
        { { 1, 0, "a\xed\xa0\x80", "x", NULL, NULL }, "actor" },
        { { 1, 0, "a\xc2\x9b", "x", NULL, NULL }, "actor" },
        { { 1, 0, "a", "", NULL, NULL }, "action" },
        { { 1, 0, "a", "Login", NULL, NULL }, "action" },
        { { 1, 0, "a", "login failed", NULL, NULL }, "action" },
        { { 1, 0, "a", "x", "t\x1b[31m", NULL }, "target" },
        { { 1, 0, "a", "x", NULL, "\xff" }, "detail" },
        { { 1, 0, "a", "x", NULL, "caf\xc3" }, "detail" },
    };
    char    actor[300], action[80];
    size_t  i;

    ck_assert(audit_entry_encode(&ok, zero, buf, sizeof(buf), h, err,
                                 sizeof(err)) > 0);
    ok.target = "";
    ok.detail = "line one\nline two\t{}";
    ck_assert(audit_entry_encode(&ok, zero, buf, sizeof(buf), h, err,
                                 sizeof(err)) > 0);
    ck_assert_int_eq(audit_entry_encode(&ok, zero, buf, 40, h, err,
                                        sizeof(err)), -1);
    ck_assert_msg(strstr(err, "buffer") != NULL, "%s", err);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(audit_entry_size(&bad[i].r), 0);
        ck_assert_int_eq(audit_entry_encode(&bad[i].r, zero, buf,
                                            sizeof(buf), h, err,
                                            sizeof(err)), -1);
        ck_assert_msg(strstr(err, bad[i].needle) != NULL, "%zu: %s", i, err);
    }
    memset(actor, 'a', sizeof(actor));
    actor[256] = '\0';
    ok.actor = actor;
    ck_assert_int_eq(audit_entry_size(&ok), 0);
    actor[255] = '\0';
    ck_assert(audit_entry_size(&ok) > 0);
    memset(action, 'a', sizeof(action));
    action[65] = '\0';
    ok.action = action;
    ck_assert_int_eq(audit_entry_size(&ok), 0);
    ok.action = "x";
    memset(big, 'd', sizeof(big));
    big[AUDIT_DETAIL_MAX + 1] = '\0';
    ok.detail = big;
    ck_assert_int_eq(audit_entry_size(&ok), 0);
    big[AUDIT_DETAIL_MAX] = '\0';
    ck_assert(audit_entry_size(&ok) > AUDIT_DETAIL_MAX);
    ck_assert_int_eq(audit_entry_size(NULL), 0);
    ck_assert_int_eq(audit_entry_decode(NULL, 0, &(struct audit_view){0},
                                        err, sizeof(err)), -1);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("audit");
    TCase    *tc = tcase_create("audit");
    SRunner  *sr;
    int       failed;

    tcase_add_test(tc, intact_chain);
    tcase_add_test(tc, every_byte_of_an_entry);
    tcase_add_test(tc, rewritten_entry);
    tcase_add_test(tc, removed_entries);
    tcase_add_test(tc, consistent_tail_rewrite_needs_anchor);
    tcase_add_test(tc, order_and_read_errors);
    tcase_add_test(tc, encoder_rules);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
