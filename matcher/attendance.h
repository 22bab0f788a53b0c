/*
 * attendance.h -- huellad's attendance ops (issue 6): what they share.
 *
 * Owns the attendance runtime (the rules loaded from config, the clock and
 * its test override, the local time zone), the strict decoding of
 * attendance request fields into struct att_fields, the authorization rule
 * (who may see or decide about whom), a small JSON writer and the dispatch
 * of ops 90..100.  The ops live in attendance_punch.c (PUNCH),
 * attendance_days.c (ATTENDANCE_QUERY, REPORT), attendance_justify.c
 * (justifications, attachments, notifications); the records in
 * attendance_store.c; the rules in attendance_rules.c.
 *
 * Threads (docs/ipc.md section 6): every op is decoded on the ring thread;
 * reads (query, report, lists) run on the worker pool, PUNCH matches on the
 * pool and then writes on the writer; every change is written by the
 * writer with its audit entry and answered after the durable commit.
 *
 * Time: huellad's process time zone is set to attendance.time_zone at
 * start (nothing else in huellad uses local time), so localtime_r() gives
 * the TZ database's offsets, DST history included.
 */

#ifndef HUELLA_ATTENDANCE_H
#define HUELLA_ATTENDANCE_H

#include <jansson.h>
#include <lmdb.h>
#include <stdint.h>
#include <time.h>

#include "attendance_rules.h"
#include "config.h"
#include "huella_ipc.h"
#include "ops.h"

#define ATT_TEXT_MAX       2000
#define ATT_COMMENT_MAX    1000
#define ATT_MIME_MAX       64
#define ATT_ACTOR_MAX      256
#define ATT_ROLES_MAX      128

struct att_fields {
    uint8_t         seen[16];               /* bit per tag < 128 */
    char            curp[ATT_CURP_MAX];
    char            matricula[ATT_MATRICULA_MAX];
    char            device[ATT_NAME_MAX];
    char            site[ATT_NAME_MAX];
    uint32_t        format;
    const uint8_t  *tmpl;
    uint32_t        tmpl_len;
    uint64_t        test_now;
    int32_t         from, to, date;
    char            folio[32];              /* a punch's folio */
    char            reason[ATT_NAME_MAX];
    char            text[ATT_TEXT_MAX + 1];
    int             kind;                   /* incident kind, -1 = all */
    const uint8_t  *attachment;
    uint32_t        attachment_len;
    char            attachment_type[ATT_MIME_MAX];
    uint64_t        just_id;
    int             approve;
    char            comment[ATT_COMMENT_MAX + 1];
    int             team;                   /* SCOPE=team */
    int             csv;                    /* OUTPUT=csv */
    char            actor[ATT_ACTOR_MAX];
    char            roles[ATT_ROLES_MAX];
    char            client[64];
    uint32_t        value;
    uint32_t        offset;
    const uint8_t  *json;                   /* JSON (a rules change) */
    uint32_t        json_len;
    char            face_model[64];         /* FACE (nested) */
    uint32_t        face_dim;
    const uint8_t  *face_data;              /* face_dim float32 LE */
    uint32_t        face_len;
};

int att_has(const struct att_fields *f, unsigned tag);

/* What a request carries from thread to thread (rq->prep). */
struct att_job {
    struct att_fields  f;
    time_t             now;              /* the act's time */
    /* PUNCH, filled on the pool */
    int                matched;
    char               curp[ATT_CURP_MAX];
    double             score;
    int                site;             /* index, -1 = none */
    int                by_matricula;
    int                by_face;          /* the face decided the match */
    int                disagree;         /* finger and face name two
                                            people */
    double             face_score;       /* -1 = no face compared */
    /* ATT_RULES_CHANGE: the rules it makes, published after the commit */
    struct att_rules  *rules_new;
};

/* Frees a job and what it still owns (a prep_free). */
void att_job_free(void *job);

/* ---- runtime ------------------------------------------------------------ */

int attendance_init(const struct hd_config *cfg, struct store *st,
    char *err, size_t errlen);
const struct att_rules *att_rules(void);
MDB_dbi att_dbi(void);

/* The daemon's clock plus attendance.clock_offset_s. */
time_t att_clock(void);
/* Local calendar day and minute of the day of an instant. */
void att_local(time_t t, int32_t *day, int *minute);
/* "2025-03-10T08:05:12-06:00" */
void att_iso8601(time_t t, char out[32]);
/* Unix seconds of local midnight starting `day` (for "now" arithmetic). */
int att_now_min(time_t now, int32_t day);

/* ---- authorization ------------------------------------------------------ */

/* 1 when roles (a comma list) holds role. */
int att_role(const char *roles, const char *role);
/* May the actor see curp's records?  Self, a supervisor up the chain, an
 * admin or an auditor. */
int att_may_view(const struct att_fields *f, const char *curp);

/* ---- JSON (jansson) ------------------------------------------------- */

/* Replies OK with the document as `tag` (JSON, or TEXT for CSV), or
 * TOO_LARGE `reply_too_large` when it does not fit a slot.  Takes doc. */
void att_reply_json(struct hd_request *rq, struct hd_thread *th,
    json_t *doc);
void att_reply_text(struct hd_request *rq, struct hd_thread *th,
    uint16_t tag, const char *text, size_t len);

/* ---- dispatch ----------------------------------------------------------- */

/* 1 for the ops attendance_handle serves (90..100, 101..109). */
int attendance_owns(unsigned op);
void attendance_committed(struct hd_request *rq, int status);
void attendance_handle(struct hd_request *rq, struct hd_thread *th);
int attendance_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

/* Decodes into a fresh job (allowed/required: 0-terminated tag lists);
 * NULL after replying with the error. */
struct att_job *att_job_new(struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required);
/* Hands rq + job to fn on the pool, or to the writer (fn NULL). */
void att_dispatch(struct hd_request *rq, struct att_job *job,
    void (*fn)(void *arg, struct hd_thread *th));

/* Receipts (receipt.h): issues one of `type` over payload inside txn.
 * 0 with folio and *jws (malloc'ed), or -1 when receipts are unavailable
 * (the act still stands; its reply carries no RECEIPT). */
int att_receipt(MDB_txn *txn, const char *type, json_t *payload,
    const char *curp, char folio[32], char **jws);

/* The rules as JSON; full adds groups, people and the limits an admin
 * sets (the admin and auditor view). */
json_t *att_rules_json(const struct att_rules *r, int full);

/* attendance_changes.c: the rules in force (YAML + admin changes) */
int att_changes_init(const struct att_rules *yaml, MDB_env *env,
    char *err, size_t errlen);
struct att_rules *att_rules_copy(const struct att_rules *r);
void att_changes_handle(struct hd_request *rq, struct hd_thread *th);
int att_changes_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);
void att_changes_committed(struct hd_request *rq, int status);

/* attendance_biometric.c: biometric disable after repeated failures */
/* 1 when curp's biometric punches are disabled (failures so far). */
int att_biometric_disabled(MDB_txn *txn, const char *curp,
    unsigned *failures);
void att_biometric_handle(struct hd_request *rq, struct hd_thread *th);
int att_biometric_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

/* attendance_punch.c */
void att_punch_handle(struct hd_request *rq, struct hd_thread *th);
int att_punch_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);
/* attendance_days.c */
void att_days_handle(struct hd_request *rq, struct hd_thread *th);
/* attendance_justify.c */
void att_justify_handle(struct hd_request *rq, struct hd_thread *th);
int att_justify_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w);

#endif /* HUELLA_ATTENDANCE_H */
