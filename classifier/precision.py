"""Runtime precision: the number format the engine computes in, chosen per machine.

``classifier.precision`` is ``auto``, ``fp32``, ``bf16`` or ``int8``. ``auto`` never assumes
that a cheaper format keeps a model's labels: it reads the record that ``finsent model
check-precision`` writes into the model folder (``finsent_model.json``, ``extra.precision``:
per mode, the dev-split accuracy drop and label agreement against fp32, and the CPU features
the check ran with) and picks the fastest mode on this machine that the record says keeps
every task's dev accuracy within ``TOLERANCE`` and at least ``AGREEMENT`` of its labels:

- a CPU with native bf16 (AMX tiles or AVX-512 BF16): bf16 autocast, else the calibrated int8;
- a CPU with AVX-512 VNNI but no bf16: the calibrated int8 (8-bit activations);
- any other CPU, or a folder without a passing record: fp32;
- CUDA: bf16 autocast (fp16 where the GPU lacks bf16), fp32 only where the record measured
  bf16 and it failed.

The order is fixed by the hardware rather than timed at each start: bf16 comes first
where the CPU multiplies bf16 natively, because it keeps far more labels than the calibrated
int8 (the shipped model: 99.89 % / 99.67 % against 99.35 % / 99.34 %) and AMX has bf16 tiles
that fbgemm's int8 never uses; on an AVX-512 BF16 CPU without AMX the int8 kernels measured
1.0-1.3x bf16's items/s, a gain its labels do not pay for. A CPU without native bf16 emulates
it, slower than fp32. Folders checked before this record (``extra.int8`` only) still serve
int8 where their figures meet today's bar; their calibration files are read as they are.
"""

from __future__ import annotations

import functools
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch

from finsent.errors import SetupError

Precision = Literal["auto", "fp32", "bf16", "int8"]
"""What ``classifier.precision`` may say."""
Mode = Literal["fp32", "bf16", "fp16", "int8"]
"""What the engine runs: fp16 is bf16's stand-in on a GPU without bf16."""
PRECISIONS: tuple[str, ...] = get_args(Precision)
TOLERANCE = 0.005  # accuracy, absolute (0.5 points) a mode may lose on any task's dev split
AGREEMENT = 0.995  # share of each task's dev labels a mode must leave as fp32 gives them
RECORD = "precision"  # the key of ModelSpec.extra that ``check-precision`` writes
LEGACY_INT8 = "int8"  # the int8-only record of folders checked before ``RECORD``
TASKS = ("sentiment", "topic")


class PrecisionError(SetupError):
    """A precision that cannot run on this device; the message names the fix."""


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's matrix instructions that decide which precision is fast on it."""

    amx: bool  # AMX tiles: bf16 and int8 matrix units (Sapphire Rapids and later)
    avx512_bf16: bool  # bf16 dot products in AVX-512 (Cooper Lake, Zen 4 and later)
    vnni: bool  # AVX-512 VNNI int8 dot products: 8-bit activations in fbgemm
    avx512: bool

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix products in hardware (else torch emulates them, slower than fp32)."""
        return self.amx or self.avx512_bf16

    @property
    def bf16_unit(self) -> str:
        """The instructions bf16 runs on, for log lines and records."""
        return "AMX" if self.amx else "AVX-512 BF16" if self.avx512_bf16 else "none"

    def record(self) -> dict[str, Any]:
        """The features and the CPU's name, as ``check-precision`` records them."""
        return {"name": cpu_name(), **asdict(self)}


def _probe(name: str) -> bool:
    probe = getattr(torch.cpu, name, None)  # private probes of torch's CPU dispatch
    return bool(probe()) if callable(probe) else False


@functools.cache
def cpu_features() -> CpuFeatures:
    """The features of the CPU this process runs on, as torch's kernels see them."""
    return CpuFeatures(
        amx=_probe("_is_amx_tile_supported"),
        avx512_bf16=_probe("_is_avx512_bf16_supported"),
        vnni=_probe("_is_vnni_supported"),
        avx512=_probe("_is_avx512_supported"),
    )


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), or what ``platform`` says."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def activation_bits(features: CpuFeatures | None = None) -> int:
    """8 with VNNI (int32 accumulation); 7 without, where fbgemm's int16 sums could saturate."""
    return 8 if (features or cpu_features()).vnni else 7


@dataclass(frozen=True)
class Choice:
    """The mode the engine runs and why (the model-ready log line says both)."""

    mode: Mode
    reason: str


def read_record(extra: Mapping[str, Any]) -> dict[str, Any] | None:
    """The folder's precision record, with an int8-only record of older folders mapped in."""
    current = extra.get(RECORD)
    if isinstance(current, dict):
        return current
    legacy = extra.get(LEGACY_INT8)
    if not isinstance(legacy, dict):
        return None
    int8: dict[str, Any] = {
        "how": legacy.get("quantisation", "dynamic, per-channel"),
        "activation_bits": legacy.get("activation_bits"),
        "calibrated": bool(legacy.get("calibrated")),
        "backend": "fbgemm",
    }
    fp32: dict[str, Any] = {}
    for task in TASKS:
        figures = legacy.get(task)
        if isinstance(figures, dict):
            fp32[task] = {
                "n": figures.get("n"),
                "accuracy": figures.get("fp32_accuracy"),
                "macro_f1": figures.get("fp32_macro_f1"),
            }
            int8[task] = {
                "accuracy": figures.get("int8_accuracy"),
                "macro_f1": figures.get("int8_macro_f1"),
                "accuracy_drop": figures.get("accuracy_drop"),
                "label_agreement": figures.get("label_agreement"),
            }
    int8["within_tolerance"] = passes(int8)
    return {"legacy": True, "fp32": fp32, "modes": {"int8": int8}}


def passes(entry: Mapping[str, Any]) -> bool:
    """Every measured task within ``TOLERANCE`` and ``AGREEMENT``, at least one measured.

    Today's bar, not the one the record was written under.
    """
    tasks = [entry[t] for t in TASKS if isinstance(entry.get(t), dict)]
    return bool(tasks) and all(
        isinstance(t.get("accuracy_drop"), int | float)
        and isinstance(t.get("label_agreement"), int | float)
        and t["accuracy_drop"] <= TOLERANCE
        and t["label_agreement"] >= AGREEMENT
        for t in tasks
    )


def _summary(entry: Mapping[str, Any]) -> str:
    kept = [
        f"{entry[t]['label_agreement']:.2%} {t}"
        for t in TASKS
        if isinstance(entry.get(t), dict) and "label_agreement" in entry[t]
    ]
    return "labels kept " + ", ".join(kept) if kept else "no figures"


def _refusal(
    mode: str, entry: Mapping[str, Any] | None, features: CpuFeatures, calibrated: bool
) -> str | None:
    """Why the record does not let ``auto`` run ``mode`` here (None: it does)."""
    if entry is None:
        return f"{mode} not recorded"
    if not passes(entry):
        return f"{mode} outside tolerance ({_summary(entry)})"
    if mode == "int8":
        if entry.get("activation_bits") != activation_bits(features):
            return f"int8 measured with {entry.get('activation_bits')}-bit activations"
        if bool(entry.get("calibrated")) != calibrated:
            return "int8 measured " + (
                "with a calibration the folder no longer holds"
                if entry.get("calibrated")
                else "uncalibrated, but the folder now holds a calibration"
            )
    return None


def cpu_candidates(features: CpuFeatures) -> list[Mode]:
    """The modes faster than fp32 on this CPU, fastest first."""
    if features.native_bf16:
        return ["bf16", "int8"]
    if features.vnni:
        return ["int8"]
    return []


def choose(
    requested: Precision,
    device: str,
    record: Mapping[str, Any] | None,
    features: CpuFeatures | None = None,
    calibrated: bool = False,
    cuda_bf16: bool = True,
) -> Choice:
    """The mode to run for ``requested`` on ``device`` ("cpu" or "cuda") and why.

    ``record`` is ``read_record`` of the folder's manifest; ``calibrated`` whether the folder
    holds an int8 calibration; ``cuda_bf16`` whether the GPU has bf16.
    """
    if requested not in PRECISIONS:
        raise PrecisionError(f"classifier.precision {requested!r}: use one of {PRECISIONS}")
    modes: Mapping[str, Any] = (record or {}).get("modes") or {}
    if device == "cuda":
        return _on_cuda(requested, modes, cuda_bf16)
    features = features or cpu_features()
    if requested == "fp32":
        return Choice("fp32", "configured")
    if requested == "bf16":
        native = (
            f"on {features.bf16_unit}"
            if features.native_bf16
            else "emulated: this CPU has no AMX or AVX-512 BF16, expect it slower than fp32"
        )
        return Choice("bf16", f"configured, {native}")
    if requested == "int8":
        how = "calibrated" if calibrated else "uncalibrated: FFN down-projections stay fp32"
        return Choice("int8", f"configured, {how}")
    return _auto_on_cpu(modes, (record or {}).get("cpu", {}), features, calibrated)


def _on_cuda(requested: Precision, modes: Mapping[str, Any], cuda_bf16: bool) -> Choice:
    half: Mode = "bf16" if cuda_bf16 else "fp16"
    stand_in = "" if cuda_bf16 else " (this GPU has no bf16)"
    if requested == "int8":
        raise PrecisionError(
            "classifier.precision int8 is CPU-only: set classifier.device: cpu, or "
            "precision: auto or bf16 for the GPU"
        )
    if requested != "auto":
        return Choice(half if requested == "bf16" else "fp32", "configured" + stand_in)
    entry = modes.get("bf16")
    if entry is not None and not passes(entry):
        return Choice("fp32", f"auto: bf16 outside tolerance in the record ({_summary(entry)})")
    measured = "the record keeps its labels" if entry is not None else "not recorded"
    return Choice(half, f"auto: GPU half-precision autocast{stand_in}; bf16 {measured}")


def _auto_on_cpu(
    modes: Mapping[str, Any], made_on: Mapping[str, Any], features: CpuFeatures, calibrated: bool
) -> Choice:
    refusals = []
    for mode in cpu_candidates(features):
        refusal = _refusal(mode, modes.get(mode), features, calibrated)
        if refusal is None:
            unit = features.bf16_unit if mode == "bf16" else "VNNI"
            return Choice(
                mode,
                f"auto: the fastest mode on {unit} that the folder's record (made on "
                f"{made_on.get('name', 'a CPU')}) keeps within {TOLERANCE * 100:.1f} accuracy "
                f"points and {AGREEMENT:.1%} of dev labels: {_summary(modes[mode])}",
            )
        refusals.append(refusal)
    if not refusals:
        return Choice("fp32", "auto: this CPU has neither native bf16 nor VNNI")
    return Choice("fp32", "auto: " + "; ".join(refusals))
