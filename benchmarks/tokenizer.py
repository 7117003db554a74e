"""Encode throughput of minigpt's GPT-2 tokenizer against tiktoken, offline.

    python benchmarks/tokenizer.py [--mb 6] [--repeats 3]

The text (>= 5 MB by default) is assembled from Python standard-library source
files read from disk plus multilingual prose repeated, so no download is
needed. tiktoken's ``gpt2`` encoding is built from the same vocabulary files
(``tiktoken.get_encoding("gpt2")`` would download them). Both encoders run
single-threaded on the same string, and their outputs are checked equal.

minigpt is timed twice: *cold* (a fresh tokenizer, empty pre-token cache) and
*warm* (the same text again, every pre-token cached), and once with the cache
turned off, to show what it buys.
"""

from __future__ import annotations

import argparse
import sysconfig
import time
from pathlib import Path

import tiktoken

from minigpt.tokenizer import GPT2Tokenizer, find_vocab_files
from minigpt.tokenizer.bytes_unicode import unicode_to_bytes
from minigpt.tokenizer.vocab_files import load_vocab

# The pattern tiktoken's own gpt2 encoding uses (tiktoken_ext/openai_public.py).
TIKTOKEN_GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

MULTILINGUAL = """\
Le modèle apprend à prédire le mot suivant ; c'est tout, et c'est beaucoup.
Das Modell lernt, das nächste Wort vorherzusagen – mehr nicht, und doch viel.
El modelo aprende a predecir la siguiente palabra: nada más, y sin embargo mucho.
Модель учится предсказывать следующее слово — и только, но этого много.
模型学习预测下一个词，仅此而已，但这已经很多了。
モデルは次の単語を予測することを学ぶ。それだけだが、それで十分だ。
모델은 다음 단어를 예측하는 법을 배운다. 그뿐이지만 그것으로 충분하다.
يتعلم النموذج التنبؤ بالكلمة التالية، لا أكثر، ومع ذلك فهذا كثير.
המודל לומד לחזות את המילה הבאה, לא יותר, ובכל זאת זה הרבה.
मॉडल अगले शब्द की भविष्यवाणी करना सीखता है, बस इतना ही, फिर भी यह बहुत है।
Emoji too: 🦙🚀✨ 👩‍💻 🇯🇵 — and numbers: 3.14159, 2,718,281, 1e-9.
"""


def assemble_text(megabytes: float) -> str:
    """~80 % standard-library Python source, ~20 % multilingual prose (repeated)."""
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size = 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        if size >= 0.8 * target:
            break
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        parts.append(source)
        size += len(source.encode("utf-8"))
    block = MULTILINGUAL.encode("utf-8")
    parts.append(MULTILINGUAL * max(1, (target - size) // len(block) + 1))
    return "".join(parts)


def offline_tiktoken(encoder: dict[str, int]) -> tiktoken.Encoding:
    to_byte = unicode_to_bytes()
    ranks = {bytes(to_byte[c] for c in tok): i for tok, i in encoder.items() if tok != "<|endoftext|>"}
    return tiktoken.Encoding(
        name="gpt2_local",
        pat_str=TIKTOKEN_GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
    )


def timed(fn, text: str) -> tuple[float, list[int]]:
    start = time.perf_counter()
    ids = fn(text)
    return time.perf_counter() - start, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=6.0, help="size of the text in MB (default 6)")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs; the best is kept (default 3)")
    args = parser.parse_args()

    text = assemble_text(args.mb)
    megabytes = len(text.encode("utf-8")) / 1e6
    files = find_vocab_files()
    encoder, merges = load_vocab(files)
    reference = offline_tiktoken(encoder)
    print(f"text: {megabytes:.2f} MB ({len(text):,} characters); vocabulary from {files.source}: {files.vocab.parent}")

    ours = GPT2Tokenizer(encoder, merges)  # fresh: empty cache
    cold_s, ids = timed(ours.encode_ordinary, text)
    warm_s = min(timed(ours.encode_ordinary, text)[0] for _ in range(args.repeats))
    uncached_s = timed(GPT2Tokenizer(encoder, merges, cache_size=0).encode_ordinary, text)[0]
    tik_first_s, tik_ids = timed(reference.encode_ordinary, text)
    tik_s = min(timed(reference.encode_ordinary, text)[0] for _ in range(args.repeats))
    if ids != tik_ids:
        raise SystemExit("MISMATCH: minigpt and tiktoken disagree on this text")
    info = ours._encode_piece.cache_info()

    rows = [
        ("minigpt, no cache", uncached_s),
        ("minigpt, cold cache", cold_s),
        ("minigpt, warm cache", warm_s),
        ("tiktoken, first run", tik_first_s),
        ("tiktoken, best run", tik_s),
    ]
    print(f"{len(ids):,} tokens, identical in both; {info.currsize:,} distinct pre-tokens cached")
    print(f"{'':22}{'seconds':>9}{'MB/s':>9}")
    for name, seconds in rows:
        print(f"{name:22}{seconds:9.3f}{megabytes / seconds:9.2f}")
    print(f"ratio minigpt/tiktoken (throughput): cold {tik_s / cold_s:.2f}, warm {tik_s / warm_s:.2f}")
    print(f"cache speed-up (cold time / warm time): {cold_s / warm_s:.2f}x")


if __name__ == "__main__":
    main()
