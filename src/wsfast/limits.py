"""Default limits against hostile peers. Every one can be overridden per call or per connection."""

__all__ = ["MAX_HTTP_HEAD_SIZE", "MAX_HTTP_HEADERS", "MAX_FRAME_SIZE", "MAX_MESSAGE_SIZE", "MAX_FRAGMENTS"]

#: Largest HTTP head (start line, headers and the blank line), in bytes.
MAX_HTTP_HEAD_SIZE = 8192

#: Most header lines in one HTTP head.
MAX_HTTP_HEADERS = 128

#: Largest frame payload accepted, in bytes (close code 1009 beyond).
MAX_FRAME_SIZE = 1 << 20

#: Largest message accepted, in bytes after decompression (close code 1009 beyond).
MAX_MESSAGE_SIZE = 1 << 20

#: Most frames in one message (close code 1009 beyond): a message that never ends, or one sent
#: a byte a frame, costs the receiver work per frame, not per byte. 4,096 frames carry a 1 MiB
#: message in pieces of 256 bytes; senders that fragment use pieces of kilobytes or more.
MAX_FRAGMENTS = 4096

#: Largest body of a non-101 handshake response that a client reads, to report the rejection text.
MAX_HTTP_BODY_SIZE = 65536

__all__.append("MAX_HTTP_BODY_SIZE")
