"""The domain and its orchestration. Never imports textual, textual_image or lookalike.ui."""

from lookalike.engine.api import Engine
from lookalike.engine.options import ScanOptions

__all__ = ["Engine", "ScanOptions"]
