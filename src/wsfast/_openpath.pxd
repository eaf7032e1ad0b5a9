# Declarations that make the build's compiled copy of _openpath.py (the module _openpath_c) keep
# its hot state in C fields and call its own methods in C. The .py file stays plain Python: it is
# the pure-Python twin as it is.

cimport cython


cdef class ConnectionCore:
    cdef public object _state
    cdef public object failure
    cdef public object on_data
    cdef public object _decoder
    cdef public object _feed_into
    cdef public object _sending
    cdef public list _events
    cdef public list _output
    cdef public bint _plain
    cdef public bint _masked
    cdef public bint decode_text
    cdef public bint stream_fragments
    # frames the decoder hands back: control frames, fragments, extensions' frames
    cdef public object extensions
    cdef public object max_message_size
    cdef public object auto_pong
    cdef public object _receiving
    cdef public object _received_size
    cdef public object _parts
    cdef public object _utf8
    cdef public object _text_decoder
    cdef public bint _pongs_held
    cdef public object _held_pong

    # cdef: called only from this module, in C (the twin calls them as plain methods)
    cdef _receive_data(self, data, length=*)
    cdef _send_message(self, opcode, data, fin)
    cpdef _deliver(self, data, final, text)


cdef class ProtocolCore:
    cdef public ConnectionCore protocol
    cdef public object transport
    cdef public object _transport_write
    cdef public object _transport_closing
    cdef public object _read_view
    cdef public object ping_interval
    cdef public object _last_received
    cdef public object _on_message
    cdef public bint _in_read
    cdef public Py_ssize_t _held
    cdef public Py_ssize_t _hold_limit
    cdef public bint _writing_paused
    cdef public bint _gather_writes
    cdef public bint _large_frame
    cdef public object _read_into
    cdef public Py_ssize_t _socket_fd
    cdef public bint _transport_may_hold

    cdef _write_output(self)
    cdef _read_done(self)
    cpdef _send(self, message, text=*)  # the await API's send() calls it in C
    cdef _write_now(self, transport, data)
    cdef _gather_now(self, transport, list chunks)
    cdef bint _transport_holds(self, transport) except -1
    cpdef bint write_shared(self, object frame) except -1


@cython.locals(core=ProtocolCore, declined=list)
cpdef list write_shared_to(object connections, object frame)


cdef class AwaitCore(ProtocolCore):
    cdef public object _messages
    cdef public object _stream

    cdef _read_done(self)
