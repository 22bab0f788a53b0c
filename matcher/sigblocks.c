/*
 * sigblocks.c -- blocks of pre-filter signatures in LMDB (sigblocks.h).
 *
 * Why blocks: a search used to walk one LMDB entry per finger (a cursor
 * step, a key hash and a 512-byte value per entry: ~150 ms per worker at
 * 1M fingers, every worker walking all of them).  A block holds
 * SIGBLOCK_SLOTS signatures back to back in one value (an overflow page
 * run, contiguous in the map), so a worker steps a cursor once per block
 * and scores the signatures where they lie.
 *
 * Writes rewrite a whole block (71,728 bytes): a put copies the block out,
 * changes one slot and puts it back.  Inside one write transaction the
 * block's pages are already private after the first put, so a batch of
 * imports that fills a lane's last block costs one page copy per batch,
 * not per finger.
 */

#include "sigblocks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prefilter.h"

#define BLOCK_MAGIC      0x31425348u    /* "HSB1" */
#define BLOCK_HEAD       48u            /* with LMDB's 16-byte page header
                                         * the signatures start 64-byte
                                         * aligned in an overflow page */
#define BLOCK_SIGS_OFF   BLOCK_HEAD
#define BLOCK_KEYS_OFF   (BLOCK_SIGS_OFF + SIGBLOCK_SLOTS * HM_SIG_BYTES)
#define BLOCK_BYTES      (BLOCK_KEYS_OFF + SIGBLOCK_SLOTS * SIGBLOCK_KEY_MAX)

struct block_head {
    uint32_t  magic;
    uint32_t  used;
    uint32_t  lane;
    uint32_t  number;
    uint8_t   reserved[BLOCK_HEAD - 16];
};

struct slot_ref {
    uint32_t  number;
    uint32_t  slot;
};

unsigned
sigblock_lane(const void *curp, size_t len)
{
    const uint8_t  *s = curp;
    uint32_t        h = 2166136261u;

    while (len--) {
        h = (h ^ *s++) * 16777619u;
    }
    return h % SIGBLOCK_LANES;
}

void
sigblock_lane_key(unsigned lane, uint8_t key[SIGBLOCK_KEY_BYTES])
{
    memset(key, 0, SIGBLOCK_KEY_BYTES);
    key[0] = (uint8_t) lane;
}

static void
block_key(unsigned lane, uint32_t number, uint8_t key[SIGBLOCK_KEY_BYTES])
{
    key[0] = (uint8_t) lane;
    key[1] = (uint8_t) (number >> 24);
    key[2] = (uint8_t) (number >> 16);
    key[3] = (uint8_t) (number >> 8);
    key[4] = (uint8_t) number;
}

int
sigblock_decode(const MDB_val *key, const MDB_val *val,
    struct sigblock_view *out)
{
    struct block_head  h;
    const uint8_t     *k = key->mv_data;

    if (key->mv_size != SIGBLOCK_KEY_BYTES || val->mv_size != BLOCK_BYTES) {
        return -1;
    }
    memcpy(&h, val->mv_data, sizeof(h));
    if (h.magic != BLOCK_MAGIC || h.used > SIGBLOCK_SLOTS
        || h.lane != k[0] || h.lane >= SIGBLOCK_LANES)
    {
        return -1;
    }
    out->lane = h.lane;
    out->number = h.number;
    out->used = h.used;
    out->sigs = (const uint8_t *) val->mv_data + BLOCK_SIGS_OFF;
    out->keys = (const uint8_t *) val->mv_data + BLOCK_KEYS_OFF;
    return 0;
}

MDB_val
sigblock_slot_key(const struct sigblock_view *b, unsigned i)
{
    const uint8_t  *k = b->keys + (size_t) i * SIGBLOCK_KEY_MAX;
    MDB_val         v;

    v.mv_size = k[0] < SIGBLOCK_KEY_MAX ? k[0] : 0;
    v.mv_data = (void *) (k + 1);
    return v;
}

/* The CURP part of a fingers key (CURP \0 position). */
static size_t
fkey_curp_len(const MDB_val *fkey)
{
    return fkey->mv_size >= 2 ? fkey->mv_size - 2 : 0;
}

/* A lane's last block: *number and a private copy in buf; MDB_NOTFOUND
 * when the lane has none. */
static int
lane_tail(MDB_txn *txn, const struct sigblock_dbs *dbs, unsigned lane,
    uint32_t *number, uint8_t *buf)
{
    uint8_t      kb[SIGBLOCK_KEY_BYTES];
    MDB_cursor  *cur;
    MDB_val      k, v;
    int          rc;

    rc = mdb_cursor_open(txn, dbs->blocks, &cur);
    if (rc != 0) {
        return rc;
    }
    /* The first key past the lane, then one step back. */
    block_key(lane + 1, 0, kb);
    k.mv_data = kb;
    k.mv_size = sizeof(kb);
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    } else if (rc == MDB_NOTFOUND) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    }
    if (rc == 0) {
        struct sigblock_view  b;

        if (((const uint8_t *) k.mv_data)[0] != lane) {
            rc = MDB_NOTFOUND;
        } else if (sigblock_decode(&k, &v, &b) != 0) {
            rc = MDB_CORRUPTED;
        } else {
            *number = b.number;
            memcpy(buf, v.mv_data, BLOCK_BYTES);
        }
    }
    mdb_cursor_close(cur);
    return rc;
}

static int
block_get(MDB_txn *txn, const struct sigblock_dbs *dbs, unsigned lane,
    uint32_t number, uint8_t *buf)
{
    uint8_t               kb[SIGBLOCK_KEY_BYTES];
    struct sigblock_view  b;
    MDB_val               k = { sizeof(kb), kb }, v;
    int                   rc;

    block_key(lane, number, kb);
    rc = mdb_get(txn, dbs->blocks, &k, &v);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    }
    if (sigblock_decode(&k, &v, &b) != 0) {
        return MDB_CORRUPTED;
    }
    memcpy(buf, v.mv_data, BLOCK_BYTES);
    return 0;
}

static int
block_write(MDB_txn *txn, const struct sigblock_dbs *dbs, const uint8_t *buf)
{
    struct block_head  h;
    uint8_t            kb[SIGBLOCK_KEY_BYTES];
    MDB_val            k = { sizeof(kb), kb }, v = { BLOCK_BYTES, NULL };
    int                rc;

    memcpy(&h, buf, sizeof(h));
    block_key(h.lane, h.number, kb);
    if (h.used == 0) {
        rc = mdb_del(txn, dbs->blocks, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    rc = mdb_put(txn, dbs->blocks, &k, &v, MDB_RESERVE);
    if (rc == 0) {
        memcpy(v.mv_data, buf, BLOCK_BYTES);
    }
    return rc;
}

static void
block_init(uint8_t *buf, unsigned lane, uint32_t number)
{
    struct block_head  h;

    memset(buf, 0, BLOCK_BYTES);
    memset(&h, 0, sizeof(h));
    h.magic = BLOCK_MAGIC;
    h.lane = lane;
    h.number = number;
    memcpy(buf, &h, sizeof(h));
}

static uint32_t
block_used(const uint8_t *buf)
{
    struct block_head  h;

    memcpy(&h, buf, sizeof(h));
    return h.used;
}

static void
block_set_used(uint8_t *buf, uint32_t used)
{
    struct block_head  h;

    memcpy(&h, buf, sizeof(h));
    h.used = used;
    memcpy(buf, &h, sizeof(h));
}

static void
slot_fill(uint8_t *buf, unsigned slot, const MDB_val *fkey, const uint8_t *sig)
{
    uint8_t  *k = buf + BLOCK_KEYS_OFF + (size_t) slot * SIGBLOCK_KEY_MAX;

    memcpy(buf + BLOCK_SIGS_OFF + (size_t) slot * HM_SIG_BYTES, sig,
        HM_SIG_BYTES);
    memset(k, 0, SIGBLOCK_KEY_MAX);
    k[0] = (uint8_t) fkey->mv_size;
    memcpy(k + 1, fkey->mv_data, fkey->mv_size);
}

static void
slot_clear(uint8_t *buf, unsigned slot)
{
    memset(buf + BLOCK_SIGS_OFF + (size_t) slot * HM_SIG_BYTES, 0,
        HM_SIG_BYTES);
    memset(buf + BLOCK_KEYS_OFF + (size_t) slot * SIGBLOCK_KEY_MAX, 0,
        SIGBLOCK_KEY_MAX);
}

static int
slot_ref_put(MDB_txn *txn, const struct sigblock_dbs *dbs, const MDB_val *fkey,
    uint32_t number, uint32_t slot, unsigned flags)
{
    struct slot_ref  r = { number, slot };
    MDB_val          k = *fkey, v = { sizeof(r), &r };

    return mdb_put(txn, dbs->slots, &k, &v, flags);
}

static int
slot_ref_get(MDB_txn *txn, const struct sigblock_dbs *dbs, const MDB_val *fkey,
    struct slot_ref *out)
{
    MDB_val  k = *fkey, v;
    int      rc = mdb_get(txn, dbs->slots, &k, &v);

    if (rc == 0) {
        if (v.mv_size != sizeof(*out)) {
            return MDB_CORRUPTED;
        }
        memcpy(out, v.mv_data, sizeof(*out));
        if (out->slot >= SIGBLOCK_SLOTS) {
            return MDB_CORRUPTED;
        }
    }
    return rc;
}

static int
fkey_ok(const MDB_val *fkey)
{
    size_t  n = fkey_curp_len(fkey);

    return n > 0 && fkey->mv_size < SIGBLOCK_KEY_MAX
        && ((const uint8_t *) fkey->mv_data)[n] == 0;
}

int
sigblock_put(MDB_txn *txn, const struct sigblock_dbs *dbs,
    const MDB_val *fkey, const uint8_t *sig)
{
    struct slot_ref  ref;
    uint8_t         *buf;
    uint32_t         number, used;
    unsigned         lane;
    int              rc;

    if (!fkey_ok(fkey)) {
        return MDB_BAD_VALSIZE;
    }
    buf = malloc(BLOCK_BYTES);
    if (buf == NULL) {
        return ENOMEM;
    }
    lane = sigblock_lane(fkey->mv_data, fkey_curp_len(fkey));
    rc = slot_ref_get(txn, dbs, fkey, &ref);
    if (rc == 0) {
        /* Replaced template: same slot, new signature. */
        rc = block_get(txn, dbs, lane, ref.number, buf);
        if (rc == 0) {
            slot_fill(buf, ref.slot, fkey, sig);
            rc = block_write(txn, dbs, buf);
        }
        free(buf);
        return rc;
    }
    if (rc != MDB_NOTFOUND) {
        free(buf);
        return rc;
    }
    rc = lane_tail(txn, dbs, lane, &number, buf);
    if (rc == MDB_NOTFOUND) {
        block_init(buf, lane, 0);
        number = 0;
        rc = 0;
    } else if (rc == 0 && block_used(buf) == SIGBLOCK_SLOTS) {
        number++;
        block_init(buf, lane, number);
    }
    if (rc == 0) {
        used = block_used(buf);
        slot_fill(buf, used, fkey, sig);
        block_set_used(buf, used + 1);
        rc = block_write(txn, dbs, buf);
        if (rc == 0) {
            rc = slot_ref_put(txn, dbs, fkey, number, used, 0);
        }
    }
    free(buf);
    return rc;
}

int
sigblock_del(MDB_txn *txn, const struct sigblock_dbs *dbs,
    const MDB_val *fkey)
{
    struct slot_ref  ref;
    uint8_t         *hole, *tail;
    uint32_t         tail_number, last;
    unsigned         lane;
    MDB_val          moved, k;
    int              rc;

    if (!fkey_ok(fkey)) {
        return 0;       /* never stored */
    }
    rc = slot_ref_get(txn, dbs, fkey, &ref);
    if (rc != 0) {
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    lane = sigblock_lane(fkey->mv_data, fkey_curp_len(fkey));
    hole = malloc(2 * (size_t) BLOCK_BYTES);
    if (hole == NULL) {
        return ENOMEM;
    }
    tail = hole + BLOCK_BYTES;
    rc = lane_tail(txn, dbs, lane, &tail_number, tail);
    if (rc == MDB_NOTFOUND) {
        rc = MDB_CORRUPTED;         /* a slot ref into an empty lane */
    }
    if (rc != 0) {
        free(hole);
        return rc;
    }
    last = block_used(tail) - 1;
    if (ref.number == tail_number) {
        /* The hole is in the last block: fill it from that block's end. */
        if (ref.slot != last) {
            struct sigblock_view  b;

            b.keys = tail + BLOCK_KEYS_OFF;
            moved = sigblock_slot_key(&b, last);
            slot_fill(tail, ref.slot, &moved, tail + BLOCK_SIGS_OFF
                + (size_t) last * HM_SIG_BYTES);
            rc = slot_ref_put(txn, dbs, &moved, tail_number, ref.slot, 0);
        }
    } else {
        rc = block_get(txn, dbs, lane, ref.number, hole);
        if (rc == 0) {
            struct sigblock_view  b;

            b.keys = tail + BLOCK_KEYS_OFF;
            moved = sigblock_slot_key(&b, last);
            slot_fill(hole, ref.slot, &moved, tail + BLOCK_SIGS_OFF
                + (size_t) last * HM_SIG_BYTES);
            rc = block_write(txn, dbs, hole);
            if (rc == 0) {
                rc = slot_ref_put(txn, dbs, &moved, ref.number, ref.slot, 0);
            }
        }
    }
    if (rc == 0) {
        slot_clear(tail, last);
        block_set_used(tail, last);
        rc = block_write(txn, dbs, tail);
    }
    if (rc == 0) {
        k = *fkey;
        rc = mdb_del(txn, dbs->slots, &k, NULL);
    }
    free(hole);
    return rc;
}

int
sigblock_rebuild(MDB_txn *txn, const struct sigblock_dbs *dbs,
    int (*next)(void *arg, MDB_val *fkey, uint8_t *sig), void *arg)
{
    uint8_t   *lanes, *buf, sig[HM_SIG_BYTES];
    uint32_t   number[SIGBLOCK_LANES] = { 0 }, used;
    unsigned   lane, flags = MDB_APPEND;
    MDB_val    fkey;
    int        rc;

    if ((rc = mdb_drop(txn, dbs->blocks, 0)) != 0
        || (rc = mdb_drop(txn, dbs->slots, 0)) != 0)
    {
        return rc;
    }
    lanes = malloc((size_t) SIGBLOCK_LANES * BLOCK_BYTES);
    if (lanes == NULL) {
        return ENOMEM;
    }
    for (lane = 0; lane < SIGBLOCK_LANES; lane++) {
        block_init(lanes + (size_t) lane * BLOCK_BYTES, lane, 0);
    }
    while ((rc = next(arg, &fkey, sig)) == 0 || rc == 1) {
        if (rc == 1 || !fkey_ok(&fkey)) {
            continue;
        }
        lane = sigblock_lane(fkey.mv_data, fkey_curp_len(&fkey));
        buf = lanes + (size_t) lane * BLOCK_BYTES;
        used = block_used(buf);
        slot_fill(buf, used, &fkey, sig);
        block_set_used(buf, used + 1);
        /* Keys come in order from the fingers walk: append while that
         * holds, plain puts otherwise. */
        rc = slot_ref_put(txn, dbs, &fkey, number[lane], used, flags);
        if (rc == MDB_KEYEXIST && flags == MDB_APPEND) {
            flags = 0;
            rc = slot_ref_put(txn, dbs, &fkey, number[lane], used, 0);
        }
        if (rc == 0 && used + 1 == SIGBLOCK_SLOTS) {
            rc = block_write(txn, dbs, buf);
            block_init(buf, lane, ++number[lane]);
        }
        if (rc != 0) {
            break;
        }
    }
    if (rc == MDB_NOTFOUND) {
        rc = 0;
        for (lane = 0; rc == 0 && lane < SIGBLOCK_LANES; lane++) {
            rc = block_write(txn, dbs, lanes + (size_t) lane * BLOCK_BYTES);
        }
    }
    free(lanes);
    return rc;
}
