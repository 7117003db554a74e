"""The checks of every chapter's exercises; importing this package registers them all."""

from . import ch01, ch02, ch03, ch04, ch05, ch06  # noqa: F401
