"""POST /v1/summarize (also streamed as server-sent events) and POST /v1/summarize/batch."""
