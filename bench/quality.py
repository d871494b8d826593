"""Model quality: the shipped model vs a plain Hugging Face fine-tune trained in the same run.

.venv/bin/python bench/quality.py [--json] [--seeds 13,14] [--model DIR]
.venv/bin/finsent bench quality --json
"""

import sys
from pathlib import Path

# The classifier benchmark beside this file is named like the `classifier` package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from classifier.quality import main  # noqa: E402

if __name__ == "__main__":
    main()
