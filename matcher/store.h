/*
 * store.h -- huellad's LMDB environment: subjects, fingers, meta.
 *
 * Owns the on-disk layout (keys and record encodings) and nothing else:
 * transactions are begun by the callers (the writer thread batches writes,
 * readers use their own read-only transactions), so this file never decides
 * when to commit.  Records read back point straight into the memory map and
 * stay valid until the read transaction ends.
 *
 * Databases:
 *   subjects  CURP -> struct subject value (created, NSS, name)
 *   subject_nss  NSS -> CURP for every subject (duplicates sorted by CURP;
 *             "\0" for none), written and deleted with the subject; rebuilt
 *             at open when its count and the subjects' disagree
 *   fingers   CURP \0 position -> 16-byte header + hm_encode() output
 *   sigblocks, sigslots  hm_signature_from_stored() of every template
 *             (HM_SIG_BYTES, prefilter.h) in blocks read in place by the
 *             search (sigblocks.h), written and deleted with the finger in
 *             the same transaction; rebuilt at open when "sigformat" or
 *             "sigblocks" in meta or the count disagrees (a version-2
 *             "signatures" database is copied in, then deleted)
 *   meta      "schema" -> u32 schema version
 *   accounts, account_index, tokens, nonces, recovery, throttle, audit:
 *             identity (issue 4); their records are identity_store.c's
 */

#ifndef HUELLA_STORE_H
#define HUELLA_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

/* 2: stored templates of version 2 (neighbour descriptors, match.h);
 * version-1 environments must be re-imported from their ISO records. */
#define STORE_SCHEMA_VERSION  2u
#define STORE_CURP_MAX        40      /* 18 chars, Ñ takes 2 bytes */
#define STORE_NSS_MAX         16
#define STORE_NAME_MAX        256

struct store;

/* The identity databases, opened with the others; identity_store.c owns
 * what they hold. */
struct store_identity_dbs {
    MDB_dbi  accounts;        /* CURP -> account record */
    MDB_dbi  account_index;   /* "nss:" NSS | "mat:" matricula -> CURP */
    MDB_dbi  tokens;          /* SHA-256(token) -> service account */
    MDB_dbi  nonces;          /* e.firma nonce -> u64 expiry */
    MDB_dbi  recovery;        /* SHA-256(token) -> CURP, expiry */
    MDB_dbi  throttle;        /* "a:" user | "c:" client -> failures */
    MDB_dbi  audit;           /* u64 big-endian seq -> audit entry */
    MDB_dbi  meta;
};

struct store_subject {
    char      curp[STORE_CURP_MAX];
    char      nss[STORE_NSS_MAX];
    char      name[STORE_NAME_MAX];
    uint64_t  created;            /* unix seconds */
};

struct store_finger {
    uint8_t         position;     /* 0..10 */
    uint8_t         format;       /* enum hipc_format */
    uint8_t         quality;      /* 0..100 */
    uint16_t        minutiae;
    uint64_t        created;
    const uint8_t  *stored;       /* hm_encode() bytes, in the map */
    size_t          stored_len;
};

/* Opens (creating if needed) the environment in dir.  0 or -1 + err. */
int store_open(struct store **out, const char *dir, uint64_t map_size,
    unsigned max_readers, char *err, size_t errlen);
void store_close(struct store *st);
MDB_env *store_env(struct store *st);
const struct store_identity_dbs *store_identity(struct store *st);

/* 1 when the file system holding the store has less than STORE_DISK_LOW
 * bytes left for us: a commit that failed with EIO then hit a short
 * write on a full disk (LMDB reports those as EIO), not a broken one. */
#define STORE_DISK_LOW  (1u << 20)
int store_disk_full(struct store *st);
int store_read_begin(struct store *st, MDB_txn **txn);
int store_write_begin(struct store *st, MDB_txn *parent, MDB_txn **txn);

/* All return 0, MDB_NOTFOUND, MDB_KEYEXIST or another LMDB error. */
int store_subject_get(struct store *st, MDB_txn *txn, const char *curp,
    struct store_subject *out);
/* The CURP of the subject with this NSS (the first by CURP if several). */
int store_subject_find_nss(struct store *st, MDB_txn *txn, const char *nss,
    char curp_out[STORE_CURP_MAX]);
int store_subject_create(struct store *st, MDB_txn *txn,
    const struct store_subject *subject);
/* Deletes the subject and all its fingers. */
int store_subject_delete(struct store *st, MDB_txn *txn, const char *curp);

int store_finger_put(struct store *st, MDB_txn *txn, const char *curp,
    const struct store_finger *finger);
int store_finger_get(struct store *st, MDB_txn *txn, const char *curp,
    unsigned position, struct store_finger *out);
int store_finger_delete(struct store *st, MDB_txn *txn, const char *curp,
    unsigned position);

/* Calls fn for each finger of one subject, in position order; a non-zero
 * return from fn stops the walk and is returned. */
int store_finger_each(struct store *st, MDB_txn *txn, const char *curp,
    int (*fn)(void *arg, const struct store_finger *finger), void *arg);

/* Whole-database scan for 1:N search. */
int store_finger_cursor(struct store *st, MDB_txn *txn, MDB_cursor **cur);
/* Pre-filter scan: the signature blocks (sigblocks.h: sigblock_lane_key(),
 * sigblock_decode()). */
int store_sigblock_cursor(struct store *st, MDB_txn *txn, MDB_cursor **cur);
/* The finger under a raw fingers/signatures key (from a cursor). */
int store_finger_get_key(struct store *st, MDB_txn *txn, const MDB_val *key,
    char curp_out[STORE_CURP_MAX], struct store_finger *out);
/* Splits a fingers entry; curp is NUL-terminated into curp_out.  0 or -1
 * for a record that is not well-formed (skipped by the scan). */
int store_finger_decode(const MDB_val *key, const MDB_val *val,
    char curp_out[STORE_CURP_MAX], struct store_finger *out);

uint64_t store_count_subjects(struct store *st, MDB_txn *txn);
uint64_t store_count_fingers(struct store *st, MDB_txn *txn);
/* Fingers that have a signature in a block. */
uint64_t store_count_signatures(struct store *st, MDB_txn *txn);

/* Compacting hot copy into directory dir (created if missing; must not
 * already hold a data.mdb).  0 or -1 + err. */
int store_backup(struct store *st, const char *dir, char *err,
    size_t errlen);

#endif /* HUELLA_STORE_H */
