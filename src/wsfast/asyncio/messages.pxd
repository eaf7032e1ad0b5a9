# Declarations for the build's compiled copy of messages.py (the module messages_c): the queue's
# state in C fields. The .py file stays plain Python: it is the pure-Python twin as it is.

cdef int _PENDING, _DONE, _CANCELLED


cdef class _Waiter:
    cdef object _loop
    cdef list _callbacks
    cdef int _state
    cdef object _cancel_message
    cdef public object _asyncio_future_blocking  # asyncio's tasks set it
    cpdef bint done(self)
    cpdef wake(self, bint now)
    cdef _schedule_callbacks(self)


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
    cdef _Waiter _waiter
    cdef bint _paused
    cdef bint _closed
    cdef object _loop
    cdef bint _wake_after_reads
    cdef bint _wake_due
    # called per message from get(): C calls (the connection calls the cpdef ones too)
    cpdef get_nowait(self, decode=*)
    cpdef check_single_reader(self)
    cdef _Waiter _new_waiter(self)
