"""What Apply will do: the operation cycles through the CLI's operations, a folder is part of the
plan only for the operations that use one, and similar groups are in only when asked."""

from __future__ import annotations

from lookalike.ui.apply_choice import ApplyChoice
from lookalike.ui.screens.apply import OPERATIONS


def test_operation_cycles_and_the_folder_goes_with_the_operations_that_use_it() -> None:
    c = ApplyChoice()
    assert c.as_string() == "trash" and not c.similar
    seen = [c.next_operation(OPERATIONS) for _ in OPERATIONS]
    assert seen[-1] == "trash" and sorted(seen) == sorted(OPERATIONS)
    c.set_destination("  /backup/dupes ")
    assert c.as_string() == "trash"  # trash needs no folder
    c.next_operation(OPERATIONS)
    assert c.as_string() == "quarantine:/backup/dupes"
    c.operation = "hardlink"
    assert c.as_string() == "hardlink"
    c.operation = "unknown"
    assert c.next_operation(OPERATIONS) == OPERATIONS[1]  # an unknown one starts the cycle over
    c.include_similar(True)
    assert c.similar
