/*
 * isa.c -- the choice of instruction-set path for the matcher's kernels
 * (isa.h), and the paths' names.
 */

#include <stdlib.h>
#include <string.h>

#include "isa.h"

static int
highest_at_most(const struct hm_isa_choice *c, int level)
{
    while (level > HM_ISA_SCALAR && !c->usable(level)) {
        level--;
    }
    return level;
}

void
hm_isa_choose(struct hm_isa_choice *c, int (*usable)(int level),
    const char *env_var)
{
    const char  *cap = getenv(env_var);
    int          level = HM_ISA_AVX512;

#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
#endif
    c->usable = usable;
    c->best = highest_at_most(c, HM_ISA_AVX512);
    if (cap != NULL && strcmp(cap, "scalar") == 0) {
        level = HM_ISA_SCALAR;
    } else if (cap != NULL && strcmp(cap, "avx2") == 0) {
        level = HM_ISA_AVX2;
    }
    c->on = highest_at_most(c, level);
}

int
hm_isa_set(struct hm_isa_choice *c, int level)
{
    if (level >= 0) {
        c->on = highest_at_most(c, level < c->best ? level : c->best);
    }
    return c->on;
}

const char *
mcc_isa_name(int level)
{
    switch (level) {
    case HM_ISA_AVX2:
        return "AVX2";
    case HM_ISA_AVX512:
        return "AVX-512";
    default:
        return "scalar";
    }
}
