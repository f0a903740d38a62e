"""The plain baseline the benchmark compares against: one FastAPI route that encodes each
query with sentence-transformers (torch) and scans an exact FAISS index. No batching, no
lexical lane, no filters.

    BASELINE_DIR=... uvicorn scripts.baseline_app:app
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from embeddings.encoder import SentenceTransformerEncoder

folder = Path(os.environ.get("BASELINE_DIR", "data/baseline"))
encoder = SentenceTransformerEncoder(threads=1)
vectors = np.load(folder / "vectors.npy")
ids = json.loads((folder / "ids.json").read_text())
faiss_index = faiss.IndexFlatIP(vectors.shape[1])
faiss_index.add(vectors)
app = FastAPI()


class Query(BaseModel):
    """The request."""

    query: str
    limit: int = 5


@app.post("/search")
def search(q: Query) -> dict[str, list[dict[str, float | int]]]:
    """Encode, scan, return ids and scores."""
    scores, rows = faiss_index.search(encoder.encode([q.query]), q.limit)
    return {
        "results": [
            {"id": ids[r], "score": float(s)} for s, r in zip(scores[0], rows[0], strict=True)
        ]
    }


@app.get("/health")
def health() -> dict[str, str]:
    """Ready check."""
    return {"status": "ok"}
