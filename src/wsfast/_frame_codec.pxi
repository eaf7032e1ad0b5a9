# The frame codec in C: encode_frame and the streaming FrameDecoder, included by _kernels_c.pyx.
# The reference for every behaviour and message is the pure-Python twin, _frames_py.py.

from cpython.buffer cimport PyBuffer_FillInfo
from cpython.bytearray cimport PyByteArray_Resize
from cpython.memoryview cimport PyMemoryView_FromObject
from libc.stdint cimport UINT64_MAX

from ._random import SHARED_POOL_IS_SAFE as _SHARED_POOL_IS_SAFE
from ._random import key_pool as _key_pool
from ._random import mask_key as _random_mask_key
from ._random import use_shared_pool as _use_shared_pool
from .exceptions import PayloadTooBig
from ._wire import Frame as _Frame
from ._wire import Opcode as _Opcode
from .limits import MAX_FRAME_SIZE, MAX_MESSAGE_SIZE

# Opcode members by value; None for the reserved values 3-7 and 11-15.
cdef tuple _OPCODE_MEMBERS = tuple(
    _Opcode(value) if value in _Opcode._value2member_map_ else None for value in range(16)
)

cdef extern from *:
    """
    /* A Frame (a tuple subclass) without going through its Python-level constructor. It holds an
       Opcode singleton, bytes and bools, none of which can lead back to it, so no reference cycle
       can pass through it: it is left out of the cyclic GC, which would otherwise rescan every
       frame of a large batch again and again. */
    static PyObject *wsf_new_frame(PyObject *type, PyObject *opcode, PyObject *payload,
                                   int fin, int rsv1, int rsv2, int rsv3) {
        PyTypeObject *tp = (PyTypeObject *)type;
        PyObject *frame = tp->tp_alloc(tp, 6);
        if (frame == NULL) return NULL;
        PyObject *items[6] = {opcode, payload, fin ? Py_True : Py_False, rsv1 ? Py_True : Py_False,
                              rsv2 ? Py_True : Py_False, rsv3 ? Py_True : Py_False};
        for (int i = 0; i < 6; i++) {
            Py_INCREF(items[i]);
            PyTuple_SET_ITEM(frame, i, items[i]);
        }
        PyObject_GC_UnTrack(frame);
        return frame;
    }
    """
    object wsf_new_frame(object type, object opcode, object payload, int fin, int rsv1, int rsv2, int rsv3)


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object value, int *overflow) except? -1


cdef uint64_t _size_limit(object value, str name) except? 0:
    """A decoder limit in C: None and anything from 2**63 up (no frame is that long) mean none."""
    cdef int overflow = 0
    cdef long long number
    if value is None:
        return UINT64_MAX
    if type(value) is int:
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if overflow == 0 and number >= 0:
            return <uint64_t>number
    number_object = _non_negative(value, name)  # int subclasses, __index__; TypeError or ValueError
    return <uint64_t>number_object if number_object < 2**63 else UINT64_MAX


cdef Py_ssize_t _read_length(object length) except -1:
    """``feed_into``'s ``length``, checked as the twin checks it (a value past any buffer's size
    is kept past it, for the check against the data).

    Raises:
        TypeError: it is not an integer.
        ValueError: it is negative.
    """
    cdef long long number
    cdef int overflow = 0
    if type(length) is int:
        number = PyLong_AsLongLongAndOverflow(length, &overflow)
        if overflow == 0 and 0 <= number < 2**62:
            return <Py_ssize_t>number
    number_object = _non_negative(length, "length")
    return <Py_ssize_t>number_object if number_object < 2**62 else <Py_ssize_t>(2**62)


# A frame from this size up is read straight into its payload once enough of it is in hand (a
# quarter of it: what a peer makes us allocate stays within 4 times what it sent), instead of
# being gathered in the buffer and copied out at the end.
cdef enum:
    DIRECT_FILL_SIZE = 65536


cdef int _opcode_value(object opcode) except -1:
    cdef int overflow = 0
    cdef long value
    if not isinstance(opcode, int):
        raise TypeError(f"opcode must be an int, not {type(opcode).__name__}")
    value = PyLong_AsLongAndOverflow(opcode, &overflow)  # an int subclass (Opcode) as it is, unconverted
    if overflow or not 0 <= value <= 15:
        raise ValueError(f"opcode must be 0 to 15, not {int(opcode)}")
    return <int>value


cdef class KeyPool:
    """``_random``'s shared pool of masking keys, in the C build: the same two attributes
    (``data``, random bytes, and ``position``, where the next key starts), held in C fields so that
    the encoder draws a key without a lookup or a Python call. ``_random`` owns it (its
    ``mask_key`` draws from it too, so both implementations draw the same keys)."""

    cdef public bytes data
    cdef public Py_ssize_t position

    def __init__(self) -> None:
        self.data = b""
        self.position = 0


# The pool the C encoder reads itself: the shared one, where one pool can serve every thread
# (see _random.py); else None, and each key comes from the calling thread's pool by name.
cdef KeyPool _pool = None
if _SHARED_POOL_IS_SAFE:
    _pool = KeyPool()
    _use_shared_pool(_pool)


cdef int _draw_mask_key(uint8_t *key) except -1:
    """A fresh masking key from the pool ``_random.mask_key`` draws from, read and advanced here
    without a Python call: nothing between reading the position and advancing it can switch
    threads (see _random.py). Anything else (the pool used up, or not as it keeps it) goes
    through ``mask_key`` itself, so the two implementations draw the same keys."""
    cdef object data, position
    cdef Py_ssize_t at
    cdef long start
    cdef int overflow = 0
    if _pool is not None:
        data, at = _pool.data, _pool.position
        if data is not None and 0 <= at <= PyBytes_GET_SIZE(data) - 4:
            _pool.position = at + 4
            memcpy(key, PyBytes_AS_STRING(data) + at, 4)
            return 0
    else:
        data, position = _key_pool.data, _key_pool.position
        if type(data) is bytes and type(position) is int:
            start = PyLong_AsLongAndOverflow(position, &overflow)
            if not overflow and 0 <= start and PyBytes_GET_SIZE(data) - start >= 4:
                _key_pool.position = start + 4
                memcpy(key, PyBytes_AS_STRING(data) + start, 4)
                return 0
    _load_key(_random_mask_key(), key)
    return 0


def encode_frame(opcode, payload, *, fin=True, rsv1=False, rsv2=False, rsv3=False, mask=False):
    """One frame on the wire (RFC 6455 §5.2); see the pure-Python twin for the details.

    Raises:
        TypeError: ``opcode`` is not an int, ``payload`` or ``mask`` is not a buffer.
        ValueError: ``opcode`` is not 0-15, or the key is not 4 bytes.
    """
    cdef int code = _opcode_value(opcode)
    cdef Py_buffer view
    cdef uint8_t key[4]
    cdef bint masked = False
    cdef size_t size, header_length, i
    cdef uint8_t *out
    _open_read(payload, &view)
    try:
        if mask is not False and mask is not None:
            if mask is True:
                _draw_mask_key(key)
            else:
                _load_key(mask, key)
            masked = True
        size = <size_t>view.len
        header_length = 2 + (0 if size < 126 else 2 if size < 65536 else 8) + (4 if masked else 0)
        result = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>(header_length + size))
        out = <uint8_t *>PyBytes_AS_STRING(result)
        out[0] = <uint8_t>((0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
                           | (0x10 if rsv3 else 0) | code)
        if size < 126:
            out[1] = <uint8_t>size
        elif size < 65536:
            out[1] = 126
            out[2] = <uint8_t>(size >> 8)
            out[3] = <uint8_t>size
        else:
            out[1] = 127
            for i in range(8):  # network byte order, whatever the host's
                out[2 + i] = <uint8_t>(size >> (56 - 8 * i))
        if masked:
            out[1] |= 0x80
            memcpy(out + header_length - 4, key, 4)
            _mask(out + header_length, <const uint8_t *>view.buf, size, key, 0)
        else:
            _copy(<uint8_t *>out + header_length, <const uint8_t *>view.buf, size)
        return result
    finally:
        PyBuffer_Release(&view)


cdef class _PayloadSpace:
    """The missing part of a payload being filled (FrameDecoder.read_space), as a writable
    buffer. It holds the payload, so a view of it stays valid whatever the decoder does next."""

    cdef bytes payload
    cdef Py_ssize_t start

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, PyBytes_AS_STRING(self.payload) + self.start,
                          PyBytes_GET_SIZE(self.payload) - self.start, 0, flags)

    def __releasebuffer__(self, Py_buffer *view):
        pass


cdef class FrameDecoder:
    """Turns a stream of bytes into frames, checking every rule a single frame must obey.

    The C twin of ``_frames_py.FrameDecoder``: same arguments, frames, errors and messages.
    """

    cdef public object expect_masked
    cdef public object max_frame_size
    cdef public object max_message_size
    cdef public int allowed_rsv
    cdef public object max_fragments
    cdef public bint drop_empty_continuations
    cdef bytearray _buffer
    cdef bint _in_message
    cdef bint _message_limited
    cdef uint64_t _message_size
    cdef uint64_t _fragments
    cdef object _error
    # the frame being read straight into its payload (see DIRECT_FILL_SIZE), or None
    cdef bytes _payload
    cdef size_t _filled
    cdef wsf_frame_header _pending
    # the message state from before that frame, to check its header again on each feed
    cdef bint _pending_in_message
    cdef bint _pending_limited
    cdef uint64_t _pending_size
    cdef uint64_t _pending_fragments
    # per-feed copies of the settings above
    cdef int _expect
    cdef uint64_t _frame_limit
    cdef uint64_t _message_limit
    cdef uint64_t _fragment_limit
    # feed_into's: where whole messages go, whether text goes as str, and a callback's exception
    cdef object _deliver
    cdef bint _decode_text
    # in a feed: one at a time, whether from feed_into's callback or from another thread while
    # this one has let go of the GIL (or, on free-threaded builds, at any time)
    cdef bint _busy
    cdef object _deliver_error

    def __init__(self, *, expect_masked=None, max_frame_size=MAX_FRAME_SIZE,
                 max_message_size=MAX_MESSAGE_SIZE, allowed_rsv=0, max_fragments=None,
                 drop_empty_continuations=False):
        self.expect_masked = expect_masked
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.allowed_rsv = allowed_rsv
        self.max_fragments = max_fragments
        self.drop_empty_continuations = drop_empty_continuations
        self._buffer = bytearray()
        self._in_message = False
        self._message_limited = True
        self._message_size = 0
        self._fragments = 0
        self._error = None
        self._payload = None

    @property
    def buffered(self):
        """Bytes received but not yet part of a complete frame."""
        if self._payload is not None:
            return <Py_ssize_t>(self._pending.header_length + self._filled)
        return PyByteArray_GET_SIZE(self._buffer)

    def read_space(self):
        """Where the next bytes of the stream can be read straight into the payload they belong
        to, when a large frame is part-received (a quarter of it in hand at least; see
        DIRECT_FILL_SIZE): a writable memoryview of the payload's missing part; else None. Bytes
        read into it are then fed as any others (``feed(space[:n])``): the decoder sees that they
        are in place already, and unmasks them there instead of copying them.
        """
        cdef _PayloadSpace space
        if self._payload is None or self._error is not None or self._busy:
            return None
        space = _PayloadSpace.__new__(_PayloadSpace)
        space.payload = self._payload
        space.start = <Py_ssize_t>self._filled
        return PyMemoryView_FromObject(space)

    cdef object _check(self, wsf_frame_header *header):
        """The rule this frame header breaks, or None; updates the message state otherwise."""
        cdef int code = header.opcode
        cdef int rsv = (header.rsv1 << 2) | (header.rsv2 << 1) | header.rsv3
        cdef uint64_t length = header.payload_length
        if _OPCODE_MEMBERS[code] is None:
            return ProtocolError(f"reserved opcode {code}")
        if self._expect >= 0 and header.masked != self._expect:
            return ProtocolError("unmasked frame from a client" if self._expect else "masked frame from a server")
        if code >= 8:
            if rsv:
                return ProtocolError("RSV bits set on a control frame")
            if not header.fin:
                return ProtocolError("fragmented control frame")
            if length > 125:
                return ProtocolError(f"control frame payload of {length} bytes, more than 125")
            return None
        if rsv & ~self.allowed_rsv:
            return ProtocolError("RSV bits set without an extension that uses them")
        if code == 0:
            if not self._in_message:
                return ProtocolError("continuation frame without a message to continue")
            self._message_size += length
            self._fragments += 1
        else:
            if self._in_message:
                return ProtocolError("new data frame inside a fragmented message")
            self._message_size = length
            self._message_limited = not header.rsv1
            self._fragments = 1
        if self._fragments > self._fragment_limit:
            return PayloadTooBig(f"message in more than {self.max_fragments} frames")
        if length > self._frame_limit:
            return PayloadTooBig(f"frame payload of {length} bytes, more than {self.max_frame_size}")
        if self._message_limited and self._message_size > self._message_limit:
            return PayloadTooBig(f"message of more than {self.max_message_size} bytes")
        self._in_message = not header.fin
        return None

    cdef object _check_pending(self, wsf_frame_header *header):
        """Check a header whose payload has not fully arrived, leaving the message state as it was."""
        cdef bint in_message = self._in_message, limited = self._message_limited
        cdef uint64_t size = self._message_size, fragments = self._fragments
        failure = self._check(header)
        self._in_message, self._message_limited, self._message_size = in_message, limited, size
        self._fragments = fragments
        return failure

    cdef Py_ssize_t _decode(self, const uint8_t *data, Py_ssize_t size, list frames) except -1:
        """Decode complete frames from data[0:size]; returns the bytes consumed."""
        cdef wsf_frame_header header
        cdef Py_ssize_t position = 0
        cdef size_t start
        cdef bytes payload
        while True:
            status = wsf_parse_frame_header(data + position, <size_t>(size - position), &header)
            if status == WSF_FRAME_NEED_MORE:
                break
            if status == WSF_FRAME_LENGTH_OVERFLOW:
                self._error = ProtocolError("payload length has the most significant bit set")
                break
            if header.payload_length > <uint64_t>(size - position - <Py_ssize_t>header.header_length):
                self._error = self._check_pending(&header)
                if self._error is None and header.payload_length >= DIRECT_FILL_SIZE and (
                        header.payload_length <= 4 * <uint64_t>(size - position)):
                    self._start_fill(&header, data + position + header.header_length,
                                     <size_t>(size - position) - header.header_length)
                    position = size
                break
            failure = self._check(&header)
            if failure is not None:
                self._error = failure
                break
            start = <size_t>position + header.header_length
            if (header.payload_length == 0 and header.opcode == 0 and not header.fin and not header.rsv1
                    and not header.rsv2 and not header.rsv3 and self.drop_empty_continuations):
                position = <Py_ssize_t>start  # an empty continuation carries nothing
                continue
            payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>header.payload_length)
            if header.masked:
                _mask(<uint8_t *>PyBytes_AS_STRING(payload), data + start, <size_t>header.payload_length,
                      header.mask_key, 0)
            else:
                _copy(<uint8_t *>PyBytes_AS_STRING(payload), data + start, <size_t>header.payload_length)
            position = <Py_ssize_t>(start + header.payload_length)
            if (self._deliver is not None and not frames and header.fin and (header.opcode == 1 or header.opcode == 2)
                    and not header.rsv1 and not header.rsv2 and not header.rsv3):
                if self._deliver_message(payload, header.opcode == 1):
                    if self._deliver_error is not None:
                        break
                    continue
            frames.append(wsf_new_frame(_Frame, _OPCODE_MEMBERS[header.opcode], payload, header.fin,
                                        header.rsv1, header.rsv2, header.rsv3))
        return position

    cdef bint _deliver_message(self, bytes payload, bint text) except -1:
        """Hand a whole message to feed_into's callback: True once it was handed on (the callback
        may have raised: then _deliver_error holds it), False for text that is not UTF-8, which
        goes the slow way instead, where the caller's own check rejects it."""
        cdef object data = payload
        if text:
            if self._decode_text:
                try:
                    data = payload.decode("utf-8")  # checks and decodes in one pass
                except UnicodeDecodeError:
                    return False
            elif not _utf8_valid(<const uint8_t *>PyBytes_AS_STRING(payload), <size_t>PyBytes_GET_SIZE(payload)):
                return False
        try:
            self._deliver(data, True, text)
        except BaseException as error:
            self._deliver_error = error
        return True

    cdef int _start_fill(self, wsf_frame_header *header, const uint8_t *data, size_t available) except -1:
        """Take the frame whose header is checked and whose first ``available`` payload bytes are
        at ``data`` into a payload of its full length."""
        self._pending_in_message, self._pending_limited = self._in_message, self._message_limited
        self._pending_size = self._message_size
        self._pending_fragments = self._fragments
        self._check(header)  # passed _check_pending: this only moves the message state on
        self._pending = header[0]
        self._payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>header.payload_length)
        self._filled = 0
        self._fill(data, available)
        return 0

    cdef size_t _fill(self, const uint8_t *data, size_t available) except? 0:
        """Copy (unmask) what ``data`` has of the pending payload; returns the bytes taken."""
        cdef size_t wanted = <size_t>self._pending.payload_length - self._filled
        cdef size_t taken = available if available < wanted else wanted
        cdef uint8_t *start = <uint8_t *>PyBytes_AS_STRING(self._payload)
        cdef uint8_t *out = start + self._filled
        if data != out and start <= data < start + self._pending.payload_length:
            # from a read_space() handed out before the last feed: never copied over itself
            raise RuntimeError("bytes read into the payload's space after it moved on")
        if self._pending.masked:
            _mask(out, data, taken, self._pending.mask_key, <unsigned>(self._filled & 3))  # in place too
        elif out != data:  # else read into read_space() already
            _copy(out, data, taken)
        self._filled += taken
        return taken

    cdef Py_ssize_t _continue_fill(self, const uint8_t *data, Py_ssize_t size, list frames) except -1:
        """Go on with the pending payload from data[0:size]; returns the bytes taken."""
        cdef size_t taken
        # The settings may have changed since: check the header again, as the Python twin does.
        self._in_message, self._message_limited = self._pending_in_message, self._pending_limited
        self._message_size, self._fragments = self._pending_size, self._pending_fragments
        failure = self._check(&self._pending)
        if failure is not None:
            self._in_message, self._message_limited = self._pending_in_message, self._pending_limited
            self._message_size, self._fragments = self._pending_size, self._pending_fragments
            self._error = failure
            return 0
        taken = self._fill(data, <size_t>size)
        if self._filled == <size_t>self._pending.payload_length:
            frames.append(wsf_new_frame(_Frame, _OPCODE_MEMBERS[self._pending.opcode], self._payload,
                                        self._pending.fin, self._pending.rsv1, self._pending.rsv2,
                                        self._pending.rsv3))
            self._payload = None
        return <Py_ssize_t>taken

    def feed(self, data):
        """The frames completed by ``data``, in order.

        Raises:
            ProtocolError: the stream broke a rule; the frames decoded before the offending one are
                in the exception's ``frames``. Every later call raises the same error again.
            TypeError: ``data`` is not a buffer, or a size limit is not an integer.
            ValueError: a size limit is negative.
            RuntimeError: called from feed_into's callback, or while another thread feeds this
                decoder.
        """
        return self._feed(data, None, False, None)

    def feed_into(self, data, deliver, decode_text=True, length=None):
        """As :meth:`feed`, but whole messages go to ``deliver(data, True, text)`` as they are
        decoded, and only the first ``length`` bytes of ``data`` are read if given: see the
        pure-Python twin.

        Raises:
            ProtocolError, TypeError, ValueError, RuntimeError: as :meth:`feed`; also ValueError
                for a ``length`` beyond ``data`` or negative, TypeError for one not an int.
            BaseException: what ``deliver`` raised; the frames after that message stay buffered.
        """
        return self._feed(data, deliver, decode_text, length)

    cdef list _feed(self, data, deliver, bint decode_text, object length):
        cdef list frames = []
        with cython.critical_section(self):  # atomic on free-threaded builds; the GIL does it otherwise
            if self._busy:
                raise RuntimeError(_DECODER_BUSY)
            self._busy = True
        self._deliver, self._decode_text = deliver, decode_text
        try:
            frames = self._feed_frames(data, frames, length)
        finally:
            self._deliver = None
            self._busy = False
        if self._deliver_error is not None:
            error, self._deliver_error = self._deliver_error, None
            raise error
        if self._error is not None:
            self._error.frames = frames
            raise self._error
        return frames

    cdef list _feed_frames(self, data, list frames, object length):
        cdef Py_buffer view
        cdef Py_ssize_t consumed, size, held, count
        if self._error is not None:
            self._error.frames = []
            raise self._error
        self._expect = -1 if self.expect_masked is None else (1 if self.expect_masked else 0)
        self._frame_limit = _size_limit(self.max_frame_size, "max_frame_size")
        self._message_limit = _size_limit(self.max_message_size, "max_message_size")
        self._fragment_limit = _size_limit(self.max_fragments, "max_fragments")
        _open_read(data, &view)
        try:
            if length is not None:
                count = _read_length(length)
                if count > view.len:
                    raise ValueError(f"length must be at most the {view.len} bytes of data, "
                                     f"not {_non_negative(length, 'length')}")
                view.len = count
            held = PyByteArray_GET_SIZE(self._buffer)
            if held == 0:
                # Nothing buffered: decode straight from the caller's buffer, keep only the remainder.
                consumed = 0
                if self._payload is not None:
                    consumed = self._continue_fill(<const uint8_t *>view.buf, view.len, frames)
                if self._error is None and self._payload is None:
                    consumed += self._decode(<const uint8_t *>view.buf + consumed, view.len - consumed, frames)
                size = view.len - consumed
                if size and self._payload is None:
                    PyByteArray_Resize(self._buffer, size)
                    _copy(<uint8_t *>PyByteArray_AS_STRING(self._buffer), <const uint8_t *>view.buf + consumed, size)
                return frames
            PyByteArray_Resize(self._buffer, held + view.len)
            _copy(<uint8_t *>PyByteArray_AS_STRING(self._buffer) + held, <const uint8_t *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
        # Bytes were buffered already: decode from the buffer, holding an export while Python
        # objects are made, so nothing can resize it.
        PyObject_GetBuffer(self._buffer, &view, PyBUF_SIMPLE)
        try:
            consumed = self._decode(<const uint8_t *>view.buf, view.len, frames)
        finally:
            PyBuffer_Release(&view)
        del self._buffer[:consumed]
        return frames


cdef extern from "Python.h":
    object PyByteArray_FromStringAndSize(const char *data, Py_ssize_t size)
    int PySequence_DelSlice(object sequence, Py_ssize_t low, Py_ssize_t high) except -1


def take_frame(bytearray buffer not None, bint masked, object max_size, bint bytearray_payload=False,
               bint strict=False):
    """Take the whole frame at the front of ``buffer`` out of it, as a parser that leaves every rule
    but the header's to its caller reads one; see the pure-Python twin for the details.

    Raises:
        TypeError: ``buffer`` is not a bytearray.
    """
    cdef Py_buffer view
    cdef object frame
    cdef Py_ssize_t taken = 0
    # An export for the whole parse: _mask may let go of the GIL, and on free-threaded builds
    # other threads run anyway; either way, nothing can resize the buffer under the pointer.
    PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
    try:
        frame = _take_frame(<const uint8_t *>view.buf, view.len, masked, max_size, bytearray_payload, strict,
                            &taken)
    finally:
        PyBuffer_Release(&view)
    if taken:
        PySequence_DelSlice(buffer, 0, taken)
    return frame


cdef object _take_frame(const uint8_t *data, Py_ssize_t size, bint masked, object max_size,
                        bint bytearray_payload, bint strict, Py_ssize_t *taken):
    """take_frame's result for the bytes at ``data``; a frame's size goes to ``taken``."""
    cdef uint64_t length, limit
    cdef Py_ssize_t header, i
    cdef int overflow = 0
    cdef long long number
    cdef uint8_t key[4]
    if size < 2:
        return 0
    if _OPCODE_MEMBERS[data[0] & 0x0F] is None or ((data[1] & 0x80) != 0) != masked:
        return -1
    length = data[1] & 0x7F
    if strict and (data[0] & 0x70 or (data[0] & 0x08 and (not data[0] & 0x80 or length > 125))):
        return -1
    header = 2
    if length == 126:
        if size < 4:
            return 0
        length = (<uint64_t>data[2] << 8) | data[3]
        header = 4
        if strict and length < 126:
            return -1
    elif length == 127:
        if size < 10:
            return 0
        length = 0
        for i in range(2, 10):
            length = (length << 8) | data[i]
        header = 10
        if strict and (length < 65536 or length >> 63):
            return -1
    if max_size is not None:
        if type(max_size) is not int:
            return -1
        number = PyLong_AsLongLongAndOverflow(max_size, &overflow)
        if overflow < 0 or (overflow == 0 and number < 0):
            return -1
        limit = UINT64_MAX if overflow > 0 else <uint64_t>number
        if length > limit:
            return -1
    if masked:
        header += 4
    if size < header or <uint64_t>(size - header) < length:
        return 0
    if masked:
        memcpy(key, data + header - 4, 4)
        payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>length)
        _mask(<uint8_t *>PyBytes_AS_STRING(payload), data + header, <size_t>length, key, 0)
    elif bytearray_payload:
        payload = PyByteArray_FromStringAndSize(NULL, <Py_ssize_t>length)
        _copy(<uint8_t *>PyByteArray_AS_STRING(payload), data + header, <size_t>length)
    else:
        payload = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>length)
        _copy(<uint8_t *>PyBytes_AS_STRING(payload), data + header, <size_t>length)
    first = data[0]
    taken[0] = header + <Py_ssize_t>length
    return (first & 0x0F, first >= 0x80, (first & 0x40) != 0, (first & 0x20) != 0, (first & 0x10) != 0,
            payload)


cdef class PayloadFill:
    """A frame's payload read straight into the object it ends up in; see the pure-Python twin.

    Raises:
        ValueError: ``length`` is negative, or ``key`` is not 4 bytes.
    """

    cdef object _payload  # bytes or bytearray of the payload's length, written up to _filled
    cdef Py_ssize_t _length
    cdef Py_ssize_t _filled
    cdef bint _masked
    cdef uint8_t _key[4]
    cdef bint _busy  # in take, which lets other threads run over long pieces

    def __cinit__(self, Py_ssize_t length, key=None, bint as_bytearray=False):
        if length < 0:
            raise ValueError(f"length must be non-negative, not {length}")
        self._masked = key is not None
        if self._masked:
            _load_key(key, self._key)
        self._length = length
        self._filled = 0
        if as_bytearray:
            self._payload = PyByteArray_FromStringAndSize(NULL, length)
        else:
            self._payload = PyBytes_FromStringAndSize(NULL, length)

    @property
    def received(self):
        """Payload bytes taken so far."""
        return self._filled

    def take(self, bytearray buffer not None):
        """Move payload bytes from the front of ``buffer`` into the payload (unmasked).

        Returns:
            The payload once complete (then this object is spent), else None.

        Raises:
            TypeError: ``buffer`` is not a bytearray.
            ValueError: the payload was returned already.
            RuntimeError: another thread is in ``take`` or ``fill_from`` on this object.
        """
        cdef Py_ssize_t count
        cdef Py_buffer view
        self._enter()
        try:
            # An export while the bytes move: _mask may let go of the GIL, and on free-threaded
            # builds other threads run anyway; either way, nothing can resize the buffer meanwhile.
            PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
            try:
                count = self._write(&view)
            finally:
                PyBuffer_Release(&view)
            PySequence_DelSlice(buffer, 0, count)
            self._filled += count  # after the delete: if it fails, the bytes are still to be taken
        finally:
            self._busy = False
        if self._filled < self._length:
            return None
        payload, self._payload = self._payload, None
        return payload

    def fill_from(self, data not None):
        """Copy payload bytes from the front of ``data``, which is left as it is (unmasked into
        the payload, as ``take``); ``take`` hands the payload out once it is whole. For a parser
        whose input need not pass through its buffer while a large frame fills.

        Returns:
            How many bytes of ``data`` were taken.

        Raises:
            TypeError: ``data`` does not support the buffer protocol.
            ValueError: the payload was returned already.
            RuntimeError: another thread is in ``take`` or ``fill_from`` on this object.
        """
        cdef Py_ssize_t count
        cdef Py_buffer view
        self._enter()
        try:
            _open_read(data, &view)
            try:
                count = self._write(&view)
            finally:
                PyBuffer_Release(&view)
            self._filled += count
        finally:
            self._busy = False
        return count

    cdef int _enter(self) except -1:
        """Claim the object for one call; the caller clears ``_busy`` when it ends.

        Raises:
            ValueError: the payload was returned already.
            RuntimeError: another thread is in a call.
        """
        with cython.critical_section(self):  # atomic on free-threaded builds; the GIL does it otherwise
            if self._busy:
                raise RuntimeError(_FILL_BUSY)
            self._busy = True
        if self._payload is None:
            self._busy = False
            raise ValueError("the payload was returned already")
        return 0

    cdef Py_ssize_t _write(self, Py_buffer *view) except -1:
        """Write what the payload still lacks from the front of ``view``, unmasked, after the
        bytes written so far; ``_filled`` is the caller's to advance. Returns how many."""
        cdef Py_ssize_t count = min(view.len, self._length - self._filled)
        cdef uint8_t *target
        if type(self._payload) is bytes:
            target = <uint8_t *>PyBytes_AS_STRING(self._payload) + self._filled
        else:
            target = <uint8_t *>PyByteArray_AS_STRING(self._payload) + self._filled
        if self._masked:
            _mask(target, <const uint8_t *>view.buf, <size_t>count, self._key, <unsigned>(self._filled & 3))
        else:
            _copy(target, <const uint8_t *>view.buf, <size_t>count)
        return count
