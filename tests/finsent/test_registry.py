"""The registry: stages and commands come from the entry points the stage packages declare."""

from __future__ import annotations

import typing

import pytest

from finsent import registry
from finsent.config import DaemonSettings, Settings


def test_every_stage_the_config_accepts_is_registered() -> None:
    (choices,) = typing.get_args(DaemonSettings.model_fields["stages"].annotation)
    assert set(typing.get_args(choices)) <= set(registry.stage_names())


def test_a_stage_is_built_from_its_entry_point_without_io() -> None:
    stage = registry.load_stage("index", Settings())
    assert stage.name == "index"
    assert type(stage).__module__ == "alerting.index.stage"


def test_an_unknown_stage_names_the_known_ones() -> None:
    with pytest.raises(registry.RegistryError, match=r"known: .*'classify'"):
        registry.stage_factory("nope")


def test_a_stage_registered_in_process_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    class Custom:
        name = "custom"

        def __init__(self, settings: Settings) -> None:
            self.settings = settings

    monkeypatch.setitem(registry._registered, "custom", Custom)
    assert "custom" in registry.stage_names()
    assert isinstance(registry.load_stage("custom", Settings()), Custom)


def test_every_command_package_registers_its_commands() -> None:
    from finsent.cli import build_app

    names = {c.name for c in build_app().registered_commands}
    names |= {g.name for g in build_app().registered_groups}
    assert {"run", "ingest", "replay", "classify", "train", "eval", "alert", "deliver",
            "backtest", "report", "alerts", "kibana", "bench", "model", "config"} <= names  # fmt: skip
