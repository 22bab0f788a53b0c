/*
 * ctl_compare.c -- `huellactl compare PROBE CANDIDATE...`, offline.
 *
 * Owns: reading template files, parsing them (ISO 19794-2 by default,
 * `--format ansi378` for ANSI 378), and printing one similarity score per
 * candidate, in the order given, one per line.  Works without a daemon:
 * this is the contract outside accuracy checks rely on.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "match.h"

#define TEMPLATE_FILE_MAX  (1024 * 1024)

static int
read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE     *f = fopen(path, "rb");
    uint8_t  *buf;
    size_t    n;

    if (f == NULL) {
        fprintf(stderr, "huellactl compare: %s: %s\n", path, strerror(errno));
        return -1;
    }
    buf = malloc(TEMPLATE_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        fprintf(stderr, "huellactl compare: out of memory\n");
        return -1;
    }
    errno = 0;
    n = fread(buf, 1, TEMPLATE_FILE_MAX + 1, f);
    if (ferror(f) || n > TEMPLATE_FILE_MAX) {
        /* errno names the cause, e.g. EISDIR for a directory */
        fprintf(stderr, "huellactl compare: %s: %s\n", path,
            !ferror(f) ? "larger than 1 MiB"
            : errno ? strerror(errno) : "read error");
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    *data = buf;
    *len = n;
    return 0;
}

/*
 * Parse and encode one file into stored (HM_STORED_MAX bytes): its length,
 * -1 when the file cannot be read or is not a valid record, 0 when it is a
 * valid record the matcher cannot use (fewer than 3 minutiae, e.g. an
 * extractor's empty template).  The latter is a fingerprint that matches
 * nothing, so it scores 0 rather than stopping the run: an accuracy check
 * from outside needs a score for every pair of its set.
 */
static long
load_template(const char *path, int format, uint8_t *stored)
{
    struct hm_fingerprint  fp;
    char                   err[256];
    uint8_t               *data;
    size_t                 len;
    long                   stored_len;

    if (read_file(path, &data, &len) != 0) {
        return -1;
    }
    if (hm_parse(format, data, len, &fp, err, sizeof(err)) != 0) {
        fprintf(stderr, "huellactl compare: %s: %s\n", path, err);
        free(data);
        return -1;
    }
    free(data);
    stored_len = hm_encode(&fp, stored, HM_STORED_MAX, err, sizeof(err));
    if (stored_len <= 0) {
        fprintf(stderr, "huellactl compare: %s: %s; it matches nothing "
            "(score 0)\n", path, err);
        return 0;
    }
    return stored_len;
}

/* 1 ISO 19794-2, 2 ANSI 378, 0 unknown */
static int
format_by_name(const char *name)
{
    static const char *const  iso[] = { "iso", "iso19794-2",
                                        "iso19794-2:2005" };
    static const char *const  ansi[] = { "ansi", "ansi378",
                                         "ansi378-2004" };
    size_t                    k;

    for (k = 0; k < sizeof(iso) / sizeof(iso[0]); k++) {
        if (strcmp(name, iso[k]) == 0) {
            return 1;
        }
        if (strcmp(name, ansi[k]) == 0) {
            return 2;
        }
    }
    return 0;
}

int
ctl_compare(int argc, char **argv)
{
    struct hm_probe    *probe;
    struct hm_scratch  *scratch;
    uint8_t            *stored;
    long                len;
    int                 format = 1, i = 1, status = 0;

    if (i < argc && (strcmp(argv[i], "--format") == 0
                     || strncmp(argv[i], "--format=", 9) == 0))
    {
        const char  *name = argv[i][8] == '=' ? argv[i] + 9 : argv[i + 1];

        if (argv[i][8] != '=' && i + 1 >= argc) {
            fprintf(stderr, "huellactl compare: --format needs iso19794-2 "
                "or ansi378\n");
            return 2;
        }
        /* The names the API uses, and their short forms; anything else
         * is a mistake, not ISO. */
        format = format_by_name(name);
        if (format == 0) {
            fprintf(stderr, "huellactl compare: unknown format '%s' (use "
                "iso19794-2 or ansi378)\n", name);
            return 2;
        }
        i += argv[i][8] == '=' ? 1 : 2;
    }
    if (argc - i < 2) {
        fprintf(stderr, "usage: huellactl compare [--format ansi378] PROBE "
            "CANDIDATE...\n");
        return 2;
    }
    stored = malloc(HM_STORED_MAX);
    scratch = hm_scratch_new();
    if (stored == NULL || scratch == NULL) {
        fprintf(stderr, "huellactl compare: out of memory\n");
        free(stored);
        hm_scratch_free(scratch);
        return 1;
    }
    len = load_template(argv[i], format, stored);
    probe = len <= 0 ? NULL : hm_probe_new(stored, (size_t) len);
    if (len < 0 || (len > 0 && probe == NULL)) {
        if (len > 0) {
            fprintf(stderr, "huellactl compare: %s: out of memory\n",
                argv[i]);
        }
        status = 1;
    }
    /* A bad candidate stops the run with exit 1: the scores printed so
     * far are for the candidates before it, in order.  A probe or a
     * candidate the matcher cannot use (len 0) scores 0. */
    for (i++; status == 0 && i < argc; i++) {
        len = load_template(argv[i], format, stored);
        if (len < 0) {
            status = 1;
            break;
        }
        printf("%.6f\n", probe == NULL || len == 0 ? 0.0
            : hm_compare(probe, stored, (size_t) len, scratch));
    }
    hm_probe_free(probe);
    hm_scratch_free(scratch);
    free(stored);
    return status;
}
