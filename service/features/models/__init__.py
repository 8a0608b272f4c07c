"""GET /v1/models: the catalog and each model's state."""
