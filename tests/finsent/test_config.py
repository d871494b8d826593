from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from finsent.config import ConfigError, Settings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "finsent.example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "finsent.yaml"
    path.write_text(text)
    return path


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings()
    assert settings.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert settings.kafka.topics.raw == "finsent.items.raw"
    assert settings.kafka.topics.scored == "finsent.items.scored"
    assert settings.kafka.topics.alerts == "finsent.alerts"
    assert settings.kafka.topics.deadletter == "finsent.deadletter"


def test_misspelt_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_server: ['b:9092']\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "kafka.bootstrap_server: unknown key" in message
    assert "did you mean 'bootstrap_servers'" in message


def test_unknown_top_level_section_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kafak: unknown key"):
        load_settings(write(tmp_path, "kafak: {}\n"))


def test_bad_value_names_field_and_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  topic_partitions: 0\n")
    with pytest.raises(ConfigError, match=r"kafka\.topic_partitions: .*greater than or equal to 1"):
        load_settings(path)


def test_sasl_without_credentials_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  security_protocol: SASL_SSL\n")
    with pytest.raises(ConfigError, match="needs sasl_mechanism, sasl_username, sasl_password"):
        load_settings(path)


def test_es_api_key_and_basic_auth_are_exclusive(tmp_path: Path) -> None:
    path = write(tmp_path, "elasticsearch:\n  api_key: k\n  username: u\n  password: p\n")
    with pytest.raises(ConfigError, match="either api_key or username"):
        load_settings(path)


def test_not_yaml_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "kafka: [unclosed\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "kafka:\n  client_id: from-file\n  topics:\n    raw: file.raw\n")
    monkeypatch.setenv("FINSENT_KAFKA__CLIENT_ID", "from-env")
    monkeypatch.setenv("FINSENT_KAFKA__BOOTSTRAP_SERVERS", '["a:1", "b:2"]')
    settings = load_settings(path)
    assert settings.kafka.client_id == "from-env"
    assert settings.kafka.bootstrap_servers == ["a:1", "b:2"]
    assert settings.kafka.topics.raw == "file.raw"  # deep merge keeps sibling file values


def test_misspelt_environment_variable_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_KAFKA__CLIENTID", "x")
    with pytest.raises(ConfigError, match=r"kafka\.clientid: unknown key"):
        load_settings(None)


def test_config_env_var_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_CONFIG", str(write(tmp_path, "logging:\n  level: DEBUG\n")))
    assert load_settings().logging.level == "DEBUG"


def test_secrets_are_secretstr_and_masked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n"
        "  sasl_username: u\n  sasl_password: hunter2\nelasticsearch:\n  api_key: s3cr3t\n",
    )
    settings = load_settings(path)
    assert isinstance(settings.kafka.sasl_password, SecretStr)
    assert settings.kafka.sasl_password.get_secret_value() == "hunter2"
    dumped = yaml.safe_dump(settings.masked())
    assert "hunter2" not in dumped
    assert "s3cr3t" not in dumped
    assert "**********" in dumped


def test_credentials_in_plain_strings_are_masked_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "elasticsearch:\n  hosts: ['https://elastic:pa55word@es.internal:9200']\n"
        "ingest:\n  sources:\n"
        "    - {type: rss, name: vendor, url: 'https://feeds.example/news?apikey=K3Y&lang=en'}\n"
        "alerting:\n  webhooks:\n"
        "    - {name: slack, format: slack,\n"
        "       url: 'https://hooks.slack.com/services/T0AAA/B0BBB/XyZsEcReTtOkEn'}\n"
        "    - {name: ops, url: 'https://ops.example/hook',\n"
        "       headers: {Authorization: 'Bearer b34r3r', X-Api-Key: 'h34d3r'}}\n",
    )
    dumped = yaml.safe_dump(load_settings(path).masked())
    for secret in ("pa55word", "K3Y", "XyZsEcReTtOkEn", "T0AAA", "b34r3r", "h34d3r"):
        assert secret not in dumped, secret
    assert "https://elastic:**********@es.internal:9200" in dumped
    assert "https://feeds.example/news?apikey=" in dumped and "lang=" in dumped
    assert "https://hooks.slack.com/**********" in dumped
    assert "Authorization: '**********'" in dumped or "Authorization: '*" in dumped


def test_example_config_is_valid_and_documents_every_field() -> None:
    settings = load_settings(EXAMPLE)
    text = EXAMPLE.read_text()

    def fields(model: object, prefix: str = "") -> list[str]:
        out = []
        for name, info in type(model).model_fields.items():  # type: ignore[attr-defined]
            value = getattr(model, name)
            if hasattr(type(value), "model_fields") and name != "sources":
                out += fields(value, f"{prefix}{name}.")
            else:
                out.append(f"{prefix}{name}")
                assert info.description, f"{prefix}{name} has no description"
        return out

    from finsent import config_sources

    for model in config_sources.SourceConfig.__origin__.__args__:  # type: ignore[attr-defined]
        for name, info in model.model_fields.items():
            assert f"{name}:" in text, f"source field {model.__name__}.{name} not documented"
            assert name == "type" or info.description, f"{model.__name__}.{name}: no description"
    for dotted in fields(settings):
        if dotted == "ingest.sources":
            continue  # documented above, per source type
        leaf = dotted.rsplit(".", 1)[-1]
        assert f"{leaf}:" in text, f"{dotted} is not in {EXAMPLE.name}"
        env = "FINSENT_" + dotted.upper().replace(".", "__")
        assert env in text, f"{env} is not documented in {EXAMPLE.name}"


def test_an_empty_config_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(write(tmp_path, "# nothing but a comment\n"))


def test_a_source_url_must_be_http_or_https(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  sources:\n    - {type: rss, name: f, url: 'ftp://x/feed'}\n")
    with pytest.raises(ConfigError, match=r"ingest\.sources\.0.*url"):
        load_settings(path)


def test_malformed_json_in_a_variable_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli import finsent

    monkeypatch.setenv("FINSENT_KAFKA__BOOTSTRAP_SERVERS", "[broker:9093")
    with pytest.raises(ConfigError, match="FINSENT_KAFKA__BOOTSTRAP_SERVERS"):
        load_settings()
    result = finsent("config", "check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 3


def test_a_rhythm_slot_that_is_not_whole_periods_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "alerting:\n  window_s: 900\n  rhythm_slot_s: 1200\n")
    with pytest.raises(ConfigError, match=r"rhythm_slot_s \(1200\) must be a multiple of window_s"):
        load_settings(path)
    assert (
        load_settings(write(tmp_path, "alerting:\n  rhythm_slot_s: 3600\n")).alerting.rhythm_slot_s
        == 3600
    )


def test_an_unknown_rhythm_timezone_or_one_of_part_periods_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "alerting:\n  rhythm_timezone: New York\n")
    with pytest.raises(ConfigError, match=r"'New York' is not a known timezone.*America/New_York"):
        load_settings(path)
    path = write(tmp_path, "alerting:\n  window_s: 1800\n  rhythm_timezone: Asia/Kathmandu\n")
    with pytest.raises(ConfigError, match=r"\(\+345 min\) is not whole periods of window_s"):
        load_settings(path)
