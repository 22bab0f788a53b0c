/*
 * devices.h -- registered capture devices (issue 5, DESIGN.md section 5):
 * DEVICE_REGISTER, DEVICE_SET_STATUS, DEVICE_LIST and DEVICE_VERIFY.
 *
 * Owns the device record, the strict parsing of a device's public key
 * (PEM SubjectPublicKeyInfo, ECDSA P-256 or Ed25519, nothing else), the
 * verification of an RFC 9421 signature over a signature base the nginx
 * module built (ES256 as raw r||s, or Ed25519), and the device's last use.
 *
 * DEVICE_VERIFY runs inline on the ring thread on every signed capture, so
 * it is one B-tree lookup plus one signature check: parsed keys are cached
 * in memory (a device's key never changes), and the last use is kept in
 * that cache and written by the writer at most every
 * enrollment.device_last_used_flush_s seconds (a crash loses at most that
 * much last-use history, never a device; a clean stop writes it all).
 */

#ifndef HUELLA_DEVICES_H
#define HUELLA_DEVICES_H

#include <lmdb.h>

#include "ops.h"

int devices_init(char *err, size_t errlen);
void devices_handle(struct hd_request *rq, struct hd_thread *th);
int devices_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

/* Writer: stores last-use times changed since the previous flush, if
 * `force` or the flush interval has passed (nested transaction). */
void devices_flush_last_used(MDB_txn *txn, int force);

/* For enrollment: 0 when device_id is an active device of that employer
 * registered for `purpose`, else -1 with code/field/message in e. */
struct en_err;
int devices_check(MDB_txn *txn, const char *device_id, const char *rfc,
    const char *purpose, struct en_err *e);

#endif /* HUELLA_DEVICES_H */
