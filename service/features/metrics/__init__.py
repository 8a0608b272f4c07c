"""GET /metrics: Prometheus metrics of this replica."""
