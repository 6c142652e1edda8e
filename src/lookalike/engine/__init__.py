"""The domain and its orchestration. Never imports textual, textual_image or lookalike.ui.

``Engine`` and ``ScanOptions`` are loaded on first use (PEP 562), so importing one engine
module (say ``features.embed`` in a Ray worker or on a GPU box) does not pull in the whole
scan with its faiss, OpenCV and PyAV dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lookalike.engine.api import Engine
    from lookalike.engine.options import ScanOptions

__all__ = ["Engine", "ScanOptions"]


def __getattr__(name: str) -> Any:
    if name == "Engine":
        from lookalike.engine.api import Engine

        return Engine
    if name == "ScanOptions":
        from lookalike.engine.options import ScanOptions

        return ScanOptions
    raise AttributeError(f"module 'lookalike.engine' has no attribute {name!r}")
