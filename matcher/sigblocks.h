/*
 * sigblocks.h -- the pre-filter signatures laid out for scanning: blocks of
 * SIGBLOCK_SLOTS signatures per LMDB value, read in place from the map.
 *
 * Owns: the block and slot-map layouts and their maintenance (put, delete,
 * rebuild), always inside the caller's write transaction so a block never
 * disagrees with the fingers it was written with.  store.c decides when
 * (with every finger put/delete, and at open); search.c reads.
 *
 * Databases (handles opened by store.c):
 *   sigblocks  lane (u8) + block number (u32 big-endian) -> one block:
 *              a header, SIGBLOCK_SLOTS signatures (HM_SIG_BYTES each,
 *              contiguous: one hm_sigquery_score() stride), then the
 *              fingers key (CURP \0 position) of every slot.  Slots
 *              0..used-1 are filled; deletes move a lane's last slot into
 *              the hole, so every block but a lane's last is full.
 *   sigslots   fingers key -> block number (u32) + slot (u32): where the
 *              finger's signature is (its lane follows from the CURP).
 *
 * A finger's lane is a hash of its CURP modulo SIGBLOCK_LANES, so all the
 * fingers of a subject share a lane; searches give each worker whole lanes
 * (lane % workers), which keeps a subject in one worker.
 */

#ifndef HUELLA_SIGBLOCKS_H
#define HUELLA_SIGBLOCKS_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define SIGBLOCK_LANES     64u
#define SIGBLOCK_SLOTS     128u
#define SIGBLOCK_KEY_MAX   48u      /* length byte + CURP \0 position */
#define SIGBLOCK_KEY_BYTES 5u       /* lane + big-endian block number */

struct sigblock_dbs {
    MDB_dbi  blocks;
    MDB_dbi  slots;
};

/* One block as read from the map (pointers valid while the transaction
 * lasts). */
struct sigblock_view {
    unsigned        lane;
    uint32_t        number;
    unsigned        used;
    const uint8_t  *sigs;           /* used x HM_SIG_BYTES */
    const uint8_t  *keys;           /* SIGBLOCK_KEY_MAX per slot */
};

/* The lane of a CURP (the first len bytes of curp). */
unsigned sigblock_lane(const void *curp, size_t len);

/* The database key of a lane's first block: a cursor positioned there with
 * MDB_SET_RANGE walks the lane's blocks while the key's first byte is the
 * lane. */
void sigblock_lane_key(unsigned lane, uint8_t key[SIGBLOCK_KEY_BYTES]);

/* Splits a sigblocks entry; 0, or -1 for an entry that is not a block
 * (skipped by scans). */
int sigblock_decode(const MDB_val *key, const MDB_val *val,
    struct sigblock_view *out);

/* The fingers key of slot i of a decoded block. */
MDB_val sigblock_slot_key(const struct sigblock_view *b, unsigned i);

/* Stores sig (HM_SIG_BYTES) for the finger under fkey (CURP \0 position),
 * replacing its previous signature if any.  0 or an LMDB error. */
int sigblock_put(MDB_txn *txn, const struct sigblock_dbs *dbs,
    const MDB_val *fkey, const uint8_t *sig);

/* Removes the finger's signature; 0 also when it had none. */
int sigblock_del(MDB_txn *txn, const struct sigblock_dbs *dbs,
    const MDB_val *fkey);

/* Empties both databases and refills them from a walk over the fingers in
 * key order: next(arg, &fkey, sig) returns 0 with the next finger's key and
 * signature (1 to leave that finger out), MDB_NOTFOUND at the end or an
 * error.  Builds each lane's blocks in memory, then writes them once. */
int sigblock_rebuild(MDB_txn *txn, const struct sigblock_dbs *dbs,
    int (*next)(void *arg, MDB_val *fkey, uint8_t *sig), void *arg);

#endif /* HUELLA_SIGBLOCKS_H */
