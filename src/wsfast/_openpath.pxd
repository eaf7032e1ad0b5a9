# Declarations that make the build's compiled copy of _openpath.py (the module _openpath_c) keep
# its hot state in C fields and call its own methods in C. The .py file stays plain Python: it is
# the pure-Python twin as it is.

cdef class ConnectionCore:
    cdef public object _state
    cdef public object failure
    cdef public object on_data
    cdef public object _decoder
    cdef public object _sending
    cdef public list _events
    cdef public list _output
    cdef public bint _plain
    cdef public bint _masked
    cdef public bint decode_text
    cdef public bint stream_fragments

    # cdef: called only from this module, in C (the twin calls them as plain methods)
    cdef _receive_data(self, data)
    cdef _send_message(self, opcode, data, fin)
    cpdef _deliver(self, data, final, text)


cdef class ProtocolCore:
    cdef public ConnectionCore protocol
    cdef public object transport
    cdef public object _read_view
    cdef public object ping_interval
    cdef public object _last_received
    cdef public object _on_message
    cdef public bint _in_read
    cdef public bint _writing_paused

    cdef _write_output(self)


cdef class AwaitCore(ProtocolCore):
    cdef public object _messages
    cdef public object _stream
