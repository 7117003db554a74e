"""Placeholder: the sub-commands of this package (filled in by its owner)."""

COMMANDS: tuple[str, ...] = ()


def add_parsers(sub) -> None:
    pass


def run(args) -> int:
    return 0
