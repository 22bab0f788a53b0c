/*
 * isa.h -- which instruction-set path a matcher kernel takes.  Each kernel
 * family (compare.c's local step and compatibilities, align.c's pairing)
 * says which paths its build has and the CPU runs; the choice is made the
 * same way for all: the highest such path by default, an environment
 * variable (scalar, avx2) caps it for benchmarks, and tests switch it in
 * process.  Every path gives the scalar code's results to the last bit, so
 * the choice is one of speed only.  Also the small vector pieces several
 * kernels share.  Internal to the matcher.
 */

#ifndef HUELLA_ISA_H
#define HUELLA_ISA_H

#include "mcc.h"            /* enum hm_isa */

struct hm_isa_choice {
    int  (*usable)(int level);  /* the build has the path, the CPU runs it */
    int    best;                /* the highest usable path */
    int    on;                  /* the path in effect */
};

/* Fills c at start-up (call it once, e.g. under pthread_once): on is the
 * highest usable path that env_var, if set to scalar or avx2, allows. */
void hm_isa_choose(struct hm_isa_choice *c, int (*usable)(int level),
    const char *env_var);

/* The highest usable path at most level (level >= 0), made the one in
 * effect; -1 only asks.  Returns the path in effect. */
int hm_isa_set(struct hm_isa_choice *c, int level);

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* Byte-wise popcount: each byte of the result counts the bits of that
 * byte of v (a nibble table looked up twice; AVX2 has no popcount). */
__attribute__((target("avx2")))
static inline __m256i
hm_popcount_bytes_avx2(__m256i v)
{
    const __m256i  table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2,
        3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i  nibble = _mm256_set1_epi8(0x0f);

    return _mm256_add_epi8(
        _mm256_shuffle_epi8(table, _mm256_and_si256(v, nibble)),
        _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4),
            nibble)));
}
#endif

#endif /* HUELLA_ISA_H */
