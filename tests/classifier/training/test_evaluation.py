from classifier.training.evaluation import render, report


def test_report_figures() -> None:
    gold = ["negative", "negative", "neutral", "positive"]
    pred = ["negative", "neutral", "neutral", "positive"]
    result = report(gold, pred, ["negative", "neutral", "positive"])
    assert result["n"] == 4
    assert result["accuracy"] == 0.75
    # F1: negative 2/3, neutral 2/3, positive 1 -> macro 7/9
    assert abs(result["macro_f1"] - 7 / 9) < 1e-9
    assert result["per_class"]["neutral"]["precision"] == 0.5
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    text = render(result)
    assert "accuracy=0.7500" in text and "confusion matrix" in text
