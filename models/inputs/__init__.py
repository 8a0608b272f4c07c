"""Where document collections are read: one module per input format, one registry.

*Where to add an input format*: a module here (see ``jsonl.py``, ``csv.py``) and one
line in ``registry.FORMATS``. A format reads the lines of a text stream into
:class:`Record` (a document: id, text, other fields) and :class:`Problem` (a line or
row that is not one, with its code and message) items, in order. ``docsum batch``
and its Ray engine (``service/features/jobs/batchfile.py``), job uploads
(``service/features/jobs/submission.py``), ``docsum eval`` (:mod:`models.evaluation`,
:mod:`models.grounding_eval`) all read through here. Pure and synchronous.
"""

from __future__ import annotations

from models.inputs.records import INVALID_LINE, InputError, InputFormat, Problem, Record, fallback_id
from models.inputs.registry import FORMATS, count_file, format_for, formats, read_file

__all__ = [
    "FORMATS",
    "INVALID_LINE",
    "InputError",
    "InputFormat",
    "Problem",
    "Record",
    "count_file",
    "fallback_id",
    "format_for",
    "formats",
    "read_file",
]
