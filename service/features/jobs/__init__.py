"""Durable batch jobs: /v1/jobs, a SQL store (SQLite or PostgreSQL) and the worker that runs them.

``router`` (thin) and ``serving.JobsServing`` answer /v1/jobs; ``protocol`` holds its
bodies, ``submission`` reads a whole job (JSON or an uploaded file in one of the
:mod:`models.inputs` formats, which ``docsum batch`` reads too) and names every problem it has.
``store.JobStore`` keeps jobs, their documents and their results, and hands out
work with leases so that several replicas on one database never run the same
document; ``worker.JobWorker`` claims that work in every replica and feeds it to
the engine at batch priority. ``tables`` holds the SQL tables and the connection to
the database, ``options`` how a job's summary options are stored (a versioned record,
read back from any version written), ``records`` what the store hands out (jobs, claims, outcomes), ``routing`` which
replica may run which job (only one that has its model) and what becomes of a job
that no running replica serves.
"""
