"""Dynamic int8 quantization of a model's Linear layers, fast and lean, with per-row activation scales.

int8 weights, activations quantized on the fly, everything else fp32: what
``torch.ao.quantization.quantize_dynamic`` gives (tests compare the two), made faster and
leaner at load (:func:`quantize_linear_int8`). With ``per_row`` each row (token) of an
activation gets its own scale (:class:`RowScaledInt8Linear`): torch's dynamic
quantization picks one scale per call, so one document's largest activation changed every
other document's rounding (batch invariance, ``models._speed.invariance``).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

from models._speed.memory import release_free_memory


def row_scaled_linear(
    x: torch.Tensor,
    packed: torch.classes.quantized.LinearPackedParamsBase,
    bias: torch.Tensor | None,
    reduce_range: bool,
) -> torch.Tensor:
    """``x @ weight.T + bias`` with int8 activations quantized per row; ``packed`` holds no bias.

    Rows are scaled into [-1, 1] and quantized symmetrically with fixed parameters (7 bits
    with ``reduce_range``, as torch's dynamic Linear uses, else 8). Scriptable.
    """
    # Each row's largest magnitude, exactly, either way: vector_norm(inf) is one op for a decoding step's few
    # rows, amax and amin are 10x faster for the encoder's many (1.5 against 15 ms for 1000 x 4096, one
    # thread). An all-zero row keeps a tiny scale (a literal: TorchScript reads no globals).
    if x.numel() <= 64 * x.shape[-1]:
        largest = torch.linalg.vector_norm(x, float("inf"), dim=-1, keepdim=True)
    else:
        largest = torch.maximum(x.amax(dim=-1, keepdim=True), -x.amin(dim=-1, keepdim=True))
    scale = largest.clamp_min(1e-30)
    levels, zero_point = (63.0, 64) if reduce_range else (127.0, 128)
    product = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
        x / scale, 1.0 / levels, zero_point, packed
    )
    return product * scale if bias is None else torch.addcmul(bias, product, scale)


class RowScaledInt8Linear(DynamicQuantizedLinear):  # type: ignore[misc]
    """torch's dynamic int8 Linear (the same packed per-channel weights) with per-row activation scales.

    The bias is kept apart from the packed weight: it is added after a row is scaled back.
    """

    def __init__(self, in_features: int, out_features: int, bias_: bool = True, dtype: torch.dtype = torch.qint8):
        super().__init__(in_features, out_features, bias_, dtype=dtype)
        self._row_bias: torch.Tensor | None = None

    def set_weight_bias(self, w: torch.Tensor, b: torch.Tensor | None) -> None:
        self._packed_params.set_weight_bias(w, None)
        self._row_bias = None if b is None else b.detach().float()

    def _weight_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight, _ = self._packed_params._weight_bias()
        return weight, self._row_bias

    @property
    def reduce_range(self) -> bool:
        return self.version is not None and self.version >= 4  # as torch's module passes it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        packed = self._packed_params._packed_params
        return row_scaled_linear(x, packed, self._row_bias, self.reduce_range).to(x.dtype)

    def _get_name(self) -> str:
        return "RowScaledInt8Linear"


def int8_linear_class(per_row: bool) -> Any:
    """The module a Linear is quantized into: per-row activation scales, or torch's per-call one."""
    return RowScaledInt8Linear if per_row else DynamicQuantizedLinear


def quantize_linear_int8(model: Any, *, group_rows: int = 16_384, per_row: bool = False) -> None:
    """Dynamic int8 quantization of every ``nn.Linear``, per output channel, in place.

    What ``torch.ao.quantization.quantize_dynamic`` gives (tests compare the two), made
    faster and leaner. Each Linear is packed once (``quantize_dynamic`` packs an empty
    full-size weight first, then the real one: 1.1 of its 5.7 s on distilbart-cnn-12-6's
    shape), Linears are quantized on one worker per torch thread (per-channel quantizing
    and packing run single-threaded: 7.7 s became ~3 s), and the checkpoint pages read
    so far are dropped every ``group_rows`` rows of weights, so the fp32 file is never
    resident all at once. The LM head, the largest, goes in blocks of rows
    (:func:`quantize_in_blocks`): whole, its fp32 copy sat next to its int8 one at the
    peak of loading. ``per_row``: activations get one scale per row, not per call
    (:class:`RowScaledInt8Linear`).
    """
    linears = [(name, module) for name, module in model.named_modules() if type(module) is torch.nn.Linear]
    workers = max(1, min(torch.get_num_threads(), 8))
    with (
        warnings.catch_warnings(),  # torch.ao.quantization announces its move to torchao
        ThreadPoolExecutor(workers, thread_name_prefix="docsum-quantize") as pool,
    ):
        warnings.simplefilter("ignore")
        group: list[tuple[str, Any]] = []
        for index, (name, linear) in enumerate(linears):
            group.append((name, linear))
            if sum(module.out_features for _, module in group) < group_rows and index < len(linears) - 1:
                continue
            done = pool.map(lambda item: _quantized_linear(item[1], 4096, per_row), group)
            for (path, _), quantized in zip(group, done, strict=True):
                parent, _, attribute = path.rpartition(".")
                setattr(model.get_submodule(parent), attribute, quantized)
            group = []
            release_free_memory()


def quantize_in_blocks(linear: Any, rows: int = 4096, *, per_row: bool = False) -> Any:
    """``quantize_dynamic``'s int8 module for one Linear, its weight read a block of rows at a time.

    Per-channel scales are per row, so the result is the same as quantizing it whole.
    """
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        return _quantized_linear(linear, rows, per_row)


def _quantized_linear(linear: Any, rows: int, per_row: bool) -> Any:
    """:func:`quantize_in_blocks` without its own warning filter: filters are process-wide, so workers on
    several threads each entering and leaving ``catch_warnings`` could leave the wrong ones behind."""
    from torch.ao.nn.quantized.modules.utils import _quantize_weight
    from torch.ao.quantization import per_channel_dynamic_qconfig

    weight = linear.weight.detach()
    if weight.shape[0] <= rows:
        observer = per_channel_dynamic_qconfig.weight()
        observer(weight.float())
        qweight = _quantize_weight(weight.float(), observer)
    else:
        values = torch.empty(weight.shape, dtype=torch.int8)
        scales = torch.empty(weight.shape[0], dtype=torch.double)
        for first in range(0, weight.shape[0], rows):
            observer = per_channel_dynamic_qconfig.weight()
            block = weight[first : first + rows].float()
            observer(block)
            quantized = _quantize_weight(block, observer)
            values[first : first + rows] = quantized.int_repr()
            scales[first : first + rows] = quantized.q_per_channel_scales()
            release_free_memory()  # the checkpoint pages of this block (the LM head's are 200 MB)
        zero_points = torch.zeros(len(scales), dtype=torch.long)
        qweight = torch._make_per_channel_quantized_tensor(values, scales, zero_points, 0)
    # Built 1 x 1 and then given its weight: the constructor would pack an empty full-size one first.
    module = int8_linear_class(per_row)(1, 1, bias_=linear.bias is not None, dtype=torch.qint8)
    module.in_features, module.out_features = linear.in_features, linear.out_features
    module.set_weight_bias(qweight, None if linear.bias is None else linear.bias.detach().float())
    return module
