"""docsum's model library: pure, synchronous summarization code.

Nothing here imports FastAPI or asyncio, so the CLI, a Ray worker or a notebook
can use it on its own.
"""
