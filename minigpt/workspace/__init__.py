"""A course workspace: `minigpt start`, `minigpt doctor`, chapters, and the notebook glue."""

from .notebook import exercises_folder, load_exercises, mine_or_reference, setup_notebook
from .start import start_workspace

__all__ = ["exercises_folder", "load_exercises", "mine_or_reference", "setup_notebook", "start_workspace"]
