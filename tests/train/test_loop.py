"""The loop: history rows, evaluation, checkpoints and snapshots, exact resume, devices and precisions."""

from __future__ import annotations

import json

import pytest
import torch
from tests.train.tiny_models import _one_thread, counting_sampler, tiny_model  # noqa: F401  (_one_thread: an autouse fixture)

from minigpt.checkpoints import list_snapshots, load_checkpoint, load_history
from minigpt.train import Precision, TrainConfig, batch_generator, pick_device, train


def cfg(**changes) -> TrainConfig:
    base = TrainConfig(steps=12, batch_size=8, lr=1e-2, warmup_steps=3, eval_every=4, progress=False)
    return base.replace(**changes)


def test_history_has_a_row_per_evaluation_with_the_eval_metrics(tmp_path):
    calls = []

    def probe(model):
        calls.append(model.training)
        return {"probe": 1.5}

    result = train(tiny_model(), counting_sampler, cfg(steps=10), evals=[probe])
    assert [r["step"] for r in result.history] == [0, 4, 8, 10]  # the end gets a row too
    assert all(r["probe"] == 1.5 for r in result.history) and calls == [False] * 4  # eval mode
    assert "train_loss" not in result.history[0] and result.history[-1]["train_loss"] < result.history[1]["train_loss"]
    assert not result.model.training


def test_it_learns_a_learnable_task():
    result = train(tiny_model(), counting_sampler, cfg(steps=60, eval_every=60, lr=3e-2))
    assert result.history[-1]["train_loss"] < 0.5  # from ~log(13) = 2.6: counting is easy


def test_checkpoint_round_trip(tmp_path):
    out = tmp_path / "run"
    result = train(tiny_model(), counting_sampler, cfg(snapshot_every=4), out=out, recipe="tiny",
                   meta={"command": "python test"})
    loaded = load_checkpoint(out)
    tokens = counting_sampler(torch.Generator().manual_seed(5), 3)
    assert torch.equal(loaded(tokens), result.model(tokens))
    assert load_history(out)["rows"] == json.loads(json.dumps(result.history))
    info = json.loads((out / "train.json").read_text())
    assert info["recipe"] == "tiny" and info["seed"] == 0 and info["command"] == "python test" and info["finished"]
    assert info["config"]["steps"] == 12 and info["wall_s"] > 0 and info["cpu_s"] > 0
    assert list_snapshots(out) == [0, 4, 8, 12]
    assert (out / "resume.pt").is_file()


def test_fresh_run_clears_the_previous_runs_snapshots(tmp_path):
    train(tiny_model(), counting_sampler, cfg(snapshot_every=3), out=tmp_path)
    train(tiny_model(), counting_sampler, cfg(snapshot_every=4), out=tmp_path)
    assert list_snapshots(tmp_path) == [0, 4, 8, 12]


@pytest.mark.parametrize("data", ["sampler", "iterable"])
def test_resume_continues_exactly(tmp_path, data):
    def batches():
        if data == "sampler":
            return counting_sampler
        return (counting_sampler(batch_generator(7, s), 8) for s in range(10**6))

    def loss_metric(model):
        return {"fixed_loss": model(counting_sampler(torch.Generator().manual_seed(0), 4), return_type="loss")}

    straight = train(tiny_model(), batches(), cfg(checkpoint_every=5), evals=[loss_metric], out=tmp_path / "a")
    part = train(tiny_model(), batches(), cfg(), evals=[loss_metric], out=tmp_path / "b", stop_at=7)
    assert part.step == 7 and not part.info["finished"]
    resumed = train(tiny_model(seed=99), batches(), cfg(), evals=[loss_metric], out=tmp_path / "b", resume=True)
    assert resumed.step == 12
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name
    strip = lambda rows: [{k: v for k, v in r.items() if k != "time_s"} for r in rows]  # noqa: E731
    assert strip(resumed.history) == strip(straight.history)


def test_resume_without_a_state_starts_afresh(tmp_path):
    a = train(tiny_model(), counting_sampler, cfg(), out=tmp_path / "a", resume=True)
    b = train(tiny_model(), counting_sampler, cfg())
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))


def test_device_auto_is_cpu_without_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    assert Precision.choose("auto", torch.device("cpu")) == Precision(torch.float32)
    result = train(tiny_model(), counting_sampler, cfg(steps=2, device="auto"))
    assert result.info["device"] == "cpu" and result.info["precision"] == "float32"


def test_device_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")


def test_asking_for_a_missing_gpu_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA"):
        pick_device("cuda")


def test_precisions():
    assert Precision.choose("fp16", torch.device("cpu")).scaler
    assert not Precision.choose("bfloat16", torch.device("cpu")).scaler
    with pytest.raises(ValueError, match="unknown dtype"):
        Precision.choose("fp8", torch.device("cpu"))


def test_bf16_autocast_trains_on_cpu():
    result = train(tiny_model(), counting_sampler, cfg(steps=4, dtype="bfloat16"))
    assert result.info["precision"] == "bfloat16" and torch.isfinite(torch.tensor(result.history[-1]["train_loss"]))
    assert result.model.W_E.dtype == torch.float32  # weights stay fp32 under autocast


def test_resuming_with_other_settings_warns(tmp_path):
    train(tiny_model(), counting_sampler, cfg(), out=tmp_path, stop_at=4)
    with pytest.warns(UserWarning, match="changed settings.*lr"):
        train(tiny_model(), counting_sampler, cfg(lr=0.5), out=tmp_path, resume=True)


def test_threads_are_set_for_the_run_and_restored():
    seen, before = [], torch.get_num_threads()
    result = train(tiny_model(), counting_sampler, cfg(steps=1, threads=before + 1),
                   evals=[lambda model: seen.append(torch.get_num_threads()) or {}])
    assert seen == [before + 1] * 2 and result.info["threads"] == before + 1 and torch.get_num_threads() == before
