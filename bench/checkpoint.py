"""The benchmarks' model: distilbart-cnn-12-6's shape and generation config, random weights, and its documents.

Random weights are fine for speed; the byte-level BPE is trained on the CNN/DailyMail
test articles, which stay where they are (nothing is copied into the repo). Built
once under .bench/ (gitignored).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from common import DOCSUM, ROOT, WORK, log, run

DATA = ROOT.parent / "shared" / "data" / "cnndm" / "test.jsonl"
VOCAB_SIZE = 50264
T5_VOCAB_SIZE = 32128  # google/flan-t5-base's
GENERATION = {
    # distilbart-cnn-12-6's generation_config.json
    "num_beams": 4,
    "max_length": 142,
    "min_length": 56,
    "no_repeat_ngram_size": 3,
    "early_stopping": True,
    "length_penalty": 2.0,
}


def build_checkpoint(path: Path, documents: list[str]) -> Path:
    """distilbart-cnn-12-6's shape, random weights, a BPE tokenizer trained on the documents."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    tokenizer = _train_bpe(documents, VOCAB_SIZE)
    config = BartConfig(
        vocab_size=VOCAB_SIZE,
        d_model=1024,
        encoder_layers=12,
        decoder_layers=6,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        max_position_embeddings=1024,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
    )
    torch.manual_seed(0)
    model = BartForConditionalGeneration(config).eval()
    with torch.no_grad():  # special tokens never win a step (see tests/checkpoints.py)
        model.final_logits_bias[:, tokenizer.all_special_ids] = -10.0
    model.generation_config = GenerationConfig(
        **GENERATION,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
    )
    return _save(model, tokenizer, path)


def build_flan_t5_shaped(path: Path, documents: list[str]) -> Path:
    """google/flan-t5-base's shape, random weights, a BPE tokenizer of its vocabulary size trained on the documents.

    d_model 768, 12 encoder and 12 decoder layers of 12 heads, gated-GELU feed-forward
    layers of 2048, relative position buckets, an LM head of 32128 rows of its own. The
    tokenizer's special ids stand in for T5's (pad starts decoding): only speed is measured.
    """
    import torch
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration

    tokenizer = _train_bpe(documents, T5_VOCAB_SIZE)
    special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    special["decoder_start_token_id"] = tokenizer.pad_token_id
    config = T5Config(
        vocab_size=T5_VOCAB_SIZE,
        d_model=768,
        d_kv=64,
        d_ff=2048,
        num_layers=12,
        num_decoder_layers=12,
        num_heads=12,
        feed_forward_proj="gated-gelu",
        tie_word_embeddings=False,
        n_positions=512,
        **special,
    )
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(**special)
    return _save(model, tokenizer, path)


def _train_bpe(documents: list[str], vocab_size: int) -> Any:
    """A byte-level BPE of ``vocab_size`` ids (BART's special tokens, ``<mask>`` last) trained on the documents."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BartTokenizer

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained.train_from_iterator(documents, trainer)
    model_json = json.loads(trained.to_str())["model"]
    vocab: dict[str, int] = dict(model_json["vocab"])
    while len(vocab) < vocab_size - 1:
        vocab[f"<unused{len(vocab)}>"] = len(vocab)
    vocab["<mask>"] = len(vocab)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]
    return BartTokenizer(vocab=vocab, merges=merges, model_max_length=1024)


def prepare(
    docs: int, tokens: int, checkpoint_dir: str | None = None, *, convert: bool = True
) -> tuple[Path, Path, Path]:
    """The checkpoint, its CTranslate2 int8 conversion (made only if ``convert``), and the first ``docs``
    articles cut to ``tokens``, as JSONL."""
    WORK.mkdir(exist_ok=True)
    records = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    texts = [r.get("document") or r["text"] for r in records]
    checkpoint = Path(checkpoint_dir) if checkpoint_dir else WORK / "distilbart-shape"
    if not (checkpoint / "config.json").exists():
        log(f"building the checkpoint in {checkpoint} ...")
        build_checkpoint(checkpoint, texts)
    converted = WORK / f"{checkpoint.name}-ct2-int8"
    if convert and not (converted / "model.bin").exists():
        log(f"converting to CTranslate2 int8 in {converted} ...")
        run([DOCSUM, "convert", str(checkpoint), str(converted), "--quantization", "int8", "--force"])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    path = WORK / f"docs-{docs}x{tokens}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts[:docs]):
            out.write(json.dumps({"id": records[i].get("id", str(i)), "text": cut(tokenizer, text, tokens)}) + "\n")
    return checkpoint, converted, path


def cut(tokenizer: Any, text: str, tokens: int) -> str:
    """The text's first ``tokens`` tokens of this tokenizer, as text."""
    return str(tokenizer.decode(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"][:tokens]))


def build_pegasus_shaped(path: Path, tokenizer_from: Path) -> Path:
    """google/pegasus-cnn_dailymail's shape and generation config, random weights.

    d_model 1024, 16 encoder and 16 decoder layers, relu, sinusoidal positions, an LM
    head of 96103 rows. The tokenizer is ``tokenizer_from``'s BPE (its ids all fall
    inside the vocabulary), with the special ids set to match it: only speed is measured.
    """
    import torch
    from transformers import AutoTokenizer, GenerationConfig, PegasusConfig, PegasusForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    special = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    special |= {"decoder_start_token_id": tokenizer.pad_token_id, "forced_eos_token_id": tokenizer.eos_token_id}
    config = PegasusConfig(
        vocab_size=96103,
        d_model=1024,
        encoder_layers=16,
        decoder_layers=16,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=4096,
        decoder_ffn_dim=4096,
        max_position_embeddings=1024,
        activation_function="relu",
        scale_embedding=True,
        **special,
    )
    torch.manual_seed(0)
    model = PegasusForConditionalGeneration(config).eval()
    with torch.no_grad():  # special tokens never win a step
        model.final_logits_bias[:, tokenizer.all_special_ids] = -10.0
    generation = {"num_beams": 8, "max_length": 128, "min_length": 32, "length_penalty": 0.8}  # pegasus-cnn's
    model.generation_config = GenerationConfig(**generation, **special)
    return _save(model, tokenizer, path)


def _save(model: Any, tokenizer: Any, path: Path) -> Path:
    """Written beside ``path`` and renamed into place: an interrupted build leaves no half checkpoint."""
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=".build-"))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(path)
    return path
