"""The checks of every chapter's exercises; importing this package registers them all."""

from . import ch01  # noqa: F401
