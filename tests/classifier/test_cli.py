import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finsent.cli import app

runner = CliRunner()


def test_eval_csv_with_label_map_json(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "dev.csv"
    data.write_text(
        'text,label\n"Stocks tumble, Dow sheds 500",0\nApple beats estimates,1\nFed holds rates,2\n'
    )
    result = runner.invoke(app, ["eval", "--task", "sentiment", "--data", str(data), "--model", str(tiny_model_dir),
                                 "--label-map", "0=negative,1=positive,2=neutral", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n"] == 3
    assert 0 <= report["accuracy"] <= 1 and "macro_f1" in report
    assert len(report["confusion_matrix"]) == len(report["labels"])


def test_eval_phrasebank_and_label_names(tmp_path: Path, tiny_model_dir: Path) -> None:
    fpb = tmp_path / "fpb.txt"
    fpb.write_bytes(
        "Operating profit rose to EUR 13.1 mn .@positive\r\nSales fell 5 % .@negative\r\n".encode(
            "latin-1"
        )
    )
    result = runner.invoke(
        app, ["eval", "--task", "sentiment", "--data", str(fpb), "--model", str(tiny_model_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "n=2" in result.stdout and "confusion matrix" in result.stdout
    names = tmp_path / "classes.txt"
    names.write_text("Macro\nEarnings\n")
    csv = tmp_path / "t.csv"
    csv.write_text("text,label\nGDP grows,0\nEPS beat,1\n")
    result = runner.invoke(app, ["eval", "--task", "topic", "--data", str(csv), "--model", str(tiny_model_dir),
                                 "--label-names", str(names), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 2


def test_eval_errors_are_clear(tmp_path: Path, tiny_model_dir: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nx,9\n")
    result = runner.invoke(
        app, ["eval", "--task", "sentiment", "--data", str(bad), "--model", str(tiny_model_dir)]
    )
    assert result.exit_code == 2 and "label '9' is not in the label map" in result.output
    result = runner.invoke(
        app, ["eval", "--task", "sentiment", "--data", str(bad), "--model", str(tmp_path / "none")]
    )
    assert result.exit_code == 2 and "not a finsent model folder" in result.output


def test_train_refuses_a_bad_ema_decay_before_loading_anything(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "-o", str(tmp_path / "m"), "--ema-decay", "1.5"])
    assert result.exit_code == 2
    assert "--ema-decay 1.5" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_train_refuses_a_teacher_that_is_not_a_model_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "-o", str(tmp_path / "m"), "--teacher", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a finsent model folder" in result.output and "Traceback" not in result.output


def test_eval_reads_integer_sentiment_ids_as_the_tweet_dataset_does(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "valid.csv"
    data.write_text("text,label\nShares sink,0\nShares soar,1\nRecord profit,1\nFed meets,2\n")
    result = runner.invoke(app, ["eval", "--task", "sentiment", "--data", str(data),
                                 "--model", str(tiny_model_dir), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    classes = json.loads(result.stdout.strip().splitlines()[-1])["per_class"]
    support = {label: row["support"] for label, row in classes.items() if row["support"]}
    assert support == {"negative": 1, "positive": 2, "neutral": 1}  # 0 bearish, 1 bullish


def test_eval_refuses_both_label_options(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "valid.csv"
    data.write_text("text,label\nShares sink,0\n")
    names = tmp_path / "names.txt"
    names.write_text("negative\nneutral\npositive\n")
    result = runner.invoke(app, ["eval", "--task", "sentiment", "--data", str(data),
                                 "--model", str(tiny_model_dir), "--label-names", str(names),
                                 "--label-map", "0=negative"])  # fmt: skip
    assert result.exit_code == 2 and "not both" in result.output


def test_train_names_a_missing_data_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "-o", str(tmp_path / "m"),
                                 "--sentiment-csv", str(tmp_path / "missing.csv")])  # fmt: skip
    assert result.exit_code == 2 and "missing.csv" in result.output


def test_bench_commands_need_the_source_checkouts_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("classifier.cli.BENCH", tmp_path)  # as in an installed wheel: no bench/
    for command in ("classifier", "quality"):
        result = runner.invoke(app, ["bench", command])
        assert result.exit_code == 2
        assert "source checkout" in result.output and "Traceback" not in result.output


def test_bench_classifier_script_answers_help() -> None:
    result = runner.invoke(app, ["bench", "classifier", "--help"])
    assert result.exit_code == 0 and "--base-sized" in result.output


def test_eval_labels_scores_the_held_back_part_of_both_tasks(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    from classifier.training.data import held_back
    from classifier.training.labelset import Label, write_version

    texts = [f"Team note {i} on guidance" for i in range(40)]
    store = tmp_path / "labels"
    write_version(store, [
        Label(f"id{i}", t, "positive" if i % 2 else "neutral", "Macro" if i % 4 == 0 else None)
        for i, t in enumerate(texts)
    ])  # fmt: skip
    result = runner.invoke(app, ["eval", "--labels", str(store), "--model", str(tiny_model_dir), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    back = [i for i, t in enumerate(texts) if held_back(t, 0.2)]
    assert report["part"] == "held_back" and report["tasks"]["sentiment"]["n"] == len(back)
    assert report["tasks"].get("topic", {"n": 0})["n"] == sum(i % 4 == 0 for i in back)
    assert 0 <= report["tasks"]["sentiment"]["accuracy"] <= 1
    every = runner.invoke(app, ["eval", "--labels", str(store), "--all-labels", "--model", str(tiny_model_dir)])  # fmt: skip
    assert every.exit_code == 0, every.output
    assert "n=40" in every.stdout and "n=10" in every.stdout and "topic" in every.stdout
    both = runner.invoke(app, ["eval", "--labels", str(store), "--task", "topic", "--model", str(tiny_model_dir)])  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output


def test_train_refuses_bad_label_options_before_loading_anything(tmp_path: Path) -> None:
    out = str(tmp_path / "m")
    result = runner.invoke(app, ["train", "-o", out, "--labels-weight", "0"])
    assert result.exit_code == 2 and "--labels-weight 0.0" in result.output
    result = runner.invoke(app, ["train", "-o", out, "--labels-held-back", "1"])
    assert result.exit_code == 2 and "--labels-held-back 1.0" in result.output
    result = runner.invoke(app, ["train", "-o", out, "--extra-data", f"labels:{tmp_path / 'no'}"])
    assert result.exit_code == 2 and "no such label file or folder" in result.output
    assert not (tmp_path / "m").exists()
