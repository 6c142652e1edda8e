"""Byte-identical files: size → head+tail block hash → full hash, each step only for what
still collides (fclones' order), with xxh3-128."""

from __future__ import annotations

import os

import xxhash

BLOCK = 16 * 1024
CHUNK = 1 << 20


def headtail_hash(path: str, size: int) -> bytes:
    """Hash of the first and last block plus the size: cheap, and rules out most collisions.

    Read with one system call a block (``os.pread`` on a plain descriptor):
    Python's buffered reader asked twice for a small file's block (the second to see the end)
    and copied it once more; at 100k files this is most of the exact stage (issue 13). The
    bytes hashed are the same as ever, so stored hashes and marks stay valid."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return headtail_of(fd, size, first_block(fd, size))
    finally:
        os.close(fd)


def first_block(fd: int, size: int) -> bytes:
    """The bytes ``headtail_of`` hashes first: the head block, or a small file whole (head
    block and the rest, one stream: one read, as the size is known). The catalog stage's
    kind sniff reads a colliding file's head this way, so the file is opened once."""
    return _read(fd, BLOCK if size > 2 * BLOCK else size, 0)


def headtail_of(fd: int, size: int, first: bytes) -> bytes:
    """``headtail_hash`` of the open file ``fd`` whose ``first_block`` is ``first``."""
    h = xxhash.xxh3_128()
    h.update(size.to_bytes(8, "little"))
    h.update(first)
    if size > 2 * BLOCK:
        h.update(_read(fd, BLOCK, size - BLOCK))
    return h.digest()


def _read(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes at ``offset``, fewer only at the end of the file."""
    parts: list[bytes] = []
    got = 0
    while got < length and (more := os.pread(fd, length - got, offset + got)):
        parts.append(more)
        got += len(more)
    return parts[0] if len(parts) == 1 else b"".join(parts)  # b"" for an empty file


def full_hash(path: str) -> bytes:
    """xxh3-128 of the whole content (16 bytes)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.digest()
