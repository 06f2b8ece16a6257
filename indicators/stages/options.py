"""A run's options, in a module that imports nothing heavy: the command line reads them to see
whether anything changed (cache.run_key) before it loads the computation, so that an up-to-date
`fragilite run` answers in a second or two."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from indicators.sources.readers.arcep import DEFAULT_SPEED_MBITS
from indicators.sources.readers.bpe import PUBLIC_SERVICES

# reliability (stages/reliability.py): INSEE advises care with census counts under 200
MIN_DENOMINATOR = 200.0

# the scoring methods of stages/methods.py (METHODS there; a test keeps the two lists equal)
IFN_2023 = "ifn-2023"
METHOD_NAMES = ("ifn-2020", "kit-2020", "d4g-2020", IFN_2023)


@dataclass
class PlatformRule:
    ape_livreurs: str = "53.20Z"          # Autres activités de poste et de courrier (assumed, METHODS 2)
    ape_vtc: str = "49.32Z"               # Transports de voyageurs par taxis (assumed)
    categorie: str = "1000"               # entrepreneur individuel
    date_reference: str = "9999-12-31"    # keep establishments created up to this date (stock date by default)
    seuil_domiciliation: int = 10         # active individual riders/drivers at one address
    motif_domiciliation: str = r"\bCCAS\b|DOMICILIATION|CENTRE COMMUNAL|\bC/O\b|(^|\s)CHEZ\s"
    qualites: list[str] = field(default_factory=lambda: ["11", "12", "21", "22"])  # qualite_xy trusted
    actifs: str = "actocc15p"             # or actocc1564

    def params(self, liste: str) -> dict:
        return {"ape_livreurs": self.ape_livreurs, "ape_vtc": self.ape_vtc, "categorie": self.categorie,
                "date_reference": self.date_reference, "seuil_domiciliation": self.seuil_domiciliation,
                "motif_domiciliation": self.motif_domiciliation, "qualites": self.qualites, "liste": liste}

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunOptions:
    method: str = "ifn-2020"
    reference: str = "region"
    territory: list[str] | None = None
    thresholds: Path | None = None
    crs: str = "auto"
    qpv: str = "2015"                 # QPV list: 2015, 2024, or none
    qpv_calibration: str = "none"     # none, or population (control totals)
    seuils_deciles: Path | None = None  # ifn-2023: cut points to score against (default: the loaded units')
    classes: str = "auto"             # class scheme (stages/classes.py); auto: the method's own
    min_denominator: float = MIN_DENOMINATOR   # reliability: indicators over census counts below are flagged
    debit_thd: float = 30.0           # ifn-2023: THD non-coverage = premises below this speed (Mbit/s), the portal's
    plateformes: PlatformRule = field(default_factory=PlatformRule)
    debit_fixe: float = DEFAULT_SPEED_MBITS   # fixed coverage: premises eligible at this speed (Mbit/s) or more
    services_publics: list[str] = field(default_factory=lambda: list(PUBLIC_SERVICES))   # BPE types counted
    lissage: str = "aucun"            # aucun, or bayes-empirique: census rates smoothed (stages/smoothing.py)
