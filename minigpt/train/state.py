"""The resume state: everything needed to continue a run exactly where it stopped.

``out/resume.pt`` holds the fp32 weights, the optimizer's moments, the schedule, the scaler,
the step (which is also the data position: batch ``s`` is drawn from a generator seeded by the
run's seed and ``s``), the random-number generators, and the history so far. Written atomically
(to a temporary file, then renamed) so a run killed while saving leaves the previous state intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch

RESUME_FILE = "resume.pt"


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": _encode_python(random.getstate())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state["numpy"] = [kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, gauss]
    except ImportError:  # numpy is optional here
        pass
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_decode_python(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))


def _encode_python(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _decode_python(state: list) -> tuple:
    version, internal, gauss = state
    return version, tuple(internal), gauss


def save_state(folder: str | os.PathLike, state: dict) -> Path:
    path = Path(folder) / RESUME_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_state(folder: str | os.PathLike, map_location="cpu") -> dict | None:
    """The resume state in ``folder``, or None when the run has none (a fresh start)."""
    path = Path(folder) / RESUME_FILE
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"could not read the resume state {path}: {exc}; delete it to start afresh") from exc
