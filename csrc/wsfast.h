/*
 * wsfast C kernels: masking, UTF-8 validation, frame-header and HTTP-head parsing.
 *
 * Portable C11 with no Python objects, so the kernels can be unit-tested, fuzzed and
 * cross-compiled on their own. SIMD variants are selected once at run time (see cpu.c);
 * every variant gives the same result as the scalar code for every input.
 *
 * Memory contract: no kernel reads or writes outside [ptr, ptr + len) of the buffers it is given.
 */
#ifndef WSFAST_H
#define WSFAST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- CPU dispatch */

typedef enum {
    WSF_SIMD_SCALAR = 0,
    WSF_SIMD_SSE2 = 1,
    WSF_SIMD_AVX2 = 2,
    WSF_SIMD_AVX512 = 3,
    WSF_SIMD_NEON = 4
} wsf_simd_level;

/* The best level this CPU and OS support. */
wsf_simd_level wsf_simd_detect(void);

/* Non-zero when `level` runs on this CPU (scalar always does). */
int wsf_simd_supported(wsf_simd_level level);

/* Select the kernels of `level`; returns 0, or -1 (nothing changed) if the CPU lacks it. */
int wsf_simd_select(wsf_simd_level level);

/* The level in use (the detected best until wsf_simd_select is called). */
wsf_simd_level wsf_simd_current(void);

/* "scalar", "sse2", "avx2", "avx512", "neon"; NULL for a value outside the enum. */
const char *wsf_simd_name(wsf_simd_level level);

/* ---------------------------------------------------------------- masking */

/*
 * dst[i] = src[i] ^ key[(offset + i) % 4] for i in [0, len). dst may equal src (in place) but must
 * not otherwise overlap it. `offset` is taken modulo 4. Returns the key offset for the next byte.
 */
unsigned wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4], unsigned offset);

/* From this length, wsf_copy uses the masking loops rather than memcpy. */
#define WSF_COPY_VECTOR_MIN 2048

/* dst[0:len] = src[0:len], the two not overlapping: memcpy, with the vector loops from
   WSF_COPY_VECTOR_MIN bytes (see mask.c for why). */
void wsf_copy(uint8_t *dst, const uint8_t *src, size_t len);

/* ---------------------------------------------------------------- UTF-8 */

/* 1 if data is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points > U+10FFFF). */
int wsf_utf8_valid(const uint8_t *data, size_t len);

/*
 * Incremental validation for text that arrives in pieces. `state` is the scalar automaton's state
 * between pieces (WSF_UTF8_ACCEPT at a code-point boundary); `position` counts the bytes fed.
 */
enum { WSF_UTF8_ACCEPT = 0, WSF_UTF8_REJECT = 1 };

typedef struct {
    uint32_t state;    /* WSF_UTF8_ACCEPT, WSF_UTF8_REJECT or a mid-sequence state */
    uint64_t position; /* stream bytes consumed so far */
    uint64_t error;    /* stream index of the first offending byte, valid once state is REJECT */
    uint64_t seq_start;/* stream index where the current (incomplete) sequence began */
} wsf_utf8_stream;

void wsf_utf8_stream_init(wsf_utf8_stream *s);

/*
 * Feed the next piece. Returns 1 while everything fed so far is a prefix of valid UTF-8, 0 as soon as
 * it cannot be (then s->error is set, and further feeds keep returning 0).
 */
int wsf_utf8_stream_feed(wsf_utf8_stream *s, const uint8_t *data, size_t len);

/* 1 if everything fed was valid and ended on a code-point boundary; else 0 and s->error is set. */
int wsf_utf8_stream_finish(wsf_utf8_stream *s);

/* ---------------------------------------------------------------- frame header (RFC 6455 §5.2) */

typedef struct {
    uint8_t fin, rsv1, rsv2, rsv3, opcode, masked;
    uint8_t mask_key[4];   /* valid when masked */
    uint64_t payload_length;
    size_t header_length;  /* 2 to 14 */
} wsf_frame_header;

enum {
    WSF_FRAME_NEED_MORE = 0,
    WSF_FRAME_OK = 1,
    WSF_FRAME_LENGTH_OVERFLOW = -1 /* 64-bit length with the most significant bit set */
};

/* Parse the header at buf[0..len). Returns one of the WSF_FRAME_* values. */
int wsf_parse_frame_header(const uint8_t *buf, size_t len, wsf_frame_header *out);

/* ---------------------------------------------------------------- HTTP/1.1 head (RFC 9112) */

typedef struct {
    size_t offset, length;
} wsf_span;

typedef struct {
    int is_response;     /* 1: "HTTP/x.y code reason"; 0: "method target HTTP/x.y" */
    wsf_span start[3];   /* the three parts of the start line */
    size_t header_count;
    size_t head_length;  /* bytes up to and including the blank line's CRLF */
} wsf_http_head;

/* WSF_HTTP_LINE_TOO_LONG: max_size reached inside the start line (HTTP 414); WSF_HTTP_TOO_LARGE: over
   max_size later, or over max_headers (HTTP 431); WSF_HTTP_ERROR: malformed (400). */
enum { WSF_HTTP_LINE_TOO_LONG = -3, WSF_HTTP_TOO_LARGE = -2, WSF_HTTP_ERROR = -1, WSF_HTTP_NEED_MORE = 0, WSF_HTTP_OK = 1 };

/*
 * Parse an HTTP/1.1 request or response head at buf[0..len). Header names and values are written as
 * spans into names[]/values[] (capacity max_headers each; values have surrounding whitespace removed).
 * Returns WSF_HTTP_OK, WSF_HTTP_NEED_MORE (no blank line yet, nothing wrong so far),
 * WSF_HTTP_LINE_TOO_LONG (max_size bytes without the start line's end), WSF_HTTP_TOO_LARGE (longer than
 * max_size bytes, or more than max_headers headers) or WSF_HTTP_ERROR, the last three with *error set
 * to a static message saying what was wrong.
 */
int wsf_parse_http_head(const uint8_t *buf, size_t len, size_t max_size, size_t max_headers,
                        wsf_span *names, wsf_span *values, wsf_http_head *out, const char **error);

#ifdef __cplusplus
}
#endif

#endif /* WSFAST_H */
