/* Which vector kernels the prio code uses (Field64 transforms and gadgets,
 * field.c; PINE's wraparound checks, wr.c; Keccak-p, xof.c). Level 0 is
 * portable C; 1 is AVX-512 with DQ, BW, VL, VBMI and VNNI. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "prio/prio_internal.h"

static atomic_int simd_level = -1;

static int cpu_level(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int prio_simd(void)
{
    int level = atomic_load_explicit(&simd_level, memory_order_relaxed);
    if (level < 0) {
        const char *no = getenv("GDN_NO_SIMD");
        level = no && strcmp(no, "1") == 0 ? 0 : cpu_level();
        atomic_store_explicit(&simd_level, level, memory_order_relaxed);
    }
    return level;
}

int prio_set_simd(int level)
{
    int max = cpu_level();
    level = level < 0 ? 0 : level;
    atomic_store_explicit(&simd_level, level < max ? level : max, memory_order_relaxed);
    return prio_simd();
}
