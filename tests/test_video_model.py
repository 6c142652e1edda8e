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
    from lookalike.engine.video_groups import video_member

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


def test_keeper_weighs_bitrate_by_codec_then_container() -> None:
    """Same content: more effective bits per pixel wins (a modern codec needs fewer), a few
    percent never decide, the container breaks a tie, and the reason names the evidence."""
    from lookalike.engine.catalog import FileRow
    from lookalike.engine.options import DEFAULT_KEEP_RULES
    from lookalike.engine.rules.keep import choose_keeper
    from lookalike.engine.video_groups import video_member

    def member(n: int, size: int, **probe) -> Member:
        meta = {"width": 320, "height": 180, "fps": 25.0, "duration": 10.0, "dropped": 0.0}
        meta.update({"codec": "h264", "container": "mov", "format": "MP4", **probe})
        row = FileRow(n, f"/v/{n}.x", 1, n, size, 0, "video", None, None, None)
        return video_member(row, meta, 1.0, ())

    h264 = member(1, 2_500_000, bitrate=2_000_000)
    mpeg4 = member(2, 2_600_000, bitrate=2_080_000, codec="mpeg4", container="avi", format="AVI")
    keeper, reason = choose_keeper([mpeg4, h264], DEFAULT_KEEP_RULES)
    assert keeper is h264 and reason.startswith("better encoding (h264 2.00 Mbit/s at 320×180, MP4")
    starved = member(3, 700_000, bitrate=500_000)
    assert choose_keeper([starved, h264], DEFAULT_KEEP_RULES)[0] is h264
    # HEVC at 60 % of the bits keeps about as much: a tie on encoding, bytes decide
    hevc = member(4, 1_500_000, bitrate=1_200_000, codec="hevc")
    keeper, reason = choose_keeper([hevc, h264], DEFAULT_KEEP_RULES)
    assert keeper is h264 and reason.startswith("largest file"), reason
    # 4 % more bits in an AVI: the same bucket; the modern container wins the tie
    avi = member(5, 2_600_000, bitrate=2_080_000, container="avi", format="AVI")
    keeper, reason = choose_keeper([avi, h264], DEFAULT_KEEP_RULES)
    assert keeper is h264 and "MP4 over" in reason, reason
    # resolution of the picture comes first: a full-size copy beats a well-fed downscale
    small = member(6, 9_000_000, bitrate=8_000_000, width=160, height=90)
    assert choose_keeper([small, h264], DEFAULT_KEEP_RULES)[0] is h264


def test_a_copy_short_of_the_keeper_is_grouped_with_its_closest_copy() -> None:
    """A ~ B and B ~ C are `same`, A ~ C fell short (partial): A keeps {A, B}, and C is not
    left out — it gets a group with B, its closest copy (never a chain through B to A)."""
    import numpy as np

    from lookalike.engine.catalog import FileRow
    from lookalike.engine.features.video_sig import VideoFrames
    from lookalike.engine.options import ScanOptions
    from lookalike.engine.video_align import Match, Segment
    from lookalike.engine.video_groups import build_groups
    from lookalike.engine.video_stage import VideoState

    rows = {
        n: FileRow(n, f"/v/{name}.mp4", 1, n, size, 0, "video", None, None, None)
        for n, name, size in ((1, "a", 3000), (2, "b", 2000), (3, "c", 1000))
    }
    meta = {"width": 320, "height": 180, "fps": 25.0, "duration": 10.0, "codec": "h264"}
    frames = {n: VideoFrames(1.0, 10.0, 10, np.arange(10.0), np.zeros((10, 16, 16))) for n in rows}
    seg = (Segment(0.0, 9.0, 0.0, 9.0, 1.0),)
    matches = [
        Match(1, 2, "same", 1.0, 1.0, seg),
        Match(2, 3, "same", 0.95, 0.95, seg),
        Match(1, 3, "partial", 0.7, 0.7, seg),
    ]
    state = VideoState({n: meta for n in rows}, frames)
    built, _ = build_groups(ScanOptions(), state, matches, rows, {}, list(rows.values()))
    got = sorted((tier, keep, sorted(m.path for m in files)) for tier, keep, _, files in built)
    assert got == [
        ("same", "/v/a.mp4", ["/v/a.mp4", "/v/b.mp4"]),
        ("same", "/v/b.mp4", ["/v/b.mp4", "/v/c.mp4"]),
    ]
