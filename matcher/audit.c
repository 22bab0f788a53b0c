/*
 * audit.c -- encoding, decoding and verifying the audit hash chain.
 *
 * Owns the entry layout described in audit.h and the walk that tells
 * where a stored chain stops being trustworthy.  No storage, no clock,
 * no globals: the daemon supplies sequence numbers, times and the entries.
 */

#include "audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#define MAGIC      "HAU1"
#define MAGIC_LEN  4
#define FIXED_LEN  (MAGIC_LEN + 8 + 8 + AUDIT_HASH_LEN + 2 + 1 + 2 + 4 \
                    + AUDIT_HASH_LEN)

static const char *const verdict_codes[] = {
    [AUDIT_CHAIN_OK] = "ok",
    [AUDIT_ENTRY_MALFORMED] = "entry_malformed",
    [AUDIT_ENTRY_ALTERED] = "entry_altered",
    [AUDIT_ENTRY_REMOVED] = "entry_removed",
    [AUDIT_ENTRY_OUT_OF_ORDER] = "entry_out_of_order",
    [AUDIT_READ_ERROR] = "read_error",
};

const char *
audit_verdict_code(enum audit_verdict v)
{
    if ((size_t) v >= sizeof(verdict_codes) / sizeof(verdict_codes[0])) {
        return "unknown";
    }
    return verdict_codes[v];
}

void
audit_hash_hex(const uint8_t hash[AUDIT_HASH_LEN], char out[65])
{
    static const char  hex[] = "0123456789abcdef";
    int                i;

    for (i = 0; i < AUDIT_HASH_LEN; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 0xf];
    }
    out[64] = '\0';
}

static void
say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
}

/* Well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF);
 * with `no_controls`, no C0, DEL or C1 either: these fields end up in
 * terminals and log viewers. */
static int
text_ok(const char *s, size_t n, int no_controls)
{
    const unsigned char  *p = (const unsigned char *) s;
    size_t                i = 0, k, need;
    uint32_t              c, min;

    while (i < n) {
        c = p[i];
        if (c < 0x80) {
            if (no_controls && (c < 0x20 || c == 0x7f)) return 0;
            if (c == 0) return 0;
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) { need = 1; c &= 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { need = 2; c &= 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { need = 3; c &= 0x07; min = 0x10000; }
        else return 0;
        for (k = 1; k <= need; k++) {
            if (i + k >= n || (p[i + k] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        if (no_controls && c >= 0x80 && c <= 0x9F) return 0;
        i += need + 1;
    }
    return 1;
}

static int
action_ok(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'
              || c == '.'))
        {
            return 0;
        }
    }
    return n > 0;
}

static const char *
record_problem(const struct audit_record *r)
{
    size_t  al, cl, tl, dl;

    if (r == NULL) return "no record";
    if (r->seq == 0) return "seq starts at 1";
    if (r->actor == NULL || r->action == NULL)
        return "actor and action are required";
    al = strlen(r->actor);
    cl = strlen(r->action);
    tl = r->target != NULL ? strlen(r->target) : 0;
    dl = r->detail != NULL ? strlen(r->detail) : 0;
    if (al == 0 || al > AUDIT_ACTOR_MAX) return "actor must be 1 to 255 bytes";
    if (!text_ok(r->actor, al, 1)) return "actor is not printable UTF-8";
    if (cl > AUDIT_ACTION_MAX || !action_ok(r->action, cl))
        return "action must be 1 to 64 of [a-z0-9_.]";
    if (tl > AUDIT_TARGET_MAX) return "target is longer than 1024 bytes";
    if (!text_ok(r->target, tl, 1)) return "target is not printable UTF-8";
    if (dl > AUDIT_DETAIL_MAX) return "detail is longer than 64 KiB";
    if (!text_ok(r->detail, dl, 0)) return "detail is not UTF-8";
    return NULL;
}

size_t
audit_entry_size(const struct audit_record *r)
{
    if (record_problem(r) != NULL) {
        return 0;
    }
    return FIXED_LEN + strlen(r->actor) + strlen(r->action)
           + (r->target ? strlen(r->target) : 0)
           + (r->detail ? strlen(r->detail) : 0);
}

static uint8_t *
put_be(uint8_t *p, uint64_t v, int bytes)
{
    int  i;

    for (i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t) (v & 0xff);
        v >>= 8;
    }
    return p + bytes;
}

static uint64_t
get_be(const uint8_t *p, int bytes)
{
    uint64_t  v = 0;
    int       i;

    for (i = 0; i < bytes; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint8_t *
put_field(uint8_t *p, const char *s, int len_bytes)
{
    size_t  n = s != NULL ? strlen(s) : 0;

    p = put_be(p, n, len_bytes);
    if (n > 0) {
        memcpy(p, s, n);
    }
    return p + n;
}

long
audit_entry_encode(const struct audit_record *r,
                   const uint8_t prev_hash[AUDIT_HASH_LEN], uint8_t *buf,
                   size_t cap, uint8_t hash[AUDIT_HASH_LEN], char *err,
                   size_t errlen)
{
    const char  *why = record_problem(r);
    size_t       need;
    uint8_t     *p = buf;

    if (why != NULL) {
        say(err, errlen, "audit entry: %s", why);
        return -1;
    }
    need = audit_entry_size(r);
    if (need > cap) {
        say(err, errlen, "audit entry: needs %zu bytes, buffer has %zu",
            need, cap);
        return -1;
    }
    memcpy(p, MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    p = put_be(p, r->seq, 8);
    p = put_be(p, (uint64_t) r->time_ms, 8);
    memcpy(p, prev_hash, AUDIT_HASH_LEN);
    p += AUDIT_HASH_LEN;
    p = put_field(p, r->actor, 2);
    p = put_field(p, r->action, 1);
    p = put_field(p, r->target, 2);
    p = put_field(p, r->detail, 4);
    SHA256(buf, (size_t) (p - buf), hash);
    memcpy(p, hash, AUDIT_HASH_LEN);
    p += AUDIT_HASH_LEN;
    return (long) (p - buf);
}

static int
take(const uint8_t **p, const uint8_t *end, int len_bytes, size_t max,
     const char **s, size_t *n)
{
    if (end - *p < len_bytes) {
        return -1;
    }
    *n = (size_t) get_be(*p, len_bytes);
    *p += len_bytes;
    if (*n > max || (size_t) (end - *p) < *n) {
        return -1;
    }
    *s = (const char *) *p;
    *p += *n;
    return 0;
}

int
audit_entry_decode(const uint8_t *buf, size_t len, struct audit_view *v,
                   char *err, size_t errlen)
{
    const uint8_t  *p = buf, *end;

    memset(v, 0, sizeof(*v));
    if (buf == NULL || len < FIXED_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
        say(err, errlen, "not an audit entry (bad size or magic)");
        return -1;
    }
    end = buf + len;      /* only now: NULL + len is undefined */
    p += MAGIC_LEN;
    v->seq = get_be(p, 8);
    v->time_ms = (int64_t) get_be(p + 8, 8);
    memcpy(v->prev_hash, p + 16, AUDIT_HASH_LEN);
    p += 16 + AUDIT_HASH_LEN;
    if (take(&p, end, 2, AUDIT_ACTOR_MAX, &v->actor, &v->actor_len) != 0
        || take(&p, end, 1, AUDIT_ACTION_MAX, &v->action, &v->action_len)
           != 0
        || take(&p, end, 2, AUDIT_TARGET_MAX, &v->target, &v->target_len)
           != 0
        || take(&p, end, 4, AUDIT_DETAIL_MAX, &v->detail, &v->detail_len)
           != 0)
    {
        say(err, errlen, "a field length runs past the entry");
        return -1;
    }
    if (end - p != AUDIT_HASH_LEN) {
        say(err, errlen, "entry is %zu bytes longer or shorter than its "
            "fields", (size_t) ((end - p) > AUDIT_HASH_LEN
                                ? (end - p) - AUDIT_HASH_LEN
                                : AUDIT_HASH_LEN - (end - p)));
        return -1;
    }
    memcpy(v->hash, p, AUDIT_HASH_LEN);
    if (v->seq == 0 || v->actor_len == 0
        || !text_ok(v->actor, v->actor_len, 1)
        || !action_ok(v->action, v->action_len)
        || !text_ok(v->target, v->target_len, 1)
        || !text_ok(v->detail, v->detail_len, 0))
    {
        say(err, errlen, "a field holds a value no writer produces");
        return -1;
    }
    return 0;
}

static int
report(struct audit_report *out, enum audit_verdict verdict, uint64_t seq,
       const char *fmt, ...)
{
    va_list  ap;

    out->verdict = verdict;
    out->first_bad_seq = seq;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    return verdict == AUDIT_CHAIN_OK ? 0 : -1;
}

int
audit_chain_verify(audit_next_fn next, void *ctx,
                   const struct audit_anchor *anchor,
                   struct audit_report *out)
{
    static const uint8_t  zero[AUDIT_HASH_LEN];
    const uint8_t        *e;
    size_t                n;
    struct audit_view     v;
    uint8_t               h[AUDIT_HASH_LEN];
    uint64_t              want = 1;
    char                  why[128];
    int                   rc;

    memset(out, 0, sizeof(*out));
    for (;;) {
        rc = next(ctx, &e, &n);
        if (rc < 0) {
            return report(out, AUDIT_READ_ERROR, want,
                          "could not read the entry after seq %llu",
                          (unsigned long long) (want - 1));
        }
        if (rc == 0) {
            break;
        }
        if (audit_entry_decode(e, n, &v, why, sizeof(why)) != 0) {
            return report(out, AUDIT_ENTRY_MALFORMED, want,
                          "entry %llu is unreadable: %s",
                          (unsigned long long) want, why);
        }
        SHA256(e, n - AUDIT_HASH_LEN, h);
        if (memcmp(h, v.hash, AUDIT_HASH_LEN) != 0) {
            return report(out, AUDIT_ENTRY_ALTERED, want,
                          "entry %llu was altered: its content no longer "
                          "matches its hash", (unsigned long long) want);
        }
        if (v.seq < want) {
            return report(out, AUDIT_ENTRY_OUT_OF_ORDER, want,
                          "entry %llu comes after entry %llu",
                          (unsigned long long) v.seq,
                          (unsigned long long) (want - 1));
        }
        if (v.seq > want) {
            return report(out, AUDIT_ENTRY_REMOVED, want,
                          v.seq == want + 1
                          ? "entry %llu was removed"
                          : "entries %llu to %llu were removed",
                          (unsigned long long) want,
                          (unsigned long long) (v.seq - 1));
        }
        if (memcmp(v.prev_hash, want == 1 ? zero : out->head_hash,
                   AUDIT_HASH_LEN) != 0)
        {
            /* this entry is intact; what it links to is not what it saw */
            if (want == 1) {
                return report(out, AUDIT_ENTRY_ALTERED, 1,
                              "entry 1 does not start the chain: it was "
                              "replaced");
            }
            return report(out, AUDIT_ENTRY_ALTERED, want - 1,
                          "entry %llu was rewritten: entry %llu recorded "
                          "another hash for it",
                          (unsigned long long) (want - 1),
                          (unsigned long long) want);
        }
        if (anchor != NULL && v.seq == anchor->seq
            && memcmp(v.hash, anchor->hash, AUDIT_HASH_LEN) != 0)
        {
            return report(out, AUDIT_ENTRY_ALTERED, anchor->seq,
                          "the chain up to entry %llu was rewritten: it "
                          "differs from the recorded anchor",
                          (unsigned long long) anchor->seq);
        }
        memcpy(out->head_hash, v.hash, AUDIT_HASH_LEN);
        out->head_seq = v.seq;
        out->entries++;
        want++;
    }
    if (anchor != NULL && anchor->seq > out->head_seq) {
        return report(out, AUDIT_ENTRY_REMOVED, out->head_seq + 1,
                      "entries %llu to %llu were removed from the end "
                      "(the anchor records %llu)",
                      (unsigned long long) (out->head_seq + 1),
                      (unsigned long long) anchor->seq,
                      (unsigned long long) anchor->seq);
    }
    return report(out, AUDIT_CHAIN_OK, 0, "%llu entries, chain intact",
                  (unsigned long long) out->entries);
}
