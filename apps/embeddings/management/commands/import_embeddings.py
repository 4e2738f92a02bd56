"""`manage.py import_embeddings COLLECTION FILE`: large loads through binary COPY + upsert, with progress.

FILE is JSONL (one item per line: entity_type, entity_id, vector, content?, metadata?) or a .npy
matrix with `--metadata items.jsonl` giving the other fields line by line (vector omitted there).
Chunks are validated and committed one by one; re-running is idempotent (upsert).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.common.errors import DomainError
from apps.embeddings.selectors.collections import collection_get
from apps.embeddings.services.indexes import embeddings_analyze
from apps.embeddings.services.ingest import embeddings_import
from apps.tenants.selectors import tenant_get


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open() as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CommandError(f"{path}:{n}: invalid JSON ({exc})") from None


class Command(BaseCommand):
    help = "Import embeddings into a collection from JSONL or .npy (+ --metadata JSONL)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("collection")
        parser.add_argument("file")
        parser.add_argument("--metadata", help="JSONL with entity_type, entity_id, content, metadata per .npy row")
        parser.add_argument("--tenant", default="default", help="slug of the collection's tenant")
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts) -> None:
        path = Path(opts["file"])
        if not path.exists():
            raise CommandError(f"{path}: no such file")
        try:
            tenant_id = tenant_get(slug=opts["tenant"]).pk  # a name is unique within its tenant only
            collection = collection_get(name=opts["collection"], tenant_id=tenant_id)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if path.suffix == ".npy":
            if not opts["metadata"]:
                raise CommandError("a .npy file needs --metadata items.jsonl (entity_type, entity_id per row)")
            matrix = np.load(path, mmap_mode="r")
            total = len(matrix)

            def items() -> Iterator[dict]:
                for i, meta in enumerate(_jsonl(Path(opts["metadata"]))):
                    if i >= total:
                        raise CommandError(f"{opts['metadata']} has more lines than {path} has rows ({total})")
                    yield {**meta, "vector": np.asarray(matrix[i])}

            source = items()
        else:
            with path.open() as fh:
                total = sum(1 for line in fh if line.strip())
            source = _jsonl(path)
        bar = tqdm(total=total, unit="rows", disable=opts["no_progress"], file=self.stderr._out)
        try:
            result = embeddings_import(collection=collection, items=source, chunk_size=opts["chunk_size"],
                                       progress=bar.update)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        finally:
            bar.close()
        embeddings_analyze()
        self.stdout.write(self.style.SUCCESS(
            f"{collection}: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged"))
