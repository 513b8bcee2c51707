"""Affine quantization: the map between float32 values and 8-bit integers, and back.

A float ``x`` is stored as an integer ``q`` with a scale ``s`` and a zero point ``z``:
``x ≈ s·(q - z)``. Everything here is elementwise, ``O(numel)`` work and bytes.

The formats, chosen to be the ones onnxruntime's CPU provider runs as integer kernels
(``DynamicQuantizeLinear`` + ``MatMulInteger``, and ``QLinearMatMul`` / ``QLinearConv``, which
its graph optimiser builds from QuantizeLinear/DequantizeLinear pairs):

- **Activations: uint8, asymmetric, one (scale, zero point) per tensor.** The range
  ``[min(lo, 0), max(hi, 0)]`` is spread over 0..255 so that 0.0 is exactly one integer, the
  zero point: zero padding and ReLU's zeros then cost no error. ``DynamicQuantizeLinear``
  produces only uint8, and onnxruntime's integer GEMMs are built around uint8 activations
  times int8 weights (it shifts int8 activations to uint8 itself).
- **Weights: int8, symmetric, one scale per output channel.** ``s_o = max|w_o| / 127``, zero
  point 0, values in [-127, 127] (onnxruntime's symmetric range), so ``-w`` is representable
  and the weight side of every product needs no zero-point correction. One scale per channel
  instead of one per tensor keeps a channel with small weights from being rounded to zero by
  a neighbour with large ones; it costs ``4·C_out`` bytes.
- **Bias: int32** with scale ``s_in·s_w[o]`` and zero point 0, so it adds straight into the
  int32 accumulator.
- **Requantization** of an int32 accumulator to the uint8 output, as onnxruntime's
  QLinearMatMul/QLinearConv do it: ``q = saturate(round(acc · m) + z_out)`` with the float32
  multiplier ``m = s_in·s_w / s_out`` and round-half-to-even.

Rounding everywhere is ``np.rint``: round half to even, as ONNX's QuantizeLinear specifies.
"""

from __future__ import annotations

import numpy as np

# A scale or zero point: one number (per tensor) or an array (per channel).
Scale = float | np.floating | np.ndarray
ZeroPoint = int | np.integer | np.ndarray

ACTIVATION_DTYPE = np.dtype(np.uint8)
ACTIVATION_QMIN, ACTIVATION_QMAX = 0, 255
WEIGHT_DTYPE = np.dtype(np.int8)
WEIGHT_QMAX = 127                      # symmetric: weights use [-127, 127]
BIAS_DTYPE = np.dtype(np.int32)
_INT32 = np.iinfo(np.int32)
_F32 = np.float32


def activation_qparams(lo: float, hi: float) -> tuple[np.float32, np.uint8]:
    """The uint8 (scale, zero point) for values in ``[lo, hi]``, widened to contain 0.

    As ``DynamicQuantizeLinear``: ``s = (max(hi, 0) - min(lo, 0)) / 255`` in float32,
    ``z = saturate(round(-min(lo, 0) / s))``. An all-zero range gets ``s = 1`` (every value
    is then the zero point).
    """
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"cannot quantize a range with non-finite ends [{lo}, {hi}]")
    lo32, hi32 = min(_F32(lo), _F32(0)), max(_F32(hi), _F32(0))
    scale = (hi32 - lo32) / _F32(ACTIVATION_QMAX - ACTIVATION_QMIN)
    if scale == 0:
        scale = _F32(1)
    zero_point = np.clip(np.rint(_F32(ACTIVATION_QMIN) - lo32 / scale),
                         ACTIVATION_QMIN, ACTIVATION_QMAX)
    return _F32(scale), np.uint8(zero_point)


def quantize(x: np.ndarray, scale: Scale, zero_point: ZeroPoint) -> np.ndarray:
    """float (*) -> uint8 (*): ``saturate(round(x / s) + z)``, ONNX's QuantizeLinear."""
    q = np.rint(np.asarray(x, dtype=np.float32) / _F32(scale))
    q += _F32(zero_point)
    np.clip(q, ACTIVATION_QMIN, ACTIVATION_QMAX, out=q)
    return q.astype(ACTIVATION_DTYPE)


def dequantize(q: np.ndarray, scale: Scale, zero_point: ZeroPoint) -> np.ndarray:
    """uint8 (*) -> float32 (*): ``(q - z) · s``, ONNX's DequantizeLinear."""
    x = q.astype(np.float32)
    x -= _F32(zero_point)
    x *= _F32(scale)
    return x


def quantize_weight(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float (C_out, ...) -> int8 (C_out, ...) and float32 scales (C_out,), symmetric per row.

    A row of zeros gets scale 1 (its integers are all 0 either way).
    """
    rows = np.asarray(w, dtype=np.float32).reshape(w.shape[0], -1)      # (C_out, K)
    if not np.isfinite(rows).all():
        raise ValueError(f"cannot quantize a weight of shape {tuple(w.shape)} holding "
                         "non-finite values")
    amax = np.abs(rows).max(axis=1) if rows.shape[1] else np.zeros(len(rows), np.float32)
    scale = amax / _F32(WEIGHT_QMAX)
    scale[scale == 0] = 1
    q = np.clip(np.rint(rows / scale[:, None]), -WEIGHT_QMAX, WEIGHT_QMAX)
    return q.astype(WEIGHT_DTYPE).reshape(w.shape), scale.astype(np.float32)


def quantize_bias(b: np.ndarray, input_scale: Scale,
                  weight_scale: np.ndarray) -> np.ndarray:
    """float (C_out,) -> int32 (C_out,) with scale ``s_in·s_w[o]``, zero point 0."""
    bias_scale = _F32(input_scale) * weight_scale.astype(np.float32)
    q = np.rint(np.asarray(b, dtype=np.float32) / bias_scale)
    return np.clip(q, _INT32.min, _INT32.max).astype(BIAS_DTYPE)


def requantize_multiplier(input_scale: Scale, weight_scale: np.ndarray,
                          output_scale: Scale) -> np.ndarray:
    """float32 (C_out,): ``s_in·s_w[o] / s_out``, computed in float32 in onnxruntime's order."""
    return (_F32(input_scale) * weight_scale.astype(np.float32)) / _F32(output_scale)


def requantize(acc: np.ndarray, multiplier: np.ndarray, zero_point: ZeroPoint,
               relu: bool = False) -> np.ndarray:
    """int32 accumulators (..., C_out, ...) -> uint8: ``saturate(round(acc · m) + z)``.

    ``multiplier`` broadcasts against ``acc`` (one value per output channel). With ``relu``
    the lower bound is the zero point, the integer that stands for 0.0: a fused ReLU.
    """
    y = acc.astype(np.float32)
    y *= multiplier
    np.rint(y, out=y)
    y += _F32(zero_point)
    low = max(ACTIVATION_QMIN, int(zero_point)) if relu else ACTIVATION_QMIN
    np.clip(y, low, ACTIVATION_QMAX, out=y)
    return y.astype(ACTIVATION_DTYPE)
