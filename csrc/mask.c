/*
 * XOR masking of WebSocket payloads (RFC 6455 §5.3).
 *
 * Every variant XORs with a 64-byte pattern holding the key, rotated to the starting offset, sixteen
 * times over. The pattern is built byte by byte and loaded with the same byte-order as the data, so the
 * result does not depend on the machine's endianness. Vector loops consume multiples of 4 bytes, which
 * keeps the pattern aligned with the key for whatever follows them.
 */
#include "internal.h"

#include <string.h>

#if defined(WSF_X86_64)
#include <immintrin.h>
#endif
#if defined(WSF_ARM64)
#include <arm_neon.h>
#endif

typedef void (*mask_fn)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern);

/* Bytes left over after the vector loops. */
static void mask_bytes(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    for (size_t i = 0; i < len; i++) dst[i] = (uint8_t)(src[i] ^ pattern[i & 3]);
}

static void mask_scalar(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    uint64_t key;
    memcpy(&key, pattern, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, src + i, 8);
        word ^= key;
        memcpy(dst + i, &word, 8);
    }
    mask_bytes(dst + i, src + i, len - i, pattern);
}

#if defined(WSF_X86_64)
static void mask_sse2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    const __m128i key = _mm_loadu_si128((const __m128i *)pattern);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, key));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, key));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, key));
    }
    for (; i + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, key));
    }
    mask_scalar(dst + i, src + i, len - i, pattern);
}

WSF_TARGET_AVX2
static void mask_avx2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    const __m256i key = _mm256_loadu_si256((const __m256i *)pattern);
    size_t i = 0;
    for (; i + 128 <= len; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key));
        _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, key));
        _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, key));
        _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, key));
    }
    for (; i + 32 <= len; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, key));
    }
    if (i + 16 <= len) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, _mm256_castsi256_si128(key)));
        i += 16;
    }
    mask_scalar(dst + i, src + i, len - i, pattern);
}

WSF_TARGET_AVX512
static void mask_avx512(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    const __m512i key = _mm512_loadu_si512((const void *)pattern);
    size_t i = 0;
    for (; i + 256 <= len; i += 256) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        __m512i b = _mm512_loadu_si512((const void *)(src + i + 64));
        __m512i c = _mm512_loadu_si512((const void *)(src + i + 128));
        __m512i d = _mm512_loadu_si512((const void *)(src + i + 192));
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, key));
        _mm512_storeu_si512((void *)(dst + i + 64), _mm512_xor_si512(b, key));
        _mm512_storeu_si512((void *)(dst + i + 128), _mm512_xor_si512(c, key));
        _mm512_storeu_si512((void *)(dst + i + 192), _mm512_xor_si512(d, key));
    }
    for (; i + 64 <= len; i += 64) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, key));
    }
    if (i < len) {
        /* Masked load and store: lanes past the end are neither read nor written (no fault). */
        __mmask64 lanes = (1ULL << (len - i)) - 1; /* len - i < 64 here */
        __m512i a = _mm512_maskz_loadu_epi8(lanes, src + i);
        _mm512_mask_storeu_epi8(dst + i, lanes, _mm512_xor_si512(a, key));
    }
}
#endif

#if defined(WSF_ARM64)
static void mask_neon(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    const uint8x16_t key = vld1q_u8(pattern);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        uint8x16_t a = vld1q_u8(src + i), b = vld1q_u8(src + i + 16);
        uint8x16_t c = vld1q_u8(src + i + 32), d = vld1q_u8(src + i + 48);
        vst1q_u8(dst + i, veorq_u8(a, key));
        vst1q_u8(dst + i + 16, veorq_u8(b, key));
        vst1q_u8(dst + i + 32, veorq_u8(c, key));
        vst1q_u8(dst + i + 48, veorq_u8(d, key));
    }
    for (; i + 16 <= len; i += 16) vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), key));
    mask_scalar(dst + i, src + i, len - i, pattern);
}
#endif

static void mask_unselected(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern);

static mask_fn mask_impl = mask_unselected;

/* First call before any selection: pick the best level, then run. */
static void mask_unselected(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *pattern) {
    wsf__ensure_selected();
    mask_impl(dst, src, len, pattern);
}

void wsf__mask_select(wsf_simd_level level) {
    switch (level) {
#if defined(WSF_X86_64)
    case WSF_SIMD_SSE2: mask_impl = mask_sse2; return;
    case WSF_SIMD_AVX2: mask_impl = mask_avx2; return;
    case WSF_SIMD_AVX512: mask_impl = mask_avx512; return;
#endif
#if defined(WSF_ARM64)
    case WSF_SIMD_NEON: mask_impl = mask_neon; return;
#endif
    default: mask_impl = mask_scalar; return;
    }
}

unsigned wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], unsigned offset) {
    uint8_t rotated[4], pattern[64];
    offset &= 3;
    for (unsigned i = 0; i < 4; i++) rotated[i] = key[(offset + i) & 3];
    if (len < 16) { /* a call through the pointer costs more than this */
        mask_bytes(dst, src, len, rotated);
    } else {
        for (unsigned i = 0; i < 64; i += 4) memcpy(pattern + i, rotated, 4);
        mask_impl(dst, src, len, pattern);
    }
    return (unsigned)((offset + len) & 3);
}
