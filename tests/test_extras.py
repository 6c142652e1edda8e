"""The light install: without the [ui], [metadata] or [pdf] extra, the commands that need one say
what is missing and how to install it (exit 2, nothing touched); ``--help`` and ``scan --no-ui``
still work, and ``lookalike info`` degrades to what Pillow and PyAV read. Absence is simulated in
a subprocess whose sitecustomize puts None in sys.modules for the blocked packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

BLOCKER = """
import os, sys
for _name in filter(None, os.environ.get("LOOKALIKE_TEST_BLOCK", "").split(",")):
    sys.modules[_name] = None  # `import _name` now raises ImportError, as if not installed
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two copies of one real photo (an exact pair) and a different one."""
    data = pytest.importorskip("skimage.data")
    from PIL import Image

    d = tmp_path_factory.mktemp("extras") / "photos"
    d.mkdir()
    Image.fromarray(data.astronaut()).save(d / "astronaut.jpg", quality=92)
    (d / "astronaut copy.jpg").write_bytes((d / "astronaut.jpg").read_bytes())
    Image.fromarray(data.coffee()).save(d / "coffee.png")
    return d


def _run(tmp: Path, block: str, *args: str) -> subprocess.CompletedProcess[str]:
    probe = tmp / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(BLOCKER)
    env = {
        **os.environ,
        "LOOKALIKE_TEST_BLOCK": block,
        "PYTHONPATH": os.pathsep.join([str(probe), str(REPO / "src")]),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


@pytest.mark.parametrize(
    "args",
    [(), ("ui",), ("--server", "http://127.0.0.1:9"), ("--graphics", "none", ".")],
    ids=["bare", "ui", "server", "paths"],
)
def test_the_app_without_textual_says_how_to_get_it(tmp_path: Path, args: tuple[str, ...]) -> None:
    r = _run(tmp_path, "textual,textual_image", *args)
    assert r.returncode == 2, r.stderr
    assert f"pip install -e '{REPO}[ui]'" in r.stderr
    assert "lookalike scan --no-ui PATH" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_scan_on_a_terminal_without_textual_refuses(tmp_path: Path) -> None:
    """``lookalike scan PATH`` on a tty opens the app: without [ui] it stops before the scan."""
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(BLOCKER)
    code = "from lookalike.commands.ui import launch_ui; launch_ui(None, None)"
    r = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **os.environ,
            "LOOKALIKE_TEST_BLOCK": "textual",
            "PYTHONPATH": os.pathsep.join([str(probe), str(REPO / "src")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and f"pip install -e '{REPO}[ui]'" in r.stderr, r.stderr


def test_help_and_headless_scan_work_without_any_extra(tmp_path: Path, photos: Path) -> None:
    block = "textual,textual_image,pyexiv2,img2pdf"
    assert _run(tmp_path, block, "--help").returncode == 0
    assert _run(tmp_path, block, "ui", "--help").returncode == 0
    r = _run(tmp_path, block, "scan", "--no-ui", str(photos), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert "astronaut copy.jpg" in r.stdout


def test_pdf_without_img2pdf_refuses_and_writes_nothing(tmp_path: Path, photos: Path) -> None:
    out = tmp_path / "album.pdf"
    r = _run(tmp_path, "img2pdf", "pdf", str(out), str(photos / "astronaut.jpg"))
    assert r.returncode == 2, r.stderr
    assert f"pip install -e '{REPO}[pdf]'" in r.stderr
    assert not out.exists()


def test_merge_without_pyexiv2_refuses_before_any_file_op(tmp_path: Path, photos: Path) -> None:
    before = sorted(p.name for p in photos.iterdir())
    r = _run(
        tmp_path,
        "pyexiv2",
        *("scan", "--no-ui", str(photos), "--action", "trash", "--merge-metadata", "--yes"),
    )
    assert r.returncode == 2, r.stderr
    assert f"pip install -e '{REPO}[metadata]'" in r.stderr
    assert sorted(p.name for p in photos.iterdir()) == before
    assert not list(photos.glob("*.xmp"))


def test_info_without_pyexiv2_shows_what_pillow_reads(tmp_path: Path, photos: Path) -> None:
    r = _run(
        tmp_path,
        "pyexiv2",
        *("info", "--format", "json", str(photos / "astronaut.jpg"), str(photos / "coffee.png")),
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(f"pip install -e '{REPO}[metadata]'") == 1  # one warning, not per file
    assert '"width": 512' in r.stdout and '"format": "PNG"' in r.stdout


def test_each_named_extra_is_in_pyproject_and_provides_its_modules() -> None:
    """The command a message suggests installs the module it says is missing."""
    import importlib.metadata as md
    import tomllib

    from lookalike.extras import EXTRAS

    declared = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    optional = declared["project"]["optional-dependencies"]
    providers = md.packages_distributions()
    for extra, (modules, _) in EXTRAS.items():
        names = {
            req.split(">")[0].split("=")[0].split("<")[0].strip().lower() for req in optional[extra]
        }
        for module in modules:
            dists = {d.lower() for d in providers.get(module, [])}
            assert dists & names, f"[{extra}] does not install {module} ({dists} vs {names})"


async def test_app_M_without_pyexiv2_stays_off_and_says_how(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app's Apply `M` (merge metadata) is refused with the install command, merge off."""
    pytest.importorskip("textual")
    from lookalike.ui.app import make_app
    from lookalike.ui.fake import FakeEngine, make_groups

    monkeypatch.setitem(sys.modules, "pyexiv2", None)
    app = make_app({}, FakeEngine(make_groups(3)), graphics="none")
    async with app.run_test(size=(130, 40)) as pilot:
        for _ in range(500):
            if len(app.review.groups) == 3:
                break
            await pilot.pause(0.02)
        await pilot.press("3", "a", "4")
        for _ in range(500):
            if app.plan is not None and app.plan.items:
                break
            await pilot.pause(0.02)
        await pilot.press("M")
        await pilot.pause()
        assert app.screen.merge is None
        assert "NAME.EXT.xmp" not in str(app.screen.query_one("#apply-op").render())
        said = " ".join(str(n.message) for n in app._notifications)
        assert f"pip install -e '{REPO}[metadata]'" in said


def test_the_engine_pdf_without_img2pdf_raises_its_install_command(
    tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's `P` and the job API reach engine.pdf directly: one PdfError line, no file."""
    from lookalike.engine.pdf import PdfError, make_pdf

    monkeypatch.setitem(sys.modules, "img2pdf", None)
    out = tmp_path / "marked.pdf"
    with pytest.raises(PdfError, match=r"\[pdf\] extra \(img2pdf is not installed\)"):
        make_pdf([str(photos / "astronaut.jpg")], str(out))
    assert not out.exists()
