"""sparsecourse.claims: verdicts are computed from comparisons, tables refuse unknown verdicts."""

import numpy as np
import pytest

from sparsecourse.claims import VERDICTS, claims_table, verdict


def test_verdict_follows_the_comparisons():
    assert verdict(True) == "reproduced"
    assert verdict(False, True) == "partly reproduced"
    assert verdict(False) == "not reproduced"
    assert verdict(np.float64(2.0) > 1.0) == "reproduced"     # numpy booleans are comparisons
    with pytest.raises(TypeError, match="full must be a bool"):
        verdict("reproduced")
    with pytest.raises(TypeError, match="partial"):
        verdict(False, 0.5)


def test_claims_table_strips_cite_keys_and_checks_verdicts():
    pd = pytest.importorskip("pandas")
    t = claims_table([("Paper {key2020}", "says", "measured", verdict(True)),
                      ("Other", "says", "measured", VERDICTS[3])])
    assert isinstance(t.data, pd.DataFrame)
    assert list(t.data["paper"]) == ["Paper", "Other"]
    with pytest.raises(ValueError, match="verdict must be one of"):
        claims_table([("P", "s", "m", "mostly")])
    with pytest.raises(ValueError, match="needs 4 entries"):
        claims_table([("P", "s", "reproduced")])
