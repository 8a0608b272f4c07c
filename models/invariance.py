"""Batch invariance: a document's outputs do not depend on which documents share its model call.

Three things made them depend on it (issue 16, item 17), each now removed on CPU:

* int8: torch's dynamic quantization picks one activation scale per call, so one
  document's largest activation changed every other document's rounding.
  :class:`RowScaledInt8Linear` gives each row (token) its own scale: the row is divided
  by its largest magnitude and quantized with fixed parameters, the integer product is
  exact, and it is scaled back row by row, so a row's result depends on that row alone,
  on no batchmate, padding or thread count.
* Float matrix products (bf16, fp32) pick kernel and blocking by their shape and thread
  count, so a row's result moved with the rows beside it. A float model's decoder
  multiplies in blocks of :data:`DECODER_ROWS` rows (:func:`linear_in_blocks`); its encoder
  takes one document at a time, without padding, always on the calling thread's team.
* Attention summed padded keys (weight exactly 0) in another order than a document alone
  did: masked attention runs one document at a time over its own keys
  (``models.attention``, ``models.scripted_layers``).

``tests/models/test_batch_invariance.py`` checks logits bit for bit; the cost in throughput
is in docs/performance.md ("Batch invariance"); ``DOCSUM_BATCH_INVARIANT=false`` turns it off.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

from models.acceleration import Acceleration

logger = logging.getLogger(__name__)


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


# Rows per matrix product in a float decoder's Linear layers: a decoding step has a few rows
# per document, and the product's rounding depends on how many rows it has.
DECODER_ROWS = 16
# Set on a model whose encoder passes all run on the calling thread's team, a batch's as a lone
# document's, before its parts decode (models.generation.generate_in_parts).
ENCODES_ON_THE_CALLER = "_docsum_encodes_on_the_caller"


def linear_in_blocks(linear: torch.nn.Linear, rows: int = DECODER_ROWS) -> None:
    """The Linear multiplies blocks of exactly ``rows`` rows (the last one padded with zeros), whatever its input's.

    A float matrix product picks its kernel and blocking by its shape (and thread count),
    so a row's result changed with the number of rows beside it: bf16 and fp32 alike, even
    at the tiny checkpoints' sizes. At a decoding step's few rows the weights' reading
    dominates, so the padding costs little.
    """
    weight, bias = linear.weight, linear.bias

    def forward(x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        count = flat.shape[0]
        products = []
        for first in range(0, count, rows):
            block = flat.new_zeros((rows, flat.shape[1]))  # fresh each time: the same layout for every block
            block[: min(rows, count - first)] = flat[first : first + rows]
            products.append(torch.nn.functional.linear(block, weight, bias))
        joined = products[0] if len(products) == 1 else torch.cat(products)
        return joined[:count].view(*x.shape[:-1], -1)

    linear.forward = forward


def make_batch_invariant(model: Any, *, int8: bool) -> None:
    """Each document's outputs independent of its batchmates, for a model on docsum's attention (CPU).

    Masked attention runs one document at a time over its own keys (``models.attention``).
    Float models (bf16, fp32) also multiply their decoder's Linear layers in fixed blocks of
    rows (:func:`linear_in_blocks`), encode one document at a time with no padding
    (``models.generation.encode_in_slices``), and always on the calling thread's whole team:
    the products' rounding also depends on how many threads share them. An int8 model's
    Linear layers are invariant by themselves (per-row scales, exact integer products).
    """
    from models.attention import PER_DOCUMENT_FLAG
    from models.generation import encode_in_slices

    encoder = model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else None
    in_encoder = set() if encoder is None else {id(module) for module in encoder.modules()}
    for module in model.modules():
        if type(module).__name__.endswith("Attention"):
            setattr(module, PER_DOCUMENT_FLAG, "encoder" if id(module) in in_encoder else True)
    if int8:
        return
    decoder = model.get_decoder()
    heads = [model.lm_head] if isinstance(getattr(model, "lm_head", None), torch.nn.Linear) else []
    for linear in [*(m for m in decoder.modules() if isinstance(m, torch.nn.Linear)), *heads]:
        linear_in_blocks(linear)
    if getattr(model.config, "is_encoder_decoder", False):
        encode_in_slices(model, one_document=True)
    setattr(model, ENCODES_ON_THE_CALLER, True)


def plain_fp32(model: Any, *, batch_invariant: bool) -> Acceleration:
    """fp32 runs transformers' own generation: its outputs exactly, or batch-invariant ones."""
    if not batch_invariant:
        return Acceleration(note="float32 runs transformers' own generation, outputs exactly as it gives them")
    refused = attend_per_document(model)
    if refused is not None:
        logger.warning("summaries may depend on their batchmates: %s", refused)
    return Acceleration(note="float32 runs transformers' own generation, with docsum's batch-invariant attention")


def attend_per_document(model: Any) -> str | None:
    """A plain fp32 model made batch-invariant: docsum's attention (``models.attention``) and
    :func:`make_batch_invariant`; None once done, else why it could not be."""
    from models.attention import register

    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation != "sdpa":
        return f"the model runs {implementation} attention, not SDPA"
    try:
        model.set_attn_implementation(register())
    except (ValueError, AttributeError, ImportError) as exc:
        return f"transformers refused docsum's attention: {exc}"
    make_batch_invariant(model, int8=False)
    return None
