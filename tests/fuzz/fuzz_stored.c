/*
 * fuzz_stored.c -- libFuzzer target for the stored-template checker: bytes
 * read back from disk (or a corrupted LMDB page) are refused by
 * hm_stored_check, and whatever it accepts compares without crashing.
 */

#include <stdint.h>
#include <stdlib.h>

#include "match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hm_probe    *probe;
    struct hm_scratch  *scratch;

    if (hm_stored_check(data, size) != 0) {
        return 0;
    }
    (void) hm_stored_minutiae(data, size);
    (void) hm_stored_quality(data, size);
    probe = hm_probe_new(data, size);
    scratch = hm_scratch_new();
    if (probe != NULL && scratch != NULL) {
        (void) hm_compare(probe, data, size, scratch);
    }
    hm_scratch_free(scratch);
    hm_probe_free(probe);
    return 0;
}
