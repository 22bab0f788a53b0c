/*
 * ops.h -- huellad's operations: what each request op does and on which
 * thread it runs.
 *
 * Owns: struct hd_request (a private copy of one request taken from a
 * client's slot), the routing of ops to threads (fast reads inline on the
 * ring thread, IDENTIFY/IMPORT/BACKUP to the worker pool, writes to the
 * single writer thread), the strict decoding of request fields, the reply
 * encodings and the daemon's counters.  The transport (slots, rings,
 * doorbells) is ipc_server.c's business; ops only calls hd_reply().
 */

#ifndef HUELLA_OPS_H
#define HUELLA_OPS_H

#include <lmdb.h>
#include <stdint.h>

#include "config.h"
#include "huella_ipc.h"
#include "match.h"

struct hd_conn;
struct store;

struct hd_request {
    struct hd_conn  *conn;         /* the link the reply goes back on */
    uint32_t         slot;
    uint32_t         generation;
    uint16_t         op;
    uint64_t         deadline_ns;  /* CLOCK_MONOTONIC, 0 = none */
    void            *prep;         /* decoded/prepared arguments */
    void           (*prep_free)(void *prep);
    size_t           len;
    uint8_t          payload[];    /* private copy of the request payload */
};

/* Per-thread working memory: every thread that runs ops owns one. */
struct hd_thread {
    struct hm_scratch      *scratch;
    struct hm_fingerprint   fp;
    uint8_t                 encoded[HM_STORED_MAX];
    uint8_t                 reply[HIPC_PAYLOAD_MAX];
    char                    why[256];
};

struct hd_thread *hd_thread_new(void);
void hd_thread_free(struct hd_thread *th);

/* Opens the store and starts the writer thread and the worker pool. */
int ops_init(const struct hd_config *cfg, char *err, size_t errlen);
/* Lets the writer finish what it has (every queued write is committed and
 * answered), then stops it.  The store stays open: threads may still read. */
void ops_shutdown(void);

/* Entry point from a ring thread.  rq lives in the thread's own buffer; an
 * op that must run elsewhere duplicates it.  Always leads to exactly one
 * hd_reply() for the request, now or later. */
void ops_handle(struct hd_request *rq, struct hd_thread *th);

/* Writer side: runs a prepared write inside txn (a nested transaction of
 * the group commit); returns the reply status with the payload in w. */
int ops_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w);

/* After the batch holding rq committed durably, before its reply. */
void ops_committed(struct hd_request *rq, int status);

/* Well-formed UTF-8 without control characters. */
int ops_text_valid(const uint8_t *s, size_t len);

struct hd_request *hd_request_dup(const struct hd_request *rq);
void hd_request_free(struct hd_request *rq);

/* Hands copy (a duplicate of rq carrying its prepared work) to the writer
 * when fn is NULL, else to the thread pool to run fn; when copy is NULL or
 * the pool refuses it, frees copy and answers rq 'busy'. */
void ops_dispatch(struct hd_request *rq, struct hd_request *copy,
    void (*fn)(void *arg, struct hd_thread *th));

/* Encodes ERR_CODE, MESSAGE and (when field is not NULL) FIELD. */
/* Writes the error of a failed LMDB call rc: storage_full (HIPC_ST_BUSY)
 * for a full map or disk, else storage_error (HIPC_ST_INTERNAL); returns
 * the status. */
int ops_storage_error(struct hipc_writer *w, int rc);

void ops_error(struct hipc_writer *w, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Replies with an error payload built by ops_error(). */
void ops_reply_error(struct hd_request *rq, int status, const char *code,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A failure found while decoding or working (ops_util.c): reply status,
 * snake_case code, JSON field (a static string or NULL) and message. */
struct ops_err {
    int          status;
    const char  *code;
    const char  *field;
    char         msg[256];
};

/* Fills e; returns -1. */
int ops_fail(struct ops_err *e, int status, const char *code,
    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Replies with e's status and error payload. */
void ops_reply_err(struct hd_request *rq, const struct ops_err *e);

/* Decodes one field into arg; 0, or -1 with e filled. */
typedef int (*ops_field_fn)(void *arg, unsigned tag, const uint8_t *d,
    uint32_t n, struct ops_err *e);
/* The strict walk over rq's TLV fields: every tag must be < 128, in
 * `allowed` and given once (its bit in seen, which the caller zeroes), and
 * is decoded by one(); then every `required` tag must have been seen.
 * name() gives a tag's JSON field.  0, or -1 with e filled (BAD_REQUEST,
 * or what one() said). */
int ops_decode(const struct hd_request *rq, const uint16_t *allowed,
    const uint16_t *required, uint8_t seen[16],
    const char *(*name)(unsigned tag), ops_field_fn one, void *arg,
    struct ops_err *e);
/* Whether tag's bit is set in a 128-bit seen set. */
int ops_seen(const uint8_t seen[16], unsigned tag);
/* Whether tag is in the 0-terminated list. */
int ops_tag_listed(const uint16_t *list, unsigned tag);
/* Printable ASCII without spaces. */
int ops_ascii_word(const uint8_t *d, uint32_t n);
/* 18 characters of [0-9A-Z] or Ñ (UTF-8 C3 91).  The check digit and
 * the date/state codes are the module's business (it answers 422 first);
 * this guards the key space. */
int ops_curp_valid(const uint8_t *s, size_t len);

/* Parses a template (enum hipc_format) and encodes it into th->encoded
 * without the enrollment quality gate (a probe); returns its length, or
 * -1 with e filled naming field. */
long ops_prepare_template(struct hd_thread *th, uint32_t format,
    const uint8_t *tmpl, uint32_t len, const char *field, struct ops_err *e);

uint64_t hd_now_ns(void);
int hd_expired(const struct hd_request *rq);

/* Counters, updated from every thread. */
void ops_count_error(void);
void ops_count_comparisons(uint64_t n);

struct store *ops_store(void);
double ops_threshold(void);
const struct hd_config *ops_config(void);

#endif /* HUELLA_OPS_H */
