/*
 * Standalone test driver for the wsfast C kernels (csrc/), with no Python involved.
 *
 * Build:  cc -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -Icsrc <every .c file in csrc/> \
 *             tests/c/test_kernels.c
 *         (tests/kernels/test_c_driver.py builds it natively, with sanitizers, and for aarch64 and s390x)
 * Run:    ./a.out [--quick] [--seed=N] [--level=NAME] [--max-reports=N]
 *         (WSF_TEST_QUICK=1 in the environment is the same as --quick)
 *
 * Every SIMD level the CPU supports (or just --level) is selected in turn and the level-dependent
 * kernels (masking, UTF-8) are compared against simple reference implementations written here; the
 * parsers (frame header, HTTP head) do not depend on the level and are tested once. Every input is
 * copied into its own malloc of exactly its length (plus a leading misalignment), so AddressSanitizer
 * reports any access past the end. Output ends with "c-kernels: N passed, M failed"; the exit status
 * is 0 only when nothing failed (2 for bad arguments, 77 when --level names a level this CPU lacks).
 */
#include "wsfast.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ================================================================== harness */

static uint64_t rng_state;

/* splitmix64: small, fast, and the same sequence on every platform */
static uint64_t rnd64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t rnd_below(size_t n) { return n ? (size_t)(rnd64() % n) : 0; }
static size_t rnd_range(size_t lo, size_t hi) { return lo + rnd_below(hi - lo + 1); } /* [lo, hi] */
static uint8_t rnd_byte(void) { return (uint8_t)(rnd64() >> 24); }
static int rnd_chance(unsigned percent) { return rnd_below(100) < percent; }

/* Byte by byte from the 64-bit values, so a seed gives the same bytes on every byte order. */
static void rnd_fill(uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = rnd64();
        for (int k = 0; k < 8; k++) p[i + (size_t)k] = (uint8_t)(v >> (8 * k));
    }
    for (; i < n; i++) p[i] = rnd_byte();
}

static unsigned long long n_passed, n_failed;
static unsigned long long max_reports = 40;
static int quick;
static const char *level_name = "-";
static const char *section = "-";

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int check_failed(int line, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Count a failed check and print its details (up to max_reports of them). Returns 0. */
static int check_failed(int line, const char *fmt, ...) {
    n_failed++;
    if (n_failed <= max_reports) {
        va_list ap;
        va_start(ap, fmt);
        printf("FAIL [level %s] [%s] test_kernels.c:%d: ", level_name, section, line);
        vprintf(fmt, ap);
        putchar('\n');
        va_end(ap);
        fflush(stdout);
    } else if (n_failed == max_reports + 1) {
        printf("(further failures not shown)\n");
    }
    return 0;
}

/* One check: evaluates to 1 if ok, else reports and evaluates to 0. The message arguments are only
 * evaluated on failure. */
#define CHECK(ok, ...) ((ok) ? (n_passed++, 1) : check_failed(__LINE__, __VA_ARGS__))

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL && n == 0) p = malloc(1);
    if (p == NULL) {
        printf("out of memory (%zu bytes)\n", n);
        exit(3);
    }
    return p;
}

/*
 * A copy of data[0..len) in its own allocation of exactly mis + len bytes, at offset mis: the
 * returned pointer is misaligned by `mis` and the buffer ends exactly at the end of the allocation.
 * Free with free(ptr - mis).
 */
static uint8_t *exact_copy(const uint8_t *data, size_t len, size_t mis) {
    uint8_t *block = xmalloc(mis + len);
    if (mis) memset(block, 0xEE, mis);
    if (len) memcpy(block + mis, data, len);
    return block + mis;
}

/* A short hex dump of buf around `at` for failure messages (static buffer). */
static const char *hex_around(const uint8_t *buf, size_t len, size_t at) {
    static char out[200];
    size_t lo = at > 8 ? at - 8 : 0, hi = at + 8 < len ? at + 8 : len, n = 0;
    n += (size_t)snprintf(out, sizeof out, "[%zu..%zu):", lo, hi);
    for (size_t i = lo; i < hi && n + 5 < sizeof out; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, i == at ? " <%02x>" : " %02x", buf[i]);
    return out;
}

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i]) return i;
    return len;
}

/* ================================================================== dispatch API */

static const wsf_simd_level all_levels[] = {WSF_SIMD_SCALAR, WSF_SIMD_SSE2, WSF_SIMD_AVX2, WSF_SIMD_AVX512,
                                            WSF_SIMD_NEON};
#define N_LEVELS (sizeof all_levels / sizeof all_levels[0])

static void test_dispatch(void) {
    section = "dispatch";
    wsf_simd_level best = wsf_simd_detect();
    CHECK(wsf_simd_supported(best), "detected level %d is not supported", (int)best);
    CHECK(wsf_simd_supported(WSF_SIMD_SCALAR), "scalar must always be supported");
    CHECK(wsf_simd_name(best) != NULL, "no name for the detected level %d", (int)best);
    static const char *const names[] = {"scalar", "sse2", "avx2", "avx512", "neon"};
    for (size_t i = 0; i < N_LEVELS; i++) {
        const char *name = wsf_simd_name(all_levels[i]);
        CHECK(name != NULL && strcmp(name, names[i]) == 0, "wsf_simd_name(%zu) = %s, expected %s", i,
              name ? name : "NULL", names[i]);
    }
    CHECK(wsf_simd_name((wsf_simd_level)5) == NULL, "wsf_simd_name(5) must be NULL");
    CHECK(wsf_simd_name((wsf_simd_level)99) == NULL, "wsf_simd_name(99) must be NULL");
    for (size_t i = 0; i < N_LEVELS; i++) {
        wsf_simd_level level = all_levels[i];
        if (wsf_simd_supported(level)) {
            CHECK(level <= best || (best == WSF_SIMD_NEON && level == WSF_SIMD_SCALAR),
                  "level %s supported but better than the detected %s", names[i], wsf_simd_name(best));
            CHECK(wsf_simd_select(level) == 0, "selecting supported level %s failed", names[i]);
            CHECK(wsf_simd_current() == level, "current level %d after selecting %s", (int)wsf_simd_current(),
                  names[i]);
        } else {
            wsf_simd_level before = wsf_simd_current();
            CHECK(wsf_simd_select(level) == -1, "selecting unsupported level %s did not return -1", names[i]);
            CHECK(wsf_simd_current() == before, "selecting unsupported level %s changed the current level",
                  names[i]);
        }
    }
    CHECK(wsf_simd_select((wsf_simd_level)99) == -1, "selecting level 99 did not return -1");
}

/* ================================================================== masking */

static void ref_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], unsigned off) {
    for (size_t i = 0; i < len; i++) dst[i] = (uint8_t)(src[i] ^ key[(off + i) % 4]);
}

#define CANARY 64

static uint8_t canary_byte(size_t i) { return (uint8_t)(0xA5 ^ (i * 29)); }

/*
 * One length and offset: in place, out of place into an exact buffer, and out of place into a larger
 * allocation whose bytes around the destination must not change. `expect` is the reference result.
 */
static void mask_case(const uint8_t *data, const uint8_t *expect, size_t len, const uint8_t *key,
                      unsigned off, size_t smis, size_t dmis) {
    const unsigned want_next = (unsigned)((off + len) % 4);
    unsigned next;

    /* in place */
    uint8_t *p = exact_copy(data, len, smis);
    next = wsf_mask(p, p, len, key, off);
    CHECK(next == want_next, "mask in place len=%zu off=%u mis=%zu: returned %u, expected %u", len, off, smis,
          next, want_next);
    size_t d = first_difference(p, expect, len);
    CHECK(d == len, "mask in place len=%zu off=%u mis=%zu: first wrong byte at %zu: got %02x expected %02x",
          len, off, smis, d, d < len ? p[d] : 0, d < len ? expect[d] : 0);
    free(p - smis);

    /* out of place, both buffers exact */
    uint8_t *src = exact_copy(data, len, smis);
    uint8_t *dst = xmalloc(dmis + len);
    memset(dst, 0x5A, dmis + len);
    dst += dmis;
    next = wsf_mask(dst, src, len, key, off);
    CHECK(next == want_next, "mask out of place len=%zu off=%u: returned %u, expected %u", len, off, next,
          want_next);
    d = first_difference(dst, expect, len);
    CHECK(d == len, "mask out of place len=%zu off=%u smis=%zu dmis=%zu: first wrong byte at %zu", len, off,
          smis, dmis, d);
    CHECK(len == 0 || memcmp(src, data, len) == 0, "mask out of place len=%zu off=%u modified its source",
          len, off);
    free(dst - dmis);

    /* out of place into a larger allocation with canaries before and after */
    size_t total = CANARY + dmis + len + CANARY;
    uint8_t *big = xmalloc(total);
    for (size_t i = 0; i < total; i++) big[i] = canary_byte(i);
    dst = big + CANARY + dmis;
    next = wsf_mask(dst, src, len, key, off);
    CHECK(next == want_next, "mask (canary) len=%zu off=%u: returned %u, expected %u", len, off, next,
          want_next);
    d = first_difference(dst, expect, len);
    CHECK(d == len, "mask (canary) len=%zu off=%u smis=%zu dmis=%zu: first wrong byte at %zu", len, off, smis,
          dmis, d);
    size_t bad = total;
    for (size_t i = 0; i < CANARY + dmis && bad == total; i++)
        if (big[i] != canary_byte(i)) bad = i;
    for (size_t i = CANARY + dmis + len; i < total && bad == total; i++)
        if (big[i] != canary_byte(i)) bad = i;
    CHECK(bad == total,
          "mask (canary) len=%zu off=%u smis=%zu dmis=%zu: wrote outside dst, at dst%+td", len, off, smis,
          dmis, (ptrdiff_t)bad - (ptrdiff_t)(CANARY + dmis));
    free(big);
    free(src - smis);
}

/* The key in its own 4-byte allocation, so reading key[4] is caught too. */
static uint8_t *random_key(void) {
    uint8_t *key = xmalloc(4);
    switch (rnd_below(16)) {
    case 0: memset(key, 0, 4); break;
    case 1: memset(key, 0xFF, 4); break;
    default: rnd_fill(key, 4); break;
    }
    return key;
}

static void mask_length(size_t len, int all_offsets, size_t n_mis) {
    static const size_t mis_set[] = {0, 1, 3, 8, 13, 31, 32, 63, 2, 5, 16, 47};
    uint8_t *data = xmalloc(len), *expect = xmalloc(len);
    rnd_fill(data, len);
    for (unsigned off = 0; off < 4; off++) {
        if (!all_offsets && off != 0) break;
        unsigned o = all_offsets ? off : (unsigned)rnd_below(4);
        uint8_t *key = random_key();
        ref_mask(expect, data, len, key, o);
        for (size_t m = 0; m < n_mis; m++) {
            size_t smis = m < sizeof mis_set / sizeof mis_set[0] && !quick ? mis_set[m] : rnd_below(64);
            mask_case(data, expect, len, key, o, smis, rnd_below(64));
        }
        free(key);
    }
    free(data);
    free(expect);
}

/* Masking in random chunks, each chained with the previous call's returned offset, equals masking whole. */
static void mask_chunks(size_t len) {
    uint8_t *data = xmalloc(len), *expect = xmalloc(len), *got = xmalloc(len);
    rnd_fill(data, len);
    uint8_t *key = random_key();
    unsigned off = (unsigned)rnd_below(4), next = off;
    ref_mask(expect, data, len, key, off);
    size_t pos = 0, pieces = 0;
    while (pos < len || pieces == 0) {
        size_t left = len - pos, n;
        switch (rnd_below(6)) {
        case 0: n = 0; break;
        case 1: n = rnd_range(1, 3); break;
        case 2: n = rnd_range(1, 20); break;
        case 3: n = rnd_range(1, 200); break;
        case 4: n = rnd_range(1, 5000); break;
        default: n = rnd_below(left + 1); break;
        }
        if (n > left) n = left;
        size_t mis = rnd_below(16);
        uint8_t *src = exact_copy(data + pos, n, mis), *dst = xmalloc(n);
        unsigned before = next;
        next = wsf_mask(dst, src, n, key, next);
        CHECK(next == (before + n) % 4, "mask chunk len=%zu at %zu: returned %u after %u", n, pos, next, before);
        if (n) memcpy(got + pos, dst, n);
        free(dst);
        free(src - mis);
        pos += n;
        pieces++;
    }
    size_t d = first_difference(got, expect, len);
    CHECK(d == len, "mask in %zu chunks len=%zu off=%u: first wrong byte at %zu", pieces, len, off, d);
    free(key);
    free(data);
    free(expect);
    free(got);
}

static void test_mask(void) {
    section = "mask";
    /* every length 0..300, every offset, several misalignments */
    for (size_t len = 0; len <= 300; len++) mask_length(len, 1, quick ? 2 : 8);
    /* around 4 KiB, 64 KiB, 1 MiB */
    for (int delta = -70; delta <= 70; delta++) {
        size_t len = 4096 + (size_t)(ptrdiff_t)delta;
        mask_length(len, 1, quick ? 1 : 2);
    }
    for (int delta = -70; delta <= 70; delta += quick ? 7 : 1) {
        size_t len = 65536 + (size_t)(ptrdiff_t)delta;
        mask_length(len, 0, 1);
    }
    static const int big_deltas[] = {-70, -65, -64, -63, -33, -32, -31, -17, -16, -15, -5, -4, -3, -2, -1, 0,
                                     1,   2,   3,   4,   5,   15,  16,  17,  31,  32,  33,  63, 64, 65, 70};
    /* around 1 MiB: the lengths that matter to the vector loops' tails (all of them for 4 KiB and 64 KiB) */
    for (size_t i = 0; i < sizeof big_deltas / sizeof big_deltas[0]; i++)
        if (!quick || i % 6 == 0 || big_deltas[i] == 0)
            mask_length(((size_t)1 << 20) + (size_t)(ptrdiff_t)big_deltas[i], 0, 1);
    /* the offset is taken modulo 4 */
    static const unsigned offsets[] = {4, 5, 6, 7, 8, 0x7FFFFFFFu, 0xFFFFFFFCu, 0xFFFFFFFDu, 0xFFFFFFFEu, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        size_t len = rnd_range(0, 200);
        uint8_t *data = xmalloc(len), *expect = xmalloc(len);
        rnd_fill(data, len);
        uint8_t *key = random_key();
        ref_mask(expect, data, len, key, offsets[i] % 4);
        uint8_t *p = exact_copy(data, len, 0);
        unsigned next = wsf_mask(p, p, len, key, offsets[i]);
        CHECK(next == (offsets[i] % 4 + len) % 4, "mask offset %u len %zu: returned %u", offsets[i], len, next);
        CHECK(len == 0 || memcmp(p, expect, len) == 0, "mask offset %u len %zu: wrong bytes", offsets[i], len);
        free(p);
        free(key);
        free(data);
        free(expect);
    }
    /* random chunking */
    int rounds = quick ? 40 : 300;
    for (int r = 0; r < rounds; r++) mask_chunks(rnd_below(r % 10 == 0 ? 70000 : 1200));
}

/* wsf_copy: the bytes of src, in dst and nowhere else, at every length around the switch to the
   vector loops and their tails, and at the source-to-destination distances (modulo 4 KiB) that
   make glibc's rep movsb slow on AMD Zen 4. */
static void copy_case(const uint8_t *data, size_t len, size_t smis, size_t distance) {
    uint8_t *src = exact_copy(data, len, smis);
    size_t total = CANARY + distance + len + CANARY;
    uint8_t *big = xmalloc(total);
    for (size_t i = 0; i < total; i++) big[i] = canary_byte(i);
    uint8_t *dst = big + CANARY + distance;
    wsf_copy(dst, src, len);
    size_t d = first_difference(dst, data, len);
    CHECK(d == len, "copy len=%zu smis=%zu distance=%zu: first wrong byte at %zu", len, smis, distance, d);
    size_t bad = total;
    for (size_t i = 0; i < CANARY + distance && bad == total; i++)
        if (big[i] != canary_byte(i)) bad = i;
    for (size_t i = CANARY + distance + len; i < total && bad == total; i++)
        if (big[i] != canary_byte(i)) bad = i;
    CHECK(bad == total, "copy len=%zu smis=%zu distance=%zu: wrote outside dst, at dst%+td", len, smis, distance,
          (ptrdiff_t)bad - (ptrdiff_t)(CANARY + distance));
    CHECK(len == 0 || memcmp(src, data, len) == 0, "copy len=%zu modified its source", len);
    free(big);
    free(src - smis);
}

static void test_copy(void) {
    section = "copy";
    static const size_t bases[] = {0, 64, WSF_COPY_VECTOR_MIN, 4096, 65536};
    static const size_t distances[] = {0, 1, 10, 15, 33, 4096 + 10};
    size_t most = 65536 + 300;
    uint8_t *data = xmalloc(most);
    rnd_fill(data, most);
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
        for (size_t extra = 0; extra <= 260; extra += (quick ? 13 : 1))
            for (size_t k = 0; k < sizeof distances / sizeof distances[0]; k++) {
                size_t len = bases[b] + extra;
                if (bases[b] >= 1024 && extra > 70 && extra % 32 != 1) continue; /* the tails matter */
                copy_case(data, len, extra % 7, distances[k]);
            }
    free(data);
}

/* ================================================================== UTF-8 reference */

enum { REF_VALID, REF_INCOMPLETE, REF_INVALID };

typedef struct {
    int status;   /* REF_VALID, REF_INCOMPLETE or REF_INVALID */
    size_t index; /* INVALID: first offending byte; INCOMPLETE: start of the unfinished sequence */
} ref_result;

/*
 * Can a sequence of `total` bytes whose bits so far are `partial`, with `remaining` continuation bytes
 * still to come, encode a Unicode scalar value in the range that length may use (no overlong forms,
 * no surrogates, nothing above U+10FFFF)? Decided on the interval of code points it may still become.
 */
static int ref_possible(uint32_t partial, unsigned remaining, unsigned total) {
    uint32_t lo = partial << (6 * remaining);
    uint32_t hi = lo | ((UINT32_C(1) << (6 * remaining)) - 1);
    uint32_t min = total == 2 ? 0x80 : total == 3 ? 0x800 : 0x10000;
    uint32_t max = total == 2 ? 0x7FF : total == 3 ? 0xFFFF : 0x10FFFF;
    if (lo < min) lo = min;
    if (hi > max) hi = max;
    if (lo > hi) return 0;
    return !(lo >= 0xD800 && hi <= 0xDFFF); /* something left outside the surrogates */
}

/* Decode by RFC 3629, looking at one byte at a time to find where the prefix stops being valid. */
static ref_result ref_utf8(const uint8_t *s, size_t n) {
    ref_result r = {REF_VALID, n};
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        unsigned total;
        uint32_t partial;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b < 0xC0) { /* continuation byte where a character should start */
            r.status = REF_INVALID, r.index = i;
            return r;
        } else if (b < 0xE0) {
            total = 2, partial = b & 0x1Fu;
        } else if (b < 0xF0) {
            total = 3, partial = b & 0x0Fu;
        } else if (b < 0xF8) {
            total = 4, partial = b & 0x07u;
        } else { /* 5- and 6-byte forms, FE, FF */
            r.status = REF_INVALID, r.index = i;
            return r;
        }
        if (!ref_possible(partial, total - 1, total)) { /* C0, C1, F5..F7 */
            r.status = REF_INVALID, r.index = i;
            return r;
        }
        for (unsigned j = 1; j < total; j++) {
            if (i + j >= n) {
                r.status = REF_INCOMPLETE, r.index = i;
                return r;
            }
            uint8_t c = s[i + j];
            if ((c & 0xC0) != 0x80) {
                r.status = REF_INVALID, r.index = i + j;
                return r;
            }
            partial = (partial << 6) | (c & 0x3Fu);
            if (!ref_possible(partial, total - 1 - j, total)) {
                r.status = REF_INVALID, r.index = i + j;
                return r;
            }
        }
        i += total;
    }
    return r;
}

static size_t encode_utf8(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Text profiles: how likely each encoded length is. */
enum { P_ASCII_HEAVY, P_MIXED, P_NO_ASCII, P_FOUR_BYTE, N_PROFILES };

/* A random scalar value whose encoding is at most max_bytes long. */
static uint32_t random_code_point(int profile, size_t max_bytes) {
    static const uint32_t edges[] = {0x00,   0x7F,   0x80,   0x7FF,   0x800,   0xD7FF,  0xE000,
                                     0xFFFD, 0xFFFE, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF,
                                     0x100000, 0x10FFFF};
    size_t bytes;
    size_t roll = rnd_below(100);
    switch (profile) {
    case P_ASCII_HEAVY: bytes = roll < 90 ? 1 : roll < 94 ? 2 : roll < 98 ? 3 : 4; break;
    case P_MIXED: bytes = 1 + roll % 4; break;
    case P_NO_ASCII: bytes = 2 + roll % 3; break;
    default: bytes = roll < 80 ? 4 : 1 + roll % 3; break;
    }
    if (bytes > max_bytes) bytes = 1 + rnd_below(max_bytes);
    if (rnd_chance(5)) {
        for (;;) {
            uint32_t cp = edges[rnd_below(sizeof edges / sizeof edges[0])];
            uint8_t tmp[4];
            if (encode_utf8(cp, tmp) <= max_bytes) return cp;
        }
    }
    switch (bytes) {
    case 1: return (uint32_t)rnd_below(0x80);
    case 2: return 0x80 + (uint32_t)rnd_below(0x800 - 0x80);
    case 3: {
        uint32_t cp = 0x800 + (uint32_t)rnd_below(0x10000 - 0x800 - 0x800);
        return cp >= 0xD800 ? cp + 0x800 : cp; /* skip the surrogates */
    }
    default: return 0x10000 + (uint32_t)rnd_below(0x110000 - 0x10000);
    }
}

/* Exactly n bytes of valid UTF-8. */
static void random_text(uint8_t *out, size_t n, int profile) {
    size_t pos = 0;
    while (pos < n) {
        size_t room = n - pos;
        pos += encode_utf8(random_code_point(profile, room < 4 ? room : 4), out + pos);
    }
}

/* Bytes that matter to UTF-8 validation, for random sequences that are often nearly valid. */
static uint8_t interesting_byte(void) {
    static const uint8_t bytes[] = {0x00, 0x2F, 0x41, 0x7F, 0x80, 0x81, 0x8F, 0x90, 0x9F, 0xA0, 0xAF, 0xBF,
                                    0xC0, 0xC1, 0xC2, 0xCF, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0,
                                    0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF};
    return bytes[rnd_below(sizeof bytes / sizeof bytes[0])];
}

/* ================================================================== UTF-8 checks */

static const char *status_name(int status) {
    return status == REF_VALID ? "valid" : status == REF_INCOMPLETE ? "incomplete" : "invalid";
}

/* Split modes for the streaming check. */
enum { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_SMALL, SPLIT_RANDOM, SPLIT_BIG, N_SPLITS };

static size_t next_piece(int mode, size_t left) {
    size_t n;
    switch (mode) {
    case SPLIT_WHOLE: return left;
    case SPLIT_BYTES: return left ? 1 : 0;
    case SPLIT_SMALL: n = rnd_chance(15) ? 0 : rnd_range(1, 5); break;
    case SPLIT_RANDOM:
        switch (rnd_below(5)) {
        case 0: n = 0; break;
        case 1: n = rnd_range(1, 4); break;
        case 2: n = rnd_range(1, 70); break;
        case 3: n = rnd_range(60, 140); break;
        default: n = rnd_below(left + 1); break;
        }
        break;
    default: n = rnd_chance(10) ? rnd_range(0, 5) : rnd_range(1, 200000); break;
    }
    return n < left ? n : left;
}

/*
 * Feed data in pieces (each in its own exact allocation) and compare every return value, the position,
 * the error index and finish() with the reference. Returns 0 on the first mismatch.
 */
static int utf8_stream_check(const uint8_t *data, size_t len, ref_result ref, int mode) {
    wsf_utf8_stream s;
    wsf_utf8_stream_init(&s);
    size_t pos = 0, pieces = 0;
    int failed = 0; /* a feed has returned 0 */
    while (pos < len || pieces == 0) {
        size_t n = next_piece(mode, len - pos);
        if (len - pos > 0 && n == 0 && pieces > 100000) n = len - pos; /* bound the piece count */
        size_t mis = rnd_below(4);
        uint8_t *piece = exact_copy(data + pos, n, mis);
        int got = wsf_utf8_stream_feed(&s, piece, n);
        free(piece - mis);
        pos += n;
        pieces++;
        int want = failed || (ref.status == REF_INVALID && ref.index < pos) ? 0 : 1;
        if (!CHECK(got == want,
                   "utf8 stream (split %d) len=%zu: feed of [%zu..%zu) returned %d, expected %d (reference: %s at "
                   "%zu) %s",
                   mode, len, pos - n, pos, got, want, status_name(ref.status), ref.index,
                   hex_around(data, len, ref.index < len ? ref.index : pos - (n > 0))))
            return 0;
        if (!got && !failed) {
            failed = 1;
            if (!CHECK(s.error == ref.index, "utf8 stream (split %d) len=%zu: error=%" PRIu64 ", expected %zu %s",
                       mode, len, s.error, ref.index, hex_around(data, len, ref.index)))
                return 0;
        }
        if (!failed && !CHECK(s.position == pos, "utf8 stream len=%zu: position %" PRIu64 " after %zu bytes", len,
                              s.position, pos))
            return 0;
    }
    if (rnd_chance(30)) { /* an empty piece at the end changes nothing */
        uint8_t *piece = xmalloc(0);
        int got = wsf_utf8_stream_feed(&s, piece, 0);
        free(piece);
        if (!CHECK(got == !failed, "utf8 stream len=%zu: empty feed at the end returned %d", len, got)) return 0;
    }
    int fin = wsf_utf8_stream_finish(&s);
    if (!CHECK(fin == (ref.status == REF_VALID),
               "utf8 stream (split %d) len=%zu: finish returned %d, reference says %s at %zu %s", mode, len, fin,
               status_name(ref.status), ref.index, hex_around(data, len, ref.index < len ? ref.index : 0)))
        return 0;
    if (ref.status != REF_VALID &&
        !CHECK(s.error == ref.index,
               "utf8 stream (split %d) len=%zu: after finish error=%" PRIu64 ", expected %zu (%s) %s", mode, len,
               s.error, ref.index, status_name(ref.status), hex_around(data, len, ref.index)))
        return 0;
    if (ref.status != REF_VALID) { /* stays failed */
        uint8_t a = 'a';
        if (!CHECK(wsf_utf8_stream_feed(&s, &a, 1) == 0, "utf8 stream len=%zu: feed after failure returned 1",
                   len))
            return 0;
    }
    return 1;
}

static unsigned long long utf8_cases;

/* Whole and streaming validation of data[0..len) against the reference. */
static void utf8_check_split(const uint8_t *data, size_t len, int mode) {
    utf8_cases++;
    ref_result ref = ref_utf8(data, len);
    size_t mis = rnd_chance(50) ? 0 : rnd_below(64);
    uint8_t *p = exact_copy(data, len, mis);
    int got = wsf_utf8_valid(p, len);
    free(p - mis);
    if (!CHECK(got == (ref.status == REF_VALID), "utf8_valid len=%zu mis=%zu: returned %d, reference: %s at %zu %s",
               len, mis, got, status_name(ref.status), ref.index,
               hex_around(data, len, ref.index < len ? ref.index : 0)))
        return;
    if (len > 8192 && mode == SPLIT_BYTES) mode = SPLIT_RANDOM; /* one allocation a byte: too slow there */
    utf8_stream_check(data, len, ref, mode);
}

static void utf8_check(const uint8_t *data, size_t len) {
    utf8_check_split(data, len, (int)rnd_below(N_SPLITS));
}

/* The stress corpus: byte strings with their expected verdict, checked against the reference first. */
typedef struct {
    const char *bytes;
    size_t len;
    int status;
    size_t index;
    const char *what;
} corpus_item;

#define ITEM(s, status, index, what) {s, sizeof(s) - 1, status, index, what}
#define V(s, what) ITEM(s, REF_VALID, sizeof(s) - 1, what)
#define BAD(s, at, what) ITEM(s, REF_INVALID, at, what)
#define INC(s, at, what) ITEM(s, REF_INCOMPLETE, at, what)

static const corpus_item corpus[] = {
    V("", "empty"),
    V("\x00", "NUL"),
    V("\x7f", "U+007F"),
    V("\xc2\x80", "U+0080"),
    V("\xdf\xbf", "U+07FF"),
    V("\xe0\xa0\x80", "U+0800"),
    V("\xed\x9f\xbf", "U+D7FF"),
    V("\xee\x80\x80", "U+E000"),
    V("\xef\xbf\xbd", "U+FFFD"),
    V("\xef\xbf\xbe", "U+FFFE"),
    V("\xef\xbf\xbf", "U+FFFF"),
    V("\xf0\x90\x80\x80", "U+10000"),
    V("\xf4\x8f\xbf\xbf", "U+10FFFF"),
    V("\xf3\xbf\xbf\xbf", "U+FFFFF"),
    V("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", "kosme"),
    V("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", "two emoji"),
    /* overlong '/' */
    BAD("\xc0\xaf", 0, "overlong / (2)"),
    BAD("\xe0\x80\xaf", 1, "overlong / (3)"),
    BAD("\xf0\x80\x80\xaf", 1, "overlong / (4)"),
    BAD("\xf8\x80\x80\x80\xaf", 0, "overlong / (5)"),
    BAD("\xfc\x80\x80\x80\x80\xaf", 0, "overlong / (6)"),
    /* maximum overlongs */
    BAD("\xc1\xbf", 0, "max overlong (2)"),
    BAD("\xe0\x9f\xbf", 1, "max overlong (3)"),
    BAD("\xf0\x8f\xbf\xbf", 1, "max overlong (4)"),
    BAD("\xf8\x87\xbf\xbf\xbf", 0, "max overlong (5)"),
    BAD("\xfc\x83\xbf\xbf\xbf\xbf", 0, "max overlong (6)"),
    /* overlong NUL */
    BAD("\xc0\x80", 0, "overlong NUL (2)"),
    BAD("\xe0\x80\x80", 1, "overlong NUL (3)"),
    BAD("\xf0\x80\x80\x80", 1, "overlong NUL (4)"),
    BAD("\xf8\x80\x80\x80\x80", 0, "overlong NUL (5)"),
    BAD("\xfc\x80\x80\x80\x80\x80", 0, "overlong NUL (6)"),
    /* single surrogates */
    BAD("\xed\xa0\x80", 1, "U+D800"),
    BAD("\xed\xad\xbf", 1, "U+DB7F"),
    BAD("\xed\xae\x80", 1, "U+DB80"),
    BAD("\xed\xaf\xbf", 1, "U+DBFF"),
    BAD("\xed\xb0\x80", 1, "U+DC00"),
    BAD("\xed\xbe\x80", 1, "U+DF80"),
    BAD("\xed\xbf\xbf", 1, "U+DFFF"),
    /* paired surrogates */
    BAD("\xed\xa0\x80\xed\xb0\x80", 1, "U+D800 U+DC00"),
    BAD("\xed\xad\xbf\xed\xbf\xbf", 1, "U+DB7F U+DFFF"),
    BAD("\xed\xaf\xbf\xed\xbf\xbf", 1, "U+DBFF U+DFFF"),
    BAD("a\xed\xa0\x80\xed\xb0\x80", 2, "a U+D800 U+DC00"),
    /* beyond U+10FFFF */
    BAD("\xf4\x90\x80\x80", 1, "U+110000"),
    BAD("\xf4\xbf\xbf\xbf", 1, "U+13FFFF"),
    BAD("\xf5\x80\x80\x80", 0, "F5 lead"),
    BAD("\xf7\xbf\xbf\xbf", 0, "U+1FFFFF"),
    BAD("\xf8\x88\x80\x80\x80", 0, "U+200000 (5)"),
    BAD("\xfb\xbf\xbf\xbf\xbf", 0, "U+3FFFFFF (5)"),
    BAD("\xfc\x84\x80\x80\x80\x80", 0, "U+4000000 (6)"),
    BAD("\xfd\xbf\xbf\xbf\xbf\xbf", 0, "U+7FFFFFFF (6)"),
    BAD("\xfe", 0, "FE"),
    BAD("\xff", 0, "FF"),
    BAD("\xfe\xfe\xff\xff", 0, "FE FE FF FF"),
    /* stray continuations */
    BAD("\x80", 0, "80"),
    BAD("\xbf", 0, "BF"),
    BAD("\x80\xbf", 0, "80 BF"),
    BAD("a\x80", 1, "a 80"),
    BAD("\xc2\x80\x80", 2, "U+0080 then 80"),
    BAD("\xe2\x82\xac\xbf", 3, "euro then BF"),
    BAD("\xf0\x9f\x98\x80\x80", 4, "emoji then 80"),
    /* lead bytes followed by something else */
    BAD("\xc2\x41", 1, "C2 A"),
    BAD("\xc2 ", 1, "C2 space"),
    BAD("\xe1\x80\x41", 2, "E1 80 A"),
    BAD("\xe1\x41", 1, "E1 A"),
    BAD("\xf1\x80\x80\x41", 3, "F1 80 80 A"),
    BAD("\xf1\x41", 1, "F1 A"),
    BAD("\xc2\xc2\x80", 1, "C2 C2 80"),
    BAD("\xe0\xa0\xc2\x80", 2, "E0 A0 C2 80"),
    BAD("\xc0", 0, "C0 alone"),
    BAD("\xc1", 0, "C1 alone"),
    BAD("\xc0 ", 0, "C0 space"),
    BAD("\xf5", 0, "F5 alone"),
    BAD("\xe0\x9f", 1, "E0 9F"),
    BAD("\xed\xa0", 1, "ED A0"),
    BAD("\xf0\x8f", 1, "F0 8F"),
    BAD("\xf4\x90", 1, "F4 90"),
    /* valid but unfinished */
    INC("\xc2", 0, "C2"),
    INC("\xdf", 0, "DF"),
    INC("\xe0", 0, "E0"),
    INC("\xe0\xa0", 0, "E0 A0"),
    INC("\xe1\x80", 0, "E1 80"),
    INC("\xed", 0, "ED"),
    INC("\xed\x9f", 0, "ED 9F"),
    INC("\xef\xbf", 0, "EF BF"),
    INC("\xf0", 0, "F0"),
    INC("\xf0\x90", 0, "F0 90"),
    INC("\xf0\x90\x80", 0, "F0 90 80"),
    INC("\xf4\x8f\xbf", 0, "F4 8F BF"),
    INC("\xf3\xbf\xbf", 0, "F3 BF BF"),
    INC("abc\xe2\x82", 3, "abc E2 82"),
    INC("\xe2\x82\xac\xf0\x9f\x98", 3, "euro then 3/4 emoji"),
};

#define N_CORPUS (sizeof corpus / sizeof corpus[0])

/* The reference must agree with the hand-written expectations before it judges anything. */
static void test_utf8_reference(void) {
    section = "utf8 reference self-test";
    for (size_t i = 0; i < N_CORPUS; i++) {
        ref_result r = ref_utf8((const uint8_t *)corpus[i].bytes, corpus[i].len);
        CHECK(r.status == corpus[i].status && r.index == corpus[i].index,
              "reference on %s: %s at %zu, expected %s at %zu", corpus[i].what, status_name(r.status), r.index,
              status_name(corpus[i].status), corpus[i].index);
    }
    /* every scalar value encodes to valid UTF-8 and every surrogate encoding is rejected at byte 1 */
    for (uint32_t cp = 0; cp < 0x110000; cp += (cp < 0x20000 ? 1 : 97)) {
        uint8_t buf[4];
        size_t n = encode_utf8(cp, buf);
        ref_result r = ref_utf8(buf, n);
        int surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        if (!CHECK(surrogate ? (r.status == REF_INVALID && r.index == 1) : r.status == REF_VALID,
                   "reference on U+%04" PRIX32 ": %s at %zu", cp, status_name(r.status), r.index))
            break;
    }
    /* all two-byte inputs: valid exactly when they encode U+0080..U+07FF or are two ASCII bytes */
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            uint8_t buf[2] = {(uint8_t)a, (uint8_t)b};
            int want = (a < 0x80 && b < 0x80) || (a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF);
            ref_result r = ref_utf8(buf, 2);
            if (!CHECK((r.status == REF_VALID) == want, "reference on %02x %02x: %s", a, b, status_name(r.status)))
                return;
        }
    }
}

/* Streaming: the fail-fast behaviour spelled out in the brief, with hand-written expectations. */
static void test_utf8_stream_basics(void) {
    section = "utf8 stream basics";
    wsf_utf8_stream s;
#define FEED(str, want)                                                                                      \
    do {                                                                                                     \
        uint8_t *piece_ = exact_copy((const uint8_t *)(str), sizeof(str) - 1, 0);                            \
        int got_ = wsf_utf8_stream_feed(&s, piece_, sizeof(str) - 1);                                        \
        free(piece_);                                                                                        \
        CHECK(got_ == (want), "feed(\"%s\") returned %d, expected %d", #str, got_, want);                    \
    } while (0)
#define ERROR_IS(at) CHECK(s.error == (at), "error=%" PRIu64 ", expected %d", s.error, at)

    wsf_utf8_stream_init(&s);
    CHECK(s.position == 0, "position after init");
    CHECK(wsf_utf8_stream_finish(&s) == 1, "finish of nothing must be 1");

    wsf_utf8_stream_init(&s);
    FEED("\xed", 1);
    FEED("\xa0", 0);
    ERROR_IS(1);
    FEED("a", 0);
    CHECK(wsf_utf8_stream_finish(&s) == 0, "finish after failure");
    ERROR_IS(1);

    wsf_utf8_stream_init(&s);
    FEED("\xf4\x90", 0);
    ERROR_IS(1);

    wsf_utf8_stream_init(&s);
    FEED("\xf4", 1);
    FEED("\x90", 0);
    ERROR_IS(1);

    wsf_utf8_stream_init(&s);
    FEED("\xc0", 0);
    ERROR_IS(0);

    wsf_utf8_stream_init(&s);
    FEED("ab", 1);
    FEED("\xe2", 1);
    FEED("\x28", 0);
    ERROR_IS(3);

    wsf_utf8_stream_init(&s);
    FEED("a", 1);
    FEED("", 1);
    FEED("\xe2\x82", 1);
    FEED("", 1);
    FEED("\xac", 1);
    CHECK(s.position == 4, "position %" PRIu64 ", expected 4", s.position);
    CHECK(wsf_utf8_stream_finish(&s) == 1, "a + euro sign in pieces must be valid");

    wsf_utf8_stream_init(&s);
    FEED("abc", 1);
    FEED("\xf0\x9f", 1);
    FEED("\x98", 1);
    CHECK(wsf_utf8_stream_finish(&s) == 0, "unfinished emoji must fail finish()");
    ERROR_IS(3);

    wsf_utf8_stream_init(&s);
    FEED("\xe2\x82\xac\xe2", 1);
    CHECK(wsf_utf8_stream_finish(&s) == 0, "unfinished sequence must fail finish()");
    ERROR_IS(3);

    /* a long valid piece followed by a piece that fails in its first byte */
    wsf_utf8_stream_init(&s);
    FEED("0123456789012345678901234567890123456789012345678901234567890123456789\xf0\x9f", 1);
    FEED("\x41", 0);
    ERROR_IS(72);
#undef FEED
#undef ERROR_IS
}

/* A corpus item at `at` inside exactly `total` bytes of filler (valid text of `profile`). */
static void utf8_corpus_in_context(const corpus_item *item, size_t at, size_t total, int profile, int mode) {
    uint8_t *buf = xmalloc(total);
    random_text(buf, at, profile);
    memcpy(buf + at, item->bytes, item->len);
    random_text(buf + at + item->len, total - at - item->len, profile);
    utf8_check_split(buf, total, mode);
    free(buf);
}

static void test_utf8_corpus(void) {
    section = "utf8 corpus";
    for (size_t i = 0; i < N_CORPUS; i++) {
        const corpus_item *item = &corpus[i];
        /* alone, in every split mode, and every prefix of it */
        for (int mode = 0; mode < N_SPLITS; mode++) utf8_check_split((const uint8_t *)item->bytes, item->len, mode);
        for (size_t k = 0; k < item->len; k++) utf8_check((const uint8_t *)item->bytes, k);
        /* straddling the vector block boundaries */
        static const size_t boundaries[] = {16, 32, 48, 64, 128, 192, 256, 320, 1024, 4096};
        for (size_t b = 0; b < sizeof boundaries / sizeof boundaries[0]; b++) {
            if (quick && b % 3 == 1) continue;
            for (int shift = -6; shift <= 2; shift++) {
                if ((ptrdiff_t)boundaries[b] + shift < 0) continue;
                size_t at = (size_t)((ptrdiff_t)boundaries[b] + shift);
                size_t tails[4] = {0, 1, rnd_range(2, 70), 64 + rnd_below(64)};
                for (size_t t = 0; t < 4; t++) {
                    if (quick && t == 3) continue;
                    int profile = (int)((t + (size_t)shift + b) % N_PROFILES);
                    utf8_corpus_in_context(item, at, at + item->len + tails[t], profile, (int)rnd_below(N_SPLITS));
                }
            }
        }
    }
}

static void test_utf8_lengths(void) {
    section = "utf8 lengths 0..300";
    uint8_t buf[512];
    for (size_t len = 0; len <= 300; len++) {
        for (int profile = 0; profile < N_PROFILES; profile++) {
            random_text(buf, len, profile);
            utf8_check(buf, len);
        }
        rnd_fill(buf, len); /* random bytes: almost always invalid early */
        utf8_check(buf, len);
        for (size_t i = 0; i < len; i++) buf[i] = interesting_byte();
        utf8_check(buf, len);
        /* mostly ASCII with a few interesting bytes */
        for (size_t i = 0; i < len; i++) buf[i] = rnd_chance(8) ? interesting_byte() : (uint8_t)('a' + i % 26);
        utf8_check(buf, len);
        /* a valid text with one byte replaced, at every position */
        if (!quick || len <= 80 || len % 16 == 0 || len % 64 >= 62 || len % 64 <= 1) {
            uint8_t text[512];
            int profile = (int)(len % N_PROFILES);
            random_text(text, len, profile);
            for (size_t pos = 0; pos < len; pos++) {
                if (quick && len > 80 && pos % 5 != 0 && pos + 5 < len) continue;
                memcpy(buf, text, len);
                uint8_t replacement;
                do replacement = rnd_chance(70) ? interesting_byte() : rnd_byte();
                while (replacement == text[pos]);
                buf[pos] = replacement;
                utf8_check(buf, len);
            }
        }
    }

    section = "utf8 truncations";
    /* every truncation of texts full of multi-byte sequences */
    uint8_t text[600];
    int rounds = quick ? 1 : 3;
    for (int r = 0; r < rounds; r++) {
        for (int profile = P_MIXED; profile < N_PROFILES; profile++) {
            random_text(text, sizeof text, profile);
            for (size_t k = 0; k <= sizeof text; k++) {
                if (quick && k > 300 && k % 7 != 0) continue;
                utf8_check(text, k);
            }
        }
    }
}

static void test_utf8_boundaries(void) {
    section = "utf8 block boundaries";
    static const size_t sizes[] = {31, 32, 33, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257, 511, 512, 513,
                                   4095, 4096, 4097};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t len = sizes[s];
        uint8_t *text = xmalloc(len), *buf = xmalloc(len);
        for (int profile = 0; profile < N_PROFILES; profile++) {
            random_text(text, len, profile);
            utf8_check(text, len);
            /* one bad byte near each 64-byte boundary and near the end */
            for (size_t pos = 0; pos < len; pos++) {
                size_t in_block = pos % 64;
                if (!(in_block <= 3 || in_block >= 60 || pos + 6 >= len || pos < 4)) continue;
                if (quick && rnd_chance(70)) continue;
                memcpy(buf, text, len);
                buf[pos] = interesting_byte();
                utf8_check(buf, len);
            }
            /* an unfinished sequence at the end (valid prefix) */
            for (size_t cut = 1; cut <= 3 && cut < len; cut++) {
                memcpy(buf, text, len);
                random_text(buf, len - cut, profile);
                static const uint8_t heads[3][3] = {{0xC3, 0, 0}, {0xE2, 0x82, 0}, {0xF0, 0x9F, 0x98}};
                memcpy(buf + len - cut, heads[cut - 1], cut);
                utf8_check(buf, len);
            }
        }
        free(text);
        free(buf);
    }
}

static void test_utf8_large(void) {
    section = "utf8 large";
    size_t base = (size_t)1 << 20;
    int rounds = quick ? 2 : 5;
    for (int r = 0; r < rounds; r++) {
        size_t len = base + rnd_below(130) - 65;
        int profile = r % N_PROFILES;
        uint8_t *text = xmalloc(len);
        random_text(text, len, profile);
        utf8_check_split(text, len, r % 2 ? SPLIT_BIG : SPLIT_WHOLE);
        /* corrupt one byte: somewhere, at the start, near the end, around a 64-byte boundary near the end */
        size_t positions[5] = {rnd_below(len), 0, len - 1 - rnd_below(4), (len & ~(size_t)63) - 2 + rnd_below(4),
                               len / 2};
        for (size_t k = 0; k < 5; k++) {
            if (quick && k >= 3) break;
            size_t pos = positions[k];
            uint8_t saved = text[pos];
            text[pos] = interesting_byte();
            utf8_check_split(text, len, (int)(k % 2 ? SPLIT_BIG : SPLIT_RANDOM));
            text[pos] = saved;
        }
        free(text);
    }
}

static void test_utf8(void) {
    test_utf8_stream_basics();
    test_utf8_corpus();
    test_utf8_lengths();
    test_utf8_boundaries();
    test_utf8_large();
}

/* ================================================================== frame header */

/* Reference decoder for RFC 6455 §5.2. */
static int ref_frame(const uint8_t *b, size_t n, wsf_frame_header *h) {
    if (n < 2) return WSF_FRAME_NEED_MORE;
    size_t ext = (b[1] & 0x7F) == 126 ? 2 : (b[1] & 0x7F) == 127 ? 8 : 0;
    if (n < 2 + ext) return WSF_FRAME_NEED_MORE;
    uint64_t length = b[1] & 0x7F;
    if (ext) {
        length = 0;
        for (size_t i = 0; i < ext; i++) length = length * 256 + b[2 + i];
    }
    if (length > UINT64_C(0x7FFFFFFFFFFFFFFF)) return WSF_FRAME_LENGTH_OVERFLOW;
    size_t masked = (b[1] & 0x80) != 0;
    if (n < 2 + ext + 4 * masked) return WSF_FRAME_NEED_MORE;
    memset(h, 0, sizeof *h);
    h->fin = (b[0] & 0x80) != 0;
    h->rsv1 = (b[0] & 0x40) != 0;
    h->rsv2 = (b[0] & 0x20) != 0;
    h->rsv3 = (b[0] & 0x10) != 0;
    h->opcode = b[0] & 0x0F;
    h->masked = (uint8_t)masked;
    if (masked) memcpy(h->mask_key, b + 2 + ext, 4);
    h->payload_length = length;
    h->header_length = 2 + ext + 4 * masked;
    return WSF_FRAME_OK;
}

static int same_header(const wsf_frame_header *a, const wsf_frame_header *b) {
    return a->fin == b->fin && a->rsv1 == b->rsv1 && a->rsv2 == b->rsv2 && a->rsv3 == b->rsv3 &&
           a->opcode == b->opcode && a->masked == b->masked && a->payload_length == b->payload_length &&
           a->header_length == b->header_length && (!a->masked || memcmp(a->mask_key, b->mask_key, 4) == 0);
}

static void describe_header(char *out, size_t size, const wsf_frame_header *h) {
    snprintf(out, size, "fin=%u rsv=%u%u%u op=%u masked=%u key=%02x%02x%02x%02x len=%" PRIu64 " hlen=%zu", h->fin,
             h->rsv1, h->rsv2, h->rsv3, h->opcode, h->masked, h->mask_key[0], h->mask_key[1], h->mask_key[2],
             h->mask_key[3], h->payload_length, h->header_length);
}

/* Parse buf[0..n) from an exact allocation and compare with the reference. */
static int frame_compare(const uint8_t *data, size_t n) {
    uint8_t *p = exact_copy(data, n, 0);
    wsf_frame_header got, want;
    memset(&got, 0xCC, sizeof got);
    int r = wsf_parse_frame_header(p, n, &got);
    free(p);
    int w = ref_frame(data, n, &want);
    char g[160], e[160];
    if (!CHECK(r == w, "frame header %s (n=%zu): returned %d, expected %d", hex_around(data, n, 0), n, r, w))
        return 0;
    if (r == WSF_FRAME_OK) {
        describe_header(g, sizeof g, &got);
        describe_header(e, sizeof e, &want);
        if (!CHECK(same_header(&got, &want), "frame header %s: got {%s}, expected {%s}", hex_around(data, n, 0), g, e))
            return 0;
    }
    return 1;
}

typedef struct {
    const char *bytes;
    size_t len;
    int fin, opcode, masked;
    uint64_t payload_length;
    size_t header_length;
    const char *payload; /* unmasked payload, if it is in `bytes` */
} frame_example;

#define FRAME(s, fin, op, masked, plen, hlen, payload) {s, sizeof(s) - 1, fin, op, masked, plen, hlen, payload}

static void test_frame_header(void) {
    section = "frame header";
    static const frame_example examples[] = {
        /* RFC 6455 §5.7 */
        FRAME("\x81\x05\x48\x65\x6c\x6c\x6f", 1, 1, 0, 5, 2, "Hello"),
        FRAME("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 1, 1, 1, 5, 6, "Hello"),
        FRAME("\x01\x03\x48\x65\x6c", 0, 1, 0, 3, 2, "Hel"),
        FRAME("\x80\x02\x6c\x6f", 1, 0, 0, 2, 2, "lo"),
        FRAME("\x89\x05\x48\x65\x6c\x6c\x6f", 1, 9, 0, 5, 2, "Hello"),
        FRAME("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 1, 10, 1, 5, 6, "Hello"),
        FRAME("\x82\x7E\x01\x00", 1, 2, 0, 256, 4, NULL),
        FRAME("\x82\x7F\x00\x00\x00\x00\x00\x01\x00\x00", 1, 2, 0, 65536, 10, NULL),
        /* edges of the length encodings */
        FRAME("\x82\x7D", 1, 2, 0, 125, 2, NULL),
        FRAME("\x82\x7E\xFF\xFF", 1, 2, 0, 65535, 4, NULL),
        FRAME("\x82\xFE\xFF\xFF\x01\x02\x03\x04", 1, 2, 1, 65535, 8, NULL),
        FRAME("\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 1, 2, 0, UINT64_C(0x7FFFFFFFFFFFFFFF), 10, NULL),
        FRAME("\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01\x02\x03\x04", 1, 2, 1, UINT64_C(0x7FFFFFFFFFFFFFFF), 14,
              NULL),
        FRAME("\x88\x80\x00\x00\x00\x00", 1, 8, 1, 0, 6, ""),
    };
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        const frame_example *ex = &examples[i];
        const uint8_t *bytes = (const uint8_t *)ex->bytes;
        uint8_t *p = exact_copy(bytes, ex->len, 0);
        wsf_frame_header h;
        int r = wsf_parse_frame_header(p, ex->len, &h);
        char got[160];
        describe_header(got, sizeof got, &h);
        CHECK(r == WSF_FRAME_OK && h.fin == ex->fin && h.opcode == ex->opcode && h.masked == ex->masked &&
                  h.rsv1 == 0 && h.rsv2 == 0 && h.rsv3 == 0 && h.payload_length == ex->payload_length &&
                  h.header_length == ex->header_length,
              "example %zu %s: returned %d {%s}", i, hex_around(bytes, ex->len, 0), r, got);
        if (r == WSF_FRAME_OK && ex->masked)
            CHECK(memcmp(h.mask_key, bytes + ex->header_length - 4, 4) == 0, "example %zu: wrong mask key", i);
        if (r == WSF_FRAME_OK && ex->payload && h.header_length + strlen(ex->payload) == ex->len) {
            size_t n = ex->len - h.header_length;
            uint8_t *payload = exact_copy(bytes + h.header_length, n, 0);
            if (h.masked) wsf_mask(payload, payload, n, h.mask_key, 0);
            CHECK(n == 0 || memcmp(payload, ex->payload, n) == 0, "example %zu: payload is not \"%s\"", i, ex->payload);
            free(payload);
        }
        free(p);
        /* every truncation needs more; a longer buffer parses the same */
        for (size_t k = 0; k < ex->header_length; k++) {
            uint8_t *q = exact_copy(bytes, k, 0);
            int rk = wsf_parse_frame_header(q, k, &h);
            CHECK(rk == WSF_FRAME_NEED_MORE, "example %zu truncated to %zu bytes: returned %d", i, k, rk);
            free(q);
        }
        frame_compare(bytes, ex->len);
    }

    /* 63-bit overflow: reported once the 8 length bytes are there, before the mask key */
    static const char *const overflows[] = {"\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00",
                                            "\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x00",
                                            "\x82\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
                                            "\x02\xFF\x80\x00\x00\x00\x00\x00\x00\x01"};
    for (size_t i = 0; i < sizeof overflows / sizeof overflows[0]; i++) {
        const uint8_t *bytes = (const uint8_t *)overflows[i];
        for (size_t k = 0; k <= 14; k++) {
            uint8_t full[14] = {0};
            memcpy(full, bytes, 10);
            uint8_t *q = exact_copy(full, k, 0);
            wsf_frame_header h;
            int rk = wsf_parse_frame_header(q, k, &h);
            int want = k < 10 ? WSF_FRAME_NEED_MORE : WSF_FRAME_LENGTH_OVERFLOW;
            CHECK(rk == want, "overflow %zu with %zu bytes: returned %d, expected %d", i, k, rk, want);
            free(q);
        }
    }

    /* every first byte (all flag bits, all opcodes) with several second bytes, at every length */
    static const uint8_t second[] = {0x00, 0x01, 0x05, 0x7D, 0x7E, 0x7F, 0x80, 0x81, 0xFD, 0xFE, 0xFF};
    for (unsigned b0 = 0; b0 < 256; b0++) {
        for (size_t j = 0; j < sizeof second / sizeof second[0]; j++) {
            uint8_t buf[16];
            rnd_fill(buf, sizeof buf);
            buf[0] = (uint8_t)b0;
            buf[1] = second[j];
            if (rnd_chance(50)) buf[2] &= 0x7F; /* mostly lengths that fit in 63 bits */
            for (size_t k = 0; k <= sizeof buf; k++)
                if (!frame_compare(buf, k)) break;
        }
    }
    /* every second byte */
    for (unsigned b1 = 0; b1 < 256; b1++) {
        for (int r = 0; r < 4; r++) {
            uint8_t buf[16];
            rnd_fill(buf, sizeof buf);
            buf[1] = (uint8_t)b1;
            if (r < 2) buf[2] &= 0x7F;
            for (size_t k = 0; k <= sizeof buf; k++)
                if (!frame_compare(buf, k)) break;
        }
    }
    /* random buffers */
    for (int r = 0; r < (quick ? 5000 : 50000); r++) {
        uint8_t buf[20];
        rnd_fill(buf, sizeof buf);
        if (rnd_chance(30)) buf[1] = (uint8_t)((buf[1] & 0x80) | (126 + rnd_below(2)));
        if (rnd_chance(50)) buf[2] &= 0x7F;
        frame_compare(buf, rnd_below(sizeof buf + 1));
    }
}

/* ================================================================== HTTP head */

static const char rfc_request[] = "GET /chat HTTP/1.1\r\n"
                                  "Host: server.example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Origin: http://example.com\r\n"
                                  "Sec-WebSocket-Protocol: chat, superchat\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "\r\n";

static const char rfc_response[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                   "Upgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                   "Sec-WebSocket-Protocol: chat\r\n"
                                   "\r\n";

#define MAX_TEST_HEADERS 64

typedef struct {
    int result;
    const char *error;
    wsf_http_head head;
    wsf_span names[MAX_TEST_HEADERS], values[MAX_TEST_HEADERS];
} http_outcome;

/* Parse from exact allocations: the input, and names/values arrays of exactly max_headers entries. */
static void http_parse(const uint8_t *data, size_t len, size_t max_size, size_t max_headers, http_outcome *o) {
    uint8_t *p = exact_copy(data, len, 0);
    wsf_span *names = xmalloc(max_headers * sizeof *names), *values = xmalloc(max_headers * sizeof *values);
    memset(&o->head, 0, sizeof o->head);
    o->error = NULL;
    o->result = wsf_parse_http_head(p, len, max_size, max_headers, names, values, &o->head, &o->error);
    if (o->result == WSF_HTTP_OK) {
        size_t n = o->head.header_count < max_headers ? o->head.header_count : max_headers;
        if (n > MAX_TEST_HEADERS) n = MAX_TEST_HEADERS;
        memcpy(o->names, names, n * sizeof *names);
        memcpy(o->values, values, n * sizeof *values);
    }
    free(names);
    free(values);
    free(p);
}

static int span_is(const uint8_t *buf, wsf_span span, const char *text) {
    return span.length == strlen(text) && memcmp(buf + span.offset, text, span.length) == 0;
}

static void check_spans(const char *what, const uint8_t *buf, const http_outcome *o, const char *const *start,
                        const char *const *pairs, size_t n_headers) {
    for (int i = 0; i < 3; i++)
        CHECK(span_is(buf, o->head.start[i], start[i]), "%s: start[%d] is \"%.*s\", expected \"%s\"", what, i,
              (int)o->head.start[i].length, (const char *)buf + o->head.start[i].offset, start[i]);
    CHECK(o->head.header_count == n_headers, "%s: %zu headers, expected %zu", what, o->head.header_count, n_headers);
    for (size_t i = 0; i < n_headers && i < o->head.header_count; i++) {
        CHECK(span_is(buf, o->names[i], pairs[2 * i]), "%s: header %zu name \"%.*s\", expected \"%s\"", what, i,
              (int)o->names[i].length, (const char *)buf + o->names[i].offset, pairs[2 * i]);
        CHECK(span_is(buf, o->values[i], pairs[2 * i + 1]), "%s: header %zu value \"%.*s\", expected \"%s\"", what,
              i, (int)o->values[i].length, (const char *)buf + o->values[i].offset, pairs[2 * i + 1]);
    }
}

/* An independent statement of the grammar the parser accepts (see http.c and wsfast.h). */
static int ref_tchar(uint8_t c) {
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    for (size_t i = 0; i < sizeof extra - 1; i++)
        if ((uint8_t)extra[i] == c) return 1;
    return 0;
}
static int ref_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int ref_text(uint8_t c) { return c == '\t' || c == ' ' || (c > 0x20 && c != 0x7F); } /* SP HT VCHAR obs-text */

static int ref_version(const uint8_t *p, size_t n) {
    return n == 8 && p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/' && ref_digit(p[5]) &&
           p[6] == '.' && ref_digit(p[7]);
}

/* start line buf[a..b): fills start[] with absolute spans */
static int ref_start_line(const uint8_t *buf, size_t a, size_t b, wsf_http_head *h) {
    const uint8_t *l = buf + a;
    size_t n = b - a;
    if (n >= 5 && memcmp(l, "HTTP/", 5) == 0) { /* HTTP/d.d SP ddd [SP reason] */
        h->is_response = 1;
        if (n < 12 || !ref_version(l, 8) || l[8] != ' ' || !ref_digit(l[9]) || !ref_digit(l[10]) ||
            !ref_digit(l[11]))
            return 0;
        if (n > 12 && l[12] != ' ') return 0;
        for (size_t i = 13; i < n; i++)
            if (!ref_text(l[i])) return 0;
        h->start[0] = (wsf_span){a, 8};
        h->start[1] = (wsf_span){a + 9, 3};
        h->start[2] = n > 13 ? (wsf_span){a + 13, n - 13} : (wsf_span){a + n, 0};
        return 1;
    }
    h->is_response = 0; /* method SP target SP version */
    size_t sp1 = 0;
    while (sp1 < n && l[sp1] != ' ') sp1++;
    if (sp1 == 0 || sp1 == n) return 0;
    for (size_t i = 0; i < sp1; i++)
        if (!ref_tchar(l[i])) return 0;
    size_t sp2 = sp1 + 1;
    while (sp2 < n && l[sp2] != ' ') sp2++;
    if (sp2 == sp1 + 1 || sp2 == n) return 0;
    for (size_t i = sp1 + 1; i < sp2; i++)
        if (l[i] <= 0x20 || l[i] >= 0x7F) return 0;
    if (!ref_version(l + sp2 + 1, n - sp2 - 1)) return 0;
    h->start[0] = (wsf_span){a, sp1};
    h->start[1] = (wsf_span){a + sp1 + 1, sp2 - sp1 - 1};
    h->start[2] = (wsf_span){a + sp2 + 1, n - sp2 - 1};
    return 1;
}

static int ref_field_line(const uint8_t *buf, size_t a, size_t b, wsf_span *name, wsf_span *value) {
    size_t colon = a;
    while (colon < b && ref_tchar(buf[colon])) colon++;
    if (colon == a || colon == b || buf[colon] != ':') return 0;
    size_t v = colon + 1, e = b;
    for (size_t i = v; i < e; i++)
        if (!ref_text(buf[i])) return 0;
    while (v < e && (buf[v] == ' ' || buf[v] == '\t')) v++;
    while (e > v && (buf[e - 1] == ' ' || buf[e - 1] == '\t')) e--;
    *name = (wsf_span){a, colon - a};
    *value = (wsf_span){v, e - v};
    return 1;
}

/* The reference parser: lines end with CRLF; limits as documented in wsfast.h. */
static int ref_http(const uint8_t *buf, size_t len, size_t max_size, size_t max_headers, http_outcome *o) {
    size_t pos = 0, count = 0;
    memset(&o->head, 0, sizeof o->head);
    for (int line = 0;; line++) {
        size_t lf = pos;
        while (lf < len && lf < max_size && buf[lf] != '\n') lf++;
        if (lf == len || lf >= max_size) {
            if (len < max_size) return WSF_HTTP_NEED_MORE;
            return line == 0 ? WSF_HTTP_LINE_TOO_LONG : WSF_HTTP_TOO_LARGE;
        }
        if (lf == pos || buf[lf - 1] != '\r') return WSF_HTTP_ERROR;
        size_t end = lf - 1;
        for (size_t i = pos; i < end; i++)
            if (buf[i] == '\r') return WSF_HTTP_ERROR;
        if (line == 0) {
            if (!ref_start_line(buf, pos, end, &o->head)) return WSF_HTTP_ERROR;
        } else if (end == pos) {
            o->head.header_count = count;
            o->head.head_length = lf + 1;
            return WSF_HTTP_OK;
        } else if (count == max_headers) {
            return WSF_HTTP_TOO_LARGE;
        } else {
            if (count >= MAX_TEST_HEADERS) return -99; /* not representable here; caller skips */
            if (!ref_field_line(buf, pos, end, &o->names[count], &o->values[count])) return WSF_HTTP_ERROR;
            count++;
        }
        pos = lf + 1;
    }
}

static int same_span(wsf_span a, wsf_span b) { return a.offset == b.offset && a.length == b.length; }

/* Compare the parser with the reference on one input; check the invariants of every result. */
static void http_compare(const uint8_t *data, size_t len, size_t max_size, size_t max_headers) {
    http_outcome got, want;
    http_parse(data, len, max_size, max_headers, &got);
    int r = got.result;
    if (!CHECK(r >= WSF_HTTP_LINE_TOO_LONG && r <= WSF_HTTP_OK, "http: result %d out of range", r)) return;
    if (r < 0)
        CHECK(got.error != NULL && got.error[0] != '\0', "http result %d without an error message", r);
    int w = ref_http(data, len, max_size, max_headers, &want);
    if (w == -99) return;
    if (!CHECK(r == w, "http (len=%zu max_size=%zu max_headers=%zu): returned %d (%s), reference %d; %s", len, max_size,
               max_headers, r, r < 0 && got.error ? got.error : "-", w, hex_around(data, len, 0)))
        return;
    if (r != WSF_HTTP_OK) return;
    const wsf_http_head *g = &got.head, *e = &want.head;
    int same = g->is_response == e->is_response && g->header_count == e->header_count &&
               g->head_length == e->head_length;
    for (int i = 0; i < 3 && same; i++) same = same_span(g->start[i], e->start[i]);
    for (size_t i = 0; i < e->header_count && same; i++)
        same = same_span(got.names[i], want.names[i]) && same_span(got.values[i], want.values[i]);
    if (!CHECK(same, "http (len=%zu): spans differ from the reference (count %zu/%zu, head_length %zu/%zu)", len,
               g->header_count, e->header_count, g->head_length, e->head_length))
        return;
    /* every shorter prefix of an accepted head needs more */
    for (int k = 0; k < 3; k++) {
        size_t cut = rnd_below(g->head_length);
        http_outcome o;
        http_parse(data, cut, max_size, max_headers, &o);
        CHECK(o.result == WSF_HTTP_NEED_MORE, "http: prefix of %zu bytes of an accepted head returned %d", cut,
              o.result);
    }
}

static void test_http_examples(void) {
    section = "http examples";
    const uint8_t *req = (const uint8_t *)rfc_request, *resp = (const uint8_t *)rfc_response;
    size_t req_len = sizeof rfc_request - 1, resp_len = sizeof rfc_response - 1;
    http_outcome o;

    static const char *const req_start[] = {"GET", "/chat", "HTTP/1.1"};
    static const char *const req_headers[] = {"Host", "server.example.com", "Upgrade", "websocket", "Connection",
                                              "Upgrade", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin",
                                              "http://example.com", "Sec-WebSocket-Protocol", "chat, superchat",
                                              "Sec-WebSocket-Version", "13"};
    http_parse(req, req_len, 8192, 16, &o);
    CHECK(o.result == WSF_HTTP_OK, "RFC 6455 request: returned %d (%s)", o.result, o.error ? o.error : "-");
    if (o.result == WSF_HTTP_OK) {
        CHECK(o.head.is_response == 0, "RFC 6455 request parsed as a response");
        CHECK(o.head.head_length == req_len, "RFC 6455 request: head_length %zu, expected %zu", o.head.head_length,
              req_len);
        check_spans("RFC 6455 request", req, &o, req_start, req_headers, 7);
    }
    /* followed by more bytes (a frame): head_length stops at the blank line */
    {
        uint8_t buf[sizeof rfc_request + 8];
        memcpy(buf, req, req_len);
        memcpy(buf + req_len, "\x81\x05Hello\r", 8);
        http_parse(buf, req_len + 8, 8192, 16, &o);
        CHECK(o.result == WSF_HTTP_OK && o.head.head_length == req_len, "request + frame: returned %d, head_length %zu",
              o.result, o.head.head_length);
    }

    static const char *const resp_start[] = {"HTTP/1.1", "101", "Switching Protocols"};
    static const char *const resp_headers[] = {"Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Accept",
                                               "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol", "chat"};
    http_parse(resp, resp_len, 8192, 16, &o);
    CHECK(o.result == WSF_HTTP_OK, "RFC 6455 response: returned %d (%s)", o.result, o.error ? o.error : "-");
    if (o.result == WSF_HTTP_OK) {
        CHECK(o.head.is_response == 1, "RFC 6455 response parsed as a request");
        CHECK(o.head.head_length == resp_len, "RFC 6455 response: head_length %zu", o.head.head_length);
        check_spans("RFC 6455 response", resp, &o, resp_start, resp_headers, 4);
    }

    /* every prefix needs more */
    for (size_t k = 0; k < req_len; k++) {
        http_parse(req, k, 8192, 16, &o);
        CHECK(o.result == WSF_HTTP_NEED_MORE, "request prefix of %zu bytes: returned %d (%s)", k, o.result,
              o.error ? o.error : "-");
    }
    for (size_t k = 0; k < resp_len; k++) {
        http_parse(resp, k, 8192, 16, &o);
        CHECK(o.result == WSF_HTTP_NEED_MORE, "response prefix of %zu bytes: returned %d", k, o.result);
    }

    /* whitespace around values, empty values, obs-text, HTAB */
    {
        static const char head[] = "HTTP/1.1 200 \r\nA:  x y \t\r\nB:\r\nC:\t\r\nD: caf\xc3\xa9\tok\r\n\r\n";
        static const char *const start[] = {"HTTP/1.1", "200", ""};
        static const char *const headers[] = {"A", "x y", "B", "", "C", "", "D", "caf\xc3\xa9\tok"};
        http_parse((const uint8_t *)head, sizeof head - 1, 8192, 16, &o);
        CHECK(o.result == WSF_HTTP_OK, "whitespace head: returned %d (%s)", o.result, o.error ? o.error : "-");
        if (o.result == WSF_HTTP_OK) check_spans("whitespace head", (const uint8_t *)head, &o, start, headers, 4);
    }
    {
        static const char head[] = "HTTP/1.0 404\r\n\r\n";
        static const char *const start[] = {"HTTP/1.0", "404", ""};
        http_parse((const uint8_t *)head, sizeof head - 1, 8192, 16, &o);
        CHECK(o.result == WSF_HTTP_OK, "status line without reason: returned %d", o.result);
        if (o.result == WSF_HTTP_OK)
            check_spans("status line without reason", (const uint8_t *)head, &o, start, NULL, 0);
    }
}

typedef struct {
    const char *head;
    size_t len;
    const char *what;
} bad_head;

#define BAD_HEAD(s, what) {s, sizeof(s) - 1, what}

static void test_http_errors(void) {
    section = "http errors";
    static const bad_head bad[] = {
        BAD_HEAD("GET / HTTP/1.1\nHost: a\r\n\r\n", "bare LF after the request line"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF after a header"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\r\n\n", "bare LF as the blank line"),
        BAD_HEAD("\nGET / HTTP/1.1\r\n\r\n", "bare LF first"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "bare CR in a value"),
        BAD_HEAD("GET / HT\rTP/1.1\r\n\r\n", "bare CR in the request line"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", "CR CR LF"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "obs-fold with SP"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", "obs-fold with HTAB"),
        BAD_HEAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", "first header starts with SP"),
        BAD_HEAD("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", "bad header name"),
        BAD_HEAD("GET / HTTP/1.1\r\nHo st: a\r\n\r\n", "space inside a header name"),
        BAD_HEAD("GET / HTTP/1.1\r\n: a\r\n\r\n", "empty header name"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "space before colon"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", "tab before colon"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost a\r\n\r\n", "no colon"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", "NUL in a value"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", "DEL in a value"),
        BAD_HEAD("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", "control char in a value"),
        BAD_HEAD("GET / HTTP/1.x\r\n\r\n", "bad version digit"),
        BAD_HEAD("GET / HTTP/11\r\n\r\n", "bad version form"),
        BAD_HEAD("GET / http/1.1\r\n\r\n", "lower-case version"),
        BAD_HEAD("GET / HTTP/1.1 \r\n\r\n", "space after version"),
        BAD_HEAD("GET / HTTP/1.10\r\n\r\n", "long version"),
        BAD_HEAD("GET /\r\n\r\n", "HTTP/0.9 request"),
        BAD_HEAD("GET  / HTTP/1.1\r\n\r\n", "two spaces after the method"),
        BAD_HEAD("GET /a b HTTP/1.1\r\n\r\n", "space in the target"),
        BAD_HEAD(" GET / HTTP/1.1\r\n\r\n", "leading space"),
        BAD_HEAD("G(T / HTTP/1.1\r\n\r\n", "bad method"),
        BAD_HEAD("\r\nGET / HTTP/1.1\r\n\r\n", "empty start line"),
        BAD_HEAD("HTTP/1.1x 101 OK\r\n\r\n", "bad response version"),
        BAD_HEAD("HTTP/1 101 OK\r\n\r\n", "short response version"),
        BAD_HEAD("HTTP/1.1 1x1 OK\r\n\r\n", "bad status"),
        BAD_HEAD("HTTP/1.1 10 OK\r\n\r\n", "two-digit status"),
        BAD_HEAD("HTTP/1.1 1011 OK\r\n\r\n", "four-digit status"),
        BAD_HEAD("HTTP/1.1\r\n\r\n", "no status"),
        BAD_HEAD("HTTP/1.1  101 OK\r\n\r\n", "two spaces before the status"),
        BAD_HEAD("HTTP/1.1 101 O\x01K\r\n\r\n", "control char in the reason"),
        BAD_HEAD("HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n", "response header without colon"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_outcome o;
        http_parse((const uint8_t *)bad[i].head, bad[i].len, 8192, 16, &o);
        CHECK(o.result == WSF_HTTP_ERROR && o.error != NULL && o.error[0] != '\0',
              "malformed head (%s): returned %d, error %s", bad[i].what, o.result, o.error ? o.error : "NULL");
        http_compare((const uint8_t *)bad[i].head, bad[i].len, 8192, 16);
    }
}

static void test_http_limits(void) {
    section = "http limits";
    const uint8_t *req = (const uint8_t *)rfc_request;
    size_t len = sizeof rfc_request - 1;
    http_outcome o;
    http_parse(req, len, len, 16, &o);
    CHECK(o.result == WSF_HTTP_OK, "max_size == head length: returned %d", o.result);
    http_parse(req, len, len - 1, 16, &o);
    CHECK(o.result == WSF_HTTP_TOO_LARGE && o.error != NULL, "max_size one short: returned %d", o.result);
    http_parse(req, len, 10, 16, &o);
    CHECK(o.result == WSF_HTTP_LINE_TOO_LONG && o.error != NULL, "max_size 10 (in the start line): returned %d",
          o.result);
    /* a partial head that has already reached max_size */
    http_parse(req, 40, 40, 16, &o);
    CHECK(o.result == WSF_HTTP_TOO_LARGE && o.error != NULL, "partial head at max_size: returned %d", o.result);
    http_parse(req, 39, 40, 16, &o);
    CHECK(o.result == WSF_HTTP_NEED_MORE, "partial head below max_size: returned %d", o.result);
    http_parse(req, len, SIZE_MAX, 16, &o);
    CHECK(o.result == WSF_HTTP_OK, "max_size SIZE_MAX: returned %d", o.result);

    http_parse(req, len, 8192, 7, &o);
    CHECK(o.result == WSF_HTTP_OK && o.head.header_count == 7, "max_headers == 7: returned %d", o.result);
    for (size_t m = 0; m < 7; m++) {
        http_parse(req, len, 8192, m, &o);
        CHECK(o.result == WSF_HTTP_TOO_LARGE && o.error != NULL && o.error[0] != '\0',
              "max_headers %zu (7 headers): returned %d", m, o.result);
    }
    /* exact sizes around the limit, a head with no headers */
    static const char empty[] = "GET / HTTP/1.1\r\n\r\n";
    http_parse((const uint8_t *)empty, sizeof empty - 1, sizeof empty - 1, 0, &o);
    CHECK(o.result == WSF_HTTP_OK && o.head.header_count == 0, "no headers, max_headers 0: returned %d", o.result);
    for (size_t m = 0; m <= len + 2; m++) http_compare(req, len, m, 16);
}

/* Characters that make random heads interesting. */
static uint8_t http_byte(void) {
    static const char common[] = "GETHTP/1.0 :\r\n\r\n\t-aZ9~(\"";
    switch (rnd_below(10)) {
    case 0: return rnd_byte();
    case 1: return (uint8_t)"\0\x7f\x80\xff\x01\x1f"[rnd_below(6)];
    default: return (uint8_t)common[rnd_below(sizeof common - 1)];
    }
}

/* A valid head with random headers, into out (capacity cap); returns its length. */
static size_t random_head(uint8_t *out, size_t cap) {
    static const char *const starts[] = {"GET /chat HTTP/1.1", "HTTP/1.1 101 Switching Protocols",
                                         "POST /x?y=1 HTTP/1.0", "HTTP/1.1 200", "OPTIONS * HTTP/1.1",
                                         "HTTP/1.0 404 Not  Found "};
    size_t n = 0;
    const char *s = starts[rnd_below(sizeof starts / sizeof starts[0])];
    n += (size_t)snprintf((char *)out, cap, "%s\r\n", s);
    size_t headers = rnd_below(12);
    for (size_t i = 0; i < headers && n + 80 < cap; i++) {
        static const char *const names[] = {"Host", "Upgrade", "X-A", "sec-websocket-key", "a", "!#$%&'*+-.^_`|~"};
        static const char *const values[] = {"", "x", " spaced  out ", "\tv\t", "caf\xc3\xa9", "a:b:c", "13"};
        n += (size_t)snprintf((char *)out + n, cap - n, "%s:%s%s\r\n", names[rnd_below(6)], rnd_chance(70) ? " " : "",
                              values[rnd_below(7)]);
    }
    n += (size_t)snprintf((char *)out + n, cap - n, "\r\n");
    return n;
}

static void test_http_fuzz(void) {
    section = "http fuzz";
    uint8_t buf[1024];
    int rounds = quick ? 2000 : 6000;
    for (int r = 0; r < rounds; r++) {
        size_t len;
        if (r % 3 == 0) { /* random bytes */
            len = rnd_below(200);
            for (size_t i = 0; i < len; i++) buf[i] = http_byte();
        } else { /* a valid head, mutated */
            len = random_head(buf, sizeof buf - 64);
            size_t mutations = r % 3 == 1 ? 0 : rnd_range(1, 4);
            for (size_t m = 0; m < mutations && len > 0; m++) {
                size_t at = rnd_below(len);
                switch (rnd_below(5)) {
                case 0: buf[at] = http_byte(); break;
                case 1: /* insert */
                    if (len < sizeof buf - 1) {
                        memmove(buf + at + 1, buf + at, len - at);
                        buf[at] = http_byte();
                        len++;
                    }
                    break;
                case 2: /* delete */
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                    break;
                case 3: len = at; break; /* truncate */
                default: buf[at] = rnd_byte(); break;
                }
            }
            if (rnd_chance(20) && len + 10 < sizeof buf) { /* trailing bytes after the head */
                rnd_fill(buf + len, 10);
                len += 10;
            }
        }
        size_t max_size = rnd_chance(70) ? 8192 : rnd_below(len + 5);
        size_t max_headers = rnd_chance(70) ? 16 : rnd_below(8);
        http_compare(buf, len, max_size, max_headers);
    }
}

static void test_http(void) {
    test_http_examples();
    test_http_errors();
    test_http_limits();
    test_http_fuzz();
}

/* ================================================================== main */

static int is_big_endian(void) {
    const uint16_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 0;
}

int main(int argc, char **argv) {
    uint64_t seed = 0x5EED5EED2024ULL;
    const char *only = NULL;
    const char *env = getenv("WSF_TEST_QUICK");
    quick = env != NULL && env[0] != '\0' && strcmp(env, "0") != 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0 || strcmp(argv[i], "quick") == 0) {
            quick = 1;
        } else if (strncmp(argv[i], "--seed=", 7) == 0) {
            seed = strtoull(argv[i] + 7, NULL, 0);
        } else if (strncmp(argv[i], "--level=", 8) == 0) {
            only = argv[i] + 8;
        } else if (strncmp(argv[i], "--max-reports=", 14) == 0) {
            max_reports = strtoull(argv[i] + 14, NULL, 0);
        } else {
            printf("usage: %s [--quick] [--seed=N] [--level=NAME] [--max-reports=N]\n", argv[0]);
            return 2;
        }
    }
    rng_state = seed;
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* The first kernel call, before any selection, must pick the detected level by itself. */
    {
        uint8_t text[100];
        memset(text, 'a', sizeof text);
        text[50] = 0xC3, text[51] = 0xA9;
        section = "first call";
        CHECK(wsf_utf8_valid(text, sizeof text) == 1, "utf8_valid before any selection");
        CHECK(wsf_simd_current() == wsf_simd_detect(), "current level %d before selection, detected %d",
              (int)wsf_simd_current(), (int)wsf_simd_detect());
    }

    printf("c-kernels driver: seed=%" PRIu64 " mode=%s byte-order=%s detected=%s\n", seed, quick ? "quick" : "full",
           is_big_endian() ? "big-endian" : "little-endian", wsf_simd_name(wsf_simd_detect()));

    test_dispatch();
    test_utf8_reference();

    int found = only == NULL;
    char tested[64] = "";
    for (size_t i = 0; i < N_LEVELS; i++) {
        wsf_simd_level level = all_levels[i];
        const char *name = wsf_simd_name(level);
        if (only != NULL && strcmp(only, name) != 0) continue;
        found = 1;
        if (!wsf_simd_supported(level)) {
            if (only != NULL) {
                printf("level %s is not supported on this CPU\n", name);
                return 77;
            }
            continue;
        }
        level_name = name;
        wsf_simd_select(level);
        unsigned long long before_pass = n_passed, before_fail = n_failed;
        utf8_cases = 0;
        clock_t t0 = clock();
        test_mask();
        test_copy();
        clock_t t1 = clock();
        test_utf8();
        clock_t t2 = clock();
        printf("level %s: %llu checks, %llu failed (%llu UTF-8 inputs; cpu %.2fs mask, %.2fs utf8)\n", name,
               n_passed + n_failed - before_pass - before_fail, n_failed - before_fail, utf8_cases,
               (double)(t1 - t0) / CLOCKS_PER_SEC, (double)(t2 - t1) / CLOCKS_PER_SEC);
        if (tested[0]) strcat(tested, " ");
        strcat(tested, name);
    }
    if (!found) {
        printf("unknown level %s\n", only);
        return 2;
    }
    level_name = "-";
    wsf_simd_select(wsf_simd_detect());
    clock_t t0 = clock();
    test_frame_header();
    clock_t t1 = clock();
    test_http();
    clock_t t2 = clock();
    printf("parsers: cpu %.2fs frame header, %.2fs http\n", (double)(t1 - t0) / CLOCKS_PER_SEC,
           (double)(t2 - t1) / CLOCKS_PER_SEC);

    printf("levels tested: %s\n", tested);
    printf("c-kernels: %llu passed, %llu failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}
