from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.articles.markdown import ArticleFileError, parse_file, parse_text, render
from app.config import Settings
from embeddings.encoder import Encoder
from scripts.load_knowledge import load_library
from tests.conftest import KNOWLEDGE, AppFactory

GOOD = """---
id: mr-test-coil
title: Test coil not detected
modality: MR
manufacturer: Nordvale Medical
models: [Magnara 3T]
software_versions: [7.2]
error_codes: [RFC-999]
tags: [coil]
author: t.tester
---

## Issue
The coil is not seen by the scanner.

## Cause
Bent pin.

## Resolution
1. Unplug and replug the coil.
2. [tier2: opening covers] Replace the table socket.

## Escalate when
- Still not detected.
"""


def test_parse_file_reads_every_field(tmp_path: Path) -> None:
    path = tmp_path / "mr-test-coil.md"
    path.write_text(GOOD)
    article = parse_file(path)
    assert article.slug == "mr-test-coil"
    assert article.software_versions == ["7.2"]
    assert article.steps[1].tier1_allowed is False
    assert article.steps[1].restriction == "opening covers"
    assert parse_text(render(article.model_dump(mode="json")), path) == article


def test_parse_file_reads_other_phrasings_of_the_issue(tmp_path: Path) -> None:
    path = tmp_path / "mr-test-coil.md"
    path.write_text(
        GOOD.replace(
            "## Cause",
            "## Also reported as\n- the scanner acts as if nothing is plugged in\n"
            "- no coil on the screen,\n  only the body coil\n\n## Cause",
        )
    )
    article = parse_file(path)
    assert article.reported_as == [
        "the scanner acts as if nothing is plugged in",
        "no coil on the screen, only the body coil",
    ]
    assert parse_text(render(article.model_dump(mode="json")), path) == article
    assert parse_file(_write(tmp_path, GOOD)).reported_as == [], "the section is optional"


def _write(folder: Path, text: str) -> Path:
    path = folder / "mr-test-coil.md"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("broken", "line", "field"),
    [
        (
            GOOD.replace("## Cause", "## Also reported as\n- fine\nnot a bullet\n\n## Cause"),
            18,
            "reported_as",
        ),
        (
            GOOD.replace("## Cause", "## Also reported as\n- ok here\n- no\n\n## Cause"),
            18,
            "reported_as",
        ),
        (GOOD.replace("modality: MR", "modality: PET"), 4, "modality"),
        (GOOD.replace("title: Test coil not detected\n", ""), 1, "title"),
        (GOOD.replace("## Cause", "## Causes"), 16, "(section)"),
        (GOOD.replace("2. [tier2", "- [tier2"), 21, "steps"),
        (GOOD.replace("id: mr-test-coil", "id: mr-other"), 2, "id"),
        (GOOD.replace("models: [Magnara 3T]", "models: [Magnara 3T"), 6, "(front matter)"),
        (GOOD.replace("tags: [coil]", "colour: red"), 9, "colour"),
    ],
)
def test_parse_file_names_line_and_field_at_fault(
    tmp_path: Path, broken: str, line: int, field: str
) -> None:
    path = tmp_path / "mr-test-coil.md"
    path.write_text(broken)
    with pytest.raises(ArticleFileError) as info:
        parse_file(path)
    assert (info.value.line, info.value.field.split(".")[0]) == (line, field)
    assert str(path) in str(info.value)


def test_seed_library_files_are_all_valid() -> None:
    files = sorted(KNOWLEDGE.rglob("*.md"))
    assert len(files) >= 150
    articles = [parse_file(p) for p in files]
    assert {a.modality for a in articles} == {"CT", "MR", "US", "XR", "MG", "RF", "XA", "NM", "IT"}
    assert sum(1 for a in articles if a.error_codes) >= 40
    codes = [c for a in articles for c in a.error_codes]
    assert len(codes) == len(set(codes)), "each error code belongs to one article"


def test_load_library_is_idempotent_and_edit_makes_new_version(
    encoder: Encoder, tmp_path: Path, make_client: AppFactory
) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "mr-test-coil.md").write_text(GOOD)
    (folder / "mr-broken.md").write_text("no front matter")
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    first = load_library(settings=settings, folder=folder, encoder=encoder)
    assert (first.created, first.unchanged, len(first.invalid)) == (1, 0, 1)
    assert first.invalid[0].path.name == "mr-broken.md"
    second = load_library(settings=settings, folder=folder, encoder=encoder)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 1)
    (folder / "mr-test-coil.md").write_text(GOOD.replace("Bent pin.", "Bent pin in socket."))
    third = load_library(settings=settings, folder=folder, encoder=encoder)
    assert (third.created, third.updated) == (0, 1)
    client: TestClient = make_client(settings.effective_database_url, settings.data_dir)
    article = client.get("/articles/mr-test-coil").json()
    assert article["version"] == 2
    assert article["cause"] == "Bent pin in socket."
    hits = client.post("/search", json={"query": "rfc 999"}).json()["results"]
    assert hits[0]["slug"] == "mr-test-coil"
