"""Tags and notes of a run: ``.maggot/annotations.json``, the one run file written after the run.

The recorded files (config, results, run.json, snapshot) are never touched:
tags and notes live in their own file, written atomically under a lock so
two ``maggot tag`` commands on one run never lose each other's changes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from maggot import store
from maggot.errors import CorruptRunError, MaggotError

ANNOTATIONS_FORMAT_VERSION = 1
# a tag is one word a shell and a filter can carry without quoting
_TAG = re.compile(r"^[\w.+-]+$")


class Note(NamedTuple):
    """One note: when it was written (UTC ISO 8601) and its text."""

    at: str
    text: str


class Annotations(NamedTuple):
    """A run's tags (sorted, unique) and notes (oldest first)."""

    tags: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The file's content."""
        return {
            "format_version": ANNOTATIONS_FORMAT_VERSION,
            "tags": list(self.tags),
            "notes": [{"at": note.at, "text": note.text} for note in self.notes],
        }


def annotations_path(run_dir: str) -> str:
    """Where a run's tags and notes are stored."""
    return store.meta_path(run_dir, store.ANNOTATIONS_FILE)


def parse_annotations(data: Any, path: str) -> Annotations:
    """The record in a loaded annotations file; raise CorruptRunError naming ``path``."""
    if not isinstance(data, dict):
        raise CorruptRunError(f"{path}: expected a JSON object")
    tags = data.get("tags", [])
    notes = data.get("notes", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise CorruptRunError(f"{path}: 'tags' is not a list of strings")
    if not isinstance(notes, list) or not all(
        isinstance(note, dict) and isinstance(note.get("text"), str) for note in notes
    ):
        raise CorruptRunError(f"{path}: 'notes' is not a list of {{at, text}} objects")
    return Annotations(
        tuple(sorted(set(tags))),
        tuple(Note(str(note.get("at", "")), note["text"]) for note in notes),
    )


def load_annotations(run_dir: str) -> Annotations:
    """A run's tags and notes; a run without the file has none."""
    path = annotations_path(run_dir)
    try:
        data = store.read_json(path)
    except FileNotFoundError:
        return Annotations()
    return parse_annotations(data, path)


def check_tag(tag: str) -> str:
    """``tag`` itself, or MaggotError when it is not one word of letters, digits, ``_.+-``."""
    if not _TAG.match(tag):
        raise MaggotError(f"tag {tag!r}: use letters, digits and _ . + - only")
    return tag


def change_tags(run_dir: str, add: Iterable[str]) -> Annotations:
    """Add tags to a run; returns the new annotations (``remove_tags`` takes tags away)."""
    add = [check_tag(tag) for tag in add]

    def update(current: Annotations) -> Annotations:
        return current._replace(tags=tuple(sorted(set(current.tags) | set(add))))

    return _update(run_dir, update)


def remove_tags(run_dir: str, tags: Iterable[str]) -> tuple[str, ...]:
    """Remove tags of a run; returns those of ``tags`` it did not have."""
    tags = list(tags)
    absent: list[str] = []

    def update(current: Annotations) -> Annotations:
        absent[:] = [tag for tag in dict.fromkeys(tags) if tag not in current.tags]
        return current._replace(tags=tuple(tag for tag in current.tags if tag not in tags))

    _update(run_dir, update)
    return tuple(absent)


def add_note(run_dir: str, text: str) -> Annotations:
    """Append a note (stamped with the current UTC time) to a run."""
    if not text.strip():
        raise MaggotError("a note needs some text")
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return _update(
        run_dir, lambda current: current._replace(notes=(*current.notes, Note(at, text)))
    )


def clear_notes(run_dir: str) -> Annotations:
    """Remove every note of a run."""
    return _update(run_dir, lambda current: current._replace(notes=()))


def _update(run_dir: str, change: Any) -> Annotations:
    if not store.is_run_dir(run_dir):
        raise MaggotError(f"{run_dir}: not a run directory")
    path = annotations_path(run_dir)
    with store.file_lock(store.meta_path(run_dir, store.ANNOTATIONS_LOCK_FILE)):
        updated: Annotations = change(load_annotations(run_dir))
        store.write_json_atomic(path, updated.as_json())
    return updated


def note_text(notes: Sequence[Note]) -> str:
    """All notes as one text (newest last), as the ``note`` column shows them."""
    return "\n".join(note.text for note in notes)
