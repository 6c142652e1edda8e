"""Thumbnails appended to a pack file a worker; files made for the members of groups only.

Why (issue 13): creating a file costs 0.13–0.72 ms on this VM's ext4 (its inode), appending
the same bytes to an open file 0.010–0.031 ms (benchmarks/thumb_write.py), and only the
members of groups (≈ 20 % of the photos at 100k) are ever shown. So a decode worker appends
each thumbnail to a pack of its own (``<thumb dir>/packs/<pid>-<token>.pack``; one open file,
``O_APPEND``, one ``os.write`` a thumbnail) and the meta row says where its bytes are
(``"thumb_at": [pack name, offset, length]``) beside the file path it always had
(``"thumb"``). When a group's members are built from their metas (``rank_pool.member_of``,
on the rank workers and the driver), a member whose file does not exist gets it made from
the pack: the same bytes, written by the extract's own writer
(``features.extract.write_thumbnail_bytes``: a temporary file, then renamed). Every consumer
(the app, ``GET /thumbs/KEY``, the remote port, the server's gate, the JSON output) keeps
reading a file at ``thumb``.

A thumbnail that is the photo's own bytes (a small upright JPEG, its metadata dropped:
``features.extract.source_thumbnail``; nearly every photo of the 100k set) is not copied into
the pack at all: its entry is ``["photo", length, xxh64]`` and the member's file is made from
the member's photo, when its bytes still give that thumbnail (``from_photo``).

A pack is only ever appended to by the process that made it (the name holds its pid and a
random token; a forked child opens its own), so an entry's bytes never change once written.
A pack that is gone (the cache cleared) or shorter than an entry, or a photo changed since,
gives no entry and no error (``thumb_remake.py`` then makes the file from a decode). The
cache is shared by every catalog and a pack holds the thumbnails of any of them, so no scan
removes one: ``lookalike cache prune`` (``thumb_prune.py``) reads every catalog that uses the
cache and removes the packs and files none of them names (docs/engine.md, "The thumbnail
cache")."""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict

import xxhash

PACKS = "packs"  # the packs' folder inside the thumbnail cache
SUFFIX = ".pack"
SOURCE = "photo"  # an entry whose bytes are the photo's own (``source_entry``)
OPEN_READERS = 16  # packs kept open for reading (a scan's workers each wrote one a cache)


class _Writer:
    """This process's open pack in one thumbnail cache."""

    __slots__ = ("fd", "name", "offset", "pid")

    def __init__(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        self.pid = os.getpid()
        self.name = f"{self.pid}-{secrets.token_hex(6)}{SUFFIX}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
        self.fd = os.open(os.path.join(folder, self.name), flags, 0o666)  # umask applies
        self.offset = 0


_WRITERS: dict[str, _Writer] = {}  # a thumbnail cache's packs folder → this process's pack


def pack_folder(thumb: str) -> str:
    """The packs' folder of the cache a thumbnail path is in (``<cache>/<xx>/<key>.jpg``)."""
    return os.path.join(os.path.dirname(os.path.dirname(thumb)), PACKS)


def append(thumb: str, data: bytes | memoryview) -> list | None:
    """``data`` appended to this process's pack in ``thumb``'s cache: [pack name, offset,
    length], or None when it could not be written whole (a full disk: the thumbnail is lost,
    as a failed file write loses it; the next thumbnail starts a new pack)."""
    folder = pack_folder(thumb)
    w = _WRITERS.get(folder)
    try:
        if w is None or w.pid != os.getpid() or os.fstat(w.fd).st_nlink == 0:
            # none yet; a forked child's copy of its parent's; or the cache was cleared
            w = _WRITERS[folder] = _Writer(folder)
        n = os.write(w.fd, data)
    except OSError:
        _drop(folder)
        return None
    if n != len(data):  # a short write: what follows could not be found again
        _drop(folder)
        return None
    at = [w.name, w.offset, n]
    w.offset += n
    return at


def _drop(folder: str) -> None:
    w = _WRITERS.pop(folder, None)
    if w is not None and w.pid == os.getpid():
        try:
            os.close(w.fd)
        except OSError:
            pass


def close_all() -> None:
    """Close the packs this process writes and reads (tests; a worker's close as it exits)."""
    for folder in list(_WRITERS):
        _drop(folder)
    for path in list(_READERS):
        _forget(path)


# -- the members' files ---------------------------------------------------------------------
_READERS: OrderedDict[str, int] = OrderedDict()  # pack path → an open fd, least recent first
_READ_LOCK = threading.Lock()  # the driver may build members on more than one thread


def _reader(path: str) -> int:
    with _READ_LOCK:
        fd = _READERS.get(path)
        if fd is not None and os.fstat(fd).st_nlink:
            _READERS.move_to_end(path)
            return fd
        if fd is not None:  # deleted (the cache cleared): its disk is not held, nor read
            os.close(_READERS.pop(path))
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        _READERS[path] = fd
        while len(_READERS) > OPEN_READERS:
            os.close(_READERS.popitem(last=False)[1])
        return fd


def _forget(path: str) -> None:
    with _READ_LOCK:
        fd = _READERS.pop(path, None)
    if fd is not None:
        os.close(fd)


def source_entry(data: bytes) -> list:
    """The entry of a thumbnail that is its photo's own bytes (``features.extract.
    source_thumbnail``: the JPEG with its metadata dropped): ``["photo", length, xxh64]``,
    nothing written. The member's file is made from the photo's bytes again, and only if they
    still give these bytes (``from_photo``)."""
    return [SOURCE, len(data), xxhash.xxh64_hexdigest(data)]


def from_photo(at: list, photo: str | None) -> bytes | None:
    """The thumbnail a ``source_entry`` stands for, taken from ``photo`` (the member's file:
    its representative's or a byte copy of it), or None: no photo, it cannot be read, or it
    no longer gives the same bytes (changed since the scan read it)."""
    from lookalike.engine.features.extract import jpeg_as_thumbnail
    from lookalike.engine.media.decode import WHOLE_READ

    try:
        _, length, digest = at
        if photo is None:
            return None
        with open(photo, "rb") as fh:  # a source thumbnail's photo was read whole: ≤ WHOLE_READ
            data = jpeg_as_thumbnail(fh.read(WHOLE_READ + 1))
    except (OSError, TypeError, ValueError, IndexError):
        return None
    if data is None or len(data) != length or xxhash.xxh64_hexdigest(data) != digest:
        return None
    return data


def entry(thumb: str, at: list, photo: str | None = None) -> bytes | None:
    """The bytes a pack holds for ``thumb`` (``at``: its meta's ``thumb_at``), or the photo
    (``photo``: a member's file) for a ``source_entry``; None: the pack is gone or shorter than
    the entry, the photo changed, or ``at`` is not an entry."""
    if isinstance(at, list) and at and at[0] == SOURCE:
        return from_photo(at, photo)
    try:
        name, offset, length = at
        if not isinstance(name, str) or os.sep in name or not name.endswith(SUFFIX):
            return None
        path = os.path.join(pack_folder(thumb), name)
        data = os.pread(_reader(path), int(length), int(offset))
    except (OSError, TypeError, ValueError):
        return None
    if len(data) != length:  # the pack was cut short
        _forget(path)  # a pack made again later under this name is read afresh
        return None
    return data


def materialize(thumb: str | None, at: list | None, photo: str | None = None) -> bool:
    """Make ``thumb``'s file from its pack entry (or, for a ``source_entry``, from ``photo``)
    unless it exists: True when the file is there. Atomic (a temporary file renamed over it),
    so a reader never sees half of it."""
    if not thumb:
        return False
    if os.path.exists(thumb):  # made by an earlier scan, or a group judged before
        return True
    data = entry(thumb, at, photo) if at else None
    if data is None:
        return False
    from lookalike.engine.features.extract import write_thumbnail_bytes

    return write_thumbnail_bytes(thumb, data) is not None
