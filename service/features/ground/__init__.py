"""POST /v1/ground: check any summary against its source (``models.grounding``)."""
