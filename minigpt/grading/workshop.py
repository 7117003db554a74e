"""Grading a room: one sub-folder per student, in parallel, resumable, with a summary for the instructor.

    minigpt grade submissions/ --out grades.csv --jobs 4

writes, next to ``grades.csv``:

- ``grades.csv``: one row per student: total, maximum, then one column per exercise;
- ``grades.json``: everything (statuses, messages, diagnoses, timings);
- ``gradescope/<student>/results.json``: Gradescope's autograder format;
- ``grades_summary.md`` and ``grades_summary.png``: the pass rate of each
  exercise and the most common diagnosed mistakes: where the room got stuck;
- ``.grades.cache.json``: each student's grade keyed by the SHA-256 of their
  files, the grader's own sources and the limits, so a re-run grades only the
  submissions that changed (and an interrupted run resumes where it stopped).

A student's folder holds their exercise files directly or in ``exercises/``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import reference
from .check import CheckResult
from .grade import GradeReport, default_jobs, grade_exercises, select_exercises
from .registry import Exercise, all_exercises
from .sandbox import Limits

GRADER_VERSION = "1"
STATUS_ORDER = ("pass", "fail", "not_implemented", "error", "timeout", "memory", "crash")


@dataclass
class WorkshopResult:
    records: dict[str, dict]  # student -> record (see ``_record``)
    exercises: list[Exercise]
    graded: list[str] = field(default_factory=list)  # graded this run
    cached: list[str] = field(default_factory=list)  # taken from the cache
    files: dict[str, Path] = field(default_factory=dict)


def student_folders(submissions_dir: str | Path) -> dict[str, Path]:
    """Student name -> the folder holding their exercise files (``<name>/`` or ``<name>/exercises/``)."""
    out = {}
    for sub in sorted(Path(submissions_dir).iterdir()):
        if sub.is_dir() and not sub.name.startswith((".", "_")):
            out[sub.name] = sub / "exercises" if (sub / "exercises").is_dir() else sub
    return out


def looks_like_submissions(folder: str | Path) -> bool:
    """Does ``folder`` hold student sub-folders (rather than exercise files)?"""
    folder = Path(folder)
    if not folder.is_dir() or any(folder.glob("*.py")):
        return False
    return any(any(f.glob("*.py")) for f in student_folders(folder).values())


def grader_fingerprint(exercises: list[Exercise]) -> str:
    """SHA-256 of the grader's version and sources, and of the reference files the exercises use."""
    h = hashlib.sha256(GRADER_VERSION.encode())
    grading = Path(__file__).parent
    sources = sorted(grading.glob("*.py")) + sorted((grading / "exercises").glob("*.py"))
    for file in sorted({ex.file for ex in exercises}):
        try:
            sources.append(Path(reference.solutions_module(file).__file__))
        except Exception:
            h.update(f"no reference for {file}".encode())
    for path in sources:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def submission_key(folder: Path, fingerprint: str, exercises: list[Exercise], limits: Limits) -> str:
    """SHA-256 of what the sandbox copies from ``folder`` (its top-level .py files) + grader + settings."""
    h = hashlib.sha256(fingerprint.encode())
    timeout = None if limits.timeout_s is None else float(limits.timeout_s)
    h.update(json.dumps([[ex.id for ex in exercises], timeout, int(limits.memory_mb)]).encode())
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            if path.is_file() and not path.is_symlink():
                h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _record(student: str, report: GradeReport, key: str) -> dict:
    return {"student": student, "score": report.score, "max_score": report.max_score, "key": key,
            "seconds": round(report.seconds, 2),
            "exercises": [{**r.to_dict(), "message": r.message, "diagnosis": r.diagnosis} for r in report.results]}


def _grader_trouble(record: dict) -> bool:
    """A grade the grader, not the student, is responsible for: not worth caching."""
    return any(e["message"].startswith("grader error") for e in record["exercises"])


def grade_submissions(submissions_dir: str | Path, out_csv: str | Path = "grades.csv", jobs: int | None = None,
                      exercise_ids: list[str] | None = None, timeout: float | None = None,
                      memory_mb: int = Limits.memory_mb, progress: bool = True,
                      fork_server: bool = True) -> WorkshopResult:
    """Grade every student's folder in ``submissions_dir`` (``jobs`` sandboxes at a time) and write the reports."""
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    students = {name: folder for name, folder in student_folders(submissions_dir).items()
                if folder.resolve() != (out_csv.parent / "gradescope").resolve()}  # our own output, if inside
    exercises = _exercises_for(students, exercise_ids)
    limits = Limits(timeout_s=timeout, memory_mb=memory_mb, fork_server=fork_server)
    fingerprint = grader_fingerprint(exercises)
    cache_file = out_csv.with_name(f".{out_csv.stem}.cache.json")
    cache = _load_cache(cache_file)
    result = WorkshopResult({}, exercises)
    todo = {}
    for name, folder in students.items():
        key = submission_key(folder, fingerprint, exercises, limits)
        if cache.get(name, {}).get("key") == key:
            result.records[name] = cache[name]
            result.cached.append(name)
        else:
            todo[name] = (folder, key)
    lock = threading.Lock()

    def grade_one(name: str) -> dict:
        folder, key = todo[name]
        start = time.monotonic()
        try:
            results = grade_exercises(exercises, folder, limits, jobs=1)
        except Exception as exc:  # never stop the batch
            results = [CheckResult(ex.id, "error", 0.0, ex.points, f"grader error: {type(exc).__name__}: {exc}")
                       for ex in exercises]
        record = _record(name, GradeReport(str(folder), results, time.monotonic() - start, exercises), key)
        with lock:
            if not _grader_trouble(record):
                cache[name] = record
                _save_json(cache_file, cache)
        return record

    jobs = jobs or default_jobs()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(students), initial=len(result.cached), desc="grading submissions", unit="student")
    try:
        with ThreadPoolExecutor(max(1, jobs), thread_name_prefix="minigpt-workshop") as pool:
            futures = {pool.submit(grade_one, name): name for name in todo}
            for future in as_completed(futures):
                result.records[futures[future]] = future.result()
                result.graded.append(futures[future])
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    result.records = {name: result.records[name] for name in students}
    result.graded.sort()
    result.files = write_reports(result, out_csv, fingerprint)
    return result


def _exercises_for(students: dict[str, Path], exercise_ids: list[str] | None) -> list[Exercise]:
    """The named exercises, else those whose file any student handed in (all, if none did)."""
    if exercise_ids:
        return select_exercises(".", exercise_ids)
    present = [ex for ex in all_exercises() if any((f / ex.file).is_file() for f in students.values())]
    return present or all_exercises()


def _load_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


# ---------------------------------------------------------------- reports


def write_reports(result: WorkshopResult, out_csv: Path, fingerprint: str = "") -> dict[str, Path]:
    ids = [ex.id for ex in result.exercises]
    with open(out_csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "total", "max_score"] + ids)
        for name, rec in result.records.items():
            scores = {e["id"]: e["score"] for e in rec["exercises"]}
            writer.writerow([name, f"{rec['score']:g}", f"{rec['max_score']:g}"]
                            + [f"{scores[i]:g}" if i in scores else "" for i in ids])
    files = {"csv": out_csv}
    files["json"] = out_csv.with_suffix(".json")
    _save_json(files["json"], {
        "grader": fingerprint,
        "exercises": [{"id": ex.id, "title": ex.title, "points": ex.points} for ex in result.exercises],
        "students": list(result.records.values()),
    })
    files["gradescope"] = out_csv.parent / "gradescope"
    for name, rec in result.records.items():
        folder = files["gradescope"] / name
        folder.mkdir(parents=True, exist_ok=True)
        report = GradeReport(name, _results(rec), rec.get("seconds", 0.0), result.exercises)
        _save_json(folder / "results.json", report.to_gradescope())
    files["summary"] = out_csv.with_name(f"{out_csv.stem}_summary.md")
    files["chart"] = out_csv.with_name(f"{out_csv.stem}_summary.png")
    files["summary"].write_text(summary_markdown(result, files["chart"].name))
    pass_rate_chart(result, files["chart"])
    return files


def _results(record: dict) -> list[CheckResult]:
    return [CheckResult(e["id"], e["status"], e["score"], e["max_score"], e["message"], e.get("diagnosis"))
            for e in record["exercises"]]


FILE_LEVEL = ("file not found", "the file does not import")


def _mistake(e: dict) -> str | None:
    """What went wrong, in words that group well across students."""
    status, message = e["status"], e["message"]
    if status == "fail":
        return e.get("diagnosis") or "wrong output, no known mistake matched"
    if status == "error":
        raised = re.search(r"raised (\w+)", message)
        if message.startswith("file not found"):
            return "file not found"
        if message.startswith("importing your file"):
            return "the file does not import" + (f" ({raised.group(1)})" if raised else "")
        if "defines no" in message:
            return "a missing or misspelled name"
        if "sys.exit" in message:
            return "called sys.exit()"
        if "MB of output" in message:
            return "printed too much"
        return f"raised {raised.group(1)}" if raised else "error"
    return {"timeout": "took too long", "memory": "used too much memory", "crash": "crashed"}.get(status)


def _mistake_counts(result: WorkshopResult) -> Counter:
    """(exercise, mistake) -> students; a whole-file problem counts once per student, as ``chNN.*``."""
    seen = set()
    for name, rec in result.records.items():
        for e in rec["exercises"]:
            why = _mistake(e)
            if why:
                where = e["id"].split(".")[0] + ".*" if why.startswith(FILE_LEVEL) else e["id"]
                seen.add((name, where, why))
    return Counter((where, why) for _, where, why in seen)


def summary_markdown(result: WorkshopResult, chart_name: str | None = None) -> str:
    n = len(result.records)
    lines = ["# Workshop summary", ""]
    if not n:
        return "\n".join(lines + ["No submissions found."]) + "\n"
    totals = sorted(rec["score"] for rec in result.records.values())
    max_score = max(rec["max_score"] for rec in result.records.values())
    mean = sum(totals) / n
    pct = 100 * mean / max_score if max_score else 0.0
    lines += [f"{n} submissions; mean score {mean:.1f} / {max_score:g} ({pct:.0f}%), median {totals[n // 2]:g}.", ""]
    if chart_name:
        lines += [f"![pass rate per exercise]({chart_name})", ""]
    lines += ["## Pass rate per exercise", "",
              "| exercise | pass rate | " + " | ".join(STATUS_ORDER).replace("not_implemented", "not impl.") + " |",
              "| --- | ---: | " + " | ".join("---:" for _ in STATUS_ORDER) + " |"]
    for ex_id, counts in _status_counts(result).items():
        rate = 100 * counts["pass"] / n
        lines.append(f"| `{ex_id}` | {rate:.0f}% | " + " | ".join(str(counts[s]) for s in STATUS_ORDER) + " |")
    mistakes = _mistake_counts(result)
    lines += ["", "## Most common mistakes", ""]
    if mistakes:
        lines += ["| students | exercise | mistake |", "| ---: | --- | --- |"]
        lines += [f"| {count} | `{ex_id}` | {' '.join(why.replace('|', '/').split())} |"
                  for (ex_id, why), count in mistakes.most_common(15)]
    else:
        lines.append("None: every attempted exercise passed.")
    broken = [name for name, rec in result.records.items()
              if rec["exercises"] and all(e["status"] in ("error", "crash") for e in rec["exercises"])]
    if broken:
        lines += ["", "## Submissions that could not be run at all", ""]
        for name in broken:
            first = result.records[name]["exercises"][0]["message"]
            lines.append(f"- **{name}**: {first[:200]}")
    return "\n".join(lines) + "\n"


def _status_counts(result: WorkshopResult) -> dict[str, Counter]:
    counts = {ex.id: Counter() for ex in result.exercises}
    for rec in result.records.values():
        for e in rec["exercises"]:
            counts.setdefault(e["id"], Counter())[e["status"]] += 1
    return counts


def pass_rate_chart(result: WorkshopResult, path: Path) -> None:
    """A horizontal bar chart of the pass rate per exercise (matplotlib, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = _status_counts(result)
    n = max(1, len(result.records))
    ids = list(counts)
    rates = [100 * counts[i]["pass"] / n for i in ids]
    fig = Figure(figsize=(7, 0.35 * len(ids) + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars = ax.barh(ids[::-1], rates[::-1], color="#2f7ed8")
    ax.bar_label(bars, labels=[f"{r:.0f}%" for r in rates[::-1]], padding=3, fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel(f"students passing (% of {len(result.records)})")
    ax.set_title("Pass rate per exercise")
    fig.savefig(path, dpi=100)
