"""wsfast's version, in a module of its own: the sans-IO core reads it without importing the package."""

__all__ = ["__version__"]

#: The release (PEP 440); pyproject.toml reads it from here.
__version__ = "0.1.0.dev0"
