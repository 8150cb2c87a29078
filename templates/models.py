"""CloudWorkstation workstation templates (YAML documents), stored parsed and as source."""
from django.db import models

from templates.validation import ARCHITECTURES, DEFAULT_STRATEGY, PACKAGE_KINDS


class Template(models.Model):
    """One workstation template. ``document`` is the validated document with parents merged in;
    ``own_document`` is what its YAML says by itself (needed to re-merge when a parent changes)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=100, blank=True, default="", db_index=True)
    base = models.CharField(max_length=50, blank=True, default="")
    version = models.CharField(max_length=50, blank=True, default="")
    document = models.JSONField(default=dict)
    own_document = models.JSONField(default=dict)
    source_yaml = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "workstation_templates"
        ordering = ["name"]

    def __str__(self):
        return self.slug

    # Read helpers over the merged document (the resolver and the API use them).
    @property
    def ami_config(self) -> dict:
        value = self.document.get("ami_config")
        return value if isinstance(value, dict) else {}

    @property
    def strategy(self) -> str:
        return self.ami_config.get("strategy") or DEFAULT_STRATEGY

    @property
    def package_manager(self) -> str:
        value = self.document.get("package_manager")
        return value if isinstance(value, str) else ""

    @property
    def inherits(self) -> list[str]:
        value = self.own_document.get("inherits")
        return list(value) if isinstance(value, list) else []

    @property
    def packages(self) -> dict[str, list[str]]:
        """``{system, conda, spack, pip}`` lists (empty lists for kinds not given)."""
        value = self.document.get("packages")
        value = value if isinstance(value, dict) else {}
        return {kind: [p for p in (value.get(kind) or []) if isinstance(p, str)]
                for kind in PACKAGE_KINDS}

    @property
    def architectures(self) -> list[str]:
        """Architectures the template can run on, in a stable order (``ARCHITECTURES``'s: x86_64, arm64).

        Taken from what the document says (AMI search, legacy per-arch AMIs, instance types,
        costs, preferred architecture); a template that says nothing runs on both, because it
        is provisioned by script on a base OS that exists for both.
        """
        ami = self.ami_config
        found: set[str] = set()
        search = ami.get("ami_search") if isinstance(ami.get("ami_search"), dict) else {}
        arch = search.get("architecture")
        found.update([arch] if isinstance(arch, str) else arch if isinstance(arch, list) else [])
        for by_arch in (ami.get("amis") or {}).values() if isinstance(ami.get("amis"), dict) else []:
            if isinstance(by_arch, dict):
                found.update(by_arch)
        for mapping in (ami.get("instance_types"),
                        (self.document.get("instance_defaults") or {}).get("estimated_cost_per_hour")
                        if isinstance(self.document.get("instance_defaults"), dict) else None):
            if isinstance(mapping, dict):
                found.update(mapping)
        if isinstance(ami.get("preferred_architecture"), str):
            found.add(ami["preferred_architecture"])
        ordered = [a for a in ARCHITECTURES if a in found]
        return ordered or list(ARCHITECTURES)
