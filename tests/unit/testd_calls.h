/*
 * testd_calls.h -- one request at a time to the huellad of testd.h:
 * building it (begin(), s()), sending it (call()), reading the reply
 * (rep_eq(), rep_str()) and dropping the connection with the server
 * (kill_server()).  Shared by test_identity.c, test_attendance.c and
 * (through enroll_harness.h) test_devices.c and test_enrollment.c, which
 * each start the server their own way into `cl`.
 * Header-only on purpose: each test program is a single translation unit.
 */

#ifndef HUELLA_TESTD_CALLS_H
#define HUELLA_TESTD_CALLS_H

#include <check.h>
#include <errno.h>
#include <string.h>

#include "huella_ipc.h"
#include "ipc_client.h"
#include "testd.h"

/* Generous: the ASan build under a loaded machine is slow. */
#define TESTD_CALL_TIMEOUT_MS  30000

static uint8_t rep[HIPC_PAYLOAD_MAX], req[HIPC_PAYLOAD_MAX];
static size_t  rep_len;
static int     status;
static struct hipc_client *cl;
static struct hipc_writer  rw;

static void
kill_server(void)
{
    if (cl) {
        hipc_client_close(cl);
        cl = NULL;
    }
    testd_kill();
}

static void
begin(void)
{
    hipc_writer_init(&rw, req, sizeof(req));
}

static void
s(uint16_t tag, const char *v)
{
    hipc_put_str(&rw, tag, v);
}

static int
call(uint16_t op)
{
    ck_assert_msg(hipc_client_call(cl, op, req, rw.len, rep, sizeof(rep),
        &rep_len, &status, TESTD_CALL_TIMEOUT_MS) == 0, "call failed: %s",
        strerror(errno));
    return status;
}

static int
rep_eq(uint16_t tag, const char *want)
{
    const uint8_t  *d;
    uint32_t        n;

    return hipc_find(rep, rep_len, tag, &d, &n) == 1 && n == strlen(want)
           && memcmp(d, want, n) == 0;
}

static void
rep_str(uint16_t tag, char *out, size_t cap)
{
    const uint8_t  *d;
    uint32_t        n;

    ck_assert_msg(hipc_find(rep, rep_len, tag, &d, &n) == 1,
        "tag %u absent (status %d)", tag, status);
    ck_assert_uint_lt(n, cap);
    memcpy(out, d, n);
    out[n] = '\0';
}

#endif
