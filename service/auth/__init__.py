"""Who is calling, and how much they may do: API keys, per-key limits and quotas, what strangers see.

``keys``: the key file (``name:sha256-hex`` lines; keys are never stored) and the constant-time
lookup. ``gate``: the typed dependency every route but /health and /ready runs (``CallerDep``,
``require_caller``): 401 without a valid key, then the key's requests-per-second limit.
``limits`` and ``usage``: per-key limits and quotas, counted in the job store's database so
that replicas sharing it share them. ``headers``: the IETF ``RateLimit`` fields.
``origin``: CORS by allow-list, and no cross-site writes from browsers.
"""
