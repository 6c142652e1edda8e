"""How search + grouping scale: synthetic signature sets of 10k, 100k and 1 M images.

Why synthetic: decoding 100k photos would measure the decoder, not the index. Here every entry
is a tiny random "scene" (a smooth 16×16 field, upsampled), turned into lookalike's own
signatures with ``lookalike.engine.features.perceptual`` (DCT signature + Haar signature), so the
hashes have the structure real ones have. A share of the entries are planted copies of another
entry (noise, exposure change, and a quarter of them turned by a rotation/mirror), and every
scene shares a "prototype" with ~50 others, so there are look-alikes the grouper must keep apart.

Timed, per size, in a fresh child process (peak RSS = its ``ru_maxrss``):

* ``index``: ``lookalike.engine.index.HashIndex`` build + the range search that
  ``grouping.candidate_pairs`` runs (each entry's 1–8 orientation candidates indexed, its
  one canonical hash asks);
* ``group``: ``lookalike.engine.grouping.group_items`` end to end (prepare, candidates, verify,
  connected components, complete-link split).

    python benchmarks/scaling.py                      # sizes 10000,100000
    python benchmarks/scaling.py --sizes 1000000 --no-flat --threads 2
    python benchmarks/scaling.py --sizes 2000 -o benchmarks/out/scaling.json

Signature sets are cached in ``benchmarks/data/scaling/`` (git-ignored); the generator makes
~1 000 signatures/s on one core (1 M: ~17 min once, ~5 GB while it runs). The originals (the
first 70 % of a set) are bit-identical to set v2's, whose generator made 70–300/s; the copies
differ only in their noise draws.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "scaling"
SET_VERSION = 3  # 3: vectorised generator (same statistics as 2)
COPY_SHARE = 0.3  # share of entries that are planted copies
PROTO_SIZE = 50  # scenes per prototype (look-alikes)
PROTO_WEIGHT = 0.3  # how much of a scene its prototype makes up


def _resize_matrix(src: int, dst: int, resample: Image.Resampling) -> np.ndarray:
    """(dst, src) matrix M with M @ x == PIL's 1-D resize of x (separable, so M @ F @ M.T)."""
    eye = np.eye(src, dtype=np.float32)
    cols = [
        np.asarray(Image.fromarray(np.tile(eye[i], (1, 1)), mode="F").resize((dst, 1), resample))[0]
        for i in range(src)
    ]
    return np.stack(cols, axis=1).astype(np.float64)


BLOCK = 32  # Haar coefficients searched for the largest: the [0:32, 0:32] corner (see make_set)
NOISE_HAAR, NOISE_DCT = 0.02, 0.01  # copies' white noise per coefficient
NOISE_BOUND = 7 * NOISE_HAAR  # no noise sample of a set this size reaches 7 sigma


def _turn_dct(d: np.ndarray, t: int) -> np.ndarray:
    """``perceptual.transform_dct`` on a batch (b, k, k) of signatures (same arithmetic)."""
    from lookalike.engine.features import perceptual as pc

    transpose, flip_rows, flip_cols = pc.DIHEDRAL[t]
    rows, cols = pc._dct_sign_masks(d.shape[1])
    out = d.transpose(0, 2, 1) if transpose else d
    if flip_rows:
        out = out * rows
    if flip_cols:
        out = out * cols
    return out


def _top_coeffs(blk: np.ndarray, full: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Signed flat positions (in the 128×128 layout) of the HAAR_KEEP largest coefficients
    and the average, per row of ``blk`` (m, BLOCK, BLOCK); ``full`` (m, 128, 128) instead
    when given (rows whose largest coefficients may lie outside the corner)."""
    from lookalike.engine.features import perceptual as pc

    t = blk if full is None else full
    m, side = len(t), t.shape[1]
    avg = t[:, 0, 0] / pc.HAAR_SIZE
    flat = t.reshape(m, -1).copy()
    flat[:, 0] = 0.0
    top = np.argpartition(-np.abs(flat), pc.HAAR_KEEP, axis=1)[:, : pc.HAAR_KEEP]
    signs = np.where(np.take_along_axis(flat, top, axis=1) > 0, 1, -1)
    pos = (top // side) * pc.HAAR_SIZE + top % side  # row-major position in 128×128
    order = np.argsort(pos, axis=1)
    pos, signs = np.take_along_axis(pos, order, 1), np.take_along_axis(signs, order, 1)
    return ((pos + 1) * signs).astype(np.int32), avg.astype(np.float32)


def _matrices() -> dict[str, np.ndarray]:
    """The linear steps from a 16×16 scene to the engine's transforms, as small matrices."""
    from lookalike.engine.features import perceptual as pc

    up = _resize_matrix(16, 128, Image.Resampling.BICUBIC)  # (128, 16)
    a_haar = pc._haar_matrix(pc.HAAR_SIZE) @ up  # (128, 16): Haar of the upsampled image
    box = np.kron(np.eye(64), np.full((1, 2), 0.5))  # (64, 128) 2×2 box mean, per axis
    keep = getattr(pc, "DCT_STORE", pc.DCT_KEEP)  # the stored block may exceed the hashed one
    return {
        "haar": a_haar,
        "haar_norms": np.linalg.norm(a_haar, axis=1),
        "dct": pc._dct_matrix(pc.DCT_SIZE)[:keep] @ box @ up,  # (keep, 16)
        "yiq": np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]),
    }


def _sandwich(a: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``a @ f[i] @ a.T`` for every matrix of the batch f (m, 16, 16), as two plain GEMMs."""
    m, k = len(f), a.shape[0]
    x = (f.reshape(-1, 16) @ a.T).reshape(m, 16, k)  # f @ a.T
    return (x.transpose(0, 2, 1).reshape(-1, 16) @ a.T).reshape(m, k, k).transpose(0, 2, 1)


def _batch(mat: dict, f: np.ndarray, gain: np.ndarray, copy: np.ndarray, rng) -> tuple:
    """Haar signatures and DCT blocks of one batch of YIQ scenes f (b, 3, 16, 16).

    Only the BLOCK×BLOCK corner of the Haar transform is searched for the largest
    coefficients: Cauchy–Schwarz bounds every coefficient outside it (``|a_r f a_c| ≤
    ‖a_r f‖·‖a_c‖`` and ``≤ ‖a_r‖·‖f a_c‖``), and a channel whose bound (plus the noise
    bound) could reach its 40th largest (< 0.1 % of them) falls back to the full 128×128
    transform, so the result is the full search's."""
    from lookalike.engine.features import perceptual as pc

    b = len(f)
    ff = f.reshape(b * 3, 16, 16)
    g3 = np.repeat(gain, 3)
    c3 = np.repeat(copy, 3)
    a, an, m = mat["haar"], mat["haar_norms"], len(ff)
    fa = (ff.reshape(-1, 16) @ a.T).reshape(m, 16, 128)  # f @ a.T
    cols = np.sqrt(np.einsum("mjc,mjc->mc", fa, fa))  # ‖f a_c‖ per Haar column c
    af = (ff.transpose(0, 2, 1).reshape(-1, 16) @ a.T).reshape(m, 16, 128)  # (a @ f).T
    rows = np.sqrt(np.einsum("mjr,mjr->mr", af, af))  # ‖a_r f‖ per Haar row r
    x = fa[:, :, :BLOCK].transpose(0, 2, 1).reshape(-1, 16) @ a[:BLOCK].T
    blk = g3[:, None, None] * x.reshape(m, BLOCK, BLOCK).transpose(0, 2, 1)
    fine_rows = np.minimum(rows[:, BLOCK:].max(1) * an.max(), an[BLOCK:].max() * cols.max(1))
    fine_cols = np.minimum(
        rows[:, :BLOCK].max(1) * an[BLOCK:].max(), an.max() * cols[:, BLOCK:].max(1)
    )
    outside = g3 * np.maximum(fine_rows, fine_cols)
    blk[c3] += rng.normal(0, NOISE_HAAR, blk[c3].shape)
    mags = np.abs(blk.reshape(b * 3, -1)[:, 1:])
    kth = -np.partition(-mags, pc.HAAR_KEEP - 1, axis=1)[:, pc.HAAR_KEEP - 1]
    bound = outside + np.where(c3, NOISE_BOUND, 0.0)
    coeffs, avg = _top_coeffs(blk)
    wide = np.flatnonzero(bound >= kth)
    if len(wide):  # full transform for these rows, the corner's noise kept
        full = g3[wide, None, None] * _sandwich(mat["haar"], ff[wide])
        full[:, :BLOCK, :BLOCK] = blk[wide]
        noisy = c3[wide]
        outer = full[noisy]
        mask = np.ones((128, 128), bool)
        mask[:BLOCK, :BLOCK] = False
        outer[:, mask] += rng.normal(0, NOISE_HAAR, (len(outer), int(mask.sum())))
        full[noisy] = outer
        coeffs[wide], avg[wide] = _top_coeffs(blk[wide], full)
    d = gain[:, None, None] * _sandwich(mat["dct"], np.ascontiguousarray(f[:, 0]))
    d[copy] += rng.normal(0, NOISE_DCT, d[copy].shape)
    return coeffs.reshape(b, 3, pc.HAAR_KEEP), avg.reshape(b, 3), d.astype(np.float32), len(wide)


def make_set(n: int, seed: int = 0, batch: int = 512) -> dict[str, np.ndarray]:
    """Signatures of ``n`` synthetic images; ``base[i]`` names the scene entry ``i`` copies.

    Upsampling, colour conversion, box downsampling, the DCT and the Haar transform are all
    linear, so each is folded into one small matrix applied to the 16×16 scene: the same
    signatures ``perceptual.dct_signature`` / ``haar_signature`` would give for the 128×128
    upsampled image (up to clipping). A batch is a few GEMMs. Copies get exposure gain and
    white noise added in the transform domain (orthonormal transforms keep white noise white),
    and turned copies are turned with the engine's exact ``transform_dct`` arithmetic and
    ``transform_haar`` (both elementwise, so applied to a whole batch per turn).
    """
    from lookalike.engine.features import perceptual as pc

    rng = np.random.default_rng(seed)
    n_copies = int(n * COPY_SHARE)
    n_base = n - n_copies
    n_proto = max(1, n_base // PROTO_SIZE)
    protos = rng.random((n_proto, 16, 16, 3), dtype=np.float32)
    base_of = np.concatenate([np.arange(n_base), rng.integers(0, n_base, n_copies)])
    turn = np.zeros(n, dtype=np.int64)
    turn[n_base:] = np.where(rng.random(n_copies) < 0.25, rng.integers(1, 8, n_copies), 0)
    fields = rng.random((n_base, 16, 16, 3), dtype=np.float32)  # own part, then mixed in place
    pick = rng.integers(0, n_proto, n_base)
    for lo in range(0, n_base, 65536):
        sl = slice(lo, lo + 65536)
        fields[sl] *= 1 - PROTO_WEIGHT
        fields[sl] += PROTO_WEIGHT * protos[pick[sl]]

    mat = _matrices()
    keep = mat["dct"].shape[0]
    dct = np.empty((n, keep, keep), dtype=np.float32)
    coeffs = np.empty((n, 3, pc.HAAR_KEEP), dtype=np.int32)
    avg = np.empty((n, 3), dtype=np.float32)
    wide = 0
    for lo in range(0, n, batch):
        idx = np.arange(lo, min(n, lo + batch))
        f = (fields[base_of[idx]].astype(np.float64) @ mat["yiq"].T).transpose(0, 3, 1, 2)
        copy = idx >= n_base
        gain = np.where(copy, rng.uniform(0.85, 1.15, len(idx)), 1.0)
        coeffs[idx], avg[idx], dct[idx], w = _batch(mat, np.ascontiguousarray(f), gain, copy, rng)
        wide += w
    for t in range(1, 8):
        sel = np.flatnonzero(turn == t)
        if len(sel):
            dct[sel] = _turn_dct(dct[sel], t)
            coeffs[sel] = pc.transform_haar(pc.HaarSignature(coeffs[sel], avg[sel]), t).coeffs
    haar = np.concatenate([coeffs.reshape(n, -1).view(np.uint8), avg.view(np.uint8)], axis=1)
    print(f"{wide} of {3 * n} channel transforms needed the full search", file=sys.stderr)
    return {"dct": dct, "haar": haar, "base": base_of, "turn": turn}


def load_set(n: int, half: bool = False, disk: Path | None = None) -> dict[str, np.ndarray]:
    """The cached set (made once). ``half``: the DCT blocks as float16, the precision the
    catalog stores them in and the grouper's columns hold, streamed from the file so the
    float32 blocks (2.3 GB at 1 M) are never in memory at once; ``disk``: into a memory-mapped
    float16 file (the group stage's column beyond ``LOOKALIKE_DISK_COLUMNS``)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"set_{n}_v{SET_VERSION}.npz"
    if path.exists():
        with np.load(path) as z:
            out = {k: z[k] for k in z.files if not (half and k == "dct")}
        if half:
            out["dct"] = _stream_half(path, "dct", to=disk)
        return out
    t0 = time.perf_counter()
    s = make_set(n)
    np.savez(path, **s)
    print(f"made {n} signatures in {time.perf_counter() - t0:.0f} s → {path}", file=sys.stderr)
    return s


def _stream_half(path: Path, name: str, rows: int = 65536, to: Path | None = None) -> np.ndarray:
    """Member ``name`` of an uncompressed .npz, read a block of rows at a time as float16
    (``to``: into a memory-mapped file there, as the group stage's disk column)."""
    import zipfile

    from lookalike.engine.disk_columns import BlockFile

    with zipfile.ZipFile(path) as zf, zf.open(f"{name}.npy") as f:
        fmt = np.lib.format
        if fmt.read_magic(f) == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        assert not fortran and dtype == np.float32, (fortran, dtype)
        out = np.empty(shape if to is None else (0,), dtype=np.float16)
        file = BlockFile(to, tuple(shape[1:])) if to is not None else None
        row = int(np.prod(shape[1:])) * 4
        for lo in range(0, shape[0], rows):
            k = min(rows, shape[0] - lo)
            part = np.frombuffer(f.read(k * row), np.float32).reshape(k, *shape[1:])
            if file is None:
                out[lo : lo + k] = part
            else:
                file.write_many(part)
    return out if file is None else file.finish()


def run_size(n: int, do_group: bool, compare_flat: bool = True, disk: bool = False) -> dict:
    """Time index and grouping for one size (runs inside a child process). ``disk``: the DCT
    column memory-mapped from a float16 file (disk_columns.py), as a scan beyond the line."""
    from lookalike.engine import grouping
    from lookalike.engine.features import perceptual as pc
    from lookalike.engine.index import HashIndex
    from lookalike.engine.item_table import ItemTable

    peaks = _AnonPeak()
    column = Path(tempfile.gettempdir()) / f"lookalike_columns_{n}_{os.getpid()}.f16"
    column = column if disk else None
    s = load_set(
        n, half=True, disk=column
    )  # float16 blocks, as a scan's catalog and items hold them
    t0 = time.perf_counter()
    keys, codes, owner = [], [], []  # indexed: one per entry; asked: orientation candidates
    for lo in range(0, n, 65536):
        keys.append(pc.canonical_hash_batch(s["dct"][lo : lo + 65536]))
        c, o = pc.canonical_hashes_batch(s["dct"][lo : lo + 65536])
        codes.append(c)
        owner.append(o + lo)
    keys, codes, owner = np.concatenate(keys), np.concatenate(codes), np.concatenate(owner)
    t_codes = time.perf_counter() - t0

    t0 = time.perf_counter()
    index = HashIndex(codes)  # as grouping.candidate_pairs: candidates indexed, keys ask
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    q, r, _ = index.search(keys, grouping.SEARCH_RADIUS)
    t_search = time.perf_counter() - t0
    flat_search = None
    if compare_flat and not index.flat:  # what the exact index would have cost at this size
        t0 = time.perf_counter()
        flat = HashIndex(codes, flat_limit=len(codes) + 1)
        flat.search(keys, grouping.SEARCH_RADIUS)
        del flat
        flat_search = round(time.perf_counter() - t0, 3)
    qi, ri = q, owner[r]
    cand = {(min(a, b), max(a, b)) for a, b in zip(qi.tolist(), ri.tolist(), strict=True) if a != b}
    base = s["base"]
    planted = {
        (min(i, j), max(i, j))
        for j, b in enumerate(base.tolist())
        if (i := b) != j  # copy j of scene i
    }
    out: dict = {
        "n": n,
        "index_kind": index.kind,
        "hash_seconds": round(t_codes, 3),
        "index_build_seconds": round(t_build, 3),
        "index_search_seconds": round(t_search, 3),
        "flat_build_search_seconds": flat_search,
        "candidate_pairs": len(cand),
        "planted_pairs": len(planted),
        "planted_in_candidates": round(len(planted & cand) / max(1, len(planted)), 4),
    }
    if do_group:
        # the columns a scan's group stage fills from its catalog (stages/group.py): keys,
        # paths, the float16 blocks (referenced, not copied), aspect ratios; no Haar bytes
        del s["haar"], keys, codes, owner, index, q, r, qi, ri
        items = ItemTable(
            np.arange(n), [f"{i:07d}.jpg" for i in range(n)], np.arange(n + 1), s["dct"],
            np.ones(n, np.float32),
        )  # fmt: skip
        rss_before = _rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        cl = grouping.group_items(items, sensitivity=50)
        t_group, c_group = time.perf_counter() - t0, time.process_time() - c0
        found = 0
        false = 0
        for g in cl.groups:
            for a_i, a in enumerate(g):
                for b in g[a_i + 1 :]:
                    pair = (min(a, b), max(a, b))
                    if pair in planted or base[a] == base[b]:
                        found += pair in planted
                    else:
                        false += 1
        out.update(
            group_seconds=round(t_group, 3),
            group_cpu_seconds=round(c_group, 3),  # wall and CPU differ on a shared box
            rss_before_group_mb=rss_before,  # the set and the items: the grouper's input
            groups=len(cl.groups),
            verified_edges=len(cl.edges),
            planted_pairs_grouped=round(found / max(1, len(planted)), 4),
            false_pairs=false,
        )
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["cpu_seconds"] = round(time.process_time(), 2)
    out["dct_column"] = "file" if disk else "memory"
    out.update(peaks.stop())
    if column is not None:
        column.unlink(missing_ok=True)
    return out


class _AnonPeak:
    """Peak anonymous RSS (``RssAnon``: what the kernel cannot drop) and file-backed RSS
    (``RssFile``: a memory map's pages, dropped and re-read under pressure), sampled every
    50 ms: ``ru_maxrss`` adds both, so a memory-mapped column shows in it while it is cached."""

    def __init__(self) -> None:
        import threading

        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.05):
            with open("/proc/self/status") as f:
                for line in f:
                    key = line.split(":", 1)[0]
                    if key in self.peak:
                        self.peak[key] = max(self.peak[key], int(line.split()[1]))

    def stop(self) -> dict:
        self.done.set()
        self.thread.join()
        return {"peak_anon_rss_mb": round(self.peak["RssAnon"] / 1024, 1),
                "peak_file_rss_mb": round(self.peak["RssFile"] / 1024, 1)}  # fmt: skip


def _rss_mb() -> float:
    """Resident set size now (Linux), MB."""
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_child":
        flat, disk = len(argv) < 4 or argv[3] == "1", len(argv) > 4 and argv[4] == "1"
        print(json.dumps(run_size(int(argv[1]), argv[2] == "1", flat, disk)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--no-group", action="store_true", help="time the index only")
    ap.add_argument("--no-flat", action="store_true", help="skip the exact-index comparison")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per size")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP/BLAS and faiss threads")
    ap.add_argument(
        "--disk-columns", action="store_true",
        help="the DCT column memory-mapped from a float16 file (LOOKALIKE_DISK_COLUMNS)",
    )  # fmt: skip
    ap.add_argument("-o", "--output", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for n in [int(x) for x in args.sizes.split(",") if x]:
        load_set(n)  # make the cache outside the timed child
        cmd = [sys.executable, __file__, "_child", str(n), "0" if args.no_group else "1"]
        cmd += ["0" if args.no_flat else "1", "1" if args.disk_columns else "0"]
        threads = str(args.threads)
        env = dict(os.environ, OMP_NUM_THREADS=threads, LOOKALIKE_FAISS_THREADS=threads)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, env=env
            )
        except subprocess.TimeoutExpired:
            rows.append({"n": n, "error": f"timeout after {args.timeout:.0f} s"})
            print(json.dumps(rows[-1]))
            continue
        if proc.returncode != 0:
            rows.append({"n": n, "error": proc.stderr[-2000:]})
        else:
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        rows[-1]["wall_seconds"] = round(time.perf_counter() - t0, 2)
        rows[-1]["threads"] = args.threads
        rows[-1]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(rows[-1]))
    doc = {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
