"""minigpt: an educational, from-scratch GPT-2 in PyTorch, built for interpretability.

>>> from minigpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(n_layers=2, d_model=64, n_heads=4, d_vocab=128, n_ctx=64))
"""

from .config import GPTConfig
from .model import GPT
from .cache import ActivationCache
from .hooks import HookPoint
from .kv_cache import KVCache, StaticKVCache
from .tokenizer import get_tokenizer

__version__ = "0.1.0"

__all__ = ["GPT", "GPTConfig", "ActivationCache", "HookPoint", "KVCache", "StaticKVCache", "get_tokenizer", "__version__"]
