/*
 * identity_store.h -- the records of the identity databases (issue 4) and
 * their reads and writes inside a caller's LMDB transaction.
 *
 * Owns the byte layout of accounts, the NSS/matricula index, service
 * tokens, e.firma nonces, recovery tokens, throttle counters and the audit
 * chain's storage.  Like store.c it never begins or commits a transaction:
 * the writer thread batches writes, readers bring their own read
 * transaction.  Secrets are stored only as hashes: Argon2id PHC strings
 * for passwords and answers, SHA-256 for bearer and recovery tokens (they
 * are 256-bit random, so a fast hash is enough and lookups stay O(1)).
 *
 * Accounts and tokens are stored as a version byte followed by TLV fields
 * (huella_ipc.h's encoding, reusing its tags): new optional fields can be
 * added without a schema migration.
 */

#ifndef HUELLA_IDENTITY_STORE_H
#define HUELLA_IDENTITY_STORE_H

#include <lmdb.h>
#include <stdint.h>

#include "audit.h"
#include "password.h"
#include "store.h"

#define IDS_EMAIL_MAX      256
#define IDS_MATRICULA_MAX  64
#define IDS_QUESTION_MAX   256
#define IDS_ROLES_MAX      128
#define IDS_RFC_MAX        32
#define IDS_TOKEN_ID_MAX   32
#define IDS_ACTOR_MAX      256
#define IDS_CLIENT_MAX     64

struct ids_account {
    char      curp[STORE_CURP_MAX];
    char      nss[STORE_NSS_MAX];
    char      matricula[IDS_MATRICULA_MAX];
    char      email[IDS_EMAIL_MAX];
    char      name[STORE_NAME_MAX];
    char      password_hash[PASSWORD_HASH_MAX];   /* "" = no password (an
                                                     e.firma-only account) */
    char      question[IDS_QUESTION_MAX];
    char      answer_hash[PASSWORD_HASH_MAX];
    char      roles[IDS_ROLES_MAX];               /* "worker,admin" */
    char      account_rfc[IDS_RFC_MAX];           /* employer_rep binding */
    uint64_t  created;                            /* unix seconds */
    uint64_t  password_changed;                   /* unix ms of the last
                                                     change or recovery;
                                                     0 = never (sessions
                                                     opened before it end
                                                     at the next login) */
};

struct ids_token {
    char      id[IDS_TOKEN_ID_MAX];
    char      name[STORE_NAME_MAX];
    char      roles[IDS_ROLES_MAX];
    char      account_rfc[IDS_RFC_MAX];
    char      created_by[IDS_ACTOR_MAX];
    uint64_t  created;
};

/* Consecutive failures of one user or one client address. */
struct ids_throttle {
    uint32_t  failures;
    uint32_t  reserved;
    uint64_t  last_failure;     /* unix seconds */
    uint64_t  locked_until;     /* unix seconds; 0 = not locked */
};

/* All return 0, MDB_NOTFOUND, MDB_KEYEXIST or another LMDB error
 * (MDB_CORRUPTED for a record that does not decode). */
int ids_account_get(struct store *st, MDB_txn *txn, const char *curp,
    struct ids_account *out);
/* Replaces the record (the index is not touched). */
int ids_account_put(struct store *st, MDB_txn *txn,
    const struct ids_account *a);
/* A new account with its NSS and matricula index entries; MDB_KEYEXIST
 * (with *which = "curp", "nss" or "matricula") when one is taken. */
int ids_account_insert(struct store *st, MDB_txn *txn,
    const struct ids_account *a, const char **which);
/* USER as typed: CURP (18 characters), NSS (11 digits) or matricula. */
int ids_account_resolve(struct store *st, MDB_txn *txn, const char *user,
    struct ids_account *out);

int ids_throttle_get(struct store *st, MDB_txn *txn, const char *key,
    struct ids_throttle *out);     /* absent: zeroed, returns 0 */
int ids_throttle_put(struct store *st, MDB_txn *txn, const char *key,
    const struct ids_throttle *t);
int ids_throttle_clear(struct store *st, MDB_txn *txn, const char *key);

int ids_token_get(struct store *st, MDB_txn *txn,
    const uint8_t hash[32], struct ids_token *out);
int ids_token_put(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    const struct ids_token *t);
/* Deletes every token with this id; MDB_NOTFOUND when none. */
int ids_token_delete_id(struct store *st, MDB_txn *txn, const char *id);
int ids_token_each(struct store *st, MDB_txn *txn,
    int (*fn)(void *arg, const struct ids_token *t), void *arg);

int ids_nonce_put(struct store *st, MDB_txn *txn, const char *nonce,
    uint64_t expires);
/* Deletes the nonce; 0 when it existed and had not expired, MDB_NOTFOUND
 * when absent or expired (a nonce works once, and only in time). */
int ids_nonce_take(struct store *st, MDB_txn *txn, const char *nonce,
    uint64_t now);

int ids_recovery_put(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    const char *curp, uint64_t expires);
int ids_recovery_get(struct store *st, MDB_txn *txn, const uint8_t hash[32],
    char curp[STORE_CURP_MAX], uint64_t *expires);
int ids_recovery_delete(struct store *st, MDB_txn *txn,
    const uint8_t hash[32]);

/* Drops up to `max` expired nonces and recovery tokens. */
void ids_prune(struct store *st, MDB_txn *txn, uint64_t now, unsigned max);

/* A random secret kept in meta (created on first use, inside txn). */
int ids_secret(struct store *st, MDB_txn *txn, uint8_t out[32]);

/* Appends one entry after the chain's tail; *seq gets its number. */
int ids_audit_append(struct store *st, MDB_txn *txn, int64_t time_ms,
    const char *actor, const char *action, const char *target,
    const char *detail, uint64_t *seq);
/* Verifies the whole chain within a read transaction (or a read-only
 * environment opened by huellactl: pass its dbi). */
int ids_audit_verify(MDB_txn *txn, MDB_dbi audit, struct audit_report *out);
/* Calls fn for the newest `max` entries, newest first. */
int ids_audit_latest(struct store *st, MDB_txn *txn, unsigned max,
    int (*fn)(void *arg, const struct audit_view *v), void *arg);

#endif /* HUELLA_IDENTITY_STORE_H */
