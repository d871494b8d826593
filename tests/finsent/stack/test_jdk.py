from pathlib import Path

import pytest

from finsent.stack import jdk


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\n")
    (home / "release").write_text(f'IMPLEMENTOR="x"\nJAVA_VERSION="{version}"\n')
    return home


@pytest.fixture
def jvms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(jdk, "JVM_ROOTS", (tmp_path,))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    fake_jdk(tmp_path, "java-17", "17.0.15")
    fake_jdk(tmp_path, "temurin-25", "25.0.1")
    fake_jdk(tmp_path, "jdk-21", "21.0.4")
    fake_jdk(tmp_path, "old-8", "1.8.0_392")
    (tmp_path / "not-a-jdk").mkdir()
    return tmp_path


def test_finds_every_jdk_newest_first(jvms: Path) -> None:
    assert [j.major for j in jdk.installed_jdks()] == [25, 21, 17, 8]


def test_picks_newest_in_range(jvms: Path) -> None:
    assert jdk.pick(17).major == 25
    assert jdk.pick(17, 24).major == 21
    assert jdk.pick(17, 17).home == (jvms / "java-17").resolve()


def test_override_must_fit(jvms: Path) -> None:
    assert jdk.pick(17, 24, jvms / "java-17").major == 17
    with pytest.raises(jdk.JdkNotFoundError, match=r"need Java 17\.\.24"):
        jdk.pick(17, 24, jvms / "old-8")
    with pytest.raises(jdk.JdkNotFoundError, match="not a JDK home"):
        jdk.pick(17, None, jvms / "not-a-jdk")


def test_nothing_fits_lists_what_was_found(jvms: Path) -> None:
    with pytest.raises(jdk.JdkNotFoundError, match=r"need Java 26\+; found: 25 at"):
        jdk.pick(26)


def test_this_machine_has_a_jdk_for_the_stack() -> None:
    assert jdk.pick(17, 24).java.exists()
