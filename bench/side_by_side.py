"""A few summaries side by side, as markdown: the reference, Lead-3, and each model asked for.

    .venv/bin/python bench/side_by_side.py ../shared/data/cnndm/test.jsonl --first 3 --models extractive smollm2-135m

Models are catalog names (or anything ``docsum --model`` takes), run with their default
options, as ``docsum eval`` runs them. The data is read where it is; nothing is copied.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.catalog import load_by_name_or_source
from models.evaluation import lead3, load_eval_records
from models.types import SummaryOptions
from service.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--first", type=int, default=3, help="How many records, from the first.")
    parser.add_argument("--models", nargs="+", default=["extractive"])
    args = parser.parse_args()
    records = load_eval_records(args.data, args.first)
    settings = Settings()
    columns: dict[str, list[str]] = {"reference": [r.references[0] for r in records]}
    columns["Lead-3"] = [" ".join(lead3(r.text)) for r in records]
    for name in args.models:
        model = load_by_name_or_source(name, settings.catalog(), settings.load_settings())
        columns[name] = [s.summary for s in model.summarize([r.text for r in records], SummaryOptions())]
    for i, record in enumerate(records):
        print(f"### {record.id} ({len(record.text.split())} words)\n")
        for name, texts in columns.items():
            print(f"- **{name}**: {' '.join(texts[i].split())}")
        print()


if __name__ == "__main__":
    main()
