"""Shared test configuration.

Triton kernels are tested on the CPU with the interpreter; the switch must be set before triton
is first imported, which is why it lives here.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
