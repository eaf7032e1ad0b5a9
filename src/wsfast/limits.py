"""Default limits against hostile peers. Every one can be overridden per call or per connection."""

__all__ = ["MAX_HTTP_HEAD_SIZE", "MAX_HTTP_HEADERS", "MAX_FRAME_SIZE", "MAX_MESSAGE_SIZE"]

#: Largest HTTP head (start line, headers and the blank line), in bytes.
MAX_HTTP_HEAD_SIZE = 8192

#: Most header lines in one HTTP head.
MAX_HTTP_HEADERS = 128

#: Largest frame payload accepted, in bytes (close code 1009 beyond).
MAX_FRAME_SIZE = 1 << 20

#: Largest message accepted, in bytes after decompression (close code 1009 beyond).
MAX_MESSAGE_SIZE = 1 << 20

#: Largest body of a non-101 handshake response that a client reads, to report the rejection text.
MAX_HTTP_BODY_SIZE = 65536

__all__.append("MAX_HTTP_BODY_SIZE")
