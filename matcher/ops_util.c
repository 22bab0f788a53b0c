/*
 * ops_util.c -- small pieces every family of ops (ops.c, identity.c,
 * attendance.c) shares when it decodes a request and answers a failure:
 * the failure record (struct ops_err) and its reply, the strict TLV walk,
 * tag lists, and the checks for printable words and CURPs.  Declared in
 * ops.h.
 */

#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
ops_fail(struct ops_err *e, int status, const char *code, const char *field,
    const char *fmt, ...)
{
    va_list  ap;

    e->status = status;
    e->code = code;
    e->field = field;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

void
ops_reply_err(struct hd_request *rq, const struct ops_err *e)
{
    ops_reply_error(rq, e->status, e->code, e->field, "%s", e->msg);
}

int
ops_tag_listed(const uint16_t *list, unsigned tag)
{
    for (; *list; list++) {
        if (*list == tag) {
            return 1;
        }
    }
    return 0;
}

int
ops_ascii_word(const uint8_t *d, uint32_t n)
{
    uint32_t  i;

    for (i = 0; i < n; i++) {
        if (d[i] <= 0x20 || d[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

int
ops_curp_valid(const uint8_t *s, size_t len)
{
    size_t  i = 0, chars = 0;

    while (i < len) {
        if ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')) {
            i++;
        } else if (s[i] == 0xC3 && i + 1 < len && s[i + 1] == 0x91) {
            i += 2;
        } else {
            return 0;
        }
        chars++;
    }
    return chars == 18;
}

int
ops_seen(const uint8_t seen[16], unsigned tag)
{
    return tag < 128 && (seen[tag / 8] & (1u << (tag % 8)));
}

int
ops_decode(const struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required, uint8_t seen[16],
    const char *(*name)(unsigned tag), ops_field_fn one, void *arg,
    struct ops_err *e)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    int                 rc;

    hipc_reader_init(&r, rq->payload, rq->len);
    while ((rc = hipc_next(&r, &tag, &d, &n)) == 1) {
        if (tag >= 128 || !ops_tag_listed(allowed, tag)) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "unexpected_field", NULL,
                "field tag %u is not part of this request", tag);
        }
        if (ops_seen(seen, tag)) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "duplicate_field",
                name(tag), "field %s given twice", name(tag));
        }
        seen[tag / 8] |= (uint8_t) (1u << (tag % 8));
        if (one(arg, tag, d, n, e) != 0) {
            return -1;
        }
    }
    if (rc < 0) {
        return ops_fail(e, HIPC_ST_BAD_REQUEST, "malformed_request", NULL,
            "malformed TLV at byte %zu of %zu", r.pos, r.len);
    }
    for (; *required; required++) {
        if (!ops_seen(seen, *required)) {
            return ops_fail(e, HIPC_ST_BAD_REQUEST, "missing_field",
                name(*required), "required field %s is missing",
                name(*required));
        }
    }
    return 0;
}
