"""Perceptual signatures: dihedral transforms are exact, hashes and borders behave."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lookalike.engine.features import perceptual as pc
from lookalike.engine.features.dct_turns import turned_dct_vectors


@st.composite
def _images(draw, shape):
    """Random images with structure: smooth gradients plus noise at a drawn scale."""
    seed = draw(st.integers(0, 2**32 - 1))
    noise = draw(st.floats(0.01, 1.0))
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] / shape[0]
    base = np.sin(xx * rng.uniform(1, 9)) * np.cos(yy * rng.uniform(1, 9))
    if len(shape) == 3:
        base = base[..., None] * rng.uniform(0.2, 1, 3)
    img = 0.5 + 0.3 * base + noise * 0.2 * rng.standard_normal(shape)
    return np.clip(img, 0, 1).astype(np.float32)


grey64 = _images((64, 64))
rgb128 = _images((128, 128, 3))


@settings(max_examples=25, deadline=None)
@given(grey64, st.integers(0, 7))
def test_dct_transform_equals_transforming_the_image(img, t):
    sig = pc.dct_signature(img)
    turned = pc.dct_signature(np.ascontiguousarray(pc.apply_dihedral(img, t)))
    np.testing.assert_allclose(pc.transform_dct(sig, t), turned, atol=1e-3)


@settings(max_examples=15, deadline=None)
@given(rgb128, st.integers(0, 7))
def test_haar_transform_equals_transforming_the_image(img, t):
    sig = pc.haar_signature(img)
    turned = pc.haar_signature(np.ascontiguousarray(pc.apply_dihedral(img, t)))
    assert pc.haar_similarity(pc.transform_haar(sig, t), turned) > 0.97


@settings(max_examples=15, deadline=None)
@given(rgb128, rgb128)
def test_haar_similarity_is_symmetric_and_bounded(a, b):
    sa, sb = pc.haar_signature(a), pc.haar_signature(b)
    s = pc.haar_similarity(sa, sb)
    assert 0.0 <= s <= 1.0 + 1e-6
    assert abs(s - pc.haar_similarity(sb, sa)) < 1e-6
    assert abs(pc.haar_similarity(sa, sa) - 1.0) < 1e-6


def test_haar_signature_round_trips_through_bytes():
    sig = pc.haar_signature(np.random.default_rng(0).random((128, 128, 3), dtype=np.float32))
    back = pc.HaarSignature.from_bytes(sig.to_bytes())
    assert np.array_equal(back.coeffs, sig.coeffs)
    assert np.allclose(back.avg, sig.avg)


def test_dct_hash_has_256_bits_and_dihedral_variants_differ():
    img = np.random.default_rng(1).random((64, 64), dtype=np.float32)
    hashes = pc.dct_hashes_dihedral(pc.dct_signature(img))
    assert hashes.shape == (8, 32)
    assert len({h.tobytes() for h in hashes}) == 8


def test_trim_box_finds_a_border_and_leaves_a_plain_photo_alone():
    rng = np.random.default_rng(2)
    photo = (rng.random((100, 150, 3)) * 255).astype(np.uint8)
    framed = np.full((140, 190, 3), 255, np.uint8)
    framed[20:120, 20:170] = photo
    assert pc.trim_box(framed) == (22, 118, 22, 168)  # border plus a 2 px shave
    assert pc.trim_box(photo) == (0, 100, 0, 150)


@settings(max_examples=10, deadline=None)
@given(rgb128)
def test_fast_haar_equals_the_basis_matrix(img):
    h = pc._haar_matrix(pc.HAAR_SIZE)
    ref = np.stack([h @ img[:, :, c] @ h.T for c in range(3)], axis=-1)
    np.testing.assert_allclose(pc.haar_2d(img), ref, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(grey64, st.integers(0, 7))
def test_a_turned_copy_asks_for_the_hash_its_original_is_indexed_under(img, t):
    sig = pc.dct_signature(img)
    turned = pc.dct_signature(np.ascontiguousarray(pc.apply_dihedral(img, t)))
    asked = {h.tobytes() for h in pc.canonical_hashes(turned)}
    assert pc.canonical_hash(sig).tobytes() in asked
    assert 1 <= len(asked) <= 8


def test_batch_canonical_hashes_equal_the_per_signature_ones():
    """The grouper hashes a million views in numpy batches: same codes, owners and order as
    one by one, on real photos turned every way and on blocks whose orientation is a tie."""
    from skimage import data, transform

    sigs = []
    for img in (data.astronaut(), data.coffee(), data.chelsea(), data.camera(), data.rocket()):
        grey = img.mean(axis=2) if img.ndim == 3 else img.astype(float)
        g = transform.resize(grey / 255.0, (64, 64), anti_aliasing=True).astype(np.float32)
        sigs += [pc.dct_signature(np.ascontiguousarray(pc.apply_dihedral(g, t))) for t in range(8)]
    flat = np.zeros((24, 24), np.float32)  # no gradient at all: every branch kept
    sym = sigs[0] + sigs[0].T  # transpose-symmetric: both transpose branches
    sigs += [flat, sym]
    batch = np.stack(sigs)
    codes, owner = pc.canonical_hashes_batch(batch)
    one = [pc.canonical_hashes(s) for s in sigs]
    np.testing.assert_array_equal(codes, np.concatenate(one))
    np.testing.assert_array_equal(owner, np.repeat(np.arange(len(sigs)), [len(c) for c in one]))
    np.testing.assert_array_equal(
        pc.canonical_hash_batch(batch), np.stack([pc.canonical_hash(s) for s in sigs])
    )
    assert len(one[-2]) == 8 and len(one[-1]) >= 2  # the ties were exercised
    # the grouper's one pass: keys picked from the candidates, the same arrays; also on
    # random blocks (every sign branch) stored as float16, as the grouper reads them
    noise = np.random.default_rng(5).normal(size=(400, 24, 24)).astype(np.float16)
    for b in (batch, noise):
        keys, codes_, owner_ = pc.canonical_keys_hashes_batch(b)
        np.testing.assert_array_equal(keys, pc.canonical_hash_batch(b))
        np.testing.assert_array_equal(codes_, pc.canonical_hashes_batch(b)[0])
        np.testing.assert_array_equal(owner_, pc.canonical_hashes_batch(b)[1])
    # float16 blocks' signs are read from their bits: the codes of one by one in float32
    half = batch.astype(np.float16)
    one = [pc.canonical_hashes(s.astype(np.float32)) for s in half]
    np.testing.assert_array_equal(pc.canonical_hashes_batch(half)[0], np.concatenate(one))


def test_float16_signs_from_bits_equal_the_comparisons_for_every_value():
    """Every one of the 65 536 float16 bit patterns (±0, subnormals, ±inf, NaNs)."""
    every = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    block = every.reshape(256, 16, 16)
    pos, neg = pc.signs(block)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(pos, block > 0)
        np.testing.assert_array_equal(neg, block < 0)
    assert pos.sum() == 0x7C00 and neg.sum() == 0x7C00  # the NaNs and zeros are neither
    strided = block[:, :8, 4:12]  # a slice, as the hashing reads the low corner
    np.testing.assert_array_equal(pc.signs(strided)[0], strided > 0)


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=300),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
)
def test_unit_vectors_are_bit_for_bit_those_of_linalg_norm(values, dtype, strided):
    """The grouper's and ranker's cosines (and so their ties) rest on these exact bits: the
    fast path must give ``v / float(np.linalg.norm(v))``, a zero vector left as it is."""
    v = np.asarray(values * 2 if strided else values, dtype=dtype)[:: 2 if strided else 1]
    n = float(np.linalg.norm(v))
    expected = v / n if n > 0 else v
    got = pc._unit(v)
    assert got.dtype == expected.dtype and _bits(got) == _bits(expected)
    sig = np.resize(np.asarray(values, dtype=np.float32), (pc.DCT_STORE, pc.DCT_STORE))
    low = sig[pc._bands()[0]].astype(np.float32)
    n = float(np.linalg.norm(low))
    assert _bits(pc.dct_vector(sig)) == _bits(low / n if n > 0 else low)


@settings(max_examples=40, deadline=None)
@given(grey64, st.sampled_from([np.float32, np.float64]), st.booleans())
def test_turned_vectors_are_bit_for_bit_those_of_each_turn(img, dtype, blank):
    """The ranker's orientation check (rules/evidence.best_turn) takes the eight turned
    vectors of a signature by one gather; its cosines, and so its verdicts, rest on the same
    bits as turning and normalising each one (a blank signature stays a zero vector)."""
    sig = np.zeros((pc.DCT_STORE, pc.DCT_STORE)) if blank else pc.dct_signature(img)
    sig = sig.astype(dtype)
    want = [pc.dct_vector(pc.transform_dct(sig, t)) for t in range(8)]
    got = turned_dct_vectors(sig)
    assert [g.dtype for g in got] == [w.dtype for w in want]
    assert [_bits(g) for g in got] == [_bits(w) for w in want]
    target = want[3]
    assert [float(g @ target) for g in got] == [float(w @ target) for w in want]


def test_turned_vectors_of_real_photos_pick_the_turn_that_was_made():
    """On real photos: a copy turned by t is matched by the original's t-th turned vector."""
    from PIL import Image
    from skimage import data

    for photo in (data.camera(), data.astronaut()[..., 1], data.coffee()[..., 0]):
        grey = np.asarray(Image.fromarray(photo).resize((64, 64)), dtype=np.float32) / 255
        sig = pc.dct_signature(grey)
        turned = turned_dct_vectors(sig)
        for t in range(8):
            copy = pc.dct_vector(pc.dct_signature(pc.apply_dihedral(grey, t).copy()))
            cos = [float(v @ copy) for v in turned]
            assert int(np.argmax(cos)) == t and cos[t] > 0.99
            assert _bits(turned[t]) == _bits(pc.dct_vector(pc.transform_dct(sig, t)))
