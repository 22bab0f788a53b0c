/*
 * neighbours.c -- the K-nearest-neighbour local descriptor (see
 * neighbours.h): building its stored record, checking one, comparing two.
 */

#include <stdlib.h>

#include "neighbours.h"

/* Tolerances: distance NB_D0 + NB_DK x distance; direction to the
 * neighbour 20 degrees, its direction 22.5 degrees (2pi/256 units). */
#define NB_D0    4.0f
#define NB_DK    0.06f
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

static inline int
unit_diff(uint8_t a, uint8_t b)
{
    int  d = (int8_t) (uint8_t) (a - b);

    return d < 0 ? -d : d;
}

/* The neighbours of b (kb present) that fit a's neighbour ea within the
 * tolerances, as a bit mask; branch-free (the tests are unpredictable). */
#ifdef __SSE4_1__
#include <smmintrin.h>

struct nb_lanes {
    __m128i  d, p, e, present;
};

static inline void
lanes_load(const uint8_t *b, int kb, struct nb_lanes *l)
{
    uint8_t  d[16] = { 0 }, p[16] = { 0 }, e[16] = { 0 }, v[16] = { 0 };
    int      j;

    for (j = 0; j < NB_K; j++) {
        d[j] = b[3 * j];
        p[j] = b[3 * j + 1];
        e[j] = b[3 * j + 2];
        v[j] = j < kb ? 0xff : 0;
    }
    l->d = _mm_loadu_si128((const __m128i *) d);
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
fit_mask(const uint8_t *ea, const struct nb_lanes *l, int tol)
{
    __m128i  da = _mm_set1_epi8((char) ea[0]);
    __m128i  dd = _mm_sub_epi8(_mm_max_epu8(da, l->d), _mm_min_epu8(da, l->d));
    __m128i  dp = _mm_abs_epi8(_mm_sub_epi8(_mm_set1_epi8((char) ea[1]), l->p));
    __m128i  de = _mm_abs_epi8(_mm_sub_epi8(_mm_set1_epi8((char) ea[2]), l->e));
    __m128i  ok = _mm_and_si128(l->present,
        _mm_and_si128(le_u8(dd, _mm_set1_epi8((char) tol)),
            _mm_and_si128(le_u8(dp, _mm_set1_epi8(NB_TPHI)),
                le_u8(de, _mm_set1_epi8(NB_TDEL)))));

    return (unsigned) _mm_movemask_epi8(ok);
}
#else
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
fit_mask(const uint8_t *ea, const struct nb_lanes *l, int tol)
{
    unsigned  fit = 0;
    int       j;

    for (j = 0; j < l->kb; j++) {
        const uint8_t  *eb = l->b + 3 * j;
        int             dd = ea[0] - eb[0];
        int             dp = unit_diff(ea[1], eb[1]);
        int             de = unit_diff(ea[2], eb[2]);

        fit |= (unsigned) ((dd <= tol) & (dd >= -tol) & (dp <= NB_TPHI)
            & (de <= NB_TDEL)) << j;
    }
    return fit;
}
#endif

float
nb_similarity(const uint8_t *a, const uint8_t *b)
{
    struct nb_lanes  l;
    unsigned         used = 0;
    int              i, j, m = 0, ka = 0, kb = 0;

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
    for (i = 0; i < ka; i++) {
        const uint8_t  *ea = a + 3 * i;
        /* in 1/2 px: 2 (D0 + DK d) = 2 D0 + DK dq; distances are whole
         * half pixels, so the tolerance may be too */
        int             tol = (int) (2.0f * NB_D0 + NB_DK * (float) ea[0]);
        unsigned        fit = fit_mask(ea, &l, tol) & ~used;

        if (fit == 0) {
            continue;
        }
        j = __builtin_ctz(fit);
        if (fit & (fit - 1)) {
            /* Several fit: the closest, by the tolerance-scaled sum. */
            float     best = 4.0f;
            unsigned  f;

            for (f = fit; f != 0; f &= f - 1) {
                int    q = __builtin_ctz(f);
                float  cost = (float) abs(ea[0] - b[3 * q]) / (float) (tol + 1)
                    + (float) unit_diff(ea[1], b[3 * q + 1]) * (1.0f / NB_TPHI)
                    + (float) unit_diff(ea[2], b[3 * q + 2]) * (1.0f / NB_TDEL);

                if (cost < best) {
                    best = cost;
                    j = q;
                }
            }
        }
        used |= 1u << j;
        m++;
    }
    return (float) m / sqrtf((float) (ka * kb));
}
