# Declarations for the build's compiled copy of messages.py (the module messages_c): the queue's
# state in C fields. The .py file stays plain Python: it is the pure-Python twin as it is.

cpdef wake(waiter, bint now)


cdef class _Text:
    cdef public object data


cdef class _Partial:
    cdef public bint text
    cdef public list pieces
    cdef public bint final
    cdef public bint started
    cdef public bint skipping
    cdef public object decoder


cdef class MessageQueue:
    cdef public object max_queue
    cdef object _pause_reading
    cdef object _resume_reading
    cdef object _closed_error
    cdef object _entries
    cdef _Partial _receiving
    cdef Py_ssize_t _whole
    cdef object _waiter
    cdef bint _paused
    cdef bint _closed
    cdef object _loop
    cdef bint _wake_after_reads
    cdef bint _wake_due
    # called per message from get(): C calls (the connection calls the cpdef ones too)
    cpdef get_nowait(self, decode=*)
    cpdef check_single_reader(self)
    cdef object _new_waiter(self)
