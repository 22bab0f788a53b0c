/*
 * align.c -- global consolidation of a local match.
 *
 * Owns: align_grid_build() and align_consolidate().  Local MCC similarity
 * says which minutiae look alike; this step checks that the best of those
 * pairs agree on one placement of the two prints.  Placements tried: a
 * weighted least-squares fit on the k best pairs, and, when that pairs no
 * more minutiae than the k anchors themselves, each of those pairs alone
 * (its minutiae superposed, directions aligned).  Under each, all
 * minutiae are paired one-to-one (nearest first) within a distance
 * tolerance that grows away from the placement's centre, since elastic
 * distortion accumulates with distance (after the tolerance boxes of Jain,
 * Hong, Bolle, "On-line fingerprint verification", IEEE TPAMI 19(4), 1997),
 * and directions within ta; the placement is then refitted on its pairs
 * as an affine map held near a rotation by a ridge penalty (anisotropic
 * scale: two impressions stretched alike but turned differently differ by
 * S R S^-1, which is no rotation), and paired again, what it pairs beyond
 * the rigid placement counting three quarters.  The best count wins, with the
 * number of minutiae each print has in the other's box.
 *
 * The pairing's candidate scan (each B minutia against the A minutiae of
 * the grid cells within its reach), the placements of the minutiae and
 * the overlap run 16 at a time with AVX-512 where the CPU has it (F, BW
 * and VL), else 8 at a time with AVX2 (AMD Zen 2 and 3, Intel E-cores),
 * chosen at run time: the build targets x86-64-v2; align_pairing_isa()
 * and HUELLA_ALIGN_ISA (scalar, avx2) choose a lower path, for benchmarks
 * and tests.  Every path does the same IEEE operations in the same order
 * (no FMA) and finds the candidates in the same order, so every score is
 * the same to the last bit.
 */

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "isa.h"
#include "mcc_local.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ALIGN_HAVE_AVX512 1
#define ALIGN_HAVE_AVX2 1
#endif

/* Pairing tolerance: R0 + RK x distance from the placement's centre (px),
 * directions within 30 degrees; the affine refit's pull towards the
 * rotation (RIDGE, in squared pixels per unit weight: 0.1 leaves the
 * affine part free wherever three or more pairs spread out). */
#define R0        10.0f
#define RK        0.08f
#define COS_TA    0.8660254f
#define RIDGE     0.1
/* An affine map has six unknowns: refit only on at least six pairs (fewer
 * are mostly chance pairs, which a free refit would only inflate). */
#define REFIT_MIN 6
/* What the refit pairs beyond the rigid placement counts three quarters.
 * A refit of A on B alone gained about as many pairs on impostors as on
 * genuine comparisons (0.6-0.7 against 0.5-0.9 on average): mostly its
 * own freedom, fitted on the pairs it then counts, and its gain counted a
 * quarter.  Fitted both ways (the geometric mean below) and with its
 * pairs tested in both frames, it gains impostors 0.03-0.22 weighted
 * pairs on average where it runs, genuine comparisons 0.10-0.78.  Its
 * placement is still kept when it pairs more.  The fraction was chosen by
 * leave-one-set-out among 0, 1/4, 1/2, 3/4, 1 (3/4 on three folds, 1/4
 * when FVC2004 DB1 is held out): docs/matcher.md. */
#define REFIT_GAIN_W 0.75f
/* Minutia type is a weak cue (endings and bifurcations swap with pressure
 * and skin condition): a pair of different types counts half. */
#define TYPE_DIFF_W 0.5f

/* cos and sin of the 256 stored direction units. */
static float                 unit_cos[256], unit_sin[256];
static pthread_once_t        align_once = PTHREAD_ONCE_INIT;
static struct hm_isa_choice  align_isa;   /* .on: the path in effect */

#ifdef ALIGN_HAVE_AVX2
static void compress_lut_init(void);
#endif

/* Whether this build has the path and the CPU can run it. */
static int
align_isa_usable(int level)
{
    switch (level) {
    case HM_ISA_SCALAR:
        return 1;
#ifdef ALIGN_HAVE_AVX2
    case HM_ISA_AVX2:
        return __builtin_cpu_supports("avx2");
#endif
#ifdef ALIGN_HAVE_AVX512
    case HM_ISA_AVX512:
        return __builtin_cpu_supports("avx512f")
            && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vl");
#endif
    default:
        return 0;
    }
}

static void
align_init(void)
{
    int  i;

    for (i = 0; i < 256; i++) {
        unit_cos[i] = (float) cos(i * (2.0 * M_PI / 256.0));
        unit_sin[i] = (float) sin(i * (2.0 * M_PI / 256.0));
    }
#ifdef ALIGN_HAVE_AVX2
    compress_lut_init();
#endif
    /* HUELLA_ALIGN_ISA=scalar or avx2 caps the path (benchmarks). */
    hm_isa_choose(&align_isa, align_isa_usable, "HUELLA_ALIGN_ISA");
}

int
align_pairing_isa(int level)
{
    pthread_once(&align_once, align_init);
    return hm_isa_set(&align_isa, level);
}

/* A minutia as one number (position in 1/4 px and direction as stored):
 * ties between candidate pairs are broken by their two minutiae taken as
 * an unordered pair, the same whichever print is A. */
static inline uint64_t
point_key(const struct mcc_point *p)
{
    return (uint64_t) (uint16_t) (int16_t) (p->x * 4.0f) << 24
        | (uint64_t) (uint16_t) (int16_t) (p->y * 4.0f) << 8
        | p->angle_units;
}

struct xform {
    float  m[2][2];
    float  ax, ay, bx, by;   /* x_a = M (x_b - b) + a */
    int    rigid;            /* M is a rotation */
};

void
align_grid_build(const struct mcc_point *a, int na, struct align_grid *g)
{
    int  count[ALIGN_GRID_SIDE * ALIGN_GRID_SIDE];
    int  cellof[HM_MAX_MINUTIAE];
    int  i, cells;

    pthread_once(&align_once, align_init);
    g->n = na;
    g->minx = g->miny = 1e30f;
    g->maxx = g->maxy = -1e30f;
    for (i = 0; i < na; i++) {
        g->minx = fminf(g->minx, a[i].x);
        g->maxx = fmaxf(g->maxx, a[i].x);
        g->miny = fminf(g->miny, a[i].y);
        g->maxy = fmaxf(g->maxy, a[i].y);
    }
    if (na == 0) {
        g->minx = g->maxx = g->miny = g->maxy = 0.0f;
    }
    g->x0 = g->minx;
    g->y0 = g->miny;
    g->gw = (int) ((g->maxx - g->minx) / ALIGN_GRID_CELL) + 1;
    g->gh = (int) ((g->maxy - g->miny) / ALIGN_GRID_CELL) + 1;
    g->gw = g->gw > ALIGN_GRID_SIDE ? ALIGN_GRID_SIDE : g->gw;
    g->gh = g->gh > ALIGN_GRID_SIDE ? ALIGN_GRID_SIDE : g->gh;
    cells = g->gw * g->gh;
    memset(count, 0, sizeof(int) * (size_t) cells);
    for (i = 0; i < na; i++) {
        int  cx = (int) ((a[i].x - g->x0) / ALIGN_GRID_CELL);
        int  cy = (int) ((a[i].y - g->y0) / ALIGN_GRID_CELL);

        cx = cx >= g->gw ? g->gw - 1 : cx;
        cy = cy >= g->gh ? g->gh - 1 : cy;
        cellof[i] = cy * g->gw + cx;
        count[cellof[i]]++;
    }
    g->start[0] = 0;
    for (i = 0; i < cells; i++) {
        g->start[i + 1] = (uint16_t) (g->start[i] + count[i]);
        count[i] = g->start[i];
    }
    for (i = 0; i < na; i++) {
        int  p = count[cellof[i]]++;

        g->x[p] = a[i].x;
        g->y[p] = a[i].y;
        g->c[p] = unit_cos[a[i].angle_units];
        g->s[p] = unit_sin[a[i].angle_units];
        g->type[p] = a[i].type;
        g->col[p] = (uint8_t) (cellof[i] % g->gw);
        g->key[p] = point_key(&a[i]);
    }
}

/* The affine part of a fit: M = (D + lam R)(C + lam I)^-1, from the
 * second moments C of B, the cross moments D of A and B (about the
 * centroids) and the rotation R = (c, -s; s, c); unchanged if singular. */
static void
ridge_affine(double cxx, double cxy, double cyy, double dxx, double dxy,
    double dyx, double dyy, double c, double s, double lam, struct xform *t)
{
    double  det, i00, i01, i11;

    cxx += lam;
    cyy += lam;
    dxx += lam * c;
    dxy += lam * -s;
    dyx += lam * s;
    dyy += lam * c;
    det = cxx * cyy - cxy * cxy;
    if (det <= 1e-9) {
        return;
    }
    i00 = cyy / det;
    i01 = -cxy / det;
    i11 = cxx / det;
    t->m[0][0] = (float) (dxx * i00 + dxy * i01);
    t->m[0][1] = (float) (dxx * i01 + dxy * i11);
    t->m[1][0] = (float) (dyx * i00 + dyy * i01);
    t->m[1][1] = (float) (dyx * i01 + dyy * i11);
    t->rigid = 0;
}

/* Weighted fit of x_a ~ M (x_b - cb) + ca from k pairs given as positions
 * and unit directions; affine (ridge towards the rotation) if asked and
 * k >= 3.  With back, also the fit of B on A, x_b ~ M' (x_a - ca) + cb,
 * from the same sums (w must then be all 1: every product is then the
 * one a separate call with A and B swapped would form, so the two fits
 * are bit for bit those of two calls). */
static void
fit(const float *ax, const float *ay, const float *ac, const float *as,
    const float *bx, const float *by, const float *bc, const float *bs,
    const float *w, int k, int affine, struct xform *t, struct xform *back)
{
    double  W = 0, cax = 0, cay = 0, cbx = 0, cby = 0, sc = 0, ss = 0;
    double  sdot = 0, scross = 0;
    double  cxx = 0, cxy = 0, cyy = 0, dxx = 0, dxy = 0, dyx = 0, dyy = 0;
    double  exx = 0, exy = 0, eyy = 0;
    double  c, s, r;
    int     i;

    for (i = 0; i < k; i++) {
        W += w[i];
        cax += w[i] * ax[i];
        cay += w[i] * ay[i];
        cbx += w[i] * bx[i];
        cby += w[i] * by[i];
        /* direction difference a - b as a unit vector */
        sc += w[i] * (ac[i] * bc[i] + as[i] * bs[i]);
        ss += w[i] * (as[i] * bc[i] - ac[i] * bs[i]);
    }
    if (!(W > 0.0)) {
        /* No weight: the identity placement, which pairs little. */
        memset(t, 0, sizeof(*t));
        t->m[0][0] = t->m[1][1] = 1.0f;
        t->rigid = 1;
        if (back != NULL) {
            *back = *t;
        }
        return;
    }
    cax /= W;
    cay /= W;
    cbx /= W;
    cby /= W;
    for (i = 0; i < k; i++) {
        double  xa = ax[i] - cax, ya = ay[i] - cay;
        double  xb = bx[i] - cbx, yb = by[i] - cby;

        sdot += w[i] * (xb * xa + yb * ya);
        scross += w[i] * (xb * ya - yb * xa);
        cxx += w[i] * xb * xb;
        cxy += w[i] * xb * yb;
        cyy += w[i] * yb * yb;
        dxx += w[i] * xa * xb;
        dxy += w[i] * xa * yb;
        dyx += w[i] * ya * xb;
        dyy += w[i] * ya * yb;
        exx += xa * xa;
        exy += xa * ya;
        eyy += ya * ya;
    }
    /* Rotation: the points' cross-covariance plus the minutiae's own
     * direction differences (each worth a 20 px lever). */
    sdot += 400.0 * sc;
    scross += 400.0 * ss;
    r = sqrt(sdot * sdot + scross * scross);
    c = r > 0 ? sdot / r : 1.0;
    s = r > 0 ? scross / r : 0.0;
    t->m[0][0] = (float) c;
    t->m[0][1] = (float) -s;
    t->m[1][0] = (float) s;
    t->m[1][1] = (float) c;
    t->ax = (float) cax;
    t->ay = (float) cay;
    t->bx = (float) cbx;
    t->by = (float) cby;
    t->rigid = 1;
    if (back != NULL) {
        back->m[0][0] = (float) c;
        back->m[0][1] = (float) s;
        back->m[1][0] = (float) -s;
        back->m[1][1] = (float) c;
        back->ax = (float) cbx;
        back->ay = (float) cby;
        back->bx = (float) cax;
        back->by = (float) cay;
        back->rigid = 1;
    }
    if (affine && k >= 3) {
        ridge_affine(cxx, cxy, cyy, dxx, dxy, dyx, dyy, c, s, RIDGE * W, t);
        if (back != NULL) {
            ridge_affine(exx, exy, eyy, dxx, dyx, dxy, dyy, c, -s, RIDGE * W,
                back);
        }
    }
}

/* The inverse placement: x_b = M^-1 (x_a - a) + b.  0 if M is singular. */
static int
invert(const struct xform *t, struct xform *inv)
{
    float  det = t->m[0][0] * t->m[1][1] - t->m[0][1] * t->m[1][0];

    if (!(fabsf(det) > 1e-6f)) {
        return 0;
    }
    inv->m[0][0] = t->m[1][1] / det;
    inv->m[0][1] = -t->m[0][1] / det;
    inv->m[1][0] = -t->m[1][0] / det;
    inv->m[1][1] = t->m[0][0] / det;
    inv->ax = t->bx;
    inv->ay = t->by;
    inv->bx = t->ax;
    inv->by = t->ay;
    inv->rigid = t->rigid;
    return 1;
}

#define ORDER_STEPS  32

/* Candidate x before y: nearer (relative to its tolerance), and among
 * equally near ones by their minutiae as an unordered pair. */
static inline int
cand_before(const struct align_cand *x, const struct align_cand *y,
    const struct align_grid *g, const struct align_work *wk)
{
    if (x->dn != y->dn) {
        return x->dn < y->dn;
    }
    return mcc_unordered_before(g->key[x->i], wk->bkey[x->j], g->key[y->i],
        wk->bkey[y->j]);
}

/* Once the candidate list is full, it keeps the ALIGN_CANDS_MAX first
 * candidates in cand_before() order rather than the first found (which
 * would depend on which print is A): a heap with the last of them at the
 * root, which a better candidate replaces.  Heapsort then orders them. */
static void
cand_sift_down(struct align_cand *h, int size, int i,
    const struct align_cand *v, const struct align_grid *g,
    const struct align_work *wk)
{
    int  k;

    for (k = 2 * i + 1; k < size; i = k, k = 2 * i + 1) {
        if (k + 1 < size && cand_before(&h[k], &h[k + 1], g, wk)) {
            k++;
        }
        if (!cand_before(v, &h[k], g, wk)) {
            break;
        }
        h[i] = h[k];
    }
    h[i] = *v;
}

static void
cand_keep_first(struct align_cand *h, int *heaped,
    const struct align_cand *c, const struct align_grid *g,
    const struct align_work *wk)
{
    int  i;

    if (!*heaped) {
        for (i = ALIGN_CANDS_MAX / 2 - 1; i >= 0; i--) {
            struct align_cand  v = h[i];

            cand_sift_down(h, ALIGN_CANDS_MAX, i, &v, g, wk);
        }
        *heaped = 1;
    }
    if (cand_before(c, &h[0], g, wk)) {
        cand_sift_down(h, ALIGN_CANDS_MAX, 0, c, g, wk);
    }
}

/* The heap in cand_before() order, into out[]: many candidates of one
 * step, which the insertion sort below would take quadratic time on. */
__attribute__((noinline, cold)) static void
cand_heapsort(struct align_cand *h, struct align_cand *out,
    const struct align_grid *g, const struct align_work *wk)
{
    int  end;

    for (end = ALIGN_CANDS_MAX - 1; end > 0; end--) {
        struct align_cand  v = h[end];

        out[end] = h[0];
        cand_sift_down(h, end, 0, &v, g, wk);
    }
    out[0] = h[0];
}

/* The candidate pairs under t (pair_up() has placed B in wk), in
 * wk->cands.  Written once for two uses: as it stands (keep_first 0),
 * which stops adding when the list is full, and keeping the first in
 * cand_before() order (keep_first 1), for when it was: only templates
 * denser than ridges allow fill it (16 candidates per minutia within ~25
 * px and 30 degrees), and the common loop stays as lean as before. */
static inline __attribute__((always_inline)) int
collect_cands(const struct align_grid *g, const float *bx, const float *by,
    const float *bc, const float *bs, int nb, const struct xform *t,
    struct align_work *wk, int keep_first, int *heaped)
{
    int  j, n = 0;

    for (j = 0; j < nb; j++) {
        float  tx = wk->tx[j], ty = wk->ty[j], dc = wk->tc[j], ds = wk->ts[j];
        float  reach = wk->reach[j], min2 = wk->min2[j];
        float  reach2 = reach * reach;
        float  half_b = wk->half_b[j];
        float  fx0 = (tx - reach - g->x0) * (1.0f / ALIGN_GRID_CELL);
        float  fy0 = (ty - reach - g->y0) * (1.0f / ALIGN_GRID_CELL);
        float  fx1 = (tx + reach - g->x0) * (1.0f / ALIGN_GRID_CELL);
        float  fy1 = (ty + reach - g->y0) * (1.0f / ALIGN_GRID_CELL);
        int    cx0, cx1, cy0, cy1, cy, q;

        /* Written so that NaN falls out too. */
        if (!(fx1 >= 0.0f && fy1 >= 0.0f && fx0 < (float) g->gw
              && fy0 < (float) g->gh))
        {
            continue;
        }
        cx0 = fx0 > 0.0f ? (int) fx0 : 0;
        cy0 = fy0 > 0.0f ? (int) fy0 : 0;
        cx1 = fx1 < (float) (g->gw - 1) ? (int) fx1 : g->gw - 1;
        cy1 = fy1 < (float) (g->gh - 1) ? (int) fy1 : g->gh - 1;
        for (cy = cy0; cy <= cy1; cy++) {
            int  row = cy * g->gw;

            for (q = g->start[row + cx0]; q < g->start[row + cx1 + 1]; q++) {
                float  dx = g->x[q] - tx, dy = g->y[q] - ty;
                float  d2 = dx * dx + dy * dy;
                float  dot = g->c[q] * dc + g->s[q] * ds;
                float  ex, ey, r;

                /* directions within ta: cos >= cos_ta (ta < 90 degrees) */
                if (d2 > reach2 || dot <= 0.0f || dot * dot < min2
                    || (!keep_first && n == ALIGN_CANDS_MAX))
                {
                    continue;
                }
                if (!t->rigid) {
                    float  udot = bc[j] * wk->uc[q] + bs[j] * wk->us[q];
                    float  e2;

                    if (udot <= 0.0f || udot * udot < wk->umin2[q]) {
                        continue;
                    }
                    ex = wk->ux[q] - bx[j];
                    ey = wk->uy[q] - by[j];
                    e2 = ex * ex + ey * ey;
                    d2 = d2 > e2 ? d2 : e2;
                }
                ex = g->x[q] - t->ax;
                ey = g->y[q] - t->ay;
                r = half_b + (0.5f * RK) * sqrtf(ex * ex + ey * ey);
                if (d2 > r * r) {
                    continue;
                }
                if (!keep_first || n < ALIGN_CANDS_MAX) {
                    wk->cands[n].dn = d2 / (r * r);
                    wk->cands[n].i = (uint8_t) q;
                    wk->cands[n].j = (uint8_t) j;
                    n++;
                } else {
                    struct align_cand  c = { d2 / (r * r), (uint8_t) q,
                        (uint8_t) j };

                    cand_keep_first(wk->cands, heaped, &c, g, wk);
                }
            }
        }
    }
    return n;
}

__attribute__((noinline, cold)) static int
collect_cands_keep_first(const struct align_grid *g, const float *bx,
    const float *by, const float *bc, const float *bs, int nb,
    const struct xform *t, struct align_work *wk, int *heaped)
{
    return collect_cands(g, bx, by, bc, bs, nb, t, wk, 1, heaped);
}

/* B under t in wk (pair_up() says what for) and, when t is no rotation,
 * A under its inverse ti. */
static inline __attribute__((always_inline)) void
place(const struct align_grid *g, const float *bx, const float *by,
    const float *bc, const float *bs, int nb, const struct xform *t,
    const struct xform *ti, struct align_work *wk)
{
    const float  cos2_ta = COS_TA * COS_TA;
    int          i, j;

    if (!t->rigid) {
        /* Branch-free, so that it vectorises. */
        for (i = 0; i < g->n; i++) {
            float  x = g->x[i] - ti->bx, y = g->y[i] - ti->by;
            float  dc = ti->m[0][0] * g->c[i] + ti->m[0][1] * g->s[i];
            float  ds = ti->m[1][0] * g->c[i] + ti->m[1][1] * g->s[i];

            wk->ux[i] = ti->m[0][0] * x + ti->m[0][1] * y + ti->ax;
            wk->uy[i] = ti->m[1][0] * x + ti->m[1][1] * y + ti->ay;
            wk->uc[i] = dc;
            wk->us[i] = ds;
            wk->umin2[i] = cos2_ta * (dc * dc + ds * ds);
        }
    }
    for (j = 0; j < nb; j++) {
        float  x = bx[j] - t->bx, y = by[j] - t->by;
        float  dc = t->m[0][0] * bc[j] + t->m[0][1] * bs[j];
        float  ds = t->m[1][0] * bc[j] + t->m[1][1] * bs[j];
        float  rx = t->m[0][0] * x + t->m[0][1] * y;
        float  ry = t->m[1][0] * x + t->m[1][1] * y;
        float  d = sqrtf(x * x + y * y);
        float  td = t->rigid ? d : sqrtf(rx * rx + ry * ry);

        wk->tx[j] = rx + t->ax;
        wk->ty[j] = ry + t->ay;
        wk->tc[j] = dc;
        wk->ts[j] = ds;
        wk->half_b[j] = R0 + (0.5f * RK) * d;
        wk->reach[j] = (R0 + (0.5f * RK) * (td + d))
            * (1.0f / (1.0f - 0.5f * RK));
        wk->min2[j] = cos2_ta * (dc * dc + ds * ds);
    }
}

#ifdef ALIGN_HAVE_AVX512

/* The AVX-512 pairing: place() and collect_cands() (its first pass; the
 * rare second stays scalar) 16 minutiae at a time, with the scalar code's
 * operations in its order (no fused multiply-add: -std=c11 contracts
 * none) and its comparisons negated as written, so that NaN goes the
 * same way ((x > y) false becomes "not greater", unordered true). */
#define ALIGN_AVX512  __attribute__((target("avx512f,avx512bw,avx512vl")))

_Static_assert(sizeof(struct align_cand) == 8
    && offsetof(struct align_cand, i) == 4
    && offsetof(struct align_cand, j) == 5,
    "collect_cands_avx512() stores candidates as 64-bit lanes");

/* The lanes of i..end-1 among the 16 from i. */
static inline __attribute__((always_inline)) ALIGN_AVX512 __mmask16
lanes_upto(int i, int end)
{
    return end - i >= 16 ? (__mmask16) 0xffff
        : (__mmask16) ((1u << (end - i)) - 1);
}

static inline __attribute__((always_inline)) ALIGN_AVX512 __m512
load_ps(__mmask16 k, const float *p)
{
    return _mm512_maskz_loadu_ps(k, p);
}

static inline __attribute__((always_inline)) ALIGN_AVX512 __m512
mul(__m512 a, __m512 b)
{
    return _mm512_mul_ps(a, b);
}

static inline __attribute__((always_inline)) ALIGN_AVX512 __m512
add(__m512 a, __m512 b)
{
    return _mm512_add_ps(a, b);
}

static inline __attribute__((always_inline)) ALIGN_AVX512 __m512
sub(__m512 a, __m512 b)
{
    return _mm512_sub_ps(a, b);
}

/* A transform with each of its numbers in all 16 lanes. */
struct xform16 {
    __m512  m00, m01, m10, m11, bx, by, ax, ay;
};

static inline __attribute__((always_inline)) ALIGN_AVX512 struct xform16
broadcast(const struct xform *t)
{
    struct xform16  v;

    v.m00 = _mm512_set1_ps(t->m[0][0]);
    v.m01 = _mm512_set1_ps(t->m[0][1]);
    v.m10 = _mm512_set1_ps(t->m[1][0]);
    v.m11 = _mm512_set1_ps(t->m[1][1]);
    v.bx = _mm512_set1_ps(t->bx);
    v.by = _mm512_set1_ps(t->by);
    v.ax = _mm512_set1_ps(t->ax);
    v.ay = _mm512_set1_ps(t->ay);
    return v;
}

/* The linear part of v on (x, y), m (x, y), as the scalar code has it. */
static inline __attribute__((always_inline)) ALIGN_AVX512 void
turn(const struct xform16 *v, __m512 x, __m512 y, __m512 *rx, __m512 *ry)
{
    *rx = add(mul(v->m00, x), mul(v->m01, y));
    *ry = add(mul(v->m10, x), mul(v->m11, y));
}

/* v on the points (x, y): m (x - b) + a. */
static inline __attribute__((always_inline)) ALIGN_AVX512 void
apply(const struct xform16 *v, __m512 x, __m512 y, __m512 *tx, __m512 *ty)
{
    turn(v, sub(x, v->bx), sub(y, v->by), tx, ty);
    *tx = add(*tx, v->ax);
    *ty = add(*ty, v->ay);
}

/* The lanes of k whose (x, y) lies in [lox, hix] x [loy, hiy]. */
static inline __attribute__((always_inline)) ALIGN_AVX512 __mmask16
in_box(__mmask16 k, __m512 x, __m512 y, __m512 lox, __m512 hix, __m512 loy,
    __m512 hiy)
{
    k = _mm512_mask_cmp_ps_mask(k, x, lox, _CMP_GE_OQ);
    k = _mm512_mask_cmp_ps_mask(k, x, hix, _CMP_LE_OQ);
    k = _mm512_mask_cmp_ps_mask(k, y, loy, _CMP_GE_OQ);
    return _mm512_mask_cmp_ps_mask(k, y, hiy, _CMP_LE_OQ);
}

/* place(), and A's part of each tolerance, (0.5 RK) |a - a0| (the scalar
 * scan computes it per candidate). */
static ALIGN_AVX512 void
place_avx512(const struct align_grid *g, const float *bx, const float *by,
    const float *bc, const float *bs, int nb, const struct xform *t,
    const struct xform *ti, struct align_work *wk)
{
    const __m512  cos2_ta = _mm512_set1_ps(COS_TA * COS_TA);
    const __m512  half_rk = _mm512_set1_ps(0.5f * RK);
    const __m512  r0 = _mm512_set1_ps(R0);
    const __m512  widen = _mm512_set1_ps(1.0f / (1.0f - 0.5f * RK));
    const __m512  zero = _mm512_setzero_ps();
    const __m512  x0 = _mm512_set1_ps(g->x0), y0 = _mm512_set1_ps(g->y0);
    const __m512  per_cell = _mm512_set1_ps(1.0f / ALIGN_GRID_CELL);
    const __m512  gw = _mm512_set1_ps((float) g->gw);
    const __m512  gh = _mm512_set1_ps((float) g->gh);
    const __m512  gw_1 = _mm512_set1_ps((float) (g->gw - 1));
    const __m512  gh_1 = _mm512_set1_ps((float) (g->gh - 1));
    const __m512i last_col = _mm512_set1_epi32(g->gw - 1);
    const __m512i last_row = _mm512_set1_epi32(g->gh - 1);
    const __m512i cols = _mm512_set1_epi32(g->gw);
    const __m512i one = _mm512_set1_epi32(1);
    struct xform16  v;
    __m512          ax, ay;
    int             i;

    if (!t->rigid) {
        v = broadcast(ti);
        for (i = 0; i < g->n; i += 16) {
            __mmask16  k = lanes_upto(i, g->n);
            __m512     ux, uy, dc, ds;

            apply(&v, load_ps(k, g->x + i), load_ps(k, g->y + i), &ux, &uy);
            turn(&v, load_ps(k, g->c + i), load_ps(k, g->s + i), &dc, &ds);
            _mm512_mask_storeu_ps(wk->ux + i, k, ux);
            _mm512_mask_storeu_ps(wk->uy + i, k, uy);
            _mm512_mask_storeu_ps(wk->uc + i, k, dc);
            _mm512_mask_storeu_ps(wk->us + i, k, ds);
            _mm512_mask_storeu_ps(wk->umin2 + i, k,
                mul(cos2_ta, add(mul(dc, dc), mul(ds, ds))));
        }
    }
    ax = _mm512_set1_ps(t->ax);
    ay = _mm512_set1_ps(t->ay);
    for (i = 0; i < g->n; i += 16) {
        __mmask16  k = lanes_upto(i, g->n);
        __m512     ex = sub(load_ps(k, g->x + i), ax);
        __m512     ey = sub(load_ps(k, g->y + i), ay);

        _mm512_mask_storeu_ps(wk->part_a + i, k,
            mul(half_rk, _mm512_sqrt_ps(add(mul(ex, ex), mul(ey, ey)))));
    }
    v = broadcast(t);
    /* B, and the grid cells within reach of each B minutia, found as
     * collect_cands() finds them. */
    for (i = 0; i < nb; i += 16) {
        __mmask16  k = lanes_upto(i, nb);
        __m512     x = sub(load_ps(k, bx + i), v.bx);
        __m512     y = sub(load_ps(k, by + i), v.by);
        __m512     dc, ds, rx, ry, d, td, tx, ty, reach;
        __m512     fx0, fy0, fx1, fy1;
        __mmask16  in;
        __m512i    cx0, cy0, cx1, cy1;

        turn(&v, load_ps(k, bc + i), load_ps(k, bs + i), &dc, &ds);
        turn(&v, x, y, &rx, &ry);
        d = _mm512_sqrt_ps(add(mul(x, x), mul(y, y)));
        td = t->rigid ? d : _mm512_sqrt_ps(add(mul(rx, rx), mul(ry, ry)));
        tx = add(rx, v.ax);
        ty = add(ry, v.ay);
        reach = mul(add(r0, mul(half_rk, add(td, d))), widen);
        fx0 = mul(sub(sub(tx, reach), x0), per_cell);
        fy0 = mul(sub(sub(ty, reach), y0), per_cell);
        fx1 = mul(sub(add(tx, reach), x0), per_cell);
        fy1 = mul(sub(add(ty, reach), y0), per_cell);
        in = _mm512_cmp_ps_mask(fx1, zero, _CMP_GE_OQ)
            & _mm512_cmp_ps_mask(fy1, zero, _CMP_GE_OQ)
            & _mm512_cmp_ps_mask(fx0, gw, _CMP_LT_OQ)
            & _mm512_cmp_ps_mask(fy0, gh, _CMP_LT_OQ);
        cx0 = _mm512_mask_cvttps_epi32(_mm512_setzero_si512(),
            _mm512_cmp_ps_mask(fx0, zero, _CMP_GT_OQ), fx0);
        cy0 = _mm512_mask_cvttps_epi32(_mm512_setzero_si512(),
            _mm512_cmp_ps_mask(fy0, zero, _CMP_GT_OQ), fy0);
        cx1 = _mm512_mask_cvttps_epi32(last_col,
            _mm512_cmp_ps_mask(fx1, gw_1, _CMP_LT_OQ), fx1);
        cy1 = _mm512_mask_cvttps_epi32(last_row,
            _mm512_cmp_ps_mask(fy1, gh_1, _CMP_LT_OQ), fy1);

        _mm512_mask_storeu_ps(wk->tx + i, k, tx);
        _mm512_mask_storeu_ps(wk->ty + i, k, ty);
        _mm512_mask_storeu_ps(wk->tc + i, k, dc);
        _mm512_mask_storeu_ps(wk->ts + i, k, ds);
        _mm512_mask_storeu_ps(wk->half_b + i, k, add(r0, mul(half_rk, d)));
        _mm512_mask_storeu_ps(wk->reach + i, k, reach);
        _mm512_mask_storeu_ps(wk->min2 + i, k,
            mul(cos2_ta, add(mul(dc, dc), mul(ds, ds))));
        /* Out of the grid: the empty run of cells from 0 to 0. */
        _mm512_mask_storeu_epi32(wk->cell_from + i, k,
            _mm512_maskz_add_epi32(in, _mm512_mullo_epi32(cy0, cols), cx0));
        _mm512_mask_storeu_epi32(wk->cell_to + i, k,
            _mm512_maskz_add_epi32(in, _mm512_mullo_epi32(cy1, cols),
                _mm512_add_epi32(cx1, one)));
        _mm512_mask_storeu_epi32(wk->col_from + i, k, cx0);
        _mm512_mask_storeu_epi32(wk->col_to + i, k, cx1);
    }
}

/* collect_cands() without keep_first: for each B minutia, the A minutiae
 * of its window's rows are one run of q from the first row's first cell
 * to the last row's last (cells are stored row by row), less those of
 * other columns: 16 at a time (one vector nearly always), the survivors
 * packed in q order, which is the scalar scan's order.  Returns
 * ALIGN_CANDS_MAX once the list would overflow (the caller then scans
 * again keeping the first, as after the scalar pass). */
static inline __attribute__((always_inline)) ALIGN_AVX512 int
collect_cands_avx512_as(const struct align_grid *g, const float *bx,
    const float *by, const float *bc, const float *bs, int nb,
    struct align_work *wk, int rigid)
{
    const __m512i  lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                       10, 11, 12, 13, 14, 15);
    /* dn of lanes 0-7 (then 8-15) each followed by its (i, j) word: the
     * layout of struct align_cand. */
    const __m512i  first8 = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19,
                       4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i  last8 = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27,
                       12, 28, 13, 29, 14, 30, 15, 31);
    const __m512   zero = _mm512_setzero_ps();
    int            j, n = 0;

    for (j = 0; j < nb; j++) {
        float    reach = wk->reach[j];
        int      q = g->start[wk->cell_from[j]];
        int      end = g->start[wk->cell_to[j]];
        __m512   tx, ty, dc, ds, reach2, min2, half_b, ubx, uby, ubc, ubs;
        __m128i  cx0, cx1;
        __m512i  jw;

        if (q >= end) {
            continue;
        }
        cx0 = _mm_set1_epi8((char) wk->col_from[j]);
        cx1 = _mm_set1_epi8((char) wk->col_to[j]);
        tx = _mm512_set1_ps(wk->tx[j]);
        ty = _mm512_set1_ps(wk->ty[j]);
        dc = _mm512_set1_ps(wk->tc[j]);
        ds = _mm512_set1_ps(wk->ts[j]);
        reach2 = _mm512_set1_ps(reach * reach);
        min2 = _mm512_set1_ps(wk->min2[j]);
        half_b = _mm512_set1_ps(wk->half_b[j]);
        ubx = _mm512_set1_ps(bx[j]);
        uby = _mm512_set1_ps(by[j]);
        ubc = _mm512_set1_ps(bc[j]);
        ubs = _mm512_set1_ps(bs[j]);
        jw = _mm512_set1_epi32(j << 8);
        for (; q < end; q += 16) {
            __mmask16  k = lanes_upto(q, end);
            __m128i    col = _mm_maskz_loadu_epi8(k, g->col + q);
            __m512     dx, dy, d2, dot, r, rr, dn;
            __m512i    ij, v;
            __mmask8   lo, hi;

            k = _mm_mask_cmp_epu8_mask(k, col, cx0, _MM_CMPINT_NLT);
            k = _mm_mask_cmp_epu8_mask(k, col, cx1, _MM_CMPINT_LE);
            dx = sub(load_ps(k, g->x + q), tx);
            dy = sub(load_ps(k, g->y + q), ty);
            d2 = add(mul(dx, dx), mul(dy, dy));
            dot = add(mul(load_ps(k, g->c + q), dc),
                mul(load_ps(k, g->s + q), ds));
            k = _mm512_mask_cmp_ps_mask(k, d2, reach2, _CMP_NGT_UQ);
            k = _mm512_mask_cmp_ps_mask(k, dot, zero, _CMP_NLE_UQ);
            k = _mm512_mask_cmp_ps_mask(k, mul(dot, dot), min2,
                _CMP_NLT_UQ);
            if (!rigid) {
                __m512  udot = add(mul(ubc, load_ps(k, wk->uc + q)),
                            mul(ubs, load_ps(k, wk->us + q)));
                __m512  ex = sub(load_ps(k, wk->ux + q), ubx);
                __m512  ey = sub(load_ps(k, wk->uy + q), uby);

                k = _mm512_mask_cmp_ps_mask(k, udot, zero, _CMP_NLE_UQ);
                k = _mm512_mask_cmp_ps_mask(k, mul(udot, udot),
                    load_ps(k, wk->umin2 + q), _CMP_NLT_UQ);
                /* d2 > e2 ? d2 : e2, as VMAXPS is defined */
                d2 = _mm512_max_ps(d2, add(mul(ex, ex), mul(ey, ey)));
            }
            r = add(half_b, load_ps(k, wk->part_a + q));
            rr = mul(r, r);
            k = _mm512_mask_cmp_ps_mask(k, d2, rr, _CMP_NGT_UQ);
            if (n + __builtin_popcount(k) > ALIGN_CANDS_MAX) {
                return ALIGN_CANDS_MAX;
            }
            dn = _mm512_maskz_div_ps(k, d2, rr);
            ij = _mm512_or_si512(_mm512_add_epi32(_mm512_set1_epi32(q),
                lane), jw);
            lo = (__mmask8) k;
            hi = (__mmask8) (k >> 8);
            v = _mm512_maskz_compress_epi64(lo, _mm512_permutex2var_epi32(
                _mm512_castps_si512(dn), first8, ij));
            /* compressed in a register, then stored: a compressing store
             * is microcoded and slow on AMD's Zen 4 */
            _mm512_mask_storeu_epi64(wk->cands + n,
                (__mmask8) ((1u << __builtin_popcount(lo)) - 1), v);
            n += __builtin_popcount(lo);
            v = _mm512_maskz_compress_epi64(hi, _mm512_permutex2var_epi32(
                _mm512_castps_si512(dn), last8, ij));
            _mm512_mask_storeu_epi64(wk->cands + n,
                (__mmask8) ((1u << __builtin_popcount(hi)) - 1), v);
            n += __builtin_popcount(hi);
        }
    }
    return n;
}

static ALIGN_AVX512 int
collect_cands_avx512(const struct align_grid *g, const float *bx,
    const float *by, const float *bc, const float *bs, int nb,
    const struct xform *t, struct align_work *wk)
{
    return t->rigid ? collect_cands_avx512_as(g, bx, by, bc, bs, nb, wk, 1)
        : collect_cands_avx512_as(g, bx, by, bc, bs, nb, wk, 0);
}

#endif /* ALIGN_HAVE_AVX512 */

#ifdef ALIGN_HAVE_AVX2

/* The AVX2 pairing: place(), collect_cands() (first pass) and overlap()
 * 8 minutiae at a time, for CPUs without AVX-512 (AMD Zen 2 and 3, Intel
 * E-cores).  As in the AVX-512 form: the scalar code's operations in its
 * order (no FMA), its comparisons negated as written, the candidates in
 * its order.  Lanes are selected by all-ones masks from compares, and
 * packed through compress_lut[] (AVX2 has no compress instruction).  The
 * arrays hold HM_MAX_MINUTIAE (255) entries, no multiple of 8: the last
 * vector of a run is loaded masked and stored through a copy. */
#define ALIGN_AVX2  __attribute__((target("avx2")))

_Static_assert(sizeof(struct align_cand) == 8
    && offsetof(struct align_cand, i) == 4
    && offsetof(struct align_cand, j) == 5,
    "collect_cands_avx2() stores candidates as pairs of 32-bit words");

/* All ones in the lanes of i..end-1 among the 8 from i. */
static inline __attribute__((always_inline)) ALIGN_AVX2 __m256i
lanes8_upto(int i, int end)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(end - i),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* p[i..i+7], zero from end on (never read past it). */
static inline __attribute__((always_inline)) ALIGN_AVX2 __m256
load8(const float *p, int i, int end)
{
    return end - i >= 8 ? _mm256_loadu_ps(p + i)
        : _mm256_maskload_ps(p + i, lanes8_upto(i, end));
}

/* v into p[i..end-1], at most 8 (never written past end). */
static inline __attribute__((always_inline)) ALIGN_AVX2 void
store8(float *p, int i, int end, __m256 v)
{
    float  lanes[8];

    if (end - i >= 8) {
        _mm256_storeu_ps(p + i, v);
        return;
    }
    _mm256_storeu_ps(lanes, v);
    memcpy(p + i, lanes, sizeof(float) * (size_t) (end - i));
}

static inline __attribute__((always_inline)) ALIGN_AVX2 void
store8i(int32_t *p, int i, int end, __m256i v)
{
    int32_t  lanes[8];

    if (end - i >= 8) {
        _mm256_storeu_si256((__m256i *) (p + i), v);
        return;
    }
    _mm256_storeu_si256((__m256i *) lanes, v);
    memcpy(p + i, lanes, sizeof(int32_t) * (size_t) (end - i));
}

static inline __attribute__((always_inline)) ALIGN_AVX2 __m256
mul8(__m256 a, __m256 b)
{
    return _mm256_mul_ps(a, b);
}

static inline __attribute__((always_inline)) ALIGN_AVX2 __m256
add8(__m256 a, __m256 b)
{
    return _mm256_add_ps(a, b);
}

static inline __attribute__((always_inline)) ALIGN_AVX2 __m256
sub8(__m256 a, __m256 b)
{
    return _mm256_sub_ps(a, b);
}

/* The lanes where a, predicate, b holds, as all ones. */
#define CMP8(a, b, predicate)  _mm256_cmp_ps((a), (b), (predicate))

/* A transform with each of its numbers in all 8 lanes. */
struct xform8 {
    __m256  m00, m01, m10, m11, bx, by, ax, ay;
};

static inline __attribute__((always_inline)) ALIGN_AVX2 struct xform8
broadcast8(const struct xform *t)
{
    struct xform8  v;

    v.m00 = _mm256_set1_ps(t->m[0][0]);
    v.m01 = _mm256_set1_ps(t->m[0][1]);
    v.m10 = _mm256_set1_ps(t->m[1][0]);
    v.m11 = _mm256_set1_ps(t->m[1][1]);
    v.bx = _mm256_set1_ps(t->bx);
    v.by = _mm256_set1_ps(t->by);
    v.ax = _mm256_set1_ps(t->ax);
    v.ay = _mm256_set1_ps(t->ay);
    return v;
}

/* The linear part of v on (x, y), m (x, y), as the scalar code has it. */
static inline __attribute__((always_inline)) ALIGN_AVX2 void
turn8(const struct xform8 *v, __m256 x, __m256 y, __m256 *rx, __m256 *ry)
{
    *rx = add8(mul8(v->m00, x), mul8(v->m01, y));
    *ry = add8(mul8(v->m10, x), mul8(v->m11, y));
}

/* v on the points (x, y): m (x - b) + a. */
static inline __attribute__((always_inline)) ALIGN_AVX2 void
apply8(const struct xform8 *v, __m256 x, __m256 y, __m256 *tx, __m256 *ty)
{
    turn8(v, sub8(x, v->bx), sub8(y, v->by), tx, ty);
    *tx = add8(*tx, v->ax);
    *ty = add8(*ty, v->ay);
}

/* The lanes of k whose (x, y) lies in [lox, hix] x [loy, hiy]. */
static inline __attribute__((always_inline)) ALIGN_AVX2 __m256
in_box8(__m256 k, __m256 x, __m256 y, __m256 lox, __m256 hix, __m256 loy,
    __m256 hiy)
{
    k = _mm256_and_ps(k, CMP8(x, lox, _CMP_GE_OQ));
    k = _mm256_and_ps(k, CMP8(x, hix, _CMP_LE_OQ));
    k = _mm256_and_ps(k, CMP8(y, loy, _CMP_GE_OQ));
    return _mm256_and_ps(k, CMP8(y, hiy, _CMP_LE_OQ));
}

/* place(), A's part of each tolerance and each B minutia's window of
 * grid cells, as place_avx512() has them. */
static ALIGN_AVX2 void
place_avx2(const struct align_grid *g, const float *bx, const float *by,
    const float *bc, const float *bs, int nb, const struct xform *t,
    const struct xform *ti, struct align_work *wk)
{
    const __m256   cos2_ta = _mm256_set1_ps(COS_TA * COS_TA);
    const __m256   half_rk = _mm256_set1_ps(0.5f * RK);
    const __m256   r0 = _mm256_set1_ps(R0);
    const __m256   widen = _mm256_set1_ps(1.0f / (1.0f - 0.5f * RK));
    const __m256   zero = _mm256_setzero_ps();
    const __m256   x0 = _mm256_set1_ps(g->x0), y0 = _mm256_set1_ps(g->y0);
    const __m256   per_cell = _mm256_set1_ps(1.0f / ALIGN_GRID_CELL);
    const __m256   gw = _mm256_set1_ps((float) g->gw);
    const __m256   gh = _mm256_set1_ps((float) g->gh);
    const __m256   gw_1 = _mm256_set1_ps((float) (g->gw - 1));
    const __m256   gh_1 = _mm256_set1_ps((float) (g->gh - 1));
    const __m256i  last_col = _mm256_set1_epi32(g->gw - 1);
    const __m256i  last_row = _mm256_set1_epi32(g->gh - 1);
    const __m256i  cols = _mm256_set1_epi32(g->gw);
    const __m256i  one = _mm256_set1_epi32(1);
    struct xform8  v;
    __m256         ax, ay;
    int            i, na = g->n;

    if (!t->rigid) {
        v = broadcast8(ti);
        for (i = 0; i < na; i += 8) {
            __m256  ux, uy, dc, ds;

            apply8(&v, load8(g->x, i, na), load8(g->y, i, na), &ux, &uy);
            turn8(&v, load8(g->c, i, na), load8(g->s, i, na), &dc, &ds);
            store8(wk->ux, i, na, ux);
            store8(wk->uy, i, na, uy);
            store8(wk->uc, i, na, dc);
            store8(wk->us, i, na, ds);
            store8(wk->umin2, i, na,
                mul8(cos2_ta, add8(mul8(dc, dc), mul8(ds, ds))));
        }
    }
    ax = _mm256_set1_ps(t->ax);
    ay = _mm256_set1_ps(t->ay);
    for (i = 0; i < na; i += 8) {
        __m256  ex = sub8(load8(g->x, i, na), ax);
        __m256  ey = sub8(load8(g->y, i, na), ay);

        store8(wk->part_a, i, na,
            mul8(half_rk, _mm256_sqrt_ps(add8(mul8(ex, ex), mul8(ey, ey)))));
    }
    v = broadcast8(t);
    for (i = 0; i < nb; i += 8) {
        __m256   x = sub8(load8(bx, i, nb), v.bx);
        __m256   y = sub8(load8(by, i, nb), v.by);
        __m256   dc, ds, rx, ry, d, td, tx, ty, reach;
        __m256   fx0, fy0, fx1, fy1;
        __m256i  in, cx0, cy0, cx1, cy1;

        turn8(&v, load8(bc, i, nb), load8(bs, i, nb), &dc, &ds);
        turn8(&v, x, y, &rx, &ry);
        d = _mm256_sqrt_ps(add8(mul8(x, x), mul8(y, y)));
        td = t->rigid ? d : _mm256_sqrt_ps(add8(mul8(rx, rx), mul8(ry, ry)));
        tx = add8(rx, v.ax);
        ty = add8(ry, v.ay);
        reach = mul8(add8(r0, mul8(half_rk, add8(td, d))), widen);
        fx0 = mul8(sub8(sub8(tx, reach), x0), per_cell);
        fy0 = mul8(sub8(sub8(ty, reach), y0), per_cell);
        fx1 = mul8(sub8(add8(tx, reach), x0), per_cell);
        fy1 = mul8(sub8(add8(ty, reach), y0), per_cell);
        in = _mm256_castps_si256(_mm256_and_ps(
            _mm256_and_ps(CMP8(fx1, zero, _CMP_GE_OQ),
                CMP8(fy1, zero, _CMP_GE_OQ)),
            _mm256_and_ps(CMP8(fx0, gw, _CMP_LT_OQ),
                CMP8(fy0, gh, _CMP_LT_OQ))));
        cx0 = _mm256_and_si256(_mm256_cvttps_epi32(fx0),
            _mm256_castps_si256(CMP8(fx0, zero, _CMP_GT_OQ)));
        cy0 = _mm256_and_si256(_mm256_cvttps_epi32(fy0),
            _mm256_castps_si256(CMP8(fy0, zero, _CMP_GT_OQ)));
        cx1 = _mm256_blendv_epi8(last_col, _mm256_cvttps_epi32(fx1),
            _mm256_castps_si256(CMP8(fx1, gw_1, _CMP_LT_OQ)));
        cy1 = _mm256_blendv_epi8(last_row, _mm256_cvttps_epi32(fy1),
            _mm256_castps_si256(CMP8(fy1, gh_1, _CMP_LT_OQ)));

        store8(wk->tx, i, nb, tx);
        store8(wk->ty, i, nb, ty);
        store8(wk->tc, i, nb, dc);
        store8(wk->ts, i, nb, ds);
        store8(wk->half_b, i, nb, add8(r0, mul8(half_rk, d)));
        store8(wk->reach, i, nb, reach);
        store8(wk->min2, i, nb,
            mul8(cos2_ta, add8(mul8(dc, dc), mul8(ds, ds))));
        /* Out of the grid: the empty run of cells from 0 to 0. */
        store8i(wk->cell_from, i, nb, _mm256_and_si256(in,
            _mm256_add_epi32(_mm256_mullo_epi32(cy0, cols), cx0)));
        store8i(wk->cell_to, i, nb, _mm256_and_si256(in,
            _mm256_add_epi32(_mm256_mullo_epi32(cy1, cols),
                _mm256_add_epi32(cx1, one))));
        store8i(wk->col_from, i, nb, cx0);
        store8i(wk->col_to, i, nb, cx1);
    }
}

/* compress_lut[m]: the lanes set in the 8-bit mask m, in order, one per
 * byte (the rest 0): the permutation that packs a vector's survivors. */
static uint64_t  compress_lut[256];

static void
compress_lut_init(void)
{
    int  m, lane, n;

    for (m = 0; m < 256; m++) {
        compress_lut[m] = 0;
        for (lane = 0, n = 0; lane < 8; lane++) {
            if (m & (1 << lane)) {
                compress_lut[m] |= (uint64_t) lane << (8 * n++);
            }
        }
    }
}

/* The grid column bytes g->col[q..q+7] as 8 integers (0 from na on). */
static inline __attribute__((always_inline)) ALIGN_AVX2 __m256i
load_cols8(const struct align_grid *g, int q, int na)
{
    uint64_t  bytes = 0;

    if (na - q >= 8) {
        memcpy(&bytes, g->col + q, 8);
    } else {
        memcpy(&bytes, g->col + q, (size_t) (na - q));
    }
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long) bytes));
}

/* collect_cands() without keep_first, as collect_cands_avx512_as() scans
 * (one run of q per B minutia, other columns masked off), 8 at a time. */
static inline __attribute__((always_inline)) ALIGN_AVX2 int
collect_cands_avx2_as(const struct align_grid *g, const float *bx,
    const float *by, const float *bc, const float *bs, int nb,
    struct align_work *wk, int rigid)
{
    const __m256i  lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256   zero = _mm256_setzero_ps();
    int            j, n = 0, na = g->n;

    for (j = 0; j < nb; j++) {
        float    reach = wk->reach[j];
        int      q = g->start[wk->cell_from[j]];
        int      end = g->start[wk->cell_to[j]];
        __m256   tx, ty, dc, ds, reach2, min2, half_b, ubx, uby, ubc, ubs;
        __m256i  cx0, cx1, jw;

        if (q >= end) {
            continue;
        }
        cx0 = _mm256_set1_epi32(wk->col_from[j]);
        cx1 = _mm256_set1_epi32(wk->col_to[j]);
        tx = _mm256_set1_ps(wk->tx[j]);
        ty = _mm256_set1_ps(wk->ty[j]);
        dc = _mm256_set1_ps(wk->tc[j]);
        ds = _mm256_set1_ps(wk->ts[j]);
        reach2 = _mm256_set1_ps(reach * reach);
        min2 = _mm256_set1_ps(wk->min2[j]);
        half_b = _mm256_set1_ps(wk->half_b[j]);
        ubx = _mm256_set1_ps(bx[j]);
        uby = _mm256_set1_ps(by[j]);
        ubc = _mm256_set1_ps(bc[j]);
        ubs = _mm256_set1_ps(bs[j]);
        jw = _mm256_set1_epi32(j << 8);
        for (; q < end; q += 8) {
            __m256i  col = load_cols8(g, q, na);
            __m256   k, dx, dy, d2, dot, r, rr, dn, lo, hi;
            __m256i  ij, perm;
            int      m, count;

            /* within the run, and cx0 <= col <= cx1 */
            k = _mm256_castsi256_ps(_mm256_andnot_si256(
                _mm256_or_si256(_mm256_cmpgt_epi32(cx0, col),
                    _mm256_cmpgt_epi32(col, cx1)),
                lanes8_upto(q, end)));
            dx = sub8(load8(g->x, q, na), tx);
            dy = sub8(load8(g->y, q, na), ty);
            d2 = add8(mul8(dx, dx), mul8(dy, dy));
            dot = add8(mul8(load8(g->c, q, na), dc),
                mul8(load8(g->s, q, na), ds));
            k = _mm256_and_ps(k, CMP8(d2, reach2, _CMP_NGT_UQ));
            k = _mm256_and_ps(k, CMP8(dot, zero, _CMP_NLE_UQ));
            k = _mm256_and_ps(k, CMP8(mul8(dot, dot), min2, _CMP_NLT_UQ));
            if (!rigid) {
                __m256  udot = add8(mul8(ubc, load8(wk->uc, q, na)),
                            mul8(ubs, load8(wk->us, q, na)));
                __m256  ex = sub8(load8(wk->ux, q, na), ubx);
                __m256  ey = sub8(load8(wk->uy, q, na), uby);

                k = _mm256_and_ps(k, CMP8(udot, zero, _CMP_NLE_UQ));
                k = _mm256_and_ps(k, CMP8(mul8(udot, udot),
                    load8(wk->umin2, q, na), _CMP_NLT_UQ));
                /* d2 > e2 ? d2 : e2, as VMAXPS is defined */
                d2 = _mm256_max_ps(d2, add8(mul8(ex, ex), mul8(ey, ey)));
            }
            r = add8(half_b, load8(wk->part_a, q, na));
            rr = mul8(r, r);
            k = _mm256_and_ps(k, CMP8(d2, rr, _CMP_NGT_UQ));
            m = _mm256_movemask_ps(k);
            count = __builtin_popcount((unsigned) m);
            if (n + count > ALIGN_CANDS_MAX) {
                return ALIGN_CANDS_MAX;
            }
            /* the survivors first, in lane order; then each dn followed
             * by its (i, j) word, the layout of struct align_cand */
            perm = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(
                (long long) compress_lut[m]));
            dn = _mm256_permutevar8x32_ps(_mm256_div_ps(d2, rr), perm);
            ij = _mm256_permutevar8x32_epi32(_mm256_or_si256(
                _mm256_add_epi32(_mm256_set1_epi32(q), lane), jw), perm);
            lo = _mm256_unpacklo_ps(dn, _mm256_castsi256_ps(ij));
            hi = _mm256_unpackhi_ps(dn, _mm256_castsi256_ps(ij));
            /* n + count <= ALIGN_CANDS_MAX: wk->cands has room for 8 */
            _mm256_storeu_ps((float *) (wk->cands + n),
                _mm256_permute2f128_ps(lo, hi, 0x20));
            _mm256_storeu_ps((float *) (wk->cands + n + 4),
                _mm256_permute2f128_ps(lo, hi, 0x31));
            n += count;
        }
    }
    return n;
}

static ALIGN_AVX2 int
collect_cands_avx2(const struct align_grid *g, const float *bx,
    const float *by, const float *bc, const float *bs, int nb,
    const struct xform *t, struct align_work *wk)
{
    return t->rigid ? collect_cands_avx2_as(g, bx, by, bc, bs, nb, wk, 1)
        : collect_cands_avx2_as(g, bx, by, bc, bs, nb, wk, 0);
}

/* overlap() 8 minutiae at a time; the boxes' minima and maxima per lane,
 * then across lanes (the same values in any order: min(x, m) keeps m
 * when x is NaN, as the scalar loop does). */
static ALIGN_AVX2 void
overlap_avx2(const struct align_grid *g, const float *bx, const float *by,
    int nb, const struct xform *best_t, struct align_result *res)
{
    __m256         minx = _mm256_set1_ps(1e30f);
    __m256         maxx = _mm256_set1_ps(-1e30f);
    __m256         miny = minx, maxy = maxx, lox, hix, loy, hiy;
    struct xform8  v = broadcast8(best_t);
    struct xform   t;
    float          lanes[4][8], lo_x, hi_x, lo_y, hi_y;
    int            i, oa = 0, ob = 0;

    lox = _mm256_set1_ps(g->minx - ALIGN_MARGIN);
    hix = _mm256_set1_ps(g->maxx + ALIGN_MARGIN);
    loy = _mm256_set1_ps(g->miny - ALIGN_MARGIN);
    hiy = _mm256_set1_ps(g->maxy + ALIGN_MARGIN);
    for (i = 0; i < nb; i += 8) {
        __m256  k = _mm256_castsi256_ps(lanes8_upto(i, nb));
        __m256  x = load8(bx, i, nb), y = load8(by, i, nb), tx, ty;

        apply8(&v, x, y, &tx, &ty);
        minx = _mm256_blendv_ps(minx, _mm256_min_ps(x, minx), k);
        maxx = _mm256_blendv_ps(maxx, _mm256_max_ps(x, maxx), k);
        miny = _mm256_blendv_ps(miny, _mm256_min_ps(y, miny), k);
        maxy = _mm256_blendv_ps(maxy, _mm256_max_ps(y, maxy), k);
        ob += __builtin_popcount((unsigned) _mm256_movemask_ps(
            in_box8(k, tx, ty, lox, hix, loy, hiy)));
    }
    if (invert(best_t, &t)) {
        _mm256_storeu_ps(lanes[0], minx);
        _mm256_storeu_ps(lanes[1], maxx);
        _mm256_storeu_ps(lanes[2], miny);
        _mm256_storeu_ps(lanes[3], maxy);
        lo_x = lanes[0][0];
        hi_x = lanes[1][0];
        lo_y = lanes[2][0];
        hi_y = lanes[3][0];
        for (i = 1; i < 8; i++) {
            lo_x = lanes[0][i] < lo_x ? lanes[0][i] : lo_x;
            hi_x = lanes[1][i] > hi_x ? lanes[1][i] : hi_x;
            lo_y = lanes[2][i] < lo_y ? lanes[2][i] : lo_y;
            hi_y = lanes[3][i] > hi_y ? lanes[3][i] : hi_y;
        }
        lox = _mm256_set1_ps(lo_x - ALIGN_MARGIN);
        hix = _mm256_set1_ps(hi_x + ALIGN_MARGIN);
        loy = _mm256_set1_ps(lo_y - ALIGN_MARGIN);
        hiy = _mm256_set1_ps(hi_y + ALIGN_MARGIN);
        v = broadcast8(&t);
        for (i = 0; i < g->n; i += 8) {
            __m256  k = _mm256_castsi256_ps(lanes8_upto(i, g->n));
            __m256  tx, ty;

            apply8(&v, load8(g->x, i, g->n), load8(g->y, i, g->n), &tx, &ty);
            oa += __builtin_popcount((unsigned) _mm256_movemask_ps(
                in_box8(k, tx, ty, lox, hix, loy, hiy)));
        }
    }
    res->overlap_a = oa;
    res->overlap_b = ob;
}

#endif /* ALIGN_HAVE_AVX2 */

/* pair_up()'s placements and first scan for candidates, on AVX-512 where
 * align_init() chose it. */
static int
place_and_collect(const struct align_grid *g, const float *bx,
    const float *by, const float *bc, const float *bs, int nb,
    const struct xform *t, const struct xform *ti, struct align_work *wk)
{
    int  heaped = 0;

#ifdef ALIGN_HAVE_AVX512
    if (align_isa.on == HM_ISA_AVX512) {
        place_avx512(g, bx, by, bc, bs, nb, t, ti, wk);
        return collect_cands_avx512(g, bx, by, bc, bs, nb, t, wk);
    }
#endif
#ifdef ALIGN_HAVE_AVX2
    if (align_isa.on == HM_ISA_AVX2) {
        place_avx2(g, bx, by, bc, bs, nb, t, ti, wk);
        return collect_cands_avx2(g, bx, by, bc, bs, nb, t, wk);
    }
#endif
    place(g, bx, by, bc, bs, nb, t, ti, wk);
    return collect_cands(g, bx, by, bc, bs, nb, t, wk, 0, &heaped);
}

/* Pairs under t, nearest (relative to the tolerance) first.  Every test
 * treats the prints alike, so that the pairs are the same whichever is A
 * (t then being the inverse): the tolerance grows with the pair's mean
 * distance from the placement's centre, each minutia's measured in its
 * own print; when t stretches, the distance is the larger of |t(b) - a|
 * in A's frame and |b - t^-1(a)| in B's, and the directions must agree in
 * both frames (a rotation gives the same figures both ways). */
static int
pair_up(const struct align_grid *g, const float *bx, const float *by,
    const float *bc, const float *bs, const uint8_t *bt, int nb,
    const struct xform *t, struct align_work *wk)
{
    uint8_t       used_a[HM_MAX_MINUTIAE], used_b[HM_MAX_MINUTIAE];
    struct xform  ti;
    int           i, n = 0, m = 0, ta, tb, heaped = 0;

    if (!t->rigid && !invert(t, &ti)) {
        wk->weighted = 0.0f;
        return 0;
    }
    /* A under t^-1 (if t stretches) and B under t.  reach[] bounds the
     * tolerance r of any pair of a B minutia: its A minutia lies within r
     * of t(b), so r = R0 + RK (d_a + d_b) / 2 <= (R0 + RK (|t(b) - a0| +
     * d_b) / 2) / (1 - RK / 2), a0 the centre in A. */
    n = place_and_collect(g, bx, by, bc, bs, nb, t, &ti, wk);
    if (n == ALIGN_CANDS_MAX) {
        n = collect_cands_keep_first(g, bx, by, bc, bs, nb, t, wk, &heaped);
    }
    /* Nearest first: counting sort on the relative distance in 32 steps,
     * then each step sorted by cand_before() (steps are short). */
    if (heaped) {
        cand_heapsort(wk->cands, wk->sorted, g, wk);
    } else {
        int  start[ORDER_STEPS + 1], k;

        memset(start, 0, sizeof(start));
        for (i = 0; i < n; i++) {
            wk->step[i] = (uint8_t) (wk->cands[i].dn * (ORDER_STEPS - 0.001f));
            start[wk->step[i] + 1]++;
        }
        for (i = 0; i < ORDER_STEPS; i++) {
            start[i + 1] += start[i];
        }
        for (i = 0; i < n; i++) {
            wk->sorted[start[wk->step[i]]++] = wk->cands[i];
        }
        /* Then by cand_before() (an element never passes one of a lower
         * step, whose dn is smaller): runs of a step are short. */
        for (i = 1; i < n; i++) {
            struct align_cand  v = wk->sorted[i];

            for (k = i - 1; k >= 0
                 && cand_before(&v, &wk->sorted[k], g, wk); k--)
            {
                wk->sorted[k + 1] = wk->sorted[k];
            }
            wk->sorted[k + 1] = v;
        }
    }
    wk->weighted = 0.0f;
    memset(used_a, 0, (size_t) g->n);
    memset(used_b, 0, (size_t) nb);
    for (i = 0; i < n; i++) {
        const struct align_cand  *c = &wk->sorted[i];

        if (used_a[c->i] || used_b[c->j]) {
            continue;
        }
        used_a[c->i] = used_b[c->j] = 1;
        wk->pair_a[m] = c->i;
        wk->pair_b[m] = c->j;
        m++;
        ta = g->type[c->i];
        tb = bt[c->j];
        wk->weighted += ta == tb || ta == HM_MINUTIA_OTHER
            || tb == HM_MINUTIA_OTHER ? 1.0f : TYPE_DIFF_W;
    }
    return m;
}

/* Refit on the pairs pair_up() left in wk.  Least squares of A on B (X)
 * and of B on A (Y^-1) differ, each putting the error on one side; their
 * geometric mean M = X (X^-1 Y)^(1/2) treats the prints alike: swapping
 * them gives M^-1 (exactly but for float rounding).  X^-1 Y is near the
 * identity; its principal square root is (Z + sqrt(det Z) I) /
 * sqrt(tr Z + 2 sqrt(det Z)). */
static void
refit(const struct align_grid *g, const float *bx, const float *by,
    const float *bc, const float *bs, int m, const struct align_work *wk,
    struct xform *t)
{
    float         ax[HM_MAX_MINUTIAE], ay[HM_MAX_MINUTIAE], ac[HM_MAX_MINUTIAE],
                  as[HM_MAX_MINUTIAE], qx[HM_MAX_MINUTIAE], qy[HM_MAX_MINUTIAE],
                  qc[HM_MAX_MINUTIAE], qs[HM_MAX_MINUTIAE], w[HM_MAX_MINUTIAE];
    struct xform  back, y, xi;
    int           i;

    for (i = 0; i < m; i++) {
        int  a = wk->pair_a[i], b = wk->pair_b[i];

        ax[i] = g->x[a];
        ay[i] = g->y[a];
        ac[i] = g->c[a];
        as[i] = g->s[a];
        qx[i] = bx[b];
        qy[i] = by[b];
        qc[i] = bc[b];
        qs[i] = bs[b];
        w[i] = 1.0f;
    }
    fit(ax, ay, ac, as, qx, qy, qc, qs, w, m, 1, t, &back);
    if (invert(&back, &y) && invert(t, &xi)) {
        float  z[2][2], det, sd, tr, root[2][2], r[2][2];

        for (i = 0; i < 2; i++) {
            z[i][0] = xi.m[i][0] * y.m[0][0] + xi.m[i][1] * y.m[1][0];
            z[i][1] = xi.m[i][0] * y.m[0][1] + xi.m[i][1] * y.m[1][1];
        }
        det = z[0][0] * z[1][1] - z[0][1] * z[1][0];
        if (!(det > 0.0f)) {
            return;
        }
        sd = sqrtf(det);
        tr = z[0][0] + z[1][1] + 2.0f * sd;
        if (!(tr > 0.0f)) {
            return;
        }
        tr = 1.0f / sqrtf(tr);
        root[0][0] = (z[0][0] + sd) * tr;
        root[0][1] = z[0][1] * tr;
        root[1][0] = z[1][0] * tr;
        root[1][1] = (z[1][1] + sd) * tr;
        for (i = 0; i < 2; i++) {
            r[i][0] = t->m[i][0] * root[0][0] + t->m[i][1] * root[1][0];
            r[i][1] = t->m[i][0] * root[0][1] + t->m[i][1] * root[1][1];
        }
        memcpy(t->m, r, sizeof(r));
        t->rigid = 0;
    }
}

#ifdef ALIGN_HAVE_AVX512

/* The overlap (below) 16 minutiae at a time.  The boxes' minima and
 * maxima are taken per lane, then across lanes: the same values in any
 * order (min(x, m) keeps m when x is NaN, as the scalar loop does). */
static ALIGN_AVX512 void
overlap_avx512(const struct align_grid *g, const float *bx, const float *by,
    int nb, const struct xform *best_t, struct align_result *res)
{
    __m512          minx = _mm512_set1_ps(1e30f);
    __m512          maxx = _mm512_set1_ps(-1e30f);
    __m512          miny = minx, maxy = maxx, lox, hix, loy, hiy;
    struct xform16  v = broadcast(best_t);
    struct xform    t;
    int             i, oa = 0, ob = 0;

    lox = _mm512_set1_ps(g->minx - ALIGN_MARGIN);
    hix = _mm512_set1_ps(g->maxx + ALIGN_MARGIN);
    loy = _mm512_set1_ps(g->miny - ALIGN_MARGIN);
    hiy = _mm512_set1_ps(g->maxy + ALIGN_MARGIN);
    for (i = 0; i < nb; i += 16) {
        __mmask16  k = lanes_upto(i, nb);
        __m512     x = load_ps(k, bx + i), y = load_ps(k, by + i), tx, ty;

        apply(&v, x, y, &tx, &ty);
        minx = _mm512_mask_min_ps(minx, k, x, minx);
        maxx = _mm512_mask_max_ps(maxx, k, x, maxx);
        miny = _mm512_mask_min_ps(miny, k, y, miny);
        maxy = _mm512_mask_max_ps(maxy, k, y, maxy);
        ob += __builtin_popcount(in_box(k, tx, ty, lox, hix, loy, hiy));
    }
    if (invert(best_t, &t)) {
        lox = _mm512_set1_ps(_mm512_reduce_min_ps(minx) - ALIGN_MARGIN);
        hix = _mm512_set1_ps(_mm512_reduce_max_ps(maxx) + ALIGN_MARGIN);
        loy = _mm512_set1_ps(_mm512_reduce_min_ps(miny) - ALIGN_MARGIN);
        hiy = _mm512_set1_ps(_mm512_reduce_max_ps(maxy) + ALIGN_MARGIN);
        v = broadcast(&t);
        for (i = 0; i < g->n; i += 16) {
            __mmask16  k = lanes_upto(i, g->n);
            __m512     tx, ty;

            apply(&v, load_ps(k, g->x + i), load_ps(k, g->y + i), &tx, &ty);
            oa += __builtin_popcount(in_box(k, tx, ty, lox, hix, loy, hiy));
        }
    }
    res->overlap_a = oa;
    res->overlap_b = ob;
}

#endif /* ALIGN_HAVE_AVX512 */

/* Overlap under the best placement t: the minutiae of each print that
 * fall inside the other's box, in the other's frame. */
static void
overlap(const struct align_grid *g, const float *bx, const float *by,
    int nb, const struct xform *best_t, struct align_result *res)
{
    struct xform  t;
    float         minx = 1e30f, maxx = -1e30f, miny = 1e30f, maxy = -1e30f;
    int           i, oa = 0, ob = 0;

#ifdef ALIGN_HAVE_AVX512
    if (align_isa.on == HM_ISA_AVX512) {
        overlap_avx512(g, bx, by, nb, best_t, res);
        return;
    }
#endif
#ifdef ALIGN_HAVE_AVX2
    if (align_isa.on == HM_ISA_AVX2) {
        overlap_avx2(g, bx, by, nb, best_t, res);
        return;
    }
#endif
    for (i = 0; i < nb; i++) {
        float  x = bx[i] - best_t->bx, y = by[i] - best_t->by;
        float  tx = best_t->m[0][0] * x + best_t->m[0][1] * y + best_t->ax;
        float  ty = best_t->m[1][0] * x + best_t->m[1][1] * y + best_t->ay;

        minx = bx[i] < minx ? bx[i] : minx;
        maxx = bx[i] > maxx ? bx[i] : maxx;
        miny = by[i] < miny ? by[i] : miny;
        maxy = by[i] > maxy ? by[i] : maxy;
        ob += tx >= g->minx - ALIGN_MARGIN && tx <= g->maxx + ALIGN_MARGIN
            && ty >= g->miny - ALIGN_MARGIN && ty <= g->maxy + ALIGN_MARGIN;
    }
    if (invert(best_t, &t)) {
        for (i = 0; i < g->n; i++) {
            float  x = g->x[i] - t.bx, y = g->y[i] - t.by;
            float  tx = t.m[0][0] * x + t.m[0][1] * y + t.ax;
            float  ty = t.m[1][0] * x + t.m[1][1] * y + t.ay;

            oa += tx >= minx - ALIGN_MARGIN && tx <= maxx + ALIGN_MARGIN
                && ty >= miny - ALIGN_MARGIN && ty <= maxy + ALIGN_MARGIN;
        }
    }
    res->overlap_a = oa;
    res->overlap_b = ob;
}

void
align_consolidate(const struct align_grid *g, const struct mcc_point *b,
    int nb, const struct mcc_point *pa, const struct mcc_point *pb,
    const float *w, int k, struct align_work *wk,
    struct align_result *res)
{
    float         bx[HM_MAX_MINUTIAE], by[HM_MAX_MINUTIAE],
                  bc[HM_MAX_MINUTIAE], bs[HM_MAX_MINUTIAE];
    float         kax[HM_MAX_MINUTIAE], kay[HM_MAX_MINUTIAE],
                  kac[HM_MAX_MINUTIAE], kas[HM_MAX_MINUTIAE],
                  kbx[HM_MAX_MINUTIAE], kby[HM_MAX_MINUTIAE],
                  kbc[HM_MAX_MINUTIAE], kbs[HM_MAX_MINUTIAE];
    struct xform  t, best_t;
    uint8_t       bt[HM_MAX_MINUTIAE];
    float         best_w;
    int           i, m, best;

    for (i = 0; i < nb; i++) {
        bt[i] = b[i].type;
        bx[i] = b[i].x;
        by[i] = b[i].y;
        bc[i] = unit_cos[b[i].angle_units];
        bs[i] = unit_sin[b[i].angle_units];
        wk->bkey[i] = point_key(&b[i]);
    }
    for (i = 0; i < k; i++) {
        kax[i] = pa[i].x;
        kay[i] = pa[i].y;
        kac[i] = unit_cos[pa[i].angle_units];
        kas[i] = unit_sin[pa[i].angle_units];
        kbx[i] = pb[i].x;
        kby[i] = pb[i].y;
        kbc[i] = unit_cos[pb[i].angle_units];
        kbs[i] = unit_sin[pb[i].angle_units];
    }
    /* Rigid fit on the k best local pairs, then an affine refit on the
     * minutiae it paired. */
    fit(kax, kay, kac, kas, kbx, kby, kbc, kbs, w, k, 0, &best_t, NULL);
    best = pair_up(g, bx, by, bc, bs, bt, nb, &best_t, wk);
    best_w = wk->weighted;
    if (best >= REFIT_MIN) {
        refit(g, bx, by, bc, bs, best, wk, &t);
        m = pair_up(g, bx, by, bc, bs, bt, nb, &t, wk);
        if (m > best) {
            best = m;
            best_t = t;
        }
        if (wk->weighted > best_w) {
            best_w += REFIT_GAIN_W * (wk->weighted - best_w);
        }
    }
    /* A placement that pairs no more minutiae than the anchors it was
     * fitted on means that the anchors disagree (one is a look-alike, and
     * the fit lies between them): each anchor alone then places the prints
     * (rigidly: the refit above adds nothing here).  FVC2004 DB2: EER
     * 5.72% -> 5.00%, FVC2004 DB1 14.65% -> 14.28%, no set worse. */
    for (i = 0; k > 1 && i < k && best <= k; i++) {
        float  one = 1.0f;

        fit(kax + i, kay + i, kac + i, kas + i, kbx + i, kby + i, kbc + i,
            kbs + i, &one, 1, 0, &t, NULL);
        m = pair_up(g, bx, by, bc, bs, bt, nb, &t, wk);
        if (m > best) {
            best = m;
            best_w = wk->weighted;
            best_t = t;
        }
    }
    res->weighted = best_w;

    overlap(g, bx, by, nb, &best_t, res);
    res->paired = best;
}
