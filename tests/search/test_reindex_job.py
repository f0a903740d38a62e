from pathlib import Path

import pytest

from scripts import reindex


def test_reindex_help_explains_without_touching_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    with pytest.raises(SystemExit) as exit_info:
        reindex.main(["--help"])
    assert exit_info.value.code == 0
    assert "embed every published article" in capsys.readouterr().out
    assert not data_dir.exists(), "asking for help must not open or rebuild anything"
