"""Vendor the web map's JavaScript from the npm registry, pinned, with its licences.

The map bundle (`fragilite carte`) must run with no network at all: no CDN. Its two libraries are
copied into the package (indicators/outputs/carte/static/vendor/) by this script, which is the
documented update path: change a version below, run it, look at the map, commit the result.

    python scripts/vendor_carte_js.py            # needs `npm` and the registry, nothing else

What it does: `npm pack NAME@VERSION` (npm checks the tarball against the registry's integrity
hash), checks that hash against the one pinned here, copies the browser build and the licence
out of the tarball (without the `//# sourceMappingURL=` line: the source maps are not shipped),
and writes VERSIONS.json (name, version, integrity, files).

Why these builds:
- maplibre-gl 5.x, not 6.x: 6.x ships ES modules only (maplibre-gl.mjs plus a module worker);
  browsers refuse module scripts from file://, and the sample's bundle must open from disk.
  5.x's dist/maplibre-gl.js is a classic script (UMD) whose worker is started from a blob.
- pmtiles: dist/pmtiles.js, the classic-script build (global `pmtiles`). Its npm tarball holds no
  licence file (package.json says BSD-3-Clause); LICENSE.pmtiles.txt beside this script is the
  repository's (github.com/protomaps/PMTiles, LICENSE) and is copied with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "indicators" / "outputs" / "carte" / "static" / "vendor"
HERE = Path(__file__).resolve().parent

# name, version, npm integrity (sha512 of the tarball), {member of the tarball: vendored name}
PACKAGES = [
    ("maplibre-gl", "5.24.1",
     "sha512-HyiYBwtsbk3L1n1EPLJHWqdoyMiF80n7tEYXFZyu2m1TjvaNx6KMLiFeDdmszt1/mq2zvsR1TJuX/NMu5BonXQ==",
     {"package/dist/maplibre-gl.js": "maplibre-gl.js", "package/dist/maplibre-gl.css": "maplibre-gl.css",
      "package/LICENSE.txt": "LICENSE.maplibre-gl.txt"}),
    ("pmtiles", "4.5.0",
     "sha512-CBeD4SoUluFziGdy/8k7FOjQxQy486n+929W/tWophauvMICpkZ26vGBWhDt/6b1FZQWNaf4jFdT/5+q0Wii5w==",
     {"package/dist/pmtiles.js": "pmtiles.js"}),
]
EXTRA_LICENCES = {"pmtiles": HERE / "LICENSE.pmtiles.txt"}


def pack(name: str, version: str, workdir: Path) -> tuple[Path, str]:
    """npm pack NAME@VERSION into workdir: the tarball and its integrity string."""
    done = subprocess.run(["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(workdir)],
                          check=True, capture_output=True, text=True)
    info = json.loads(done.stdout)[0]
    return workdir / info["filename"], info["integrity"]


def strip_source_map(data: bytes) -> bytes:
    """Drop the `//# sourceMappingURL=` line: the maps are not shipped, so nothing asks for one."""
    lines = data.split(b"\n")
    return b"\n".join(line for line in lines if not line.startswith(b"//# sourceMappingURL="))


def vendor(packages=PACKAGES, target: Path = VENDOR) -> dict:
    target.mkdir(parents=True, exist_ok=True)
    versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, pinned, members in packages:
            tarball, integrity = pack(name, version, Path(tmp))
            if pinned and integrity != pinned:
                raise SystemExit(f"{name}@{version}: integrity {integrity} is not the pinned {pinned}")
            with tarfile.open(tarball) as tar:
                for member, dest in members.items():
                    data = tar.extractfile(member).read()
                    if dest.endswith(".js"):
                        data = strip_source_map(data)
                    (target / dest).write_bytes(data)
            files = sorted(members.values())
            if name in EXTRA_LICENCES:
                shutil.copyfile(EXTRA_LICENCES[name], target / EXTRA_LICENCES[name].name)
                files.append(EXTRA_LICENCES[name].name)
            versions[name] = {"version": version, "integrity": integrity, "files": files,
                              "source": f"https://registry.npmjs.org/{name}/-/{tarball.name}"}
    (target / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")
    return versions


if __name__ == "__main__":
    print(json.dumps(vendor(), indent=2), file=sys.stdout)
