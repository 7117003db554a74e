"""Loading Hugging Face GPT-2 checkpoints (every format, offline), exporting, and bad files."""

from __future__ import annotations

import json

import pytest
import torch

from minigpt import GPT
from minigpt.weights import CheckpointError
from tests.helpers import hf_twin

transformers = pytest.importorskip("transformers")

ODD = dict(n_layer=3, n_embd=96, n_head=6, n_positions=64, vocab_size=500)
UNTIED = dict(n_layer=2, n_embd=64, n_head=4, n_positions=48, vocab_size=300, tie_word_embeddings=False,
              n_inner=80, activation_function="gelu")


def assert_same_model(ours: GPT, hf, vocab: int, pos: int = 24) -> None:
    tokens = torch.randint(0, vocab, (2, pos), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (ours(tokens) - hf(tokens).logits).abs().max().item() <= 1e-4
    prompt = tokens[:1, :5]
    expected = hf.generate(prompt, max_new_tokens=20, do_sample=False, pad_token_id=0, eos_token_id=None)
    assert torch.equal(ours.generate(prompt, max_new_tokens=20, temperature=0.0, stop_at_eos=False), expected)


def hub_style_state_dict(hf) -> dict[str, torch.Tensor]:
    """As the hub's own gpt2 files: GPT2Model keys, no lm_head, causal-mask buffers."""
    sd = {k.removeprefix("transformer."): v.clone() for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    n_ctx = hf.config.n_positions
    for L in range(hf.config.n_layer):
        sd[f"h.{L}.attn.bias"] = torch.tril(torch.ones(1, 1, n_ctx, n_ctx, dtype=torch.bool))
        sd[f"h.{L}.attn.masked_bias"] = torch.tensor(-1e4)
    return sd


@pytest.mark.slow
def test_gpt2_geometry_from_save_pretrained(tmp_path):
    hf, _ = hf_twin(n_layer=12, n_embd=768, n_head=12, n_positions=1024, vocab_size=50257)
    hf.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert_same_model(GPT.from_pretrained(tmp_path), hf, 50257)


@pytest.mark.parametrize("geometry", [ODD, UNTIED], ids=["odd", "untied"])
@pytest.mark.parametrize("layout", ["safetensors", "bin", "sharded", "hub-bin", "hub-safetensors", "file"])
def test_every_checkpoint_layout_loads(tmp_path, geometry, layout):
    hf, _ = hf_twin(**geometry)
    if layout in ("safetensors", "file"):
        hf.save_pretrained(tmp_path)
    elif layout == "sharded":
        hf.save_pretrained(tmp_path, max_shard_size="200KB")
        assert (tmp_path / "model.safetensors.index.json").is_file()
    else:
        hf.config.save_pretrained(tmp_path)
        sd = hub_style_state_dict(hf) if layout.startswith("hub") else hf.state_dict()
        if not geometry.get("tie_word_embeddings", True) and layout.startswith("hub"):
            sd["lm_head.weight"] = hf.lm_head.weight.detach().clone()
        if layout.endswith("safetensors"):
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in sd.items() if not k.endswith((".attn.bias", ".masked_bias"))},
                      str(tmp_path / "model.safetensors"))
        else:
            torch.save(sd, tmp_path / "pytorch_model.bin")
    target = tmp_path / "model.safetensors" if layout == "file" else tmp_path
    model = GPT.from_pretrained(target)
    assert_same_model(model, hf, geometry["vocab_size"])


def test_dtype_device_and_attention_arguments(tmp_path):
    hf, _ = hf_twin(**ODD)
    hf.save_pretrained(tmp_path)
    model = GPT.from_pretrained(tmp_path, dtype=torch.bfloat16, device="cpu", attention="naive")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.attention == "naive" and not model.training
    assert model.blocks[0].attn.W_Q.transpose(1, 2).is_contiguous()  # the GEMM-friendly layout survives
    tokens = torch.randint(0, 500, (1, 16))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).float(), hf(tokens).logits, atol=0.1, rtol=0.05)


@pytest.mark.parametrize("geometry", [ODD, UNTIED], ids=["tied", "untied"])
def test_save_pretrained_round_trip(tmp_path, geometry):
    hf, ours = hf_twin(**geometry)
    ours.save_pretrained(tmp_path / "out")
    reloaded_hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "out").eval()
    assert_same_model(ours, reloaded_hf, geometry["vocab_size"])
    assert_same_model(GPT.from_pretrained(tmp_path / "out"), hf, geometry["vocab_size"])


def test_models_that_hf_cannot_hold_are_refused(tmp_path):
    from tests.helpers import small_config

    with pytest.raises(ValueError, match="attn_only=True"):
        GPT(small_config(attn_only=True)).save_pretrained(tmp_path)


# -- names, the cache and the network ---------------------------------------------------------
def test_a_name_is_found_in_the_hugging_face_cache(tmp_path, monkeypatch):
    hf, _ = hf_twin(**ODD)
    snapshot = tmp_path / "hub" / "models--openai-community--gpt2" / "snapshots" / "abc123"
    hf.save_pretrained(snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_same_model(GPT.from_pretrained("gpt2"), hf, 500)


def test_offline_and_not_cached_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="models--openai-community--gpt2-medium.*HF_HUB_OFFLINE"):
        GPT.from_pretrained("gpt2-medium")


def test_online_download_goes_through_the_hub_client(tmp_path, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    hf, _ = hf_twin(**ODD)
    calls = []

    def fake_snapshot_download(repo_id, cache_dir=None, allow_patterns=None):
        calls.append(repo_id)
        hf.save_pretrained(tmp_path / "downloaded")
        return str(tmp_path / "downloaded")

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert_same_model(GPT.from_pretrained("gpt2-large"), hf, 500)
    assert calls == ["openai-community/gpt2-large"]

    def no_network(*args, **kwargs):
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    with pytest.raises(CheckpointError, match="could not download 'gpt2-xl'.*Network is unreachable"):
        GPT.from_pretrained("gpt2-xl")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(CheckpointError, match="gpt2-medium.*Did you mean 'gpt2-xl'"):
        GPT.from_pretrained("gpt2-xll")


# -- bad files ----------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    hf, _ = hf_twin(**ODD)
    hf.save_pretrained(tmp_path)
    return tmp_path


def test_truncated_safetensors(saved):
    file = saved / "model.safetensors"
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated"):
        GPT.from_pretrained(saved)


def test_corrupt_safetensors(saved):
    (saved / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        GPT.from_pretrained(saved)


def test_config_that_does_not_match_the_weights(saved):
    config = json.loads((saved / "config.json").read_text())
    config["n_embd"], config["n_head"] = 128, 8
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model.safetensors.*wrong shapes.*expected.*config.json"):
        GPT.from_pretrained(saved)
    config["n_embd"], config["n_head"], config["n_layer"] = 96, 6, 4
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing 12 tensors: h\.3\."):
        GPT.from_pretrained(saved)


class Payload:  # an arbitrary object: weights_only refuses to unpickle it
    pass


def test_bin_files_that_hold_something_else(tmp_path):
    hf, _ = hf_twin(**ODD)
    hf.config.save_pretrained(tmp_path)
    torch.save({"weights": [1, 2, 3], "note": "not tensors"}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="non-tensor values"):
        GPT.from_pretrained(tmp_path)

    torch.save({"x": Payload()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        GPT.from_pretrained(tmp_path)
    torch.save(torch.zeros(3), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="not a dict of tensors"):
        GPT.from_pretrained(tmp_path)


def test_missing_pieces(tmp_path):
    hf, _ = hf_twin(**ODD)
    hf.config.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="none of the weight files"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="is it a GPT-2 config"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").unlink()
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no config.json"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        GPT.from_pretrained(tmp_path)


def test_from_pretrained_with_weight_processing(saved):
    raw = GPT.from_pretrained(saved)
    processed = GPT.from_pretrained(
        saved, fold_ln=True, center_writing_weights=True, center_unembed=True, fold_value_biases=True
    )
    assert processed.cfg.normalization_type == "LNPre" and raw.cfg.normalization_type == "LN"
    tokens = torch.randint(0, 500, (2, 30), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(
            processed(tokens).log_softmax(-1), raw(tokens).log_softmax(-1), atol=1e-4, rtol=0
        )
