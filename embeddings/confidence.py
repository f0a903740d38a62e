"""How sure a search is: a calibrated probability per hit and a match level per search.

A logistic model over each hit's fused features (the lanes' scores, the exact matches,
the margin to the other hits) estimates the probability that the hit fixes what was
asked; it is fitted on labelled dev searches, answerable and not (`scripts/calibrate.py`),
and persists itself as JSON beside its two thresholds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from embeddings.fusion import Candidate

# the features, in the order of the model's coefficients
FEATURES = (
    "headline",  # cosine with the title, issue and other phrasings
    "body",  # cosine with the full text
    "lexical_norm",  # BM25 relative to the query's best
    "lexical_per_term",  # BM25 per query term, per log of the library's size
    "code",  # an error code of the query is the document's
    "model",  # a model the query names is the document's
    "unlike_named",  # not for the modality, maker or model the query names
    "margin",  # the first: its lead over the second; others: their gap to the first
    "first",  # ranked first
)
MAX_LEXICAL_PER_TERM = 1.5  # beyond it, the keyword lane says nothing more (chosen on dev)


class Match(StrEnum):
    """How well a search's best hit fits: the words a person and a help-desk tool read."""

    STRONG = "strong"
    POSSIBLE = "possible"
    NONE = "none"


class Strength(StrEnum):
    """How well one hit fits, in words."""

    STRONG = "strong"
    POSSIBLE = "possible"
    WEAK = "weak"


class CalibrationError(ValueError):
    """A calibration file that cannot be used, naming the file and the field at fault."""


def _rows(
    candidates: Sequence[Candidate], *, terms: int, documents: int
) -> list[tuple[float, ...]]:
    """The FEATURES of each candidate (ranked, best first), as plain floats: a search has
    a handful, for which arrays cost more than they save."""
    if not candidates:
        return []
    per_term = 1.0 / (max(terms, 1) * math.log(2 + documents))
    first = candidates[0].score
    second = candidates[1].score if len(candidates) > 1 else 0.0
    rows: list[tuple[float, ...]] = []
    for row, c in enumerate(candidates):
        # the first: its lead over the second; the others: how far they trail it
        margin = first - second if row == 0 else c.score - first
        rows.append(
            (
                c.headline,
                c.body,
                c.lexical_norm,
                min(c.lexical * per_term, MAX_LEXICAL_PER_TERM),
                float(bool(c.codes)),
                float(bool(c.models)),
                float(c.unlike_named),
                min(max(margin, -1.0), 1.0),
                float(row == 0),
            )
        )
    return rows


def features(
    candidates: Sequence[Candidate], *, terms: int, documents: int
) -> npt.NDArray[np.float64]:
    """One row of FEATURES per candidate (ranked, best first) of a query with `terms`
    analysed terms, over a library of `documents`."""
    rows = _rows(candidates, terms=terms, documents=documents)
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))


@dataclass(frozen=True)
class Calibration:
    """A logistic model over FEATURES (standardised by `mean` and `scale`) and the two
    thresholds on a search's best confidence: `strong` and up is a strong match,
    `possible` and up a possible one, below it none."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    strong: float
    possible: float
    # what it was fitted on and how it did there (encoder, sets, figures): for people
    fitted: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("mean", "scale", "coef"):
            if len(getattr(self, name)) != len(FEATURES):
                raise CalibrationError(
                    f"{name}: {len(getattr(self, name))} values for {len(FEATURES)} features"
                )
        if not 0.0 <= self.possible <= self.strong <= 1.0:
            raise CalibrationError(
                f"thresholds: need 0 <= possible ({self.possible}) <= strong ({self.strong}) <= 1"
            )

    @classmethod
    def fit(
        cls,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        *,
        l2: float = 0.01,
        iterations: int = 50,
    ) -> Calibration:
        """Fit the logistic model by Newton's method (a few features, a few thousand rows),
        thresholds at 0.5 until set."""
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale == 0] = 1.0  # a feature constant in the data says nothing
        z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
        w = np.zeros(z.shape[1])
        penalty = np.r_[np.full(len(FEATURES), l2), 0.0]  # the intercept is not shrunk
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-z @ w))
            gradient = z.T @ (p - y) + penalty * w
            hessian = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if float(np.abs(step).max()) < 1e-9:
                break
        return cls(
            mean=tuple(float(v) for v in mean),
            scale=tuple(float(v) for v in scale),
            coef=tuple(float(v) for v in w[:-1]),
            intercept=float(w[-1]),
            strong=0.5,
            possible=0.5,
        )

    def probabilities(self, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The confidence of each row of features."""
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.coef) + self.intercept
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logits))
        return out

    def confidences(
        self, candidates: Sequence[Candidate], *, terms: int, documents: int
    ) -> list[float]:
        """Each candidate's confidence (ranked, best first): `probabilities` of their
        features, in plain floats (on every search's path)."""
        weights = tuple(zip(self.coef, self.mean, self.scale, strict=True))
        out = []
        for row in _rows(candidates, terms=terms, documents=documents):
            logit = self.intercept + sum(
                w * (v - m) / s for (w, m, s), v in zip(weights, row, strict=True)
            )
            out.append(1.0 / (1.0 + math.exp(-logit)))
        return out

    def strength(self, confidence: float) -> Strength:
        """One hit's strength in words."""
        if confidence >= self.strong:
            return Strength.STRONG
        return Strength.POSSIBLE if confidence >= self.possible else Strength.WEAK

    def match(self, best: float | None) -> Match:
        """A search's match level from its best confidence (None: nothing found)."""
        if best is None or best < self.possible:
            return Match.NONE
        return Match.STRONG if best >= self.strong else Match.POSSIBLE

    def save(self, path: Path) -> None:
        """Write it as JSON (the features named, for people reading the file)."""
        data = asdict(self)
        data["features"] = list(FEATURES)
        data["fitted"] = dict(self.fitted)
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        """Read one written by `save`; a file that does not fit names itself and the field."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CalibrationError(f"{path}: {exc}") from exc
        if not isinstance(data, dict):
            raise CalibrationError(f"{path}: not a JSON object")
        if data.get("features") != list(FEATURES):
            raise CalibrationError(
                f"{path}: features: fitted on {data.get('features')}, this code computes "
                f"{list(FEATURES)} (fit it again: python -m scripts.calibrate)"
            )
        try:
            return cls(
                mean=tuple(float(v) for v in data["mean"]),
                scale=tuple(float(v) for v in data["scale"]),
                coef=tuple(float(v) for v in data["coef"]),
                intercept=float(data["intercept"]),
                strong=float(data["strong"]),
                possible=float(data["possible"]),
                fitted=dict(data.get("fitted") or {}),
            )
        except KeyError as exc:
            raise CalibrationError(f"{path}: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"{path}: {exc}") from exc
