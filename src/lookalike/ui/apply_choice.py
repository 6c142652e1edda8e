"""What the Apply screen will do: the operation, its folder, and whether look-alike (similar)
groups are included. Methods say what changes; the app reads it to build the plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Operations whose folder is part of the plan (``quarantine:DIR``, ``move:DIR`` …).
WITH_FOLDER = ("quarantine", "move", "copy")


@dataclass
class ApplyChoice:
    operation: str = "trash"
    destination: str = ""
    # Look-alike (similar) groups are different photos: acted on only after the Apply screen's
    # own confirmation (S) for this session.
    similar: bool = False

    def next_operation(self, operations: Sequence[str]) -> str:
        """The operation after the current one in ``operations`` (wrapping round)."""
        i = operations.index(self.operation) if self.operation in operations else 0
        self.operation = operations[(i + 1) % len(operations)]
        return self.operation

    def set_destination(self, folder: str) -> None:
        self.destination = folder.strip()

    def include_similar(self, on: bool) -> None:
        self.similar = on

    def as_string(self) -> str:
        """The operation as the engine's plan takes it (``move:/dest``, ``trash``)."""
        if self.operation in WITH_FOLDER and self.destination:
            return f"{self.operation}:{self.destination}"
        return self.operation
