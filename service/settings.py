"""Every knob of the service, read once from ``DOCSUM_*`` variables or given in code.

``create_app(settings)`` takes one of these; nothing else reads the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.catalog import ModelSpec, build_catalog, parse_model_entry
from models.documents import ExtractLimits
from models.loading import LoadSettings
from models.residency import Residency
from models.types import DEFAULT_MAX_CHUNKS, DEFAULT_MAX_SENTENCES, WorkLimits


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "docsum"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCSUM_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server listens on.")
    default_model: str = Field("extractive", description="Catalog name used when a request names no model.")
    models: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Extra catalog entries, NAME=SOURCE[@REVISION], comma-separated or a JSON list/object.",
    )
    loadable: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Catalog names callers may cause to load, comma-separated (the default model always may); "
        "others are refused with 403 model_not_loadable. Empty or *: every catalog model.",
    )
    max_resident_models: int = Field(
        0,
        ge=0,
        description="Models loaded at once, at most; loading one more unloads the least recently used idle one "
        "(503 models_busy if every one has work in flight). 0: no cap.",
    )
    model_idle_seconds: float = Field(
        0, ge=0, description="A model unused this long is unloaded (and loaded again when next asked for); 0: never."
    )
    device: str = Field("auto", description="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:1, mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16", "int8"] = Field(
        "auto",
        description="auto: bf16 or fp16 on GPU; on CPU int8 (dynamic) with VNNI, bf16 where native, else fp32.",
    )
    batch_size: int = Field(16, ge=1, le=512, description="Documents per model call, at most.")
    batch_tokens: int = Field(
        16384, ge=64, description="Padded input tokens x beams per model call (documents x longest x beams), at most."
    )
    batch_wait_ms: float = Field(
        10.0, ge=0, le=1000, description="How long a model waits for more requests to share its next call."
    )
    queue_size: int = Field(
        256, ge=1, description="Documents waiting per model; more are refused with 429 and Retry-After."
    )
    batch_share: float = Field(
        0.25,
        ge=0,
        le=0.9,
        description="Share of a model's time guaranteed to batch and job work while interactive requests keep "
        "it busy; 0: interactive requests always go first.",
    )
    threads: int = Field(0, ge=0, le=1024, description="CPU threads per model call; 0 means one per core.")
    batch_invariant: bool = Field(
        True,
        description="A document's summary never depends on the documents sharing its model call (CPU: int8 "
        "activations scaled per row, attention one document at a time); false is about 9% faster in int8.",
    )
    accelerate: bool = Field(
        True,
        description="docsum's speed paths (its attention, CPU parts, scripted decoding steps, ...; GET /v1/models "
        "says which engaged); false: transformers' own generation, nothing patched (batch invariance needs them).",
    )
    max_document_chars: int = Field(200_000, ge=1, description="Characters per document; more is refused (413).")
    max_batch_documents: int = Field(64, ge=1, description="Documents per batch request; more is refused (422).")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="Request body size; more is refused (413).")
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Request headers, names and values together; more is refused (431)."
    )
    max_query_chars: int = Field(1000, ge=1, description="Characters in a `query`.")
    max_chunks: int = Field(
        DEFAULT_MAX_CHUNKS,
        ge=1,
        description="Map chunks one document may take in a seq2seq map-reduce; more is refused (422 too_many_chunks).",
    )
    max_context_tokens: int = Field(
        4096,
        ge=256,
        description="Context positions an instruct model uses, prompt and answer together, whatever its checkpoint "
        "allows: bounds memory; longer documents go through map-reduce.",
    )
    max_sentences: int = Field(
        DEFAULT_MAX_SENTENCES,
        ge=1,
        description="Sentences one document may have for the extractive model, whose scoring costs their square; "
        "more is refused (422 too_many_sentences).",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait for the next part of a request body (as nginx's client_body_timeout); "
        "then 408 request_timeout and the connection is closed.",
    )
    drain_seconds: float = Field(
        20.0,
        ge=0,
        description="After SIGTERM: /ready and new requests answer 503 shutting_down while requests in flight "
        "get this long to finish; then they are cut and the process exits 0.",
    )
    log_level: str = Field("info", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as text or one JSON object each; both carry the request id."
    )
    metrics: bool = Field(True, description="Serve Prometheus metrics at GET /metrics.")
    otlp_endpoint: str | None = Field(
        None,
        description="Export traces over OTLP/HTTP to this collector (http://collector:4318); needs "
        "pip install 'docsum[otel]'.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the SQLite job store lives (docsum.db); $XDG_DATA_HOME/docsum by default.",
    )
    gguf_cache_dir: Path | None = Field(
        None,
        description="Where GGUF models are kept once dequantized to safetensors (checked by sha256 on every load, "
        "rebuilt when changed); $XDG_CACHE_HOME/docsum/gguf by default.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of a job store shared by several replicas, e.g. "
        "postgresql+psycopg://user:password@host/docsum; replaces the SQLite store.",
    )
    job_retention_hours: float = Field(24.0, gt=0, description="Finished jobs and their results are kept this long.")
    job_lease_seconds: float = Field(
        30.0, ge=1, description="A replica that stops renewing its claim on job documents loses them after this long."
    )
    job_unserved_hours: float = Field(
        1.0,
        gt=0,
        description="A queued or running job whose model no running replica has in its catalog waits this long "
        "for one, then fails with model_not_served.",
    )
    max_job_documents: int = Field(100_000, ge=1, description="Documents per job; more is refused (422).")
    max_job_body_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="Body size of POST /v1/jobs (JSON or JSONL upload); more is refused."
    )

    max_document_pages: int = Field(500, ge=1, description="Pages per PDF; more is refused (413 too_many_pages).")
    max_unpacked_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1024,
        description="Bytes a DOCX may unpack to (its zip's declared sizes, checked before parsing); more, or a "
        "member unpacking over 100 times its size, is refused (413 archive_too_large).",
    )
    extraction_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest text extraction of one uploaded file; then 422 extraction_timeout."
    )
    extraction_workers: int = Field(
        2, ge=1, le=64, description="Files extracted at once (each in its own child process); others wait."
    )
    extraction_memory_mb: int = Field(
        2048, ge=256, description="Address space of an extraction's child process, in MiB; past it the file fails."
    )
    max_job_files: int = Field(1000, ge=1, description="Files in one multipart POST /v1/jobs; more is refused (422).")
    webhook_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Hosts job webhooks may call, comma-separated: a name, or *.example.com for its subdomains; "
        "a host that resolves to a private address must be listed by name. Empty: webhooks are off.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC-SHA256 that signs each webhook call (X-Docsum-Signature); required with "
        "DOCSUM_WEBHOOK_HOSTS.",
    )
    webhook_attempts: int = Field(5, ge=1, le=20, description="Calls of a webhook before it is given up.")
    webhook_backoff_seconds: float = Field(
        2.0, gt=0, description="Wait before a webhook's second call; doubled before each next one (at most 1 h)."
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=300, description="Longest wait for a webhook's answer.")

    auth: Literal["auto", "open", "keys"] = Field(
        "auto",
        description="keys: every route but /health and /ready needs a key from DOCSUM_API_KEYS_FILE; open: none "
        "(refused on a non-loopback address unless set outright); auto: keys when a key file is set, else open.",
    )
    api_keys_file: Path | None = Field(
        None, description="File of API keys, one NAME:SHA256-HEX line each (`docsum keys new NAME` prints one)."
    )
    limit_requests_per_second: int = Field(0, ge=0, description="Requests per second per key; 0: no limit.")
    limit_input_tokens_per_minute: int = Field(
        0, ge=0, description="Input tokens (estimated: characters / 4) per minute per key to summarize and ground."
    )
    limit_concurrent_streams: int = Field(0, ge=0, description="Streamed summaries open at once per key, per replica.")
    limit_documents_per_day: int = Field(0, ge=0, description="Documents summarized or submitted per key per UTC day.")
    limit_stored_bytes_per_day: int = Field(
        0, ge=0, description="Bytes of job documents stored per key per UTC day (ids and texts, UTF-8)."
    )
    api_docs: Literal["auto", "public", "off"] = Field(
        "auto",
        description="/docs, /redoc and /openapi.json: auto behind the keys when keys are on (public in open mode), "
        "public, or off.",
    )
    expose_model_paths: bool = Field(
        False, description="GET /v1/models shows local checkpoint paths (otherwise `local`)."
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Origins browsers may call from (CORS), comma-separated; none by default."
    )

    @field_validator("webhook_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> Settings:
        if self.webhook_hosts and self.webhook_secret is None:
            raise ValueError("DOCSUM_WEBHOOK_HOSTS needs DOCSUM_WEBHOOK_SECRET: every webhook call is signed")
        return self

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith(("{", "[")):
                decoded = json.loads(text)
                if isinstance(decoded, dict):
                    return tuple(f"{name}={source}" for name, source in decoded.items())
                return tuple(decoded)
            return tuple(part.strip() for part in text.split(",") if part.strip())
        return value

    @field_validator("loadable", mode="before")
    @classmethod
    def _split_loadable(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            parse_model_entry(entry)
        return value

    def catalog(self) -> dict[str, ModelSpec]:
        return build_catalog(parse_model_entry(entry) for entry in self.models)

    def loadable_models(self) -> frozenset[str] | None:
        """The names callers may cause to load; None: all of the catalog."""
        if not self.loadable or "*" in self.loadable:
            return None
        return frozenset({*self.loadable, self.default_model})

    def residency(self) -> Residency:
        return Residency(
            max_resident=self.max_resident_models or None,
            idle_seconds=self.model_idle_seconds or None,
            pinned=frozenset({self.default_model}),
        )

    def store_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'docsum.db'}"

    def extract_limits(self) -> ExtractLimits:
        return ExtractLimits(
            max_chars=self.max_document_chars,
            max_pages=self.max_document_pages,
            max_unpacked_bytes=self.max_unpacked_bytes,
        )

    def load_settings(self) -> LoadSettings:
        limits = WorkLimits(max_chunks=self.max_chunks, max_sentences=self.max_sentences)
        return LoadSettings(
            device=self.device,
            dtype=self.dtype,
            threads=self.threads,
            limits=limits,
            batch_invariant=self.batch_invariant,
            accelerate=self.accelerate,
            max_context_tokens=self.max_context_tokens,
            gguf_cache_dir=self.gguf_cache_dir,
        )
