"""Writing a model folder: new weights void what was measured on the old ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from classifier.engine import Engine
from classifier.model import INT8_CALIBRATION, load
from classifier.precision import RECORD, read_record
from classifier.training.calibrate import calibrate, check, record
from classifier.training.save import save
from tests.classifier.test_quantize import DEV, TEXTS


@pytest.mark.usefixtures("bf16_cpu")
def test_saving_new_weights_voids_the_precision_record_and_calibration(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    model, tokenizer, spec = load(folder)
    calibration = calibrate(model, tokenizer, spec, TEXTS)
    record(folder, check(model, tokenizer, spec, DEV, calibration), calibration)
    measured = load(folder)[2]
    assert read_record(measured.extra) is not None and (folder / INT8_CALIBRATION).is_file()
    save(model, measured, folder, tokenizer)  # e.g. a soup or a re-pack into the same folder
    assert not (folder / INT8_CALIBRATION).exists()
    assert read_record(load(folder)[2].extra) is None and RECORD in measured.extra
    engine = Engine.from_folder(folder, device="cpu", precision="auto")
    assert engine.precision == "fp32" and "not recorded" in engine.precision_reason
