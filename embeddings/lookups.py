"""What an index knows of each document besides its vectors and texts: its version, its
keyword filter values and its exact identifiers (error codes, models).

They persist as postings columns in the index's manifest (see embeddings/store.py); the
caller of the writing methods holds the index's write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embeddings.exact import ExactIndex, normalise

ANY = "*"  # keyword stored for an empty list: "applies to all" for wildcard fields


@dataclass
class Lookups:
    """Versions, keyword filters (field -> normalised value -> document -> spelling) and
    the exact lanes of error codes and models; `fields` maps each filter field to whether
    a document without a value applies to all values."""

    fields: Mapping[str, bool]
    versions: dict[int, int]
    filters: dict[str, ExactIndex]
    codes: ExactIndex
    models: ExactIndex

    @classmethod
    def empty(cls, fields: Mapping[str, bool]) -> Lookups:
        """No document yet."""
        filters = {name: ExactIndex(min_length=1) for name in fields}
        return cls(fields, {}, filters, ExactIndex(), ExactIndex())

    def lanes(self) -> list[ExactIndex]:
        """Every lookup keyed by document."""
        return [*self.filters.values(), self.codes, self.models]

    # -- writes --------------------------------------------------------------------------

    def keyword_values(self, keywords: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
        """Each filter field's normalised values (ANY for none on a wildcard field), with
        the document's spelling of each."""
        out: dict[str, dict[str, str]] = {}
        for name, wildcard in self.fields.items():
            spelled = {normalise(v): v for v in keywords.get(name, ()) if normalise(v)}
            if not spelled and wildcard:
                spelled = {ANY: ANY}
            out[name] = dict(sorted(spelled.items()))
        return out

    def add(
        self,
        doc_id: int,
        version: int,
        keywords: Mapping[str, Mapping[str, str]],
        codes: Iterable[str],
        models: Iterable[str],
    ) -> None:
        """Add a document this index does not hold (`keywords` from `keyword_values`)."""
        for name, spelled in keywords.items():
            self.filters[name].add(doc_id, spelled)
        self.codes.add(doc_id, self.codes.keyed(codes))
        self.models.add(doc_id, self.models.keyed(models))
        self.versions[doc_id] = version

    def forget(self, ids: Iterable[int]) -> None:
        """Drop documents (absent ids are ignored)."""
        gone = [i for i in ids if self.versions.pop(i, None) is not None]
        for lane in self.lanes():
            lane.remove(gone)

    def prepare_writes(self) -> None:
        """Turn the columns a load left into what writes change (see ExactIndex)."""
        for lane in self.lanes():
            lane.prepare_writes()

    # -- reads ---------------------------------------------------------------------------

    def known_values(self, name: str) -> set[str]:
        """Values of a keyword field present, as spelled (KeyError for another field)."""
        return self.filters[name].spellings(skip=ANY)

    def has_value(self, name: str, value: str) -> bool:
        """Whether any document carries this keyword value (normalised)."""
        lane = self.filters.get(name)
        return lane is not None and bool(lane.held(normalise(value)))

    def allowed_ids(self, filters: Mapping[str, Sequence[str]]) -> set[int] | None:
        """Ids passing all filters (None: no filter). Unknown fields raise KeyError."""
        allowed: set[int] | None = None
        for name, values in filters.items():
            if name not in self.fields:
                raise KeyError(name)
            lane = self.filters[name]
            keys = {normalise(v) for v in values}
            if self.fields[name]:
                keys.add(ANY)
            ids: set[int] = set()
            for key in keys:
                ids.update(lane.held(key))
            allowed = ids if allowed is None else allowed & ids
        return allowed

    # -- persistence ---------------------------------------------------------------------

    def postings(self) -> dict[str, Any]:
        """The persisted form: a few long lists, no record per document (a record each
        meant many objects to rebuild at every start of a large library)."""
        return {
            "ids": list(self.versions),
            "versions": list(self.versions.values()),
            "filters": {name: lane.postings() for name, lane in self.filters.items()},
            "codes": self.codes.postings(),
            "models": self.models.postings(),
        }

    @classmethod
    def from_postings(cls, saved: Mapping[str, Any], fields: Mapping[str, bool]) -> Lookups:
        """The lookups `postings()` was taken from, read in place (no step per document in
        Python; see `ExactIndex.from_postings`)."""
        ids, versions = saved["ids"], saved["versions"]
        by_id = dict(zip(ids, versions, strict=True))
        if len(by_id) != len(ids):
            raise ValueError("the manifest lists a document twice")
        filters = saved["filters"]
        return cls(
            fields,
            by_id,
            {n: ExactIndex.from_postings(filters[n], min_length=1) for n in fields},
            ExactIndex.from_postings(saved["codes"]),
            ExactIndex.from_postings(saved["models"]),
        )

    @classmethod
    def from_records(cls, records: Mapping[str, Any], fields: Mapping[str, bool]) -> Lookups:
        """The lookups of a format 1 manifest's `docs` (a record per document)."""
        out = cls.empty(fields)
        for key, meta in records.items():
            doc_id = int(key)
            out.versions[doc_id] = int(meta["version"])
            labels = meta["labels"]
            for name, values in meta["keywords"].items():
                spelled = {normalise(v): v for v in labels.get(name, ())}
                out.filters[name].add(doc_id, {v: spelled.get(v, v) for v in values})
            out.codes.add(doc_id, out.codes.keyed(meta["codes"]))
            out.models.add(doc_id, out.models.keyed(meta["models"]))
        return out
