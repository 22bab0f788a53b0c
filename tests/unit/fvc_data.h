/*
 * fvc_data.h -- the real FVC templates of $HUELLA_SHARED/data for a unit
 * test: where they are, and one read, parsed and encoded into the stored
 * form the matcher compares.  Used by test_prefilter.c, test_search.c and
 * test_align.c.
 * Header-only on purpose: each test program is a single translation unit.
 */

#ifndef HUELLA_FVC_DATA_H
#define HUELLA_FVC_DATA_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "match.h"

#define FVC_FILE_MAX  65536

struct stored {
    uint8_t  *bytes;
    long      len;
};

static const char *
shared_dir(void)
{
    const char  *dir = getenv("HUELLA_SHARED");

    return dir != NULL && dir[0] != '\0' ? dir : "../shared";
}

/* The ISO record at path in stored form (malloc'ed); 0, or -1 when it is
 * missing or does not parse. */
static int
load_path(const char *path, struct stored *st)
{
    struct hm_fingerprint  fp;
    char                   err[256];
    static uint8_t         buf[FVC_FILE_MAX];
    FILE                  *f = fopen(path, "rb");
    size_t                 n;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (hm_parse(1, buf, n, &fp, err, sizeof(err)) != 0) {
        return -1;
    }
    st->bytes = malloc(HM_STORED_MAX);
    ck_assert_ptr_nonnull(st->bytes);
    st->len = hm_encode(&fp, st->bytes, HM_STORED_MAX, err, sizeof(err));
    return st->len > 0 ? 0 : -1;
}

#define FVC_SETS  4

/* The sets of $HUELLA_SHARED/data, numbered as the tests number them. */
static inline const char *
fvc_set(int set)
{
    static const char *const  names[FVC_SETS] = { "fvc2002/DB1_B",
        "fvc2002/DB2_B", "fvc2004/DB1_B", "fvc2004/DB2_B" };

    return names[set];
}

/* Impression imp of finger (101..110) of a set, in stored form. */
static inline void
fvc_load(int set, int finger, int imp, struct stored *st)
{
    char  path[1024];

    snprintf(path, sizeof(path), "%s/data/%s/%d_%d.iso", shared_dir(),
        fvc_set(set), finger, imp);
    ck_assert_msg(load_path(path, st) == 0, "cannot load %s "
        "(set HUELLA_SHARED)", path);
}

#endif /* HUELLA_FVC_DATA_H */
