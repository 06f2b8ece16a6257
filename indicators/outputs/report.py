"""The run report: what was read, what was written, what was rejected and why (JSON and Markdown)."""

from __future__ import annotations

from indicators.outputs.dictionary import sirene_is_synthetic
from indicators.sources.registry import entry_is_synthetic


def report_markdown(report: dict) -> str:
    lines = ["# fragilite run report", ""]
    if report.get("echecs"):
        lines += ["## FAILED inputs: their units are missing from the layers", ""]
        lines += [f"- {f}" for f in report["echecs"]] + [""]
    lines += synthetic_markdown(report.get("inputs") or {})
    if report.get("run_id"):
        lines.append(f"- output set: `{report['run_id']}` (`fragilite history`; `fragilite rollback "
                     f"{report['run_id']}` makes it current again)")
    lines += [
             f"- method: `{report['method']}`, reference: `{report['reference']}`, CRS: {report['crs']}",
             f"- duration: {report['duration_s']} s", "", "## Inputs", "",
             "| source | millésime | file | sha256 | rows staged (read) |", "|---|---|---|---|---|"]
    for sid, p in report["inputs"].items():
        rows = str(p.get("rows", ""))
        if p.get("rows_read") is not None:
            rows += f" ({p['rows_read']})"
        for f in p.get("files", []):
            flag = " **SYNTHETIC**" if entry_is_synthetic(sid, f) else ""
            lines.append(f"| {sid}{flag} | {p.get('millesime') or ''} | `{f['path']}` | `{f['sha256'][:12]}…` | {rows} |")
    lines += ["", "## Outputs", "", "| output | rows |", "|---|---|"]
    for level, info in report["outputs"].items():
        lines.append(f"| {level} | {info['rows']} |")
    lines += classes_markdown(report["stats"].get("classes")) + reliability_markdown(report["stats"].get("fiabilite"))
    lines += smoothing_markdown(report["stats"].get("lissage"))
    if "qpv_comparaison" in report["stats"]:
        lines += ["", "## QPV: our allocation against INSEE's published figures", "",
                  f"Calibration: `{report['stats'].get('qpv_calibration')}`. Per QPV in `qpv_comparaison.csv`.", "",
                  "| weights | QPV | median abs. error, population | total ours / official | median abs. gap, 60+ (pts) | median abs. gap, poverty (pts) |",
                  "|---|---|---|---|---|---|"]
        for r in report["stats"]["qpv_comparaison"]:
            pts = lambda k: f"{100 * r[k]:.1f}" if k in r else "–"
            lines.append(f"| {r['source_poids']} | {r['qpv']} | {100 * r['erreur_mediane_population']:.1f} % | "
                         f"{r['total_estime_sur_officiel']:.2f} | {pts('ecart_median_part_60_plus')} | {pts('ecart_median_taux_pauvrete')} |")
    lines += commune_sources_lines(report["stats"].get("sources_communales"))
    pf = report["stats"].get("plateformes")
    if pf:
        synthetic = sirene_is_synthetic(report["inputs"])
        lines += ["", "## Platform workers (SIRENE, " + str(pf.get("date_sirene")) + ")", ""]
        if synthetic:
            lines += ["**The SIRENE files of this run are SYNTHETIC: these counts describe nothing real.**", ""]
        pct = lambda v: "–" if v is None else f"{100 * v:.1f} %"
        lines += ["| profession | establishments | in a QPV | share in QPV | share of workers in QPV | over-representation |",
                  "|---|---|---|---|---|---|"]
        for r in pf["synthese"]:
            ratio = "–" if r["surrepresentation"] is None else f"{r['surrepresentation']:.2f}"
            lines.append(f"| {r['profession']} | {r['etablissements']} | {r['en_qpv']} | {pct(r['part_en_qpv'])} | "
                         f"{pct(r['part_actifs_occupes_en_qpv'])} | {ratio} |")
        lines += ["", "Left out: " + ", ".join(f"{r['profession']} {r['statut']} {r['n']}" for r in pf["exclusions"]
                                             if r["statut"] != "compté") + ".",
                  "Located by: " + ", ".join(f"{r['chemin_iris']} {r['n']}" for r in pf["chemins"]) + ".",
                  f"INSEE's IRIS code and our polygon disagree on {pf['desaccord_iris']['differents']} of "
                  f"{pf['desaccord_iris']['comparables']} establishments having both; QPV: "
                  f"{pf['desaccord_qpv']['differents']} of {pf['desaccord_qpv']['comparables']}."]
    if "deciles" in report["stats"]:
        lines += deciles_section(report["stats"]["deciles"])
    lines += ["", f"Rejected units: {report['rejects']['rows']} (see `rejects.csv`)."]
    if report["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    lines += maps_markdown(report.get("cartes") or {})
    return "\n".join(lines) + "\n"


def synthetic_markdown(inputs: dict) -> list[str]:
    """The run's SYNTHETIC inputs, named at the top with what made them so (registry.is_synthetic)."""
    rows = []
    for sid, p in inputs.items():
        for f in p.get("files", []):
            if entry_is_synthetic(sid, f):
                why = (f"in a dataset marked by `{f['synthetic_marker']}`" if f.get("synthetic_marker")
                       else "the sample's synthetic stand-in" if f.get("synthetic") else "in a dataset marked synthetic")
                rows.append(f"- `{sid}`: `{f['path']}` ({why})")
    if not rows:
        return []
    return ["## SYNTHETIC inputs: the values resting on them describe nothing real", "",
            "Written by a generator script, not published by a statistics office; the maps drawn from them "
            "say so.", "", *rows, ""]


def deciles_section(info: dict) -> list[str]:
    """ifn-2023: over which units the deciles were ranked, or which file gave the cut points."""
    lines = ["", "## ifn-2023 (2023-like reconstruction, METHODS 1.4): decile cut points", ""]
    if info.get("fichier"):
        lines.append(f"Scored against the cut points of `{info['fichier']}`, not the units of this run.")
    elif info.get("france_entiere"):
        lines.append(f"Deciles ranked over the {info['n_unites']} units loaded: all of France.")
    else:
        lines.append(f"**Not all of France:** deciles ranked over the {info['n_unites']} units loaded "
                     f"({info['territoire']}); a score ranks a unit within this territory, not nationally as "
                     "the 2023 portal does. Give `--seuils-deciles` with national cut points to score against France.")
    lines += ["", "Written to `seuils_deciles.csv` (reuse it with `--seuils-deciles`). `borne_s`: the largest value "
              "scored s or less; empty: no value scores that low.", "",
              "| indicator | units | " + " | ".join(f"borne_{s}" for s in range(1, 10)) + " |",
              "|---|---|" + "---|" * 9]
    for row in info["seuils"]:
        bounds = " | ".join("–" if row[f"borne_{s}"] is None else f"{row[f'borne_{s}']:.4g}" for s in range(1, 10))
        lines.append(f"| {row['indicateur']} | {row['n_unites'] if row['n_unites'] is not None else ''} | {bounds} |")
    return lines


def commune_sources_lines(origins: dict | None) -> list[str]:
    """Where the commune-level indicators came from, and the rows of their files no unit took."""
    if not origins:
        return []
    lines = ["", "## Indicators from commune and equipment files", ""]
    lines += [f"- `{ind}`: " + " ; ".join(texts) for ind, texts in origins["indicateurs"].items()]
    if not origins["indicateurs"]:
        lines.append("- none in this run (no ARCEP, BPE or user commune file)")
    if origins.get("communes_sans_arcep"):
        lines.append(f"- communes of the run without an ARCEP rate (no row, or 0 premises in ARCEP's file): "
                     f"{origins['communes_sans_arcep']} (no fixed coverage for their IRIS)")
    for source, reasons in origins["non_rattaches"].items():
        for reason, n in reasons.items():
            lines.append(f"- {source}: {n['lignes']} codes ({n['quantite']:g} in all): {reason}")
    if origins["non_rattaches"]:
        lines.append("- every one of them, code by code: `sources_non_rattachees.csv`")
    return lines


def classes_markdown(classes: dict | None) -> list[str]:
    """How classe_global (ifn-2023: classe_total) was cut, layer by layer (the bounds are in
    dictionary.json too)."""
    if not classes:
        return []
    first = next(iter(classes["par_couche"].values()), {})
    main = "classe_global" if "classe_global" in first or not first else next(iter(first))
    lines = ["", f"## Classes: `{classes['schema']}`", "", classes.get("libelle", ""), "",
             f"| layer | bounds of {main} (1 to 5) | units per class |", "|---|---|---|"]
    for level, info in classes["par_couche"].items():
        glob = info.get(main, {})
        bounds = " · ".join(f"{b:.1f}" for b in glob.get("bornes", []))
        counts = " / ".join(str(glob.get("effectifs", {}).get(str(k), 0)) for k in range(1, 6))
        lines.append(f"| {level} | {bounds} | {counts} |")
    return lines


def reliability_markdown(reliability: dict | None) -> list[str]:
    """Units whose score rests on small census counts, per layer and per indicator."""
    if not reliability:
        return []
    indicators = reliability["indicateurs"]
    lines = ["", "## Reliability: indicators over small census counts", "",
             f"An indicator is flagged (`fiable_<id>` false) when its denominator is below "
             f"{reliability['effectif_minimal']:g} (INSEE: census counts under 200 \"doivent être maniés avec "
             "précaution\"); `fiabilite` counts a unit's flagged indicators.", "",
             "| layer | units | with a flagged indicator | " + " | ".join(indicators) + " |",
             "|---|---|---|" + "---|" * len(indicators)]
    for level, s in reliability["par_couche"].items():
        share = f"{100 * s['unites_signalees'] / s['unites']:.0f} %" if s["unites"] else "–"
        lines.append(f"| {level} | {s['unites']} | {s['unites_signalees']} ({share}) | "
                     + " | ".join(str(s["par_indicateur"].get(i, 0)) for i in indicators) + " |")
    return lines


def smoothing_markdown(smoothing: dict | None) -> list[str]:
    """With --lissage: which rates were smoothed and how much they moved, per layer."""
    if not smoothing:
        return []
    indicators = smoothing["indicateurs"]
    lines = ["", f"## Smoothing: `{smoothing['methode']}` (the values and scores are NOT the raw rates)", "",
             f"{smoothing['libelle']}. Units changed / mean absolute change of the rate, per indicator:", "",
             "| layer | " + " | ".join(indicators) + " |", "|---|" + "---|" * len(indicators)]
    for level, per in smoothing["par_couche"].items():
        cells = [f"{per[i]['unites_modifiees']} / {per[i]['ecart_moyen']:.4f}" if per.get(i) and per[i]["ecart_moyen"]
                 is not None else "–" for i in indicators]
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    return lines


def maps_markdown(maps: dict[str, list[str]]) -> list[str]:
    """The report's "Maps" section: each PNG linked and shown (Markdown image links)."""
    if not maps:
        return []
    lines = ["", "## Maps", "",
             "Classes of each layer in the palette of the QGIS styles and the web map; hatched units: "
             "their score rests on small census counts (`fiabilite` > 0). Overseas régions in insets, "
             "at their own scale.", ""]
    for level, paths in maps.items():
        lines += [f"### {level}", ""]
        for path in paths:
            name = path.rsplit("/", 1)[-1].removesuffix(".png")
            lines += [f"![{name}]({path})", ""]
    return lines
