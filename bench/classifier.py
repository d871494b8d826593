"""Classifier benchmark: engine vs Hugging Face pipelines, ratios from one run.

.venv/bin/python bench/classifier.py [--json] [--device cuda --base-sized]
.venv/bin/finsent bench classifier --json
"""

import sys
from pathlib import Path

# This file is named like the `classifier` package; keep its folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from classifier.bench import main  # noqa: E402

if __name__ == "__main__":
    main()
