"""``torch.compile``: the forward and a training step compile to one graph (hooks off) and give the same numbers.

Compiling on a CPU needs a C++ compiler and takes tens of seconds, so the models are tiny
and the compiling tests are marked slow. ``torch._dynamo.explain`` (tracing, no code
generation) checks for graph breaks cheaply.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from minigpt import GPT
from minigpt.attention import list_attention, supports_backward
from tests.helpers import small_config

needs_compiler = pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None,
    reason="torch.compile on the CPU needs a C++ compiler (apt-get install g++)",
)


def tiny_model(**overrides) -> GPT:
    return GPT(small_config(n_layers=2, d_model=32, n_heads=2, n_ctx=16, **overrides)).eval()


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


CASES = [(k, grad) for k in list_attention(available_only=True) for grad in (False, True)
         if not grad or supports_backward(k, "cpu")]


@pytest.mark.parametrize("kernel,grad", CASES, ids=[f"{k}-{'training' if g else 'inference'}" for k, g in CASES])
def test_forward_has_no_graph_break_without_hooks(kernel, grad):
    model = tiny_model()
    model.set_attention(kernel)
    tokens = torch.randint(0, 97, (2, 11), generator=torch.Generator().manual_seed(0))
    with torch.set_grad_enabled(grad):
        explanation = torch._dynamo.explain(model)(tokens, return_type="both")
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_a_hook_is_still_called_under_compile_tracing():
    """Hooks are the user's Python: they may break the graph, but they must still run."""
    model = tiny_model()
    seen = []
    tokens = torch.randint(0, 97, (1, 7))
    with model.hooks(fwd_hooks=[("blocks.0.attn.hook_z", lambda z, hook: seen.append(z.shape))]):
        torch._dynamo.explain(model)(tokens)
    assert seen


@pytest.mark.slow
@needs_compiler
def test_compiled_model_gives_the_same_logits_loss_and_gradients():
    """One compile (forward + backward through AOTAutograd) checks logits, loss and every gradient."""
    model = tiny_model().train()
    twin = tiny_model().train()
    tokens = torch.randint(0, 97, (2, 13), generator=torch.Generator().manual_seed(2))
    compiled = torch.compile(model, fullgraph=True)
    logits, loss = compiled(tokens, return_type="both")
    loss.backward()
    ref_logits, ref = twin(tokens, return_type="both")
    ref.backward()
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss, ref, atol=1e-5, rtol=1e-5)
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-4, msg=name)
