"""A live classroom: learners' checks reach the instructor's page as they happen.

The learner's side (standard library only): :func:`join` a room from the workspace, and from
then on every ``check()`` and ``minigpt grade`` result is reported in the background
(:func:`report_results`; the outbox in :mod:`.queue` keeps what the server has not
acknowledged); :func:`submit` uploads the exercise files; :func:`leave` stops it all. The
server (``minigpt classroom serve``) is :mod:`minigpt.classroom.server`, the optional extra
``minigpt-interp[classroom]``.

>>> from minigpt.classroom import join, leave, report_results, submit
"""

from ._http import ClassroomError, ServerRefused, ServerUnreachable
from .client import exercise_files, join, joined, leave, status, submission, submit, wait_for_grade
from .membership import Membership, load_membership, parse_join_url, workspace_root
from .report import Delivery, flush, report_results, result_payload

__all__ = ["ClassroomError", "Delivery", "Membership", "ServerRefused", "ServerUnreachable", "exercise_files",
           "flush", "join", "joined", "leave", "load_membership", "parse_join_url", "report_results",
           "result_payload", "status", "submission", "submit", "wait_for_grade", "workspace_root"]
