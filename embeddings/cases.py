"""Past cases (resolved calls) as unit vectors with their facts: the nearest ones to a new
case's vector, on the same scanner model first.

Each case is one resolved call: its vector (the text's unit vector, float32) and its facts:
the scanner it was on, the document that fixed it (or None), when and by whom it was
resolved. `nearest` ranks the cases at or above `min_similarity` (cosine) by the ring
they share with the asked-for scanner, innermost first (the same model, else the same
manufacturer, else the same modality, else any other; the rings of
`embeddings.outcomes.Scanner`), and within a ring by similarity: one matrix product over
every case, no loop per case.

Writers replace or remove cases under a lock and publish a new snapshot; a reader takes
the snapshot once and never sees a half-made change. Vectors are appended to a buffer that
grows by doubling; a replaced or removed case leaves a dead row until a compaction.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from embeddings.outcomes import Scanner

# measured on the seed library's past-call texts with all-MiniLM-L6-v2 (docs/calls.md)
MIN_SIMILARITY = 0.4
# a past case counts as evidence for a search from here (chosen on the dev split,
# docs/quality.md): closer than the cases shown, since it moves the ranking
EVIDENCE_SIMILARITY = 0.5
RingName = Literal["same model", "same maker", "same modality", "other"]
RINGS: tuple[RingName, ...] = ("same model", "same maker", "same modality", "other")
_UNSAID = -2  # the asked-for scanner does not say this much (no ring here)
_UNSEEN = -3  # a key no case has
_FIRST_CAPACITY = 64


@dataclass(frozen=True, slots=True)
class Case:
    """One past case's facts."""

    id: int
    scanner: Scanner
    article_id: int | None  # the document that fixed it, if one did
    resolved_at: datetime
    resolved_by: int | str | None  # who resolved it; None: not known


@dataclass(frozen=True, slots=True)
class Near:
    """A case near the asked-for vector: its cosine and the ring it shares."""

    case: Case
    similarity: float
    ring: int  # 0 same model, 1 same maker, 2 same modality, 3 other (RINGS)

    @property
    def ring_name(self) -> RingName:
        """The ring in words: "same model", "same maker", "same modality" or "other"."""
        return RINGS[self.ring]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What similar past cases on the same model say for one document."""

    adjustment: float  # in [0, 1): f / (f + prior_strength), f the fixes that count
    fixed: int  # similar past cases it fixed (before the per-person cap)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What readers see: rows [0, count) of the buffer, each with its case id (-1: dead)
    and its ring key ids (-1: unknown)."""

    buffer: npt.NDArray[np.float32]  # capacity x dim; rows >= count are not part of it
    count: int
    ids: npt.NDArray[np.int64]
    keys: npt.NDArray[np.int64]  # count x 3: model, manufacturer, modality key ids
    rows: dict[int, int]  # case id -> its live row
    cases: dict[int, Case]


def _empty(dim: int) -> _Snapshot:
    return _Snapshot(
        buffer=np.zeros((_FIRST_CAPACITY, dim), dtype=np.float32),
        count=0,
        ids=np.zeros(0, dtype=np.int64),
        keys=np.zeros((0, 3), dtype=np.int64),
        rows={},
        cases={},
    )


class CaseBook:
    """Every past case's vector and facts; read by look-ups, replaced per case."""

    def __init__(
        self,
        *,
        min_similarity: float = MIN_SIMILARITY,
        evidence_similarity: float = EVIDENCE_SIMILARITY,
        half_life_days: float = 180.0,
        prior_strength: float = 6.0,
        per_voter: float = 1.0,
    ) -> None:
        self.min_similarity = min_similarity
        self.evidence_similarity = evidence_similarity
        self.half_life_days = half_life_days
        self.prior_strength = prior_strength
        self.per_voter = per_voter
        self._state: _Snapshot | None = None
        self._keys: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()  # writers only: readers take one snapshot

    def __len__(self) -> int:
        state = self._state
        return 0 if state is None else len(state.cases)

    def __contains__(self, case_id: object) -> bool:
        state = self._state
        return state is not None and case_id in state.cases

    def get(self, case_id: int) -> Case | None:
        """A case's facts, or None when the book does not hold it."""
        state = self._state
        return None if state is None else state.cases.get(case_id)

    def cases(self) -> list[Case]:
        """Every case's facts (in no particular order)."""
        state = self._state
        return [] if state is None else list(state.cases.values())

    def replace(self, cases: Sequence[Case], vectors: npt.ArrayLike) -> None:
        """Add these cases, or replace them when held: `vectors` has one unit row per case."""
        with self._lock:
            self._state = self._replaced(self._state, cases, vectors)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget these cases (an id not held is ignored)."""
        with self._lock:
            if self._state is not None:
                self._state = self._write(self._state, [], None, gone=set(ids))

    def reset(self, cases: Sequence[Case], vectors: npt.ArrayLike) -> None:
        """Hold exactly these cases (a start, or a rebuild)."""
        with self._lock:
            self._state = self._replaced(None, cases, vectors)

    def nearest(
        self,
        vector: npt.ArrayLike,
        scanner: Scanner | None,
        k: int,
        *,
        exclude: Collection[int] = (),
    ) -> list[Near]:
        """Up to `k` cases at or above the minimum similarity to `vector`, innermost ring
        with `scanner` first, each ring by similarity (highest first); `exclude`d ids
        never."""
        state = self._state
        if state is None or state.count == 0 or k <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        similarity = state.buffer[: state.count] @ query
        keep = (state.ids >= 0) & (similarity >= self.min_similarity)
        if exclude:
            keep &= ~np.isin(state.ids, np.fromiter(exclude, dtype=np.int64))
        found = np.flatnonzero(keep)
        if found.size == 0:
            return []
        rings = self._rings(state.keys[found], scanner or Scanner())
        sims = similarity[found].astype(np.float64)
        # cosines lie in [-1, 1]: ring * 3 - cosine orders by ring, then by cosine
        order = rings * 3.0 - sims
        top = np.argpartition(order, k - 1)[:k] if found.size > k else np.arange(found.size)
        top = top[np.lexsort((state.ids[found[top]], order[top]))]
        return [
            Near(
                case=state.cases[int(state.ids[found[i]])],
                similarity=float(sims[i]),
                ring=int(rings[i]),
            )
            for i in top
        ]

    def evidence(
        self, vector: npt.ArrayLike, scanner: Scanner | None, now: datetime
    ) -> dict[int, Evidence]:
        """Per document, the similar past cases on the scanner's model that it fixed, as
        an adjustment in [0, 1): each case weighs 0.5^(age / half-life), one person's cases
        at most `per_voter` together, and the person with the most is left out (so no one
        person lifts a document alone); f such fixes give f / (f + prior_strength)."""
        state = self._state
        model = (scanner or Scanner()).rings()[0]
        if state is None or state.count == 0 or model is None or model not in self._keys:
            return {}
        rows = np.flatnonzero((state.keys[:, 0] == self._keys[model]) & (state.ids >= 0))
        if rows.size == 0:
            return {}
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        similar = rows[state.buffer[rows] @ query >= self.evidence_similarity]
        weights: dict[int, dict[int | str, float]] = {}
        fixed: dict[int, int] = {}
        for n, case_id in enumerate(state.ids[similar].tolist()):
            case = state.cases[case_id]
            if case.article_id is None:
                continue
            age_days = max((now - case.resolved_at).total_seconds(), 0.0) / 86400
            weight = 0.5 ** (age_days / self.half_life_days)
            voter: int | str = case.resolved_by if case.resolved_by is not None else f"#{n}"
            people = weights.setdefault(case.article_id, {})
            people[voter] = people.get(voter, 0.0) + weight
            fixed[case.article_id] = fixed.get(case.article_id, 0) + 1
        out = {}
        for article_id, people in weights.items():
            capped = [min(w, self.per_voter) for w in people.values()]
            f = sum(capped) - max(capped)  # the loudest person left out
            out[article_id] = Evidence(f / (f + self.prior_strength), fixed[article_id])
        return out

    # -- inside ----------------------------------------------------------------------------

    def _replaced(
        self, state: _Snapshot | None, cases: Sequence[Case], vectors: npt.ArrayLike
    ) -> _Snapshot | None:
        if not cases:
            return state
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(cases), -1)
        state = state or _empty(matrix.shape[1])
        if matrix.shape[1] != state.buffer.shape[1]:
            raise ValueError(
                f"vectors of {matrix.shape[1]} dimensions; the book holds {state.buffer.shape[1]}"
            )
        last = {case.id: n for n, case in enumerate(cases)}  # the last of one id wins
        chosen = sorted(last.values())
        return self._write(state, [cases[n] for n in chosen], matrix[chosen], gone=last.keys())

    def _rings(self, keys: npt.NDArray[np.int64], scanner: Scanner) -> npt.NDArray[np.int64]:
        """Each case's ring with the scanner: the innermost whose key they share."""
        wanted = [
            _UNSAID if key is None else self._keys.get(key, _UNSEEN) for key in scanner.rings()
        ]
        rings = np.full(len(keys), 3, dtype=np.int64)
        for ring in (2, 1, 0):  # outermost first, so an inner match overrides
            rings[keys[:, ring] == wanted[ring]] = ring
        return rings

    def _key_ids(self, scanner: Scanner) -> list[int]:
        keys = scanner.rings()
        return [-1 if key is None else self._keys.setdefault(key, len(self._keys)) for key in keys]

    def _write(
        self,
        state: _Snapshot,
        added: Sequence[Case],
        vectors: npt.NDArray[np.float32] | None,
        *,
        gone: Collection[int],
    ) -> _Snapshot:
        """The next snapshot: the rows of `gone` ids dead, `added` appended."""
        ids = state.ids.copy()
        rows = dict(state.rows)
        cases = dict(state.cases)
        for case_id in gone:
            row = rows.pop(case_id, None)
            if row is not None:
                ids[row] = -1
                del cases[case_id]
        buffer, count = state.buffer, state.count
        new_keys = state.keys
        if added:
            assert vectors is not None
            need = count + len(added)
            if need > len(buffer):
                grown = np.zeros((max(need, 2 * len(buffer)), buffer.shape[1]), dtype=np.float32)
                grown[:count] = buffer[:count]
                buffer = grown
            # rows past the readers' count: no reader looks at them yet
            buffer[count:need] = vectors
            ids = np.concatenate([ids, np.array([c.id for c in added], dtype=np.int64)])
            new_keys = np.concatenate(
                [new_keys, np.array([self._key_ids(c.scanner) for c in added], dtype=np.int64)]
            ).reshape(need, 3)
            for n, case in enumerate(added):
                rows[case.id] = count + n
                cases[case.id] = case
            count = need
        snapshot = _Snapshot(buffer, count, ids, new_keys, rows, cases)
        dead = count - len(cases)
        return self._compact(snapshot) if dead > max(_FIRST_CAPACITY, count // 2) else snapshot

    @staticmethod
    def _compact(state: _Snapshot) -> _Snapshot:
        """A copy holding the live rows only (readers of the old one keep theirs)."""
        live = np.flatnonzero(state.ids >= 0)
        size = (max(_FIRST_CAPACITY, 2 * len(live)), state.buffer.shape[1])
        buffer = np.zeros(size, dtype=np.float32)
        buffer[: len(live)] = state.buffer[live]
        ids = state.ids[live]
        return _Snapshot(
            buffer=buffer,
            count=len(live),
            ids=ids,
            keys=state.keys[live],
            rows={int(case_id): n for n, case_id in enumerate(ids.tolist())},
            cases=state.cases,
        )
