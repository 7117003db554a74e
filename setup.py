"""Build hook; everything else about the package is in pyproject.toml.

A wheel carries the course material, ``chapters/`` and ``exercises/``, as data of
``minigpt.workspace`` (in ``minigpt/workspace/course/``), so that ``minigpt start``
works from a non-editable install. An editable install reads the repository's folders.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
COURSE = {"chapters": "[0-9][0-9]_*.py", "exercises": "ch[0-9][0-9]_*.py"}  # as minigpt/workspace/course.py


class BuildPyWithCourse(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "minigpt" / "workspace" / "course"
        for folder, pattern in COURSE.items():
            for source in sorted((ROOT / folder).glob(pattern)):
                (target / folder).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / folder / source.name)


setup(cmdclass={"build_py": BuildPyWithCourse})
