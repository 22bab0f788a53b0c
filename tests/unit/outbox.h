/*
 * outbox.h -- the recovery link of the one message in a test's mail outbox
 * (identity.outbox_dir), shared by the identity and credential-event tests.
 */
#ifndef HUELLA_TEST_OUTBOX_H
#define HUELLA_TEST_OUTBOX_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

/* The token of the newest ".eml" in outbox; the message must be addressed
 * to `to` when that is not NULL. */
static inline void
outbox_recovery_token(const char *outbox, const char *to, char *token,
                      size_t cap)
{
    char            path[512], buf[8192], want[160], *p;
    struct dirent  *de;
    DIR            *d;
    FILE           *f;
    size_t          n;

    d = opendir(outbox);
    ck_assert_ptr_nonnull(d);
    path[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".eml")) {
            snprintf(path, sizeof(path), "%s/%s", outbox, de->d_name);
        }
    }
    closedir(d);
    ck_assert_msg(path[0], "no message in the outbox");
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (to != NULL) {
        snprintf(want, sizeof(want), "To: <%s>", to);
        ck_assert_msg(strstr(buf, want) != NULL, "the message is not to %s",
                      to);
    }
    p = strstr(buf, "/recuperar.html#token=");
    ck_assert_ptr_nonnull(p);
    p += strlen("/recuperar.html#token=");
    n = strcspn(p, "\r\n");
    ck_assert_uint_lt(n, cap);
    memcpy(token, p, n);
    token[n] = '\0';
}

#endif
