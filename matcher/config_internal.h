/*
 * config_internal.h -- the YAML helpers config.c shares with the loaders
 * of other sections (config_identity.c, config_attendance.c,
 * config_enrollment.c).  Not for use outside config*.c.
 */

#ifndef HUELLA_CONFIG_INTERNAL_H
#define HUELLA_CONFIG_INTERNAL_H

#include <stdio.h>
#include <yaml.h>

#include "config.h"

struct config_ctx {
    const char       *path;
    yaml_document_t  *doc;
    char             *err;
    size_t            errlen;
};

/* "PATH:LINE: YAML syntax error: ..." for a failed yaml_parser_load() of
 * the file f (a reader error also names the byte and its offset). */
void config_syntax_error(const char *path, FILE *f,
    const yaml_parser_t *parser, char *err, size_t errlen);
int config_fail(struct config_ctx *cx, const yaml_node_t *node,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *scalar_text(const yaml_node_t *node);
int scalar_is_plain_value(const yaml_node_t *node);
/* NULL for a plain value, else what the node is ("a list", ...). */
const char *node_kind(const yaml_node_t *node);
int get_uint(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    uint64_t min, uint64_t max, uint64_t *out);
int get_real(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    double min_excl, double max, double *out);
int get_path(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    char *out, size_t cap);
/* A string value (quoted or plain), non-empty, fitting `cap`. */
int get_text(struct config_ctx *cx, const char *key, const yaml_node_t *node,
    char *out, size_t cap);

/* Called for each key of a mapping: key is its full name (section.name),
 * index its place in the walk's key list. */
typedef int (*config_key_fn)(struct config_ctx *cx, const char *key,
    size_t index, yaml_node_t *value, void *arg);
/* Walks a mapping whose keys must come from `keys` (at most 64), each at
 * most once, calling fn for each; refuses anything else with FILE:LINE and
 * the full key (the known keys listed for an unknown one). */
int config_walk(struct config_ctx *cx, const char *section, yaml_node_t *map,
    const char *const *keys, size_t nkeys, config_key_fn fn, void *arg);

int config_load_identity(struct config_ctx *cx, yaml_node_t *map,
    struct hd_identity_config *id);
int config_load_receipts(struct config_ctx *cx, yaml_node_t *map,
    struct hd_enroll_config *en);
int config_load_enrollment(struct config_ctx *cx, yaml_node_t *map,
    struct hd_enroll_config *en);
int config_load_attendance(struct config_ctx *cx, yaml_node_t *map,
    struct att_rules *r);

#endif /* HUELLA_CONFIG_INTERNAL_H */
