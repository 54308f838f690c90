/* Which vector kernels the prio code uses (Field64 transforms and gadgets,
 * field.c; PINE's wraparound checks, wr.c; Keccak-p, xof.c). Level 0 is
 * portable C; 1 is AVX-512 with DQ, BW, VL, VBMI and VNNI. */
#include <stdatomic.h>

#include "guardian/core.h"
#include "prio/prio_internal.h"

static atomic_int simd_level = -1;

static int cpu_level(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int prio_simd(void) { return gdn_simd_get(&simd_level, cpu_level); }

int prio_set_simd(int level) { return gdn_simd_set(&simd_level, cpu_level, level); }
