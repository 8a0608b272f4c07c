"""The page for people (``GET /``) and the API docs (``/docs``, ``/redoc``), served from files in the package."""
