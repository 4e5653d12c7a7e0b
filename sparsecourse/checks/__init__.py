"""Friendly pass/fail checks for the exercises in the book.

Each ``check_*`` function runs a learner's answer against the package's reference on a few
inputs, including edge cases, and returns a :class:`CheckResult`. The result prints as a short
message ("Correct! ..." or what went wrong and on which input) and is truthy only on success, so
``assert check_spmv(my_spmv)`` works in a test or a notebook cell.

The checks live in one private module per chapter (``_intro``, ``_regression``,
``_phase_retrieval``, ``_coding``, ``_lista``, ``_pruning``, ``_sparse_nn``, ``_activation``,
``_moe``, ``_oneshot``) and are all importable from here.
"""

from . import (
    _activation,
    _coding,
    _core,
    _intro,
    _lista,
    _moe,
    _oneshot,
    _phase_retrieval,
    _pruning,
    _regression,
    _sparse_nn,
)

__all__: list[str] = []
for _module in (_core, _intro, _regression, _phase_retrieval, _coding, _lista, _pruning,
                _sparse_nn, _activation, _moe, _oneshot):
    for _name in _module.__all__:
        _obj = getattr(_module, _name)
        if hasattr(_obj, "__module__"):
            _obj.__module__ = __name__  # documented (and cross-referenced) as sparsecourse.checks
        globals()[_name] = _obj
        __all__.append(_name)
del _module, _name, _obj
