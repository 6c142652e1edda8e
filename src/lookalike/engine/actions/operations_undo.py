"""Undo of one journalled file operation: bring the file back byte for byte from where the
operation put it (trash, quarantine, a move's destination, a link's saved original, a shrink's
trashed original), to its own path or a free ``name~N`` beside it."""

from __future__ import annotations

import os

from lookalike.engine.actions import fsutil, trash
from lookalike.engine.actions import operations as ops  # the helpers apply and undo share
from lookalike.engine.actions.errors import OperationFailed
from lookalike.engine.actions.journal import ItemRecord
from lookalike.engine.actions.plan import LINKS


def undo_prepare(rec: ItemRecord, reserved: set[str] | None = None) -> dict:
    """Where the file will be restored (its own path, or ``name~N`` if that is taken now)."""
    d = dict(rec.detail)
    if "restore_to" in d:
        return d
    if rec.op in ops.MOVES or (rec.op == "shrink" and "info" in d):
        d["restore_to"] = rec.source
        taken = os.path.lexists(rec.source) and rec.op != "shrink"
        if taken and not _already_restored(rec, rec.source):
            d["restore_to"] = fsutil.unique_path(rec.source, reserved)
            if reserved is not None:
                reserved.add(d["restore_to"])
    return d


def _already_restored(rec: ItemRecord, where: str) -> bool:
    return (
        bool(rec.dest)
        and not os.path.lexists(rec.dest or "")
        and ops._hash_or_none(where) == rec.hash
    )


def undo(rec: ItemRecord) -> str:
    """Put the original back; idempotent. Returns a short message (e.g. restored under a new
    name). Raises :class:`OperationFailed` with advice when it cannot."""
    op, src, dest, d = rec.op, rec.source, rec.dest, rec.detail
    if op == "metadata":
        from lookalike.engine.actions import metawrite

        return metawrite.undo(rec)
    tag = ops._tag(rec.batch, rec.seq) + "-undo"
    if op == "delete":
        raise OperationFailed(f"{src} was deleted permanently; it cannot be restored")
    if op in ops.MOVES:
        target = d.get("restore_to", src)
        if (not dest or not os.path.lexists(dest)) and ops._hash_or_none(target) == rec.hash:
            if op == "trash":  # a crash after the move back, before the .trashinfo went
                trash.remove_orphan_info(d.get("info"))
            return ""  # already back
        if d.get("system_trash"):  # pragma: no cover
            raise OperationFailed(
                f"{src} went to the system trash",
                "restore it from the trash with your file manager",
            )
        where = dest
        if not where or not os.path.lexists(where):
            found = trash.find_in_trash(src) if op == "trash" else []
            if not found:
                ops._cleanup_parts(target, tag)
                raise OperationFailed(
                    f"{src} is no longer at {dest}",
                    "it may have been emptied from the trash or moved",
                )
            where, d["info"] = _best_match(found, rec.hash)
        if os.path.lexists(target):  # a crashed cross-device restore: original copy complete
            if ops._hash_or_none(target) == ops._hash_or_none(where):
                ops._unlink_quiet(where)
                _finish_move_undo(rec, where, d)
                return ""
            target = fsutil.unique_path(target)
        ops._cleanup_parts(target, tag)
        fsutil.move_file(where, target, None, tag)
        _finish_move_undo(rec, where, d)
        return f"restored as {target} (its name was taken)" if target != src else ""
    if op == "copy":
        if not dest or not os.path.lexists(dest):
            return ""
        if ops._hash_or_none(dest) != rec.hash:
            raise OperationFailed(
                f"the copy {dest} changed since; left in place",
                "delete it yourself if you do not need it",
            )
        os.unlink(dest)
        fsutil.fsync_dir(os.path.dirname(dest))
        fsutil.remove_empty_dirs(os.path.dirname(dest), d.get("root", "/"))
        return ""
    if op in LINKS:
        return _undo_link(rec, tag)
    if op == "shrink":
        return _undo_shrink(rec, tag)
    raise OperationFailed(f"unknown operation {op}")


def _best_match(found: list[tuple[str, str]], digest: str | None) -> tuple[str, str]:
    """Of several trash items with the same original path, the one with our bytes."""
    for files, info in found:
        if ops._hash_or_none(files) == digest:
            return files, info
    return found[0]


def _finish_move_undo(rec: ItemRecord, where: str, d: dict) -> None:
    if rec.op == "trash":
        ops._unlink_quiet(d.get("info"))
    else:
        fsutil.remove_empty_dirs(os.path.dirname(where), d.get("root", "/"))


def _undo_link(rec: ItemRecord, tag: str) -> str:
    src, d = rec.source, rec.detail
    restore_tmp = ops._side(src, tag, "restore")
    if os.path.lexists(restore_tmp):  # crashed after the verified copy was made
        if ops._hash_or_none(restore_tmp) == rec.hash:
            os.replace(restore_tmp, src)
            fsutil.fsync_dir(os.path.dirname(src))
            return ""
        ops._unlink_quiet(restore_tmp)
    tmp = d.get("tmp")
    if tmp and os.path.lexists(tmp) and not os.path.lexists(src):
        fsutil.rename_noclobber(tmp, src)  # the link was never made
        return ""
    if not ops._is_our_link(rec):
        if fsutil.is_regular(src) and ops._hash_or_none(src) == rec.hash:
            return ""  # already restored
        raise OperationFailed(f"{src} is no longer the link lookalike made; left alone")
    data = src if rec.op == "hardlink" else (rec.keeper or "")
    if ops._hash_or_none(data) != rec.hash:
        raise OperationFailed(
            f"cannot restore {src}: its keeper {rec.keeper} is gone or changed",
            "undo later batches first (lookalike history)",
        )
    ops._cleanup_parts(restore_tmp, tag)
    fsutil.copy_verified(data, restore_tmp, rec.hash, tag)
    if "uid" in d:
        try:
            os.chown(restore_tmp, d["uid"], d["gid"])
        except OSError:
            pass
    if "mode" in d:
        os.chmod(restore_tmp, d["mode"])
    if "mtime_ns" in d:
        os.utime(restore_tmp, ns=(d.get("atime_ns", d["mtime_ns"]), d["mtime_ns"]))
    os.replace(restore_tmp, src)
    fsutil.fsync_dir(os.path.dirname(src))
    return ""


def _undo_shrink(rec: ItemRecord, tag: str) -> str:
    src, dest, d = rec.source, rec.dest, rec.detail
    if "info" not in d:  # suffix mode: remove the smaller copy if it is still ours
        if not dest or not os.path.lexists(dest):
            return ""
        if d.get("out_hash") and ops._hash_or_none(dest) != d["out_hash"]:
            raise OperationFailed(f"the smaller copy {dest} changed since; left in place")
        os.unlink(dest)
        return ""
    backup = dest
    if not backup or not os.path.lexists(backup):
        found = trash.find_in_trash(src)
        if not found:
            if ops._hash_or_none(src) == rec.hash:
                trash.remove_orphan_info(d.get("info"))
                return ""  # already restored
            raise OperationFailed(f"the original of {src} is no longer in the trash at {dest}")
        backup, d["info"] = _best_match(found, rec.hash)
    target = d.get("restore_to", src)
    if os.path.lexists(target):
        if d.get("out_hash") and ops._hash_or_none(target) == d["out_hash"]:
            os.unlink(target)  # the smaller file we wrote; the original replaces it
        else:
            target = fsutil.unique_path(target)
    ops._cleanup_parts(target, tag)
    fsutil.move_file(backup, target, rec.hash, tag)
    ops._unlink_quiet(d.get("info"))
    return f"restored as {target} (the smaller file changed since)" if target != src else ""
