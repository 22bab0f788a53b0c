/*
 * enroll_ops.h -- huellad's employer-enrollment ops (issue 5, ops 70..83):
 * what they share.
 *
 * Owns the routing of ops 70..83 to devices.c, receipt.c, enrollment.c and
 * enrollment_jobs.c,
 * the strict decoding of their request fields into struct en_fields, the
 * three LMDB databases they keep (opened here, so store.c need not know
 * them), the TLV record helpers those files store their records with, and
 * the hook the writer calls at the end of every batch (batched device
 * last-use times).
 *
 * Databases (keys are ASCII prefixes + ids; values are a version byte then
 * TLV fields with huella_ipc.h's tags, so fields can be added later):
 *   devices     "d:" id -> device, "k:" SHA-256(SPKI) -> id,
 *               "u:" id -> u64 last use (unix s)
 *   receipts    "r:" folio -> receipt, "m:seq" -> u64 folio counter
 *   enrollment  "s:" CURP -> biometric status, "f:" CURP -> face template,
 *               "c:" case -> dedup case, "o:" CURP -> open case id,
 *               "x:" CURP -> exception, "q:" CURP -> quality refusals,
 *               "n:" NSS -> CURP, "e:" seq -> CURP (enrollment journal),
 *               "m:enrseq" -> u64, "j:" job -> dedup job,
 *               "J:" seq -> job id (the FIFO queue), "p:" CURP -> job id
 *               (pending), "m:jobseq" -> u64
 */

#ifndef HUELLA_ENROLL_OPS_H
#define HUELLA_ENROLL_OPS_H

#include <lmdb.h>
#include <stdint.h>

#include "config.h"
#include "huella_ipc.h"
#include "identity_store.h"
#include "ipc_client.h"
#include "ops.h"
#include "store.h"

#define EN_RFC_MAX        16
#define EN_ID_MAX         24      /* dev_ / dd_ + 16 hex */
#define EN_TEXT_MAX       128     /* make, model, serial */
#define EN_WORD_MAX       24      /* purpose, state, reason */
#define EN_FOLIO_MAX      32
#define EN_FINGERS_MAX    10
#define EN_MODEL_MAX      65
#define EN_FACE_DIM_MAX   1024
#define EN_PEM_MAX        4096

struct en_finger {
    uint32_t        position;
    uint32_t        format;
    const uint8_t  *tmpl;
    uint32_t        tmpl_len;
};

struct en_missing {
    uint32_t  position;
    char      reason[EN_WORD_MAX];
};

/* Decoded request fields: NUL-terminated copies; binary fields point into
 * the payload they were decoded from. */
struct en_fields {
    uint64_t           seen[3];                 /* bit per tag < 192 */
    char               curp[STORE_CURP_MAX];
    char               nss[STORE_NSS_MAX];
    char               rfc[EN_RFC_MAX];
    char               device_id[EN_ID_MAX];
    char               case_id[EN_ID_MAX];
    char               job_id[EN_ID_MAX];
    int                async;                   /* ASYNC 1: queue it */
    char               folio[EN_FOLIO_MAX];
    char               make[EN_TEXT_MAX];
    char               model[EN_TEXT_MAX];
    char               serial[EN_TEXT_MAX];
    char               purpose[EN_WORD_MAX];
    char               state[EN_WORD_MAX];
    char               actor[IDS_ACTOR_MAX];
    char               client[IDS_CLIENT_MAX];
    const char        *pem;
    uint32_t           pem_len;
    const uint8_t     *sig_base;
    uint32_t           sig_base_len;
    const uint8_t     *sig;
    uint32_t           sig_len;
    struct en_finger   fingers[EN_FINGERS_MAX];
    unsigned           nfingers;
    struct en_missing  missing[EN_FINGERS_MAX];
    unsigned           nmissing;
    int                has_face;
    char               face_model[EN_MODEL_MAX];
    uint32_t           face_dim;
    const uint8_t     *face_data;
    uint32_t           face_data_len;
};

int en_has(const struct en_fields *f, unsigned tag);

struct en_err {
    int          status;
    const char  *code;
    char         field[32];
    char         msg[256];
};

int en_fail(struct en_err *e, int status, const char *code,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void en_reply_err(struct hd_request *rq, const struct en_err *e);
/* Puts ERR_CODE/MESSAGE/FIELD into a writer reply; returns e->status. */
int en_put_err(struct hipc_writer *w, const struct en_err *e);

/* Decodes buf; `allowed`/`required` are 0-terminated tag lists. */
int en_decode(const uint8_t *buf, size_t len, const uint16_t *allowed,
    const uint16_t *required, struct en_fields *f, struct en_err *e);

/* A listing's start: decodes the request (tags allowed, none required)
 * into f, then opens a read transaction and a cursor on dbi.  0, or -1
 * once the error has been replied (nothing left open). */
int en_list_open(struct hd_request *rq, const uint16_t *tags,
    MDB_dbi dbi, struct en_fields *f, MDB_txn **txn, MDB_cursor **cur);

/* The databases (valid after enroll_ops_init). */
MDB_dbi en_db_devices(void);
MDB_dbi en_db_receipts(void);
MDB_dbi en_db_enroll(void);
const struct hd_enroll_config *en_cfg(void);

/* The key prefix then the id, as an LMDB key in buf. */
MDB_val en_key(char *buf, size_t cap, const char *prefix, const char *id);
/* Stores the writer's bytes with a version byte in front. */
int en_record_put(MDB_txn *txn, MDB_dbi dbi, const char *prefix,
    const char *id, const struct hipc_writer *w);
/* Finds a record: data and len get its TLV bytes (after the version). */
int en_record_get(MDB_txn *txn, MDB_dbi dbi, const char *prefix,
    const char *id, const uint8_t **data, size_t *len);
/* Copies string field `tag` of a TLV record into out ("" if absent). */
void en_record_str(const uint8_t *rec, size_t len, uint16_t tag, char *out,
    size_t cap);
uint32_t en_record_u32(const uint8_t *rec, size_t len, uint16_t tag);
uint64_t en_record_u64(const uint8_t *rec, size_t len, uint16_t tag);
double en_record_f64(const uint8_t *rec, size_t len, uint16_t tag);

/* The prefix then 16 random hex digits. */
int en_random_id(const char *prefix, char *out, size_t cap);

/* A JSON reply (the text is freed here). */
void en_reply_json(struct hd_request *rq, struct hd_thread *th, char *text);

/* Hands a copy of rq to fn on the pool or (fn NULL) to the writer, with
 * prep attached; replies BUSY itself on failure. */
void en_dispatch(struct hd_request *rq, void *prep, void (*prep_free)(void *),
    void (*fn)(void *arg, struct hd_thread *th));

int enroll_ops_init(const struct hd_config *cfg, struct store *st,
    char *err, size_t errlen);
int enroll_ops_owns(unsigned op);
void enroll_ops_handle(struct hd_request *rq, struct hd_thread *th);
int enroll_ops_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);
/* Writer: end of a batch, before its commit (device last use). */
void enroll_batch_end(MDB_txn *txn);
/* Writer: its last transaction at a clean stop (every device last use
 * not written yet). */
void enroll_writer_stopping(MDB_txn *txn);

#endif /* HUELLA_ENROLL_OPS_H */
