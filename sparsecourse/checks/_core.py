"""The result type shared by every exercise check, and a generic numeric comparison."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CheckResult", "check_close"]


@dataclass
class CheckResult:
    """Outcome of a check: ``passed`` and a human-readable ``message``."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("PASS: " if self.passed else "FAIL: ") + self.message

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.passed else "#cf222e"
        tag = "PASS" if self.passed else "FAIL"
        return f'<p><strong style="color:{color}">{tag}</strong> {self.message}</p>'


def ok(msg: str) -> CheckResult:
    return CheckResult(True, msg)


def fail(msg: str) -> CheckResult:
    return CheckResult(False, msg)


def call_answer(fn, desc: str, *args):
    """``(fn(*args), None)``, or ``(None, fail(...))`` naming the learner's exception and input."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - report any learner error
        return None, fail(f"your function raised {type(exc).__name__}: {exc} on {desc}")


def finite_number(out, desc: str):
    """``(float(out), None)`` for a finite number (a 0-d tensor or array too), else a failure."""
    try:
        v = float(out)
    except (TypeError, ValueError, RuntimeError):
        return None, fail(f"on {desc} your function should return a number, got "
                          f"{type(out).__name__}")
    if not math.isfinite(v):
        return None, fail(f"on {desc} your function returned {v}")
    return v, None


def check_close(answer, expected, *, name: str = "answer", rtol: float = 1e-6,
                atol: float = 0.0) -> CheckResult:
    """Compare a numeric answer (scalar or array) with the expected value.

    Examples
    --------
    >>> from sparsecourse.checks import check_close
    >>> bool(check_close(0.1 + 0.2, 0.3))
    True
    """
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return fail(
            f"{name} should be a number or an array of numbers, got {type(answer).__name__}"
        )
    e = np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return fail(f"{name} has shape {a.shape}, expected {e.shape}")
    if not np.isfinite(a).all():
        return fail(f"{name} contains NaN or infinity")
    if np.allclose(a, e, rtol=rtol, atol=atol):
        return ok(f"{name} is correct.")
    err = np.max(np.abs(a - e))
    return fail(f"{name} differs from the expected value (max abs. error {err:.3g}); "
                f"expected {np.round(e, 6).tolist() if e.size <= 8 else 'an array'}")

