/*
 * UTF-8 validation (RFC 3629), whole and streaming.
 *
 * Scalar: a byte-class automaton, which also gives the exact offset of the first offending byte.
 * AVX2, AVX-512 and NEON: the lookup-table method of Keiser and Lemire ("Validating UTF-8 in less than
 * one instruction per byte", 2021), 64 bytes a step. A vector kernel only says whether a region is
 * valid and, if not, the start of the 64-byte block where the error showed; the automaton then finds the
 * exact byte from the code-point boundary just before that block. SSE2 lacks a byte shuffle, so that
 * level runs the automaton with a 16-byte ASCII skip.
 */
#include "internal.h"

#include <string.h>

#if defined(WSF_X86_64)
#include <immintrin.h>
#endif
#if defined(WSF_ARM64)
#include <arm_neon.h>
#endif

/* ------------------------------------------------------------------ the automaton */

/* Byte classes: which range a byte falls in, as far as UTF-8 cares. */
enum {
    C_ASCII,   /* 00..7F */
    C_CONT_LO, /* 80..8F */
    C_CONT_MID,/* 90..9F */
    C_CONT_HI, /* A0..BF */
    C_BAD,     /* C0 C1 F5..FF: never valid */
    C_LEAD2,   /* C2..DF */
    C_E0,      /* E0: second byte A0..BF (no overlongs) */
    C_LEAD3,   /* E1..EC EE EF */
    C_ED,      /* ED: second byte 80..9F (no surrogates) */
    C_F0,      /* F0: second byte 90..BF (no overlongs) */
    C_LEAD4,   /* F1..F3 */
    C_F4,      /* F4: second byte 80..8F (nothing above U+10FFFF) */
    N_CLASSES
};

/* States: ACCEPT and REJECT (wsfast.h), then what the next byte must be. */
enum {
    S_ACCEPT = WSF_UTF8_ACCEPT,
    S_REJECT = WSF_UTF8_REJECT,
    S_CONT1,     /* one more 80..BF */
    S_CONT2,     /* two more 80..BF */
    S_E0,        /* A0..BF, then one more */
    S_ED,        /* 80..9F, then one more */
    S_CONT3,     /* three more 80..BF */
    S_F0,        /* 90..BF, then two more */
    S_F4,        /* 80..8F, then two more */
    N_STATES
};

static uint8_t byte_class[256];
static uint8_t transition[N_STATES][N_CLASSES];
static int tables_ready = 0;

static void fill_class(int lo, int hi, uint8_t cls) {
    for (int b = lo; b <= hi; b++) byte_class[b] = cls;
}

/* Built from the ranges above, so the tables cannot disagree with the comments. */
static void build_tables(void) {
    fill_class(0x00, 0x7F, C_ASCII);
    fill_class(0x80, 0x8F, C_CONT_LO);
    fill_class(0x90, 0x9F, C_CONT_MID);
    fill_class(0xA0, 0xBF, C_CONT_HI);
    fill_class(0xC0, 0xC1, C_BAD);
    fill_class(0xC2, 0xDF, C_LEAD2);
    fill_class(0xE0, 0xE0, C_E0);
    fill_class(0xE1, 0xEC, C_LEAD3);
    fill_class(0xED, 0xED, C_ED);
    fill_class(0xEE, 0xEF, C_LEAD3);
    fill_class(0xF0, 0xF0, C_F0);
    fill_class(0xF1, 0xF3, C_LEAD4);
    fill_class(0xF4, 0xF4, C_F4);
    fill_class(0xF5, 0xFF, C_BAD);

    memset(transition, S_REJECT, sizeof transition);
    transition[S_ACCEPT][C_ASCII] = S_ACCEPT;
    transition[S_ACCEPT][C_LEAD2] = S_CONT1;
    transition[S_ACCEPT][C_E0] = S_E0;
    transition[S_ACCEPT][C_LEAD3] = S_CONT2;
    transition[S_ACCEPT][C_ED] = S_ED;
    transition[S_ACCEPT][C_F0] = S_F0;
    transition[S_ACCEPT][C_LEAD4] = S_CONT3;
    transition[S_ACCEPT][C_F4] = S_F4;
    const uint8_t conts[3] = {C_CONT_LO, C_CONT_MID, C_CONT_HI};
    for (int i = 0; i < 3; i++) {
        transition[S_CONT1][conts[i]] = S_ACCEPT;
        transition[S_CONT2][conts[i]] = S_CONT1;
        transition[S_CONT3][conts[i]] = S_CONT2;
    }
    transition[S_E0][C_CONT_HI] = S_CONT1;
    transition[S_ED][C_CONT_LO] = S_CONT1;
    transition[S_ED][C_CONT_MID] = S_CONT1;
    transition[S_F0][C_CONT_MID] = S_CONT2;
    transition[S_F0][C_CONT_HI] = S_CONT2;
    transition[S_F4][C_CONT_LO] = S_CONT2;
    tables_ready = 1;
}

static inline uint32_t step(uint32_t state, uint8_t byte) {
    return transition[state][byte_class[byte]];
}

static inline int is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

/*
 * Run the automaton over data[0..len) from `*state`. Returns len if no byte was rejected, else the
 * index of the offending byte (and *state is S_REJECT). *state ends as the state after the last byte.
 * When `seq_start` is given it receives the index where the last unfinished sequence began.
 */
static size_t run_automaton(uint32_t *state, const uint8_t *data, size_t len, size_t *seq_start) {
    uint32_t s = *state;
    for (size_t i = 0; i < len; i++) {
        if (s == S_ACCEPT) {
            /* ASCII runs: 8 bytes at a time while none has the high bit */
            while (i + 8 <= len) {
                uint64_t word;
                memcpy(&word, data + i, 8);
                if (word & 0x8080808080808080ULL) break;
                i += 8;
            }
            if (i == len) break;
            if (seq_start) *seq_start = i;
        }
        s = step(s, data[i]);
        if (s == S_REJECT) {
            *state = s;
            return i;
        }
    }
    *state = s;
    return len;
}

/* ------------------------------------------------------------------ whole-region kernels */

/*
 * A region kernel checks data[0..len), which starts on a code-point boundary and must end on one.
 * It returns len when valid, else a position no later than the first offending byte such that
 * everything before it is a valid prefix.
 */
typedef size_t (*region_fn)(const uint8_t *data, size_t len);

static size_t region_scalar(const uint8_t *data, size_t len) {
    uint32_t state = S_ACCEPT;
    size_t bad = run_automaton(&state, data, len, NULL);
    if (bad < len) return bad;
    return state == S_ACCEPT ? len : (len >= 4 ? len - 4 : 0);
}

#if defined(WSF_X86_64)
static size_t region_sse2(const uint8_t *data, size_t len) {
    uint32_t state = S_ACCEPT;
    size_t i = 0;
    while (i < len) {
        if (state == S_ACCEPT) {
            while (i + 16 <= len && !_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(data + i))))
                i += 16;
        }
        size_t chunk = len - i < 16 ? len - i : 16;
        size_t bad = run_automaton(&state, data + i, chunk, NULL);
        if (bad < chunk) return i + bad;
        i += chunk;
    }
    return state == S_ACCEPT ? len : (len >= 4 ? len - 4 : 0);
}
#endif

/*
 * The three lookup tables of the Keiser-Lemire method, indexed by the high nibble of the previous
 * byte, its low nibble, and the high nibble of the current byte. A bit survives the AND of the three
 * only for a forbidden pair of bytes.
 */
#define TOO_SHORT (1 << 0)  /* lead byte then something that is not a continuation */
#define TOO_LONG (1 << 1)   /* ASCII then a continuation */
#define OVERLONG_3 (1 << 2) /* E0 80..9F */
#define TOO_LARGE (1 << 3)  /* F4 90..BF, F5.. */
#define SURROGATE (1 << 4)  /* ED A0..BF */
#define OVERLONG_2 (1 << 5) /* C0, C1 */
#define TOO_LARGE_1000 (1 << 6)
#define OVERLONG_4 (1 << 6) /* F0 80..8F */
#define TWO_CONTS (1 << 7)  /* continuation then continuation: allowed only as 3rd or 4th byte */
#define CARRY (TOO_SHORT | TOO_LONG | TWO_CONTS)

#define TABLE_BYTE_1_HIGH                                                                            \
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TWO_CONTS,       \
        TWO_CONTS, TWO_CONTS, TWO_CONTS, TOO_SHORT | OVERLONG_2, TOO_SHORT,                         \
        TOO_SHORT | OVERLONG_3 | SURROGATE, TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4
#define TABLE_BYTE_1_LOW                                                                             \
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY,                  \
        CARRY | TOO_LARGE, CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,   \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, CARRY | TOO_LARGE | TOO_LARGE_1000,          \
        CARRY | TOO_LARGE | TOO_LARGE_1000
#define TABLE_BYTE_2_HIGH                                                                            \
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,          \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,                \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,                                  \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,                                   \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE, TOO_SHORT, TOO_SHORT, TOO_SHORT,  \
        TOO_SHORT

#if defined(WSF_X86_64) || defined(WSF_ARM64)
static const uint8_t table_byte_1_high[16] = {TABLE_BYTE_1_HIGH};
static const uint8_t table_byte_1_low[16] = {TABLE_BYTE_1_LOW};
static const uint8_t table_byte_2_high[16] = {TABLE_BYTE_2_HIGH};
#endif

/* A byte that ends a block in the middle of a sequence: greater than these in the last 3 places. */
#define INCOMPLETE_LIMIT_3 (0xF0 - 1)
#define INCOMPLETE_LIMIT_2 (0xE0 - 1)
#define INCOMPLETE_LIMIT_1 (0xC0 - 1)

#if defined(WSF_X86_64)
#define AVX2_PREV(input, prev, n)                                                                    \
    _mm256_alignr_epi8((input), _mm256_permute2x128_si256((prev), (input), 0x21), 16 - (n))

WSF_TARGET_AVX2
static inline __m256i avx2_check(__m256i input, __m256i prev_input) {
    const __m256i low_nibble = _mm256_set1_epi8(0x0F);
    const __m256i t1h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)table_byte_1_high));
    const __m256i t1l = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)table_byte_1_low));
    const __m256i t2h = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)table_byte_2_high));
    __m256i prev1 = AVX2_PREV(input, prev_input, 1);
    __m256i b1h = _mm256_shuffle_epi8(t1h, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low_nibble));
    __m256i b1l = _mm256_shuffle_epi8(t1l, _mm256_and_si256(prev1, low_nibble));
    __m256i b2h = _mm256_shuffle_epi8(t2h, _mm256_and_si256(_mm256_srli_epi16(input, 4), low_nibble));
    __m256i special = _mm256_and_si256(_mm256_and_si256(b1h, b1l), b2h);
    __m256i third = _mm256_subs_epu8(AVX2_PREV(input, prev_input, 2), _mm256_set1_epi8(0xE0 - 0x80));
    __m256i fourth = _mm256_subs_epu8(AVX2_PREV(input, prev_input, 3), _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must_be_cont = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must_be_cont, special);
}

WSF_TARGET_AVX2
static inline __m256i avx2_incomplete(__m256i input) {
    const __m256i limit = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                           -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                           (char)INCOMPLETE_LIMIT_3, (char)INCOMPLETE_LIMIT_2,
                                           (char)INCOMPLETE_LIMIT_1);
    return _mm256_subs_epu8(input, limit);
}

WSF_TARGET_AVX2
static size_t region_avx2(const uint8_t *data, size_t len) {
    __m256i error = _mm256_setzero_si256(), prev_input = _mm256_setzero_si256();
    __m256i prev_incomplete = _mm256_setzero_si256();
    uint8_t tail[64];
    for (size_t i = 0; i < len; i += 64) {
        const uint8_t *block = data + i;
        if (len - i < 64) { /* zero padding is ASCII, so a sequence cut by the end shows as TOO_SHORT */
            memset(tail, 0, sizeof tail);
            memcpy(tail, block, len - i);
            block = tail;
        }
        __m256i a = _mm256_loadu_si256((const __m256i *)block);
        __m256i b = _mm256_loadu_si256((const __m256i *)(block + 32));
        if (!_mm256_movemask_epi8(_mm256_or_si256(a, b))) {
            error = _mm256_or_si256(error, prev_incomplete);
        } else {
            error = _mm256_or_si256(error, avx2_check(a, prev_input));
            error = _mm256_or_si256(error, avx2_check(b, a));
            prev_incomplete = avx2_incomplete(b);
        }
        prev_input = b;
        if (!_mm256_testz_si256(error, error)) return i;
    }
    if (!_mm256_testz_si256(prev_incomplete, prev_incomplete)) return len >= 4 ? len - 4 : 0;
    return len;
}

#define AVX512_PREV(input, prev, n)                                                                  \
    _mm512_alignr_epi8((input), _mm512_alignr_epi64((input), (prev), 6), 16 - (n))

WSF_TARGET_AVX512
static inline __m512i avx512_check(__m512i input, __m512i prev_input) {
    const __m512i low_nibble = _mm512_set1_epi8(0x0F);
    const __m512i t1h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)table_byte_1_high));
    const __m512i t1l = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)table_byte_1_low));
    const __m512i t2h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)table_byte_2_high));
    __m512i prev1 = AVX512_PREV(input, prev_input, 1);
    __m512i b1h = _mm512_shuffle_epi8(t1h, _mm512_and_si512(_mm512_srli_epi16(prev1, 4), low_nibble));
    __m512i b1l = _mm512_shuffle_epi8(t1l, _mm512_and_si512(prev1, low_nibble));
    __m512i b2h = _mm512_shuffle_epi8(t2h, _mm512_and_si512(_mm512_srli_epi16(input, 4), low_nibble));
    __m512i special = _mm512_and_si512(_mm512_and_si512(b1h, b1l), b2h);
    __m512i third = _mm512_subs_epu8(AVX512_PREV(input, prev_input, 2), _mm512_set1_epi8(0xE0 - 0x80));
    __m512i fourth = _mm512_subs_epu8(AVX512_PREV(input, prev_input, 3), _mm512_set1_epi8((char)(0xF0 - 0x80)));
    __m512i must_be_cont = _mm512_and_si512(_mm512_or_si512(third, fourth), _mm512_set1_epi8((char)0x80));
    return _mm512_xor_si512(must_be_cont, special);
}

WSF_TARGET_AVX512
static size_t region_avx512(const uint8_t *data, size_t len) {
    const __m512i limit = _mm512_mask_blend_epi8(
        0xE000000000000000ULL, _mm512_set1_epi8(-1),
        _mm512_set_epi8((char)INCOMPLETE_LIMIT_1, (char)INCOMPLETE_LIMIT_2, (char)INCOMPLETE_LIMIT_3, 0,
                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                        0, 0, 0, 0));
    __m512i error = _mm512_setzero_si512(), prev_input = _mm512_setzero_si512();
    __m512i prev_incomplete = _mm512_setzero_si512();
    for (size_t i = 0; i < len; i += 64) {
        __m512i input;
        if (len - i >= 64) {
            input = _mm512_loadu_si512((const void *)(data + i));
        } else { /* masked load: the missing lanes read as zero (ASCII) and are never touched */
            input = _mm512_maskz_loadu_epi8((1ULL << (len - i)) - 1, data + i);
        }
        if (!_mm512_movepi8_mask(input)) {
            error = _mm512_or_si512(error, prev_incomplete);
        } else {
            error = _mm512_or_si512(error, avx512_check(input, prev_input));
            prev_incomplete = _mm512_subs_epu8(input, limit);
        }
        prev_input = input;
        if (_mm512_test_epi64_mask(error, error)) return i;
    }
    if (_mm512_test_epi64_mask(prev_incomplete, prev_incomplete)) return len >= 4 ? len - 4 : 0;
    return len;
}
#endif /* WSF_X86_64 */

#if defined(WSF_ARM64)
static inline uint8x16_t neon_check(uint8x16_t input, uint8x16_t prev_input) {
    uint8x16_t prev1 = vextq_u8(prev_input, input, 15);
    uint8x16_t b1h = vqtbl1q_u8(vld1q_u8(table_byte_1_high), vshrq_n_u8(prev1, 4));
    uint8x16_t b1l = vqtbl1q_u8(vld1q_u8(table_byte_1_low), vandq_u8(prev1, vdupq_n_u8(0x0F)));
    uint8x16_t b2h = vqtbl1q_u8(vld1q_u8(table_byte_2_high), vshrq_n_u8(input, 4));
    uint8x16_t special = vandq_u8(vandq_u8(b1h, b1l), b2h);
    uint8x16_t third = vqsubq_u8(vextq_u8(prev_input, input, 14), vdupq_n_u8(0xE0 - 0x80));
    uint8x16_t fourth = vqsubq_u8(vextq_u8(prev_input, input, 13), vdupq_n_u8(0xF0 - 0x80));
    uint8x16_t must_be_cont = vandq_u8(vorrq_u8(third, fourth), vdupq_n_u8(0x80));
    return veorq_u8(must_be_cont, special);
}

static size_t region_neon(const uint8_t *data, size_t len) {
    static const uint8_t limit_bytes[16] = {255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
                                            INCOMPLETE_LIMIT_3, INCOMPLETE_LIMIT_2, INCOMPLETE_LIMIT_1};
    const uint8x16_t limit = vld1q_u8(limit_bytes);
    uint8x16_t error = vdupq_n_u8(0), prev_input = vdupq_n_u8(0), prev_incomplete = vdupq_n_u8(0);
    uint8_t tail[64];
    for (size_t i = 0; i < len; i += 64) {
        const uint8_t *block = data + i;
        if (len - i < 64) {
            memset(tail, 0, sizeof tail);
            memcpy(tail, block, len - i);
            block = tail;
        }
        uint8x16_t in[4] = {vld1q_u8(block), vld1q_u8(block + 16), vld1q_u8(block + 32), vld1q_u8(block + 48)};
        uint8x16_t any = vorrq_u8(vorrq_u8(in[0], in[1]), vorrq_u8(in[2], in[3]));
        if (vmaxvq_u8(any) < 0x80) {
            error = vorrq_u8(error, prev_incomplete);
        } else {
            error = vorrq_u8(error, neon_check(in[0], prev_input));
            error = vorrq_u8(error, neon_check(in[1], in[0]));
            error = vorrq_u8(error, neon_check(in[2], in[1]));
            error = vorrq_u8(error, neon_check(in[3], in[2]));
            prev_incomplete = vqsubq_u8(in[3], limit);
        }
        prev_input = in[3];
        if (vmaxvq_u8(error)) return i;
    }
    if (vmaxvq_u8(prev_incomplete)) return len >= 4 ? len - 4 : 0;
    return len;
}
#endif /* WSF_ARM64 */

static size_t region_unselected(const uint8_t *data, size_t len);
static region_fn region_impl = region_unselected;

/* Below this length the automaton beats setting up vectors, except where a masked load makes short
   inputs as cheap as long ones (AVX-512). */
#define SHORT_INPUT 32
static size_t short_input = SHORT_INPUT;

static size_t region_unselected(const uint8_t *data, size_t len) {
    wsf__ensure_selected();
    return region_impl(data, len);
}

void wsf__utf8_select(wsf_simd_level level) {
    if (!tables_ready) build_tables();
    short_input = level == WSF_SIMD_AVX512 ? 0 : SHORT_INPUT;
    switch (level) {
#if defined(WSF_X86_64)
    case WSF_SIMD_SSE2: region_impl = region_sse2; return;
    case WSF_SIMD_AVX2: region_impl = region_avx2; return;
    case WSF_SIMD_AVX512: region_impl = region_avx512; return;
#endif
#if defined(WSF_ARM64)
    case WSF_SIMD_NEON: region_impl = region_neon; return;
#endif
    default: region_impl = region_scalar; return;
    }
}

/*
 * Check a region that starts on a boundary. Returns len if it is valid and ends on a boundary, else
 * the exact index of the first offending byte, or len + 1 if it is valid but ends mid-sequence.
 */
static size_t check_region(const uint8_t *data, size_t len) {
    size_t hint;
    if (len == 0) return 0; /* nothing to check, and data may be NULL */
    wsf__ensure_selected();
    if (len < short_input) {
        hint = 0;
    } else {
        hint = region_impl(data, len);
        if (hint == len) return len;
    }
    /* Everything before `hint` is a valid prefix: restart at the code-point boundary before it. */
    size_t restart = hint;
    int found = 0;
    for (size_t k = 1; k <= 3 && k <= hint; k++) {
        if (!is_continuation(data[hint - k])) {
            restart = hint - k;
            found = 1;
            break;
        }
    }
    if (!found && hint <= 3) restart = 0;
    uint32_t state = S_ACCEPT;
    size_t bad = run_automaton(&state, data + restart, len - restart, NULL);
    if (bad < len - restart) return restart + bad;
    return state == S_ACCEPT ? len : len + 1;
}

int wsf_utf8_valid(const uint8_t *data, size_t len) {
    return check_region(data, len) == len;
}

/* ------------------------------------------------------------------ streaming */

void wsf_utf8_stream_init(wsf_utf8_stream *s) {
    if (!tables_ready) wsf__ensure_selected();
    s->state = S_ACCEPT;
    s->position = 0;
    s->error = 0;
    s->seq_start = 0;
}

static int reject(wsf_utf8_stream *s, uint64_t at) {
    s->state = S_REJECT;
    s->error = at;
    return 0;
}

/* Length of the sequence a lead byte starts (1 for ASCII and for bytes that cannot lead). */
static size_t sequence_length(uint8_t b) {
    if (b >= 0xF0 && b <= 0xF4) return 4;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    return 1;
}

int wsf_utf8_stream_feed(wsf_utf8_stream *s, const uint8_t *data, size_t len) {
    if (s->state == S_REJECT) return 0;
    const uint64_t base = s->position;
    s->position += len;
    size_t i = 0;

    /* 1. Finish a sequence left open by the previous piece. */
    while (i < len && s->state != S_ACCEPT) {
        s->state = step(s->state, data[i]);
        if (s->state == S_REJECT) return reject(s, base + i);
        i++;
    }
    if (i == len) return 1;

    /* 2. The bulk, up to the start of a sequence the piece leaves unfinished. */
    size_t end = len;
    for (size_t k = 1; k <= 3 && k <= len - i; k++) {
        uint8_t b = data[len - k];
        if (!is_continuation(b)) {
            if (sequence_length(b) > k) end = len - k;
            break;
        }
    }
    size_t bad = check_region(data + i, end - i);
    if (bad != end - i) return reject(s, base + i + (bad < end - i ? bad : end - i));

    /* 3. The unfinished tail: checked byte by byte, so an impossible prefix fails now. */
    size_t seq = 0;
    uint32_t state = S_ACCEPT;
    size_t tail_bad = run_automaton(&state, data + end, len - end, &seq);
    if (tail_bad < len - end) return reject(s, base + end + tail_bad);
    s->state = state;
    if (state != S_ACCEPT) s->seq_start = base + end + seq;
    return 1;
}

int wsf_utf8_stream_finish(wsf_utf8_stream *s) {
    if (s->state == S_ACCEPT) return 1;
    if (s->state != S_REJECT) reject(s, s->seq_start);
    return 0;
}
