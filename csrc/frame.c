/* WebSocket frame header parsing (RFC 6455 §5.2). */
#include "internal.h"

/* Lengths and the mask key are in network byte order; built byte by byte, whatever the host order. */
static uint64_t load_be(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

int wsf_parse_frame_header(const uint8_t *buf, size_t len, wsf_frame_header *out) {
    if (len < 2) return WSF_FRAME_NEED_MORE;
    const uint8_t b0 = buf[0], b1 = buf[1];
    const unsigned short_length = b1 & 0x7F;
    const unsigned extended = short_length == 126 ? 2 : short_length == 127 ? 8 : 0;
    if (len < 2 + (size_t)extended) return WSF_FRAME_NEED_MORE;
    uint64_t length = extended ? load_be(buf + 2, extended) : short_length;
    if (length >> 63) return WSF_FRAME_LENGTH_OVERFLOW; /* §5.2: the most significant bit MUST be 0 */
    const size_t header_length = 2 + (size_t)extended + ((b1 & 0x80) ? 4 : 0);
    if (len < header_length) return WSF_FRAME_NEED_MORE;

    out->fin = (uint8_t)(b0 >> 7);
    out->rsv1 = (uint8_t)((b0 >> 6) & 1);
    out->rsv2 = (uint8_t)((b0 >> 5) & 1);
    out->rsv3 = (uint8_t)((b0 >> 4) & 1);
    out->opcode = (uint8_t)(b0 & 0x0F);
    out->masked = (uint8_t)(b1 >> 7);
    out->payload_length = length;
    out->header_length = header_length;
    for (unsigned i = 0; i < 4; i++) out->mask_key[i] = out->masked ? buf[2 + extended + i] : 0;
    return WSF_FRAME_OK;
}
