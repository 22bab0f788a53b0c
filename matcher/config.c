/*
 * config.c -- loads and validates config/huella.yaml (libyaml document API).
 *
 * Owns the schema of the `matcher:` section (see config/huella.yaml for the
 * documented example) and the rule that the top level only holds known
 * sections (the `identity:` section is config_identity.c's).  Strictness is deliberate: a misspelt key silently ignored is a
 * production incident later, so unknown keys, duplicate keys, wrong types
 * and out-of-range values are all refused, each naming file, line and key.
 */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "config_internal.h"

/* Top-level sections; only `matcher` is read here. */
static const char *const config_sections[] = { "matcher", "portal", "log",
    "identity", "receipts", "enrollment", "attendance" };

void
config_defaults(struct hd_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->socket_path, sizeof(cfg->socket_path), "var/huellad.sock");
    cfg->socket_mode = 0666;
    snprintf(cfg->data_dir, sizeof(cfg->data_dir), "var/data");
    cfg->map_size_mb = 4096;
    cfg->threads = 0;
    cfg->fmr = 1.0e-4;
    cfg->spin_us = 50;
    cfg->max_clients = 64;
    config_identity_defaults(&cfg->identity);
    config_enroll_defaults(&cfg->enroll);
    att_rules_defaults(&cfg->attendance);
}

unsigned
config_threads(const struct hd_config *cfg)
{
    long  n;

    if (cfg->threads > 0) {
        return cfg->threads;
    }
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned) n : 1;
}


int
config_fail(struct config_ctx *cx, const yaml_node_t *node, const char *fmt,
    ...)
{
    va_list  ap;
    int      n;

    n = snprintf(cx->err, cx->errlen, "%s:%lu: ", cx->path,
        node ? (unsigned long) node->start_mark.line + 1 : 1UL);
    if (n < 0 || (size_t) n >= cx->errlen) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(cx->err + n, cx->errlen - (size_t) n, fmt, ap);
    va_end(ap);
    return -1;
}

const char *
scalar_text(const yaml_node_t *node)
{
    return (const char *) node->data.scalar.value;
}

/* A plain (unquoted) scalar that is not YAML's null. */
int
scalar_is_plain_value(const yaml_node_t *node)
{
    const char  *s;

    if (node->type != YAML_SCALAR_NODE
        || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    {
        return 0;
    }
    s = scalar_text(node);
    return !(s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0
             || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0);
}

const char *
node_kind(const yaml_node_t *node)
{
    if (node->type == YAML_MAPPING_NODE) {
        return "a mapping";
    }
    if (node->type == YAML_SEQUENCE_NODE) {
        return "a list";
    }
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return "a quoted string";
    }
    if (!scalar_is_plain_value(node)) {
        return "nothing";
    }
    return NULL;
}

int
get_uint(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    uint64_t min, uint64_t max, uint64_t *out)
{
    const char          *s, *kind;
    unsigned long long   v;
    char                *end;

    kind = node_kind(node);
    if (kind) {
        return config_fail(cx, node, "key '%s': expected a non-negative "
            "integer, got %s", key, kind);
    }
    s = scalar_text(node);
    if (s[0] < '0' || s[0] > '9') {
        return config_fail(cx, node, "key '%s': expected a non-negative "
            "integer, got '%s'", key, s);
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        return config_fail(cx, node, "key '%s': expected a non-negative "
            "integer, got '%s'", key, s);
    }
    if (errno == ERANGE) {
        return config_fail(cx, node, "key '%s': %s is out of range "
            "(%llu..%llu)", key, s, (unsigned long long) min,
            (unsigned long long) max);
    }
    if (v < min || v > max) {
        return config_fail(cx, node, "key '%s': %llu is out of range "
            "(%llu..%llu)", key, v, (unsigned long long) min,
            (unsigned long long) max);
    }
    *out = v;
    return 0;
}

int
get_real(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    double min_excl, double max, double *out)
{
    const char  *s, *kind;
    char        *end;
    double       v;

    kind = node_kind(node);
    if (kind) {
        return config_fail(cx, node, "key '%s': expected a number, got %s",
            key, kind);
    }
    s = scalar_text(node);
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
        return config_fail(cx, node, "key '%s': expected a number, got '%s'",
            key, s);
    }
    if (!(v > min_excl) || v > max) {
        return config_fail(cx, node, "key '%s': %s is out of range "
            "(greater than %g, at most %g)", key, s, min_excl, max);
    }
    *out = v;
    return 0;
}

/* Paths may be quoted or plain; they must fit and not be empty. */
int
get_path(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    char *out, size_t cap)
{
    const char  *s;

    if (node->type != YAML_SCALAR_NODE) {
        return config_fail(cx, node, "key '%s': expected a path, got %s",
            key, node_kind(node));
    }
    s = scalar_text(node);
    if (s[0] == '\0' || (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                         && !scalar_is_plain_value(node)))
    {
        return config_fail(cx, node, "key '%s': expected a path, got nothing",
            key);
    }
    if (strlen(s) >= cap || strlen(s) != node->data.scalar.length) {
        return config_fail(cx, node, "key '%s': path is too long (at most "
            "%zu bytes) or holds a NUL byte", key, cap - 1);
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* A string value (quoted or plain), non-empty, fitting `cap`. */
int
get_text(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    char *out, size_t cap)
{
    return get_path(cx, key, node, out, cap);
}

int
config_walk(struct config_ctx *cx, const char *section, yaml_node_t *map,
    const char *const *keys, size_t nkeys, config_key_fn fn, void *arg)
{
    yaml_node_pair_t  *pair;
    yaml_node_t       *k, *v;
    const char        *name;
    char               key[160], known[600];
    uint64_t           seen = 0;
    size_t             i, at;

    if (map->type != YAML_MAPPING_NODE) {
        return config_fail(cx, map, "key '%s': expected a mapping, got %s",
            section, node_kind(map) ? node_kind(map) : "a scalar");
    }
    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++)
    {
        k = yaml_document_get_node(cx->doc, pair->key);
        v = yaml_document_get_node(cx->doc, pair->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            return config_fail(cx, k, "key '%s': keys must be plain names",
                section);
        }
        name = scalar_text(k);
        snprintf(key, sizeof(key), "%.100s.%.48s", section, name);
        for (i = 0; i < nkeys; i++) {
            if (strcmp(name, keys[i]) == 0) {
                break;
            }
        }
        if (i == nkeys) {
            for (i = 0, at = 0; i < nkeys && at < sizeof(known); i++) {
                at += (size_t) snprintf(known + at, sizeof(known) - at,
                    "%s%s", i ? ", " : "", keys[i]);
            }
            return config_fail(cx, k, "key '%s': unknown key (known: %s)",
                key, known);
        }
        if (seen & (1ull << i)) {
            return config_fail(cx, k, "key '%s': given twice", key);
        }
        seen |= 1ull << i;
        if (fn(cx, key, i, v, arg) != 0) {
            return -1;
        }
    }
    return 0;
}

/* true or false, plain. */
static int
get_flag(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    int *out)
{
    const char  *s;

    if (node->type == YAML_SCALAR_NODE && scalar_is_plain_value(node)) {
        s = scalar_text(node);
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = s[0] == 't';
            return 0;
        }
    }
    return config_fail(cx, node, "key '%s': expected true or false", key);
}

/* An octal permission such as "0666" (quoted so YAML keeps it a string) or
 * 0666 / 666 plain. */
static int
get_mode(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    unsigned *out)
{
    const char     *s;
    char           *end;
    unsigned long   v;
    size_t          len;

    if (node->type != YAML_SCALAR_NODE) {
        return config_fail(cx, node, "key '%s': expected an octal mode such "
            "as \"0660\", got %s", key, node_kind(node));
    }
    s = scalar_text(node);
    len = strlen(s);
    if (len < 3 || len > 4 || strspn(s, "01234567") != len) {
        return config_fail(cx, node, "key '%s': expected an octal mode such "
            "as \"0660\", got '%s'", key, s);
    }
    v = strtoul(s, &end, 8);
    if (v > 0777) {
        return config_fail(cx, node, "key '%s': '%s' is out of range (at "
            "most 0777)", key, s);
    }
    if ((v & 0600) != 0600) {
        return config_fail(cx, node, "key '%s': '%s' must let huellad's own "
            "user read and write (0600)", key, s);
    }
    *out = (unsigned) v;
    return 0;
}

static int
load_matcher(struct config_ctx *cx, yaml_node_t *map, struct hd_config *cfg)
{
    yaml_node_pair_t  *pair;
    yaml_node_t       *k, *v;
    const char        *name;
    char               key[64];
    uint64_t           u;
    unsigned           seen = 0;
    size_t             i;
    static const char *const keys[] = {
        "socket", "socket_mode", "data_dir", "map_size_mb", "threads",
        "fmr", "spin_us", "max_clients", "allow_debug", "debug_delay_ms"
    };
    const yaml_node_t *map_node = NULL, *delay_node = NULL;

    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++)
    {
        k = yaml_document_get_node(cx->doc, pair->key);
        v = yaml_document_get_node(cx->doc, pair->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            return config_fail(cx, k, "key 'matcher': keys must be plain "
                "names");
        }
        name = scalar_text(k);
        snprintf(key, sizeof(key), "matcher.%.48s", name);
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            if (strcmp(name, keys[i]) == 0) {
                break;
            }
        }
        if (i == sizeof(keys) / sizeof(keys[0])) {
            return config_fail(cx, k, "key '%s': unknown key (known: socket, "
                "socket_mode, data_dir, map_size_mb, threads, fmr, spin_us, "
                "max_clients, allow_debug, debug_delay_ms)", key);
        }
        if (seen & (1u << i)) {
            return config_fail(cx, k, "key '%s': given twice", key);
        }
        seen |= 1u << i;

        switch (i) {
        case 0:
            if (get_path(cx, key, v, cfg->socket_path,
                    sizeof(cfg->socket_path)) != 0)
            {
                return -1;
            }
            break;
        case 1:
            if (get_mode(cx, key, v, &cfg->socket_mode) != 0) {
                return -1;
            }
            break;
        case 2:
            if (get_path(cx, key, v, cfg->data_dir,
                    sizeof(cfg->data_dir)) != 0)
            {
                return -1;
            }
            break;
        case 3:
            /* 16 MiB .. 1 TiB: the map is address space, not memory
             * (from 1 MiB with allow_debug, to test a full map). */
            if (get_uint(cx, key, v, 1, 1048576, &cfg->map_size_mb) != 0) {
                return -1;
            }
            map_node = v;
            break;
        case 4:
            if (get_uint(cx, key, v, 0, 256, &u) != 0) {
                return -1;
            }
            cfg->threads = (unsigned) u;
            break;
        case 5:
            if (get_real(cx, key, v, 0.0, 0.1, &cfg->fmr) != 0) {
                return -1;
            }
            break;
        case 6:
            /* More than a millisecond of spinning never pays: a sleeping
             * wake-up costs ~35 us here. */
            if (get_uint(cx, key, v, 0, 1000, &u) != 0) {
                return -1;
            }
            cfg->spin_us = (unsigned) u;
            break;
        case 7:
            if (get_uint(cx, key, v, 1, 1024, &u) != 0) {
                return -1;
            }
            cfg->max_clients = (unsigned) u;
            break;
        case 8:
            if (get_flag(cx, key, v, &cfg->allow_debug) != 0) {
                return -1;
            }
            break;
        case 9:
            if (get_uint(cx, key, v, 0, 60000, &u) != 0) {
                return -1;
            }
            cfg->debug_delay_ms = (unsigned) u;
            delay_node = v;
            break;
        }
    }
    /* Fault injection for the tests, refused in a production config. */
    if (!cfg->allow_debug && map_node && cfg->map_size_mb < 16) {
        return config_fail(cx, map_node, "key 'matcher.map_size_mb': must be "
            "at least 16 (smaller maps need matcher.allow_debug: true)");
    }
    if (!cfg->allow_debug && delay_node && cfg->debug_delay_ms > 0) {
        return config_fail(cx, delay_node, "key 'matcher.debug_delay_ms': "
            "refused without matcher.allow_debug: true (tests only)");
    }
    return 0;
}

static int
load_root(struct config_ctx *cx, struct hd_config *cfg)
{
    yaml_node_t       *root, *k, *v;
    yaml_node_pair_t  *pair;
    const char        *name;
    unsigned           seen = 0;
    size_t             i, n = sizeof(config_sections) / sizeof(config_sections[0]);

    root = yaml_document_get_root_node(cx->doc);
    if (root == NULL) {
        return config_fail(cx, NULL, "the file is empty (expected a "
            "'matcher:' section)");
    }
    if (root->type != YAML_MAPPING_NODE) {
        return config_fail(cx, root, "expected a mapping of sections "
            "(matcher, portal, log) at the top level, got %s",
            node_kind(root) ? node_kind(root) : "a scalar");
    }
    for (pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++)
    {
        k = yaml_document_get_node(cx->doc, pair->key);
        v = yaml_document_get_node(cx->doc, pair->value);
        if (k == NULL || v == NULL || k->type != YAML_SCALAR_NODE) {
            return config_fail(cx, k, "top-level keys must be plain names");
        }
        name = scalar_text(k);
        for (i = 0; i < n; i++) {
            if (strcmp(name, config_sections[i]) == 0) {
                break;
            }
        }
        if (i == n) {
            return config_fail(cx, k, "key '%.64s': unknown section (known: "
                "matcher, portal, log, identity, receipts, enrollment, "
                "attendance)",
                name);
        }
        if (seen & (1u << i)) {
            return config_fail(cx, k, "key '%s': given twice", name);
        }
        seen |= 1u << i;
        if (v->type == YAML_SCALAR_NODE && !scalar_is_plain_value(v)
            && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        {
            continue;   /* an empty section keeps the defaults */
        }
        if (v->type != YAML_MAPPING_NODE) {
            return config_fail(cx, v, "key '%s': expected a mapping, got %s",
                name, node_kind(v) ? node_kind(v) : "a scalar");
        }
        if (i == 0 && load_matcher(cx, v, cfg) != 0) {
            return -1;
        }
        if (i == 3 && config_load_identity(cx, v, &cfg->identity) != 0) {
            return -1;
        }
        if (i == 4 && config_load_receipts(cx, v, &cfg->enroll) != 0) {
            return -1;
        }
        if (i == 5 && config_load_enrollment(cx, v, &cfg->enroll) != 0) {
            return -1;
        }
        if (i == 6 && config_load_attendance(cx, v, &cfg->attendance) != 0)
        {
            return -1;
        }
    }
    return 0;
}

/*
 * libyaml marks scanner and parser errors with a line, but a reader error
 * (a control character, bad UTF-8) only with a byte offset, leaving the
 * mark at line 0: count the lines up to that offset so the message names
 * the real line, and give the offset and the byte too.
 */
void
config_syntax_error(const char *path, FILE *f, const yaml_parser_t *parser,
    char *err, size_t errlen)
{
    unsigned long  line;
    size_t         i;
    int            c;

    if (parser->error != YAML_READER_ERROR) {
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s%s%s", path,
            (unsigned long) parser->problem_mark.line + 1,
            parser->problem ? parser->problem : "unknown",
            parser->context ? " " : "",
            parser->context ? parser->context : "");
        return;
    }
    line = 1;
    if (fseek(f, 0, SEEK_SET) == 0) {
        for (i = 0; i < parser->problem_offset; i++) {
            c = getc(f);
            if (c == EOF) {
                break;
            }
            line += c == '\n';
        }
    }
    if (parser->problem_value >= 0) {
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s (byte 0x%02x "
            "at offset %zu)", path, line,
            parser->problem ? parser->problem : "unknown",
            (unsigned) parser->problem_value, parser->problem_offset);
    } else {
        snprintf(err, errlen, "%s:%lu: YAML syntax error: %s (at offset "
            "%zu)", path, line, parser->problem ? parser->problem : "unknown",
            parser->problem_offset);
    }
}

int
config_load(const char *path, struct hd_config *cfg, char *err,
    size_t errlen)
{
    FILE               *f;
    yaml_parser_t       parser;
    yaml_document_t     doc;
    struct config_ctx   cx = { path, &doc, err, errlen };
    int                 rc;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "%s: cannot initialise the YAML parser", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        config_syntax_error(path, f, &parser, err, errlen);
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    rc = load_root(&cx, cfg);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}
