# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: binding=False, embedsignature=True, embedsignature.format=clinic
# cython: freethreading_compatible=True
# (plain builtin functions are ~4 ns cheaper to call than bound Cython functions; the clinic
# signatures keep inspect.signature working)
"""The C kernels of csrc/ behind thin glue: a buffer in, one C call, the result out.

The reference for every behaviour is the pure-Python twin, _kernels_py. bytes and bytearray take a
fast path; every other object goes through _buffers, the same code the twin uses, so odd buffers
(non-contiguous, read-only, multi-byte items) are handled the same way by both.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from ._buffers import DECODER_BUSY as _DECODER_BUSY
from ._buffers import FILL_BUSY as _FILL_BUSY
from ._buffers import VALIDATOR_BUSY as _VALIDATOR_BUSY
from ._buffers import key_offset as _key_offset
from ._buffers import mask_key as _mask_key
from ._buffers import non_negative as _non_negative
from ._buffers import readable as _readable
from ._buffers import start_offset as _start_offset
from ._buffers import writable as _writable
from ._buffers import write_back as _write_back
from .exceptions import InvalidHTTP, ProtocolError
from .limits import MAX_HTTP_HEAD_SIZE, MAX_HTTP_HEADERS

__all__ = [
    "IMPLEMENTATION",
    "SIMD",
    "available_simd",
    "mask",
    "mask_into",
    "validate_utf8",
    "Utf8Validator",
    "parse_frame_header",
    "parse_http_head",
    "encode_frame",
    "FrameDecoder",
    "take_frame",
    "PayloadFill",
]


cdef extern from *:
    """
    #ifdef Py_GIL_DISABLED
    #define WSF_FREE_THREADED 1
    #else
    #define WSF_FREE_THREADED 0
    #endif
    """
    # a free-threaded CPython: no GIL keeps other threads away from a buffer while C reads it
    const bint FREE_THREADED "WSF_FREE_THREADED"


cdef extern from "Python.h":
    long PyLong_AsLongAndOverflow(object value, int *overflow) except? -1


cdef extern from "wsfast.h" nogil:
    ctypedef enum wsf_simd_level:
        WSF_SIMD_SCALAR
        WSF_SIMD_SSE2
        WSF_SIMD_AVX2
        WSF_SIMD_AVX512
        WSF_SIMD_NEON
    wsf_simd_level wsf_simd_detect()
    int wsf_simd_supported(wsf_simd_level level)
    int wsf_simd_select(wsf_simd_level level)
    wsf_simd_level wsf_simd_current()
    const char *wsf_simd_name(wsf_simd_level level)

    unsigned wsf_mask(uint8_t *dst, const uint8_t *src, size_t length, const uint8_t *key, unsigned offset)
    void wsf_copy(uint8_t *dst, const uint8_t *src, size_t length)

    int wsf_utf8_valid(const uint8_t *data, size_t length)
    enum:
        WSF_UTF8_ACCEPT
        WSF_UTF8_REJECT
    ctypedef struct wsf_utf8_stream:
        uint32_t state
        uint64_t position
        uint64_t error
        uint64_t seq_start
    void wsf_utf8_stream_init(wsf_utf8_stream *stream)
    int wsf_utf8_stream_feed(wsf_utf8_stream *stream, const uint8_t *data, size_t length)
    int wsf_utf8_stream_finish(wsf_utf8_stream *stream)

    ctypedef struct wsf_frame_header:
        uint8_t fin, rsv1, rsv2, rsv3, opcode, masked
        uint8_t mask_key[4]
        uint64_t payload_length
        size_t header_length
    enum:
        WSF_FRAME_NEED_MORE
        WSF_FRAME_OK
        WSF_FRAME_LENGTH_OVERFLOW
    int wsf_parse_frame_header(const uint8_t *buffer, size_t length, wsf_frame_header *out)

    ctypedef struct wsf_span:
        size_t offset
        size_t length
    ctypedef struct wsf_http_head:
        int is_response
        wsf_span start[3]
        size_t header_count
        size_t head_length
    enum:
        WSF_HTTP_LINE_TOO_LONG
        WSF_HTTP_TOO_LARGE
        WSF_HTTP_ERROR
        WSF_HTTP_NEED_MORE
        WSF_HTTP_OK
    int wsf_parse_http_head(const uint8_t *buffer, size_t length, size_t max_size, size_t max_headers,
                            wsf_span *names, wsf_span *values, wsf_http_head *out, const char **error)


IMPLEMENTATION = "c"

cdef enum:
    # Above this size the kernels run without the GIL; below it, releasing it costs more than it gives.
    GIL_RELEASE_SIZE = 131072
    # Header spans kept on the stack; a head with more headers gets heap memory.
    STACK_HEADERS = 64

_LEVELS = {
    "scalar": WSF_SIMD_SCALAR,
    "sse2": WSF_SIMD_SSE2,
    "avx2": WSF_SIMD_AVX2,
    "avx512": WSF_SIMD_AVX512,
    "neon": WSF_SIMD_NEON,
}

wsf_simd_select(wsf_simd_detect())
SIMD = wsf_simd_name(wsf_simd_current()).decode()


def available_simd():
    """The SIMD levels this CPU supports, from the plainest to the widest."""
    return tuple(name for name, level in _LEVELS.items() if wsf_simd_supported(level))


def _select_simd(name):
    """Switch every kernel to SIMD level ``name`` (for tests, benchmarks and WSFAST_SIMD).

    Raises:
        ValueError: ``name`` is not a level, or this CPU does not support it.
    """
    global SIMD
    if name not in _LEVELS:
        raise ValueError(f"unknown SIMD level {name!r}; choose from {', '.join(_LEVELS)}")
    if wsf_simd_select(_LEVELS[name]) != 0:
        raise ValueError(f"SIMD level {name!r} is not supported by this CPU; "
                         f"available: {', '.join(available_simd())}")
    SIMD = name


def _current_simd():
    """The SIMD level the kernels use now."""
    return wsf_simd_name(wsf_simd_current()).decode()


# ----------------------------------------------------------------------------------- arguments

cdef extern from *:
    """
    /* A view of a bytes object's bytes that exports nothing: the caller holds the object for as
       long as it reads them, and PyBuffer_Release of it releases nothing (obj is NULL). */
    static void wsf_view_bytes(Py_buffer *view, PyObject *data) {
        view->buf = PyBytes_AS_STRING(data);
        view->len = PyBytes_GET_SIZE(data);
        view->obj = NULL;
    }
    """
    void wsf_view_bytes(Py_buffer *view, object data)


cdef int _open_read(object data, Py_buffer *view) except -1:
    """Fill ``view`` with the bytes of ``data``, flattened by a copy when it is not contiguous.
    Bytes are read in place without an export (what PyObject_GetBuffer costs is a third of a small
    frame's encoding); only ``buf`` and ``len`` are meant to be read."""
    if type(data) is bytes:
        wsf_view_bytes(view, data)
        return 0
    try:
        PyObject_GetBuffer(data, view, PyBUF_SIMPLE)
    except BufferError:
        PyObject_GetBuffer(_readable(data), view, PyBUF_SIMPLE)
    return 0


cdef int _load_key(object key, uint8_t *out) except -1:
    if type(key) is bytes and PyBytes_GET_SIZE(key) == 4:
        memcpy(out, PyBytes_AS_STRING(key), 4)
    else:
        memcpy(out, PyBytes_AS_STRING(_mask_key(key)), 4)
    return 0


cdef unsigned _load_offset(object offset) except 4:
    cdef int overflow = 0
    cdef long value
    if type(offset) is int:
        value = PyLong_AsLongAndOverflow(offset, &overflow)
        if not overflow and 0 <= value <= 3:
            return <unsigned>value
    return <unsigned>_key_offset(offset)


cdef unsigned _mask(uint8_t *dst, const uint8_t *src, size_t length, const uint8_t *key,
                    unsigned offset) noexcept:
    if length < GIL_RELEASE_SIZE:
        return wsf_mask(dst, src, length, key, offset)
    with nogil:
        return wsf_mask(dst, src, length, key, offset)


cdef void _copy(uint8_t *dst, const uint8_t *src, size_t length) noexcept:
    """A payload's bytes copied (csrc's wsf_copy: memcpy without its slow cases)."""
    if length < GIL_RELEASE_SIZE:
        wsf_copy(dst, src, length)
    else:
        with nogil:
            wsf_copy(dst, src, length)


# ----------------------------------------------------------------------------------- masking

def mask(data, key, offset=0):
    """XOR ``data`` with the 4-byte ``key`` (RFC 6455 §5.3) into new bytes.

    Raises:
        TypeError: ``data`` or ``key`` is not a buffer, or ``offset`` is not an integer.
        ValueError: ``key`` is not 4 bytes, or ``offset`` is not 0 to 3.
    """
    cdef uint8_t key_bytes[4]
    cdef Py_buffer view
    cdef bytes result
    if type(data) is bytes:
        _load_key(key, key_bytes)
        start = _load_offset(offset)
        result = PyBytes_FromStringAndSize(NULL, PyBytes_GET_SIZE(data))
        _mask(<uint8_t *>PyBytes_AS_STRING(result), <const uint8_t *>PyBytes_AS_STRING(data),
              <size_t>PyBytes_GET_SIZE(data), key_bytes, start)
        return result
    _open_read(data, &view)
    try:
        _load_key(key, key_bytes)
        start = _load_offset(offset)
        result = PyBytes_FromStringAndSize(NULL, view.len)
        _mask(<uint8_t *>PyBytes_AS_STRING(result), <const uint8_t *>view.buf, <size_t>view.len,
              key_bytes, start)
        return result
    finally:
        PyBuffer_Release(&view)


def mask_into(buffer, key, offset=0):
    """XOR a writable ``buffer`` in place; returns the key offset for the next chunk.

    Raises:
        TypeError: ``buffer`` is read-only or not a buffer, ``key`` is not a buffer, or ``offset``
            is not an integer.
        ValueError: ``key`` is not 4 bytes, or ``offset`` is not 0 to 3.
    """
    cdef uint8_t key_bytes[4]
    cdef Py_buffer view
    cdef unsigned start
    cdef Py_ssize_t size
    if not FREE_THREADED and type(buffer) is bytearray and PyByteArray_GET_SIZE(buffer) < GIL_RELEASE_SIZE:
        # The GIL stays held, so nothing can resize the bytearray under us (without a GIL,
        # another thread could: the export below prevents it).
        _load_key(key, key_bytes)
        start = _load_offset(offset)
        size = PyByteArray_GET_SIZE(buffer)
        return wsf_mask(<uint8_t *>PyByteArray_AS_STRING(buffer),
                        <const uint8_t *>PyByteArray_AS_STRING(buffer), <size_t>size, key_bytes, start)
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
    except BufferError:
        # read-only (TypeError from _writable) or non-contiguous: the shared slow path
        target = _writable(buffer)
        masked = mask(target, key, offset)
        _write_back(target, masked)
        return (_load_offset(offset) + len(masked)) & 3
    try:
        _load_key(key, key_bytes)
        start = _load_offset(offset)
        return _mask(<uint8_t *>view.buf, <const uint8_t *>view.buf, <size_t>view.len, key_bytes, start)
    finally:
        PyBuffer_Release(&view)


# ----------------------------------------------------------------------------------- UTF-8

cdef bint _utf8_valid(const uint8_t *data, size_t length) noexcept:
    if length < GIL_RELEASE_SIZE:
        return wsf_utf8_valid(data, length)
    with nogil:
        return wsf_utf8_valid(data, length)


def validate_utf8(data):
    """True if ``data`` is well-formed UTF-8 (RFC 3629).

    Raises:
        TypeError: ``data`` is not a buffer.
    """
    cdef Py_buffer view
    if type(data) is bytes:
        return _utf8_valid(<const uint8_t *>PyBytes_AS_STRING(data), <size_t>PyBytes_GET_SIZE(data))
    _open_read(data, &view)
    try:
        return _utf8_valid(<const uint8_t *>view.buf, <size_t>view.len)
    finally:
        PyBuffer_Release(&view)


cdef class Utf8Validator:
    """Incremental UTF-8 validation for text that arrives in pieces (RFC 6455 §8.1).

    ``feed`` fails as soon as the bytes seen so far cannot be the start of valid UTF-8, even in the
    middle of a sequence; ``finish`` also requires that the text ends on a code-point boundary.
    ``error_offset`` is the stream index of the first offending byte (for text cut short, the index
    where the unfinished sequence began), or None while nothing is wrong.
    """

    cdef wsf_utf8_stream _stream
    cdef bint _busy  # in feed, which lets other threads run over long pieces

    def __cinit__(self):
        wsf_utf8_stream_init(&self._stream)

    cdef int _claim(self) except -1:
        with cython.critical_section(self):  # atomic on free-threaded builds; the GIL does it otherwise
            if self._busy:
                raise RuntimeError(_VALIDATOR_BUSY)
            self._busy = True
        return 0

    def reset(self):
        """Forget everything fed so far.

        Raises:
            RuntimeError: another thread is feeding this validator.
        """
        self._claim()
        wsf_utf8_stream_init(&self._stream)
        self._busy = False

    @property
    def error_offset(self):
        """Stream index of the first offending byte, or None."""
        return self._stream.error if self._stream.state == WSF_UTF8_REJECT else None

    def feed(self, data):
        """Validate the next piece; False once the stream can no longer be valid UTF-8.

        Raises:
            TypeError: ``data`` is not a buffer.
            RuntimeError: another thread is feeding this validator.
        """
        cdef Py_buffer view
        cdef int ok
        self._claim()
        try:
            if type(data) is bytes and PyBytes_GET_SIZE(data) < GIL_RELEASE_SIZE:
                return wsf_utf8_stream_feed(&self._stream, <const uint8_t *>PyBytes_AS_STRING(data),
                                            <size_t>PyBytes_GET_SIZE(data)) == 1
            _open_read(data, &view)
            try:
                if view.len < GIL_RELEASE_SIZE:
                    ok = wsf_utf8_stream_feed(&self._stream, <const uint8_t *>view.buf, <size_t>view.len)
                else:
                    with nogil:
                        ok = wsf_utf8_stream_feed(&self._stream, <const uint8_t *>view.buf, <size_t>view.len)
                return ok == 1
            finally:
                PyBuffer_Release(&view)
        finally:
            self._busy = False

    def finish(self):
        """True if everything fed was valid and ended on a code-point boundary."""
        return wsf_utf8_stream_finish(&self._stream) == 1


# ----------------------------------------------------------------------------------- frames

cdef object _frame_header(const uint8_t *data, Py_ssize_t size, object offset):
    cdef wsf_frame_header header
    cdef Py_ssize_t start
    if offset is 0:
        start = 0
    else:
        start = _start_offset(offset, size)
    status = wsf_parse_frame_header(data + start, <size_t>(size - start), &header)
    if status == WSF_FRAME_NEED_MORE:
        return None
    if status == WSF_FRAME_LENGTH_OVERFLOW:
        raise ProtocolError("payload length has the most significant bit set")
    key = PyBytes_FromStringAndSize(<const char *>header.mask_key, 4) if header.masked else None
    return (
        <bint>header.fin,
        <bint>header.rsv1,
        <bint>header.rsv2,
        <bint>header.rsv3,
        <int>header.opcode,
        <bint>header.masked,
        header.payload_length,
        key,
        header.header_length,
    )


def parse_frame_header(buffer, offset=0):
    """Parse the frame header at ``buffer[offset:]`` (RFC 6455 §5.2).

    Returns None when more bytes are needed, else ``(fin, rsv1, rsv2, rsv3, opcode, masked,
    payload_length, mask_key, header_length)`` with ``mask_key`` 4 bytes or None.

    Raises:
        ProtocolError: a 64-bit payload length with the most significant bit set (close code 1002).
        TypeError: ``buffer`` is not a buffer, or ``offset`` is not an integer.
        ValueError: ``offset`` is negative or beyond the end of ``buffer``.
    """
    cdef Py_buffer view
    if type(buffer) is bytes:
        return _frame_header(<const uint8_t *>PyBytes_AS_STRING(buffer), PyBytes_GET_SIZE(buffer), offset)
    _open_read(buffer, &view)
    try:
        return _frame_header(<const uint8_t *>view.buf, view.len, offset)
    finally:
        PyBuffer_Release(&view)


# ----------------------------------------------------------------------------------- HTTP

cdef inline str _latin1(const uint8_t *data, wsf_span span):
    return PyUnicode_DecodeLatin1(<const char *>data + span.offset, <Py_ssize_t>span.length, NULL)


cdef object _http_head(const uint8_t *data, Py_ssize_t size, Py_ssize_t max_size, Py_ssize_t max_headers):
    cdef wsf_span stack_names[STACK_HEADERS]
    cdef wsf_span stack_values[STACK_HEADERS]
    cdef wsf_span *names = stack_names
    cdef wsf_span *values = stack_values
    cdef wsf_http_head head
    cdef const char *error = NULL
    cdef size_t index
    # A header line takes at least 4 bytes ("a:" CRLF), so this many spans always suffice.
    cdef Py_ssize_t capacity = min(max_headers, size // 4 + 1)
    if capacity > STACK_HEADERS:
        names = <wsf_span *>PyMem_Malloc(2 * capacity * sizeof(wsf_span))
        if names == NULL:
            raise MemoryError()
        values = names + capacity
    try:
        status = wsf_parse_http_head(data, <size_t>size, <size_t>max_size, <size_t>max_headers,
                                     names, values, &head, &error)
        if status == WSF_HTTP_NEED_MORE:
            return None
        if status == WSF_HTTP_TOO_LARGE:
            raise InvalidHTTP(error.decode(), 431)
        if status == WSF_HTTP_LINE_TOO_LONG:
            raise InvalidHTTP(error.decode(), 414)
        if status == WSF_HTTP_ERROR:
            raise InvalidHTTP(error.decode())
        start_line = (_latin1(data, head.start[0]), _latin1(data, head.start[1]), _latin1(data, head.start[2]))
        headers = [(_latin1(data, names[index]), _latin1(data, values[index]))
                   for index in range(head.header_count)]
        return start_line, headers, head.head_length
    finally:
        if names != stack_names:
            PyMem_Free(names)


def parse_http_head(buffer, *, max_size=MAX_HTTP_HEAD_SIZE, max_headers=MAX_HTTP_HEADERS):
    """Parse an HTTP/1.1 request or response head (RFC 9112), strictly.

    Returns None until the blank line that ends the head has arrived, else ``(start_line_parts,
    headers, head_length)``; see the pure-Python twin for the details.

    Raises:
        InvalidHTTP: a malformed start line, an invalid header name or value, obs-fold, a bare CR or
            LF, a head over ``max_size`` bytes or with more than ``max_headers`` headers (status 431
            for the last two, 400 for the rest). The message says which.
        TypeError: ``buffer`` is not a buffer, or a limit is not an integer.
        ValueError: a limit is negative.
    """
    cdef Py_buffer view
    _open_read(buffer, &view)
    try:
        size_limit = _non_negative(max_size, "max_size")
        count_limit = _non_negative(max_headers, "max_headers")
        return _http_head(<const uint8_t *>view.buf, view.len, min(size_limit, view.len + 1),
                          min(count_limit, view.len + 1))
    finally:
        PyBuffer_Release(&view)


# ----------------------------------------------------------------------------------- frame codec

include "_frame_codec.pxi"
