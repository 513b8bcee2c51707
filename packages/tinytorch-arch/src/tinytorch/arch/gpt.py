"""``GPT``: a decoder-only transformer language model, readable top to bottom (after nanoGPT).

    idx (N, T) ──wte──► (N, T, E) ──+wpe──► dropout ──► n_layer × TransformerBlock (causal)
        ──► LayerNorm ──► lm_head ──► logits (N, T, V)   [+ cross-entropy against targets]

Systems view, with ``L`` layers of width ``E``, context ``T`` and vocabulary ``V``:

- parameters: ``L·(12·E² + 13·E)`` in the blocks, ``V·E`` token and ``T·E`` position
  embeddings, ``2·E`` for the final LayerNorm, and ``V·E`` more for ``lm_head`` unless it is
  tied to the token embedding (the default: the same matrix reads tokens in and scores them
  out, which saves parameters and usually helps small models).
- FLOPs per token, forward: ``L·(24·E² + 4·T·E) + 2·E·V`` (``flops_per_token``); a training
  step costs about three times that (backward is two matrix products per forward one).
- memory: activations dominate training, roughly ``L·N·T·(16·E + 2·H·T)`` saved floats.

``generate`` samples autoregressively. Plain recomputation (``use_cache=False``) reruns the
model on the last ``block_size`` tokens for every new one: ``L·(24·E² + 4·T·E)·T`` FLOPs per
token. With a ``KVCache`` (the default) the prompt runs once (the prefill) and each further
token runs alone through every layer at its absolute position, attending over the cached keys
and values: ``L·(24·E² + 4·T·E)`` FLOPs per token, for ``2·L·N·T·E`` cached numbers. Past
``block_size`` tokens the cache is refilled at every step, so that both paths see the same
positions (``generate`` says why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import tinytorch
from tinytorch.arch._kernels.decode import decode_gpt
from tinytorch.arch.embedding import Embedding
from tinytorch.arch.kv_cache import KVCache
from tinytorch.arch.positional import LearnedPositionalEmbedding, RotaryEmbedding
from tinytorch.arch.transformer import TransformerBlock
from tinytorch.core.dtypes import dtype_name
from tinytorch.core.random import generator
from tinytorch.core.reference import reference_kernels_enabled
from tinytorch.core.tensor import Tensor
from tinytorch.nn import Dropout, LayerNorm, Linear, Module, ModuleList, init
from tinytorch.nn import functional as F

# the position encodings the fused decode kernel adds itself: a learned table, or none (rotary
# positions are applied inside the blocks)
_ARRAY_POSITIONS = (LearnedPositionalEmbedding, type(None))


def _check_ids(idx: Tensor, vocab_size: int) -> None:
    """What ``Embedding`` checks before its lookup, for the kernel path that skips it."""
    ids = idx.array
    if ids.dtype.kind not in "iu":
        raise RuntimeError(f"forward_cached: expected token ids of an integer dtype, got "
                           f"{dtype_name(ids.dtype)}")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise IndexError(f"forward_cached: token ids must be in [0, {vocab_size}), got "
                         f"values from {int(ids.min())} to {int(ids.max())}")


@dataclass
class GPTConfig:
    """The shape of a GPT. The defaults are the character-level model of milestone 05."""

    vocab_size: int = 65       # V: number of token ids
    block_size: int = 64       # T: the longest context the model sees
    n_layer: int = 4           # L: transformer blocks
    n_head: int = 4            # H: attention heads per block (n_embd % n_head == 0)
    n_embd: int = 128          # E: width of the residual stream
    dropout: float = 0.0       # on embeddings, attention weights and residual branches
    bias: bool = True          # biases in Linear and LayerNorm layers
    tie_weights: bool = True   # lm_head shares the token-embedding matrix
    rotary: bool = False       # rotary position embeddings instead of a learned table

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.rotary and (self.n_embd // self.n_head) % 2:
            raise ValueError(f"rotary embeddings need an even head size, got "
                             f"n_embd/n_head = {self.n_embd // self.n_head}")


class GPT(Module):
    """A GPT language model: ``forward(idx, targets=None) -> (logits, loss)``.

    ``idx`` and ``targets`` are ``(N, T)`` int64 token ids with ``T <= block_size``; ``logits``
    is ``(N, T, vocab_size)``; ``loss`` is the mean cross-entropy of predicting ``targets`` (None
    without targets). Train it with any optimizer, e.g.
    ``tinytorch.optim.AdamW(model.parameters(), lr=1e-3)``.

    Size (see the module docstring for the formulas): the default ``GPTConfig()``, milestone
    05's model, has 809,856 parameters and costs 1.72 MFLOP per token forward
    (``flops_per_token()``), about 10.6 GFLOP for a training step on 32 × 64 tokens.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = c = config
        self.wte = Embedding(c.vocab_size, c.n_embd)
        rotary = RotaryEmbedding(c.n_embd // c.n_head, c.block_size) if c.rotary else None
        self.wpe = None if c.rotary else LearnedPositionalEmbedding(c.block_size, c.n_embd)
        self.drop = Dropout(c.dropout)
        self.blocks = ModuleList([
            TransformerBlock(c.n_embd, c.n_head, dropout=c.dropout, bias=c.bias, causal=True,
                             rotary=rotary)
            for _ in range(c.n_layer)
        ])
        self.ln_f = LayerNorm(c.n_embd, bias=c.bias)
        self.lm_head = Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2's initialisation: N(0, 0.02) weights and embeddings, zero biases, and the two
        projections that write into the residual stream scaled by ``1/sqrt(2·n_layer)`` so the
        stream's variance does not grow with depth."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                init.zeros_(p)
            elif p.ndim >= 2:
                residual = name.endswith(("attn.out_proj.weight", "mlp.proj.weight"))
                init.normal_(p, 0.0, residual_std if residual else 0.02)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        n, t = idx.shape
        if t > self.config.block_size:
            raise ValueError(f"cannot forward a sequence of length {t}: the block size is "
                             f"only {self.config.block_size} (idx of shape {(n, t)})")
        x = self.wte(idx)                                   # (N, T, E)
        if self.wpe is not None:
            x = self.wpe(x)                                 # + position table rows 0..T-1
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)                                    # (N, T, E)
        logits = self.lm_head(self.ln_f(x))                 # (N, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(n * t, self.config.vocab_size),
                                   targets.reshape(n * t))
        return logits, loss

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty ``KVCache`` for ``batch_size`` sequences of up to ``max_len`` tokens (at
        most and by default ``block_size``), in the model's dtype:
        ``2·n_layer·batch_size·max_len·n_embd`` numbers."""
        c = self.config
        max_len = c.block_size if max_len is None else min(max_len, c.block_size)
        return KVCache(c.n_layer, batch_size, c.n_head, max_len, c.n_embd // c.n_head,
                       dtype=self.wte.weight.dtype)

    @tinytorch.no_grad()
    def forward_cached(self, idx: Tensor, cache: KVCache) -> Tensor:
        """Logits ``(N, T, V)`` for ``idx (N, T)`` at positions ``cache.length ..
        cache.length + T - 1``, with the earlier positions read from ``cache``.

        The new positions' keys and values are appended to ``cache``. The logits equal the
        last ``T`` rows of ``forward`` on the whole sequence so far, which must fit in
        ``block_size``. Records no graph.
        """
        c = self.config
        n, t = idx.shape
        past = cache.length
        want = (c.n_layer, n, c.n_head, c.block_size, c.n_embd // c.n_head)
        if cache.keys.shape[:3] != want[:3] or cache.keys.shape[4] != want[4]:
            raise RuntimeError(f"forward_cached: a cache of shape {cache.keys.shape} does not "
                               f"fit this model and idx of shape {(n, t)}; expected {want} "
                               "(see new_cache)")
        if past + t > c.block_size:
            raise ValueError(f"forward_cached: positions {past}..{past + t - 1} (idx of shape "
                             f"{(n, t)} after {past} cached) exceed the block size "
                             f"{c.block_size}")
        if (not reference_kernels_enabled() and not (self.training and c.dropout > 0)
                and self.wte.max_norm is None and isinstance(self.wpe, _ARRAY_POSITIONS)):
            _check_ids(idx, c.vocab_size)
            return Tensor._wrap(decode_gpt(self, idx.array, cache))   # the fused kernel
        x = self.wte(idx)                                   # (N, T, E)
        if self.wpe is not None:
            x = self.wpe(x, offset=past)                    # + position rows past..past+T-1
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block.forward_cached(x, cache, layer)       # (N, T, E)
        cache.advance(t)
        return self.lm_head(self.ln_f(x))                   # (N, T, V)

    @tinytorch.no_grad()
    def next_token_logits(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """Logits ``(N, V)`` of the token after ``idx (N, T)``, seeing its last ``block_size``
        tokens at positions ``0, 1, ...``, as ``forward`` on that window does.

        Without ``cache`` the window is recomputed. With one, ``cache`` must be empty or hold
        exactly ``idx[:, :-1]`` (as the previous call on this sequence left it). While the
        sequence fits in ``block_size`` only the last token runs (the first call prefills the
        whole prompt). Past the context the window slides and every token's position shifts
        by one, so no cached key is valid any more: the cache is refilled from the window,
        which costs what recomputation costs.
        """
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"next_token_logits: expected idx of shape (N, T) with T >= 1, "
                             f"got {tuple(idx.shape)}")
        t = idx.shape[1]
        block = self.config.block_size
        window = Tensor._wrap(idx.array[:, -block:])
        if cache is None:
            logits, _ = self(window)
        elif cache.length == t - 1 and t <= block:
            logits = self.forward_cached(Tensor._wrap(idx.array[:, -1:]), cache)
        else:
            cache.reset()
            logits = self.forward_cached(window, cache)
        return logits[:, -1]

    @tinytorch.no_grad()
    def generate(self, idx: Tensor, max_new_tokens: int, *, use_cache: bool = True,
                 temperature: float = 1.0, top_k: int | None = None) -> Tensor:
        """Extend ``idx (N, T0)`` by ``max_new_tokens`` sampled ids -> ``(N, T0 + max_new_tokens)``.

        Each step takes the logits after the last ``block_size`` tokens, divides them by
        ``temperature``, keeps the ``top_k`` largest (all when None or at least the vocabulary
        size; ``top_k=1`` is greedy decoding) and samples from the softmax with the global
        generator, so a run is reproducible under ``tinytorch.manual_seed``. Call
        ``model.eval()`` first to switch dropout off.

        ``use_cache=True`` keeps every layer's keys and values in a ``KVCache`` (``new_cache``:
        ``2·n_layer·N·P·n_embd`` numbers, ``P = min(T0 + max_new_tokens, block_size)``): the
        prompt is processed once, then each step runs one token per row through the model at
        its absolute position. Once the sequence outgrows ``block_size`` the window slides:
        recomputation reruns the last ``block_size`` tokens from position 0, so every token
        moves to a new position (a new learned position embedding) and no longer sees the
        token that fell out of the window; no cached key or value stays valid. To give
        exactly recomputation's logits, the cache is then refilled from the window at every
        step: past the context a step costs one prefill of ``block_size`` tokens, the same as
        ``use_cache=False``, and the cache saves work only while the sequence fits. Both
        paths give the same tokens (their logits agree to rounding).

        ``idx`` must hold integer ids with at least one token per row (the model has no
        start token to predict from); ``max_new_tokens=0`` returns a copy of ``idx``. Logits
        that are NaN or infinite (a model whose weights diverged) raise a RuntimeError rather
        than being sampled.
        """
        max_new_tokens = _check_generate_args(idx, max_new_tokens, temperature, top_k)
        out = np.array(idx.array, dtype=np.int64)
        n, t0 = out.shape
        cache = self.new_cache(n, t0 + max_new_tokens) if use_cache and max_new_tokens else None
        for step in range(max_new_tokens):
            last = self.next_token_logits(Tensor._wrap(out), cache).array          # (N, V)
            broken = ~np.isfinite(last).all(axis=-1)                          # (N,)
            if broken.any():
                raise RuntimeError(
                    f"generate: the logits at step {step} are not finite (NaN or inf) in rows "
                    f"{np.flatnonzero(broken)[:8].tolist()} of idx {tuple(idx.shape)}; the "
                    "model's weights are probably NaN or inf (a diverged training run?)")
            scaled = last.astype(np.float64) / temperature
            out = np.concatenate([out, sample_next(scaled, top_k)[:, None]], axis=1)
        return Tensor._wrap(out)

    def flops_per_token(self) -> int:
        """Forward FLOPs per token at full context: ``L·(24·E² + 4·T·E) + 2·E·V``."""
        c = self.config
        e = c.n_embd
        return c.n_layer * (24 * e * e + 4 * c.block_size * e) + 2 * e * c.vocab_size


def _check_generate_args(idx: Tensor, max_new_tokens: int, temperature: float,
                         top_k: int | None) -> int:
    """``generate``'s argument checks; returns ``max_new_tokens`` as an int."""
    if not isinstance(idx, Tensor):
        raise TypeError(f"generate: idx must be a Tensor of token ids, got "
                        f"{type(idx).__name__}")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"generate: expected idx to hold integer token ids (Long or Int), "
                           f"got {dtype_name(idx.dtype)} of shape {tuple(idx.shape)}; a float "
                           "prompt would be truncated to ids silently")
    if idx.ndim != 2:
        raise ValueError(f"generate: expected idx of shape (N, T), got {tuple(idx.shape)}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)):
        raise TypeError(f"generate: max_new_tokens must be an int, got "
                        f"{type(max_new_tokens).__name__}")
    if max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be >= 0, got {max_new_tokens}")
    if max_new_tokens and idx.shape[1] == 0:
        raise ValueError(f"generate: idx of shape {tuple(idx.shape)} has no tokens; give each "
                         "row at least one token of context to predict from")
    if not (isinstance(temperature, (int, float, np.floating)) and math.isfinite(temperature)
            and temperature > 0):
        raise ValueError(f"temperature must be a finite positive number, got {temperature!r}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
            raise TypeError(f"top_k must be an int or None, got {type(top_k).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
    return int(max_new_tokens)


def sample_next(logits: np.ndarray, top_k: int | None) -> np.ndarray:
    """One id per row of ``logits (N, V)``: top-k filter, softmax, inverse-CDF sampling."""
    v = logits.shape[-1]
    if top_k is not None and top_k < v:
        kth = np.partition(logits, v - top_k, axis=-1)[:, v - top_k, None]   # (N, 1)
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cdf = np.cumsum(probs, axis=-1)
    u = generator().random((logits.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=-1), v - 1).astype(np.int64)


def gpt_nano(vocab_size: int = 65) -> GPTConfig:
    """A 2-layer, 2-head, 32-wide GPT with a 16-token context, for tests and quick checks.

    28,064 parameters (with V=65, tied); 0.06 MFLOP per token forward.
    """
    return GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32)


def gpt_char_small(vocab_size: int = 65) -> GPTConfig:
    """Milestone 05's character model: 4 layers, 4 heads, 128 wide, 64-token context.

    809,856 parameters (with V=65, tied); 1.72 MFLOP per token forward.
    """
    return GPTConfig(vocab_size=vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128)


def gpt_char_medium(vocab_size: int = 65) -> GPTConfig:
    """nanoGPT's Shakespeare-character recipe: 6 layers, 6 heads, 384 wide, 256-token context,
    dropout 0.2.

    10,770,816 parameters (with V=65, tied); 23.6 MFLOP per token forward.
    """
    return GPTConfig(vocab_size=vocab_size, block_size=256, n_layer=6, n_head=6, n_embd=384,
                     dropout=0.2)
