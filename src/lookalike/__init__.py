"""lookalike: find duplicate, edited and look-alike photos; review them; act with undo."""

__version__ = "0.1.0"
