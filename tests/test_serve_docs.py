"""docs/api.md tells the truth: its OpenAPI block is the served schema, every route is in the
schema, and its curl session runs as written against a real server on real photos."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from lookalike.serve.openapi import schema, schema_text  # noqa: E402
from lookalike.serve.routes import ROUTES  # noqa: E402
from serve_helpers import Server, make_library, snapshot  # noqa: E402

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _block(after: str, lang: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"```{lang}\n", text.index(after)) + len(lang) + 4
    return text[start : text.index("```", start)]


def test_committed_schema_is_the_served_one():
    assert _block("## OpenAPI schema", "json").strip() == schema_text(), (
        "docs/api.md is out of date: paste the output of python -m lookalike.serve.openapi"
    )


def test_every_route_is_in_the_schema():
    paths = schema()["paths"]
    for route in ROUTES:
        for method in route.methods - {"HEAD"}:
            assert method.lower() in paths.get(route.path, {}), (method, route.path)


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="needs curl, jq")
def test_the_curl_session_works_as_written(tmp_path):
    pytest.importorskip("uvicorn")
    lib = make_library(tmp_path)
    before = snapshot(lib)
    script = _block("tested: tests/test_serve_docs.py", "sh")
    script = re.sub(r"^URL=.*$", "", script, count=1, flags=re.M)
    script = re.sub(r"^PHOTOS=.*$", "", script, count=1, flags=re.M)
    server = Server(tmp_path, lib)
    try:
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={"PATH": "/usr/bin:/bin", "URL": server.url, "PHOTOS": str(lib)},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        server.stop()
    assert r.returncode == 0, r.stderr
    assert '"event":"finished"' in r.stdout and '"confirm": "trash 2 files"' in r.stdout
    assert '"phase": "undo"' in r.stdout and '"done": 2' in r.stdout
    assert snapshot(lib) == before  # the session's undo brought every file back
