"""run_report.html: the run report for a browser, with its maps shown.

The HTML is the Markdown report (run_report.md, whose "Maps" section links the PNG maps under
cartes_rapport/) rendered by markdown-it-py (CommonMark and its table extension; raw HTML in the
Markdown is escaped, never passed through), in a page with a stylesheet of its own: no script,
no network. A run whose inputs include SYNTHETIC files says so in a red banner at the top.
The maps are linked, not embedded: run_report.html, cartes_rapport/ and the layers travel together.
"""

from __future__ import annotations

import html

from indicators.sources.registry import entry_is_synthetic

PAGE = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
code {{ font-size: 0.85em; word-break: break-all; }}
img {{ max-width: 100%; height: auto; border: 1px solid #ddd; display: block; margin: 0.5rem 0 1.5rem; }}
.synthetique {{ background: #cb181d; color: white; font-weight: bold; padding: 0.6rem 1rem; }}
</style>
</head>
<body>
{banner}{body}
</body>
</html>
"""


def synthetic_sources(report: dict) -> list[str]:
    """The source ids of the run whose files are synthetic."""
    return [sid for sid, info in report.get("inputs", {}).items()
            if any(entry_is_synthetic(sid, f) for f in info.get("files", []))]


def report_html(report: dict, markdown_text: str) -> str:
    """The HTML page of a run report, from its Markdown."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    synthetic = synthetic_sources(report)
    banner = ""
    if synthetic:
        banner = (f'<p class="synthetique">Données SYNTHÉTIQUES dans ce run ({html.escape(", ".join(synthetic))}) : '
                  "les chiffres qui en dépendent ne décrivent rien de réel.</p>\n")
    title = f"fragilite : rapport du run ({report.get('method', '')}, {report.get('finished', '')[:10]})"
    return PAGE.format(title=html.escape(title), banner=banner, body=body)
