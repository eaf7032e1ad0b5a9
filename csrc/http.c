/*
 * HTTP/1.1 head parsing (RFC 9112 §2-§5), strict: CRLF line endings only, no obs-fold, token header
 * names with the colon right after them, and no control characters but HTAB in values. The messages
 * are shared word for word with the pure-Python twin.
 */
#include "internal.h"

#include <string.h>

static const char E_BARE_LF[] = "line ends with a bare LF";
static const char E_BARE_CR[] = "bare CR in line";
static const char E_TOO_LARGE[] = "head is larger than max_size";
static const char E_LINE_TOO_LONG[] = "start line is longer than max_size";
static const char E_TOO_MANY[] = "more headers than max_headers";
static const char E_EMPTY_START[] = "empty start line";
static const char E_METHOD[] = "invalid method in request line";
static const char E_TARGET[] = "invalid target in request line";
static const char E_VERSION[] = "invalid HTTP version";
static const char E_STATUS[] = "invalid status code";
static const char E_REASON[] = "invalid character in reason phrase";
static const char E_FOLD[] = "obsolete line folding is not allowed";
static const char E_NO_COLON[] = "header line without a colon";
static const char E_NAME[] = "invalid header name";
static const char E_VALUE[] = "invalid character in header value";

/* tchar (RFC 9110 §5.6.2) */
static int is_tchar(uint8_t c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* VCHAR or obs-text */
static int is_field_char(uint8_t c) { return c > 0x20 && c != 0x7F; }

static int is_space(uint8_t c) { return c == ' ' || c == '\t'; }

/* "HTTP/" DIGIT "." DIGIT */
static int is_version(const uint8_t *p, size_t n) {
    return n == 8 && memcmp(p, "HTTP/", 5) == 0 && is_digit(p[5]) && p[6] == '.' && is_digit(p[7]);
}

static void set_span(wsf_span *s, size_t offset, size_t length) {
    s->offset = offset;
    s->length = length;
}

/* Line at buf[pos..end), without its CRLF. */
static const char *parse_start_line(const uint8_t *buf, size_t pos, size_t end, wsf_http_head *out) {
    const uint8_t *line = buf + pos;
    size_t n = end - pos;
    if (n == 0) return E_EMPTY_START;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
        out->is_response = 1;
        if (n < 8 || !is_version(line, 8) || (n > 8 && line[8] != ' ')) return E_VERSION;
        if (n < 12 || !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
            (n > 12 && line[12] != ' '))
            return E_STATUS;
        for (size_t i = 13; i < n; i++)
            if (!is_field_char(line[i]) && !is_space(line[i])) return E_REASON;
        set_span(&out->start[0], pos, 8);
        set_span(&out->start[1], pos + 9, 3);
        set_span(&out->start[2], pos + (n > 13 ? 13 : n), n > 13 ? n - 13 : 0);
        return NULL;
    }
    /* request-line = method SP request-target SP HTTP-version */
    out->is_response = 0;
    size_t i = 0;
    while (i < n && is_tchar(line[i])) i++;
    if (i == 0 || i == n || line[i] != ' ') return E_METHOD;
    size_t method_end = i++;
    size_t target_start = i;
    while (i < n && line[i] > 0x20 && line[i] < 0x7F) i++;
    if (i == target_start || i == n || line[i] != ' ') return E_TARGET;
    size_t target_end = i++;
    if (!is_version(line + i, n - i)) return E_VERSION;
    set_span(&out->start[0], pos, method_end);
    set_span(&out->start[1], pos + target_start, target_end - target_start);
    set_span(&out->start[2], pos + i, n - i);
    return NULL;
}

/* field-line = field-name ":" OWS field-value OWS */
static const char *parse_header_line(const uint8_t *buf, size_t pos, size_t end, wsf_span *name,
                                     wsf_span *value) {
    if (is_space(buf[pos])) return E_FOLD;
    const uint8_t *colon = memchr(buf + pos, ':', end - pos);
    if (colon == NULL) return E_NO_COLON;
    size_t name_end = (size_t)(colon - buf);
    if (name_end == pos) return E_NAME;
    for (size_t i = pos; i < name_end; i++)
        if (!is_tchar(buf[i])) return E_NAME;
    size_t v = name_end + 1, v_end = end;
    while (v < v_end && is_space(buf[v])) v++;
    while (v_end > v && is_space(buf[v_end - 1])) v_end--;
    for (size_t i = v; i < v_end; i++)
        if (!is_field_char(buf[i]) && !is_space(buf[i])) return E_VALUE;
    set_span(name, pos, name_end - pos);
    set_span(value, v, v_end - v);
    return NULL;
}

int wsf_parse_http_head(const uint8_t *buf, size_t len, size_t max_size, size_t max_headers,
                        wsf_span *names, wsf_span *values, wsf_http_head *out, const char **error) {
    const size_t limit = len < max_size ? len : max_size;
    size_t pos = 0, count = 0;
    int first = 1;
    for (;;) {
        const uint8_t *lf = pos < limit ? memchr(buf + pos, '\n', limit - pos) : NULL;
        if (lf == NULL) {
            if (len >= max_size) {
                /* Still in the start line: the request target is what is too long (RFC 9110 §15.5.15). */
                *error = first ? E_LINE_TOO_LONG : E_TOO_LARGE;
                return first ? WSF_HTTP_LINE_TOO_LONG : WSF_HTTP_TOO_LARGE;
            }
            return WSF_HTTP_NEED_MORE;
        }
        size_t eol = (size_t)(lf - buf);
        if (eol == pos || buf[eol - 1] != '\r') {
            *error = E_BARE_LF;
            return WSF_HTTP_ERROR;
        }
        size_t end = eol - 1; /* the line's content is buf[pos..end) */
        if (memchr(buf + pos, '\r', end - pos) != NULL) {
            *error = E_BARE_CR;
            return WSF_HTTP_ERROR;
        }
        const char *problem = NULL;
        if (first) {
            problem = parse_start_line(buf, pos, end, out);
            first = 0;
        } else if (end == pos) {
            out->header_count = count;
            out->head_length = eol + 1;
            return WSF_HTTP_OK;
        } else if (count == max_headers) {
            *error = E_TOO_MANY;
            return WSF_HTTP_TOO_LARGE;
        } else {
            problem = parse_header_line(buf, pos, end, &names[count], &values[count]);
            count++;
        }
        if (problem != NULL) {
            *error = problem;
            return WSF_HTTP_ERROR;
        }
        pos = eol + 1;
    }
}
