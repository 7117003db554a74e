"""The matplotlib twins of the intervention views: a Figure each, the same data, PNG with no display."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from minigpt import GPT, GPTConfig
from minigpt.interp import CausalTrace, logit_lens
from minigpt.viz import plot_causal_trace, plot_logit_lens, plot_patching


@pytest.fixture(scope="module")
def byte_model() -> GPT:
    return GPT(GPTConfig(n_layers=2, d_model=16, n_heads=2, d_vocab=256, n_ctx=32, tokenizer="bytes",
                         bos_token_id=0, seed=0)).eval()


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")   # Agg, through the Figure's own canvas: no pyplot, no display
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    return buffer.getvalue()


def test_logit_lens_plot(byte_model):
    text = "Paris"
    fig = plot_logit_lens(byte_model, text)
    ax = fig.axes[0]
    png(fig)
    tokens = byte_model.to_str_tokens(text)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L0", "L1", "out"]     # origin lower: out on top
    assert [t.get_text() for t in ax.get_xticklabels()] == [repr(t)[1:-1] for t in tokens]
    lens = logit_lens(byte_model, byte_model.to_tokens(text))[:, 0]              # [3 pos d_vocab]
    assert np.allclose(ax.images[0].get_array(), lens.max(-1).values.exp(), atol=1e-6)
    assert len(ax.texts) == 3 * len(tokens)                                      # the top token in every cell
    assert fig.axes[1].get_ylabel() == "top-1 probability"


def test_patching_plot_is_symmetric_about_zero():
    results = torch.tensor([[0.5, -3.0, 1.0], [0.0, 2.0, 1.0]])
    fig = plot_patching(results, x_labels=["a", " b", "c"], title="resid_pre", label="logit diff")
    ax = fig.axes[0]
    png(fig)
    assert ax.images[0].get_clim() == (-3.0, 3.0) and ax.images[0].get_cmap().name == "RdBu_r"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("position", "layer", "resid_pre")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", " b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["L0", "L1"]
    assert fig.axes[1].get_ylabel() == "logit diff"
    heads = plot_patching(torch.zeros(3, 4), kind="layer_head").axes[0]
    assert heads.get_xlabel() == "head" and heads.images[0].get_clim() == (-1.0, 1.0)


@pytest.mark.parametrize("kind, cmap", [("resid", "Purples"), ("mlp", "Greens"), ("attn", "Reds")])
def test_causal_trace_plot_as_in_the_rome_paper(kind, cmap):
    trace = CausalTrace(effects=torch.tensor([[0.0, 0.5, 0.1], [0.2, 0.0, 0.6]]), p_clean=0.9, p_corrupted=0.2,
                        tokens=torch.tensor([5, 6, 7]), subject_positions=[1], answer=9, kind=kind, window=3,
                        noise=0.1)
    fig = plot_causal_trace(trace, ["The", " Eiffel", " is"], answer=" Paris")
    ax = fig.axes[0]
    png(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["The", " Eiffel*", " is"]   # tokens down, subject *
    assert np.allclose(ax.images[0].get_array(), (trace.effects + 0.2).T)             # layers across
    assert ax.images[0].get_cmap().name == cmap and ax.images[0].get_clim()[0] == pytest.approx(0.2)
    assert kind in ax.get_title() and "p_clean = 0.9" in ax.get_title()
    assert fig.axes[1].get_ylabel() == "p(' Paris')"
