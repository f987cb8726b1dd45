"""psbook.display: tables that display themselves and spreads at a precision that shows them."""

import numpy as np
import pytest

from psbook.display import WIDTH, Table, count, spread


def test_spread_shows_the_first_significant_digit_of_the_sd():
    assert spread(0.41234, 0.0031) == "0.412 ± 0.003"
    assert spread(0.41234, 0.031) == "0.41 ± 0.03"
    assert spread(0.41234, 0.31) == "0.41 ± 0.31"
    assert spread(0.5, None) == "0.50"
    assert spread(0.5, 0.0) == "0.50 ± 0"   # exactly equal runs: no rounded-away "± 0.00"
    assert spread(0.25, 0.001, signed=True) == "+0.250 ± 0.001"
    # rounding noise is shown as its size, never as "0.000000 ± 0.000000"
    assert spread(3.3e-16, 1.1e-16, signed=True) == "+3.3e-16 ± 1.1e-16"
    assert spread(0.5, 2e-6) == "0.500000 ± 0.000002"


def test_spread_of_per_seed_values_is_mean_and_sample_sd():
    v = np.array([0.40, 0.41, 0.43])
    assert spread(v) == spread(float(v.mean()), float(v.std(ddof=1)))
    assert spread([0.7]) == "0.70"
    with pytest.raises(ValueError, match="empty"):
        spread([])
    with pytest.raises(ValueError, match="sd must be"):
        spread(0.1, -1.0)


def test_count_agrees_with_its_number():
    assert count(1, "seed") == "1 seed"
    assert count(3, "seed") == "3 seeds"
    assert count(2, "copy", "copies") == "2 copies"
    with pytest.raises(TypeError, match="n must be an integer"):
        count(1.0, "seed")


def test_table_text_and_html():
    t = Table([{"model": "linear", "R_cos": 0.91234, "seeds": [0.1, 0.12, 0.11]},
               {"model": "ffn", "R_cos": -0.05, "seeds": (0.2, 0.004)}],
              caption="Final geometry.", formats={"R_cos": "+.3f"}, note="± over 3 seeds")
    text = str(t)
    assert text.splitlines()[0] == "Final geometry."
    assert "+0.912" in text and "-0.050" in text and "0.200 ± 0.004" in text
    assert max(len(x) for x in text.splitlines()) <= WIDTH
    h = t._repr_html_()
    assert '<th scope="col">R_cos</th>' in h and 'data-label="model">linear<' in h
    assert "<caption>Final geometry.</caption>" in h
    assert t["model"] == ["linear", "ffn"] and len(t) == 2


def test_a_wide_table_becomes_labelled_records_within_the_width():
    row = {f"column {i}": "x" * 20 for i in range(6)}
    text = str(Table([row, row]))
    assert max(len(x) for x in text.splitlines()) <= WIDTH
    assert "column 5  " + "x" * 20 in text


def test_table_errors_name_the_argument():
    with pytest.raises(ValueError, match="formats names columns"):
        Table([{"a": 1}], formats={"b": ".2f"})
    with pytest.raises(TypeError, match="rows must be mappings"):
        Table([[1, 2]])
    with pytest.raises(ValueError, match="at least one column"):
        Table([])
    assert str(Table([[1, 2.5]], columns=["n", "x"])).splitlines()[-1].split() == ["1", "2.500"]
