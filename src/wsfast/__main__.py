"""The wsfast command line: ``python -m wsfast`` or ``wsfast``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="wsfast", description="A fast, strictly correct WebSocket library.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="show the kernels at work and how fast they are")
    arguments = parser.parse_args(argv)
    if arguments.command == "demo":
        from .demo import run

        return run(sys.stdout)
    parser.error(f"unknown command {arguments.command!r}")  # argparse exits; never reached
    return 2


if __name__ == "__main__":
    sys.exit(main())
