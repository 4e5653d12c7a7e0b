"""Compile one loop twice, on all cores and on one thread, without the two sharing a disk cache.

Several kernels of the package exist in two builds of the same Python function: ``parallel=True``
(``prange`` spreads the loop over the cores) for large inputs, and serial (``prange`` is then a
plain ``range``) for inputs too small to pay for waking the thread pool. Both are compiled with
``cache=True`` so that a notebook does not recompile them.

numba's on-disk cache, however, names its files after the function's qualified name and keys
each entry on the argument types and the function's bytecode, *not* on the compile options
(numba issue #6845). Two builds of one function therefore share one cache slot: whichever is
compiled first is saved, and from the next process on the other build loads it. On this 2-core
machine that made the "parallel" SpMV run on one thread (the same time per call with 1 and 2
numba threads) once the serial build had been cached first.

:func:`serial_twin` gives the serial build a function of its own: a copy of the Python function
(same code, globals and defaults) under the qualified name ``<name>_serial``, so its cache files
are separate. ``tests/test_jit_twins.py`` checks every pair in the package.
"""

from __future__ import annotations

import types

import numba as nb

__all__ = ["serial_twin"]


def serial_twin(py_func, **options):
    """``numba.njit(cache=True, **options)`` of a renamed copy of ``py_func``.

    Parameters
    ----------
    py_func : function or numba dispatcher
        The loop (a dispatcher's ``py_func`` is taken).
    **options
        Further ``numba.njit`` options (``fastmath``, ``nogil``, ...), not ``parallel``.

    Returns
    -------
    numba dispatcher
        Compiled on first call, cached on disk under ``<qualname>_serial``.
    """
    py_func = getattr(py_func, "py_func", py_func)
    if options.get("parallel"):
        raise ValueError("serial_twin compiles the serial build; pass parallel=True elsewhere")
    twin = types.FunctionType(py_func.__code__, py_func.__globals__, py_func.__name__ + "_serial",
                              py_func.__defaults__, py_func.__closure__)
    twin.__qualname__ = py_func.__qualname__ + "_serial"
    twin.__module__ = py_func.__module__
    twin.__doc__ = py_func.__doc__
    twin.__kwdefaults__ = py_func.__kwdefaults__
    return nb.njit(cache=True, **options)(twin)
