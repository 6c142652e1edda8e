"""What a decode worker computes for one file, in one pass over one reduced decode."""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from lookalike.engine import thumb_pack
from lookalike.engine.features import perceptual as pc
from lookalike.engine.features import provenance
from lookalike.engine.media.decode import WHOLE_READ, Decoded, DecodeError, decode_reduced

# Bump when the perceptual features change: only their rows recompute.
# 5: provenance record (originality evidence for the keeper) in the meta row.
PERCEPTUAL_VERSION = 5
THUMB_SIZE = 256
THUMB_QUALITY = 80
THUMB_SUFFIX = ".jpg"  # earlier scans wrote WebP (.webp); those stay valid until rescanned
# A small upright JPEG is its own thumbnail (its bytes, metadata dropped): no resize, no
# encode. Up to twice THUMB_SIZE on its longer side (the app shrinks it to THUMB_SIZE on
# load) and within decode.WHOLE_READ bytes (read whole by the decode already).
SOURCE_SIDE = 2 * THUMB_SIZE
# Below this grey standard deviation (0..1 scale) an image is "near-uniform": all black, all
# white, a flat colour. Such images carry too little picture to call two of them the same.
UNIFORM_STD = 0.01
MIN_COVERAGE = 0.2  # mostly transparent images are treated as near-uniform


@dataclass
class ImageFeatures:
    """The stored perceptual features of one file (see perceptual.py for what each is)."""

    width: int
    height: int
    format: str
    exif_fields: int
    capture_time: str | None
    camera: str | None
    orientation: int
    uniform: bool
    aspect: float  # width / height of the whole decoded image
    views: list[View]  # [whole image] or [whole image, content inside trimmed borders]
    thumb: str | None
    prov: dict | None = None  # provenance.measure: evidence of originality for the keeper
    thumb_at: list | None = None  # where its bytes are (thumb_pack: a pack, or the photo)


@dataclass(slots=True)  # one per file: no per-instance dict (issue 13)
class View:
    """Signatures of one framing of the image.

    Trimming uniform borders is ambiguous (a letterbox bar and a night sky look alike), so an
    image whose borders were trimmed keeps both framings and a pair matches on the best one.
    """

    dct: np.ndarray  # (24, 24) float32
    haar: bytes  # HaarSignature bytes
    aspect: float


MIN_TRIM = 0.02  # trims smaller than this share of a side keep a single view


def framings(
    rgb: Image.Image | np.ndarray, box: tuple[int, int, int, int] | None = None
) -> list[np.ndarray]:
    """The whole image, plus the content inside uniform borders when there is a real border."""
    arr = np.asarray(rgb)  # no copy when ``rgb`` is the caller's array already
    h, w = arr.shape[:2]
    top, bottom, left, right = box if box is not None else pc.trim_box(arr)
    out = [arr.astype(np.float32) / 255.0]
    cut = max(top / h, (h - bottom) / h, left / w, (w - right) / w)
    if cut >= MIN_TRIM and bottom - top >= 16 and right - left >= 16:
        out.append(arr[top:bottom, left:right].astype(np.float32) / 255.0)
    return out


def view_of(rgb01: np.ndarray) -> tuple[View, float]:
    """Signatures of one framing, and the grey standard deviation (for uniformity)."""
    rgb128 = _resize(rgb01, pc.HAAR_SIZE)
    grey128 = rgb128 @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    grey64 = grey128.reshape(64, 2, 64, 2).mean(axis=(1, 3))
    view = View(
        dct=pc.dct_signature(grey64),
        haar=pc.haar_signature(rgb128).to_bytes(),
        aspect=rgb01.shape[1] / rgb01.shape[0],
    )
    return view, float(grey64.std())


def _resize(rgb01: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray((rgb01 * 255.0 + 0.5).astype(np.uint8), "RGB")
    out = img.resize(
        (size, size), Image.Resampling.BOX if min(img.size) >= size else Image.Resampling.BILINEAR
    )
    return np.asarray(out, dtype=np.float32) / 255.0


def features_of(decoded: Decoded, thumb_path: str | None, pack: bool = False) -> ImageFeatures:
    """Every stored feature of one decode; the thumbnail written to ``thumb_path``, or with
    ``pack`` appended to this process's pack and its file left to be made if the photo joins
    a group (engine/thumb_pack.py)."""
    views = []
    stds = []
    # one copy of the decoded pixels for every consumer below (each np.asarray of a PIL image
    # copies it: three copies were ≈ 0.5 ms of a small photo's ≈ 10 ms, issue 13)
    arr = np.asarray(decoded.rgb)
    box = pc.trim_box(arr)
    for framing in framings(arr, box):
        view, std = view_of(framing)
        views.append(view)
        stds.append(std)
    uniform = stds[0] < UNIFORM_STD or decoded.alpha_coverage < MIN_COVERAGE
    thumb = thumb_at = None
    if thumb_path and pack:
        thumb_at = pack_thumbnail(arr, thumb_path, source_thumbnail(decoded))
        thumb = thumb_path if thumb_at is not None else None
    elif thumb_path:
        thumb = write_thumbnail(arr, thumb_path, source_thumbnail(decoded))
    return ImageFeatures(
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        exif_fields=decoded.exif_fields,
        capture_time=decoded.capture_time,
        camera=decoded.camera,
        orientation=decoded.orientation,
        uniform=uniform,
        aspect=decoded.rgb.size[0] / decoded.rgb.size[1],
        views=views,
        thumb=thumb,
        prov=_provenance(decoded, arr, box),
        thumb_at=thumb_at,
    )


def _provenance(decoded: Decoded, arr: np.ndarray, box: tuple[int, int, int, int]) -> dict | None:
    """The keeper's evidence; an odd image only loses it (the keeper falls back on size)."""
    try:
        prov = provenance.measure(arr, box, decoded.header, decoded.format, decoded.native_luma)
        # decoded through JPEG DCT scaling: detail and noise compare only with files alike
        reduced = min(decoded.rgb.size) < min(decoded.width, decoded.height)
        prov["drafted"] = decoded.format in ("JPEG", "MPO") and reduced
        return prov
    except Exception:
        return None


def write_thumbnail(
    rgb: Image.Image | np.ndarray, path: str, ready: bytes | None = None
) -> str | None:
    """A small JPEG for the review UI, written atomically; failures only lose the thumbnail.

    JPEG, not WebP: libwebp's encoder cost 5× baseline JPEG's here, and on small photos the
    thumbnail then weighed a fifth of a file's whole decode and features (issue 13). The
    pixels come as the features' own array (no copy of the decoded image); ``ready``: the
    thumbnail's bytes made already (``source_thumbnail``), written as they are."""
    try:
        data = ready if ready is not None else encode_jpeg(thumb_pixels(np.asarray(rgb)))
    except OSError:
        return None
    return write_thumbnail_bytes(path, data)


def write_thumbnail_bytes(path: str, data: bytes | memoryview) -> str | None:
    """A thumbnail's encoded bytes written to ``path`` atomically (a temporary file of this
    process and thread, renamed over it: a reader never sees half of it); ``path``, or None
    when it could not be written (no temporary file left behind). The extract's writer and a
    group member's file made from its pack (thumb_pack.materialize) alike."""
    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        try:
            _write(tmp, data, os.path.dirname(path))
        except FileNotFoundError:  # the cache folder went away during the scan
            _MADE_DIRS.clear()
            _write(tmp, data, os.path.dirname(path))
        os.replace(tmp, path)
        return path
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return None


def pack_thumbnail(arr: np.ndarray, path: str, ready: bytes | None = None) -> list | None:
    """The bytes ``write_thumbnail`` would write to ``path``, appended to this process's pack
    instead: where they are ([pack, offset, length]), or None (the thumbnail is lost, as a
    failed file write loses it). Why: a file's creation cost 0.13–0.72 ms on ext4 and only
    the members of groups are ever shown (thumb_pack.py, issue 13).

    A thumbnail that is the photo's own bytes (``ready``: ``source_thumbnail``) is not copied
    at all: the entry names the photo (``thumb_pack.source_entry``), whose bytes the member's
    file is made from if it joins a group (the append was ≈ 0.045 ms of a worker's photo,
    half of it the kernel copying bytes the photo's file already holds)."""
    if ready is not None:
        return thumb_pack.source_entry(ready)
    try:
        data = encode_jpeg(thumb_pixels(arr))
    except OSError:
        return None
    return thumb_pack.append(path, data)


def source_thumbnail(decoded: Decoded) -> bytes | None:
    """The file's own bytes as its thumbnail, when they show what the decode saw.

    Why: on small photos (the 100k set's 160–400 px) the resize and the encode were 0.5 ms of
    a ≈ 10 ms file (issue 13), to make a picture no better than the file itself. Only a JPEG
    read whole by the decode, upright (EXIF orientation 1: the decode turned nothing, and the
    copy drops EXIF, so no viewer turns it either), no larger than SOURCE_SIDE, with 8-bit
    Huffman frames of one or three components (what every browser and terminal shows as the
    decode does: no CMYK, 12-bit, arithmetic or lossless coding)."""
    if decoded.data is None or decoded.format != "JPEG" or decoded.orientation != 1:
        return None
    if max(decoded.width, decoded.height) > SOURCE_SIDE:
        return None
    try:
        return jpeg_as_thumbnail(decoded.data)
    except IndexError:  # a header cut short: the thumbnail is encoded as before
        return None


_SOF_OK = (0xC0, 0xC1, 0xC2)  # baseline, extended sequential, progressive; Huffman coded
_APP_KEEP = {0xE0: b"JFIF\0", 0xE2: b"ICC_PROFILE\0", 0xEE: b"Adobe"}  # how to show the pixels


def jpeg_as_thumbnail(data: bytes) -> bytes | None:
    """A whole JPEG file's bytes with their metadata dropped (EXIF with its GPS, XMP, IPTC,
    comments, maker segments: the cache and ``GET /thumbs/KEY`` hold pictures, not a copy of
    the user's metadata), kept: JFIF, the ICC profile, Adobe's colour flag, the tables and the
    scans up to the last EOI. None when it is not such a JPEG (see ``source_thumbnail``)."""
    if len(data) > WHOLE_READ or data[:2] != b"\xff\xd8":
        return None
    out, pos, framed = [b"\xff\xd8"], 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end <= pos + 3 or end > len(data):
            return None
        if marker == 0xDA:  # start of scan: the coded data and what follows, as it is
            last = data.rfind(b"\xff\xd9")
            return b"".join((*out, data[pos : last + 2])) if framed and last >= end else None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            if marker not in _SOF_OK or framed or data[pos + 4] != 8 or data[pos + 9] not in (1, 3):
                return None
            if not (0 < height <= SOURCE_SIDE and 0 < width <= SOURCE_SIDE):
                return None
            framed = True
        drop = marker == 0xFE or (
            0xE0 <= marker <= 0xEF and not data.startswith(_APP_KEEP.get(marker, b"-"), pos + 4)
        )
        if not drop:
            out.append(data[pos:end])
        pos = end
    return None


def encode_jpeg(arr: np.ndarray) -> memoryview:
    """``arr`` (H×W grey or H×W×3 RGB, uint8) as baseline JPEG at THUMB_QUALITY, in memory.

    Why OpenCV: its ``imencode`` runs the same libjpeg-turbo with the same settings as
    Pillow's ``save(…, "JPEG", quality=80)`` — the bytes are identical (tests/test_thumbnails.py)
    — for ≈ 0.6× the CPU (no PIL image, no file object: 0.32 → 0.20 ms a 256 px thumbnail,
    issue 13). Other shapes go through Pillow."""
    import cv2  # lazily, as thumb_pixels does

    if arr.dtype == np.uint8 and (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        bgr = arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        ok, out = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
        if ok:
            return memoryview(out).cast("B")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=THUMB_QUALITY)
    return buf.getbuffer()


def thumb_pixels(arr: np.ndarray) -> np.ndarray:
    """``arr`` (H×W[×C] uint8) shrunk so that its longer side is THUMB_SIZE; never enlarged.

    Why not Pillow's BOX resize: on these 1–2× reductions it cost 0.4–0.6 ms a photo, as much
    as the JPEG encode and a twentieth of a small photo's whole decode and features (issue 13).
    A whole factor ≥ 2 is an exact area average (OpenCV's integer fast path, no aliasing);
    what is left, under 2×, is bilinear; ≈ 0.05–0.15 ms together. Against Pillow's BOX the
    thumbnail differs by 1–5 grey levels on average (tests/test_thumbnails.py)."""
    import cv2  # lazily, as provenance.py does: the driver imports this module too

    h, w = arr.shape[:2]
    scale = THUMB_SIZE / max(w, h)
    if scale >= 1:
        return arr
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    k = int(1 / scale)  # shrink by a whole factor first; the bilinear step is then < 2×
    if k >= 2 and h >= 2 * k and w >= 2 * k:
        whole = arr[: h - h % k, : w - w % k]  # an exact factor: OpenCV's area fast path
        arr = cv2.resize(whole, (w // k, h // k), interpolation=cv2.INTER_AREA)
    if (arr.shape[1], arr.shape[0]) != size:
        arr = cv2.resize(arr, size, interpolation=cv2.INTER_LINEAR)
    return arr


def _write(path: str, data: memoryview, folder: str) -> None:
    """One open, one write: the encoded thumbnail is in memory already."""
    if folder not in _MADE_DIRS:  # one mkdir per folder per worker, not one per thumbnail
        os.makedirs(folder, exist_ok=True)
        _MADE_DIRS.add(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # umask applies
    try:
        if os.write(fd, data) != len(data):  # a full disk: no half thumbnail
            raise OSError("short write")
    finally:
        os.close(fd)


_MADE_DIRS: set[str] = set()  # thumbnail folders this process has made (a cache has 256)


def extract_file(
    path: str, thumb_path: str | None, max_pixels: int, pack: bool = False
) -> ImageFeatures:
    """Decode once, compute everything; raises DecodeError with a user-facing message.
    ``pack``: the thumbnail goes to this process's pack (``features_of``)."""
    decoded = decode_reduced(path, max_pixels=max_pixels)
    try:
        return features_of(decoded, thumb_path, pack)
    except DecodeError:
        raise
    except Exception as exc:  # a bug or an odd image must not stop the scan
        raise DecodeError(f"features failed ({type(exc).__name__}: {exc})") from exc


# -- storage ----------------------------------------------------------------------------------
_VIEW_DCT_BYTES = pc.DCT_STORE * pc.DCT_STORE * 2  # float16
_VIEW_HAAR_BYTES = 3 * pc.HAAR_KEEP * 4 + 12


def pack_views(views: list[View]) -> bytes:
    out = bytearray([len(views)])
    for v in views:
        out += v.dct.astype(np.float16).tobytes()
        out += v.haar
        out += np.float32(v.aspect).tobytes()
    return bytes(out)


def unpack_views(data: bytes, float16: bool = False) -> list[View]:
    """``pack_views``' bytes back as views. ``float16``: the blocks as stored, read in place
    (as the grouper's table holds them; every computation on a block upcasts it first, so the
    same bits either way), not copied to float32."""
    views, pos = [], 1
    for _ in range(data[0]):
        dct = np.frombuffer(data, np.float16, pc.DCT_STORE * pc.DCT_STORE, pos)
        dct = dct.reshape(pc.DCT_STORE, pc.DCT_STORE)
        pos += _VIEW_DCT_BYTES
        haar = data[pos : pos + _VIEW_HAAR_BYTES]
        pos += _VIEW_HAAR_BYTES
        aspect = float(np.frombuffer(data, np.float32, 1, pos)[0])
        pos += 4
        views.append(View(dct if float16 else dct.astype(np.float32), haar, aspect))
    return views


def meta_of(f: ImageFeatures) -> dict:
    return {
        "width": f.width,
        "height": f.height,
        "format": f.format,
        "exif_fields": f.exif_fields,
        "capture_time": f.capture_time,
        "camera": f.camera,
        "orientation": f.orientation,
        "uniform": f.uniform,
        "aspect": round(f.aspect, 5),
        "thumb": f.thumb,
        "prov": f.prov,
        **({"thumb_at": f.thumb_at} if f.thumb_at is not None else {}),
    }
