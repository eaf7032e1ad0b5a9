"""TLS inside TLS for the sync client: a ``wss://`` server reached through an ``https://`` proxy.

``ssl.SSLSocket`` cannot wrap another ``SSLSocket``, so the inner TLS runs on an ``ssl.SSLObject``
between two memory buffers, and :class:`TLSInTLS` moves their bytes through the outer connection
(the TLS to the proxy). It offers the blocking socket methods the sync connection uses, from two
threads at once as it uses them (one reads, the others write).
"""

from __future__ import annotations

import collections
import ssl
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["TLSInTLS"]

_T = TypeVar("_T")
_READ_SIZE = 65536


class TLSInTLS:
    """A TLS connection to ``server_hostname`` carried inside ``outer``, handshake done.

    Args:
        outer: the TLS connection to the proxy, its tunnel to the server open.
        context: the inner TLS's context (the server's certificate is checked by it).
        server_hostname: the server's name, for SNI and the certificate check.

    Raises:
        ssl.SSLError: the inner handshake failed (a certificate the context does not trust...).
        OSError: the outer connection failed, or timed out (its timeout applies to each step).
    """

    def __init__(self, outer: ssl.SSLSocket, context: ssl.SSLContext, server_hostname: str) -> None:
        self._outer = outer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        # The SSLObject serves one thread at a time; one thread at a time reads the outer connection
        # into it (so the bytes go in in order), and one sends what it made (in order too).
        self._tls_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._unsent: collections.deque[bytes] = collections.deque()
        self._reads = 0  # reads of the outer connection so far
        self._run(self._tls.do_handshake)

    @property
    def family(self) -> int:
        return self._outer.family

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes from the server; b"" once it closed (as an SSLSocket suppresses a
        ragged EOF, so does this).

        Raises:
            OSError: the outer connection failed or timed out; ssl.SSLError for broken TLS.
        """
        try:
            return self._run(lambda: self._tls.read(size), wait_to_send=False)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    def sendall(self, data: Any) -> None:
        """Send all of ``data`` to the server.

        Raises:
            OSError: the outer connection failed or timed out; ssl.SSLError for broken TLS.
        """
        view = memoryview(data).cast("B")
        while view:
            written = self._run(lambda: self._tls.write(view))
            view = view[written:]

    def settimeout(self, timeout: float | None) -> None:
        self._outer.settimeout(timeout)

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self._outer.setsockopt(level, option, value)

    def getpeername(self) -> Any:
        return self._outer.getpeername()

    def getsockname(self) -> Any:
        return self._outer.getsockname()

    def fileno(self) -> int:
        return self._outer.fileno()

    def shutdown(self, how: int) -> None:
        """Shut the outer connection down: a thread blocked in :meth:`recv` wakes up."""
        self._outer.shutdown(how)

    def close(self) -> None:
        self._outer.close()

    def __enter__(self) -> TLSInTLS:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self, operation: Callable[[], _T], wait_to_send: bool = True) -> _T:
        """Run an operation of the SSLObject, sending what it writes, and reading the outer
        connection whenever it needs more, until it succeeds (or raises)."""
        while True:
            with self._tls_lock:
                reads = self._reads
                try:
                    result: _T | None = operation()
                    needs_more = False
                except ssl.SSLWantReadError:
                    result, needs_more = None, True
                finally:
                    pending = self._outgoing.read()
                    if pending:
                        self._unsent.append(pending)  # in the order the SSLObject made them
            self._send(wait_to_send)
            if not needs_more:
                return result  # type: ignore[return-value]  # what operation() returned: _T
            self._read_more(reads)

    def _send(self, wait: bool) -> None:
        """Send what the SSLObject made, never holding it meanwhile (the reader must go on reading
        while a send blocks, or two peers that both write could wait for each other forever).
        Without ``wait`` (the reader), a thread that is sending already sends it."""
        while self._unsent:
            if not self._send_lock.acquire(blocking=wait):
                return  # the sender looks again once it lets go
            try:
                while self._unsent:
                    self._outer.sendall(self._unsent.popleft())
            finally:
                self._send_lock.release()

    def _read_more(self, reads: int) -> None:
        """Read the outer connection into the SSLObject's buffer (EOF included), unless another
        thread did since the operation that wanted more saw ``reads`` reads."""
        with self._read_lock:
            if self._reads != reads:
                return  # try the operation again first
            data = self._outer.recv(_READ_SIZE)
            with self._tls_lock:
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                self._reads += 1
