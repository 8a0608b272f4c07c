"""What docsum tells its operator: Prometheus metrics, OpenTelemetry traces, structured logs.

- ``metrics``: every metric of one app, in a registry of its own (``GET /metrics``).
- ``telemetry``: what the engine's worker threads report (queue time, model calls, loads, documents).
- ``tracing``: the app's tracer: OTLP export when configured, else OpenTelemetry's global one.
- ``http``: the middleware that times, counts and traces each HTTP request.
- ``logs``: text or JSON log lines, each with its request's id.

Nothing here imports the rest of ``service`` but its settings and ``service.request_context``,
so any layer may report here without an import cycle; ``service.app`` wires it together.
"""
