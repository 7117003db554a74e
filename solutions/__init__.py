"""Reference implementations of every exercise: the single source that exercises/ is built from."""
