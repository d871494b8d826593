"""Where the recorded datasets live: the training CSVs, Financial PhraseBank, feed fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import finsent


def data_dir() -> Path:
    """The shared data folder: ``$FINSENT_DATA_DIR``, else ``../shared/data`` beside the checkout.

    The datasets are not part of the distribution (their size and licences), so a source
    checkout finds them next to itself and anything else (an installed wheel, a container, a
    CI runner with the data mounted elsewhere) names the folder in ``FINSENT_DATA_DIR``. One
    function, so the commands, benchmarks and tests that default to these files never disagree
    about where they are. An empty ``FINSENT_DATA_DIR`` counts as unset.
    """
    configured = os.environ.get("FINSENT_DATA_DIR")
    if configured:
        return Path(configured)
    return Path(finsent.__file__).resolve().parents[1].parent / "shared" / "data"
