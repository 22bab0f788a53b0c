/*
 * enrollment_status.h -- what huellad knows about one subject's
 * biometrics beyond the templates: the enrollment status record (state,
 * employer, device, folio, missing fingers, flags), the face template,
 * quality refusals, exception records ("acudir a la subdelegación"), and
 * the two read ops over them, EXCEPTION_LIST and SUBJECT_LOOKUP.
 *
 * The writers below run inside the caller's write transaction (the
 * enrollment's own, so a status never disagrees with the templates).
 */

#ifndef HUELLA_ENROLLMENT_STATUS_H
#define HUELLA_ENROLLMENT_STATUS_H

#include <lmdb.h>

#include "enroll_ops.h"

#define EN_EXCEPTION_MESSAGE \
    "Acudir a la subdelegación del IMSS para el registro biométrico asistido."

/* The state word of a subject's status record ("enrolled",
 * "duplicate_confirmed", "flagged"); MDB_NOTFOUND when none. */
int en_status_state(MDB_txn *txn, const char *curp, char *out, size_t cap);

/* The status of a completed enrollment (and the NSS index entry). */
int en_status_enrolled(MDB_txn *txn, const struct en_fields *f,
    const char *nss, unsigned fingers, const char *folio);

/* Adds a flag (kept once); `state` (may be NULL) replaces the state. */
int en_status_flag(MDB_txn *txn, const char *curp, const char *flag,
    const char *state);

int en_face_put(MDB_txn *txn, const char *curp, const char *model,
    uint32_t dim, const uint8_t *data);

/* Opens an exception for curp unless one is open already. */
int en_exception_open(MDB_txn *txn, const char *curp, const char *reason,
    const char *detail, const char *actor, const char *client);

/* Counts one quality refusal; *opened is set when this one reached
 * enrollment.quality_failures within the window and opened an exception. */
int en_quality_refused(MDB_txn *txn, const char *curp, const char *actor,
    const char *client, int *opened);

/* EXCEPTION_LIST and SUBJECT_LOOKUP (ring thread, read-only). */
void en_status_handle(struct hd_request *rq, struct hd_thread *th);

#endif /* HUELLA_ENROLLMENT_STATUS_H */
