"""The scan, stage by stage: discover → catalog diff → exact → extract → group → rank.

``run_scan`` is a generator of events (see events.py); the Engine facade runs it in a thread.
Only new or changed files are read; exact copies are decoded once (one representative);
features are committed in batches, so an interrupted scan resumes with what it had.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import xxhash

from lookalike.engine.catalog import Catalog, FileRow
from lookalike.engine.events import (
    Event,
    GroupFound,
    ItemError,
    Notice,
    ScanFinished,
    ScanStarted,
    StageDone,
    StageProgress,
)
from lookalike.engine.features import exact
from lookalike.engine.features.extract import (
    PERCEPTUAL_VERSION,
    extract_file,
    meta_of,
    pack_views,
    unpack_views,
)
from lookalike.engine.grouping import Item, group_items, pixel_recheck
from lookalike.engine.media.decode import DecodeError, set_decode_budget
from lookalike.engine.media.discover import (
    IMAGE_EXTENSIONS,
    Filters,
    Found,
    walk,
    walk_would_list,
)
from lookalike.engine.media.sniff import IMAGE, OTHER, VIDEO, sniff
from lookalike.engine.options import ScanOptions
from lookalike.engine.pool import DecodePool
from lookalike.engine.records import FileError, Group, Member, ScanStats
from lookalike.engine.rules.evidence import with_evidence, with_flags
from lookalike.engine.rules.keep import choose_keeper, under, with_others

META = "meta"
PERCEPT = "percept"
COMMIT_EVERY = 0.5  # seconds between catalog commits while reading files
FLUSH_OPS = 5000  # queued catalog writes that force a commit sooner
PROGRESS_EVERY = 0.2


class _Progress:
    """Rate-limited StageProgress events with rate and ETA."""

    def __init__(self, stage: str, total: int | None) -> None:
        self.stage = stage
        self.total = total
        self.start = time.monotonic()
        self.last = 0.0

    def tick(self, done: int, force: bool = False) -> StageProgress | None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return None
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = done / elapsed if done else None
        eta = None
        if rate and self.total is not None:
            eta = max(self.total - done, 0) / rate
        return StageProgress(self.stage, done, self.total, rate, eta)

    def done(self, count: int) -> StageDone:
        return StageDone(self.stage, time.monotonic() - self.start, count)


class _Writes:
    """Catalog writes gathered while files are read, applied in one short transaction.

    The catalog never holds SQLite's write lock across file I/O, a decode or a ``yield``
    (a slow consumer would otherwise keep it for as long as it likes): the app's review
    saves and another process's reads go through between two flushes.
    """

    def __init__(self, cat: Catalog) -> None:
        self.cat = cat
        self.ops: list[tuple[Callable[..., object], tuple]] = []
        self.last = time.monotonic()

    def add(self, fn: Callable[..., object], *args: object) -> None:
        self.ops.append((fn, args))

    def maybe_flush(self) -> None:
        if len(self.ops) >= FLUSH_OPS or time.monotonic() - self.last > COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.ops:
            return
        with self.cat.transaction():
            for fn, args in self.ops:
                fn(*args)
        self.ops.clear()


def _extract_task(
    task: tuple[int, str, str | None, int],
) -> tuple[int, dict | None, bytes | None, str | None]:
    """Runs in a decode worker: one decode, every perceptual feature, the thumbnail."""
    file_id, path, thumb, max_pixels, budget, *ml_job = task  # ml: optional Feeder.job
    set_decode_budget(budget)
    try:
        if ml_job:  # ml: the same decode also feeds the embedder, colour, faces, quality
            from lookalike.engine.ml_stage import extract_with_ml

            f, extra = extract_with_ml(path, thumb, max_pixels, ml_job[0])
            return file_id, meta_of(f), pack_views(f.views), None, extra
        f = extract_file(path, thumb, max_pixels)
        return file_id, meta_of(f), pack_views(f.views), None
    except DecodeError as exc:
        return file_id, None, None, str(exc)
    except MemoryError:
        return file_id, None, None, "out of memory while decoding; skipped"
    except Exception as exc:  # never let one file stop the scan
        return file_id, None, None, f"unexpected error ({type(exc).__name__}: {exc})"


def _thumb_path(thumb_dir: Path, row: FileRow) -> str:
    key = xxhash.xxh64(f"{row.dev}:{row.inode}:{row.size}:{row.mtime_ns}".encode()).hexdigest()
    return str(thumb_dir / key[:2] / f"{key}.webp")


def _sniff_file(path: str) -> tuple[str, str | None]:
    with open(path, "rb") as fh:
        return sniff(fh.read(32))


def _is_gone(path: str) -> bool:
    """True only when the file is really not there (an unreadable folder is not "gone")."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _remembered_rechecks(
    cat: Catalog, items: Sequence[Item], reps: Sequence[FileRow]
) -> tuple[Callable[[int, int], bool], Callable[[], None]]:
    """The grouper's pixel re-check, remembered in the catalog's pair checks by both files'
    size+mtime and the verifier version (a rescan of unchanged files decodes nothing); the
    second callable stores the new verdicts in one short transaction after grouping."""
    from lookalike.engine.features.verify import VERIFY_VERSION

    stamps = {r.id: f"{r.size}:{r.mtime_ns}" for r in reps}

    def stamp(a: int, b: int) -> str:
        return f"px{VERIFY_VERSION}:{stamps.get(a)}:{stamps.get(b)}"

    def remembered(a: int, b: int) -> bool | None:
        hit = cat.pair_checks([(a, b)]).get((a, b))
        return hit[1] if hit is not None and hit[0] == stamp(a, b) else None

    fresh: dict[tuple[int, int], bool] = {}

    def keep() -> None:
        if fresh:
            with cat.transaction():
                cat.put_pair_checks((a, b, stamp(a, b), v, 0.0) for (a, b), v in fresh.items())

    return pixel_recheck(items, remembered, fresh), keep


def _forbidden_between_reps(
    pairs: set[tuple[int, int]], rep_of: dict[int, int]
) -> set[tuple[int, int]]:
    """Not-a-duplicate pairs as pairs of the files that stand for their exact clusters.

    Grouping sees one representative per set of byte-identical files, and which file that is
    changes when a copy is added; a mark on any copy must still keep the two photos apart.
    """
    out = set(pairs)
    for a, b in pairs:
        ra, rb = rep_of.get(a, a), rep_of.get(b, b)
        if ra != rb:
            out.add((min(ra, rb), max(ra, rb)))
    return out


def _kept_apart(cluster: list[FileRow], marked: set[tuple[int, int]]) -> list[list[FileRow]]:
    """Byte-identical files the reviewer marked "not a duplicate" are not grouped either (say
    the same photo kept on purpose in two projects): split the cluster so no marked pair shares
    a part; a file left alone stands for itself."""
    if not marked:
        return [cluster]
    parts: list[list[FileRow]] = []
    for r in cluster:
        for part in parts:
            if not any((min(r.id, o.id), max(r.id, o.id)) in marked for o in part):
                part.append(r)
                break
        else:
            parts.append([r])
    return [p for p in parts if len(p) > 1]


def _without_rule_hidden(cat: Catalog, media: list[FileRow]) -> tuple[list[FileRow], int]:
    """Media minus the files a content rule hid (by identity: dev, inode, size, mtime)."""
    from lookalike.engine import hidden

    gone = hidden.identities(cat.db)
    if not gone:
        return media, 0
    kept = [r for r in media if (r.dev, r.inode, r.size, r.mtime_ns) not in gone]
    return kept, len(media) - len(kept)


def run_scan(
    options: ScanOptions, catalog_path: Path, thumb_dir: Path, cancel: threading.Event
) -> Iterator[Event]:
    t_start = time.monotonic()
    stats = ScanStats()
    errors: list[FileError] = []
    err_paths: set[str] = set()
    pending_errors: list[FileError] = []

    def on_error(e: FileError) -> None:
        if e.path in err_paths:
            return
        err_paths.add(e.path)
        errors.append(e)
        pending_errors.append(e)

    def flush_errors() -> Iterator[Event]:
        while pending_errors:
            yield ItemError(pending_errors.pop(0))

    roots = [os.path.abspath(r) for r in options.roots]
    listed = [os.path.abspath(p) for p in options.files_from]
    cat = Catalog(catalog_path)
    pool = DecodePool(options.workers, "lookalike.engine.features.extract")
    try:
        scan_id = cat.start_scan(roots + listed)
        yield ScanStarted(tuple(roots + listed), str(catalog_path), options.workers)

        # 1. discover ------------------------------------------------------------------
        prog = _Progress("discover", None)
        filters = Filters(
            options.include,
            options.exclude,
            options.min_size,
            options.hidden,
            options.follow_symlinks,
            options.one_file_system,
        )
        found: list[Found] = []
        by_inode: dict[tuple[int, int], str] = {}
        hardlinks = 0
        for f in walk(roots + listed, filters, on_error, cancel.is_set):
            key = (f.dev, f.inode)
            if key in by_inode:
                hardlinks += 1  # a second name of one file: never "a duplicate to delete"
                continue
            by_inode[key] = f.path
            found.append(f)
            if (ev := prog.tick(len(found))) is not None:
                yield ev
            yield from flush_errors()
        yield from flush_errors()
        stats.files_seen = len(found)
        yield prog.done(len(found))
        stats.seconds_by_stage["discover"] = time.monotonic() - prog.start
        if hardlinks:
            yield Notice(f"{hardlinks} hard link(s) to files already seen were counted once")

        # 2. catalog diff --------------------------------------------------------------
        prog = _Progress("catalog", len(found))
        rows: dict[int, FileRow] = {}
        cat.begin()
        last_commit = time.monotonic()
        for n, f in enumerate(found):
            if cancel.is_set():
                break
            if time.monotonic() - last_commit > COMMIT_EVERY:
                cat.commit()  # short transactions: other writers (the app's saves) get a turn
                cat.begin()
                last_commit = time.monotonic()
            row = cat.file_by_path(f.path)
            if row is not None and (row.dev, row.inode, row.size, row.mtime_ns) == (
                f.dev,
                f.inode,
                f.size,
                f.mtime_ns,
            ):
                stats.files_unchanged += 1
                fid = row.id
            elif row is not None:
                cat.reset_file(row.id, f.dev, f.inode, f.size, f.mtime_ns, scan_id)
                stats.files_changed += 1
                fid = row.id
            else:
                moved = [
                    r
                    for r in cat.files_by_stat(f.dev, f.inode, f.size, f.mtime_ns)
                    if not os.path.lexists(r.path)
                ]
                if moved:
                    fid = moved[0].id
                    cat.move_file(fid, f.path, scan_id)
                    stats.files_moved += 1
                else:
                    fid = cat.add_file(f.path, f.dev, f.inode, f.size, f.mtime_ns, scan_id)
                    stats.files_new += 1
            rows[fid] = FileRow(
                fid, f.path, f.dev, f.inode, f.size, f.mtime_ns, None, None, None, None
            )
            if (ev := prog.tick(n + 1)) is not None:
                cat.commit()  # never hold the write lock across a yield
                yield ev
                cat.begin()
                last_commit = time.monotonic()
        cat.begin()  # no-op if a transaction is open
        cat.touch_files(rows, scan_id)
        cat.commit()
        if not cancel.is_set():
            # Only files this walk would have listed and that are gone now are forgotten: a
            # filtered or partial scan never evicts the rest (nor its decisions).
            scanned = [r for r in roots if os.path.isdir(r)]
            gone = [
                fid
                for fid, path, size in cat.unseen_under(scanned, scan_id)
                if walk_would_list(path, size, scanned, filters) and _is_gone(path)
            ]
            cat.begin()
            stats.files_removed = cat.remove_files(gone)
            cat.commit()
        if stats.files_new + stats.files_changed and (options.same or options.thumbnails):
            pool.start()  # workers import while we sniff and hash; the decode starts warm
        full = cat.files_by_ids(rows)
        rows = {fid: full[fid] for fid in rows if fid in full}
        # kind sniffing for files that have none yet (reads: writes queued, committed in batches)
        writes = _Writes(cat)
        for row in rows.values():
            if row.kind is None and not cancel.is_set():
                try:
                    kind, _fmt = _sniff_file(row.path)
                except FileNotFoundError:
                    on_error(FileError(row.path, "vanished before it could be read"))
                    kind = "gone"
                except OSError as exc:
                    on_error(FileError(row.path, f"cannot be read ({exc.strerror or exc})"))
                    kind = "unreadable"
                row.kind = kind
                writes.add(cat.set_kind, row.id, kind, None)
                writes.maybe_flush()
        writes.flush()
        yield from flush_errors()
        yield prog.done(len(rows))
        stats.seconds_by_stage["catalog"] = time.monotonic() - prog.start

        def has_image_ext(r: FileRow) -> bool:
            return os.path.splitext(r.path)[1].lower() in IMAGE_EXTENSIONS

        media = [
            r
            for r in rows.values()
            if r.kind in (IMAGE, VIDEO) or (r.kind == OTHER and has_image_ext(r))
        ]
        if not options.show_rule_hidden:  # content rules' `hide`: out of every group
            media, n_hidden = _without_rule_hidden(cat, media)
            if n_hidden:
                yield Notice(
                    f"{n_hidden} file(s) hidden by content rules are left out "
                    "(--show-hidden shows them; lookalike rules unhide brings them back)",
                    level="warning",  # results left out on purpose: scripts should see it
                )
        for r in rows.values():
            if r.kind == OTHER and has_image_ext(r):
                on_error(
                    FileError(
                        r.path,
                        "empty file (0 bytes)"
                        if r.size == 0
                        else "not an image (content is not a known image format)",
                    )
                )
        videos = sum(1 for r in media if r.kind == VIDEO)
        if videos and not (options.video and options.same):
            yield Notice(f"{videos} video file(s) are checked for exact copies only")
        yield from flush_errors()

        # 3. exact ---------------------------------------------------------------------
        marked = cat.not_duplicate_pairs()  # the reviewer's "not a duplicate" marks
        by_size: dict[int, list[FileRow]] = defaultdict(list)
        for r in media:
            if r.size > 0:
                by_size[r.size].append(r)
        colliding = [g for g in by_size.values() if len(g) > 1]
        todo = sum(len(g) for g in colliding)
        prog = _Progress("exact", todo)
        done = 0
        exact_clusters: list[list[FileRow]] = []
        for g in colliding:
            if cancel.is_set():
                break
            by_ht: dict[bytes, list[FileRow]] = defaultdict(list)
            for r in g:
                if r.headtail is None:
                    try:
                        r.headtail = exact.headtail_hash(r.path, r.size)
                        writes.add(cat.set_hashes, r.id, r.headtail, None)
                    except OSError as exc:
                        on_error(FileError(r.path, f"cannot be read ({exc.strerror or exc})"))
                        continue
                by_ht[r.headtail].append(r)
            for hg in by_ht.values():
                if len(hg) < 2:
                    continue
                by_full: dict[bytes, list[FileRow]] = defaultdict(list)
                for r in hg:
                    if r.fullhash is None:
                        try:
                            r.fullhash = exact.full_hash(r.path)
                            stats.bytes_hashed += r.size
                            writes.add(cat.set_hashes, r.id, None, r.fullhash)
                        except OSError as exc:
                            on_error(FileError(r.path, f"cannot be read ({exc.strerror or exc})"))
                            continue
                    by_full[r.fullhash].append(r)
                for c in by_full.values():
                    if len(c) > 1:
                        exact_clusters.extend(_kept_apart(sorted(c, key=lambda r: r.path), marked))
            done += len(g)
            writes.maybe_flush()
            if (ev := prog.tick(done)) is not None:
                yield ev
        writes.flush()
        yield from flush_errors()
        yield prog.done(done)
        stats.seconds_by_stage["exact"] = time.monotonic() - prog.start

        # representatives: one file per exact cluster
        rep_of: dict[int, int] = {}
        cluster_of: dict[int, list[FileRow]] = {}
        for c in exact_clusters:
            for r in c:
                rep_of[r.id] = c[0].id
            cluster_of[c[0].id] = c
        images = [r for r in media if r.kind == IMAGE]
        reps = [r for r in images if rep_of.get(r.id, r.id) == r.id]
        video_reps = [  # videos (video_stage.py): one representative per exact cluster
            r
            for r in media
            if r.kind == VIDEO and rep_of.get(r.id, r.id) == r.id and options.video and options.same
        ]

        # 4. extract -------------------------------------------------------------------
        have = cat.feature_versions(PERCEPT)
        errs_before = {r.id for r in reps if r.error}
        need = [r for r in reps if have.get(r.id) != PERCEPTUAL_VERSION and r.id not in errs_before]
        for r in reps:
            if r.id in errs_before:
                on_error(FileError(r.path, r.error or "unreadable"))
        # >>> ml: one Feeder owns the embedder; extract tasks carry its job (one decode)
        ml_opts = options.ml
        if ml_opts is None and "quality" in options.keep_rules:
            from lookalike.engine.ml_stage import MLOptions

            ml_opts = MLOptions()
        feeder = None
        if ml_opts is not None:
            from lookalike.engine import ml_stage

            feeder = ml_stage.Feeder(ml_opts, cat)
        # <<< ml
        prog = _Progress("extract", len(need))
        tasks = [
            (
                r.id,
                r.path,
                _thumb_path(thumb_dir, r) if options.thumbnails else None,
                options.max_pixels,
                options.max_decode_mb * 2**20,
            )
            for r in sorted(need, key=lambda r: r.path)
        ]
        if feeder is not None:  # ml
            tasks = [(*t, feeder.job) for t in tasks]
        done = 0
        if options.same or options.thumbnails:
            for fid, meta, views, err, *ml_extra in pool.map(_extract_task, tasks, cancel.is_set):
                done += 1
                if err is not None:
                    writes.add(cat.set_kind, fid, IMAGE, err)
                    on_error(FileError(rows[fid].path, err))
                else:
                    meta_json = json.dumps(meta).encode()
                    writes.add(cat.put_feature, fid, META, PERCEPTUAL_VERSION, meta_json)
                    writes.add(cat.put_feature, fid, PERCEPT, PERCEPTUAL_VERSION, views)
                    stats.images_decoded += 1
                    if feeder is not None and ml_extra:  # ml: embeds in batches as they come
                        feeder.add(fid, ml_extra[0])
                writes.maybe_flush()
                if (ev := prog.tick(done)) is not None:
                    yield ev
                yield from flush_errors()
        writes.flush()
        if feeder is not None:  # ml: last partial batch
            feeder.flush()
        if video_reps and not cancel.is_set():  # videos: sampled in the same worker pool
            from lookalike.engine import video_stage

            t_video = time.monotonic()
            yield from video_stage.extract(
                options,
                cat,
                video_reps,
                lambda r: _thumb_path(thumb_dir, r) if options.thumbnails else None,
                pool,
                cancel,
                on_error,
            )
            stats.seconds_by_stage["video"] = time.monotonic() - t_video
        pool.close()
        yield from flush_errors()
        yield prog.done(done)
        stats.seconds_by_stage["extract"] = time.monotonic() - prog.start

        # >>> ml (issue 3, engine/ml_stage.py): embeddings, colour, faces, quality ----------
        ml_state = None
        if ml_opts is not None and not cancel.is_set():
            from lookalike.engine import ml_stage

            t_ml = time.monotonic()
            ok_reps = [r for r in reps if r.id not in errs_before]
            for ev in ml_stage.features(
                ml_opts,
                cat,
                ok_reps,
                options.workers,
                options.max_pixels,
                cancel,
                catalog_path,
                feeder,
            ):
                if isinstance(ev, ml_stage.MLState):
                    ml_state = ev
                else:
                    yield ev
            stats.seconds_by_stage["embed"] = time.monotonic() - t_ml
        # <<< ml

        if cancel.is_set():
            stats.errors = len(errors)
            stats.seconds = time.monotonic() - t_start
            yield ScanFinished(stats, (), tuple(errors), cancelled=True)
            return

        # 5. group ---------------------------------------------------------------------
        prog = _Progress("group", None)
        rep_ids = [r.id for r in reps]
        metas = {
            k: json.loads(v)
            for k, v in cat.load_features(META, PERCEPTUAL_VERSION, rep_ids).items()
        }
        percepts = cat.load_features(PERCEPT, PERCEPTUAL_VERSION, rep_ids) if options.same else {}
        items = [
            Item(r.id, r.path, unpack_views(percepts[r.id]))
            for r in sorted(reps, key=lambda r: r.path)
            if r.id in percepts and not metas.get(r.id, {}).get("uniform", True)
        ]
        forbidden = _forbidden_between_reps(marked, rep_of)

        def on_group_progress(done: int, total: int) -> None:
            prog.total = total

        recheck, keep_rechecks = _remembered_rechecks(cat, items, reps)
        clustering = group_items(
            items, options.sensitivity, forbidden, on_group_progress, recheck=recheck
        )
        keep_rechecks()
        yield prog.done(len(clustering.groups))
        stats.seconds_by_stage["group"] = time.monotonic() - prog.start

        # 6. rank & build groups -------------------------------------------------------
        prog = _Progress("rank", None)
        item_index = {it.key: n for n, it in enumerate(items)}
        in_same: set[int] = set()
        raw_groups: list[tuple[str, list[int]]] = []  # (tier, rep ids)
        for g in clustering.groups:
            ids = [items[n].key for n in g]
            in_same.update(ids)
            raw_groups.append(("same", ids))
        video_ids = {r.id for r in video_reps}  # videos build their own groups (below)
        for rep_id in cluster_of:
            if rep_id not in in_same and rep_id not in video_ids:
                raw_groups.append(("exact", [rep_id]))
        # >>> ml: verified embedding neighbours join "same"; the "similar" tier ------------
        if ml_state is not None:
            from lookalike.engine import ml_stage

            t_ml = time.monotonic()
            yield from ml_stage.edges(
                ml_state,
                {r.id: r.path for r in reps},
                [ids for t, ids in raw_groups if t == "same"],
                forbidden,
                options.workers,
                cancel,
                cat,
                {r.id: f"{r.size}:{r.mtime_ns}" for r in reps},
            )
            raw_groups = ml_stage.merge(ml_state, raw_groups, [r.id for r in reps])
            stats.seconds_by_stage["verify"] = time.monotonic() - t_ml
        # <<< ml

        def member_of(r: FileRow, rep_id: int) -> Member:
            m = metas.get(rep_id, {})
            return Member(
                path=r.path,
                size=r.size,
                width=m.get("width", 0),
                height=m.get("height", 0),
                format=m.get("format") or (r.kind or "?").upper(),
                score=1.0,
                mtime_ns=r.mtime_ns,
                capture_time=m.get("capture_time"),
                camera=m.get("camera"),
                thumb=m.get("thumb"),
                content_hash=r.fullhash.hex() if r.fullhash else None,
                file_id=r.id,
            )

        view_cache: dict[int, list | None] = {}

        def views_of(rep_id: int) -> list | None:
            if rep_id not in view_cache:
                packed = percepts.get(rep_id)
                view_cache[rep_id] = unpack_views(packed) if packed else None
            return view_cache[rep_id]

        groups: list[Group] = []
        built = []
        for tier, rep_ids_g in raw_groups:
            files: list[tuple[Member, int]] = []
            for rid in rep_ids_g:
                for r in cluster_of.get(rid, [rows[rid]]):
                    files.append((member_of(r, rid), rid))
            files.sort(key=lambda x: x[0].path)
            extra = {
                f"exif:{m.path}": float(metas.get(rid, {}).get("exif_fields", 0))
                for m, rid in files
            }
            if ml_state is not None:  # ml: quality score for the "quality" keep rule
                extra.update(
                    {
                        f"quality:{m.path}": float(ml_state.quality.get(rid, {}).get("score", 0.0))
                        for m, rid in files
                    }
                )
            members = with_evidence(files, metas, views_of, copies=tier != "similar")
            keeper, reason = choose_keeper(
                members, options.keep_rules, options.reference, extra, options.keep_overrides
            )
            keep_rep = next(rid for m, rid in files if m.path == keeper.path)
            members = with_flags(members, keeper, copies=tier != "similar")
            reason = with_others(reason, keeper.path, members)
            files = list(zip(members, (rid for _, rid in files), strict=True))
            scored = []
            for m, rid in files:
                if rid == keep_rep:
                    score = 1.0
                else:
                    a, b = item_index.get(rid), item_index.get(keep_rep)
                    score = clustering.sim(a, b) if a is not None and b is not None else 0.0
                    if ml_state is not None and tier == "similar":  # ml: cosine to keeper
                        score = ml_stage.scores_for(ml_state, keep_rep, [rid]).get(rid, score)
                scored.append(Member(**{**m.__dict__, "score": round(score, 4)}))
            built.append((tier, keeper.path, reason, scored))
        if video_reps:  # videos: aligned pairs → same / clip groups (video_stage.py)
            from lookalike.engine import video_stage

            t_video = time.monotonic()
            v_state = video_stage.load(cat, video_reps)
            v_matches = video_stage.match(options, v_state, forbidden)
            v_built, v_notes = video_stage.build_groups(
                options, v_state, v_matches, rows, cluster_of, video_reps
            )
            built.extend(v_built)
            yield from v_notes
            stats.seconds_by_stage["video"] = stats.seconds_by_stage.get("video", 0.0) + (
                time.monotonic() - t_video
            )
        built.sort(key=lambda g: g[3][0].path)
        for n, (tier, keep, reason, scored) in enumerate(built, start=1):
            group = Group(n, tier, keep, reason, tuple(scored))
            groups.append(group)
            stats.groups_by_tier[tier] = stats.groups_by_tier.get(tier, 0) + 1
            stats.duplicate_files += len(scored) - 1
            stats.bytes_to_free += group.bytes_to_free
            yield GroupFound(group)
        stats.groups = len(groups)
        yield prog.done(len(groups))
        stats.seconds_by_stage["rank"] = time.monotonic() - prog.start
        stats.errors = len(errors)
        stats.seconds = time.monotonic() - t_start
        cat.finish_scan(scan_id, stats.to_json(), groups, seen=rows)
        yield ScanFinished(stats, tuple(groups), tuple(errors))
    finally:
        pool.close()
        cat.close()


def protected_paths(group: Group, reference: list[Path]) -> set[str]:
    """Members that must never be acted on: the keeper and anything under a reference folder."""
    return {group.keep} | {m.path for m in group.members if under(m.path, reference)}
