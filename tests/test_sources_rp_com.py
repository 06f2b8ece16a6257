"""RP "activité des résidents" (and its companions) in INSEE's workbook for the overseas
collectivities: sheet C.O.M, a row of labels above the variable names, no REG nor TYP_IRIS
(../shared/data/real/insee_rp2016_iris_com_xls, SOURCES.md 11), read on INSEE's own bytes."""

from __future__ import annotations

import pandas as pd
import pytest

from indicators.sources.readers import read_rp_iris

from .conftest import SHARED

FOLDER = SHARED / "data/real/insee_rp2016_iris_com_xls"
ACTIVITE = FOLDER / "base-ic-activite-residents-2016-com-cIA.xls"
pytestmark = pytest.mark.skipif(not ACTIVITE.exists(), reason="../shared/data/real not beside the checkout")


def _sheet_by_names(path) -> pd.DataFrame:
    """The C.O.M sheet read independently: the variable names are on its 6th row."""
    raw = pd.read_excel(path, sheet_name="C.O.M", header=None, dtype=str, engine="calamine")
    table = raw.iloc[6:].copy()
    table.columns = raw.iloc[5].tolist()
    return table.set_index("IRIS")


def test_activite_workbook_of_the_overseas_collectivities():
    t = read_rp_iris(ACTIVITE, "rp_activite")
    assert t.millesime == 2016 and len(t.frame) == 16
    assert set(t.frame["code_commune"]) == {"97501", "97502", "97701", "97801"}
    assert t.frame["reg"].isna().all() and t.frame["typ_iris"].isna().all()   # absent here: NULL, not an error
    sheet = _sheet_by_names(ACTIVITE)
    f = t.frame.set_index("code_iris")
    for ours, insee in [("chom1564", "P16_CHOM1564"), ("act1564", "P16_ACT1564"), ("actocc15p", "P16_ACTOCC15P"),
                        ("actocc1564", "P16_ACTOCC1564")]:
        assert (f[ours] == sheet.loc[f.index, insee].astype(float)).all(), ours
    assert f.loc["975010000", "chom1564"] == 30 and f.loc["975010000", "act1564"] == 299


@pytest.mark.parametrize("name,source,column", [
    ("base-ic-evol-struct-pop-2016-com.xls", "rp_population", "pop65p"),
    ("base-ic-couples-familles-menages-2016-com.xls", "rp_familles", "fammono"),
])
def test_companion_workbooks(name, source, column):
    t = read_rp_iris(FOLDER / name, source)
    assert len(t.frame) == 16 and t.frame[column].notna().all()
