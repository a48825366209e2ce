"""Content hashes of files: whole, or by a fixed sample for files too large to read."""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

MIB = 1024 * 1024
# a large file's sample: this many pieces of SAMPLE_PIECE_BYTES at evenly spaced
# offsets from the first byte to the last, hashed together with the file size
SAMPLE_PIECES = 16
SAMPLE_PIECE_BYTES = 64 * 1024
SAMPLE_DESCRIPTION = (
    f"sha256 of the size (8 bytes, big-endian) and {SAMPLE_PIECES} pieces of "
    f"{SAMPLE_PIECE_BYTES // 1024} KiB at evenly spaced offsets from the start to the end"
)
HASH_FULL = "full"
HASH_SAMPLE = "sample"
_BLOCK = MIB


class HashLimits(NamedTuple):
    """How much of a file is read to hash it.

    input_full_bytes: inputs up to this size are hashed whole, larger ones by a
    sample (``SAMPLE_DESCRIPTION``). manifest_file_bytes: files of the run
    directory up to this size are hashed; larger ones are listed with size and
    mtime only.
    """

    input_full_bytes: int = 100 * MIB
    manifest_file_bytes: int = 100 * MIB


DEFAULT_HASH_LIMITS = HashLimits()


def sha256_file(path: str) -> str:
    """The sha256 of a whole file, read in blocks."""
    import hashlib  # loaded at the end of a run, not when maggot is imported

    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as file:
        # one buffer, no larger than the file: a run's many small files each cost a
        # small read, not a megabyte allocated (and mapped) per read
        size = os.fstat(file.fileno()).st_size
        view = memoryview(bytearray(min(_BLOCK, size + 1)))
        while True:
            count = file.readinto(view)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def sha256_sample(path: str, size: int) -> str:
    """The sha256 of ``size`` and evenly spaced pieces of the file (see SAMPLE_DESCRIPTION)."""
    import hashlib

    digest = hashlib.sha256(size.to_bytes(8, "big"))
    last_offset = max(size - SAMPLE_PIECE_BYTES, 0)
    with open(path, "rb") as file:
        for piece in range(SAMPLE_PIECES):
            file.seek(last_offset * piece // (SAMPLE_PIECES - 1))
            digest.update(file.read(SAMPLE_PIECE_BYTES))
    return digest.hexdigest()


def content_hash(path: str, size: int, full_limit: int) -> tuple[str, str]:
    """``(sha256, how)``: whole-file up to ``full_limit`` bytes, a sample above it."""
    if size > full_limit:
        return sha256_sample(path, size), HASH_SAMPLE
    return sha256_file(path), HASH_FULL


def same_content(path: str, sha256: str, how: str) -> bool | None:
    """Whether the file at ``path`` still hashes to ``sha256`` the same way; None when gone."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return False  # a FIFO or device is never opened: reading one can block forever
        size = info.st_size
        current = sha256_sample(path, size) if how == HASH_SAMPLE else sha256_file(path)
    except FileNotFoundError:
        return None
    return current == sha256
