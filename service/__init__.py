"""docsum's service: settings, HTTP app, engine and CLI around the ``models`` library."""

import os

import models as _models

if not getattr(_models, "DOCSUM_LIBRARY", False):  # another package named "models" came first on sys.path
    raise ImportError(
        f"docsum's service found a package named 'models' at {getattr(_models, '__file__', None) or _models.__path__} "
        "that is not docsum's: install docsum in its own environment (docs/architecture.md, 'The top-level names')"
    )

__version__ = "0.1.0"  # as pyproject.toml says (tests/service/test_cli.py checks)

# Before torch loads OpenMP: idle worker threads sleep instead of spinning. On a busy
# machine (the server's own event loop, or other processes, wanting the same cores)
# spinning threads made model calls 2.4x slower; on an idle one it costs nothing
# measurable (docs/performance.md). Set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
