"""``core.padding``, the one implementation of the padding modes: forward against ``np.pad``,
backward as its exact adjoint (``<pad(x), g> == <x, pad_backward(g)>``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch.core import padding

NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}


@st.composite
def cases(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...], str]:
    mode = draw(st.sampled_from(padding.MODES))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    limit = {"constant": 4, "reflect": -1, "replicate": 4, "circular": 0}[mode]
    widths = tuple((draw(st.integers(0, n + limit)), draw(st.integers(0, n + limit)))
                   if mode != "replicate" else
                   (draw(st.integers(0, limit)), draw(st.integers(0, limit))) for n in shape)
    return shape, widths, mode


@settings(max_examples=60, deadline=None)
@given(cases())
def test_pad_matches_numpy_and_its_backward_is_the_adjoint(case) -> None:
    shape, widths, mode = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    out = padding.pad(x, widths, mode, 0.0)
    np.testing.assert_array_equal(out, np.pad(x, widths, mode=NUMPY_MODE[mode]))
    g = rng.standard_normal(out.shape)
    dx = padding.pad_backward(g, widths, mode)
    assert dx.shape == x.shape
    np.testing.assert_allclose(np.vdot(out, g), np.vdot(x, dx), rtol=1e-12)


def test_constant_value_and_no_padding_returns_the_input() -> None:
    x = np.ones((2, 2), np.float32)
    out = padding.pad(x, ((1, 0), (0, 2)), "constant", -np.inf)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    assert np.isneginf(out[0]).all() and np.isneginf(out[:, 2:]).all()
    assert padding.pad(x, ((0, 0), (0, 0)), "reflect") is x


def test_source_index_examples_from_the_docstring() -> None:
    assert padding.source_index(4, 2, 1, "reflect").tolist() == [2, 1, 0, 1, 2, 3, 2]
    assert padding.source_index(4, 2, 1, "replicate").tolist() == [0, 0, 0, 1, 2, 3, 3]
    assert padding.source_index(4, 2, 1, "circular").tolist() == [2, 3, 0, 1, 2, 3, 0]
