/* Run-time CPU feature detection and selection of the kernels' SIMD level. */
#include "internal.h"

#include <string.h>

#if defined(WSF_X86_64)
#if defined(_MSC_VER)
#include <intrin.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    int regs[4];
    __cpuidex(regs, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)regs[i];
}
static unsigned long long xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

/* The CPU must have the instructions and the OS must save the registers they use (XCR0). */
static wsf_simd_level detect_x86(void) {
    unsigned r[4];
    cpuid(0, 0, r);
    unsigned max_leaf = r[0];
    cpuid(1, 0, r);
    int osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (!(osxsave && avx) || max_leaf < 7) return WSF_SIMD_SSE2; /* SSE2 is part of x86-64 */
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return WSF_SIMD_SSE2; /* XMM and YMM state */
    cpuid(7, 0, r);
    int avx2 = (r[1] >> 5) & 1, avx512f = (r[1] >> 16) & 1, avx512bw = (r[1] >> 30) & 1;
    if (avx512f && avx512bw && (xcr0 & 0xe6) == 0xe6) return WSF_SIMD_AVX512; /* + opmask, ZMM */
    if (avx2) return WSF_SIMD_AVX2;
    return WSF_SIMD_SSE2;
}
#endif

wsf_simd_level wsf_simd_detect(void) {
#if defined(WSF_X86_64)
    static int detected = -1;
    if (detected < 0) detected = (int)detect_x86();
    return (wsf_simd_level)detected;
#elif defined(WSF_ARM64)
    return WSF_SIMD_NEON; /* Advanced SIMD is mandatory on AArch64 */
#else
    return WSF_SIMD_SCALAR;
#endif
}

int wsf_simd_supported(wsf_simd_level level) {
    wsf_simd_level best = wsf_simd_detect();
    switch (level) {
    case WSF_SIMD_SCALAR: return 1;
    case WSF_SIMD_SSE2:
    case WSF_SIMD_AVX2:
    case WSF_SIMD_AVX512: return best != WSF_SIMD_NEON && best != WSF_SIMD_SCALAR && level <= best;
    case WSF_SIMD_NEON: return best == WSF_SIMD_NEON;
    }
    return 0;
}

static int current_level = -1;

int wsf_simd_select(wsf_simd_level level) {
    if (!wsf_simd_supported(level)) return -1;
    wsf__mask_select(level);
    wsf__utf8_select(level);
    current_level = (int)level;
    return 0;
}

void wsf__ensure_selected(void) {
    if (current_level < 0) wsf_simd_select(wsf_simd_detect());
}

wsf_simd_level wsf_simd_current(void) {
    wsf__ensure_selected();
    return (wsf_simd_level)current_level;
}

const char *wsf_simd_name(wsf_simd_level level) {
    static const char *const names[] = {"scalar", "sse2", "avx2", "avx512", "neon"};
    if ((unsigned)level >= sizeof names / sizeof names[0]) return NULL;
    return names[level];
}
