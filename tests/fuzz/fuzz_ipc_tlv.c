/*
 * fuzz_ipc_tlv.c -- libFuzzer target for the shared protocol header's
 * message check and TLV decoder (huella_ipc.h), nested fields included:
 * every length is hostile.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "huella_ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
walk(const uint8_t *buf, size_t len, int depth)
{
    struct hipc_reader  r;
    const uint8_t      *v;
    uint32_t            vlen, u32;
    uint64_t            u64;
    double              f64;
    uint16_t            tag;
    int                 rc;

    hipc_reader_init(&r, buf, len);
    while ((rc = hipc_next(&r, &tag, &v, &vlen)) == 1) {
        if (v + vlen > buf + len) {
            abort();
        }
        (void) hipc_get_u32(v, vlen, &u32);
        (void) hipc_get_u64(v, vlen, &u64);
        (void) hipc_get_f64(v, vlen, &f64);
        if (depth < 4 && (tag == HIPC_F_CANDIDATE || tag == HIPC_F_FINGER
                          || tag == HIPC_F_RECORD || tag == HIPC_F_STAT
                          || tag == HIPC_F_PROBE
                          || tag == HIPC_F_PROBE_SCORE))
        {
            (void) walk(v, vlen, depth + 1);
        }
    }
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hipc_msg  msg;

    if (size >= sizeof(msg)) {
        memcpy(&msg, data, sizeof(msg));
        if (hipc_msg_check(&msg) == NULL
            && msg.length <= size - sizeof(msg))
        {
            (void) walk(data + sizeof(msg), msg.length, 0);
        }
    }
    (void) walk(data, size, 0);
    return 0;
}
