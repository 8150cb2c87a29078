"""CloudWorkstation workstation templates (YAML documents), stored parsed and as source."""
from django.db import models


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

    @property
    def ami_config(self) -> dict:
        return self.document.get("ami_config") or {}
