/*
 * attendance_store.h -- the records of the `attendance` LMDB database and
 * their reads and writes inside a caller's transaction.
 *
 * One named database, keys by prefix (all integers big-endian, so LMDB's
 * byte order is time order):
 *   'P' CURP 0 at:u64 seq:u64   -> struct att_punch_rec (a punch)
 *   'F' folio                   -> the 'P' key of that punch
 *   'J' id:u64                  -> struct att_just_rec + text + comment
 *   'j' CURP 0 id:u64           -> "" (a person's justifications)
 *   'A' id:u64                  -> attachment bytes
 *   'N' CURP 0 seq:u64          -> a notification (JSON text)
 *   'T' "k:" kiosk | "p:" CURP  -> struct att_throttle
 *   'C' name                    -> u64 counter (punch, just, notify,
 *                                  change)
 *   'R' seq:u64                 -> a rules change (JSON text, as accepted)
 * Like store.c it never begins or commits a transaction.  Records carry a
 * version byte first so a later layout can be told apart.
 */

#ifndef HUELLA_ATTENDANCE_STORE_H
#define HUELLA_ATTENDANCE_STORE_H

#include <lmdb.h>
#include <stdint.h>

#include "attendance_rules.h"

#define ATT_FOLIO_MAX  32

struct att_punch_rec {
    uint8_t   version;          /* 1 */
    uint8_t   kind;             /* enum att_kind, as decided at the punch */
    uint8_t   status;           /* enum att_status, as decided */
    uint8_t   flags;            /* ATT_PF_* */
    int32_t   day;              /* the shift day it belongs to */
    int32_t   minute;           /* relative to that day's local midnight */
    int32_t   reserved;
    uint64_t  at;               /* unix seconds */
    uint64_t  seq;
    double    score;
    char      folio[ATT_FOLIO_MAX];
    char      device[ATT_NAME_MAX];
    char      site[ATT_NAME_MAX];
};

#define ATT_PF_FROZEN     1u    /* recorded into a frozen day */
#define ATT_PF_MATRICULA  2u    /* 1:1 with a typed matricula */
#define ATT_PF_FACE       4u    /* recognised by the face */

struct att_just_rec {
    uint8_t   version;          /* 1 */
    uint8_t   state;            /* enum att_just_state */
    int8_t    kind;             /* incident kind, -1 = the whole day */
    uint8_t   reserved;
    int32_t   day;
    uint64_t  id;
    uint64_t  created, decided; /* unix seconds; decided 0 = not yet */
    uint32_t  attachment_len;
    uint16_t  text_len, comment_len;
    char      curp[ATT_CURP_MAX];
    char      folio[ATT_FOLIO_MAX];          /* punch, "" = a day */
    char      reason[ATT_NAME_MAX];
    char      filed_by[ATT_CURP_MAX];
    char      decided_by[ATT_CURP_MAX];
    char      attachment_type[64];
    char      decision_folio[ATT_FOLIO_MAX]; /* the decision's receipt */
};

/* A justification read back: text and comment are NUL-terminated copies. */
struct att_just {
    struct att_just_rec  r;
    char                 text[2001];
    char                 comment[1001];
};

struct att_throttle {
    uint32_t  failures;
    uint32_t  reserved;
    uint64_t  last_failure;
};

int atts_open(MDB_env *env, MDB_dbi *dbi);

/* All return 0, MDB_NOTFOUND or another LMDB error. */
int atts_counter_next(MDB_txn *txn, MDB_dbi dbi, const char *name,
    uint64_t *out);

int atts_punch_put(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    const struct att_punch_rec *p);
/* Calls fn for each punch of curp with at in [from, to), in time order. */
int atts_punch_each(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    uint64_t from, uint64_t to,
    int (*fn)(void *arg, const struct att_punch_rec *p), void *arg);
/* The punch with this folio (and its CURP). */
int atts_punch_by_folio(MDB_txn *txn, MDB_dbi dbi, const char *folio,
    char curp[ATT_CURP_MAX], struct att_punch_rec *out);

int atts_just_put(MDB_txn *txn, MDB_dbi dbi, const struct att_just *j);
int atts_just_get(MDB_txn *txn, MDB_dbi dbi, uint64_t id,
    struct att_just *out);
/* Calls fn for each justification of curp (curp NULL: everyone's). */
int atts_just_each(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    int (*fn)(void *arg, const struct att_just *j), void *arg);

int atts_attachment_get(MDB_txn *txn, MDB_dbi dbi, uint64_t id,
    MDB_val *out);
int atts_attachment_put(MDB_txn *txn, MDB_dbi dbi, uint64_t id,
    const void *data, size_t len);

int atts_notify_put(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    const char *json);
/* Calls fn for curp's newest `max` notifications, newest first. */
int atts_notify_latest(MDB_txn *txn, MDB_dbi dbi, const char *curp,
    unsigned max, int (*fn)(void *arg, const char *json, size_t len),
    void *arg);

int atts_throttle_get(MDB_txn *txn, MDB_dbi dbi, const char *key,
    struct att_throttle *out);       /* absent: zeroed, returns 0 */
int atts_throttle_put(MDB_txn *txn, MDB_dbi dbi, const char *key,
    const struct att_throttle *t);
int atts_throttle_clear(MDB_txn *txn, MDB_dbi dbi, const char *key);
/* Calls fn for each counter whose name starts with prefix ("p:"). */
int atts_throttle_each(MDB_txn *txn, MDB_dbi dbi, const char *prefix,
    int (*fn)(void *arg, const char *name, const struct att_throttle *t),
    void *arg);

/* Rules changes made through the admin API, replayed in seq order over
 * the YAML rules at start (attendance_changes.c). */
int atts_change_put(MDB_txn *txn, MDB_dbi dbi, uint64_t seq,
    const char *json);
int atts_change_each(MDB_txn *txn, MDB_dbi dbi,
    int (*fn)(void *arg, uint64_t seq, const char *json, size_t len),
    void *arg);

#endif /* HUELLA_ATTENDANCE_STORE_H */
