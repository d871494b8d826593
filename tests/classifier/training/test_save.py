"""Writing a model folder: new weights void what was measured on the old ones."""

from __future__ import annotations

import shutil
from pathlib import Path

from classifier.engine import Engine
from classifier.model import INT8_CALIBRATION, load
from classifier.quantize import activation_bits, load_calibration, validated
from classifier.training.calibrate import calibrate, record
from classifier.training.save import save
from tests.classifier.test_quantize import TEXTS


def test_saving_new_weights_voids_the_int8_record_and_calibration(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    model, tokenizer, spec = load(folder)
    calibration = calibrate(model, tokenizer, spec, TEXTS)
    ran = {"activation_bits": activation_bits(), "calibrated": True}
    record(folder, {"within_tolerance": True, **ran}, calibration)
    measured = load(folder)[2]
    assert validated(measured, load_calibration(folder))
    save(model, measured, folder, tokenizer)  # e.g. a soup or a re-pack into the same folder
    assert not (folder / INT8_CALIBRATION).exists()
    assert "int8" not in load(folder)[2].extra and "int8" in measured.extra
    assert not Engine.from_folder(folder, device="cpu", quantize_int8="auto").int8
