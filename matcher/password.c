/*
 * password.c -- Argon2id hashing of passwords and security answers.
 *
 * Owns the stored form of memorized secrets and how text becomes bytes
 * before hashing: NFKC for passwords (NIST SP 800-63B rev 4 3.1.1.2 asks
 * for NFKC or NFKD so that the same keystrokes on another keyboard give
 * the same password), and a forgiving fold for security answers.  The
 * text folding helpers are shared with password_policy.c through
 * password_text.h.
 *
 * Default costs, t=3 passes, m=64 MiB, p=1 lane, and why:
 *  - RFC 9106 section 4 recommends Argon2id and, where 2 GiB per hash is
 *    not affordable, t=3 with m=64 MiB.
 *  - OWASP's Password Storage Cheat Sheet sets the floor at m=19 MiB, t=2,
 *    p=1; these costs are about 5 times that work.
 *  - SP 800-63B rev 4 3.1.1.2: a salted password hashing scheme whose cost
 *    is "as high as practical"; salt at least 32 bits (we use 128) and a
 *    32-byte output.
 *  - p=1: huellad already runs logins in parallel on its worker threads;
 *    more lanes per hash would only make one login starve the others on
 *    a 2-vCPU host.  On such a host a hash takes roughly 100-200 ms.
 * Stored strings carry their own costs, so raising them later only needs
 * password_needs_rehash() after a successful login.
 */

#include "password.h"
#include "password_text.h"

#include <argon2.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SALT_LEN  16
#define HASH_LEN  32

const struct password_params password_params_default = { 3, 65536, 1 };

int
password_params_check(const struct password_params *p, char *err,
                      size_t errlen)
{
    const char  *why = NULL;

    if (p == NULL) {
        why = "no parameters";
    } else if (p->t_cost < 1 || p->t_cost > 64) {
        why = "t_cost must be 1 to 64 passes";
    } else if (p->parallelism < 1 || p->parallelism > 16) {
        why = "parallelism must be 1 to 16 lanes";
    } else if (p->m_cost_kib < 8 * p->parallelism
               || p->m_cost_kib > 4u * 1024 * 1024)
    {
        why = "m_cost must be 8 KiB per lane to 4 GiB";
    }
    if (why != NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "argon2id: %s", why);
        }
        return -1;
    }
    return 0;
}

static int
fill_random(uint8_t *buf, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = getrandom(buf, len, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

static enum password_result
hash_bytes(const char *bytes, size_t len, const struct password_params *p,
           char out[PASSWORD_HASH_MAX])
{
    uint8_t  salt[SALT_LEN];
    int      rc;

    if (password_params_check(p, NULL, 0) != 0) {
        return PASSWORD_PARAMS_INVALID;
    }
    if (fill_random(salt, sizeof(salt)) != 0) {
        return PASSWORD_ERROR;
    }
    rc = argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism,
                               bytes, len, salt, sizeof(salt), HASH_LEN,
                               out, PASSWORD_HASH_MAX);
    return rc == ARGON2_OK ? PASSWORD_OK : PASSWORD_ERROR;
}

/*
 * "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", strictly.  Returns 0 with the
 * costs and the base64 lengths, 1 for another algorithm or version (a
 * rehash candidate), -1 for anything malformed.
 */
static int
parse_phc(const char *s, struct password_params *p, size_t *salt_b64,
          size_t *hash_b64)
{
    static const char   prefix[] = "$argon2id$v=19$";
    static const char  *keys[] = { "m=", ",t=", ",p=" };
    uint64_t            v[3];
    size_t              i, k, n;

    if (s == NULL) {
        return -1;
    }
    if (strncmp(s, prefix, sizeof(prefix) - 1) != 0) {
        return (strncmp(s, "$argon2", 7) == 0 || strncmp(s, "$2", 2) == 0
                || strncmp(s, "$6$", 3) == 0) ? 1 : -1;
    }
    s += sizeof(prefix) - 1;
    for (k = 0; k < 3; k++) {
        n = strlen(keys[k]);
        if (strncmp(s, keys[k], n) != 0) {
            return -1;
        }
        s += n;
        v[k] = 0;
        for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
            if (i >= 10) {
                return -1;
            }
            v[k] = v[k] * 10 + (uint64_t) (s[i] - '0');
        }
        if (i == 0 || v[k] > UINT32_MAX) {
            return -1;
        }
        s += i;
    }
    p->m_cost_kib = (uint32_t) v[0];
    p->t_cost = (uint32_t) v[1];
    p->parallelism = (uint32_t) v[2];
    if (*s++ != '$') {
        return -1;
    }
    *salt_b64 = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789+/");
    if (*salt_b64 == 0 || s[*salt_b64] != '$') {
        return -1;
    }
    s += *salt_b64 + 1;
    *hash_b64 = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789+/");
    if (*hash_b64 == 0 || s[*hash_b64] != '\0') {
        return -1;
    }
    return 0;
}

static enum password_result
verify_bytes(const char *encoded, const char *bytes, size_t len)
{
    struct password_params  p;
    size_t                  sb, hb;
    int                     rc;

    /* Bound the stored costs before trusting them: a damaged record must
     * not make one login allocate gigabytes or spin for minutes. */
    if (parse_phc(encoded, &p, &sb, &hb) != 0
        || password_params_check(&p, NULL, 0) != 0
        || sb < 11 || hb < 22 || strlen(encoded) >= PASSWORD_HASH_MAX)
    {
        return PASSWORD_HASH_INVALID;
    }
    rc = argon2id_verify(encoded, bytes, len);
    switch (rc) {
    case ARGON2_OK:
        return PASSWORD_OK;
    case ARGON2_VERIFY_MISMATCH:
        return PASSWORD_MISMATCH;
    case ARGON2_MEMORY_ALLOCATION_ERROR:
        return PASSWORD_ERROR;
    default:
        return PASSWORD_HASH_INVALID;
    }
}

enum password_result
password_hash(const char *password, size_t len,
              const struct password_params *p, char out[PASSWORD_HASH_MAX])
{
    struct text          t;
    enum password_result r;

    out[0] = '\0';
    if (password_params_check(p, NULL, 0) != 0) {
        return PASSWORD_PARAMS_INVALID;
    }
    if (text_nfkc(password, len, &t) != 0) {
        return PASSWORD_INPUT_INVALID;
    }
    r = hash_bytes(t.s, t.len, p, out);
    text_wipe(&t);
    return r;
}

enum password_result
password_verify(const char *encoded, const char *password, size_t len)
{
    struct text          t;
    enum password_result r;

    if (text_nfkc(password, len, &t) != 0) {
        return PASSWORD_INPUT_INVALID;
    }
    r = verify_bytes(encoded, t.s, t.len);
    text_wipe(&t);
    return r;
}

enum password_result
password_verify_nobody(const char *password, size_t len,
                       const struct password_params *p)
{
    char                  scratch[PASSWORD_HASH_MAX];
    enum password_result  r = password_hash(password, len, p, scratch);

    return r == PASSWORD_OK ? PASSWORD_MISMATCH : r;
}

int
password_needs_rehash(const char *encoded, const struct password_params *p)
{
    struct password_params  have;
    size_t                  sb, hb;

    if (p == NULL) {
        return 0;
    }
    if (parse_phc(encoded, &have, &sb, &hb) != 0) {
        return 1;
    }
    return have.t_cost != p->t_cost || have.m_cost_kib != p->m_cost_kib
           || have.parallelism != p->parallelism
           || sb != 22 || hb != 43;          /* 16-byte salt, 32-byte hash */
}

/* ---- security answers ------------------------------------------------- */

int
password_answer_normalize(const char *answer, size_t len, char *out,
                          size_t cap)
{
    struct text  t;
    int          rc = -1;

    if (text_fold(answer, len, TEXT_FOLD_ANSWER, &t) != 0) {
        return -1;
    }
    if (text_chars(t.s, t.len) >= 2 && t.len < cap) {
        memcpy(out, t.s, t.len + 1);
        rc = 0;
    }
    text_wipe(&t);
    return rc;
}

enum password_result
password_answer_hash(const char *answer, size_t len,
                     const struct password_params *p,
                     char out[PASSWORD_HASH_MAX])
{
    struct text          t;
    enum password_result r;

    out[0] = '\0';
    if (password_params_check(p, NULL, 0) != 0) {
        return PASSWORD_PARAMS_INVALID;
    }
    if (text_fold(answer, len, TEXT_FOLD_ANSWER, &t) != 0) {
        return PASSWORD_INPUT_INVALID;
    }
    r = text_chars(t.s, t.len) >= 2 ? hash_bytes(t.s, t.len, p, out)
                                     : PASSWORD_INPUT_INVALID;
    text_wipe(&t);
    return r;
}

enum password_result
password_answer_verify(const char *encoded, const char *answer, size_t len)
{
    struct text          t;
    enum password_result r;

    if (text_fold(answer, len, TEXT_FOLD_ANSWER, &t) != 0) {
        return PASSWORD_INPUT_INVALID;
    }
    r = verify_bytes(encoded, t.s, t.len);
    text_wipe(&t);
    return r;
}
