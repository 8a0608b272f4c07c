"""Tiny random seq2seq checkpoints on disk, for offline tests.

Each builder writes a folder that loads through exactly the path the service
uses, ``AutoTokenizer.from_pretrained(path)`` and
``AutoModelForSeq2SeqLM.from_pretrained(path, use_safetensors=True)``, with
nothing downloaded. Tokenizers are trained with the ``tokenizers`` library on
:data:`CORPUS`; weights are random but fixed by ``seed`` (builds are
byte-for-byte reproducible). A build takes about 0.1 s on two CPU cores.

Untrained weights are adjusted in two ways so that generating text is a
meaningful test:

* A wider init (:data:`INIT_STD` 0.2 for BART and PEGASUS instead of 0.02, T5's
  ``initializer_factor`` :data:`T5_INIT_FACTOR` 5 instead of 1). With the
  library defaults the input barely reaches the logits: BART writes the same
  tokens for every document, so a batch-order bug would go unnoticed.
* Special tokens never win a decoding step. With tied embeddings an untrained
  decoder tends to repeat its input token, so BART repeated ``<s>`` and T5,
  for some seeds, wrote ``</s>`` first: empty summaries. BART's and
  PEGASUS's ``final_logits_bias`` (a saved parameter of their checkpoints) is
  :data:`SPECIAL_TOKEN_LOGIT_BIAS` for their special tokens; T5's embedding rows
  of ``<pad>``, ``</s>`` and ``<unk>`` are zero (as ``nn.Embedding`` does for a
  padding index), so their logit is 0 and never the largest. Consequence:
  generation never stops early; every output uses its whole length budget.
  BART and PEGASUS still end with ``</s>`` because ``forced_eos_token_id``
  forces it at ``max_length``.

Decoded BART text may contain U+FFFD: the byte-level vocabulary has all 256
bytes, and a random model emits lone bytes of multi-byte characters.

Notes on transformers 5 that shape this module:

* Generation parameters (``num_beams``, ``max_length``, ``forced_bos_token_id``,
  ...) passed to a model config are silently dropped; they live only in
  ``GenerationConfig`` and so in ``generation_config.json``.
* ``save_pretrained`` always writes safetensors; a ``safe_serialization``
  argument is silently ignored (even ``False``), so the pickle-only checkpoint
  is written with :func:`torch.save` by hand.
* ``BartTokenizer`` is an alias of ``RobertaTokenizer``; it and
  ``T5Tokenizer`` are ``tokenizers``-backed classes built from an in-memory
  vocabulary (``vocab=``, ``merges=``). Loading, they rebuild the normalizer,
  pre-tokenizer and decoder themselves and keep only the vocabulary (and the
  post-processor) of ``tokenizer.json``, so the trained model type must match
  the class: BPE for BART, Unigram for T5.
* ``task_specific_params`` is no longer a declared config field: it is kept as
  an extra attribute (``config.task_specific_params``) and written to
  ``config.json``, but nothing in transformers reads it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    BartTokenizer,
    GenerationConfig,
    PegasusConfig,
    PegasusForConditionalGeneration,
    PegasusTokenizer,
    T5Config,
    T5ForConditionalGeneration,
    T5Tokenizer,
)

from models.loading import MODEL_LOADING

__all__ = [
    "BART_GENERATION_DEFAULTS",
    "CORPUS",
    "INIT_STD",
    "PEGASUS_GENERATION_DEFAULTS",
    "SPECIAL_TOKEN_LOGIT_BIAS",
    "T5_INIT_FACTOR",
    "T5_SUMMARIZATION_PARAMS",
    "build_bin_only_checkpoint",
    "build_tiny_bart",
    "build_tiny_pegasus",
    "build_tiny_t5",
]

#: Training text for the tokenizers, also handy as test documents.
CORPUS: tuple[str, ...] = (
    "The city council approved a new budget for public transport on Tuesday evening.",
    "Researchers found that the river had warmed by two degrees over the past decade.",
    "A small bakery on Main Street sells fresh bread every morning before sunrise.",
    "The company reported higher profits after a strong quarter of online sales.",
    "Heavy rain flooded several roads, and the police asked drivers to stay at home.",
    "Scientists launched a satellite to measure the thickness of polar ice sheets.",
    "The museum will open a new exhibition of ancient coins and pottery next month.",
    "Students protested outside the university after tuition fees were raised again.",
    "Doctors recommend regular exercise, a balanced diet and enough sleep each night.",
    "The football team won the championship with a late goal in the final minute.",
    "Engineers are building a bridge that will connect the two sides of the valley.",
    "Farmers worry that the long drought will reduce this year's wheat harvest.",
    "The government announced plans to plant one million trees across the country.",
    "A new study suggests that reading to children improves their vocabulary.",
    "Tourists crowded the old harbour to watch the boats return with their catch.",
    "The central bank kept interest rates unchanged despite rising prices.",
    "Volunteers cleaned the beach and collected more than three tonnes of plastic.",
    "The orchestra played a concert of music by Bach, Mozart and Beethoven.",
    "Firefighters brought the forest fire under control after four days of work.",
    "The hospital opened a children's ward with forty beds and a small playground.",
    "Electric cars now make up a growing share of new vehicles sold in Europe.",
    "The mayor said the new library would be free for everyone who lives in town.",
    "Astronomers observed a distant galaxy that formed soon after the Big Bang.",
    "Workers at the factory voted to accept a pay rise of five percent.",
    "The festival attracted thousands of visitors despite the cold and windy weather.",
    "Local schools will teach computer programming to pupils from the age of seven.",
    "The airline cancelled dozens of flights because of a strike by air traffic staff.",
    "A rare bird was spotted in the park, and photographers gathered to see it.",
    "The report warns that sea levels could rise faster than previously expected.",
    "Prices for fruit and vegetables fell sharply at the market this week.",
    "The court ruled that the new law was consistent with the constitution.",
    "Our summary service reads long documents and writes short, clear summaries.",
    "Why did the committee delay its decision? Nobody could give a clear answer.",
    "Sales of books rose by 12% in 2023, according to the publishers' association.",
    'She said: "We expect the work to be finished by the end of June."',
    "The train from London to Paris takes about two hours and twenty minutes.",
    "Hospitals, schools and shops reopened after the storm passed over the island.",
    "The new phone has a larger screen, a better camera and a longer battery life.",
    "Citizens can vote online or at a polling station until eight o'clock tonight.",
    "In summary, the results show a clear improvement over last year's figures.",
)

#: Standard deviation of BART's normal init (library default 0.02). See module docstring.
INIT_STD = 0.2
#: T5's ``initializer_factor`` (library default 1.0). See module docstring.
T5_INIT_FACTOR = 5.0
#: BART's ``final_logits_bias`` for its special tokens. See module docstring.
SPECIAL_TOKEN_LOGIT_BIAS = -10.0

#: Generation defaults in the style of ``facebook/bart-large-cnn``'s generation_config.json.
BART_GENERATION_DEFAULTS: dict[str, Any] = {
    "num_beams": 2,
    "max_length": 20,
    "min_length": 3,
    "no_repeat_ngram_size": 3,
    "early_stopping": True,
    "length_penalty": 2.0,
}

#: Generation defaults in the style of ``google/pegasus-cnn_dailymail``'s generation_config.json.
PEGASUS_GENERATION_DEFAULTS: dict[str, Any] = {
    "num_beams": 2,
    "max_length": 20,
    "min_length": 3,
    "length_penalty": 0.8,
}

#: ``task_specific_params["summarization"]`` in the style of ``t5-small``'s config.json.
T5_SUMMARIZATION_PARAMS: dict[str, Any] = {
    "prefix": "summarize: ",
    "max_length": 20,
    "min_length": 3,
    "num_beams": 2,
    "no_repeat_ngram_size": 3,
    "early_stopping": True,
    "length_penalty": 2.0,
}

_BART_VOCAB_SIZE = 400
_T5_VOCAB_SIZE = 300
# BART's and PEGASUS's tiny configs: the same sizes.
_TINY_BART_SHAPE: dict[str, int] = {
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
}
# PEGASUS's layout: <pad>, </s>, <mask_1>, <mask_2>, <unk_2> ... <unk_102>, <unk>, then the pieces.
_PEGASUS_SPECIALS = ["<pad>", "</s>", "<mask_1>", "<mask_2>", *(f"<unk_{i}>" for i in range(2, 103)), "<unk>"]


def build_tiny_bart(path: Path | str, *, max_positions: int = 64, seed: int = 0) -> Path:
    """Write a tiny random BART checkpoint (safetensors) with a BART-CNN-like generation config."""
    path = Path(path)
    tokenizer = _bart_tokenizer(max_positions)
    model = _bart_model(tokenizer, max_positions, seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_t5(path: Path | str, *, max_positions: int = 64, seed: int = 0, flan: bool = False) -> Path:
    """Write a tiny random T5 checkpoint (safetensors) with t5-style ``task_specific_params``.

    ``flan``: as google/flan-t5-* are made, gated-GELU feed-forward layers and an LM head
    of its own (not tied to the embedding, so its output is not rescaled).
    """
    path = Path(path)
    tokenizer = _t5_tokenizer(max_positions)
    variant: dict[str, Any] = {"feed_forward_proj": "gated-gelu", "tie_word_embeddings": False} if flan else {}
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        n_positions=max_positions,
        initializer_factor=T5_INIT_FACTOR,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        task_specific_params={"summarization": dict(T5_SUMMARIZATION_PARAMS)},
        **variant,
    )
    model = _seeded(T5ForConditionalGeneration, config, seed)
    with torch.no_grad():
        model.shared.weight[tokenizer.all_special_ids] = 0.0
        if flan:  # its own head: zero rows give the special tokens a logit of 0 there too
            model.lm_head.weight[tokenizer.all_special_ids] = 0.0
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_pegasus(path: Path | str, *, max_positions: int = 64, seed: int = 0) -> Path:
    """Write a tiny random PEGASUS checkpoint (safetensors): pre-norm layers, sinusoidal positions, scaled embeds."""
    path = Path(path)
    vocab = _unigram_vocab(_PEGASUS_SPECIALS, _T5_VOCAB_SIZE + len(_PEGASUS_SPECIALS))
    tokenizer = PegasusTokenizer(vocab=vocab, model_max_length=max_positions)
    config = PegasusConfig(
        vocab_size=len(tokenizer),
        **_TINY_BART_SHAPE,
        max_position_embeddings=max_positions,
        init_std=INIT_STD,
        activation_function="relu",  # as google/pegasus-* (BART's tiny checkpoint covers gelu)
        scale_embedding=True,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        forced_eos_token_id=1,
    )
    model = _seeded(PegasusForConditionalGeneration, config, seed)
    with torch.no_grad():
        model.final_logits_bias[:, tokenizer.all_special_ids] = SPECIAL_TOKEN_LOGIT_BIAS
    model.generation_config = GenerationConfig(
        **PEGASUS_GENERATION_DEFAULTS, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_bin_only_checkpoint(path: Path | str) -> Path:
    """Write the tiny BART checkpoint with its weights only as a pickled ``pytorch_model.bin``."""
    path = Path(path)
    max_positions = 64
    tokenizer = _bart_tokenizer(max_positions)
    model = _bart_model(tokenizer, max_positions, seed=0)
    path.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(path)
    model.generation_config.save_pretrained(path)
    torch.save(model.state_dict(), path / "pytorch_model.bin")
    tokenizer.save_pretrained(path)
    return path


def _seeded(model_class: Any, config: Any, seed: int) -> Any:
    """A model with random weights fixed by ``seed``, leaving the caller's random state as it was."""
    # MODEL_LOADING: a load on another thread (an app of an earlier test still loading) must not have
    # transformers' initialization switched off while this model initializes its weights.
    with MODEL_LOADING, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_class(config).eval()


def _bart_model(tokenizer: BartTokenizer, max_positions: int, seed: int) -> BartForConditionalGeneration:
    config = BartConfig(
        vocab_size=len(tokenizer),
        **_TINY_BART_SHAPE,
        max_position_embeddings=max_positions,
        init_std=INIT_STD,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_eos_token_id=2,
    )
    model = _seeded(BartForConditionalGeneration, config, seed)
    with torch.no_grad():
        model.final_logits_bias[:, tokenizer.all_special_ids] = SPECIAL_TOKEN_LOGIT_BIAS
    model.generation_config = GenerationConfig(
        **BART_GENERATION_DEFAULTS,
        bos_token_id=0,
        pad_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=2,
        forced_bos_token_id=0,
        forced_eos_token_id=2,
    )
    return model


def _bart_tokenizer(max_positions: int) -> BartTokenizer:
    """Byte-level BPE in BART's layout: ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, ``<mask>`` last."""
    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=_BART_VOCAB_SIZE - 1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trained.train_from_iterator(CORPUS, trainer)
    model = json.loads(trained.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    vocab["<mask>"] = len(vocab)
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in model["merges"]]
    return BartTokenizer(vocab=vocab, merges=merges, model_max_length=max_positions)


def _t5_tokenizer(max_positions: int) -> T5Tokenizer:
    """Unigram in T5's layout: ``<pad>``=0, ``</s>``=1, ``<unk>``=2, no sentinel tokens."""
    vocab = _unigram_vocab(["<pad>", "</s>", "<unk>"], _T5_VOCAB_SIZE)
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_positions)


def _unigram_vocab(specials: list[str], size: int) -> list[tuple[str, float]]:
    """A SentencePiece-style unigram vocabulary on :data:`CORPUS`: the specials first, then pieces by score.

    ``UnigramTrainer`` is not reproducible (its scores differ in the last bits
    from run to run, which reorders the ids), so the pieces come from a BPE
    trained on the same Metaspace pre-tokenization (deterministic) and each
    piece scores its add-one-smoothed log frequency in the BPE segmentation of
    the corpus: one M-step of the unigram EM. Pieces are ordered by score, as
    SentencePiece orders them.
    """
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.pre_tokenizer = _t5_pre_tokenizer()
    trainer = trainers.BpeTrainer(vocab_size=size, special_tokens=specials, show_progress=False)
    trained.train_from_iterator(CORPUS, trainer)
    counts = Counter(token for text in CORPUS for token in trained.encode(text, add_special_tokens=False).tokens)
    pieces = [piece for piece in trained.get_vocab() if piece not in specials]
    total = sum(counts[piece] + 1 for piece in pieces)
    scored = sorted(((piece, math.log((counts[piece] + 1) / total)) for piece in pieces), key=lambda p: (-p[1], p[0]))
    return [(piece, 0.0) for piece in specials] + scored


def _t5_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """The pre-tokenization ``T5Tokenizer`` and ``PegasusTokenizer`` build (they ignore the one in tokenizer.json)."""
    return pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
