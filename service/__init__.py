"""docsum's service: settings, HTTP app, engine and CLI around the ``models`` library."""
