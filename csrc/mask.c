/*
 * XOR masking of WebSocket payloads (RFC 6455 §5.3).
 *
 * Every variant receives the key already rotated to the starting offset, as 4 bytes. The scalar
 * path builds a 64-bit word from those bytes in the machine's own byte order (two copies of the
 * same 4 bytes, which reads the same either way), so it is correct on big-endian machines too. The
 * x86 and NEON paths broadcast the 32-bit key loaded from those bytes; they run only on
 * little-endian machines, where lane bytes sit in memory order. Vector loops consume multiples of
 * 4 bytes, which keeps the key aligned for whatever follows them.
 */
#include "internal.h"

#include <string.h>

#if defined(WSF_X86_64)
#include <immintrin.h>
#endif
#if defined(WSF_ARM64) && !defined(__ARM_BIG_ENDIAN)
#include <arm_neon.h>
#define WSF_NEON_MASK 1
#endif

typedef void (*mask_fn)(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key);

static uint32_t key_word(const uint8_t *key) {
    uint32_t word;
    memcpy(&word, key, 4);
    return word;
}


static void mask_bytes(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    for (size_t i = 0; i < len; i++) dst[i] = (uint8_t)(src[i] ^ key[i & 3]);
}

static void mask_scalar(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    uint32_t word = key_word(key);
    uint64_t wide = ((uint64_t)word << 32) | word;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, src + i, 8);
        chunk ^= wide;
        memcpy(dst + i, &chunk, 8);
    }
    mask_bytes(dst + i, src + i, len - i, key);
}

#if defined(WSF_X86_64)
/* The key word after `shift` more bytes (x86 is little-endian: the next key byte is the low one). */
static uint32_t key_word_advanced(uint32_t word, size_t shift) {
    unsigned bits = (unsigned)(shift & 3) * 8;
    return bits ? (word >> bits) | (word << (32 - bits)) : word;
}

static void mask_sse2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    const __m128i k = _mm_set1_epi32((int)key_word(key));
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= len; i += 16) {
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), k));
    }
    mask_scalar(dst + i, src + i, len - i, key);
}

WSF_TARGET_AVX2
static void mask_avx2(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    uint32_t word = key_word(key);
    size_t i = 0, head = 0;
    if (len >= 256) {
        /* Align the stores to 32 bytes: a store split across cache lines costs up to twice as much. */
        head = (32 - ((uintptr_t)dst & 31)) & 31;
        for (; i < head; i++) dst[i] = (uint8_t)(src[i] ^ key[i & 3]);
        word = key_word_advanced(word, head);
    }
    const __m256i k = _mm256_set1_epi32((int)word);
    for (; i + 128 <= len; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= len; i += 32) {
        _mm256_storeu_si256((__m256i *)(dst + i),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), k));
    }
    /* The rest byte by byte with the same key word, without leaving dirty upper halves behind: a
       tail call into non-VEX code would pay the AVX-SSE transition on every call. */
    uint64_t wide = ((uint64_t)word << 32) | word;
    for (; i + 8 <= len; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, src + i, 8);
        chunk ^= wide;
        memcpy(dst + i, &chunk, 8);
    }
    for (; i < len; i++) dst[i] = (uint8_t)(src[i] ^ (uint8_t)(wide >> (8 * ((i - head) & 3))));
    _mm256_zeroupper();
}

WSF_TARGET_AVX512
static void mask_avx512(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    uint32_t word = key_word(key);
    size_t i = 0;
    if (len > 64) {
        /* One masked store up to the next 64-byte boundary, then stores that never split a line. */
        size_t head = (64 - ((uintptr_t)dst & 63)) & 63;
        if (head) {
            __mmask64 lanes = (1ULL << head) - 1;
            __m512i a = _mm512_maskz_loadu_epi8(lanes, src);
            _mm512_mask_storeu_epi8(dst, lanes, _mm512_xor_si512(a, _mm512_set1_epi32((int)word)));
            i = head;
            word = key_word_advanced(word, head);
        }
    }
    const __m512i k = _mm512_set1_epi32((int)word);
    for (; i + 256 <= len; i += 256) {
        __m512i a = _mm512_loadu_si512((const void *)(src + i));
        __m512i b = _mm512_loadu_si512((const void *)(src + i + 64));
        __m512i c = _mm512_loadu_si512((const void *)(src + i + 128));
        __m512i d = _mm512_loadu_si512((const void *)(src + i + 192));
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(a, k));
        _mm512_storeu_si512((void *)(dst + i + 64), _mm512_xor_si512(b, k));
        _mm512_storeu_si512((void *)(dst + i + 128), _mm512_xor_si512(c, k));
        _mm512_storeu_si512((void *)(dst + i + 192), _mm512_xor_si512(d, k));
    }
    for (; i + 64 <= len; i += 64) {
        _mm512_storeu_si512((void *)(dst + i), _mm512_xor_si512(_mm512_loadu_si512((const void *)(src + i)), k));
    }
    if (i < len) {
        /* Masked load and store: lanes past the end are neither read nor written (no fault). */
        __mmask64 lanes = (1ULL << (len - i)) - 1; /* len - i < 64 here */
        __m512i a = _mm512_maskz_loadu_epi8(lanes, src + i);
        _mm512_mask_storeu_epi8(dst + i, lanes, _mm512_xor_si512(a, k));
    }
}
#endif

#if defined(WSF_NEON_MASK)
static void mask_neon(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    const uint8x16_t k = vreinterpretq_u8_u32(vdupq_n_u32(key_word(key)));
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        uint8x16_t a = vld1q_u8(src + i), b = vld1q_u8(src + i + 16);
        uint8x16_t c = vld1q_u8(src + i + 32), d = vld1q_u8(src + i + 48);
        vst1q_u8(dst + i, veorq_u8(a, k));
        vst1q_u8(dst + i + 16, veorq_u8(b, k));
        vst1q_u8(dst + i + 32, veorq_u8(c, k));
        vst1q_u8(dst + i + 48, veorq_u8(d, k));
    }
    for (; i + 16 <= len; i += 16) vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), k));
    mask_scalar(dst + i, src + i, len - i, key);
}
#endif

static void mask_unselected(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key);

static mask_fn mask_impl = mask_unselected;
static size_t mask_vector_min = 16; /* below this, the call through the pointer costs more */

/* First call before any selection: pick the best level, then run. */
static void mask_unselected(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *key) {
    wsf__ensure_selected();
    mask_impl(dst, src, len, key);
}

void wsf__mask_select(wsf_simd_level level) {
    mask_vector_min = 16;
    switch (level) {
#if defined(WSF_X86_64)
    case WSF_SIMD_SSE2: mask_impl = mask_sse2; return;
    case WSF_SIMD_AVX2: mask_impl = mask_avx2; return;
    case WSF_SIMD_AVX512:
        mask_impl = mask_avx512;
        mask_vector_min = 1; /* one masked load and store beats any byte loop */
        return;
#endif
#if defined(WSF_NEON_MASK)
    case WSF_SIMD_NEON: mask_impl = mask_neon; return;
#endif
    default: mask_impl = mask_scalar; return;
    }
}

unsigned wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], unsigned offset) {
    uint8_t rotated[4];
    offset &= 3;
    for (unsigned i = 0; i < 4; i++) rotated[i] = key[(offset + i) & 3];
    if (len < mask_vector_min) {
        mask_bytes(dst, src, len, rotated);
    } else {
        mask_impl(dst, src, len, rotated);
    }
    return (unsigned)((offset + len) & 3);
}

/*
 * A copy is masking with a zero key, through the same vector loops. From a few KiB up, glibc's
 * memcpy (2.36) moves bytes with `rep movsb`, which on AMD Zen 4 runs about 20 times slower when
 * the destination starts 1 to 15 bytes past the source modulo 4 KiB (measured here: 290 against
 * 10-18 ns per KiB); a payload copied from behind its frame header into a new object often meets
 * exactly that. The vector loops do not care where either buffer starts.
 */
void wsf_copy(uint8_t *dst, const uint8_t *src, size_t len) {
    static const uint8_t zero[4] = {0, 0, 0, 0};
    if (len < WSF_COPY_VECTOR_MIN) {
        memcpy(dst, src, len);
    } else {
        mask_impl(dst, src, len, zero);
    }
}
