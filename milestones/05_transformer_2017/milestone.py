"""Milestone 05 — the Transformer (2017): a character-level GPT learns to write Shakespeare.

A decoder-only transformer (4 layers, 4 heads, 128 wide, a 64-character context, 0.8 M
parameters) reads TinyShakespeare one character at a time and learns to predict the next
one. The first 90% of the text trains it, the last 10% measures it: the validation loss is
the mean cross-entropy, in nats per character, over a fixed set of held-out windows. A model
that only knew how often each letter occurs would score the unigram entropy of the text
(about 3.3 nats); the target is 1.90, where the samples start to look like verse.

Recipe: AdamW (betas 0.9/0.99, weight decay 0.1 on matrices only), a linear warm-up into a
cosine decay to a tenth of the peak rate, gradient clipping at 1.0. ``--quick`` trains for a
minute and must beat the unigram entropy by at least 0.3 nats. A time limit (on by default)
stops training early rather than overrun the 15-minute budget on a slow machine.

Threads follow TinyTorch's defaults (``tinytorch.core.parallel``): the larger matrix products
(2048 x 128 x 512 at most here) get a second BLAS thread only while no other process keeps a
core busy.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import common
import numpy as np

import tinytorch as tt
from tinytorch import nn, optim
from tinytorch.arch.gpt import GPT, gpt_char_small
from tinytorch.core.progress import progress
from tinytorch.data import TinyShakespeare

TARGET = 1.90
QUICK_MARGIN = 0.3  # --quick must beat the unigram entropy by this many nats
EVAL_BATCHES = 16   # validation windows: EVAL_BATCHES x 64, fixed by the seed


def unigram_entropy(tokens: np.ndarray, vocab_size: int) -> float:
    """Entropy in nats of the character frequencies: the loss of the best context-free model."""
    p = np.bincount(tokens, minlength=vocab_size) / len(tokens)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then a cosine decay to ``peak / 10`` at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    done = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done))))


@tt.no_grad()
def validation_loss(model: GPT, data: TinyShakespeare, starts: np.ndarray) -> float:
    """Mean cross-entropy over the fixed validation windows ``starts (batches, B)``."""
    model.eval()
    losses = [model(*data.get_batch(rows))[1].item() for rows in starts]
    model.train()
    return float(np.mean(losses))


def main() -> None:
    p = common.parser(__doc__)
    p.add_argument("--steps", type=common.positive_int,
                   help="training steps (default: 1000; --quick: 150)")
    p.add_argument("--batch-size", type=common.positive_int,
                   help="sequences per step (default: 32; --quick: 16)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default: 3e-3)")
    p.add_argument("--warmup", type=int,
                   help="warm-up steps (default: 100; --quick: 20)")
    p.add_argument("--max-minutes", type=float, default=13.0,
                   help="stop training after this long, 0 for no limit (default: 13)")
    p.add_argument("--prompt", default="ROMEO:", help="text to continue (default: 'ROMEO:')")
    p.add_argument("--max-new-tokens", type=common.positive_int, default=400,
                   help="characters to generate (default: 400)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature")
    args = p.parse_args()
    steps = args.steps or (150 if args.quick else 1000)
    batch_size = args.batch_size or (16 if args.quick else 32)
    warmup = args.warmup if args.warmup is not None else (20 if args.quick else 100)

    tt.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    config = gpt_char_small()
    train = TinyShakespeare(train=True, block_size=config.block_size, download=args.download)
    val = TinyShakespeare(train=False, block_size=config.block_size, tokenizer=train.tokenizer,
                          download=args.download)
    config.vocab_size = train.vocab_size
    entropy = unigram_entropy(train.tokens.numpy(), train.vocab_size)
    target = entropy - QUICK_MARGIN if args.quick else TARGET
    val_starts = np.random.default_rng(args.seed + 1).integers(
        0, len(val), (EVAL_BATCHES, 64))

    model = GPT(config)
    params = sum(q.numel() for q in model.parameters())
    decay = [q for q in model.parameters() if q.ndim >= 2]
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    opt = optim.AdamW([{"params": decay, "weight_decay": 0.1},
                       {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
    print(f"GPT: {params:,} parameters, vocabulary {config.vocab_size}, "
          f"{len(train.tokens):,} training / {len(val.tokens):,} validation characters; "
          f"unigram entropy {entropy:.3f} nats", flush=True)

    done = 0
    loss = float("nan")
    deadline = time.perf_counter() + 60 * args.max_minutes if args.max_minutes > 0 else math.inf
    with common.Timer() as timer:
        bar = progress(total=steps, desc="training", unit="step")
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, steps, args.lr, warmup)
            x, y = train.get_batch(rng.integers(0, len(train), batch_size))
            _, out = model(x, y)
            opt.zero_grad()
            out.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            loss = out.item()
            done += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")
            if time.perf_counter() > deadline:
                bar.write(f"time limit of {args.max_minutes:g} min reached after {done} steps")
                break
        bar.close()
        train_seconds = time.perf_counter() - timer.start
        achieved = validation_loss(model, val, val_starts)

    model.eval()
    prompt = tt.tensor([train.tokenizer.encode(args.prompt)])
    sample = train.tokenizer.decode(
        model.generate(prompt, args.max_new_tokens, temperature=args.temperature)[0].tolist())
    print("\n--- sample " + "-" * 60 + f"\n{sample}\n" + "-" * 71, flush=True)

    report = common.Report(
        milestone="05 Transformer (2017)", metric="validation loss", target=target,
        achieved=achieved, higher_is_better=False, seconds=timer.seconds, parameters=params,
        details={"steps": f"{done} x batch {batch_size} x {config.block_size} chars",
                 "s/step": f"{train_seconds / max(done, 1):.3f}",
                 "train loss": f"{loss:.3f} (last batch)",
                 "unigram": f"{entropy:.3f} nats (quick target: {QUICK_MARGIN} below it)",
                 "sample": repr(sample[:120]) + "..."},
    )
    common.exit_with(report, args.json)


if __name__ == "__main__":
    main()
