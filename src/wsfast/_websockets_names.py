"""websockets' names for options that wsfast names otherwise, so that code written for websockets
runs unchanged: ``additional_headers`` and ``user_agent_header`` (connect) and ``max_size`` (both).

Each alias is one more keyword of the same option: giving it beside wsfast's own name, with a
different value, is a TypeError, as two values for one argument are in Python.
"""

from __future__ import annotations

from typing import Any

from .headers import HeadersLike

__all__ = ["UNSET", "client_headers", "message_limits"]

#: The default of an alias: it was not given.
UNSET: Any = object()


def message_limits(
    max_size: Any, max_message_size: int | None, max_frame_size: Any, default_message_size: int | None
) -> tuple[int | None, int | None]:
    """``(max_message_size, max_frame_size)`` once websockets' ``max_size`` is applied and the frame
    limit's default filled in. ``max_size``: an int or None bounds the message, ``(message,
    fragment)`` the message and each frame (websockets 16). A frame limit not given (UNSET) is the
    message limit, so that a message may come in one frame, as with websockets, and a compressed
    frame (which the message limit bounds only once inflated) stays bounded by it.
    ``default_message_size`` is wsfast's default of ``max_message_size``, to tell whether it was given.

    Raises:
        TypeError: ``max_size`` is given beside ``max_message_size`` (or, as a pair, beside
            ``max_frame_size``) set to another value, or a limit is neither an int, None nor (for
            ``max_size``) a pair of them.
        ValueError: a limit is negative.
    """
    if max_size is not UNSET:
        if isinstance(max_size, tuple):
            if len(max_size) != 2:
                raise TypeError(f"max_size must be an int, None or (message, fragment), not {max_size!r}")
            message, fragment = max_size
            given_frame = max_frame_size is not UNSET and max_frame_size != fragment
        else:
            message, fragment, given_frame = max_size, max_frame_size, False
        for name, value in (("message", message), ("fragment", fragment)):
            if value is not None and value is not UNSET and (not isinstance(value, int) or isinstance(value, bool)):
                raise TypeError(f"max_size's {name} limit must be an int or None, not {value!r}")
        if given_frame or (max_message_size != default_message_size and max_message_size != message):
            raise TypeError("max_size is websockets' name of max_message_size (and max_frame_size): give one of them")
        max_message_size, max_frame_size = message, fragment
    if max_frame_size is UNSET:
        max_frame_size = max_message_size
    for name, value in (("max_message_size", max_message_size), ("max_frame_size", max_frame_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise TypeError(f"{name} must be an int or None, not {value!r}")
        if value is not None and value < 0:  # refused here, not at the first frame of each connection
            raise ValueError(f"{name} must be at least 0, not {value}")
    return max_message_size, max_frame_size


def client_headers(
    extra_headers: HeadersLike, additional_headers: Any, user_agent: str | None, user_agent_header: Any, default_agent: str
) -> tuple[HeadersLike, str | None]:
    """``(extra_headers, user_agent)`` once websockets' ``additional_headers`` and
    ``user_agent_header`` are applied.

    Raises:
        TypeError: an alias is given beside wsfast's name of the same option set to another value.
    """
    if additional_headers is not UNSET and additional_headers is not None:
        if extra_headers:
            raise TypeError("additional_headers is websockets' name of extra_headers: give one of them")
        extra_headers = additional_headers
    if user_agent_header is not UNSET:
        if user_agent != default_agent and user_agent != user_agent_header:
            raise TypeError("user_agent_header is websockets' name of user_agent: give one of them")
        user_agent = user_agent_header
    return extra_headers, user_agent
