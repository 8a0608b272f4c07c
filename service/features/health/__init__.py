"""GET /health (the process answers) and GET /ready (the default model is loaded)."""
