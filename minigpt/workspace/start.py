"""``minigpt start DIR``: make a course workspace, or bring one up to date without touching the learner's work.

A workspace holds the chapter notebooks at its root (so a notebook's working
directory has ``exercises/`` next to it), the learner's ``exercises/``, a
README, and ``.minigpt/manifest.json``: the SHA-256 of every file as it was
last written. On a second run each course file is, compared with that record:

- missing and never written: **added**;
- missing but written before (the learner deleted it): **restored**, which is
  also how a learner gets a fresh copy of a file;
- as written last time, and the course has a new version: **updated**;
- anything else that differs from the course's version (edited, a notebook
  that was run or saved, a file that was there before minigpt): **kept**,
  byte for byte, and listed.

Nothing is ever deleted; a file that is no longer part of the course stays.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .course import CourseSource, chapter_title_of, course_source, notebook_bytes

MANIFEST = Path(".minigpt") / "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class StartReport:
    """What ``start_workspace`` did, file by file (paths relative to the workspace, ``/``-separated)."""

    root: Path
    new: bool  # the folder had no manifest: made now (or adopted)
    foreign: bool = False  # the folder held other files and no manifest
    added: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # differ from the course's version: left alone
    why_kept: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)  # written before, no longer in the course: left in place

    def lines(self) -> list[str]:
        """The report a person reads."""
        if self.foreign:
            out = [f"Added the course to {self.root}",
                   "  (a folder not made by `minigpt start`: what was there stays as it was)"]
        else:
            out = [f"{'Made' if self.new else 'Updated'} the course workspace {self.root}"]
        notes = {"added": "", "restored": " (it had been deleted)",
                 "updated": " (a newer version; you had not changed it)"}
        for kind in ("added", "restored", "updated"):
            out += [f"  {kind:9s}{name}{notes[kind]}" for name in getattr(self, kind)]
        out += [f"  kept     {name} (left alone: {self.why_kept[name]})" for name in self.kept]
        out += [f"  left     {name} (no longer part of the course)" for name in self.retired]
        if self.unchanged:
            out.append(f"  {len(self.unchanged)} file{'s' if len(self.unchanged) != 1 else ''} already up to date")
        return out


def course_files(source: CourseSource | None = None) -> dict[str, bytes]:
    """Every file of a fresh workspace: relative path -> bytes."""
    source = source or course_source()
    files = {"README.md": workspace_readme(source).encode("utf-8")}
    for chapter in source.chapters():
        files[f"{chapter.stem}.ipynb"] = notebook_bytes(chapter)
    for exercise in source.exercises():
        files[f"exercises/{exercise.name}"] = exercise.read_bytes()
    return files


def _read_manifest(root: Path) -> dict[str, str] | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))["files"])
    except (ValueError, KeyError, TypeError):
        return {}  # damaged: treat every file as possibly the learner's (nothing gets overwritten)


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.minigpt-tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def start_workspace(root: str | os.PathLike, source: CourseSource | None = None) -> StartReport:
    """Make (or bring up to date) the course workspace ``root``; see the module docstring."""
    source = source or course_source()
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"{root} is a file, not a folder: give `minigpt start` a folder name")
    if root == source.root:
        raise ValueError(f"{root} holds the course's own sources: make the workspace in another folder "
                         "(e.g. `minigpt start course`)")
    files = course_files(source)  # built before anything is written: a broken chapter writes nothing
    manifest = _read_manifest(root)
    report = StartReport(root, new=manifest is None,
                         foreign=manifest is None and root.is_dir() and any(root.iterdir()))
    written = dict(manifest or {})
    for name, data in files.items():
        path, new_hash, old_hash = root / name, sha256(data), (manifest or {}).get(name)
        if not path.exists():
            _write(path, data)
            (report.restored if old_hash else report.added).append(name)
            written[name] = new_hash
            continue
        current = sha256(path.read_bytes()) if path.is_file() else None
        if current == new_hash:
            report.unchanged.append(name)
            written[name] = new_hash
        elif current is not None and current == old_hash:
            _write(path, data)
            report.updated.append(name)
            written[name] = new_hash
        else:
            report.kept.append(name)
            if old_hash is None:
                why = "it was here before and differs from the course's"
            elif old_hash == new_hash:
                why = "you changed it"
            else:
                why = "you changed it; the course has a newer version"
            if old_hash != new_hash:
                why += ": to get the course's version, rename yours and run `minigpt start` again"
            report.why_kept[name] = why
    report.retired = sorted(name for name in (manifest or {}) if name not in files and (root / name).exists())
    _write(root / MANIFEST, (json.dumps({
        "about": "written by `minigpt start`: the SHA-256 of each course file as it was last written here, "
                 "so that a later run can tell your changes (kept) from files it may update",
        "files": dict(sorted(written.items()))}, indent=1) + "\n").encode("utf-8"))
    return report


def workspace_readme(source: CourseSource) -> str:
    """The workspace's README: how to work, how to grade, the chapters."""
    rows = []
    for chapter in source.chapters():
        title = chapter_title_of(chapter.read_text(encoding="utf-8")) or chapter.stem
        exercises = ", ".join(f"`exercises/{p.name}`" for p in source.exercises_of(chapter)) or "no exercise file"
        rows.append(f"- `{chapter.stem}.ipynb`: {title} ({exercises})")
    chapters = "\n".join(rows) or "- (no chapters in this version of minigpt)"
    return README.format(chapters=chapters)


README = """\
# Your minigpt course workspace

Made by `minigpt start`. The notebooks are the chapters; your code goes in
`exercises/`.

## How to work

1. Open this folder in Jupyter (`jupyter lab` here, or `jupyter lab DIR`
   from elsewhere; VS Code works too, with this environment's Python as the
   kernel) and start with the first chapter.
2. When a chapter introduces an exercise, write it in the chapter's file in
   `exercises/`: replace the `raise NotImplementedError("hint")` with your
   code and save. The notebook reloads your file, so re-running the `check`
   cell right below says PASS, FAIL (with the likely mistake) or TODO.
3. Later cells use your own pieces once they pass, and the reference (with a
   note) until then, so every chapter runs top to bottom whatever you have
   finished.

## How to grade

```bash
minigpt grade                       # every exercise here, each in a sandbox: PASS / FAIL / TODO
minigpt grade --exercise ch01       # one chapter (or one exercise: ch01.layer_norm)
minigpt grade --json grades.json    # the same, for a machine
```

Grading runs the files in `exercises/`, not the notebooks: what is saved
there is what counts. `minigpt doctor` checks that this machine has
everything the course needs.

## Chapters

{chapters}

## Updating

Run `minigpt start` on this folder again (after updating minigpt) to add new
chapters and exercises. It updates the files you have not changed and never
overwrites one you changed (it lists those). To get a fresh copy of a file,
rename or delete yours and run it again. `.minigpt/manifest.json` is how it
tells your changes from its own: leave it there.
"""
