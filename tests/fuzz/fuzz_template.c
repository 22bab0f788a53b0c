/*
 * fuzz_template.c -- libFuzzer target for the ISO 19794-2 / ANSI 378
 * parsers and, for whatever they accept, the stored form and a
 * self-comparison: nothing reachable from an uploaded template may crash.
 * The first input byte picks the format.
 */

#include <stdint.h>
#include <stdlib.h>

#include "fingerprint.h"
#include "match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t          stored[HM_STORED_MAX];
    struct hm_fingerprint   fp;
    struct hm_probe        *probe;
    struct hm_scratch      *scratch;
    char                    err[256];
    long                    len;
    int                     format;

    if (size < 1) {
        return 0;
    }
    format = (data[0] & 1) ? 2 : 1;
    if (hm_parse(format, data + 1, size - 1, &fp, err, sizeof(err)) != 0) {
        return 0;
    }
    len = hm_encode(&fp, stored, sizeof(stored), err, sizeof(err));
    if (len <= 0) {
        return 0;
    }
    if (hm_stored_check(stored, (size_t) len) != 0) {
        abort();
    }
    probe = hm_probe_new(stored, (size_t) len);
    scratch = hm_scratch_new();
    if (probe != NULL && scratch != NULL) {
        (void) hm_compare(probe, stored, (size_t) len, scratch);
    }
    hm_scratch_free(scratch);
    hm_probe_free(probe);
    return 0;
}
