/*
 * synth.c -- `huellactl synth N OUTDIR`: a synthetic gallery of N ISO
 * 19794-2 templates and their manifest.tsv, for load and speed tests.
 *
 * Owns: deriving new "fingers" from the real templates.  Each output joins
 * three randomly turned real fingers in 120-degree sectors about a common
 * centre (a chimera: its minutiae configuration exists in no source), is
 * mirrored with probability 1/2 (a mirrored print is a valid-looking print
 * of no one: MCC is not mirror invariant), rotated, translated, scaled
 * 0.8-1.2 per axis, bent by a smooth non-linear displacement field, each
 * minutia jittered (6 px, 14 degrees), loses 10-25% of its minutiae and
 * gains 5-15% spurious ones.  Everything is drawn from a PRNG seeded by the
 * output number, so a gallery is reproducible.  How we checked that they
 * behave as different fingers: docs/matcher.md.
 */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl.h"
#include "match.h"
#include "mcc.h"

#define SYNTH_MAX_SOURCES  4096
#define SYNTH_MIN_MINUTIAE 15

struct rng {
    uint64_t  state;
};

static uint32_t
rng_next(struct rng *r)        /* PCG-style LCG with an xorshift output */
{
    uint64_t  x;

    r->state = r->state * 6364136223846793005ULL + 1442695040888963407ULL;
    x = r->state;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t) x;
}

static double
rng_uniform(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * (rng_next(r) / 4294967296.0);
}

static const char curp_alphabet[] = "0123456789ABCDEFGHIJKLMN?OPQRSTUVWXYZ";

/* A CURP with a correct check digit, unique for n < 1,757,600. */
static void
synth_curp(unsigned long n, char out[19])
{
    static const char  letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned long      l = n % 17576, q = n / 17576 % 100;
    unsigned           total = 0, i;

    snprintf(out, 19, "S%c%c%c%02lu%02lu%02lu%cDFSNT%lu", letters[l / 676],
        letters[l / 26 % 26], letters[l % 26], q, 1 + n % 12, 1 + n % 28,
        n % 2 ? 'M' : 'H', n % 10);
    for (i = 0; i < 17; i++) {
        total += (unsigned) (strchr(curp_alphabet, out[i]) - curp_alphabet)
            * (18 - i);
    }
    out[17] = (char) ('0' + (10 - total % 10) % 10);
    out[18] = '\0';
}

static int
load_sources(const char *root, struct hm_fingerprint **src, int *count)
{
    static const char  *sets[] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
        "fvc2004/DB1_B", "fvc2004/DB2_B" };
    size_t              s;

    for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
        char            dir[1024];
        DIR            *d;
        struct dirent  *e;

        snprintf(dir, sizeof(dir), "%s/data/%s", root, sets[s]);
        d = opendir(dir);
        if (d == NULL) {
            continue;
        }
        while ((e = readdir(d)) != NULL && *count < SYNTH_MAX_SOURCES) {
            char      path[2048], err[256];
            uint8_t   buf[65536];
            size_t    n, len = strlen(e->d_name);
            FILE     *f;

            if (len < 5 || strcmp(e->d_name + len - 4, ".iso") != 0) {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            f = fopen(path, "rb");
            if (f == NULL) {
                continue;
            }
            n = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            src[*count] = malloc(sizeof(struct hm_fingerprint));
            if (src[*count] == NULL) {
                closedir(d);
                return -1;
            }
            if (hm_parse_iso19794_2(buf, n, src[*count], err, sizeof(err))
                == 0 && src[*count]->count >= SYNTH_MIN_MINUTIAE)
            {
                (*count)++;
            } else {
                free(src[*count]);
            }
        }
        closedir(d);
    }
    return 0;
}

static void
centroid(const struct hm_fingerprint *fp, double *cx, double *cy)
{
    unsigned  i;

    *cx = *cy = 0.0;
    for (i = 0; i < fp->count; i++) {
        *cx += fp->m[i].x;
        *cy += fp->m[i].y;
    }
    *cx /= fp->count;
    *cy /= fp->count;
}

/* One synthetic finger from sources a and b (a != b). */
static void
synth_one(const struct hm_fingerprint *a, const struct hm_fingerprint *b,
    const struct hm_fingerprint *c, struct rng *r, struct hm_fingerprint *out)
{
    double    acx, acy, scx, scy, cut, rot, rc, rs, tx, ty;
    double    amp = rng_uniform(r, 4, 9), wave = rng_uniform(r, 90, 160);
    double    phase1 = rng_uniform(r, 0, 2 * M_PI);
    double    phase2 = rng_uniform(r, 0, 2 * M_PI);
    double    drop = rng_uniform(r, 0.10, 0.25);
    double    spurious = rng_uniform(r, 0.05, 0.15);
    double    rots[3] = { 0, rng_uniform(r, -M_PI, M_PI),
                          rng_uniform(r, -M_PI, M_PI) };
    double    scale_x = rng_uniform(r, 0.8, 1.2);
    double    scale_y = rng_uniform(r, 0.8, 1.2);
    int       mirror = rng_next(r) & 1;
    unsigned  i, side, n = 0, extra;

    memset(out, 0, sizeof(*out));
    out->width = a->width;
    out->height = a->height;
    out->res_x = a->res_x;
    out->res_y = a->res_y;
    centroid(a, &acx, &acy);
    cut = rng_uniform(r, 0, 2 * M_PI);
    rot = rng_uniform(r, -0.5, 0.5);
    rc = cos(rot);
    rs = sin(rot);
    tx = rng_uniform(r, -20, 20);
    ty = rng_uniform(r, -20, 20);

    /* Three sectors of 120 degrees about a's centre, one per source. */
    for (side = 0; side < 3; side++) {
        const struct hm_fingerprint  *src = side == 0 ? a : side == 1 ? b : c;

        centroid(src, &scx, &scy);
        for (i = 0; i < src->count && n < HM_MAX_MINUTIAE; i++) {
            double  x = src->m[i].x - scx, y = src->m[i].y - scy, angle, u, v;
            double  sector;

            angle = src->m[i].angle * (2 * M_PI / 256);
            u = x * cos(rots[side]) - y * sin(rots[side]);
            v = x * sin(rots[side]) + y * cos(rots[side]);
            x = acx + u;
            y = acy + v;
            angle -= rots[side];    /* image y points down: CCW is -rot */
            sector = fmod(atan2(v, u) - cut + 4 * M_PI, 2 * M_PI);
            if ((unsigned) (sector / (2 * M_PI / 3)) != side) {
                continue;
            }
            if (rng_uniform(r, 0, 1) < drop) {
                continue;
            }
            if (mirror) {
                x = 2 * acx - x;
                angle = M_PI - angle;
            }
            u = x - acx;
            v = y - acy;
            x = acx + (u * rc - v * rs) * scale_x + tx;
            y = acy + (u * rs + v * rc) * scale_y + ty;
            angle -= rot;
            angle = atan2(sin(angle) * scale_y, cos(angle) * scale_x);
            /* Per-minutia jitter: local structures of a shared source
             * region stop matching each other. */
            x += rng_uniform(r, -6, 6);
            y += rng_uniform(r, -6, 6);
            angle += rng_uniform(r, -0.25, 0.25);
            x += amp * sin(2 * M_PI * y / wave + phase1);
            y += amp * sin(2 * M_PI * x / wave + phase2);
            if (x < 0 || y < 0 || x >= out->width || y >= out->height) {
                continue;
            }
            angle = fmod(angle, 2 * M_PI);
            angle += angle < 0 ? 2 * M_PI : 0;
            out->m[n].x = (uint16_t) x;
            out->m[n].y = (uint16_t) y;
            out->m[n].angle = (uint8_t) ((int) lround(angle * 256
                / (2 * M_PI)) & 0xff);
            out->m[n].type = src->m[i].type;
            n++;
        }
    }
    extra = (unsigned) (n * spurious);
    for (i = 0; i < extra && n < HM_MAX_MINUTIAE; i++) {
        out->m[n].x = (uint16_t) rng_uniform(r, acx - 90 > 0 ? acx - 90 : 0,
            acx + 90 < out->width ? acx + 90 : out->width - 1);
        out->m[n].y = (uint16_t) rng_uniform(r, acy - 120 > 0 ? acy - 120 : 0,
            acy + 120 < out->height ? acy + 120 : out->height - 1);
        out->m[n].angle = (uint8_t) rng_next(r);
        out->m[n].type = 1 + (rng_next(r) & 1);
        n++;
    }
    out->count = (uint16_t) n;
}

static void
put_be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static size_t
iso_write(const struct hm_fingerprint *fp, unsigned position, uint8_t *out)
{
    size_t    len = 24 + 4 + 6 * (size_t) fp->count + 2, pos = 28;
    unsigned  i;

    memcpy(out, "FMR\0 20\0", 8);
    out[8] = (uint8_t) (len >> 24);
    out[9] = (uint8_t) (len >> 16);
    put_be16(out + 10, (unsigned) len & 0xffff);
    put_be16(out + 12, 0);
    put_be16(out + 14, fp->width);
    put_be16(out + 16, fp->height);
    put_be16(out + 18, fp->res_x);
    put_be16(out + 20, fp->res_y);
    out[22] = 1;
    out[23] = 0;
    out[24] = (uint8_t) position;
    out[25] = 0;
    out[26] = 0;
    out[27] = (uint8_t) fp->count;
    for (i = 0; i < fp->count; i++, pos += 6) {
        put_be16(out + pos, (unsigned) fp->m[i].type << 14 | fp->m[i].x);
        put_be16(out + pos + 2, fp->m[i].y);
        out[pos + 4] = fp->m[i].angle;
        out[pos + 5] = 0;
    }
    put_be16(out + pos, 0);
    return len;
}

int
ctl_synth(int argc, char **argv)
{
    static struct hm_fingerprint  *src[SYNTH_MAX_SOURCES];
    const char                    *root = getenv("HUELLA_SHARED");
    struct hm_fingerprint          fp;
    unsigned long                  n, count;
    char                           path[4096], curp[19], *end;
    FILE                          *manifest;
    int                            sources = 0, status = 0, i;
    uint8_t                        rec[2048];

    if (argc != 3) {
        fprintf(stderr, "usage: huellactl synth N OUTDIR   (sources: "
            "$HUELLA_SHARED/data/fvc*/DB*_B, default ../shared)\n");
        return 2;
    }
    errno = 0;
    count = strtoul(argv[1], &end, 10);
    if (errno != 0 || *end != '\0' || count == 0 || count > 1757600) {
        fprintf(stderr, "huellactl synth: N must be 1..1757600\n");
        return 2;
    }
    if (root == NULL || root[0] == '\0') {
        root = "../shared";
    }
    if (load_sources(root, src, &sources) != 0 || sources < 3) {
        fprintf(stderr, "huellactl synth: need real templates under "
            "%s/data/fvc*/DB*_B (set HUELLA_SHARED)\n", root);
        return 1;
    }
    if (mkdir(argv[2], 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "huellactl synth: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", argv[2]);
    manifest = fopen(path, "w");
    if (manifest == NULL) {
        fprintf(stderr, "huellactl synth: %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (n = 0; n < count && status == 0; n++) {
        struct rng  r = { n * 0x9e3779b97f4a7c15ULL + 1 };
        unsigned    position = 1 + n % 10, attempt;
        FILE       *f;
        size_t      len;
        int         written, err;

        for (attempt = 0; ; attempt++) {
            int  a = (int) (rng_next(&r) % (unsigned) sources);
            int  b = (int) (rng_next(&r) % (unsigned) sources);
            int  c = (int) (rng_next(&r) % (unsigned) sources);

            synth_one(src[a], src[b], src[c], &r, &fp);
            if (fp.count >= SYNTH_MIN_MINUTIAE || attempt > 20) {
                break;
            }
        }
        len = iso_write(&fp, position, rec);
        synth_curp(n, curp);
        snprintf(path, sizeof(path), "%s/synth_%07lu.iso", argv[2], n);
        /* A template that could not be written (disk full, a read-only
         * file) stops the run with its reason and is not listed: the
         * manifest never names a file that is not there. */
        f = fopen(path, "wb");
        written = f != NULL && fwrite(rec, 1, len, f) == len;
        err = errno;
        if (f != NULL && fclose(f) != 0 && written) {
            written = 0;
            err = errno;
        }
        if (!written) {
            fprintf(stderr, "huellactl synth: %s: %s\n", path,
                strerror(err));
            status = 1;
            break;
        }
        if (fprintf(manifest, "%s\t%u\tsynth_%07lu.iso\n", curp, position,
                n) < 0)
        {
            break;          /* reported below, with the manifest's name */
        }
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", argv[2]);
    errno = 0;
    if ((ferror(manifest) | fclose(manifest)) != 0) {
        fprintf(stderr, "huellactl synth: %s: %s\n", path,
            errno ? strerror(errno) : "write error");
        status = 1;
    }
    for (i = 0; i < sources; i++) {
        free(src[i]);
    }
    return status;
}
