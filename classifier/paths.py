"""Where the shipped model lives (a module without heavy imports, for the CLI's defaults)."""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "models" / "finsent-minilm"
"""The default model folder: finsent-minilm, shipped inside the package."""
