"""JSON Schema files of the documents, generated from the models: `python -m hmb_ops.documents.schema`.

The files in docs/schemas/ are what the models accept on reading (validation mode: a field with a
default may be absent, as in documents written before it existed). A test fails when the committed
files differ from what the models generate, so a model change cannot leave the schema behind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from .capacity import CapacityDocument
from .claims import ClaimsDocument
from .results import Results
from .search import SearchDocument

SCHEMAS: dict[str, type[BaseModel]] = {"results": Results, "capacity": CapacityDocument, "claims": ClaimsDocument,
                                       "search": SearchDocument}
DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "docs" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema_text(name: str) -> str:
    """The JSON Schema of one document, as the file holds it."""
    schema = SCHEMAS[name].model_json_schema(by_alias=True, mode="validation")
    schema = {"$schema": DRAFT, "$id": f"hmb-ops/{name}.schema.json", **schema}
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def file_name(name: str) -> str:
    return f"{name}.schema.json"


def write_all(folder: Path = DEFAULT_FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = folder / file_name(name)
        path.write_text(schema_text(name), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else DEFAULT_FOLDER
    for path in write_all(folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
