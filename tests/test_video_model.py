"""Video fields of a group member: kept through the catalog, shown in the app's details."""

from __future__ import annotations

from rich.console import Console

from lookalike.engine.catalog import group_from_row, group_to_row
from lookalike.engine.records import Group, Member

SEG = {"a_start": 0.0, "a_end": 6.5, "b_start": 3.0, "b_end": 9.5, "score": 1.0}


def _group() -> Group:
    part = Member(
        path="/v/part.mp4",
        size=10,
        width=320,
        height=180,
        format="MP4",
        score=0.9,
        duration=7.0,
        fps=25.0,
        codec="h264",
        segments=(SEG,),
    )
    keep = Member(
        path="/v/long.mp4",
        size=20,
        width=320,
        height=180,
        format="MP4",
        score=1.0,
        duration=12.0,
        fps=25.0,
        codec="h264",
    )
    return Group(1, "clip", "/v/long.mp4", "the longer video", (keep, part))


def test_video_fields_survive_the_catalog_and_stay_out_of_photos() -> None:
    g = _group()
    back = group_from_row(group_to_row(g))
    part = back.members[1]
    assert (part.duration, part.fps, part.codec, part.segments) == (7.0, 25.0, "h264", (SEG,))
    assert back.tier == "clip"
    photo = Member(path="/p/a.jpg", size=1, width=1, height=1, format="JPEG", score=1.0)
    assert "duration" not in photo.to_json() and "segments" not in photo.to_json()
    assert g.members[1].to_json()["segments"] == [SEG]


def test_details_pane_shows_duration_and_segments() -> None:
    from lookalike.ui.widgets.details import Details

    g = _group()
    d = Details()
    d.show(g, g.members[1], frozenset({g.keep}), "pending")
    console = Console(width=100, record=True)
    console.print(getattr(d, "content", None) or d.renderable)
    text = console.export_text()
    assert "7.0 s · 25 fps · h264" in text
    assert "0.0–6.5 s = keeper 3.0–9.5 s" in text


def test_keeper_prefers_the_unpadded_untrimmed_video() -> None:
    from lookalike.engine.catalog import FileRow
    from lookalike.engine.options import DEFAULT_KEEP_RULES
    from lookalike.engine.rules.keep import choose_keeper
    from lookalike.engine.video_stage import video_member

    def row(n: int, name: str, size: int) -> FileRow:
        return FileRow(n, f"/v/{name}", 1, n, size, 0, "video", None, None, None)

    meta = {"width": 320, "height": 180, "duration": 10.0, "codec": "h264", "dropped": 0.0}
    original = video_member(row(1, "original.mp4", 1000), meta, 1.0, ())
    padded = video_member(row(2, "padded.mp4", 1400), {**meta, "dropped": 0.4}, 1.0, ())
    trimmed = video_member(row(3, "trimmed.mp4", 1200), meta, 1.0, (), shorter=True)
    boxed = video_member(
        row(4, "boxed.mp4", 1300), {**meta, "letterboxed": True, "content": [320, 140]}, 1.0, ()
    )
    assert padded.flags == ("black padding",) and trimmed.flags[0].startswith("shorter")
    keeper, reason = choose_keeper([padded, trimmed, boxed, original], DEFAULT_KEEP_RULES)
    assert keeper.path == "/v/original.mp4", reason
