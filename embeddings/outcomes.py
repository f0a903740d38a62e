"""What past calls say about each document: fixed or failed, per scanner, as a bounded
adjustment to the fused score.

Each vote is one call's outcome for one document, cast on a scanner (modality,
manufacturer, model) by a person at a time. For a search on a scanner, a document's votes
fall in four rings: the same model, else the same manufacturer, else the same modality,
else any other; each vote counts once, in the innermost ring it belongs to. The fix rate
is smoothed from the outside in: the outer ring's rate
(starting from an even 0.5), drawn half-way back to 0.5, is the Beta prior of the next
one in, with `prior_strength` pseudo-votes; so calls on the same model count most. The
adjustment is 2 × (rate − 0.5), in [−1, 1]: 0 without votes, so an untried document
keeps its place, above a document with a poor record and below one with a good record at
equal match. Votes decay with age (`half_life_days`), and one person's votes for a
document weigh at most `per_voter` votes together. And the rate is reckoned as if the
person with the most fixes for the document, and the one with the most failures, had not
recorded theirs: so no one person moves a document alone, up or down (one busy dispatcher
cannot push it up), while the fixes of several people do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from embeddings.exact import normalise

NEUTRAL = 0.5
# how much of an outer ring's lean a ring inside it starts from
BACK_OFF = 0.5
Keys = tuple[tuple[str, ...] | None, tuple[str, ...] | None, tuple[str, ...] | None]


@dataclass(frozen=True, slots=True)
class Scanner:
    """Where a vote was cast, or the scanner a search is for (any part may be unknown)."""

    modality: str | None = None
    manufacturer: str | None = None
    model: str | None = None

    def rings(self) -> Keys:
        """Keys from the innermost ring out: model, manufacturer, modality (None: unknown)."""
        mod = _norm(self.modality)
        man = _norm(self.manufacturer)
        model = _norm(self.model)
        return (
            (mod, man, model) if mod and man and model else None,
            (mod, man) if mod and man else None,
            (mod,) if mod else None,
        )

    def label(self, ring: int) -> str:
        """The ring's name, as the "why" of a hit says it."""
        if ring == 0:
            return str(self.model)
        if ring == 1:
            return f"{self.manufacturer} {self.modality}"
        if ring == 2:
            return str(self.modality)
        return ""


def _loudest(doc: _Doc, kind: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The votes of `kind` (fixes, or failures) of the person who weighs most in them."""
    if not kind.any():
        return kind
    people, where = np.unique(doc.voters[kind], return_inverse=True)
    loudest = people[np.argmax(np.bincount(where, weights=doc.weight[kind]))]
    found: npt.NDArray[np.bool_] = kind & (doc.voters == loudest)
    return found


def _norm(value: str | None) -> str:
    # as the exact lane compares names: "Aurion-128" = "AURION 128" = "aurion128"
    return normalise(value) if value else ""


@dataclass(frozen=True, slots=True)
class Vote:
    """One call's outcome for one document."""

    fixed: bool
    at: datetime
    voter: int | str | None  # who recorded it; None: not known (each such vote stands alone)
    scanner: Scanner


@dataclass(frozen=True, slots=True)
class Record:
    """A document's record for a search: the adjustment and what to say about it."""

    adjustment: float
    fixed: int  # calls, in the innermost ring that has some
    tried: int
    where: str  # that ring's name ("" for every call)


@dataclass(frozen=True, slots=True)
class _Doc:
    """One document's votes as arrays: weight (decayed, capped per person), fixed, the
    ids of their ring keys and of their people."""

    weight: npt.NDArray[np.float64]
    fixed: npt.NDArray[np.bool_]
    rings: npt.NDArray[np.int64]  # votes x 3: model, manufacturer, modality key ids (-1)
    voters: npt.NDArray[np.int64]  # an id per person (a vote without one: its own id)


class OutcomeBook:
    """Every document's votes; read by searches, replaced per document."""

    def __init__(
        self,
        *,
        half_life_days: float = 180.0,
        prior_strength: float = 6.0,
        per_voter: float = 1.0,
    ) -> None:
        self.half_life_days = half_life_days
        self.prior_strength = prior_strength
        self.per_voter = per_voter
        self._docs: dict[int, _Doc] = {}
        self._keys: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()  # writers only: readers see one dict or the next

    def __len__(self) -> int:
        return len(self._docs)

    def replace(self, votes: Mapping[int, Sequence[Vote]], now: datetime) -> None:
        """Set these documents' votes (an empty list forgets a document)."""
        with self._lock:
            built = {doc_id: self._arrays(v, now) for doc_id, v in votes.items()}
            docs = dict(self._docs)
            for doc_id, doc in built.items():
                if doc is None:
                    docs.pop(doc_id, None)
                else:
                    docs[doc_id] = doc
            self._docs = docs

    def reset(self, votes: Mapping[int, Sequence[Vote]], now: datetime) -> None:
        """Every document's votes at once (start-up, or decay brought up to date)."""
        with self._lock:
            built = {doc_id: self._arrays(v, now) for doc_id, v in votes.items()}
            self._docs = {doc_id: doc for doc_id, doc in built.items() if doc is not None}

    def records(self, ids: Iterable[int], scanner: Scanner | None) -> dict[int, Record]:
        """The records of those of `ids` that have votes, for a search on `scanner`."""
        docs = self._docs
        if not docs:
            return {}
        scanner = scanner or Scanner()
        keys = [-2 if key is None else self._keys.get(key, -3) for key in scanner.rings()]
        out: dict[int, Record] = {}
        for doc_id in ids:
            doc = docs.get(doc_id)
            if doc is not None:
                out[doc_id] = self._record(doc, keys, scanner)
        return out

    def adjustments(self, ids: Sequence[int], scanner: Scanner | None) -> dict[int, float]:
        """Each voted document's adjustment in [−1, 1] (the fusion's hook)."""
        return {i: r.adjustment for i, r in self.records(ids, scanner).items()}

    def _record(self, doc: _Doc, keys: list[int], scanner: Scanner) -> Record:
        weight = doc.weight * ~(_loudest(doc, doc.fixed) | _loudest(doc, ~doc.fixed))
        # each ring's votes (-2: the scanner does not say; -3: a key no vote has)
        inside = [None if key == -2 else doc.rings[:, ring] == key for ring, key in enumerate(keys)]
        taken = np.zeros(len(weight), dtype=bool)
        shells: list[tuple[float, float] | None] = []
        for mask in inside:
            if mask is None:
                shells.append(None)
                continue
            shell = mask & ~taken
            shells.append((float(weight[shell & doc.fixed].sum()), float(weight[shell].sum())))
            taken |= mask
        rest = ~taken
        shells.append((float(weight[rest & doc.fixed].sum()), float(weight[rest].sum())))
        rate = NEUTRAL
        m = self.prior_strength
        for ring, shell in reversed(list(enumerate(shells))):
            if shell is None:
                continue  # the scanner does not say this much: no ring here
            if ring < len(keys):
                # calls on another scanner say less about this one: the prior half-way back
                rate = NEUTRAL + BACK_OFF * (rate - NEUTRAL)
            fixes, tries = shell
            rate = (fixes + m * rate) / (tries + m)
        # what to say: the innermost ring with votes
        counted = doc.weight > 0
        where = 3
        said = counted
        for ring, mask in enumerate(inside):
            if mask is not None and bool((mask & counted).any()):
                where, said = ring, mask & counted
                break
        return Record(
            adjustment=2.0 * (rate - NEUTRAL),
            fixed=int((said & doc.fixed).sum()),
            tried=int(said.sum()),
            where=scanner.label(where),
        )

    def _arrays(self, votes: Sequence[Vote], now: datetime) -> _Doc | None:
        if not votes:
            return None
        age_days = np.array([max((now - v.at).total_seconds(), 0.0) / 86400 for v in votes])
        weight = 0.5 ** (age_days / self.half_life_days)
        # one person's votes weigh at most `per_voter` together
        by_voter: dict[int | str, float] = {}
        for vote, w in zip(votes, weight.tolist(), strict=True):
            if vote.voter is not None:
                by_voter[vote.voter] = by_voter.get(vote.voter, 0.0) + w
        for n, vote in enumerate(votes):
            total = by_voter.get(vote.voter, 0.0) if vote.voter is not None else 0.0
            if total > self.per_voter:
                weight[n] *= self.per_voter / total
        rings = np.array(
            [
                [-1 if key is None else self._keys.setdefault(key, len(self._keys)) for key in k]
                for k in (v.scanner.rings() for v in votes)
            ],
            dtype=np.int64,
        ).reshape(len(votes), 3)
        people: dict[int | str, int] = {}
        voters = np.array(
            [
                people.setdefault(v.voter, len(people)) if v.voter is not None else -1 - n
                for n, v in enumerate(votes)
            ],
            dtype=np.int64,
        )
        return _Doc(
            weight=weight,
            fixed=np.array([v.fixed for v in votes], dtype=bool),
            rings=rings,
            voters=voters,
        )
