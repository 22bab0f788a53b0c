/*
 * neighbours.c -- the K-nearest-neighbour local descriptor (see
 * neighbours.h): building its stored record, checking one, comparing two.
 */

#include <stdlib.h>

#include "neighbours.h"

/* Tolerances: distance 4 px + 0.06 x distance (at the mean of the two
 * distances: in 1/2 px units, 100 |da - db| <= NB_TOL_BASE + NB_TOL_SLOPE
 * (da + db)); direction to the neighbour 20 degrees, its direction 22.5
 * degrees (2pi/256 units). */
#define NB_TOL_BASE   800
#define NB_TOL_SLOPE  3
#define NB_TPHI  14
#define NB_TDEL  16

void
nb_encode(const struct mcc_point *pts, int n, int self, uint8_t *out)
{
    const struct mcc_point  *c = &pts[self];
    float                    bd[NB_K];
    int                      bi[NB_K], k = 0, i, j;
    float                    worst = (NB_DMAX_Q / 2.0f) * (NB_DMAX_Q / 2.0f);

    for (i = 0; i < n; i++) {
        float  dx = pts[i].x - c->x, dy = pts[i].y - c->y;
        float  v = dx * dx + dy * dy;

        /* 1/2 px rounds to 1 at least: twins of the centre are left out */
        if (i == self || v > worst || v < 0.0625f) {
            continue;
        }
        j = k < NB_K ? k++ : NB_K - 1;
        while (j > 0 && bd[j - 1] > v) {
            bd[j] = bd[j - 1];
            bi[j] = bi[j - 1];
            j--;
        }
        bd[j] = v;
        bi[j] = i;
        if (k == NB_K) {
            worst = bd[NB_K - 1];
        }
    }
    for (j = 0; j < NB_K; j++) {
        uint8_t  *e = out + 3 * j;

        if (j >= k) {
            e[0] = NB_ABSENT;
            e[1] = e[2] = 0;
            continue;
        }
        {
            const struct mcc_point  *q = &pts[bi[j]];
            double  a = atan2(q->y - c->y, q->x - c->x) - c->angle;
            long    d = lround(2.0 * sqrt(bd[j]));

            e[0] = (uint8_t) (d < 1 ? 1 : d > NB_DMAX_Q ? NB_DMAX_Q : d);
            e[1] = (uint8_t) (lround(a * (256.0 / (2.0 * M_PI))) & 255);
            e[2] = (uint8_t) (q->angle_units - c->angle_units);
        }
    }
}

int
nb_check(const uint8_t *rec)
{
    int  j, last = 0, absent = 0;

    for (j = 0; j < NB_K; j++) {
        const uint8_t  *e = rec + 3 * j;

        if (e[0] == NB_ABSENT) {
            if (e[1] != 0 || e[2] != 0) {
                return -1;
            }
            absent = 1;
            continue;
        }
        if (absent || e[0] == 0 || e[0] > NB_DMAX_Q || e[0] < last) {
            return -1;
        }
        last = e[0];
    }
    return 0;
}

/* The neighbours of b (kb present) that fit a's neighbour ea within the
 * tolerances, as a bit mask; branch-free (the tests are unpredictable).
 * The distance tolerance is taken at the two distances' mean, the same
 * from either side. */
#ifdef __SSE4_1__
#include <smmintrin.h>

struct nb_lanes {
    __m128i  d16, p, e, present;
};

static inline void
lanes_load(const uint8_t *b, int kb, struct nb_lanes *l)
{
    uint8_t  p[16] = { 0 }, e[16] = { 0 }, v[16] = { 0 };
    uint16_t d[8] = { 0 };
    int      j;

    for (j = 0; j < NB_K; j++) {
        d[j] = b[3 * j];
        p[j] = b[3 * j + 1];
        e[j] = b[3 * j + 2];
        v[j] = j < kb ? 0xff : 0;
    }
    l->d16 = _mm_loadu_si128((const __m128i *) d);
    l->p = _mm_loadu_si128((const __m128i *) p);
    l->e = _mm_loadu_si128((const __m128i *) e);
    l->present = _mm_loadu_si128((const __m128i *) v);
}

/* x <= t, unsigned bytes */
static inline __m128i
le_u8(__m128i x, __m128i t)
{
    return _mm_cmpeq_epi8(_mm_min_epu8(x, t), x);
}

static inline unsigned
fit_mask(const uint8_t *ea, const struct nb_lanes *l)
{
    __m128i  da = _mm_set1_epi16((short) ea[0]);
    __m128i  dd = _mm_mullo_epi16(_mm_abs_epi16(_mm_sub_epi16(da, l->d16)),
        _mm_set1_epi16(100));
    __m128i  tol = _mm_add_epi16(_mm_set1_epi16(NB_TOL_BASE),
        _mm_mullo_epi16(_mm_add_epi16(da, l->d16), _mm_set1_epi16(NB_TOL_SLOPE)));
    __m128i  far = _mm_cmpgt_epi16(dd, tol);
    __m128i  near = _mm_andnot_si128(_mm_packs_epi16(far, far),
        _mm_set1_epi8(-1));
    __m128i  dp = _mm_abs_epi8(_mm_sub_epi8(_mm_set1_epi8((char) ea[1]), l->p));
    __m128i  de = _mm_abs_epi8(_mm_sub_epi8(_mm_set1_epi8((char) ea[2]), l->e));
    __m128i  ok = _mm_and_si128(l->present, _mm_and_si128(near,
            _mm_and_si128(le_u8(dp, _mm_set1_epi8(NB_TPHI)),
                le_u8(de, _mm_set1_epi8(NB_TDEL)))));

    return (unsigned) _mm_movemask_epi8(ok) & ((1u << NB_K) - 1);
}
#else
static inline int
unit_diff(uint8_t a, uint8_t b)
{
    int  d = (int8_t) (uint8_t) (a - b);

    return d < 0 ? -d : d;
}

struct nb_lanes {
    const uint8_t  *b;
    int             kb;
};

static inline void
lanes_load(const uint8_t *b, int kb, struct nb_lanes *l)
{
    l->b = b;
    l->kb = kb;
}

static inline unsigned
fit_mask(const uint8_t *ea, const struct nb_lanes *l)
{
    unsigned  fit = 0;
    int       j;

    for (j = 0; j < l->kb; j++) {
        const uint8_t  *eb = l->b + 3 * j;
        int             dd = ea[0] - eb[0];
        int             dp = unit_diff(ea[1], eb[1]);
        int             de = unit_diff(ea[2], eb[2]);

        fit |= (unsigned) ((100 * abs(dd) <= NB_TOL_BASE + NB_TOL_SLOPE * (ea[0] + eb[0]))
            & (dp <= NB_TPHI) & (de <= NB_TDEL)) << j;
    }
    return fit;
}
#endif

/* Kuhn's augmenting path from a's neighbour i over the fit masks. */
static int
augment(const unsigned *fit, int i, unsigned *seen, int *owner)
{
    unsigned  f;

    for (f = fit[i] & ~*seen; f != 0; f &= f - 1) {
        int  j = __builtin_ctz(f);

        *seen |= 1u << j;
        if (owner[j] < 0 || augment(fit, owner[j], seen, owner)) {
            owner[j] = i;
            return 1;
        }
    }
    return 0;
}

/* m = the most neighbours that can be paired one to one (a maximum
 * matching, the same count from either side). */
float
nb_similarity(const uint8_t *a, const uint8_t *b)
{
    struct nb_lanes  l;
    unsigned         fit[NB_K], seen;
    int              owner[NB_K];
    int              i, m = 0, ka = 0, kb = 0;

    while (ka < NB_K && a[3 * ka] != NB_ABSENT) {
        ka++;
    }
    while (kb < NB_K && b[3 * kb] != NB_ABSENT) {
        kb++;
    }
    if (ka == 0 || kb == 0) {
        return 0.0f;
    }
    lanes_load(b, kb, &l);
    for (i = 0; i < NB_K; i++) {
        owner[i] = -1;
    }
    for (i = 0; i < ka; i++) {
        fit[i] = fit_mask(a + 3 * i, &l);
    }
    for (i = 0; i < ka; i++) {
        seen = 0;
        m += augment(fit, i, &seen, owner);
    }
    return (float) m / sqrtf((float) (ka * kb));
}
