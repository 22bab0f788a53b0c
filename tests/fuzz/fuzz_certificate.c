/*
 * fuzz_certificate.c -- libFuzzer target for e.firma certificate
 * inspection (the .cer a user uploads) and the audit entry decoder (bytes
 * read back from LMDB): hostile DER and truncated entries are refused with
 * a reason, never a crash.
 */

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "audit.h"
#include "efirma.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct efirma_info  info;
    struct audit_view   view;
    char                err[256];

    (void) efirma_inspect(data, size, (time_t) 1764000000, &info, err,
                          sizeof(err));
    (void) audit_entry_decode(data, size, &view, err, sizeof(err));
    return 0;
}
