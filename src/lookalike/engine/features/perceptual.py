"""Perceptual features of one decoded image, and how two of them compare.

Everything here is a small pure function over numpy arrays, so the decode workers, the index
and the tests all share one definition.

* **DCT signature** – the 24×24 lowest frequencies of the 2-D DCT of a 64×64 grey image
  (imagehash's pHash, kept as floats). The sign bits of its 16×16 corner (255, the DC term
  dropped) are the binary hash that faiss indexes. Two cosines verify a pair: the *low* one
  (16×16) survives brightness, contrast, blur, noise and re-encoding; the *band* one
  (frequencies 8–23) is high only when the pixels line up, so it tells a copy from a second
  shot of the same scene (a burst, a stereo pair) whose low frequencies agree.
* **Haar signature** – Jacobs, Finkelstein & Salesin, "Fast Multiresolution Image Querying"
  (as in imgSeek/duplo): a 128×128 YIQ image, standard 2-D Haar decomposition, the 40 largest
  coefficients per channel kept as signed positions, compared with the paper's weight table.
* **Dihedral group** – rotations by 90/180/270 and mirrors act on both signatures as a signed
  permutation of coefficients, so a copy turned on its side is matched without re-decoding:
  ``transform_dct`` / ``transform_haar`` apply one of the 8 transforms to a stored signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lookalike.engine.features.signs import signs

DCT_SIZE = 64  # grey image side for the DCT
DCT_KEEP = 16  # low-frequency block hashed (16×16 → 255 AC terms)
DCT_STORE = 24  # block stored: frequencies 8..23 are the "detail band" that tells two shots apart
HAAR_SIZE = 128
HAAR_KEEP = 40
HASH_BITS = 256  # 255 AC sign bits + one constant pad bit
HASH_BYTES = HASH_BITS // 8

# Jacobs et al. weights for scanned photos: rows = bin (min(max(i, j), 5)), cols = Y, I, Q.
HAAR_WEIGHTS = np.array(
    [
        [5.00, 19.21, 34.37],
        [0.83, 1.26, 0.36],
        [1.01, 0.44, 0.45],
        [0.52, 0.53, 0.14],
        [0.47, 0.28, 0.18],
        [0.30, 0.14, 0.27],
    ],
    dtype=np.float32,
)

# The 8 dihedral transforms as (transpose first?, flip rows?, flip columns?).
DIHEDRAL: tuple[tuple[bool, bool, bool], ...] = tuple(
    (t, fr, fc) for t in (False, True) for fr in (False, True) for fc in (False, True)
)
IDENTITY = 0


def apply_dihedral(img: np.ndarray, t: int) -> np.ndarray:
    """Apply transform ``t`` to an image array (rows, cols, …); used by tests as the truth."""
    transpose, flip_rows, flip_cols = DIHEDRAL[t]
    out = img
    if transpose:
        out = np.swapaxes(out, 0, 1)
    if flip_rows:
        out = out[::-1]
    if flip_cols:
        out = out[:, ::-1]
    return out


# ---------------------------------------------------------------------------------------------
# DCT signature
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix; ``D @ x`` is the DCT of column vector x."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float64)


def dct_signature(grey64: np.ndarray) -> np.ndarray:
    """24×24 low-frequency DCT block of a 64×64 grey image (float32)."""
    d = _dct_matrix(DCT_SIZE)[:DCT_STORE]
    g = grey64.astype(np.float64)
    return (d @ g @ d.T).astype(np.float32)


@lru_cache(maxsize=4)
def _dct_sign_masks(n: int) -> tuple[np.ndarray, np.ndarray]:
    odd = np.where(np.arange(n) % 2 == 1, -1.0, 1.0).astype(np.float32)
    return np.repeat(odd[:, None], n, axis=1), np.repeat(odd[None, :], n, axis=0)


def transform_dct(sig: np.ndarray, t: int) -> np.ndarray:
    """The DCT signature of the image turned by transform ``t`` (exact, no decode)."""
    transpose, flip_rows, flip_cols = DIHEDRAL[t]
    rows, cols = _dct_sign_masks(sig.shape[0])
    out = sig.T if transpose else sig
    if flip_rows:
        out = out * rows
    if flip_cols:
        out = out * cols
    return out


def dct_hash(sig: np.ndarray) -> np.ndarray:
    """256-bit hash (32 uint8): sign bits of the AC terms, packed; bit 0 (DC) is always 1."""
    bits = (sig[:DCT_KEEP, :DCT_KEEP].reshape(-1) > 0).astype(np.uint8)
    bits[0] = 1
    return np.packbits(bits)


# Orientation decisions closer to their threshold than these margins are kept both ways.
CANON_MARGINS = (0.20, 0.08)  # (transpose: triangle energy balance, flips: first gradients)


@lru_cache(maxsize=1)
def _upper_triangle() -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(DCT_KEEP, 1)


def _orientation_stats(sig: np.ndarray) -> tuple[float, float, float]:
    """(upper-minus-lower triangle energy share, horizontal and vertical first gradients)."""
    low = sig[:DCT_KEEP, :DCT_KEEP].astype(np.float64)
    low[0, 0] = 0.0
    norm = float(np.linalg.norm(low)) + 1e-12
    iu = _upper_triangle()  # cached: the driver calls this for every view of every photo
    upper, lower = float((low[iu] ** 2).sum()), float((low.T[iu] ** 2).sum())
    return (upper - lower) / (upper + lower + 1e-12), low[0, 1] / norm, low[1, 0] / norm


def canonical_transforms(
    sig: np.ndarray, margins: tuple[float, float] = CANON_MARGINS
) -> list[int]:
    """Transforms that bring the image to its canonical orientation (usually one).

    Canonical = more energy above the diagonal, brighter-left and brighter-top first
    gradients. A rotated or mirrored copy has the same canonical form, so the index needs one
    hash per orientation candidate instead of all 8; a decision within its margin keeps both
    branches, so edits that nudge a gradient never lose the match.
    """
    out: list[int] = []
    balance, _, _ = _orientation_stats(sig)
    for transpose in [False, True] if abs(balance) < margins[0] else [balance < 0]:
        turned = sig.T if transpose else sig
        _, h, v = _orientation_stats(turned)
        for flip_cols in [False, True] if abs(h) < margins[1] else [h < 0]:
            for flip_rows in [False, True] if abs(v) < margins[1] else [v < 0]:
                out.append(DIHEDRAL.index((transpose, flip_rows, flip_cols)))
    return out


def canonical_hashes(sig: np.ndarray, margins: tuple[float, float] = CANON_MARGINS) -> np.ndarray:
    """(k, 32) uint8: hashes of the canonical orientation candidates of the image.

    The index holds one per view (``margins=(0, 0)``: the best guess); queries ask with every
    candidate, so a pair is found when either image's guess is among the other's candidates.
    """
    return np.stack([dct_hash(transform_dct(sig, t)) for t in canonical_transforms(sig, margins)])


def canonical_hash(sig: np.ndarray) -> np.ndarray:
    """The one hash a view is indexed under: its best-guess canonical orientation."""
    return canonical_hashes(sig, (0.0, 0.0))[0]


def _orientation_stats_batch(low: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_orientation_stats` of a batch (n, DCT_KEEP, DCT_KEEP) float64 with DC zeroed."""
    n = len(low)
    norm = np.sqrt(np.einsum("nij,nij->n", low, low)) + 1e-12
    iu = np.triu_indices(DCT_KEEP, 1)
    upper = (low[:, iu[0], iu[1]] ** 2).sum(axis=1)
    lower = (low[:, iu[1], iu[0]] ** 2).sum(axis=1)
    balance = (upper - lower) / (upper + lower + 1e-12)
    return balance, low[np.arange(n), 0, 1] / norm, low[np.arange(n), 1, 0] / norm


def _signs_hash_batch(pos: np.ndarray, neg: np.ndarray, t: int) -> np.ndarray:
    """:func:`dct_hash` of :func:`transform_dct` for a batch, from its low blocks' signs
    (``pos`` = low > 0, ``neg`` = low < 0, each (n, DCT_KEEP, DCT_KEEP)): a turn only moves
    terms and flips signs, so each branch's bits are a gather of two sign arrays taken once
    per batch (comparing float16 blocks again per branch was most of the hashing)."""
    transpose, flip_rows, flip_cols = DIHEDRAL[t]
    if transpose:
        pos, neg = pos.transpose(0, 2, 1), neg.transpose(0, 2, 1)
    odd = np.arange(DCT_KEEP) % 2 == 1
    flip = np.zeros((DCT_KEEP, DCT_KEEP), dtype=bool)  # terms whose sign the turn flips
    if flip_rows:
        flip ^= odd[:, None]
    if flip_cols:
        flip ^= odd[None, :]
    bits = np.where(flip, neg, pos).reshape(len(pos), -1)  # x·(−1) > 0 ⇔ x < 0
    bits[:, 0] = True
    return np.packbits(bits, axis=1)


def canonical_hashes_batch(
    sigs: np.ndarray, margins: tuple[float, float] = CANON_MARGINS
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`canonical_hashes` of every signature of (n, k, k), as numpy work on the whole
    batch (a million views would take minutes one by one): ``(codes (m, 32), owner (m,))``,
    each row's candidates in the same order :func:`canonical_hashes` gives them."""
    codes, owner, _, _ = _ranked_hashes(sigs, margins)
    return codes, owner


def canonical_keys_hashes_batch(
    sigs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(:func:`canonical_hash_batch`, *:func:`canonical_hashes_batch`) of one batch in one
    pass: a row's key is one of its candidates — the branch each margin test takes on the
    sign alone —, so it is picked from them instead of hashed again (the grouper hashes
    every view of the collection on each scan; tests/test_perceptual.py compares them)."""
    codes, owner, rank, (balance, h0, v0) = _ranked_hashes(sigs, CANON_MARGINS)
    if len(codes) == 0:
        return codes, codes, owner
    tr = balance < 0
    h, v = np.where(tr, v0, h0), np.where(tr, h0, v0)  # as the transposed branch swaps them
    key_rank = 4 * tr + 2 * (h < 0) + (v < 0)  # its place in the generation order
    keys = codes[np.flatnonzero(rank == key_rank[owner])]
    return keys, codes, owner


def _ranked_hashes(
    sigs: np.ndarray, margins: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`canonical_hashes_batch`'s (codes, owner), each code's branch in the
    generation order (transpose, flip columns, flip rows: 0–7), and the orientation stats."""
    sigs = np.asarray(sigs)
    low = sigs[:, :DCT_KEEP, :DCT_KEEP].astype(np.float64)
    low[:, 0, 0] = 0.0
    balance, h0, v0 = _orientation_stats_batch(low)
    choice = []  # (transpose, flip_cols, flip_rows, rows taking that branch), generation order
    for tr in (False, True):
        take_t = (np.abs(balance) < margins[0]) | ((balance < 0) == tr)
        h, v = (v0, h0) if tr else (h0, v0)  # the transposed block swaps the first gradients
        for fc in (False, True):
            take_c = take_t & ((np.abs(h) < margins[1]) | ((h < 0) == fc))
            for fr in (False, True):
                take = take_c & ((np.abs(v) < margins[1]) | ((v < 0) == fr))
                choice.append((DIHEDRAL.index((tr, fr, fc)), np.flatnonzero(take)))
    codes, owner, rank = [], [], []
    pos, neg = signs(sigs[:, :DCT_KEEP, :DCT_KEEP])
    for r, (t, rows) in enumerate(choice):
        if len(rows):
            codes.append(_signs_hash_batch(pos[rows], neg[rows], t))
            owner.append(rows)
            rank.append(np.full(len(rows), r))
    if not codes:
        e = np.zeros(0, np.int64)
        return np.zeros((0, HASH_BYTES), np.uint8), e, e, (balance, h0, v0)
    owner_a, rank_a = np.concatenate(owner), np.concatenate(rank)
    order = np.lexsort((rank_a, owner_a))
    stats = (balance, h0, v0)
    return np.concatenate(codes)[order], owner_a[order].astype(np.int64), rank_a[order], stats


def canonical_hash_batch(sigs: np.ndarray) -> np.ndarray:
    """:func:`canonical_hash` of every signature of (n, k, k): (n, 32) uint8."""
    codes, owner = canonical_hashes_batch(sigs, (0.0, 0.0))
    return codes  # margins 0: exactly one candidate per row, in row order


def dct_hashes_dihedral(sig: np.ndarray) -> np.ndarray:
    """(8, 32) uint8: the hash of every dihedral transform of the image."""
    return np.stack([dct_hash(transform_dct(sig, t)) for t in range(8)])


@lru_cache(maxsize=1)
def _bands() -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(DCT_STORE)
    m = np.maximum(u[:, None], u[None, :])
    low = m < DCT_KEEP
    low[0, 0] = False
    band = m >= 8
    return low, band


def _unit(v: np.ndarray) -> np.ndarray:
    """``v / ‖v‖`` with ``np.linalg.norm``'s own arithmetic (sqrt of v·v in v's float type,
    so the same bits) but not its per-call checks: grouping and ranking call it ~20 times a
    file, and the checks were half its cost."""
    flat = v.ravel(order="K")
    n = float(np.sqrt(flat.dot(flat)) if flat.dtype.kind == "f" else np.linalg.norm(v))
    return v / n if n > 0 else v


def dct_vector(sig: np.ndarray) -> np.ndarray:
    """Low AC terms (16×16 corner) as a unit vector: ~ correlation of low-pass images."""
    low, _ = _bands()
    return _unit(sig[low].astype(np.float32))


def band_vector(sig: np.ndarray) -> np.ndarray:
    """Detail-band terms (frequencies 8–23) as a unit vector."""
    _, band = _bands()
    return _unit(sig[band].astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Haar (Jacobs) signature
# ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _haar_matrix(n: int) -> np.ndarray:
    """Orthonormal Haar basis, row 0 = scaling, rows [2^k, 2^(k+1)) = level-k details."""
    h = np.zeros((n, n), dtype=np.float64)
    h[0] = 1.0 / np.sqrt(n)
    level = 0
    while (1 << level) < n:
        count = 1 << level
        width = n // count
        for m in range(count):
            row = np.zeros(n)
            start = m * width
            row[start : start + width // 2] = 1.0
            row[start + width // 2 : start + width] = -1.0
            h[count + m] = row / np.sqrt(width)
        level += 1
    return h


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """float RGB in [0, 1] → YIQ (NTSC)."""
    m = np.array(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        dtype=np.float32,
    )
    return rgb.astype(np.float32) @ m.T


@dataclass(frozen=True)
class HaarSignature:
    """Signed flat positions (pos+1, negated for negative coefficients) and channel averages."""

    coeffs: np.ndarray  # (3, HAAR_KEEP) int32
    avg: np.ndarray  # (3,) float32

    def to_bytes(self) -> bytes:
        return self.coeffs.astype(np.int32).tobytes() + self.avg.astype(np.float32).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> HaarSignature:
        n = 3 * HAAR_KEEP * 4
        coeffs = np.frombuffer(data[:n], dtype=np.int32).reshape(3, HAAR_KEEP)
        avg = np.frombuffer(data[n : n + 12], dtype=np.float32)
        return cls(coeffs, avg)


def haar_rows(x: np.ndarray) -> np.ndarray:
    """Full 1-D orthonormal Haar transform of every row (pyramid algorithm, no BLAS).

    Output order matches ``_haar_matrix``: [average, coarsest detail, …, finest details]. The
    same numbers as PyWavelets' ``wavedec(x, "haar", mode="periodization")`` concatenated
    (checked to 1e-6 on 128×128×3), at about half its time here: so no PyWavelets dependency.
    """
    out = x.astype(np.float32, copy=True)
    n = out.shape[-1]
    s = np.float32(1.0 / np.sqrt(2.0))
    while n > 1:
        a = (out[..., 0:n:2] + out[..., 1:n:2]) * s
        d = (out[..., 0:n:2] - out[..., 1:n:2]) * s
        out[..., : n // 2] = a
        out[..., n // 2 : n] = d
        n //= 2
    return out


def haar_2d(x: np.ndarray) -> np.ndarray:
    """Standard 2-D Haar decomposition of the first two axes (rows fully, then columns)."""
    t = haar_rows(np.moveaxis(x, 1, -1))  # along columns index j
    t = np.moveaxis(t, -1, 1)
    t = haar_rows(np.moveaxis(t, 0, -1))  # along rows index i
    return np.moveaxis(t, -1, 0)


def haar_signature(rgb128: np.ndarray) -> HaarSignature:
    """Signature of a 128×128 float RGB image in [0, 1]."""
    yiq = rgb_to_yiq(rgb128)
    t_all = haar_2d(yiq)  # (128, 128, 3)
    coeffs = np.zeros((3, HAAR_KEEP), dtype=np.int32)
    avg = np.zeros(3, dtype=np.float32)
    for c in range(3):
        t = t_all[:, :, c]
        avg[c] = t[0, 0] / HAAR_SIZE
        flat = t.reshape(-1).copy()
        flat[0] = 0.0
        top = np.argpartition(-np.abs(flat), HAAR_KEEP)[:HAAR_KEEP]
        top = top[np.argsort(top)]
        signs = np.where(flat[top] > 0, 1, -1)
        coeffs[c] = (top + 1) * signs
    return HaarSignature(coeffs, avg)


@lru_cache(maxsize=1)
def _haar_index_maps() -> tuple[np.ndarray, np.ndarray]:
    """For each 1-D Haar index: its mirror within the level block, and the sign a flip gives."""
    n = HAAR_SIZE
    mirror = np.zeros(n, dtype=np.int64)
    sign = np.ones(n, dtype=np.int64)
    for p in range(1, n):
        level_start = 1 << (p.bit_length() - 1)
        mirror[p] = level_start + (2 * level_start - 1 - p)
        sign[p] = -1
    return mirror, sign


def transform_haar(sig: HaarSignature, t: int) -> HaarSignature:
    """The Haar signature of the image turned by transform ``t`` (exact, no decode)."""
    transpose, flip_rows, flip_cols = DIHEDRAL[t]
    if t == IDENTITY:
        return sig
    mirror, flip_sign = _haar_index_maps()
    c = sig.coeffs.astype(np.int64)
    s = np.sign(c)
    pos = np.abs(c) - 1
    r, col = pos // HAAR_SIZE, pos % HAAR_SIZE
    if transpose:
        r, col = col, r
    if flip_rows:
        s = s * flip_sign[r]
        r = mirror[r]
    if flip_cols:
        s = s * flip_sign[col]
        col = mirror[col]
    new = ((r * HAAR_SIZE + col) + 1) * s
    return HaarSignature(new.astype(np.int32), sig.avg)


@lru_cache(maxsize=1)
def _haar_bins() -> np.ndarray:
    i = np.arange(HAAR_SIZE)
    return np.minimum(np.maximum(i[:, None], i[None, :]), 5).reshape(-1)


def haar_similarity(a: HaarSignature, b: HaarSignature) -> float:
    """Share of a's weighted signature that b matches (position and sign), in [0, 1].

    Symmetrised (mean of both directions); the averages enter as a small penalty, as in the
    paper's score, so a uniformly darker copy still matches.
    """
    bins = _haar_bins()
    total = 0.0
    matched = 0.0
    for c in range(3):
        sa = set(a.coeffs[c].tolist())
        sb = set(b.coeffs[c].tolist())
        common = sa & sb
        wa = HAAR_WEIGHTS[bins[np.abs(a.coeffs[c]) - 1], c]
        wb = HAAR_WEIGHTS[bins[np.abs(b.coeffs[c]) - 1], c]
        if common:
            idx = np.abs(np.fromiter(common, dtype=np.int64)) - 1
            matched += 2 * float(HAAR_WEIGHTS[bins[idx], c].sum())
        total += float(wa.sum() + wb.sum())
    return min(1.0, matched / total) if total > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Preparing the image: borders, uniformity
# ---------------------------------------------------------------------------------------------
def trim_box(
    rgb: np.ndarray, tol: int = 24, frac: float = 0.985, max_trim: float = 0.45
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the content inside uniform borders or letterbox bars.

    A row or column is border when ≥ ``frac`` of its pixels lie within ``tol`` of the colour of
    the corners; at most ``max_trim`` of each side is cut, so a picture with a plain sky keeps
    most of its sky.
    """
    h, w = rgb.shape[:2]
    a = rgb.astype(np.int16)
    corners = np.stack([a[0, 0], a[0, -1], a[-1, 0], a[-1, -1]])

    def run(lines: np.ndarray, limit: int) -> int:
        n = 0
        for line in lines[:limit]:
            ok = False
            for colour in corners:
                close = np.all(np.abs(line - colour) <= tol, axis=-1)
                if close.mean() >= frac:
                    ok = True
                    break
            if not ok:
                break
            n += 1
        return n

    def shave(n: int, size: int) -> int:
        # past a real border, JPEG ringing leaves a line or two of neither border nor picture
        return n + max(2, size // 100) if n else 0

    top = shave(run(a, int(h * max_trim)), h)
    bottom = shave(run(a[::-1], int(h * max_trim)), h)
    left = shave(run(np.swapaxes(a, 0, 1), int(w * max_trim)), w)
    right = shave(run(np.swapaxes(a, 0, 1)[::-1], int(w * max_trim)), w)
    return top, h - bottom, left, w - right
