"""Shared test configuration.

Triton kernels are tested on the CPU with the interpreter; the switch must be set before triton
is first imported, which is why it lives here.
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_report_header(config):
    """Say which sparsecourse the tests import; CI's wheel check insists on the installed one."""
    import sparsecourse

    where = os.path.dirname(sparsecourse.__file__)
    if os.environ.get("SPARSECOURSE_EXPECT_INSTALLED") == "1" and "site-packages" not in where:
        import pytest

        raise pytest.UsageError(f"expected the installed wheel of sparsecourse, imported {where}")
    return f"sparsecourse {sparsecourse.__version__} from {where}"
