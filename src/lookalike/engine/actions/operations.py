"""The file operations, each in four parts the journal protocol needs:

``prepare``  picks the final destination and temp names (written to the journal as the intent),
``perform``  does it so that a failure leaves the file where it was,
``settle``   looks at the disk after a crash and says whether a ``started`` item happened
             (finishing nothing blindly: half-done work is rolled back, never pushed on),
``undo``     puts the original bytes back at the original path; it is idempotent, so an undo
             cut short by a crash is simply run again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from lookalike.engine.actions import fsutil, trash
from lookalike.engine.actions.errors import OperationFailed, VerifyError
from lookalike.engine.actions.journal import ItemRecord
from lookalike.engine.actions.plan import (
    LINKS,
    SHRINK_FORMATS,
    PlanItem,
    ShrinkOptions,
    quarantine_root,
)

MOVES = frozenset({"trash", "quarantine", "move"})


@dataclass
class Ctx:
    """Per-batch state: the batch id (temp-name tag), shrink options, names already handed out
    and keepers already verified."""

    batch_id: str
    shrink: ShrinkOptions | None = None
    directory: str | None = None  # move/copy/quarantine target given by the user
    reserved: set[str] = field(default_factory=set)
    keepers_ok: dict[str, str] = field(default_factory=dict)


# -- verification -----------------------------------------------------------------------------
def verify_source(item: PlanItem | ItemRecord) -> None:
    """Raise :class:`VerifyError` unless the file is exactly what was scanned."""
    try:
        st = os.lstat(item.source)
    except FileNotFoundError:
        raise VerifyError("missing (moved or deleted since the scan)") from None
    except OSError as exc:
        raise VerifyError(fsutil.describe_oserror(exc, "read", item.source)) from None
    if not stat.S_ISREG(st.st_mode):
        raise VerifyError("no longer a regular file")
    if st.st_size != item.size or (item.mtime_ns and st.st_mtime_ns != item.mtime_ns):
        raise VerifyError("changed since the scan (size or modification time differs)")
    try:
        digest = fsutil.hash_file(item.source)
    except OSError as exc:
        raise VerifyError(fsutil.describe_oserror(exc, "read", item.source)) from None
    if item.hash and digest != item.hash:
        raise VerifyError("content changed since the scan")


def verify_keeper(item: PlanItem, ctx: Ctx) -> None:
    """The keeper must still be there (and, for links, identical) before a copy goes away."""
    keep = item.keeper
    try:
        st = os.stat(keep)
    except OSError:
        raise VerifyError(
            f"its keeper {keep} is missing; left alone so the group keeps a copy"
        ) from None
    if (item.keeper_size and st.st_size != item.keeper_size) or (
        item.keeper_mtime_ns and st.st_mtime_ns != item.keeper_mtime_ns
    ):
        raise VerifyError(f"its keeper {keep} changed since the scan; left alone")
    if item.op in LINKS:
        if keep not in ctx.keepers_ok:
            try:
                ctx.keepers_ok[keep] = fsutil.hash_file(keep)
            except OSError as exc:
                raise VerifyError(fsutil.describe_oserror(exc, "read", keep)) from None
        if ctx.keepers_ok[keep] != item.hash:
            raise VerifyError(f"its keeper {keep} no longer has the same content; not linking")


# -- prepare ----------------------------------------------------------------------------------
def _tag(ctx_or_batch: Ctx | str, seq: int) -> str:
    batch = ctx_or_batch.batch_id if isinstance(ctx_or_batch, Ctx) else ctx_or_batch
    return f"{batch}-{seq}"


def _side(path: str, tag: str, what: str) -> str:
    return fsutil.side_path(path, tag, what)


def prepare(item: PlanItem, ctx: Ctx) -> tuple[str | None, dict]:
    """Final destination and temp names, recorded in the journal before anything moves."""
    op, tag = item.op, _tag(ctx, item.seq)
    if op == "trash" or (op == "shrink" and ctx.shrink and ctx.shrink.replace):
        detail: dict = {}
        if trash.FREEDESKTOP:
            can = trash.trash_for(item.source)
            files = trash.reserve_name(can, item.source, ctx.reserved)
            ctx.reserved.add(files)
            detail = {"info": trash.info_path_for(files), "topdir": can.topdir}
            dest: str | None = files
        else:  # pragma: no cover - macOS/Windows
            if op == "shrink":
                raise OperationFailed(
                    "--shrink-replace needs a freedesktop trash to keep the original",
                    "shrink without --shrink-replace (writes NAME.small.EXT)",
                )
            detail, dest = {"system_trash": True}, None
        if op == "shrink":
            detail["part"] = _side(item.source, tag, "part")
        return dest, detail
    if op in ("quarantine", "move", "copy"):
        assert item.dest
        dest = fsutil.unique_path(item.dest, ctx.reserved)
        ctx.reserved.add(dest)
        # folders made under this root are removed again on undo when they end up empty
        root = ctx.directory or quarantine_root(item.source)
        return dest, {"root": root}
    if op in LINKS:
        st = os.lstat(item.source)
        return item.keeper, {
            "tmp": _side(item.source, tag, "orig"),
            "mode": stat.S_IMODE(st.st_mode),
            "atime_ns": st.st_atime_ns,
            "mtime_ns": st.st_mtime_ns,
            "uid": st.st_uid,
            "gid": st.st_gid,
        }
    if op == "shrink":
        assert item.dest
        dest = fsutil.unique_path(item.dest, ctx.reserved)
        ctx.reserved.add(dest)
        return dest, {"part": fsutil.part_path(dest, tag)}
    if op == "delete":
        return None, {}
    raise OperationFailed(f"unknown operation {op}")


# -- perform ----------------------------------------------------------------------------------
def perform(item: PlanItem, dest: str | None, detail: dict, ctx: Ctx) -> dict:
    """Do it. Any exception leaves the source as it was; returns the detail to journal."""
    op, tag = item.op, _tag(ctx, item.seq)
    if op == "trash":
        if detail.get("system_trash"):  # pragma: no cover - macOS/Windows
            trash.send_to_system_trash(item.source)
            return detail
        assert dest
        _trash_move(item.source, dest, detail, item.hash, tag)
        _record_identity(dest, detail)
        return detail
    if op in ("quarantine", "move"):
        assert dest
        detail["cross_device"] = fsutil.move_file(item.source, dest, item.hash, tag)
        _record_identity(dest, detail)
        return detail
    if op == "copy":
        assert dest
        fsutil.copy_verified(item.source, dest, item.hash, tag)
        return detail
    if op in LINKS:
        return _link(item, detail)
    if op == "delete":
        os.unlink(item.source)
        fsutil.fsync_dir(os.path.dirname(item.source))
        return detail
    if op == "shrink":
        return _shrink(item, dest, detail, ctx)
    raise OperationFailed(f"unknown operation {op}")


def _record_identity(dest: str, detail: dict) -> None:
    """(dev, inode) of the moved file, so ``quarantine empty`` can tell it from a file that
    took its name later."""
    try:
        st = os.lstat(dest)
    except OSError:
        return
    detail["dest_id"] = [st.st_dev, st.st_ino]


def _trash_move(src: str, files: str, detail: dict, digest: str | None, tag: str) -> None:
    info = detail["info"]
    trash.write_info(info, src, detail.get("topdir"))
    try:
        fsutil.move_file(src, files, digest, tag)
    except BaseException:
        _unlink_quiet(info)
        raise


def _link(item: PlanItem, detail: dict) -> dict:
    """Temp-rename the duplicate, create the link in its place, then drop the temp; if the link
    cannot be made the duplicate is renamed back, so no failure loses data."""
    src, tmp = item.source, detail["tmp"]
    fsutil.rename_noclobber(src, tmp)
    try:
        if item.op == "hardlink":
            os.link(item.keeper, src)
        else:
            os.symlink(item.keeper, src)
    except BaseException:
        fsutil.rename_noclobber(tmp, src)
        raise
    detail["link_ino"] = os.lstat(src).st_ino
    os.unlink(tmp)
    fsutil.fsync_dir(os.path.dirname(src))
    return detail


def shrink_image(src: str, out: str, opts: ShrinkOptions) -> None:
    """Recompress (and optionally resize) ``src`` into the new file ``out`` (exclusive create)."""
    from PIL import Image

    fmt = SHRINK_FORMATS[os.path.splitext(src)[1].lower()]
    with Image.open(src) as im:
        im.load()
        info = dict(im.info)
        img = im
        if opts.max_size:
            w, h = opts.max_size
            if opts.keep_ratio:
                img = im.copy()
                img.thumbnail((w, h), Image.Resampling.LANCZOS)
            else:
                img = im.resize((w, h), Image.Resampling.LANCZOS)
        params: dict = {}
        if info.get("exif"):
            params["exif"] = info["exif"]
        if info.get("icc_profile"):
            params["icc_profile"] = info["icc_profile"]
        if fmt == "JPEG":
            if img.mode not in ("RGB", "L", "CMYK"):
                img = img.convert("RGB")
            params.update(quality=opts.quality, optimize=True)
        elif fmt == "WEBP":
            params.update(quality=opts.quality)
        elif fmt == "PNG":
            params.update(optimize=True)
        elif fmt == "TIFF":
            params.update(compression="tiff_lzw")
        with open(out, "xb") as fh:
            img.save(fh, format=fmt, **params)
            fh.flush()
            fsutil.fsync(fh.fileno())


def _shrink(item: PlanItem, dest: str | None, detail: dict, ctx: Ctx) -> dict:
    opts = ctx.shrink or ShrinkOptions()
    part = detail["part"]
    try:
        shrink_image(item.source, part, opts)
    except BaseException as exc:
        _unlink_quiet(part)
        if isinstance(exc, OSError | KeyboardInterrupt | SystemExit):
            raise
        raise OperationFailed(f"cannot shrink {item.source}: {exc}") from None
    detail["out_hash"] = fsutil.hash_file(part)
    detail["out_size"] = os.path.getsize(part)
    if not opts.replace:
        assert dest
        try:
            fsutil.rename_noclobber(part, dest)
        except BaseException:
            _unlink_quiet(part)
            raise
        fsutil.fsync_dir(os.path.dirname(dest))
        return detail
    # replace: original → trash (the backup undo restores), smaller file → original name
    assert dest
    try:
        _trash_move(item.source, dest, detail, item.hash, _tag(ctx, item.seq))
    except BaseException:
        _unlink_quiet(part)
        raise
    try:
        fsutil.rename_noclobber(part, item.source)
    except BaseException:
        fsutil.move_file(dest, item.source, item.hash, _tag(ctx, item.seq) + "-back")
        _unlink_quiet(detail["info"])
        _unlink_quiet(part)
        raise
    fsutil.fsync_dir(os.path.dirname(item.source))
    return detail


def _unlink_quiet(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def _hash_or_none(path: str) -> str | None:
    try:
        return fsutil.hash_file(path) if fsutil.is_regular(path) else None
    except OSError:
        return None


def _cleanup_parts(dest: str | None, tag: str) -> None:
    if dest:
        _unlink_quiet(fsutil.part_path(dest, tag))


# -- settle (crash recovery of a ``started`` item) ------------------------------------------
def settle(rec: ItemRecord, *, dry: bool = False) -> tuple[bool, str]:
    """Decide from the disk whether an interrupted operation happened: (done, what we saw).

    Half-done work is undone (temp copies removed, a renamed duplicate put back); with ``dry``
    nothing is changed and the message says what settling would do.
    """
    if rec.op == "metadata":  # --merge-metadata writes (import here: metawrite uses recovery)
        from lookalike.engine.actions import metawrite

        return metawrite.settle(rec, dry=dry)
    return _settle_file(rec, dry=dry)


def _settle_file(rec: ItemRecord, *, dry: bool) -> tuple[bool, str]:
    op, src, dest, d = rec.op, rec.source, rec.dest, rec.detail
    tag = _tag(rec.batch, rec.seq)
    has_src, has_dest = os.path.lexists(src), bool(dest) and os.path.lexists(dest or "")
    if op in MOVES or op == "copy":
        if op == "trash" and d.get("system_trash"):  # pragma: no cover
            return (not has_src, "in the system trash" if not has_src else "still in place")
        if not dry:
            _cleanup_parts(dest, tag)
        if op == "copy":
            return (has_dest, f"copied to {dest}" if has_dest else "not copied")
        if has_dest and not has_src:
            return True, f"moved to {dest}"
        if has_src and not has_dest:
            if not dry and op == "trash" and d.get("info"):
                _unlink_quiet(d["info"])
            return False, "still at its place (not moved)"
        if has_src and has_dest:
            # a cross-filesystem copy finished but the original was not removed yet: keep the
            # original, drop the verified copy
            assert dest
            if not dry and _hash_or_none(dest) == rec.hash:
                _unlink_quiet(dest)
                if op == "trash":
                    _unlink_quiet(d.get("info"))
            return False, "still at its place (the unfinished copy was removed)"
        return False, "MISSING from both its place and its destination"
    if op in LINKS:
        tmp = d.get("tmp", "")
        has_tmp = os.path.lexists(tmp)
        if _is_our_link(rec):
            if has_tmp and not dry:
                _unlink_quiet(tmp)
            return True, f"replaced by a {op} to {rec.keeper}"
        if has_tmp and not has_src:
            if not dry:
                fsutil.rename_noclobber(tmp, src)
            return False, "still at its place (put back from its temp name)"
        if has_src:
            return False, "still at its place (not linked)"
        return False, f"MISSING; look for {tmp}"
    if op == "delete":
        return (not has_src, "deleted" if not has_src else "still at its place (not deleted)")
    if op == "shrink":
        part = d.get("part")
        if "info" not in d:  # suffix mode
            if not dry:
                _unlink_quiet(part)
            if has_dest and not dry and "out_hash" not in d:
                d["out_hash"] = _hash_or_none(dest or "")  # settle_batch journals the detail
            return (has_dest, f"smaller copy written to {dest}" if has_dest else "not shrunk")
        # replace mode: dest is the backup of the original
        if has_dest and has_src:
            if not dry:
                _unlink_quiet(part)
                if "out_hash" not in d:  # the file now at src is the one we wrote
                    d["out_hash"] = _hash_or_none(src)
            return True, f"replaced by a smaller file; original in {dest}"
        if has_dest and not has_src:
            if not dry:
                assert dest
                fsutil.move_file(dest, src, rec.hash, tag + "-back")
                _unlink_quiet(d.get("info"))
                _unlink_quiet(part)
            return False, "still at its place (the original was put back)"
        if not dry:
            _unlink_quiet(part)
            _unlink_quiet(d.get("info"))
        return (
            (False, "still at its place (not shrunk)")
            if has_src
            else (False, "MISSING from both its place and the trash")
        )
    return False, f"unknown operation {op}"


def _is_our_link(rec: ItemRecord) -> bool:
    try:
        st = os.lstat(rec.source)
    except OSError:
        return False
    if rec.op == "symlink":
        return stat.S_ISLNK(st.st_mode) and os.readlink(rec.source) == rec.keeper
    ino = rec.detail.get("link_ino")
    if ino is not None:
        return st.st_ino == ino
    try:
        return stat.S_ISREG(st.st_mode) and os.path.samefile(rec.source, rec.keeper or "")
    except OSError:
        return False
