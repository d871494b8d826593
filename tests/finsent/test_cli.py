"""The console script as a user calls it."""

from pathlib import Path

from tests.cli import finsent

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "finsent.example.yaml"


def test_config_check_rejects_misspelt_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("elasticsearch:\n  index_prefx: finsent\n")
    result = finsent("config", "check", "-c", str(bad))
    assert result.returncode == 2
    assert "elasticsearch.index_prefx: unknown key (did you mean 'index_prefix'?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_prints_effective_config_masked(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("elasticsearch:\n  username: ops\n  password: pa55word\n")
    result = finsent("config", "check", "-c", str(good))
    assert result.returncode == 0, result.stderr
    assert "username: ops" in result.stdout
    assert "password: '**********'" in result.stdout
    assert "pa55word" not in result.stdout + result.stderr


def test_config_check_accepts_the_example() -> None:
    result = finsent("config", "check", "-c", str(EXAMPLE))
    assert result.returncode == 0, result.stderr


def test_unreachable_kafka_at_start_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("kafka:\n  bootstrap_servers: ['127.0.0.1:1']\n  request_timeout_ms: 2000\n")
    result = finsent("run", "-c", str(config))
    assert result.returncode == 1
    assert "Kafka at ['127.0.0.1:1'] is not usable" in result.stderr
    assert "Traceback" not in result.stderr
