"""Demo data: the shipped example templates (``templates/examples/``). Idempotent.

Also which images those examples name: ``example_mapped_images()`` lists every image id of every
example's ``ami_config`` (``ami_mappings`` and the legacy ``amis``) with its region. The demo's
AWS emulator is started holding exactly these images (``seed_emulator --plan``, then
``scripts/demo_emulator.py``), so in the demo every direct mapping of a shipped template points at
an image that exists, with the id the template file gives.
"""
import re
from pathlib import Path

from templates.services import template_load_path
from templates.validation import parse_yaml

EXAMPLES = Path(__file__).resolve().parent / "examples"
# The account the examples' images belong to when their ami_search names no account id (any
# account but the emulator's own, so the images never show up as the registry's "self" images).
DEMO_PUBLISHER_ACCOUNT = "210987654321"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ARCHITECTURES = ("x86_64", "arm64")


def seed(stdout=None, admin=None, **kwargs):
    """Called by ``manage.py seed_demo``; loading unchanged files again changes nothing."""
    report = template_load_path(paths=[EXAMPLES], actor=admin)
    if stdout is not None:
        stdout.write(f"templates: {len(report.created)} created, {len(report.updated)} updated, "
                     f"{len(report.unchanged)} unchanged")
        for path, errors in report.errors.items():
            stdout.write(f"templates: invalid example {path}: {errors}")
    return report


def _architecture(config: dict) -> str:
    preferred = config.get("preferred_architecture")
    if preferred in _ARCHITECTURES:
        return preferred
    searched = (config.get("ami_search") or {}).get("architecture") or []
    searched = [searched] if isinstance(searched, str) else searched
    return next((a for a in searched if a in _ARCHITECTURES), "x86_64")


def example_mapped_images(examples: Path = EXAMPLES) -> list[dict]:
    """One entry per (region, image id) that an example names, sorted, each with the naming
    template's slug, where in ``ami_config`` it comes from, its architecture and its owner.

    Raw files are enough: a child inherits its parents' mappings, which are named in the parents'
    own files."""
    images: dict[tuple[str, str], dict] = {}
    for path in sorted(examples.glob("*.y*ml")):
        doc, errors = parse_yaml(path.read_bytes())
        config = (doc or {}).get("ami_config")
        if errors or not isinstance(config, dict):
            continue
        owner = str((config.get("ami_search") or {}).get("owner") or "")
        common = {"template": str(doc.get("slug") or path.stem), "file": path.name,
                  "owner_id": owner if _ACCOUNT_ID.match(owner) else DEMO_PUBLISHER_ACCOUNT}
        for region, image_id in (config.get("ami_mappings") or {}).items():
            if isinstance(image_id, str):
                images.setdefault((region, image_id), {
                    **common, "region": region, "image_id": image_id, "architecture": _architecture(config),
                    "source": f"ami_mappings.{region}"})
        for region, per_arch in (config.get("amis") or {}).items():
            for arch, image_id in (per_arch.items() if isinstance(per_arch, dict) else ()):
                if isinstance(image_id, str) and arch in _ARCHITECTURES:
                    images.setdefault((region, image_id), {
                        **common, "region": region, "image_id": image_id, "architecture": arch,
                        "source": f"amis.{region}.{arch}"})
    return [images[key] for key in sorted(images)]
