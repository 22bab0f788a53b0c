/*
 * config_identity.c -- the `identity:` section of config/huella.yaml
 * (issue 4): registry, passwords, lockout, e.firma trust, mail, links and
 * the bootstrap admin token.
 *
 * Same strictness as the rest of the file (config.c): unknown or repeated
 * keys, wrong types and out-of-range values are refused with FILE:LINE and
 * the key's full name (e.g. identity.lockout.threshold).
 */

#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "password.h"

/*
 * What regcomp() would build for a POSIX extended regular expression, in
 * copies of atoms, estimated before calling it: glibc copies a repeated
 * subexpression once per repetition ('+' twice, "{m,n}" n times, nested
 * repetitions multiply), so a pattern of a hundred characters could take
 * gigabytes and stall huellad's start (found by fuzz_config).  Adjacent
 * repetition operators ("a++", "a*{2}") are undefined in POSIX and are
 * refused outright.  What the estimate cannot follow (an unbalanced
 * parenthesis, a malformed interval) is left to regcomp() to refuse.
 */

#define ERE_COPIES_MAX   4096
#define ERE_DEPTH_MAX    16

static const char *
ere_cost(const char *p, size_t *i, int depth, uint64_t *copies)
{
    uint64_t     total = 0, atom, factor, m, n;
    const char  *why;
    int          repeats;

    /* a ')' closes the group being read; at the top it is a character */
    while (p[*i] != '\0' && (p[*i] != ')' || depth == 0)) {
        if (p[*i] == '|') {
            (*i)++;
            continue;
        }
        if (p[*i] == '(') {
            if (depth >= ERE_DEPTH_MAX) {
                return "parentheses nested too deep";
            }
            (*i)++;
            why = ere_cost(p, i, depth + 1, &atom);
            if (why != NULL) {
                return why;
            }
            if (p[*i] == ')') {
                (*i)++;
            }
        } else if (p[*i] == '[') {
            (*i)++;
            if (p[*i] == '^') {
                (*i)++;
            }
            if (p[*i] == ']') {
                (*i)++;
            }
            while (p[*i] != '\0' && p[*i] != ']') {
                if (p[*i] == '[' && (p[*i + 1] == ':' || p[*i + 1] == '='
                                     || p[*i + 1] == '.'))
                {
                    char  close = p[*i + 1];

                    *i += 2;
                    while (p[*i] != '\0'
                           && !(p[*i] == close && p[*i + 1] == ']'))
                    {
                        (*i)++;
                    }
                    if (p[*i] != '\0') {
                        *i += 2;
                    }
                    continue;
                }
                (*i)++;
            }
            if (p[*i] == ']') {
                (*i)++;
            }
            atom = 1;
        } else {
            *i += p[*i] == '\\' && p[*i + 1] != '\0' ? 2 : 1;
            atom = 1;
        }
        for (repeats = 0; p[*i] == '*' || p[*i] == '+' || p[*i] == '?'
                          || p[*i] == '{'; repeats++)
        {
            if (repeats > 0) {
                return "adjacent repetition operators (such as '++' or "
                       "'*{2}') are undefined in POSIX regular expressions";
            }
            factor = p[*i] == '+' ? 2 : 1;
            if (p[(*i)++] == '{') {
                for (m = 0; p[*i] >= '0' && p[*i] <= '9' && m < 100000;
                     (*i)++)
                {
                    m = m * 10 + (uint64_t) (p[*i] - '0');
                }
                n = m + 1;
                if (p[*i] == ',') {
                    (*i)++;
                    if (p[*i] >= '0' && p[*i] <= '9') {
                        for (n = 0; p[*i] >= '0' && p[*i] <= '9'
                                    && n < 100000; (*i)++)
                        {
                            n = n * 10 + (uint64_t) (p[*i] - '0');
                        }
                    }
                } else {
                    n = m;
                }
                if (p[*i] == '}') {
                    (*i)++;
                }
                factor = n > m ? n : m;
                factor = factor ? factor : 1;
            }
            atom *= factor;
            if (atom > ERE_COPIES_MAX) {
                break;
            }
        }
        total += atom;
        if (total > ERE_COPIES_MAX) {
            return "its repetitions would expand to more than 4096 copies "
                   "when compiled";
        }
    }
    *copies = total;
    return NULL;
}

void
config_identity_defaults(struct hd_identity_config *id)
{
    memset(id, 0, sizeof(*id));
    id->argon2_t_cost = password_params_default.t_cost;
    id->argon2_m_cost_kib = password_params_default.m_cost_kib;
    id->argon2_parallelism = password_params_default.parallelism;
    id->max_concurrent_hashes = 2;
    id->password_min_chars = PASSWORD_MIN_SINGLE_FACTOR;
    snprintf(id->matricula_pattern, sizeof(id->matricula_pattern),
        "^[A-Z0-9]{4,20}$");
    id->lockout_threshold = 5;
    id->lockout_base_delay_s = 30;
    id->lockout_max_delay_s = 3600;
    id->lockout_disable_after = 50;
    id->client_threshold = 20;
    id->challenge_lifetime_s = 300;
    id->recovery_lifetime_s = 1800;
    snprintf(id->mail_from, sizeof(id->mail_from),
        "Huella <no-reply@huella.localhost>");
    snprintf(id->portal_base_url, sizeof(id->portal_base_url),
        "http://127.0.0.1:8080");
    id->credential_events_keep = 65536;
}

static int
get_u32(struct config_ctx *cx, const char *key, yaml_node_t *v, uint64_t min,
    uint64_t max, unsigned *out)
{
    uint64_t  u;

    if (get_uint(cx, key, v, min, max, &u) != 0) {
        return -1;
    }
    *out = (unsigned) u;
    return 0;
}

/* ---- identity.argon2 ------------------------------------------------------ */

static int
argon2_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct hd_identity_config  *id = arg;

    switch (i) {
    case 0: return get_u32(cx, key, v, 1, 64, &id->argon2_t_cost);
    /* 1 MiB is for tests; production keeps 64 MiB (docs/identity.md). */
    case 1: return get_u32(cx, key, v, 64, 4194304, &id->argon2_m_cost_kib);
    default: return get_u32(cx, key, v, 1, 16, &id->argon2_parallelism);
    }
}

/* ---- identity.lockout ----------------------------------------------------- */

static int
lockout_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct hd_identity_config  *id = arg;

    switch (i) {
    case 0: return get_u32(cx, key, v, 1, 100, &id->lockout_threshold);
    case 1: return get_u32(cx, key, v, 1, 86400, &id->lockout_base_delay_s);
    case 2: return get_u32(cx, key, v, 1, 604800, &id->lockout_max_delay_s);
    /* rev 4: at most 100 consecutive failures per account */
    case 3: return get_u32(cx, key, v, 2, 100, &id->lockout_disable_after);
    default: return get_u32(cx, key, v, 1, 100000, &id->client_threshold);
    }
}

/* ---- identity.mail -------------------------------------------------------- */

static int
smtp_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    struct hd_identity_config  *id = arg;

    switch (i) {
    case 0: return get_text(cx, key, v, id->smtp_host, sizeof(id->smtp_host));
    case 1: return get_u32(cx, key, v, 1, 65535, &id->smtp_port);
    default: return get_text(cx, key, v, id->mail_from,
                 sizeof(id->mail_from));
    }
}

static int
mail_key(struct config_ctx *cx, const char *key, size_t i, yaml_node_t *v,
    void *arg)
{
    static const char *const smtp_keys[] = { "host", "port", "from" };
    struct hd_identity_config  *id = arg;

    switch (i) {
    case 0: return get_path(cx, key, v, id->outbox_dir,
                sizeof(id->outbox_dir));
    case 1:
        if (config_walk(cx, key, v, smtp_keys, 3, smtp_key, arg) != 0) {
            return -1;
        }
        if (id->smtp_host[0] == '\0' || id->smtp_port == 0) {
            return config_fail(cx, v, "key '%s': needs host and port", key);
        }
        return 0;
    default: return get_text(cx, key, v, id->mail_from,
                 sizeof(id->mail_from));
    }
}

/* ---- identity ------------------------------------------------------------- */

static int
trusted_ca_list(struct config_ctx *cx, const char *key, yaml_node_t *v,
    struct hd_identity_config *id)
{
    yaml_node_item_t  *item;
    yaml_node_t       *n;

    if (v->type == YAML_SCALAR_NODE && !scalar_is_plain_value(v)
        && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    {
        return 0;   /* empty: no AC trusted, e.firma login refused */
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        return config_fail(cx, v, "key '%s': expected a list of paths, got "
            "%s", key, node_kind(v) ? node_kind(v) : "a scalar");
    }
    for (item = v->data.sequence.items.start;
         item < v->data.sequence.items.top; item++)
    {
        n = yaml_document_get_node(cx->doc, *item);
        if (id->trusted_ca_count == HD_TRUSTED_CA_MAX) {
            return config_fail(cx, n, "key '%s': at most %d files", key,
                HD_TRUSTED_CA_MAX);
        }
        if (n == NULL || get_path(cx, key, n,
                id->trusted_ca[id->trusted_ca_count], PATH_MAX) != 0)
        {
            return -1;
        }
        id->trusted_ca_count++;
    }
    return 0;
}

static int
identity_key(struct config_ctx *cx, const char *key, size_t i,
    yaml_node_t *v, void *arg)
{
    static const char *const argon2_keys[] = {
        "t_cost", "m_cost_kib", "parallelism"
    };
    static const char *const lockout_keys[] = {
        "threshold", "base_delay_s", "max_delay_s", "disable_after",
        "client_threshold"
    };
    static const char *const mail_keys[] = { "outbox_dir", "smtp", "from" };
    struct hd_identity_config  *id = arg;
    struct password_params      pp;
    regex_t                     re;
    char                        why[256];

    switch (i) {
    case 0:
        return get_path(cx, key, v, id->registry_file,
            sizeof(id->registry_file));
    case 1:
        return get_path(cx, key, v, id->blocklist_file,
            sizeof(id->blocklist_file));
    case 2:
        if (config_walk(cx, key, v, argon2_keys, 3, argon2_key, arg) != 0) {
            return -1;
        }
        pp.t_cost = id->argon2_t_cost;
        pp.m_cost_kib = id->argon2_m_cost_kib;
        pp.parallelism = id->argon2_parallelism;
        if (password_params_check(&pp, why, sizeof(why)) != 0) {
            return config_fail(cx, v, "key '%s': %s", key, why);
        }
        return 0;
    case 3:
        return get_u32(cx, key, v, 1, 64, &id->max_concurrent_hashes);
    case 4:
        return get_u32(cx, key, v, PASSWORD_MIN_MULTI_FACTOR, 64,
            &id->password_min_chars);
    case 5:
        if (get_text(cx, key, v, id->matricula_pattern,
                sizeof(id->matricula_pattern)) != 0)
        {
            return -1;
        }
        {
            size_t       at = 0;
            uint64_t     copies;
            const char  *why_not = ere_cost(id->matricula_pattern, &at, 0,
                                       &copies);

            if (why_not != NULL) {
                return config_fail(cx, v, "key '%s': %s", key, why_not);
            }
        }
        if (regcomp(&re, id->matricula_pattern, REG_EXTENDED | REG_NOSUB)
            != 0)
        {
            return config_fail(cx, v, "key '%s': not a valid POSIX extended "
                "regular expression", key);
        }
        regfree(&re);
        return 0;
    case 6:
        if (config_walk(cx, key, v, lockout_keys, 5, lockout_key, arg) != 0)
        {
            return -1;
        }
        if (id->lockout_disable_after <= id->lockout_threshold) {
            return config_fail(cx, v, "key '%s': disable_after must be "
                "greater than threshold", key);
        }
        if (id->lockout_max_delay_s < id->lockout_base_delay_s) {
            return config_fail(cx, v, "key '%s': max_delay_s must be at "
                "least base_delay_s", key);
        }
        return 0;
    case 7:
        return trusted_ca_list(cx, key, v, id);
    case 8:
        return get_u32(cx, key, v, 10, 3600, &id->challenge_lifetime_s);
    case 9:
        return get_u32(cx, key, v, 60, 86400, &id->recovery_lifetime_s);
    case 10:
        if (config_walk(cx, key, v, mail_keys, 3, mail_key, arg) != 0) {
            return -1;
        }
        if ((id->outbox_dir[0] != '\0') == (id->smtp_port != 0)) {
            return config_fail(cx, v, "key '%s': give exactly one of "
                "outbox_dir and smtp", key);
        }
        return 0;
    case 11:
        if (get_text(cx, key, v, id->portal_base_url,
                sizeof(id->portal_base_url)) != 0)
        {
            return -1;
        }
        if (strncmp(id->portal_base_url, "http://", 7) != 0
            && strncmp(id->portal_base_url, "https://", 8) != 0)
        {
            return config_fail(cx, v, "key '%s': expected an http:// or "
                "https:// URL", key);
        }
        if (strpbrk(id->portal_base_url, " \t\r\n\"'<>#?")) {
            return config_fail(cx, v, "key '%s': the URL holds a space, "
                "quote, '#' or '?'", key);
        }
        return 0;
    case 12:
        return get_path(cx, key, v, id->bootstrap_token_file,
            sizeof(id->bootstrap_token_file));
    default:
        /* what every nginx may still have to read (credential_events.h) */
        return get_uint(cx, key, v, 1, 16777216,
            &id->credential_events_keep);
    }
}

int
config_load_identity(struct config_ctx *cx, yaml_node_t *map,
    struct hd_identity_config *id)
{
    static const char *const keys[] = {
        "registry_file", "password_blocklist", "argon2",
        "max_concurrent_hashes", "password_min_chars", "matricula_pattern",
        "lockout", "trusted_ca_files", "challenge_lifetime_s",
        "recovery_lifetime_s", "mail", "portal_base_url",
        "bootstrap_token_file", "credential_events_keep"
    };

    return config_walk(cx, "identity", map, keys,
        sizeof(keys) / sizeof(keys[0]), identity_key, id);
}
