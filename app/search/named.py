"""What a caller's words name: a modality ("cat scan", "MRI", "x ray", "mammo"), a maker or
a model; the search prefers articles for it (a soft filter: explicit filters still win)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

# how callers name each modality (the article codes of app/articles/models.Modality); an
# "x-ray tube" is part of a CT as much as of an X-ray room, so it names none
MODALITY_WORDS: dict[str, re.Pattern[str]] = {
    code: re.compile(pattern, re.IGNORECASE)
    for code, pattern in {
        "CT": r"\b(?:ct|cat[- ]?scan(?:ner)?s?|computed tomography)\b",
        # "Mr Bamford" is a person: a title-case "Mr" before a capital names no scanner
        "MR": r"\b(?:mri|magnetic resonance|(?-i:MR|mr)|(?-i:Mr)(?!\.?\s+(?-i:[A-Z])))\b",
        "US": r"\b(?:ultra[- ]?sound|sonograph(?:y|er))\b",
        "XR": r"\b(?:x[- ]?rays?(?![- ]?tube)|radiography)\b",
        "MG": r"\b(?:mammo(?:gram|graph|graphy)?s?|tomosynthesis)\b",
        "RF": r"\b(?:fluoro(?:scopy)?)\b",
        # "angiography" alone is often a CT angiography: only the room names the modality
        "XA": r"\b(?:cath(?:eter)? lab|angio (?:suite|room|lab))\b",
        "NM": r"\b(?:gamma camera|spect|nuclear medicine)\b",
    }.items()
}


IT = "IT"  # the modality of articles on what all of them share: PACS, network, worklists
# a word that names a family as much as one modality: every CT, mammography, fluoroscopy
# and angiography system is an X-ray system, and angiography systems do fluoroscopy
ALSO: dict[str, tuple[str, ...]] = {"XR": ("CT", "MG", "RF", "XA"), "RF": ("XA", "XR")}


def modalities_in(text: str) -> list[str]:
    """The modalities the text names, as article codes, sorted."""
    return sorted(code for code, words in MODALITY_WORDS.items() if words.search(text))


def named_in(
    text: str, values: Callable[[str, Sequence[str]], dict[str, list[str]]]
) -> dict[str, list[str]]:
    """The modalities (by word), makers and models (by `values`: the index's look-up of
    keyword values in a text) that the text names."""
    modalities = modalities_in(text)
    found = {"modality": modalities} if modalities else {}
    return found | values(text, ("manufacturer", "model"))


def preferred(
    named: Mapping[str, list[str]], filters: Mapping[str, Sequence[str]] | None
) -> dict[str, list[str]]:
    """What the words name, but for the fields the request filters on (those win), with
    the modalities a word names as a family (`ALSO`); an IT article (PACS, network,
    worklist) serves every modality, so it is never demoted."""
    found = {
        field: list(values) for field, values in named.items() if not (filters or {}).get(field)
    }
    if "modality" in found:
        family = {kin for code in found["modality"] for kin in ALSO.get(code, ())}
        found["modality"] = sorted({*found["modality"], *family, IT})
    return found
