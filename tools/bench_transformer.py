"""Benchmarks of tinytorch-arch's sequence models against PyTorch on this machine, same run.

    python tools/bench_transformer.py [--repeats N]

- attention forward + backward, causal, B=32, H=4, T=64, D=32 (float32), against
  ``torch.nn.functional.scaled_dot_product_attention``. Target ratio ≤ 1.5.
- one training step of milestone 05's GPT (4 layers, 4 heads, 128 wide, context 64, batch 32):
  forward, cross-entropy, backward, AdamW step. PyTorch runs the same architecture (pre-norm
  blocks of ``nn.MultiheadAttention`` and a GELU MLP, tied embeddings). Target ratio ≤ 1.5.
- both again, TinyTorch only, with its fast kernels and with their plain references
  (``tinytorch.use_reference_kernels``): each kernel's gain.
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib
from benchlib import Case

import tinytorch
from tinytorch.arch.attention import scaled_dot_product_attention
from tinytorch.arch.gpt import GPT, gpt_char_small


def attention_case(b: int = 32, h: int = 4, t: int = 64, d: int = 32) -> Case:
    """Causal scaled dot-product attention, forward + backward into q, k and v."""
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((b, h, t, d), dtype=np.float32) for _ in range(4))

    def ours():
        tq, tk, tv = (tinytorch.tensor(a, requires_grad=True) for a in (q, k, v))
        tg = tinytorch.tensor(g)

        def step():
            tq.grad = tk.grad = tv.grad = None
            out = scaled_dot_product_attention(tq, tk, tv, is_causal=True)
            out.backward(tg)
            return [out.array, tq.grad.array, tk.grad.array, tv.grad.array]
        return step

    def theirs():
        import torch
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        tg = torch.tensor(g)

        def step():
            tq.grad = tk.grad = tv.grad = None
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True) \
                .backward(tg)
        return step

    return Case(f"attention fwd+bwd causal B={b} H={h} T={t} D={d}", ours, theirs, target=1.5)


def torch_gpt(torch, vocab: int, block: int, layers: int, heads: int, width: int):
    """The milestone's GPT written directly in PyTorch (same layers, same shapes)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(width)
            self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
            self.ln_2 = nn.LayerNorm(width)
            self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(approximate="tanh"),
                                     nn.Linear(4 * width, width))
            self.register_buffer("mask", torch.triu(torch.ones(block, block, dtype=torch.bool), 1))

        def forward(self, x):
            h = self.ln_1(x)
            a, _ = self.attn(h, h, h, need_weights=False, attn_mask=self.mask, is_causal=True)
            x = x + a
            return x + self.mlp(self.ln_2(x))

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab, width)
            self.wpe = nn.Parameter(torch.randn(block, width) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(width)
            self.lm_head = nn.Linear(width, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe
            logits = self.lm_head(self.ln_f(self.blocks(x)))
            return nn.functional.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))

    return Model()


def gpt_step_case(batch: int = 32) -> Case:
    """One AdamW training step of milestone 05's character GPT on random token windows."""
    config = gpt_char_small()
    rng = np.random.default_rng(0)
    x = rng.integers(0, config.vocab_size, (batch, config.block_size))
    y = rng.integers(0, config.vocab_size, (batch, config.block_size))

    def ours():
        tinytorch.manual_seed(0)
        model = GPT(config)
        opt = tinytorch.optim.AdamW(model.parameters(), lr=1e-3)
        tx, ty = tinytorch.tensor(x), tinytorch.tensor(y)

        def step():
            _, loss = model(tx, ty)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return [loss.array]                      # what kernel_vs_reference checks
        return step

    def theirs():
        import torch
        torch.manual_seed(0)
        model = torch_gpt(torch, config.vocab_size, config.block_size, config.n_layer,
                          config.n_head, config.n_embd)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        tx, ty = torch.tensor(x), torch.tensor(y)

        def step():
            loss = model(tx, ty)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step

    return Case(f"GPT train step (milestone 05, batch {batch})", ours, theirs, target=1.5)


def cases() -> list[Case]:
    return [
        attention_case(),
        gpt_step_case(),
    ]


def main() -> None:
    args = benchlib.arg_parser(__doc__.splitlines()[0]).parse_args()
    selected = cases()
    for c in selected:
        c.repeats = args.repeats
    benchlib.run(selected, "tinytorch-arch sequence models vs PyTorch (CPU, same run; "
                           "ratio = ours / theirs)")
    benchlib.kernel_vs_reference(selected, "The same cases on TinyTorch's attention kernels vs "
                                           "their references")


if __name__ == "__main__":
    main()
