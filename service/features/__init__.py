"""The HTTP features, one folder each: its router, protocol (request and response bodies) and serving.

``summarize`` (POST /v1/summarize, /v1/summarize/batch), ``ground`` (POST /v1/ground),
``jobs`` (/v1/jobs and everything behind it), ``models`` (GET /v1/models) and ``health``
(GET /health, /ready). What they share: ``base`` (the checks every feature makes),
``protocol`` (the error envelope and strict bodies), ``body`` (how a JSON body is read).
"""
