"""Default limits against hostile peers. Every one can be overridden per call or per connection."""

__all__ = ["MAX_HTTP_HEAD_SIZE", "MAX_HTTP_HEADERS"]

#: Largest HTTP head (start line, headers and the blank line), in bytes.
MAX_HTTP_HEAD_SIZE = 8192

#: Most header lines in one HTTP head.
MAX_HTTP_HEADERS = 128
