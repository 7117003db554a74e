"""The modules that moved into ``minigpt.weights`` still import from their old paths, with a warning."""

from __future__ import annotations

import importlib
import sys

import pytest

OLD_PATHS = {  # old module -> (new module, names that must be the very same objects)
    "minigpt.hf_weights": ("minigpt.weights.hf_map", ["weight_table", "config_from_hf", "load_hf_state_dict",
                                                      "minigpt_to_hf", "WeightMismatchError"]),
    "minigpt.checkpoint_files": ("minigpt.weights.files", ["open_weights", "open_bin", "open_index", "WEIGHT_FILES"]),
    "minigpt.pretrained": ("minigpt.weights.pretrained", ["from_pretrained", "save_pretrained", "read_config"]),
    "minigpt.processing": ("minigpt.weights.processing", ["fold_ln", "process_weights", "fold_ln_state_dict"]),
}


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_an_old_path_warns_and_re_exports_the_new_objects(old, monkeypatch):
    new, names = OLD_PATHS[old]
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        module = importlib.import_module(old)
    for name in names:
        assert getattr(module, name) is getattr(importlib.import_module(new), name), name


def test_the_old_safetensors_names_are_the_shared_reader(monkeypatch):
    monkeypatch.delitem(sys.modules, "minigpt.checkpoint_files", raising=False)
    with pytest.warns(DeprecationWarning):
        from minigpt.checkpoint_files import SAFETENSORS_DTYPES, CheckpointError, open_safetensors, read_safetensors_header
    from minigpt.weights import safetensors

    assert SAFETENSORS_DTYPES is safetensors.DTYPES and CheckpointError is safetensors.CheckpointError
    assert open_safetensors is safetensors.open_safetensors and read_safetensors_header is safetensors.read_header


def test_the_old_pretrained_path_keeps_the_hub_helpers(monkeypatch):
    monkeypatch.delitem(sys.modules, "minigpt.pretrained", raising=False)
    with pytest.warns(DeprecationWarning):
        from minigpt.pretrained import HUB_NAMES, CheckpointError, cached_snapshot, hf_cache_dir, resolve
    from minigpt.weights import hub

    assert (HUB_NAMES, cached_snapshot, hf_cache_dir, resolve) == (hub.HUB_NAMES, hub.cached_snapshot,
                                                                    hub.hf_cache_dir, hub.resolve)
    assert issubclass(CheckpointError, Exception)
