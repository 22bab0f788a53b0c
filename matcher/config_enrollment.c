/*
 * config_enrollment.c -- the `receipts:` and `enrollment:` sections of
 * config/huella.yaml (issue 5): the receipt signing key, the dedup
 * threshold, the exception rule, the device last-use flush interval and
 * the size of search above which dedup runs as a queued job.
 *
 * Same strictness as the rest of the file (config.c): unknown or repeated
 * keys, wrong types and out-of-range values are refused with FILE:LINE and
 * the key's full name (e.g. enrollment.dedup_fmr).
 */

#include <stdio.h>
#include <string.h>

#include "config_internal.h"

void
config_enroll_defaults(struct hd_enroll_config *en)
{
    memset(en, 0, sizeof(*en));
    snprintf(en->receipt_key_file, sizeof(en->receipt_key_file),
        "var/keys/receipt-es256.pem");
    en->dedup_fmr = 1.0e-6;
    en->quality_failures = 3;
    en->quality_window_s = 86400;
    en->last_used_flush_s = 60;
    /* About one second of one thread's comparisons (75-150k/s measured),
     * well inside the module's default 2 s deadline: a 2-finger
     * enrollment stays synchronous up to 50k templates. */
    en->dedup_sync_max_comparisons = 100000;
}

typedef int (*enroll_key_fn)(struct config_ctx *cx, const char *key,
    size_t index, yaml_node_t *value, struct hd_enroll_config *en);

static int
walk(struct config_ctx *cx, const char *section, yaml_node_t *map,
    const char *const *keys, size_t nkeys, enroll_key_fn fn,
    struct hd_enroll_config *en)
{
    yaml_node_pair_t  *pair;
    yaml_node_t       *k, *v;
    const char        *name;
    char               key[128];
    unsigned           seen = 0;
    size_t             i;

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
        snprintf(key, sizeof(key), "%.60s.%.48s", section, name);
        for (i = 0; i < nkeys && strcmp(name, keys[i]) != 0; i++) {
        }
        if (i == nkeys) {
            return config_fail(cx, k, "key '%s': unknown key", key);
        }
        if (seen & (1u << i)) {
            return config_fail(cx, k, "key '%s': given twice", key);
        }
        seen |= 1u << i;
        if (fn(cx, key, i, v, en) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
receipts_key(struct config_ctx *cx, const char *key, size_t i,
    yaml_node_t *v, struct hd_enroll_config *en)
{
    (void) i;
    return get_path(cx, key, v, en->receipt_key_file,
        sizeof(en->receipt_key_file));
}

static int
enrollment_key(struct config_ctx *cx, const char *key, size_t i,
    yaml_node_t *v, struct hd_enroll_config *en)
{
    uint64_t  u;

    switch (i) {
    case 0:
        /* Dedup compares every finger with the whole gallery: 1e-6 per
         * comparison is the loosest that keeps false alarms rare. */
        return get_real(cx, key, v, 0.0, 1.0e-6, &en->dedup_fmr);
    case 1:
        if (get_uint(cx, key, v, 1, 100, &u) != 0) {
            return -1;
        }
        en->quality_failures = (unsigned) u;
        return 0;
    case 2:
        if (get_uint(cx, key, v, 60, 30 * 86400, &u) != 0) {
            return -1;
        }
        en->quality_window_s = (unsigned) u;
        return 0;
    case 3:
        if (get_uint(cx, key, v, 1, 3600, &u) != 0) {
            return -1;
        }
        en->last_used_flush_s = (unsigned) u;
        return 0;
    case 4:
        /* 0: every enrollment with fingers is a queued job. */
        return get_uint(cx, key, v, 0, UINT64_C(1000000000000),
            &en->dedup_sync_max_comparisons);
    default:
        /* Refused at start without matcher.allow_debug (enroll_ops.c). */
        if (get_uint(cx, key, v, 0, 60000, &u) != 0) {
            return -1;
        }
        en->debug_dedup_job_pause_ms = (unsigned) u;
        return 0;
    }
}

int
config_load_receipts(struct config_ctx *cx, yaml_node_t *map,
    struct hd_enroll_config *en)
{
    static const char *const keys[] = { "key_file" };

    return walk(cx, "receipts", map, keys, 1, receipts_key, en);
}

int
config_load_enrollment(struct config_ctx *cx, yaml_node_t *map,
    struct hd_enroll_config *en)
{
    static const char *const keys[] = { "dedup_fmr", "quality_failures",
        "quality_window_s", "device_last_used_flush_s",
        "dedup_sync_max_comparisons", "debug_dedup_job_pause_ms" };

    return walk(cx, "enrollment", map, keys, 6, enrollment_key, en);
}
