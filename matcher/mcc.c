/*
 * mcc.c -- Minutia Cylinder-Code templates: building the cylinders and the
 * stored form, and checking stored bytes read back from disk.
 *
 * Owns: hm_encode(), hm_stored_check(), hm_stored_minutiae(),
 * hm_stored_quality().  The method is the bit-based MCC of R. Cappelli,
 * M. Ferrara, D. Maltoni, "Minutia Cylinder-Code: a new representation and
 * matching technique for fingerprint recognition", IEEE TPAMI 32(12), 2010:
 * around each minutia a cylinder of Ns x Ns x Nd cells, aligned with the
 * minutia's direction, records where the neighbouring minutiae are and how
 * their directions differ.  Being local and invariant to translation and
 * rotation, cylinders need no global alignment, and a cylinder pair
 * compares by popcount.  Layout of the stored bytes: see mcc.h.
 */

#include <stdio.h>
#include <stdlib.h>

#include "match.h"
#include "mcc.h"
#include "neighbours.h"

/* Paper's parameters for 500 dpi: radius, Gaussian spreads, hull offset,
 * validity thresholds and the bit threshold (mu_psi).  One change: the
 * paper keeps a cylinder if 75% of its disk is valid; here every cylinder
 * that can ever be compared (MCC_MIN_MATCHABLE, 60%) is kept.  Those near
 * the print's edge are what a small or partial print has: FVC2004 DB2
 * EER 6.43% -> 5.72%, no set worse (docs/matcher.md). */
#define MCC_R              70.0
#define MCC_SIGMA_S        (28.0 / 3.0)
#define MCC_SIGMA_D        (2.0 * M_PI / 9.0)
#define MCC_OMEGA          50.0
#define MCC_MIN_VC         MCC_MIN_MATCHABLE
#define MCC_MIN_M          2
#define MCC_MU_PSI         0.01

/* Fewer minutiae than this cannot form a single meaningful pair. */
#define MCC_MIN_MINUTIAE   3
/* Valid cylinders that make a template of full quality. */
#define MCC_FULL_QUALITY_CYLINDERS  35

struct hull {
    double  x[2 * HM_MAX_MINUTIAE + 1];
    double  y[2 * HM_MAX_MINUTIAE + 1];
    int     n;
};

static double
angle_diff(double a, double b)   /* d_phi of the paper: a - b in (-pi, pi] */
{
    double  d = a - b;

    while (d <= -M_PI) {
        d += 2.0 * M_PI;
    }
    while (d > M_PI) {
        d -= 2.0 * M_PI;
    }
    return d;
}

static double
cross(double ox, double oy, double ax, double ay, double bx, double by)
{
    return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox);
}

static int
point_order(const void *pa, const void *pb)
{
    const double  *a = pa, *b = pb;

    if (a[0] != b[0]) {
        return a[0] < b[0] ? -1 : 1;
    }
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* Andrew's monotone chain; counter-clockwise, no repeated end point. */
static void
hull_build(struct hull *h, const struct mcc_point *pts, int n)
{
    double  sorted[HM_MAX_MINUTIAE][2];
    int     i, k = 0, lower;

    for (i = 0; i < n; i++) {
        sorted[i][0] = pts[i].x;
        sorted[i][1] = pts[i].y;
    }
    qsort(sorted, (size_t) n, sizeof(sorted[0]), point_order);
    for (i = 0; i < n; i++) {
        while (k >= 2 && cross(h->x[k - 2], h->y[k - 2], h->x[k - 1],
                   h->y[k - 1], sorted[i][0], sorted[i][1]) <= 0)
        {
            k--;
        }
        h->x[k] = sorted[i][0];
        h->y[k] = sorted[i][1];
        k++;
    }
    lower = k + 1;
    for (i = n - 2; i >= 0; i--) {
        while (k >= lower && cross(h->x[k - 2], h->y[k - 2], h->x[k - 1],
                   h->y[k - 1], sorted[i][0], sorted[i][1]) <= 0)
        {
            k--;
        }
        h->x[k] = sorted[i][0];
        h->y[k] = sorted[i][1];
        k++;
    }
    h->n = n > 1 ? k - 1 : k;
}

static double
segment_distance2(double px, double py, double ax, double ay, double bx,
    double by)
{
    double  dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy, t = 0.0;

    if (len2 > 0.0) {
        t = ((px - ax) * dx + (py - ay) * dy) / len2;
        t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    }
    dx = ax + t * dx - px;
    dy = ay + t * dy - py;
    return dx * dx + dy * dy;
}

/* Inside the convex hull of the minutiae grown by omega: the region where
 * the extractor could have seen minutiae, outside which an empty cell says
 * nothing. */
static int
hull_contains(const struct hull *h, double px, double py, double omega)
{
    int  i, j, inside = h->n >= 3;

    for (i = 0; i < h->n && inside; i++) {
        j = i + 1 < h->n ? i + 1 : 0;
        if (cross(h->x[i], h->y[i], h->x[j], h->y[j], px, py) < 0) {
            inside = 0;
        }
    }
    if (inside) {
        return 1;
    }
    for (i = 0; i < h->n; i++) {
        j = i + 1 < h->n ? i + 1 : 0;
        if (segment_distance2(px, py, h->x[i], h->y[i], h->x[j], h->y[j])
            <= omega * omega)
        {
            return 1;
        }
    }
    return 0;
}

static void
put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t) v);
    put32(p + 4, (uint32_t) (v >> 32));
}

static void
minutia_record(uint8_t *rec, const struct hm_minutia *m,
    const struct mcc_point *pt, unsigned index)
{
    put16(rec, (uint16_t) (int16_t) lround(pt->x * MCC_COORD_SCALE));
    put16(rec + 2, (uint16_t) (int16_t) lround(pt->y * MCC_COORD_SCALE));
    rec[4] = pt->angle_units;
    rec[5] = (uint8_t) index;
    rec[6] = m->type;
    rec[7] = 0;
}

/* The first and last cell index (0..MCC_NS - 1) whose centre, at
 * (index - (MCC_NS - 1) / 2) cells from the minutia, is at or past /
 * at or before the position given in cells. */
static int
cell_index_at_least(double at)
{
    double  i = ceil(at + (MCC_NS - 1) / 2.0);

    return i < 0.0 ? 0 : i > MCC_NS ? MCC_NS : (int) i;
}

static int
cell_index_at_most(double at)
{
    double  i = floor(at + (MCC_NS - 1) / 2.0);

    return i < -1.0 ? -1 : i > MCC_NS - 1 ? MCC_NS - 1 : (int) i;
}

/*
 * One cylinder: cell (i, j, k) accumulates, over the neighbours t, the
 * spatial Gaussian of t's distance to the cell centre times the area of
 * the directional Gaussian over layer k's angular sector; the bit is set
 * where the sum reaches mu_psi.  Returns 1 if the cylinder is valid.
 */
static int
cylinder_build(const struct mcc_point *pts, int n, int self,
    const struct hull *hull, uint64_t valid[MCC_WORDS],
    uint64_t bits[MCC_ND][MCC_WORDS])
{
    const double  cell = 2.0 * MCC_R / MCC_NS;
    const double  sector = 2.0 * M_PI / MCC_ND;
    const double  reach = 3.0 * MCC_SIGMA_S;
    double        sum[MCC_ND][MCC_NS * MCC_NS];
    double        cx[MCC_NS * MCC_NS], cy[MCC_NS * MCC_NS];
    double        c = cos(pts[self].angle), s = sin(pts[self].angle);
    int           i, j, k, t, cellno, valid_cells = 0, disk_cells = 0;
    int           neighbours = 0;

    memset(valid, 0, sizeof(uint64_t) * MCC_WORDS);
    memset(bits, 0, sizeof(uint64_t) * MCC_WORDS * MCC_ND);
    memset(sum, 0, sizeof(sum));
    for (i = 0; i < MCC_NS; i++) {
        for (j = 0; j < MCC_NS; j++) {
            double  u = (i - (MCC_NS - 1) / 2.0) * cell;
            double  v = (j - (MCC_NS - 1) / 2.0) * cell;

            cellno = i * MCC_NS + j;
            cx[cellno] = pts[self].x + u * c - v * s;
            cy[cellno] = pts[self].y + u * s + v * c;
            if (u * u + v * v > MCC_R * MCC_R) {
                continue;
            }
            disk_cells++;
            if (hull_contains(hull, cx[cellno], cy[cellno], MCC_OMEGA)) {
                valid[cellno / 64] |= (uint64_t) 1 << (cellno % 64);
                valid_cells++;
            }
        }
    }

    for (t = 0; t < n; t++) {
        double  dx = pts[t].x - pts[self].x, dy = pts[t].y - pts[self].y;
        double  dtheta, directional[MCC_ND], u, v;
        int     i_from, i_to, j_from, j_to;

        if (t == self || dx * dx + dy * dy > (MCC_R + reach) * (MCC_R + reach))
        {
            continue;
        }
        neighbours++;
        dtheta = angle_diff(pts[self].angle, pts[t].angle);
        for (k = 0; k < MCC_ND; k++) {
            double  alpha = angle_diff(-M_PI + (k + 0.5) * sector, dtheta);
            double  scale = 1.0 / (MCC_SIGMA_D * sqrt(2.0));

            directional[k] = 0.5 * (erf((alpha + sector / 2) * scale)
                - erf((alpha - sector / 2) * scale));
        }
        /* Only the rows and columns of cells that can lie within reach
         * of t (its place in the cylinder's frame, 1 px to spare for
         * rounding): the cells skipped would fail the test below. */
        u = dx * c + dy * s;
        v = dy * c - dx * s;
        i_from = cell_index_at_least((u - reach - 1.0) / cell);
        i_to = cell_index_at_most((u + reach + 1.0) / cell);
        j_from = cell_index_at_least((v - reach - 1.0) / cell);
        j_to = cell_index_at_most((v + reach + 1.0) / cell);
        for (i = i_from; i <= i_to; i++)
        for (j = j_from; j <= j_to; j++) {
            double  ex, ey, d2, spatial;

            cellno = i * MCC_NS + j;
            ex = pts[t].x - cx[cellno];
            ey = pts[t].y - cy[cellno];
            d2 = ex * ex + ey * ey;
            if (d2 > reach * reach) {
                continue;
            }
            spatial = exp(-d2 / (2.0 * MCC_SIGMA_S * MCC_SIGMA_S))
                / (MCC_SIGMA_S * sqrt(2.0 * M_PI));
            for (k = 0; k < MCC_ND; k++) {
                sum[k][cellno] += spatial * directional[k];
            }
        }
    }

    for (cellno = 0; cellno < MCC_NS * MCC_NS; cellno++) {
        if (!(valid[cellno / 64] >> (cellno % 64) & 1)) {
            continue;
        }
        for (k = 0; k < MCC_ND; k++) {
            if (sum[k][cellno] >= MCC_MU_PSI) {
                bits[k][cellno / 64] |= (uint64_t) 1 << (cellno % 64);
            }
        }
    }
    return valid_cells >= MCC_MIN_VC * disk_cells && neighbours >= MCC_MIN_M;
}

int
mcc_disk_cells(void)
{
    const double  cell = 2.0 * MCC_R / MCC_NS;
    int           i, j, cells = 0;

    for (i = 0; i < MCC_NS; i++) {
        for (j = 0; j < MCC_NS; j++) {
            double  u = (i - (MCC_NS - 1) / 2.0) * cell;
            double  v = (j - (MCC_NS - 1) / 2.0) * cell;

            cells += u * u + v * v <= MCC_R * MCC_R;
        }
    }
    return cells;
}

long
mcc_encode(const struct hm_fingerprint *fp, uint8_t *out, size_t cap,
    char *err, size_t errlen)
{
    struct mcc_point  pts[HM_MAX_MINUTIAE];
    struct hull       hull;
    double            sx, sy;
    size_t            need;
    uint8_t          *cyl;
    int               n, i, cylinders = 0;
    unsigned          quality;

    if (fp == NULL || out == NULL) {
        snprintf(err, errlen, "no fingerprint");
        return -1;
    }
    n = fp->count;
    if (n < MCC_MIN_MINUTIAE || n > HM_MAX_MINUTIAE) {
        snprintf(err, errlen, "%d minutiae: at least %d are needed", n,
            MCC_MIN_MINUTIAE);
        return -1;
    }
    if (fp->res_x == 0 || fp->res_y == 0) {
        snprintf(err, errlen, "resolution %ux%u has a zero side",
            fp->res_x, fp->res_y);
        return -1;
    }
    /* Normalise to 500 dpi per axis (the header may declare different x
     * and y resolutions), and turn y upwards so that the standards'
     * counter-clockwise angles are the usual mathematical ones. */
    sx = MCC_REF_RES / fp->res_x;
    sy = MCC_REF_RES / fp->res_y;
    for (i = 0; i < n; i++) {
        pts[i].x = (float) (fp->m[i].x * sx);
        pts[i].y = (float) (-fp->m[i].y * sy);
        pts[i].angle_units = fp->m[i].angle;
        pts[i].angle = (float) (fp->m[i].angle * (2.0 * M_PI / 256.0));
        if (fabs(pts[i].x) * MCC_COORD_SCALE > 32767
            || fabs(pts[i].y) * MCC_COORD_SCALE > 32767)
        {
            snprintf(err, errlen, "minutia %d at (%u, %u) is too far out "
                "at %ux%u px/cm", i, fp->m[i].x, fp->m[i].y, fp->res_x,
                fp->res_y);
            return -1;
        }
    }
    need = MCC_HEADER_BYTES
        + (size_t) n * (MCC_CYL_BYTES + MCC_MINUTIA_BYTES + MCC_NB_BYTES);
    if (cap < need) {
        snprintf(err, errlen, "output of %zu bytes is smaller than the %zu "
            "a template of %d minutiae may need", cap, need, n);
        return -1;
    }
    hull_build(&hull, pts, n);

    cyl = out + MCC_HEADER_BYTES;
    for (i = 0; i < n; i++) {
        uint64_t  valid[MCC_WORDS], bits[MCC_ND][MCC_WORDS];
        int       w, k;

        if (!cylinder_build(pts, n, i, &hull, valid, bits)) {
            continue;
        }
        minutia_record(cyl, &fp->m[i], &pts[i], (unsigned) i);
        for (w = 0; w < MCC_WORDS; w++) {
            put64(cyl + 8 + 8 * w, valid[w]);
        }
        for (k = 0; k < MCC_ND; k++) {
            for (w = 0; w < MCC_WORDS; w++) {
                put64(cyl + 8 + 8 * (MCC_WORDS * (1 + k) + w), bits[k][w]);
            }
        }
        cyl += MCC_CYL_BYTES;
        cylinders++;
    }
    for (i = 0; i < n; i++) {
        minutia_record(cyl + MCC_MINUTIA_BYTES * i, &fp->m[i], &pts[i],
            (unsigned) i);
    }
    /* Neighbour records, from the positions as stored (1/4 px), so that
     * they are what a decoder of this template would compute. */
    {
        struct mcc_point  q[HM_MAX_MINUTIAE];
        uint8_t          *nb = cyl + (size_t) n * MCC_MINUTIA_BYTES;

        for (i = 0; i < n; i++) {
            mcc_point_decode(cyl + MCC_MINUTIA_BYTES * i, &q[i]);
        }
        for (i = 0; i < cylinders; i++) {
            nb_encode(q, n, out[MCC_HEADER_BYTES + (size_t) i * MCC_CYL_BYTES
                + 5], nb + (size_t) i * MCC_NB_BYTES);
        }
    }
    need = MCC_HEADER_BYTES + (size_t) cylinders * MCC_CYL_BYTES
        + (size_t) n * MCC_MINUTIA_BYTES + (size_t) cylinders * MCC_NB_BYTES;

    quality = fp->finger_quality;
    if (quality == 0) {
        /* Not reported: the share of minutiae with a usable cylinder. */
        quality = (unsigned) (cylinders >= MCC_FULL_QUALITY_CYLINDERS ? 100
            : cylinders * 100 / MCC_FULL_QUALITY_CYLINDERS);
    }
    out[0] = MCC_MAGIC0;
    out[1] = MCC_MAGIC1;
    out[2] = MCC_VERSION;
    out[3] = (MCC_NS / 4) << 4 | MCC_ND;
    put16(out + 4, (unsigned) n);
    put16(out + 6, (unsigned) cylinders);
    out[8] = (uint8_t) quality;
    out[9] = out[10] = out[11] = 0;
    put32(out + 12, (uint32_t) need);
    return (long) need;
}

long
hm_encode(const struct hm_fingerprint *fp, uint8_t *out, size_t cap,
    char *err, size_t errlen)
{
    return mcc_encode(fp, out, cap, err, errlen);
}

int
mcc_header_read(const uint8_t *stored, size_t len, struct mcc_header *h)
{
    if (stored == NULL || len < MCC_HEADER_BYTES) {
        return -1;
    }
    h->magic[0] = stored[0];
    h->magic[1] = stored[1];
    h->version = stored[2];
    h->geometry = stored[3];
    h->minutiae = mcc_le16(stored + 4);
    h->cylinders = mcc_le16(stored + 6);
    h->quality = stored[8];
    h->length = mcc_le32(stored + 12);
    if (h->magic[0] != MCC_MAGIC0 || h->magic[1] != MCC_MAGIC1
        || h->version != MCC_VERSION || h->geometry != ((MCC_NS / 4) << 4 | MCC_ND)
        || h->length != len || h->cylinders > h->minutiae
        || h->minutiae > HM_MAX_MINUTIAE
        || len != MCC_HEADER_BYTES + (size_t) h->cylinders * MCC_CYL_BYTES
                  + (size_t) h->minutiae * MCC_MINUTIA_BYTES
                  + (size_t) h->cylinders * MCC_NB_BYTES)
    {
        return -1;
    }
    return 0;
}

int
hm_stored_check(const uint8_t *stored, size_t len)
{
    struct mcc_header  h;
    const uint8_t     *rec;
    unsigned           i, w, k, last_index = 0;

    if (mcc_header_read(stored, len, &h) != 0 || h.quality > 100
        || stored[9] != 0 || stored[10] != 0 || stored[11] != 0)
    {
        return -1;
    }
    for (i = 0; i < h.cylinders; i++) {
        rec = stored + MCC_HEADER_BYTES + (size_t) i * MCC_CYL_BYTES;
        /* Cylinders are in minutia order, each names a real minutia, and
         * no bit is set in a cell that is not valid. */
        if (rec[5] >= h.minutiae || (i > 0 && rec[5] <= last_index)
            || rec[6] > HM_MINUTIA_BIFURCATION || rec[7] != 0)
        {
            return -1;
        }
        last_index = rec[5];
        for (w = 0; w < MCC_WORDS; w++) {
            uint64_t  valid = mcc_load64(rec + 8 + 8 * w);

            for (k = 0; k < MCC_ND; k++) {
                if (mcc_load64(rec + 8 + 8 * (MCC_WORDS * (1 + k) + w))
                    & ~valid)
                {
                    return -1;
                }
            }
        }
    }
    rec = stored + MCC_HEADER_BYTES + (size_t) h.cylinders * MCC_CYL_BYTES;
    for (i = 0; i < h.minutiae; i++, rec += MCC_MINUTIA_BYTES) {
        if (rec[5] != i || rec[6] > HM_MINUTIA_BIFURCATION || rec[7] != 0) {
            return -1;
        }
    }
    for (i = 0; i < h.cylinders; i++, rec += MCC_NB_BYTES) {
        if (nb_check(rec) != 0) {
            return -1;
        }
    }
    return 0;
}

unsigned
hm_stored_minutiae(const uint8_t *stored, size_t len)
{
    struct mcc_header  h;

    return mcc_header_read(stored, len, &h) == 0 ? h.minutiae : 0;
}

unsigned
hm_stored_quality(const uint8_t *stored, size_t len)
{
    struct mcc_header  h;

    return mcc_header_read(stored, len, &h) == 0 ? h.quality : 0;
}

unsigned
hm_stored_cylinders(const uint8_t *stored, size_t len)
{
    struct mcc_header  h;

    return mcc_header_read(stored, len, &h) == 0 ? h.cylinders : 0;
}
