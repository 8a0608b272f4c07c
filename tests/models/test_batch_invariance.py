"""A document's summary is the same alone, in any batch, in any order, on every dtype docsum picks by itself.

With int8's per-call activation scale, 56 of 200 concurrent requests matched a serial run
(issue 16, item 17); bf16 and fp32 logits also moved with the batch (matrix products round
by their shape, attention sums padded keys in another order), only less often far enough
to change a token. Checked on the kernels, on each tiny checkpoint's logits bit for bit,
and on summaries through ``Seq2SeqSummarizer`` (parts and long documents included).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from models._speed.attention import _matmul_attention
from models._speed.int8 import RowScaledInt8Linear, quantize_in_blocks
from models._speed.invariance import linear_in_blocks
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

CHECKPOINTS = ["tiny_bart_dir", "tiny_pegasus_dir", "tiny_t5_dir", "tiny_flan_t5_dir"]
DTYPES = ["int8", "bfloat16", "float32"]
# Of different lengths, so batchmates pad each other; the last is over the 64-token window (map-reduce).
DOCUMENTS = [" ".join(CORPUS[i : i + 1 + i % 3]) for i in range(7)] + [" ".join(CORPUS[10:16])]


def _rows_alone_and_together(forward: torch.nn.Module, inputs: torch.Tensor) -> None:
    """Each row's output is the same bit for bit whatever rows surround it, and on one thread or two."""
    together = forward(inputs)
    threads = torch.get_num_threads()
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            for first, last in ((0, 1), (3, 4), (2, 9), (5, len(inputs)), (0, len(inputs))):
                assert torch.equal(forward(inputs[first:last].clone()), together[first:last])
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def test_row_scaled_int8_rows_depend_on_themselves_alone() -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    int8 = quantize_in_blocks(linear, per_row=True)
    assert type(int8) is RowScaledInt8Linear
    per_call = quantize_in_blocks(linear)  # torch's: one activation scale for the whole call
    assert torch.equal(int8.weight().int_repr(), per_call.weight().int_repr())
    assert torch.equal(int8.bias(), per_call.bias())
    # Rows of very different sizes; more than 64 of them: the row scales are found another way for many rows.
    inputs = torch.randn(90, 64) * torch.logspace(-2, 2, 90)[:, None]
    _rows_alone_and_together(int8, inputs)
    assert not torch.equal(per_call(inputs[:1]), per_call(inputs)[:1])  # what it replaces did depend on them
    exact = linear(inputs)
    relative = ((int8(inputs) - exact).abs().amax(dim=1) / exact.abs().amax(dim=1)).max()
    assert relative < 0.05  # each row quantized on its own scale: small rows keep their precision
    assert torch.equal(int8(torch.zeros(2, 64)), linear.bias.expand(2, -1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@torch.inference_mode()
def test_float_linear_in_blocks_rows_depend_on_themselves_alone(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(32, 400).to(dtype)  # the tiny checkpoints' LM head, whose rows moved in bf16
    expected = linear(torch.randn(21, 32, dtype=dtype))
    linear_in_blocks(linear, rows=16)
    inputs = torch.randn(21, 32, dtype=dtype)
    _rows_alone_and_together(linear, inputs)
    assert linear(inputs).shape == expected.shape
    torch.testing.assert_close(linear(inputs), torch.nn.functional.linear(inputs, linear.weight, linear.bias))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("length", [1, 30])  # a decoding step's queries, or the encoder's own
def test_attention_per_document_ignores_the_batchmates_padding(dtype: torch.dtype, length: int) -> None:
    torch.manual_seed(0)
    keys = [30, 23, 9]
    query = torch.randn(3, 4, length, 16)
    key, value = torch.randn(3, 4, 30, 16), torch.randn(3, 4, 30, 16)
    valid = torch.arange(30)[None, :] < torch.tensor(keys)[:, None]
    mask = valid[:, None, None, :].expand(3, 1, length, 30)
    together = _matmul_attention(query, key, value, mask, None, None, dtype, per_document=True)
    for document, count in enumerate(keys):
        queries = min(length, count)  # in self-attention the padded queries are cut off too
        alone = _matmul_attention(
            query[document : document + 1, :, :queries],
            key[document : document + 1, :, :count],
            value[document : document + 1, :, :count],
            None,
            None,
            None,
            dtype,
        )
        assert torch.equal(together[document, :queries], alone[0])


def _greedy_logits(summarizer: Seq2SeqSummarizer, documents: list[str]) -> torch.Tensor:
    """Every step's logits of greedy generate on these documents as one batch: (documents, steps, vocabulary)."""
    inputs = summarizer.preprocess(documents)
    kwargs = summarizer.generation_kwargs(SummaryOptions(num_beams=1, max_tokens=10, min_tokens=10))
    with torch.inference_mode():
        out = summarizer.generator.model.generate(
            input_ids=inputs.input_ids,
            attention_mask=inputs.attention_mask,
            output_logits=True,
            return_dict_in_generate=True,
            **kwargs,
        )
    return torch.stack(out.logits, dim=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_a_documents_logits_are_the_same_alone_and_in_any_batch(
    checkpoint: str, dtype: str, request: pytest.FixtureRequest
) -> None:
    directory = str(request.getfixturevalue(checkpoint))
    summarizer = Seq2SeqSummarizer.load("tiny", directory, LoadSettings(dtype=dtype))
    documents = DOCUMENTS[:7]  # within the window: one generate call
    alone = [_greedy_logits(summarizer, [document])[0] for document in documents]
    order = [3, 0, 6, 1, 5, 2, 4]
    for batch in (documents, [documents[i] for i in order], documents[4:], documents[:2]):
        for row, logits in enumerate(_greedy_logits(summarizer, batch)):
            assert torch.equal(logits, alone[documents.index(batch[row])]), (row, batch[row])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
@pytest.mark.parametrize("beams", [1, 2])
def test_a_documents_summary_is_the_same_alone_and_in_any_batch(
    checkpoint: str, dtype: str, beams: int, request: pytest.FixtureRequest
) -> None:
    """Through the summarizer: CPU parts (one part alone, several together), sliced encoding, map-reduce."""
    directory = str(request.getfixturevalue(checkpoint))
    summarizer = Seq2SeqSummarizer.load("tiny", directory, LoadSettings(dtype=dtype))
    options = SummaryOptions(num_beams=beams, max_tokens=8)
    alone = {document: summarizer.summarize([document], options)[0] for document in DOCUMENTS}
    shuffled = random.Random(beams).sample(DOCUMENTS, len(DOCUMENTS))
    for batch in (DOCUMENTS, shuffled, shuffled[:3], shuffled[3:], DOCUMENTS[::-2]):
        got = summarizer.summarize(batch, options)
        assert got == [alone[document] for document in batch]


def test_float32_without_batch_invariance_is_transformers_own(tiny_bart_dir: Path) -> None:
    plain = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32", batch_invariant=False))
    assert plain.generator.model.config._attn_implementation == "sdpa"
    invariant = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    assert invariant.generator.model.config._attn_implementation != "sdpa"
    options = SummaryOptions(num_beams=2, max_tokens=8)
    assert invariant.summarize(DOCUMENTS, options) == plain.summarize(DOCUMENTS, options)  # to fp32 rounding
