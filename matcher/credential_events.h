/*
 * credential_events.h -- the credential-event log: an append-only,
 * durable list of the changes that must end an account's sessions
 * (a new password, new roles) or a cached bearer token (its revocation),
 * and the op that reads it
 * (CREDENTIAL_EVENTS, docs/ipc.md section 9).
 *
 * Sessions live in nginx, accounts in huellad.  nginx ends sessions when
 * huellad answers a change; an answer can be lost, and another nginx never
 * sees it at all.  Every such change therefore also appends an event here,
 * in the same write transaction as the change itself (committed together
 * or not at all), and every nginx follows the log (huella_session_sync).
 *
 * Database "credential_events": key u64 big-endian sequence number, value
 * a version byte, the kind (u8), the time (u64 unix ms, host order) and
 * the subject: the CURP, or for a token the token id.  Key 0 holds the head (the last sequence number ever given,
 * u64 host order) so that numbering goes on after the oldest events were
 * pruned.  Sequence numbers start at 1 and never repeat.
 *
 * Retention: the newest identity.credential_events_keep events (default
 * 65,536); the writer prunes the oldest at each append, at most a few per
 * append so that no commit grows with the backlog.
 */

#ifndef HUELLA_CREDENTIAL_EVENTS_H
#define HUELLA_CREDENTIAL_EVENTS_H

#include <lmdb.h>
#include <stdint.h>

#include "ops.h"
#include "store.h"

#define CREDEV_KEEP_DEFAULT   65536u
#define CREDEV_MAX_DEFAULT    512u    /* events per reply unless MAX says */
#define CREDEV_MAX_LIMIT      4096u   /* largest MAX accepted */

enum credev_kind {
    CREDEV_PASSWORD = 1,          /* PASSWORD_CHANGE, RECOVERY_FINISH */
    CREDEV_ROLES = 2,             /* ROLES_SET */
    CREDEV_TOKEN = 3              /* TOKEN_REVOKE: the subject is the token
                                     id, not a CURP */
};

struct credev_event {
    uint64_t          seq;
    uint64_t          at_ms;      /* unix ms; for a password, the account's
                                     password_changed stamp */
    enum credev_kind  kind;
    char              subject[STORE_CURP_MAX];   /* CURP or token id */
};

/* "password", "roles", "token". */
const char *credev_kind_name(enum credev_kind kind);

/* Opens (creating) the database in its own committed transaction. */
int credev_open(MDB_env *env, MDB_dbi *dbi);

/* Appends one event inside txn (the writer's, holding the change it
 * records), then prunes while more than keep events are retained (at most
 * two per call).  *seq (may be NULL) gets its sequence number. */
int credev_append(MDB_txn *txn, MDB_dbi dbi, const char *subject,
    enum credev_kind kind, uint64_t at_ms, uint64_t keep, uint64_t *seq);

/* The head (0: no event ever) and the oldest retained sequence number
 * (head + 1 when none is retained). */
int credev_range(MDB_txn *txn, MDB_dbi dbi, uint64_t *head,
    uint64_t *oldest);

/* The event seq itself: 0, or MDB_NOTFOUND (never given, or pruned). */
int credev_get(MDB_txn *txn, MDB_dbi dbi, uint64_t seq,
    struct credev_event *ev);

/* Calls fn for the events after since, oldest first, until fn returns
 * non-zero (which stops the walk, not an error). */
int credev_each(MDB_txn *txn, MDB_dbi dbi, uint64_t since,
    int (*fn)(void *arg, const struct credev_event *ev), void *arg);

/* huellad: opens the log in the daemon's store (ops_init). */
int credev_init(struct store *st, uint64_t keep, char *err, size_t errlen);
/* The writer: records an event of the daemon's log inside txn. */
int credev_record(MDB_txn *txn, const char *subject, enum credev_kind kind,
    uint64_t at_ms);

int credev_owns(unsigned op);
/* CREDENTIAL_EVENTS from a ring thread: decoded there (a malformed request
 * is answered at once), read on the pool. */
void credev_handle(struct hd_request *rq, struct hd_thread *th);

#endif /* HUELLA_CREDENTIAL_EVENTS_H */
