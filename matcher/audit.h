/*
 * audit.h -- the audit trail's entries and their hash chain.
 *
 * Owns the byte layout of one audit entry and the rule that ties each
 * entry to the one before it: an entry stores the previous entry's hash
 * and its own, hash = SHA-256 of every byte before it (prev_hash
 * included).  Altering an entry breaks its own hash; rewriting it with a
 * fresh hash breaks the next entry's link; removing one leaves a gap in
 * the sequence numbers.  Storage is the caller's: huellad keeps entries
 * in an LMDB database keyed by sequence number (1, 2, 3, ...) and reads
 * the tail entry's hash to append the next.
 *
 * A chain alone cannot reveal that its newest entries were cut off, or
 * that someone with write access rewrote it from some point on: record
 * the head (seq and hash, see struct audit_anchor) somewhere else now and
 * then (logs, receipts, a backup) and pass it to audit_chain_verify().
 *
 * Layout (integers big-endian):
 *   "HAU1" | seq u64 | time_ms i64 | prev_hash[32]
 *   | actor_len u16 | actor | action_len u8 | action
 *   | target_len u16 | target | detail_len u32 | detail | hash[32]
 */

#ifndef HUELLA_AUDIT_H
#define HUELLA_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_LEN    32
#define AUDIT_ACTOR_MAX   255       /* bytes */
#define AUDIT_ACTION_MAX  64
#define AUDIT_TARGET_MAX  1024
#define AUDIT_DETAIL_MAX  65536

struct audit_record {
    uint64_t     seq;        /* 1 for the first entry, then +1 */
    int64_t      time_ms;    /* Unix time in milliseconds */
    const char  *actor;      /* who: a CURP, "admin-token:3", "system" */
    const char  *action;     /* what: [a-z0-9_.]+, e.g. "login_failed" */
    const char  *target;     /* on whom or what; may be "" or NULL */
    const char  *detail;     /* free UTF-8, usually JSON; may be NULL */
};

/* An entry read back: pointers into the caller's buffer, not terminated. */
struct audit_view {
    uint64_t     seq;
    int64_t      time_ms;
    const char  *actor;
    size_t       actor_len;
    const char  *action;
    size_t       action_len;
    const char  *target;
    size_t       target_len;
    const char  *detail;
    size_t       detail_len;
    uint8_t      prev_hash[AUDIT_HASH_LEN];
    uint8_t      hash[AUDIT_HASH_LEN];      /* as stored */
};

/* Encoded size of `r`, or 0 when a field is invalid (too long, not
 * UTF-8, control characters in actor/action/target, action not
 * [a-z0-9_.], seq 0). */
size_t audit_entry_size(const struct audit_record *r);

/*
 * Encode `r` after the entry whose hash is `prev_hash` (all zeros for
 * seq 1) into `buf`; fills `hash` (the value the next entry links to).
 * Returns the bytes written, or -1 with a reason.  With LMDB: reserve
 * audit_entry_size() bytes (MDB_RESERVE) and encode into them.
 */
long audit_entry_encode(const struct audit_record *r,
                        const uint8_t prev_hash[AUDIT_HASH_LEN],
                        uint8_t *buf, size_t cap,
                        uint8_t hash[AUDIT_HASH_LEN],
                        char *err, size_t errlen);

/* Parse an entry's structure (not its hash): 0, or -1 with a reason. */
int audit_entry_decode(const uint8_t *buf, size_t len, struct audit_view *v,
                       char *err, size_t errlen);

/* Source of entries in sequence order: 1 and an entry, 0 at the end, -1
 * on a read error. */
typedef int (*audit_next_fn)(void *ctx, const uint8_t **entry, size_t *len);

/* The head of the chain as recorded outside it. */
struct audit_anchor {
    uint64_t  seq;
    uint8_t   hash[AUDIT_HASH_LEN];
};

enum audit_verdict {
    AUDIT_CHAIN_OK = 0,
    AUDIT_ENTRY_MALFORMED,     /* unreadable bytes */
    AUDIT_ENTRY_ALTERED,       /* content or link changed */
    AUDIT_ENTRY_REMOVED,       /* a gap, missing head or missing tail */
    AUDIT_ENTRY_OUT_OF_ORDER,  /* sequence number repeated or going back */
    AUDIT_READ_ERROR
};

/* "ok", "entry_malformed", "entry_altered", "entry_removed",
 * "entry_out_of_order", "read_error" */
const char *audit_verdict_code(enum audit_verdict v);

struct audit_report {
    enum audit_verdict  verdict;
    uint64_t            entries;        /* read before the first problem */
    uint64_t            first_bad_seq;  /* first entry not to trust */
    uint64_t            head_seq;       /* last entry read (0: none) */
    uint8_t             head_hash[AUDIT_HASH_LEN];
    char                message[256];
};

/*
 * Walk the whole chain from seq 1.  `anchor` (may be NULL) is a head
 * recorded earlier: the chain must still reach it with the same hash.
 * Returns 0 when sound, -1 otherwise; `out` says where and why.
 */
int audit_chain_verify(audit_next_fn next, void *ctx,
                       const struct audit_anchor *anchor,
                       struct audit_report *out);

/* Lowercase hex of a hash into out[65]. */
void audit_hash_hex(const uint8_t hash[AUDIT_HASH_LEN], char out[65]);

#endif /* HUELLA_AUDIT_H */
