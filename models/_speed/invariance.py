"""Batch invariance: a document's outputs do not depend on which documents share its model call.

Three things made them depend on it (issue 16, item 17), each now removed on CPU:

* int8: torch's dynamic quantization picks one activation scale per call, so one
  document's largest activation changed every other document's rounding.
  ``models._speed.int8.RowScaledInt8Linear`` gives each row (token) its own scale: the row
  is divided by its largest magnitude and quantized with fixed parameters, the integer
  product is exact, and it is scaled back row by row, so a row's result depends on that
  row alone, on no batchmate, padding or thread count.
* Float matrix products (bf16, fp32) pick kernel and blocking by their shape and thread
  count, so a row's result moved with the rows beside it. A float model's decoder
  multiplies in blocks of :data:`DECODER_ROWS` rows (:func:`linear_in_blocks`); its encoder
  takes one document at a time, without padding, always on the calling thread's team.
* Attention summed padded keys (weight exactly 0) in another order than a document alone
  did: masked attention runs one document at a time over its own keys
  (``models._speed.attention``, ``models._speed.scripted_layers``).

``tests/models/test_batch_invariance.py`` checks logits bit for bit; the cost in throughput
is in docs/performance.md ("Batch invariance"); ``DOCSUM_BATCH_INVARIANT=false`` turns it off.
"""

from __future__ import annotations

from typing import Any

import torch

from models._speed.attention import PER_DOCUMENT_FLAG
from models._speed.generation import encode_in_slices
from models._speed.patches import replace_linear_forward

# Rows per matrix product in a float decoder's Linear layers: a decoding step has a few rows
# per document, and the product's rounding depends on how many rows it has.
DECODER_ROWS = 16


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

    replace_linear_forward(linear, forward)


def make_batch_invariant(model: Any, *, int8: bool) -> bool:
    """Each document's outputs independent of its batchmates, for a model on docsum's attention (CPU).

    Masked attention runs one document at a time over its own keys (``models._speed.attention``).
    Float models (bf16, fp32) also multiply their decoder's Linear layers in fixed blocks of
    rows (:func:`linear_in_blocks`), encode one document at a time with no padding
    (``models._speed.generation.encode_in_slices``), and always on the calling thread's whole
    team: the products' rounding also depends on how many threads share them. An int8 model's
    Linear layers are invariant by themselves (per-row scales, exact integer products).
    Returns whether every encoder pass must run on the calling thread (float models).
    """
    encoder = model.get_encoder() if getattr(model.config, "is_encoder_decoder", False) else None
    in_encoder = set() if encoder is None else {id(module) for module in encoder.modules()}
    for module in model.modules():
        if type(module).__name__.endswith("Attention"):
            setattr(module, PER_DOCUMENT_FLAG, "encoder" if id(module) in in_encoder else True)
    if int8:
        return False
    decoder = model.get_decoder()
    heads = [model.lm_head] if isinstance(getattr(model, "lm_head", None), torch.nn.Linear) else []
    for linear in [*(m for m in decoder.modules() if isinstance(m, torch.nn.Linear)), *heads]:
        linear_in_blocks(linear)
    if getattr(model.config, "is_encoder_decoder", False):
        encode_in_slices(model, one_document=True)
    return True
