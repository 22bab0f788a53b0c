/*
 * test_ipc.c -- the shared-memory link end to end: a real huellad server
 * (forked from the test, so it can be killed) on a temp socket and data
 * directory, driven through ipc_client.  Covers the handshake and its
 * refusals, malformed messages, every op, 8 threads sharing one region,
 * huellad's death seen by the client, and durability across kill -9.
 * Templates come from $HUELLA_SHARED/data (default ../shared), falling
 * back to the demo copies in config/demo/fingers.
 */

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "huella_ipc.h"
#include "ipc_client.h"
#include "ipc_server.h"
#include "ops.h"
#include "testd.h"

#define CURP_A  "GARJ850312HDFRMN07"
#define CURP_B  "LOHM900725MJCPRR00"

static uint8_t rep[HIPC_PAYLOAD_MAX];
static size_t  rep_len;
static int     status;

/* ---- server and fixtures -------------------------------------------------- */

static void
configure(struct hd_config *cfg)
{
    cfg->max_clients = 32;
}

static void
start_server(void)
{
    testd_fork(configure);
    hipc_client_close(testd_connect(200));
}

static void
kill_server(void)
{
    testd_kill();
}

static void
setup(void)
{
    testd_mkdir("/tmp/huella-ipc-XXXXXX");
    start_server();
}

static void
teardown(void)
{
    kill_server();
    testd_rmdir();
}

static struct hipc_client *
connect_ok(void)
{
    char                 err[512];
    struct hipc_client  *c = hipc_client_connect(sock_path, 2000, err,
                                 sizeof(err));

    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static void
call(struct hipc_client *c, uint16_t op, const void *req, size_t len)
{
    ck_assert_msg(hipc_client_call(c, op, req, len, rep, sizeof(rep),
        &rep_len, &status, 10000) == 0, "call failed: %s", strerror(errno));
}

static int
rep_str_eq(uint16_t tag, const char *want)
{
    const uint8_t  *d;
    uint32_t        n;

    return hipc_find(rep, rep_len, tag, &d, &n) == 1 && n == strlen(want)
           && memcmp(d, want, n) == 0;
}

static uint64_t
rep_u64(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n, v32;
    uint64_t        v = 0;

    if (hipc_find(rep, rep_len, tag, &d, &n) == 1) {
        if (n == 4 && hipc_get_u32(d, n, &v32) == 0) {
            return v32;
        }
        hipc_get_u64(d, n, &v);
    }
    return v;
}

static double
rep_f64(uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    double          v = -1;

    if (hipc_find(rep, rep_len, tag, &d, &n) == 1) {
        hipc_get_f64(d, n, &v);
    }
    return v;
}

static size_t
load_template(const char *name, uint8_t *buf, size_t cap)
{
    const char  *shared = getenv("HUELLA_SHARED");
    char         path[512];
    FILE        *f;
    size_t       n;

    snprintf(path, sizeof(path), "%s/data/fvc2002/DB1_B/%s",
        shared ? shared : "../shared", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(path, sizeof(path), "config/demo/fingers/%s", name);
        f = fopen(path, "rb");
    }
    ck_assert_msg(f != NULL, "template %s not found", name);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
create_subject(struct hipc_client *c, const char *curp, const char *name)
{
    uint8_t             req[512];
    struct hipc_writer  w;

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, curp);
    hipc_put_str(&w, HIPC_F_NSS, "12851000005");
    hipc_put_str(&w, HIPC_F_NAME, name);
    call(c, HIPC_OP_SUBJECT_CREATE, req, w.len);
}

static void
put_finger(struct hipc_client *c, const char *curp, unsigned pos,
    const char *file)
{
    uint8_t             req[8192], t[4096];
    struct hipc_writer  w;
    size_t              n = load_template(file, t, sizeof(t));

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, curp);
    hipc_put_u32(&w, HIPC_F_POSITION, pos);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&w, HIPC_F_TEMPLATE, t, n);
    call(c, HIPC_OP_FINGER_PUT, req, w.len);
}

static void
finger_request(struct hipc_writer *w, uint8_t *buf, size_t cap,
    const char *curp, const char *file)
{
    uint8_t  t[4096];
    size_t   n = load_template(file, t, sizeof(t));

    hipc_writer_init(w, buf, cap);
    if (curp) {
        hipc_put_str(w, HIPC_F_CURP, curp);
    }
    hipc_put_u32(w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(w, HIPC_F_TEMPLATE, t, n);
}

/* ---- handshake ------------------------------------------------------------ */

START_TEST(test_ping)
{
    struct hipc_client  *c = connect_ok();

    ck_assert_uint_eq(hipc_client_server_pid(c), (uint64_t) server);
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(rep_u64(HIPC_F_PID), (uint64_t) server);
    ck_assert_uint_eq(rep_u64(HIPC_F_SUBJECTS), 0);
    call(c, HIPC_OP_STATS, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(rep_u64(HIPC_F_TEMPLATES), 0);
    hipc_client_close(c);
}
END_TEST

START_TEST(test_version_mismatch_refused)
{
    char                 err[512];
    int                  ack = -1;
    struct hipc_client  *c;

    c = hipc_client_connect_version(sock_path, HIPC_VERSION + 1, 2000, &ack,
        err, sizeof(err));
    ck_assert_ptr_null(c);
    ck_assert_int_eq(ack, HIPC_ST_BAD_VERSION);
    ck_assert_msg(strstr(err, "version") != NULL, "%s", err);

    /* A message header with the wrong version is refused too. */
    c = connect_ok();
    hipc_client_set_msg_version(c, HIPC_VERSION + 7);
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_BAD_VERSION);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "protocol_version"));
    hipc_client_set_msg_version(c, HIPC_VERSION);
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_OK);
    hipc_client_close(c);
}
END_TEST

START_TEST(test_malformed_requests_refused)
{
    struct hipc_client  *c = connect_ok();
    uint8_t              req[256];
    struct hipc_writer   w;
    uint16_t             tag = HIPC_F_CURP, nonzero = 1;
    uint32_t             len = 1000;

    /* A TLV whose length runs past the payload. */
    memcpy(req, &tag, 2);
    memset(req + 2, 0, 2);
    memcpy(req + 4, &len, 4);
    memcpy(req + 8, CURP_A, 18);
    call(c, HIPC_OP_SUBJECT_GET, req, 26);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "malformed_request"));
    /* A truncated header. */
    call(c, HIPC_OP_SUBJECT_GET, req, 5);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    /* The reserved half-word must be zero. */
    len = 18;
    memcpy(req + 2, &nonzero, 2);
    memcpy(req + 4, &len, 4);
    call(c, HIPC_OP_SUBJECT_GET, req, 26);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    /* An integer of the wrong size, an unknown tag, a duplicate, a missing
     * field, an unknown op. */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    hipc_put_u64(&w, HIPC_F_POSITION, 2);
    call(c, HIPC_OP_FINGER_DELETE, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    ck_assert(rep_str_eq(HIPC_F_FIELD, "position"));
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    hipc_put_u32(&w, 60, 1);
    call(c, HIPC_OP_SUBJECT_GET, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "unexpected_field"));
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    hipc_put_str(&w, HIPC_F_CURP, CURP_B);
    call(c, HIPC_OP_SUBJECT_GET, req, w.len);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "duplicate_field"));
    call(c, HIPC_OP_SUBJECT_GET, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "missing_field"));
    ck_assert(rep_str_eq(HIPC_F_FIELD, "curp"));
    call(c, 999, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_BAD_REQUEST);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "unknown_op"));
    /* Invalid values are INVALID naming the field. */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, "garj850312hdfrmn07");
    call(c, HIPC_OP_SUBJECT_GET, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_INVALID);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "invalid_curp"));
    ck_assert(rep_str_eq(HIPC_F_FIELD, "curp"));
    /* Random garbage never crashes the server. */
    {
        unsigned  i, j;

        srand(42);
        for (i = 0; i < 2000; i++) {
            for (j = 0; j < sizeof(req); j++) {
                req[j] = (uint8_t) rand();
            }
            call(c, (uint16_t) (1 + rand() % 41), req,
                (size_t) rand() % sizeof(req));
            ck_assert_int_ne(status, HIPC_ST_INTERNAL);
        }
    }
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_int_eq(status, HIPC_ST_OK);
    hipc_client_close(c);
}
END_TEST

/* ---- operations ----------------------------------------------------------- */

START_TEST(test_subjects_and_fingers)
{
    struct hipc_client  *c = connect_ok();
    uint8_t              req[8192];
    struct hipc_writer   w;

    create_subject(c, CURP_A, "Juan García Ramírez");
    ck_assert_int_eq(status, HIPC_ST_OK);
    create_subject(c, CURP_A, "Again");
    ck_assert_int_eq(status, HIPC_ST_CONFLICT);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "subject_exists"));

    put_finger(c, CURP_A, 2, "101_1.iso");
    ck_assert_msg(status == HIPC_ST_OK, "finger put: %d", status);
    ck_assert_uint_gt(rep_u64(HIPC_F_MINUTIAE), 5);
    ck_assert_uint_le(rep_u64(HIPC_F_QUALITY), 100);
    put_finger(c, CURP_B, 2, "102_1.iso");
    ck_assert_int_eq(status, HIPC_ST_NOT_FOUND);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "subject_not_found"));

    /* An unparsable template names the field and gives the reason. */
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    hipc_put_u32(&w, HIPC_F_POSITION, 3);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&w, HIPC_F_TEMPLATE, "FMR\0 20\0garbage", 15);
    call(c, HIPC_OP_FINGER_PUT, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_INVALID);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "invalid_template"));
    ck_assert(rep_str_eq(HIPC_F_FIELD, "data"));
    ck_assert(hipc_find(rep, rep_len, HIPC_F_MESSAGE, &(const uint8_t *){0},
        &(uint32_t){0}) == 1);

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    call(c, HIPC_OP_SUBJECT_GET, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert(rep_str_eq(HIPC_F_NAME, "Juan García Ramírez"));
    ck_assert(rep_str_eq(HIPC_F_NSS, "12851000005"));
    ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_FINGER,
        &(const uint8_t *){0}, &(uint32_t){0}), 1);

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    hipc_put_u32(&w, HIPC_F_POSITION, 2);
    call(c, HIPC_OP_FINGER_DELETE, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    call(c, HIPC_OP_FINGER_DELETE, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_NOT_FOUND);
    ck_assert(rep_str_eq(HIPC_F_ERR_CODE, "finger_not_found"));

    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_CURP, CURP_A);
    call(c, HIPC_OP_SUBJECT_DELETE, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    call(c, HIPC_OP_SUBJECT_GET, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_NOT_FOUND);
    hipc_client_close(c);
}
END_TEST

static const char *const curps[10] = {
    "GARJ850312HDFRMN07", "LOHM900725MJCPRR00", "MASC781104HNLRNR00",
    "PEGA920218MPLRNN07", "XNMB810602HDFRRR16", "XNMC820703HDFRRR26",
    "XNMD830804HDFRRR36", "XNME840905HDFRRR46", "XNMF851006HDFRRR54",
    "XNMG861107HDFRRR64"
};

START_TEST(test_verify_and_identify)
{
    struct hipc_client  *c = connect_ok();
    uint8_t              req[8192];
    struct hipc_writer   w;
    char                 file[32];
    unsigned             i, right = 0;
    const uint8_t       *d;
    uint32_t             n;

    for (i = 0; i < 10; i++) {
        create_subject(c, curps[i], "x");
        ck_assert_int_eq(status, HIPC_ST_OK);
        snprintf(file, sizeof(file), "%u_1.iso", 101 + i);
        put_finger(c, curps[i], 2, file);
        ck_assert_int_eq(status, HIPC_ST_OK);
    }
    /* Genuine: impression 2 against its own CURP, position optional. */
    for (i = 0; i < 10; i++) {
        snprintf(file, sizeof(file), "%u_2.iso", 101 + i);
        finger_request(&w, req, sizeof(req), curps[i], file);
        call(c, HIPC_OP_VERIFY, req, w.len);
        ck_assert_int_eq(status, HIPC_ST_OK);
        ck_assert_uint_eq(rep_u64(HIPC_F_POSITION), 2);
        ck_assert(rep_f64(HIPC_F_THRESHOLD) > 0);
        right += rep_u64(HIPC_F_MATCH) == 1;
    }
    ck_assert_msg(right >= 8, "only %u of 10 genuine verifies matched",
        right);
    /* Impostor: impression 2 of the next finger. */
    for (i = 0; i < 10; i++) {
        snprintf(file, sizeof(file), "%u_2.iso", 101 + (i + 1) % 10);
        finger_request(&w, req, sizeof(req), curps[i], file);
        call(c, HIPC_OP_VERIFY, req, w.len);
        ck_assert_int_eq(status, HIPC_ST_OK);
        ck_assert_uint_eq(rep_u64(HIPC_F_MATCH), 0);
    }
    finger_request(&w, req, sizeof(req), "ZZZZ000101HDFXXX09", "101_2.iso");
    call(c, HIPC_OP_VERIFY, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_NOT_FOUND);

    /* 1:N: the right CURP first. */
    right = 0;
    for (i = 0; i < 10; i++) {
        snprintf(file, sizeof(file), "%u_2.iso", 101 + i);
        finger_request(&w, req, sizeof(req), NULL, file);
        hipc_put_u32(&w, HIPC_F_MAX_CANDIDATES, 5);
        call(c, HIPC_OP_IDENTIFY, req, w.len);
        ck_assert_int_eq(status, HIPC_ST_OK);
        ck_assert_uint_eq(rep_u64(HIPC_F_SEARCHED), 10);
        if (hipc_find(rep, rep_len, HIPC_F_CANDIDATE, &d, &n) == 1) {
            const uint8_t  *cd;
            uint32_t        cn;

            ck_assert_int_eq(hipc_find(d, n, HIPC_F_CURP, &cd, &cn), 1);
            right += cn == 18 && memcmp(cd, curps[i], 18) == 0;
        }
    }
    ck_assert_msg(right >= 8, "identify ranked the right CURP first %u/10",
        right);
    hipc_client_close(c);
}
END_TEST

START_TEST(test_import_batch)
{
    struct hipc_client  *c = connect_ok();
    static uint8_t       req[HIPC_PAYLOAD_MAX];
    uint8_t              t[4096];
    struct hipc_writer   w;
    size_t               at, n;
    unsigned             i;
    char                 file[32];

    hipc_writer_init(&w, req, sizeof(req));
    for (i = 0; i < 10; i++) {
        snprintf(file, sizeof(file), "%u_1.iso", 101 + i);
        n = load_template(file, t, sizeof(t));
        at = hipc_open(&w, HIPC_F_RECORD);
        hipc_put_str(&w, HIPC_F_CURP, curps[i]);
        hipc_put_u32(&w, HIPC_F_POSITION, 2);
        hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
        hipc_put(&w, HIPC_F_TEMPLATE, t, i == 3 ? n - 1 : n);  /* one bad */
        hipc_put_str(&w, HIPC_F_NAME, "Imported");
        hipc_close(&w, at);
    }
    /* a CURP whose check digit is wrong: no subject the API could read */
    at = hipc_open(&w, HIPC_F_RECORD);
    hipc_put_str(&w, HIPC_F_CURP, "XNMH871208HDFRRR75");
    hipc_put_u32(&w, HIPC_F_POSITION, 2);
    hipc_put_u32(&w, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&w, HIPC_F_TEMPLATE, t, n);
    hipc_close(&w, at);
    call(c, HIPC_OP_IMPORT_BATCH, req, w.len);
    ck_assert_int_eq(status, HIPC_ST_OK);
    ck_assert_uint_eq(rep_u64(HIPC_F_IMPORTED), 9);
    ck_assert_uint_eq(rep_u64(HIPC_F_REJECTED), 2);
    {
        struct hipc_reader  rd;
        const uint8_t      *d;
        uint32_t            mn;
        uint16_t            tag;
        unsigned            msgs = 0;

        hipc_reader_init(&rd, rep, rep_len);
        while (hipc_next(&rd, &tag, &d, &mn) == 1) {
            if (tag != HIPC_F_MESSAGE) {
                continue;
            }
            if (msgs++ == 0) {
                ck_assert(mn > 9 && memcmp(d, "record 4 ", 9) == 0);
            } else {
                ck_assert(mn > 10 && memcmp(d, "record 11 ", 10) == 0);
                ck_assert(memmem(d, mn, "check digit", 11) != NULL);
            }
        }
        ck_assert_uint_eq(msgs, 2);
    }
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_uint_eq(rep_u64(HIPC_F_SUBJECTS), 9);
    ck_assert_uint_eq(rep_u64(HIPC_F_TEMPLATES), 9);
    hipc_client_close(c);
}
END_TEST

/* ---- concurrency ---------------------------------------------------------- */

struct echo_arg {
    struct hipc_client  *c;
    unsigned             id;
    unsigned             ok;
};

static void *
echo_thread(void *p)
{
    struct echo_arg  *a = p;
    char              req[1024], out[1100];
    size_t            len;
    unsigned          i;
    int               st;

    for (i = 0; i < 2000; i++) {
        memset(req, 'a' + (int) (a->id % 26), sizeof(req));
        snprintf(req, sizeof(req), "thread %u call %u", a->id, i);
        if (hipc_client_call(a->c, HIPC_OP_ECHO, req, 64 + (i % 900), out,
                sizeof(out), &len, &st, 10000) != 0)
        {
            return NULL;
        }
        if (st == HIPC_ST_OK && len == 64 + (i % 900)
            && memcmp(out, req, len) == 0)
        {
            a->ok++;
        }
    }
    return NULL;
}

static void
run_echo_threads(int shared)
{
    struct hipc_client  *one = shared ? connect_ok() : NULL;
    struct echo_arg      a[8];
    pthread_t            t[8];
    unsigned             i;

    for (i = 0; i < 8; i++) {
        a[i].c = shared ? one : connect_ok();
        a[i].id = i;
        a[i].ok = 0;
        ck_assert_int_eq(pthread_create(&t[i], NULL, echo_thread, &a[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(a[i].ok == 2000, "thread %u got %u/2000 own replies",
            i, a[i].ok);
        if (!shared) {
            hipc_client_close(a[i].c);
        }
    }
    hipc_client_close(one);
}

START_TEST(test_eight_threads_one_region)
{
    run_echo_threads(1);
}
END_TEST

START_TEST(test_eight_clients)
{
    run_echo_threads(0);
}
END_TEST

/* ---- group commit ------------------------------------------------------- */

struct writer_arg {
    struct hipc_client  *c;
    unsigned             id;
    unsigned             ok;
};

static void *
create_thread(void *p)
{
    struct writer_arg  *a = p;
    uint8_t             req[256], out[1024];
    struct hipc_writer  w;
    char                curp[19];
    size_t              len;
    unsigned            i;
    int                 st;

    for (i = 0; i < 50; i++) {
        snprintf(curp, sizeof(curp), "BBBB%02u%04uHDFXXX00", a->id, i);
        hipc_writer_init(&w, req, sizeof(req));
        hipc_put_str(&w, HIPC_F_CURP, curp);
        hipc_put_str(&w, HIPC_F_NAME, "concurrent");
        if (hipc_client_call(a->c, HIPC_OP_SUBJECT_CREATE, req, w.len, out,
                sizeof(out), &len, &st, 10000) == 0 && st == HIPC_ST_OK)
        {
            a->ok++;
        }
    }
    return NULL;
}

/* Eight threads writing at once: every write acknowledged and counted once
 * (the writer folds them into shared commits). */
START_TEST(test_concurrent_writes)
{
    struct hipc_client  *c = connect_ok();
    struct writer_arg    a[8];
    pthread_t            t[8];
    unsigned             i;

    for (i = 0; i < 8; i++) {
        a[i].c = c;
        a[i].id = i;
        a[i].ok = 0;
        ck_assert_int_eq(pthread_create(&t[i], NULL, create_thread, &a[i]),
            0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ck_assert_uint_eq(a[i].ok, 50);
    }
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_uint_eq(rep_u64(HIPC_F_SUBJECTS), 400);
    hipc_client_close(c);
}
END_TEST

/* ---- failure ---------------------------------------------------------------- */

START_TEST(test_server_death_seen_at_once)
{
    struct hipc_client  *c = connect_ok();
    struct timespec      t0, t1;
    double               ms;

    call(c, HIPC_OP_PING, NULL, 0);
    kill_server();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(hipc_client_call(c, HIPC_OP_PING, NULL, 0, rep,
        sizeof(rep), &rep_len, &status, 5000), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(errno, EPIPE);
    ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3
         + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
    ck_assert_msg(ms < 500, "the client took %.0f ms to see EOF", ms);
    hipc_client_close(c);
}
END_TEST

START_TEST(test_kill9_keeps_acknowledged_writes)
{
    struct hipc_client  *c = connect_ok();
    char                 curp[19];
    unsigned             i;

    for (i = 0; i < 50; i++) {
        snprintf(curp, sizeof(curp), "AAAA%06uHDFXXX0%u", i, i % 10);
        create_subject(c, curp, "durable");
        ck_assert_int_eq(status, HIPC_ST_OK);
    }
    hipc_client_close(c);
    kill_server();
    start_server();
    c = connect_ok();
    call(c, HIPC_OP_PING, NULL, 0);
    ck_assert_uint_eq(rep_u64(HIPC_F_SUBJECTS), 50);
    hipc_client_close(c);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("ipc");
    TCase    *tc = tcase_create("ipc");
    SRunner  *sr;
    int       failed;

    signal(SIGPIPE, SIG_IGN);
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ping);
    tcase_add_test(tc, test_version_mismatch_refused);
    tcase_add_test(tc, test_malformed_requests_refused);
    tcase_add_test(tc, test_subjects_and_fingers);
    tcase_add_test(tc, test_verify_and_identify);
    tcase_add_test(tc, test_import_batch);
    tcase_add_test(tc, test_eight_threads_one_region);
    tcase_add_test(tc, test_eight_clients);
    tcase_add_test(tc, test_concurrent_writes);
    tcase_add_test(tc, test_server_death_seen_at_once);
    tcase_add_test(tc, test_kill9_keeps_acknowledged_writes);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
