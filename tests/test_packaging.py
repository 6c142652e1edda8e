"""What ships: the shipped themes live at the top of the repository (``themes/``) and the wheel
carries them as ``lookalike/themes``, where the installed app looks first."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_shipped_themes_live_at_the_top_and_the_app_finds_them() -> None:
    from lookalike.ui.themes import BUNDLED, load_themes

    shipped = sorted(p.name for p in (REPO / "themes").glob("*.toml"))
    assert shipped == ["lookalike-dark.toml", "lookalike-light.toml"]
    assert not (REPO / "src" / "lookalike" / "themes").exists()  # one home, not two
    assert BUNDLED == REPO / "themes"  # a source checkout reads the top-level folder
    themes, problems = load_themes(REPO / "no-user-themes-here")
    assert not problems
    assert {"lookalike-dark", "lookalike-light"} <= {t.name for t in themes}


def test_the_wheel_carries_the_themes_styles_and_no_stray_top_level_package(
    tmp_path: Path,
) -> None:
    pytest.importorskip("hatchling", reason="the [test] extra installs hatchling")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("lookalike-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lookalike/themes/lookalike-dark.toml" in names
    assert "lookalike/themes/lookalike-light.toml" in names
    assert "lookalike/ui/styles/app.tcss" in names and "lookalike/py.typed" in names
    tops = {n.split("/")[0] for n in names}
    assert tops == {"lookalike", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
