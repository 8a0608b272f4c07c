"""The job store's tables, and the connection to the database that holds them.

``Database`` is SQLAlchemy's ``Engine``: a pool of connections to one SQL database
(not ``service.engine.Engine``, which runs models).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine

# The job store's SQL database, as SQLAlchemy connects to it (a pool of connections).
Database: TypeAlias = Engine

ACTIVE = ("queued", "running")

metadata = MetaData()

jobs = Table(
    "docsum_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("model", String(100), nullable=False),
    Column("params", Text, nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("expires_at", Float),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64)),
    UniqueConstraint("owner", "idempotency_key", name="docsum_jobs_idempotency"),
    Index("docsum_jobs_status", "status", "created_at"),
    Index("docsum_jobs_owner", "owner", "created_at"),
)

documents = Table(
    "docsum_job_documents",
    metadata,
    Column("job_id", String(32), ForeignKey("docsum_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("doc_id", String(256), nullable=False),
    Column("text", Text, nullable=False),
    Column("state", String(8), nullable=False, default="pending"),
    Column("claim", String(32)),
    Column("lease_until", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("failed", Boolean, nullable=False, default=False),
    Column("result", Text),
    Index("docsum_job_documents_state", "job_id", "state", "seq"),
)

# Which models the running replicas serve: each replica stamps the names in its catalog every
# few seconds, so a model whose stamp is older than a lease has no running replica.
served_models = Table(
    "docsum_served_models",
    metadata,
    Column("model", String(100), primary_key=True),
    Column("seen_at", Float, nullable=False),
)

# Active jobs whose model no running replica serves: since when (as watched by running replicas),
# and when a replica last looked. Rows of jobs that became servable again are deleted.
job_waits = Table(
    "docsum_job_waits",
    metadata,
    Column("job_id", String(32), ForeignKey("docsum_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("since", Float, nullable=False),
    Column("checked_at", Float, nullable=False),
)

# A job's webhook (service.features.jobs.webhooks): called once the job ends. A table of its own, so a
# store made before webhooks existed gains it by create_all, with no ALTER of docsum_jobs.
webhooks = Table(
    "docsum_job_webhooks",
    metadata,
    Column("job_id", String(32), ForeignKey("docsum_jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("url", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False, default=0),
    # The next attempt's time; while a replica sends, its lease (another replica may take over after).
    Column("next_at", Float, nullable=False),
    Column("last_error", Text),
    Index("docsum_job_webhooks_due", "state", "next_at"),
)


def connect(url: str) -> Database:
    if url.startswith("sqlite"):
        database = create_engine(url, connect_args={"timeout": 30})
        event.listen(database, "connect", _sqlite_pragmas)
        return database
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Pages of deleted jobs can go back to the file system (release_space); only a new file takes this.
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    # The write-ahead log shrinks back to 64 MiB after a checkpoint, not staying as large as the largest job.
    cursor.execute("PRAGMA journal_size_limit=67108864")
    # WAL: readers never wait for the writer. synchronous=FULL: a 202 survives power loss, not only a kill.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def release_space(database: Database) -> None:
    """SQLite: hand the pages of deleted rows back to the file system, so a deleted job stops taking disk.

    PostgreSQL's autovacuum does its own. A store file made before docsum set ``auto_vacuum``
    keeps its free pages for new rows until a ``VACUUM``.
    """
    if database.dialect.name != "sqlite":
        return
    raw = database.raw_connection()
    try:
        # executescript steps the pragma to its end (execute would free one page per call).
        raw.driver_connection.executescript("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(PASSIVE);")  # type: ignore[union-attr]
    finally:
        raw.close()
