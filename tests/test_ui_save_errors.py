"""A save that fails in the app is shown, never dropped: the recent-folders save after a scan
(`_save_many`) reports the engine's error. The engine side (a locked or damaged catalog raises
a CatalogError with a clear message) is covered by test_scan_robust.py with the real engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lookalike.engine.catalog import CatalogError
from lookalike.engine.options import ScanOptions
from lookalike.ui.app import make_app
from lookalike.ui.fake import FakeEngine


class LockedCatalog(FakeEngine):
    def save_state(self, key: str, value: object) -> None:
        if key.startswith("ui."):
            raise CatalogError("the catalog /x/catalog.sqlite stayed locked by another lookalike")
        super().save_state(key, value)


async def test_failed_save_after_a_scan_is_reported(tmp_path: Path) -> None:
    engine = LockedCatalog(scan_groups=2)
    base = ScanOptions(roots=(tmp_path,), workers=1)
    app = make_app({}, engine, graphics="none", scan_base=base, start_scan=True)
    async with app.run_test(size=(130, 40)) as pilot:
        loop = asyncio.get_running_loop()
        end = loop.time() + 20  # a safety limit; the condition is what is waited for
        while not any("not saved" in n.message for n in app._notifications):
            assert loop.time() < end, [n.message for n in app._notifications]
            await pilot.pause(0.02)
        note = next(n for n in app._notifications if "not saved" in n.message)
        assert note.severity == "error"
        assert "stayed locked by another lookalike" in note.message
