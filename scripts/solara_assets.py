"""Put the browser assets of the installed Solara into its local asset cache, from npm.

Solara's page loads a few front-end packages (its Vuetify app, Font Awesome, RequireJS) from a
CDN through its own server, caching each file in ``<prefix>/share/solara/cdn/``. This machine
(and CI) reaches no CDN, so ``make setup`` fills that cache from the npm registry with
``npm pack`` instead: the same packages, files at the same paths. Without npm it says so and
the explorer fetches them on first use where a network allows.

    python scripts/solara_assets.py          # fill the cache of this interpreter's Solara
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

SPEC = re.compile(r"\{\{cdn\}\}/((?:@[\w.-]+/)?[\w.-]+@[\w.-]+)/")


def specs() -> list[str]:
    """The npm packages (name@version) the installed Solara's page template loads."""
    import solara.server.settings as settings

    template = Path(settings.__file__).parent / "templates" / "solara.html.j2"
    found = set(SPEC.findall(template.read_text(encoding="utf-8")))
    found.add(settings.assets.fontawesome_path.strip("/").split("/")[0])
    return sorted(found)


def main() -> int:
    """Fetch every missing package into the cache; 0 when all are there."""
    import solara.server.settings as settings

    cache = Path(settings.assets.proxy_cache_dir)
    missing = [s for s in specs() if not (cache / s / "package.json").exists()]
    if not missing:
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print(
            f"solara_assets: npm not found; {', '.join(missing)} will be fetched by the explorer "
            "on first use (needs a network)",
            file=sys.stderr,
        )
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in missing:
            name = subprocess.run(
                [npm, "pack", spec, "--silent", "--pack-destination", tmp],
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]  # fmt: skip
            dest = cache / spec
            staging = Path(tmp) / "x"
            with tarfile.open(Path(tmp) / name) as tar:
                tar.extractall(staging, filter="data")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.move(staging / "package", dest)
            shutil.rmtree(staging, ignore_errors=True)
            print(f"solara_assets: {spec} -> {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
