"""One reader per published format. Each returns plain tables with our column names and raises
InputError (file, column, rows) on anything it cannot read faithfully."""

from indicators.sources.readers.contours import read_contours_iris
from indicators.sources.readers.filosofi import read_filosofi_communes, read_filosofi_iris
from indicators.sources.readers.hierarchy import read_epci_composition
from indicators.sources.readers.mednum import read_mednum
from indicators.sources.readers.rp import read_rp_iris

__all__ = ["read_contours_iris", "read_epci_composition", "read_filosofi_communes",
           "read_filosofi_iris", "read_mednum", "read_rp_iris"]
