"""Which file of a group looks like the original, judged against the other files of the group.

Why a group-relative judgement: most traces of an edit are only visible next to the original
(a greyscale copy of a grey photo is no edit; a letterbox is a border the others lack; noise
is noise the others lack). ``analyse`` turns each file's stored provenance record
(``features/provenance.py``) and signatures into *evidence* (plain JSON: camera, editor,
content size, encoding, and the edits this file shows that the group does not); the keep
rules rank on it (``keep.py``); ``flags_for`` then describes every other file relative to the
chosen keeper in words a person checks at a glance.

Only what was measured becomes evidence or a flag: a file without a provenance record (an old
catalog row, a failed measure) simply has none.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from lookalike.engine.features import perceptual as pc
from lookalike.engine.features.dct_turns import turned_dct_vectors
from lookalike.engine.features.provenance import JPEG_RESAVE, JPEG_TRACE, border_kind, editor_name
from lookalike.engine.records import Member, member_with

LOSSLESS = {"PNG", "TIFF", "BMP", "PPM", "TGA"}
CAMERA_LOSSY = {"JPEG", "MPO", "HEIF", "HEIC"}
RAW = {"RAW", "DNG", "CR2", "NEF", "ARW"}

BORDER_MARGIN = 0.03  # content share of the canvas below the group's best: a border was added
GREY_CHROMA = 2.0  # mean chroma (0..255) under which a file is grey
COLOUR_CHROMA = 8.0  # ... and over which the group's most colourful file is in colour
TONE_SHIFT = 10.0  # grey levels of mean brightness away from the group's median
CONTRAST_SHIFT = 0.15  # relative contrast change
CHROMA_SHIFT = 0.25  # relative saturation change
BLUR_RATIO = 0.6  # fine detail under this share of the sharpest comparable file
NOISE_RATIO = 1.8  # noise/contrast over this multiple of the group's usual …
NOISE_MIN = 1.0  # … and at least this many grey levels more
SCALE_COMPARABLE = 0.7  # detail and noise compare only between files of similar size
# A window whose difference to the consensus is this many times the picture's median
# difference, and this large (z-score units of the low-pass picture). Measured on the corpus:
# watermarks 8.3–15×, turned / re-encoded / recoloured copies at most 7.2×.
OVERLAY_RATIO = 8.0
OVERLAY_MIN = 0.04
TURN_MIN = 0.9  # low cosine under which an orientation is not trusted


# ---------------------------------------------------------------------------------------------
# orientation
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _compose_table() -> tuple[list[list[int]], list[int]]:
    probe = np.arange(12).reshape(3, 4)
    forms = [pc.apply_dihedral(probe, t) for t in range(8)]

    def which(a: np.ndarray) -> int:
        return next(t for t, f in enumerate(forms) if f.shape == a.shape and np.array_equal(f, a))

    comp = [[which(pc.apply_dihedral(forms[a], b)) for b in range(8)] for a in range(8)]
    inv = [next(b for b in range(8) if comp[a][b] == 0) for a in range(8)]
    return comp, inv


def compose(a: int, b: int) -> int:
    """The transform "first a, then b"."""
    return _compose_table()[0][a][b]


def inverse(t: int) -> int:
    return _compose_table()[1][t]


TURN_NAMES = {
    0: None,
    1: "mirrored",  # columns flipped: left-right
    2: "mirrored, rotated 180",  # rows flipped: upside-down mirror
    3: "rotated 180",
    4: "mirrored, rotated 90",  # transpose
    5: "rotated 90",  # transpose + flip columns = 90° clockwise
    6: "rotated 270",  # transpose + flip rows = 90° anticlockwise
    7: "mirrored, rotated 270",
}


def best_turn(views_a: Sequence[Any], views_b: Sequence[Any]) -> tuple[int, float]:
    """(transform turning a onto b, low cosine): the best over the 8 turns and over both
    framings of each (whole canvas, content inside borders), as the grouping matches them."""
    best = (0, -1.0)
    targets = [pc.dct_vector(vb.dct) for vb in views_b]  # once each, not once per view of a
    for va in views_a:
        turned = turned_dct_vectors(va.dct)
        for target in targets:
            for t in range(8):
                c = float(turned[t] @ target)
                if c > best[1] + 1e-6:
                    best = (t, c)
    return best


# ---------------------------------------------------------------------------------------------
# per-file facts
# ---------------------------------------------------------------------------------------------
def _camera(prov: dict) -> str | None:
    make, model = prov.get("make") or "", prov.get("model") or ""
    if model and make and not model.lower().startswith(make.lower().split()[0]):
        return f"{make} {model}"
    return model or make or None


def _later(a: str | None, b: str | None) -> bool:
    """ModifyDate a later than DateTimeOriginal b (more than a few seconds: cameras write both)."""
    if not a or not b:
        return False
    return a[:16] > b[:16]


def _encoding(fmt: str, prov: dict, camera: bool) -> tuple[int, str]:
    """(rank, words): lower is closer to what a camera or a renderer wrote first."""
    f = fmt.upper()
    traces = prov.get("jpeg_traces")
    if f in RAW:
        return 0, f
    if f in LOSSLESS:
        if traces is None:
            return 3, f"{f} (origin not measurable)"
        if traces >= JPEG_TRACE:
            return 4, f"a {f} re-save of a JPEG"
        return 1, f"{f} (lossless, no JPEG traces)"
    if f in ("HEIF", "HEIC") and camera:
        return 2, "HEIC from a camera"
    if f in ("JPEG", "MPO"):
        q = prov.get("jpeg_quality")
        words = f"JPEG q{q}" if q else "JPEG"
        if float(prov.get("jpeg_resave") or 0.0) >= JPEG_RESAVE:
            return 4, f"{words}, a re-save of another JPEG"
        return 3, words
    if f in ("HEIF", "HEIC", "AVIF"):
        return 4, f"a {f} conversion"
    if f == "WEBP":
        return 5, "a WebP conversion"
    return 6, f"a {f} conversion"


def analyse(
    formats: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    provs: Sequence[dict | None],
    views: Sequence[Sequence[Any] | None],
    relative: bool = True,
) -> list[dict[str, Any]]:
    """Evidence per file of one group (same order as the inputs), JSON-ready.

    ``sizes`` are full pixel sizes after EXIF orientation; ``views`` the stored signatures
    (None where not loaded, e.g. ``--exact-only``).
    """
    n = len(formats)
    out: list[dict[str, Any]] = []
    for i in range(n):
        p = provs[i] or {}
        cam = _camera(p)
        date = p.get("date_original")
        editor = editor_name(p.get("software"), p.get("make"))
        later = _later(p.get("modify_date"), date)
        w, h = sizes[i]
        frac = p.get("content") or [0.0, 1.0, 0.0, 1.0]
        cw = max(1, round(w * (frac[3] - frac[2])))
        ch = max(1, round(h * (frac[1] - frac[0])))
        rank, words = _encoding(formats[i], p, bool(cam or date))
        ev: dict[str, Any] = {
            "measured": bool(provs[i]),
            "camera": cam,
            "date": date,
            "editor": editor,
            "modified_after_capture": later,
            "content": [w, h],
            "trimmed": [cw, ch],
            "encoding": words,
            "encoding_rank": rank,
            "jpeg_quality": p.get("jpeg_quality"),
            "orientation_tag": p.get("orientation_tag"),
            "edits": [],
        }
        ev["camera_original"] = bool((cam or date) and not editor and not later)
        if editor:
            ev["edits"].append(f"edited by {editor}")
        elif later and (cam or date):
            ev["edits"].append("modified after capture")
        if rank == 4 and words.endswith("re-save of a JPEG"):
            ev["edits"].append(words)
        if rank == 4 and words.endswith("re-save of another JPEG"):
            ev["edits"].append("a re-save of another JPEG")
        if _exif_turned(p.get("orientation_tag")) and not (cam or date):
            ev["edits"].append("EXIF-rotated")  # a camera writes the tag with its own data
        out.append(ev)
    if relative:
        _relative(out, formats, provs, views)
    for ev in out:
        # Only an added border takes pixels away: a photo's own plain background (a page, a
        # graphic on white) trims differently in every copy and is still picture.
        trimmed = ev.pop("trimmed")
        if ev.get("border"):
            ev["content"] = trimmed
    return out


def _relative(
    out: list[dict[str, Any]],
    formats: Sequence[str],
    provs: Sequence[dict | None],
    views: Sequence[Sequence[Any] | None],
) -> None:
    """The edits a file shows that the rest of its group does not."""
    idx = [i for i, p in enumerate(provs) if p]
    if len(idx) < 2:
        return
    P = {i: provs[i] or {} for i in idx}
    # borders: less content share of the canvas than the group's best
    share = {i: _share(P[i]) for i in idx}
    usual = _usual_share(list(share.values()))
    for i in idx:
        kind = border_kind(tuple(P[i].get("content") or (0.0, 1.0, 0.0, 1.0)))
        if kind and share[i] < usual - BORDER_MARGIN:
            out[i]["edits"].append(kind)
            out[i]["border"] = kind
    # colour and tone
    chroma = {i: float(P[i].get("chroma", 0.0)) for i in idx}
    colourful = max(chroma.values()) > COLOUR_CHROMA
    grey = {i for i in idx if colourful and chroma[i] < GREY_CHROMA}
    for i in grey:
        out[i]["edits"].append("greyscale")
    if len(idx) >= 3:
        luma = _median([P[i].get("luma", 0.0) for i in idx])
        contrast = _median([P[i].get("contrast", 0.0) for i in idx])
        col = [chroma[i] for i in idx if i not in grey]
        med_chroma = _median(col) if col else 0.0
        for i in idx:
            what = []
            if abs(P[i].get("luma", 0.0) - luma) > TONE_SHIFT:
                what.append("brighter" if P[i]["luma"] > luma else "darker")
            if contrast > 1 and abs(P[i].get("contrast", 0.0) / contrast - 1) > CONTRAST_SHIFT:
                what.append("more contrast" if P[i]["contrast"] > contrast else "less contrast")
            if (
                i not in grey
                and med_chroma > COLOUR_CHROMA
                and abs(chroma[i] / med_chroma - 1) > CHROMA_SHIFT
            ):
                what.append("more saturated" if chroma[i] > med_chroma else "less saturated")
            if what:
                out[i]["edits"].append("recoloured (" + ", ".join(what) + ")")
                out[i]["recoloured"] = what
    # detail and noise, between files of comparable size; a GIF's dithering is neither
    px = {i: out[i]["trimmed"][0] * out[i]["trimmed"][1] for i in idx}
    top = max(px.values())
    comparable = [i for i in idx if px[i] >= SCALE_COMPARABLE * top and formats[i].upper() != "GIF"]
    if len(comparable) >= 2:
        fine = [P[i].get("fine", 0.0) for i in comparable]
        # the usual detail of the group (two files: the sharper one); an overlay's edges or
        # added noise must not make every other file "blurrier"
        usual = max(fine) if len(fine) == 2 else _median(fine)
        blurred = {i for i in comparable if P[i].get("fine", 0.0) < BLUR_RATIO * usual}
        for i in blurred:
            out[i]["edits"].append("blurrier")
            out[i]["blurrier"] = True
        for i in comparable:
            # noise compares only between files decoded alike (a JPEG decoded at reduced
            # scale is smoother than a PNG shrunk from full size), relative to contrast (a
            # contrast edit scales noise and picture alike)
            calm = [
                _snr(P[j])
                for j in comparable
                if j not in blurred and P[j].get("drafted") == P[i].get("drafted")
            ]
            if len(calm) >= 2 and i not in blurred:
                quiet = min(calm) if len(calm) == 2 else _median(calm)
                nz = _snr(P[i])
                gain = P[i].get("noise", 0.0) - quiet * max(float(P[i].get("contrast", 0)), 1.0)
                if nz > NOISE_RATIO * quiet and gain > NOISE_MIN:
                    out[i]["edits"].append("noisier")
                    out[i]["noisier"] = True
    # orientation and overlays need the signatures
    have = [i for i in idx if views[i]]
    if len(have) >= 2:
        _orientation(out, have, views)
        if len(have) >= 3:
            _overlays(out, have, views)


def _usual_share(shares: list[float]) -> float:
    """The content share of the unbordered files. Four or more files: the median (a photo
    with a plain frame of its own trims alike in most copies, while noisy or blurred copies
    may not trim at all). Fewer: the largest share two files agree on, else the largest."""
    if len(shares) >= 4:
        return _median(shares)
    ranked = sorted(shares, reverse=True)
    for a, b in zip(ranked, ranked[1:], strict=False):
        if a - b <= BORDER_MARGIN / 2:
            return a
    return ranked[0]


def _median(xs: Sequence[float]) -> float:
    """``float(np.median(xs))`` (equal values), without numpy's per-call cost (issue 13)."""
    s = sorted(float(x) for x in xs)
    if not s or any(x != x for x in s):
        return float(np.median(xs))  # empty or NaN: numpy's own answer
    h = len(s) // 2
    return s[h] if len(s) % 2 else (s[h - 1] + s[h]) / 2


def _snr(p: dict) -> float:
    """Noise relative to the picture's contrast."""
    return float(p.get("noise", 0.0)) / max(float(p.get("contrast", 0.0)), 1.0)


def _share(p: dict) -> float:
    t, b, lf, rt = p.get("content") or (0.0, 1.0, 0.0, 1.0)
    return (b - t) * (rt - lf)


def _orientation(
    out: list[dict[str, Any]], have: list[int], views: Sequence[Sequence[Any] | None]
) -> None:
    """Pixel-rotated or mirrored relative to the orientation most files share."""
    ref = have[0]
    turns = {}
    for i in have:
        t, c = best_turn(views[ref], views[i]) if i != ref else (0, 1.0)  # type: ignore[arg-type]
        if c >= TURN_MIN:
            turns[i] = t
    if len(turns) < 2:
        return
    counts = Counter(turns.values())
    top = max(counts.values())
    if list(counts.values()).count(top) > 1:
        return  # no majority orientation: nothing measured
    major = next(t for t, c in counts.items() if c == top)
    for i, t in turns.items():
        rel = compose(inverse(major), t)  # turns the majority's frame onto file i
        out[i]["turn"] = rel
        if rel:
            out[i]["edits"].append(TURN_NAMES[rel] or "turned")


@lru_cache(maxsize=1)
def _idct24() -> np.ndarray:
    k = np.arange(pc.DCT_STORE)[:, None]
    i = np.arange(pc.DCT_SIZE)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * pc.DCT_SIZE)) * np.sqrt(2.0 / pc.DCT_SIZE)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)  # (24, 64): x = m.T @ sig @ m


WHERE = (
    ("top left", "top", "top right"),
    ("left", "centre", "right"),
    ("bottom left", "bottom", "bottom right"),
)


def _overlays(
    out: list[dict[str, Any]], have: list[int], views: Sequence[Sequence[Any] | None]
) -> None:
    """A region where one file differs from the consensus of the others: text, logo, sticker.

    Each file's whole-canvas signature is turned into the majority orientation, brought back to a
    64×64 low-pass picture and normalised (so tone edits cancel); the consensus is the
    per-pixel median. A file has an overlay when one 16×16 window of its difference to the
    consensus stands out from the rest of the picture.
    """
    m = _idct24()
    imgs = {}
    for i in have:
        t = out[i].get("turn")
        if t is None or out[i].get("border"):
            continue
        whole = views[i][0]  # type: ignore[index]  # bordered copies are skipped below
        sig = pc.transform_dct(whole.dct.astype(np.float32), inverse(t))
        x = m.T @ sig @ m
        x = (x - x.mean()) / (x.std() + 1e-6)
        imgs[i] = x
    if len(imgs) < 3:
        return
    stack = np.stack(list(imgs.values()))
    med = np.median(stack, axis=0)
    for i, x in imgs.items():
        if out[i].get("blurrier") or out[i].get("recoloured"):
            continue  # its difference is everywhere (clipped highlights look local)
        d = np.abs(x - med)
        win = d.reshape(8, 8, 8, 8).mean(axis=(1, 3))  # 8×8 cells of 8×8 pixels
        pooled = (win[:-1, :-1] + win[1:, :-1] + win[:-1, 1:] + win[1:, 1:]) / 4  # 16×16 windows
        r, c = np.unravel_index(int(pooled.argmax()), pooled.shape)
        peak = float(pooled[r, c])
        rest = float(np.median(win))
        if peak > OVERLAY_MIN and peak > OVERLAY_RATIO * max(rest, 1e-3):
            where = WHERE[min(2, (r + 1) * 3 // 8)][min(2, (c + 1) * 3 // 8)]
            out[i]["edits"].append(f"overlay ({where})")
            out[i]["overlay"] = where


# ---------------------------------------------------------------------------------------------
# flags relative to the keeper
# ---------------------------------------------------------------------------------------------
def _exif_turned(tag: int | None) -> bool:
    return isinstance(tag, int) and tag not in (0, 1)


def flags_for(keeper: dict[str, Any], ev: dict[str, Any], fmt_keeper: str, fmt: str) -> list[str]:
    """What this file is, compared with the keeper; only measured facts."""
    if not ev.get("measured") or not keeper.get("measured"):
        return []
    flags: list[str] = []
    if ev.get("border"):
        flags.append(ev["border"])
    kt, t = keeper.get("turn"), ev.get("turn")
    if kt is not None and t is not None:
        rel = compose(inverse(kt), t)
        if rel:
            flags.append(TURN_NAMES[rel] or "turned")
    if _exif_turned(ev.get("orientation_tag")) and not _exif_turned(keeper.get("orientation_tag")):
        flags.append("EXIF-rotated")
    kw, kh = keeper["content"]
    w, h = ev["content"]
    ratio = math.sqrt((w * h) / max(1, kw * kh))
    if ratio < 0.97:
        flags.append(f"downscaled x{ratio:.2f}")
    elif ratio > 1.03:
        flags.append(f"upscaled x{ratio:.2f}")
    enc = _reencoded(keeper, ev, fmt_keeper, fmt)
    if enc:
        flags.append(enc)
    for e in ev.get("edits", []):
        if e.startswith(("greyscale", "recoloured", "overlay")):
            flags.append(e)
    if ratio >= 0.97:  # detail and noise only compare at one scale
        if ev.get("noisier"):
            flags.append("noisier")
        if ev.get("blurrier"):
            flags.append("blurrier")
    if (keeper.get("camera") or keeper.get("date")) and not (ev.get("camera") or ev.get("date")):
        flags.append("metadata stripped")
    if ev.get("editor"):
        flags.append(f"edited by {ev['editor']}")
    elif ev.get("modified_after_capture"):
        flags.append("modified after capture")
    return flags


def _reencoded(keeper: dict[str, Any], ev: dict[str, Any], fk: str, f: str) -> str | None:
    fk, f = fk.upper(), f.upper()
    if f in LOSSLESS and "re-save of a JPEG" in ev.get("encoding", ""):
        return f"re-encoded JPEG→{f}"
    if f != fk and not (f in ("JPEG", "MPO") and fk in ("JPEG", "MPO")):
        return f"re-encoded {fk}→{f}"
    q, kq = ev.get("jpeg_quality"), keeper.get("jpeg_quality")
    if f == fk and q and kq and q != kq:
        return f"re-encoded (JPEG quality {q} vs {kq})"
    return None


# ---------------------------------------------------------------------------------------------
# glue for the scan pipeline
# ---------------------------------------------------------------------------------------------
def with_evidence(
    files: Sequence[tuple[Member, int]],
    metas: dict[int, dict],
    views_of: Callable[[int], Sequence[Any] | None],
    copies: bool = True,
) -> list[Member]:
    """The group's members with their evidence (``files``: (member, representative id)).

    ``copies=False`` for look-alike shots (the ``similar`` tier): they are different photos,
    so only each file's own facts count, nothing judged against the others.
    """
    provs = [metas.get(rid, {}).get("prov") for _, rid in files]
    evs = analyse(
        [m.format for m, _ in files],
        [(m.width, m.height) for m, _ in files],
        provs,
        [views_of(rid) for _, rid in files] if copies else [None] * len(files),
        relative=copies,
    )
    return [member_with(m, evidence=ev) for (m, _), ev in zip(files, evs, strict=True)]


def with_flags(members: Sequence[Member], keeper: Member, copies: bool = True) -> list[Member]:
    """Each member with its flags relative to ``keeper`` (the keeper itself has none; a
    look-alike shot is no copy of the keeper, so it has none either)."""
    if not copies:
        return list(members)
    kev = keeper.evidence or {}
    return [
        m
        if m.path == keeper.path
        else member_with(m, flags=tuple(flags_for(kev, m.evidence or {}, keeper.format, m.format)))
        for m in members
    ]
