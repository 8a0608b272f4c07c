"""docsum's model library: pure, synchronous summarization code.

Nothing here imports FastAPI or asyncio, so the CLI, a Ray worker or a notebook
can use it on its own.
"""

# docsum's own ``models``: ``service`` checks for this name before it uses the package, since
# another distribution's top-level ``models`` earlier on sys.path would shadow this one.
DOCSUM_LIBRARY = True
