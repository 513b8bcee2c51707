"""Generation speed of TinyTorch's GPT with and without its KV cache, same run.

    python tools/bench_kv_cache.py [--repeats N] [--new-tokens 64 256 512] [--models ...]

Greedy decoding (``top_k=1``) of one sequence from a 16-token prompt, ``model.generate(prompt,
n, top_k=1, use_cache=...)``, for n = 64, 256 and 512 new tokens, on two randomly initialised
models (vocabulary 65, float32, eval mode):

- ``milestone05``: milestone 05's character model, ``gpt_char_small()`` (4 layers, 4 heads,
  128 wide, context 64). Most of these runs lie past its context, where the cached path
  refills the cache at every step to match recomputation exactly, so little gain is expected.
- ``long``: the same width and depth with a context of 1024 (4 layers, 4 heads, 128 wide,
  block_size 1024), so that 16 + 512 tokens stay inside the context. Target: the cache at
  least 10x faster at 256 new tokens.

The reference is the same model decoding by plain recomputation (``use_cache=False``); PyTorch
has no ``generate`` of its own to compare with. The two paths take turns, one call each per
round, and each figure is the median over the rounds. TinyTorch runs with its default threads.
The script also checks that both paths produce identical tokens and prints the size of the
cache ``generate`` allocates (``KVCache.nbytes``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib

import tinytorch
from tinytorch.arch.gpt import GPT, GPTConfig, gpt_char_small

PROMPT_LEN = 16
TARGET = 10.0          # cached / plain tokens per second, long model, 256 new tokens
TARGET_NEW_TOKENS = 256

MODELS = {
    "milestone05": gpt_char_small,
    "long": lambda: GPTConfig(vocab_size=65, block_size=1024, n_layer=4, n_head=4, n_embd=128),
}


def time_generation(model: GPT, prompt: tinytorch.Tensor, new_tokens: int,
                    repeats: int) -> tuple[float, float, bool]:
    """Median seconds of ``generate`` with and without the cache (alternating, one call each per
    round), and whether the two produced the same tokens."""
    times: dict[bool, list[float]] = {True: [], False: []}
    outputs: dict[bool, np.ndarray] = {}
    for _ in range(repeats):
        for use_cache in (True, False):
            def call(use_cache: bool = use_cache) -> None:
                outputs[use_cache] = model.generate(prompt, new_tokens, top_k=1,
                                                    use_cache=use_cache).array
            times[use_cache] += benchlib.block_times(call, repeats=1, warmup=0)
    same = bool(np.array_equal(outputs[True], outputs[False]))
    return statistics.median(times[True]), statistics.median(times[False]), same


def main() -> None:
    p = argparse.ArgumentParser(
        description="Tokens per second of GPT.generate with and without the KV cache "
                    "(greedy, batch 1, 16-token prompt; medians, both paths in the same run).")
    p.add_argument("--repeats", type=int, default=3,
                   help="rounds per case; each round times one cached and one plain call, "
                        "and the median is kept (default: 3; plain decoding of 512 tokens on "
                        "the long model takes tens of seconds per call)")
    p.add_argument("--new-tokens", type=int, nargs="+", default=[64, 256, 512],
                   help="generation lengths to time (default: 64 256 512)")
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS),
                   help="models to time (default: milestone05 long)")
    args = p.parse_args()

    print("\nGPT.generate, greedy, batch 1, prompt 16 tokens: tokens/s with and without the "
          "KV cache (same run, medians)")
    header = (f"{'model':<12} {'context':>7} {'new':>5} {'plain tok/s':>12} "
              f"{'cached tok/s':>13} {'speed-up':>9} {'target':>7} {'same tokens':>12} "
              f"{'cache MB':>9}")
    print(header)
    print("-" * len(header))
    for name in args.models:
        config = MODELS[name]()
        tinytorch.manual_seed(0)
        model = GPT(config)
        model.eval()
        prompt = tinytorch.tensor(
            np.random.default_rng(0).integers(0, config.vocab_size, (1, PROMPT_LEN)))
        model.generate(prompt, 2, top_k=1)                       # first-call set-up, untimed
        model.generate(prompt, 2, top_k=1, use_cache=False)
        for new in args.new_tokens:
            megabytes = model.new_cache(1, PROMPT_LEN + new).nbytes / 2**20   # what generate makes
            cached, plain, same = time_generation(model, prompt, new, args.repeats)
            target = f"≥ {TARGET:g}" if name == "long" and new == TARGET_NEW_TOKENS else ""
            print(f"{name:<12} {config.block_size:>7} {new:>5} {new / plain:>12,.1f} "
                  f"{new / cached:>13,.1f} {plain / cached:>8.1f}x {target:>7} "
                  f"{'yes' if same else 'NO':>12} {megabytes:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
