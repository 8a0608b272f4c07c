"""The speed-ups of the transformers path: fp32 outputs unchanged, reduced precision within bf16 tolerance.

Checked on the tiny checkpoints and on the attention function against transformers' SDPA.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from models import attention
from models.attention import NAME, docsum_sdpa
from models.generation import GENERATES_IN_PARTS, balanced_parts, encode_in_slices, generate_in_parts
from models.loading import LoadSettings, quantize_in_blocks, quantize_linear_int8, use_shared_kv_attention
from models.memory import keep_large_blocks_on_the_heap, release_free_memory
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions, TokenEvent
from tests.checkpoints import CORPUS

SHORT = list(CORPUS[:7])  # different lengths: padded batches
LONG = [" ".join(CORPUS[i : i + 3]) for i in range(5)]  # over the 64-token window
FP32 = LoadSettings(dtype="float32", batch_invariant=False)  # transformers' own fp32, the reference


class _Attention(torch.nn.Module):
    is_causal = False


def _reference(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None, **kwargs: object
) -> torch.Tensor:
    """transformers' SDPA in fp32 with every row's keys and values copied out, as generate does."""
    group = query.shape[0] // key.shape[0]
    key, value = key.float().repeat_interleave(group, 0), value.float().repeat_interleave(group, 0)
    if mask is not None and mask.shape[0] > 1:
        mask = mask.repeat_interleave(group, 0)
    output, _ = sdpa_attention_forward(_Attention(), query.float(), key, value, mask, **kwargs)  # type: ignore[arg-type]
    return output


def _inputs(documents: int, group: int, length: int, keys: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(documents * 100 + group * 10 + length)
    query = torch.randn(documents * group, 4, length, 8, generator=generator)
    key = torch.randn(documents, 4, keys, 8, generator=generator)
    value = torch.randn(documents, 4, keys, 8, generator=generator)
    return query, key, value


def _right_padding(documents: int, length: int, keys: int) -> torch.Tensor:
    valid = torch.ones(documents, keys, dtype=torch.bool)
    for row in range(1, documents):
        valid[row, keys - 2 * row :] = False
    return valid[:, None, None, :].expand(documents, 1, length, keys)


@pytest.mark.parametrize("group", [1, 3])
@pytest.mark.parametrize("length", [1, 5])
@pytest.mark.parametrize("cache_dtype", [torch.float32, torch.bfloat16])
def test_decoding_attention_matches_sdpa(group: int, length: int, cache_dtype: torch.dtype) -> None:
    query, key, value = _inputs(3, group, length, 11)
    mask = _right_padding(3, length, 11)
    bias = torch.randn(1, 4, length, 11, generator=torch.Generator().manual_seed(1))  # T5's relative positions
    for kwargs in ({}, {"position_bias": bias, "scaling": 1.0}):
        expected = _reference(query, key, value, mask, **kwargs)
        got, _ = docsum_sdpa(_Attention(), query, key.to(cache_dtype), value.to(cache_dtype), mask, **kwargs)
        assert got.dtype == query.dtype and got.shape == expected.shape
        tolerance = 1e-5 if cache_dtype == torch.float32 else 5e-2  # bf16 keys, values and scores
        torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)


def test_one_mask_serves_every_layer_in_either_dtype() -> None:
    """All layers of a forward pass share one mask; its additive form is made once per dtype and reused."""
    query, key, value = _inputs(3, 1, 1, 11)
    mask = _right_padding(3, 1, 11)
    expected = _reference(query, key, value, mask)
    for cache_dtype in (torch.float32, torch.bfloat16, torch.float32, torch.bfloat16):
        got, _ = docsum_sdpa(_Attention(), query, key.to(cache_dtype), value.to(cache_dtype), mask)
        tolerance = 1e-5 if cache_dtype == torch.float32 else 5e-2
        torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)
    assert set(mask._docsum_additive) == {torch.float32, torch.bfloat16}


@pytest.mark.parametrize("left_padding", [False, True])
def test_long_inputs_attend_in_bf16_and_padding_becomes_shorter_keys(
    left_padding: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attention, "SCORES_PER_CHUNK", 1)  # one document at a time, as for 500-token inputs
    query, key, value = _inputs(3, 1, 70, 70)
    mask = _right_padding(3, 70, 70)
    if left_padding:  # not a prefix of keys: masked instead of cut
        mask = mask.flip(-1)
    module = _Attention()
    module._docsum_attention_in_bf16 = True  # type: ignore[attr-defined]
    got, _ = docsum_sdpa(module, query, key, value, mask, dropout=0.0, use_cache=True)
    torch.testing.assert_close(got, _reference(query, key, value, mask), atol=3e-2, rtol=3e-2)
    assert getattr(mask, "_docsum_valid_keys", "unset") == (None if left_padding else [70, 68, 66])


def test_a_lone_padded_document_attends_only_to_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """One document in one chunk still has its padding cut off (the chunk loop is skipped for one chunk)."""
    monkeypatch.setattr(attention, "SCORES_PER_CHUNK", 1)
    query, key, value = (tensor[1:2] for tensor in _inputs(3, 1, 70, 70))
    mask = _right_padding(3, 70, 70)[1:2]  # 68 of 70 keys
    module = _Attention()
    module._docsum_attention_in_bf16 = True  # type: ignore[attr-defined]
    got, _ = docsum_sdpa(module, query, key, value, mask, dropout=0.0, use_cache=True)
    torch.testing.assert_close(got, _reference(query, key, value, mask), atol=3e-2, rtol=3e-2)
    assert mask._docsum_valid_keys == [68]


def test_anything_else_goes_to_transformers_sdpa() -> None:
    query, key, value = _inputs(2, 1, 6, 6)
    causal = _Attention()
    causal.is_causal = True  # type: ignore[misc]
    for module, kwargs in ((causal, {}), (_Attention(), {"softcap": None, "sliding_window": 4})):
        got, _ = docsum_sdpa(module, query, key, value, None, **kwargs)
        expected, _ = sdpa_attention_forward(module, query, key, value, None, **kwargs)  # type: ignore[arg-type]
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("model_dir", ["tiny_bart_dir", "tiny_pegasus_dir"])
@pytest.mark.parametrize("beams", [1, 2, 4])
def test_shared_encoder_outputs_give_the_same_summaries(
    model_dir: str, beams: int, request: pytest.FixtureRequest
) -> None:
    """fp32 with one encoder output per document (not per beam), sliced encoding, matmul decoding."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(model_dir)), FP32)
    assert summarizer.model.config._attn_implementation == "sdpa"  # fp32 keeps transformers' attention
    options = SummaryOptions(num_beams=beams, max_tokens=16)
    expected = summarizer.summarize(SHORT + LONG, options)
    use_shared_kv_attention(summarizer.model)
    encode_in_slices(summarizer.model, max_tokens=40)  # a few documents per encoder call
    assert summarizer.model.config._attn_implementation == NAME
    assert "_expand_inputs_for_generation" in vars(summarizer.model)  # the beam-search probe passed
    assert summarizer.summarize(SHORT + LONG, options) == expected


class _ForcedPath(LogitsProcessor):  # type: ignore[misc]
    """Records each step's scores, then forces the reference token: every model decodes the same path."""

    def __init__(self, path: torch.Tensor) -> None:
        self.path = path
        self.scores: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.scores.append(scores.float().clone())
        forced = torch.full_like(scores, -1e9)
        forced[torch.arange(len(scores)), self.path[:, input_ids.shape[1]]] = 0.0
        return forced


_FORCED = {"max_length": 12, "min_length": 12, "no_repeat_ngram_size": 0}


def _greedy_path(summarizer: Seq2SeqSummarizer) -> torch.Tensor:
    inputs = summarizer.preprocess(SHORT)
    with torch.inference_mode():
        path: torch.Tensor = summarizer.model.generate(
            input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, num_beams=1, **_FORCED
        )
    return path


def _scores_along(summarizer: Seq2SeqSummarizer, path: torch.Tensor, beams: int) -> torch.Tensor:
    inputs = summarizer.preprocess(SHORT)
    forced = _ForcedPath(path.repeat_interleave(beams, 0))
    with torch.inference_mode():
        summarizer.model.generate(
            input_ids=inputs.input_ids,
            attention_mask=inputs.attention_mask,
            logits_processor=LogitsProcessorList([forced]),
            num_beams=beams,
            **_FORCED,
        )
    return torch.stack(forced.scores)


@pytest.mark.parametrize("model_dir", ["tiny_bart_dir", "tiny_t5_dir", "tiny_flan_t5_dir", "tiny_pegasus_dir"])
@pytest.mark.parametrize("beams", [1, 3])
@pytest.mark.parametrize("bf16", [False, True])
def test_scores_along_the_same_path_match_transformers(
    request: pytest.FixtureRequest, model_dir: str, beams: int, bf16: bool
) -> None:
    """Every step's scores along one forced path: fp32 as transformers runs it, and with docsum's attention
    (shared encoder outputs, sliced encoding, matmul decoding): to fp32 rounding, or bf16 tolerance."""
    directory = str(request.getfixturevalue(model_dir))
    reference = Seq2SeqSummarizer.load("tiny", directory, FP32)
    path = _greedy_path(reference)
    expected = _scores_along(reference, path, beams)
    summarizer = Seq2SeqSummarizer.load("tiny", directory, FP32)
    use_shared_kv_attention(summarizer.model, bf16_caches=bf16)
    encode_in_slices(summarizer.model, max_tokens=40)
    got = _scores_along(summarizer, path, beams)
    finite = torch.isfinite(expected)
    assert torch.equal(finite, torch.isfinite(got))
    error = (got[finite] - expected[finite]).abs().max() / expected[finite].abs().max()
    in_bf16 = bf16 and "t5" not in model_dir  # T5's unscaled scores stay fp32 (models.attention)
    assert error <= (0.02 if in_bf16 else 1e-4)
    assert error > 0 or not in_bf16  # the bf16 path did run


def test_sliced_encoding_equals_the_whole_batch(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32)
    inputs = summarizer.preprocess(SHORT)
    encoder = summarizer.model.get_encoder()
    with torch.inference_mode():
        whole = encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask).last_hidden_state
        encode_in_slices(summarizer.model, max_tokens=2 * inputs.input_ids.shape[1])
        sliced = encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask).last_hidden_state
    real = inputs.attention_mask.bool()  # padding positions are masked out of cross-attention
    torch.testing.assert_close(sliced[real], whole[real], atol=1e-5, rtol=1e-5)


def test_beam_search_without_reordering_the_cross_attention_cache_is_exact(tiny_bart_dir: Path) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32)
    options = SummaryOptions(num_beams=3, max_tokens=14)
    skipping = summarizer.summarize(SHORT, options)
    del summarizer.model._reorder_cache  # transformers' own: reorders everything
    assert summarizer.summarize(SHORT, options) == skipping


@pytest.mark.parametrize("model_dir", ["tiny_bart_dir", "tiny_flan_t5_dir", "tiny_pegasus_dir"])
def test_int8_runs_and_stays_close_to_fp32(model_dir: str, request: pytest.FixtureRequest) -> None:
    directory = str(request.getfixturevalue(model_dir))
    fp32 = Seq2SeqSummarizer.load("tiny", directory, FP32)
    int8 = Seq2SeqSummarizer.load("tiny", directory, LoadSettings(dtype="int8"))
    assert "RowScaledInt8Linear" in repr(int8.model)  # batch-invariant by default (models.invariance)
    assert int8.model.config._attn_implementation == NAME
    options = SummaryOptions(num_beams=1, max_tokens=10)
    expected, got = fp32.summarize(SHORT, options), int8.summarize(SHORT, options)
    assert [s.output_tokens for s in got] == [s.output_tokens for s in expected]
    assert all(s.summary for s in int8.summarize(SHORT + LONG, SummaryOptions(num_beams=4, max_tokens=10)))
    release_free_memory()  # harmless to call again


def _read_advice(model: torch.nn.Module) -> set[bool]:
    """For each mapped checkpoint holding one of the model's tensors: whether its pages are read randomly."""
    addresses = [tensor.data_ptr() for tensor in (*model.parameters(), *model.buffers())]
    advice: set[bool] = set()
    holds = False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if fields and "-" in fields[0] and not fields[0].endswith(":"):
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                holds = fields[-1].endswith(".safetensors") and any(start <= a < end for a in addresses)
            elif holds and fields[:1] == ["VmFlags:"]:
                advice.add("rr" in fields[1:])
    return advice


def test_an_int8_model_reads_its_mapped_embedding_a_page_at_a_time(tiny_bart_dir: Path) -> None:
    fp32 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), FP32)
    int8 = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert _read_advice(int8.model) == {True}  # its embedding still lives in the mapped file
    assert _read_advice(fp32.model) == {False}  # reads all its weights: another model's mapping is left alone
    options = SummaryOptions(max_tokens=6)
    assert int8.summarize(SHORT, options) == Seq2SeqSummarizer.load(
        "tiny", str(tiny_bart_dir), LoadSettings(dtype="int8")
    ).summarize(SHORT, options)


def test_large_blocks_stay_on_the_heap() -> None:
    assert keep_large_blocks_on_the_heap()  # glibc here; harmless to call again
    assert torch.ones(20_000_000).sum() == 20_000_000  # an 80 MB tensor, from the heap


def test_quantizing_in_blocks_equals_quantize_dynamic() -> None:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 300)
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        whole = quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear: per_channel_dynamic_qconfig})[0]
    blocks = quantize_in_blocks(linear, rows=128)
    assert torch.equal(blocks.weight().int_repr(), whole.weight().int_repr())
    assert torch.equal(blocks.weight().q_per_channel_scales(), whole.weight().q_per_channel_scales())
    x = torch.randn(5, 64)
    assert torch.equal(blocks(x), whole(x))
    assert (blocks.in_features, blocks.out_features) == (64, 300)


def test_quantizing_a_model_on_several_threads_equals_quantize_dynamic(tiny_bart_dir: Path) -> None:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from transformers import AutoModelForSeq2SeqLM

    ours = AutoModelForSeq2SeqLM.from_pretrained(tiny_bart_dir, use_safetensors=True)
    theirs = AutoModelForSeq2SeqLM.from_pretrained(tiny_bart_dir, use_safetensors=True)
    quantize_linear_int8(ours, group_rows=100)  # several groups, several workers
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        quantize_dynamic(theirs, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    ours_linear = {n: m for n, m in ours.named_modules() if isinstance(m, DynamicQuantizedLinear)}
    theirs_linear = {n: m for n, m in theirs.named_modules() if isinstance(m, DynamicQuantizedLinear)}
    assert ours_linear.keys() == theirs_linear.keys() and len(ours_linear) > 20
    for name, module in ours_linear.items():
        other = theirs_linear[name]
        assert torch.equal(module.weight().int_repr(), other.weight().int_repr()), name
        assert torch.equal(module.weight().q_per_channel_scales(), other.weight().q_per_channel_scales()), name
        assert (module.bias() is None) == (other.bias() is None) and (
            module.bias() is None or torch.equal(module.bias(), other.bias())
        ), name


@pytest.mark.parametrize("beams", [1, 3])
def test_generating_in_parts_gives_what_each_part_gives_alone(tiny_bart_dir: Path, beams: int) -> None:
    """Parts run concurrently, one single-threaded worker each, and are stitched back in the caller's order."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert getattr(summarizer.model, GENERATES_IN_PARTS)
    inputs = summarizer.preprocess(SHORT)
    kwargs = summarizer.generation_kwargs(SummaryOptions(num_beams=beams, max_tokens=9))
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        together = generate_in_parts(summarizer.model, inputs.input_ids, inputs.attention_mask, **kwargs)
        assert torch.get_num_threads() == 3
        torch.set_num_threads(1)
        alone: dict[int, torch.Tensor] = {}
        with torch.inference_mode():
            for part in balanced_parts(inputs.attention_mask, 3):
                generated = summarizer.model.generate(
                    input_ids=inputs.input_ids[part], attention_mask=inputs.attention_mask[part], **kwargs
                )
                alone.update(zip(part.tolist(), generated, strict=True))
    finally:
        torch.set_num_threads(threads)
    assert len(together) == len(SHORT)
    pad = summarizer.model.generation_config.pad_token_id
    for row, tokens in alone.items():
        assert torch.equal(together[row, : len(tokens)], tokens)
        assert bool((together[row, len(tokens) :] == pad).all())


def _mask(lengths: list[int]) -> torch.Tensor:
    return (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).long()


def test_parts_get_as_many_documents_and_about_as_many_tokens() -> None:
    # A length-sorted call of 8 cut in halves would give one part 2008 input tokens and the other 958.
    lengths = [502, 502, 502, 502, 353, 330, 139, 136]
    parts = [part.tolist() for part in balanced_parts(_mask(lengths), 2)]
    assert parts == [[0, 2, 4, 7], [1, 3, 5, 6]]
    assert [sum(lengths[row] for row in part) for part in parts] == [1493, 1473]


@pytest.mark.parametrize(("rows", "parts"), [(1, 1), (2, 2), (5, 1), (5, 2), (7, 2), (7, 3), (16, 2)])
def test_every_row_is_in_exactly_one_part_and_sizes_differ_by_at_most_one(rows: int, parts: int) -> None:
    lengths = [(7 * row) % 11 + 1 for row in range(rows)]
    split = balanced_parts(_mask(lengths), parts)
    assert sorted(torch.cat(split).tolist()) == list(range(rows))
    assert max(map(len, split)) - min(map(len, split)) <= 1
    assert all(part.tolist() == sorted(part.tolist()) for part in split)


@pytest.mark.parametrize("checkpoint", ["tiny_bart_dir", "tiny_t5_dir", "tiny_flan_t5_dir", "tiny_pegasus_dir"])
@pytest.mark.parametrize("beams", [1, 3])
def test_one_document_encodes_on_the_caller_and_decodes_on_a_worker(
    checkpoint: str, beams: int, request: pytest.FixtureRequest
) -> None:
    """The encoder pass uses the calling thread's team; the decoding steps run on one single-threaded worker."""
    directory = request.getfixturevalue(checkpoint)
    summarizer = Seq2SeqSummarizer.load("tiny", str(directory), LoadSettings(dtype="int8"))
    model = summarizer.model
    inputs = summarizer.preprocess(SHORT[:1])
    kwargs = summarizer.generation_kwargs(SummaryOptions(num_beams=beams, max_tokens=9))
    ran_on: dict[str, set[str]] = {"encoder": set(), "decoder": set()}
    hooks = [
        model.get_encoder().register_forward_hook(lambda *_: ran_on["encoder"].add(threading.current_thread().name)),
        model.get_decoder().register_forward_hook(lambda *_: ran_on["decoder"].add(threading.current_thread().name)),
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            plain = model.generate(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, **kwargs)
        ran_on["encoder"].clear()
        ran_on["decoder"].clear()
        split = generate_in_parts(model, inputs.input_ids, inputs.attention_mask, **kwargs)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
        for hook in hooks:
            hook.remove()
    assert torch.equal(split, plain)
    assert ran_on["encoder"] == {threading.current_thread().name}
    assert len(ran_on["decoder"]) == 1 and next(iter(ran_on["decoder"])).startswith("docsum-generate-")


def test_a_streamed_document_takes_the_same_split(tiny_bart_dir: Path) -> None:
    """Token events come from the decoding worker, in order, and add up to the summary."""
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    options = SummaryOptions(min_tokens=10, max_tokens=10, num_beams=1)
    deltas: list[tuple[str, str]] = []

    def collect(event: object) -> None:
        if isinstance(event, TokenEvent):
            deltas.append((threading.current_thread().name, event.text))

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        [plain] = summarizer.summarize(SHORT[:1], options)
        [streamed] = summarizer.summarize(SHORT[:1], options, on_event=collect)
    finally:
        torch.set_num_threads(threads)
    assert streamed == plain
    assert deltas and all(name.startswith("docsum-generate-") for name, _ in deltas)
    assert " ".join("".join(text for _, text in deltas).split()) == streamed.summary
