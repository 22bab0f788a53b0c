/*
 * ops_util.c -- small pieces every family of ops (ops.c, identity.c,
 * attendance.c) shares when it decodes a request and answers a failure:
 * the failure record (struct ops_err) and its reply, tag lists, and the
 * checks for printable words and CURPs.  Declared in ops.h.
 */

#include "ops.h"

#include <stdarg.h>
#include <stdio.h>

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
