from pathlib import Path

import pytest

from finsent.datadir import data_dir


def test_the_environment_names_the_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_DATA_DIR", "/data/finsent")
    assert data_dir() == Path("/data/finsent")


def test_the_default_is_the_shared_folder_beside_the_checkout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINSENT_DATA_DIR", "")  # empty counts as unset
    root = Path(__file__).resolve().parents[2]
    assert data_dir() == root.parent / "shared" / "data"
    assert (data_dir() / "twitter_financial_news_sentiment").is_dir()
