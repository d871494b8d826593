"""Fixtures of the classifier tests."""

from __future__ import annotations

import pytest

from classifier import precision
from classifier.precision import CpuFeatures

NATIVE_BF16 = CpuFeatures(amx=False, avx512_bf16=True, vnni=True, avx512=True)
"""A CPU that multiplies bf16 natively (AVX-512 BF16, Zen 4 or Cooper Lake)."""


@pytest.fixture
def bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> CpuFeatures:
    """``auto`` decides as on a CPU with native bf16, whatever CPU runs the test."""
    monkeypatch.setattr(precision, "cpu_features", lambda: NATIVE_BF16)
    return NATIVE_BF16
