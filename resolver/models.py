"""The resolver's tables: how many resolutions each tier answered per day (``resolver.usage``),
and the record of the answers it publishes to AWS Systems Manager (``resolver.ssm``). Everything
else it reads from templates and the catalogue, and caches in Redis."""
from django.db import models
from django.db.models import Q


class ResolutionDaily(models.Model):
    """Resolutions answered on ``day`` by ``method`` (a tier name, or ``failed``); counted in
    Redis on the hot path and folded in here by ``resolver.resolution_counts_flush``."""

    day = models.DateField()
    method = models.CharField(max_length=32)
    count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "resolver_resolutions_daily"
        ordering = ["day", "method"]
        constraints = [models.UniqueConstraint(fields=["day", "method"], name="resolution_daily_unique"),
                       models.CheckConstraint(condition=~Q(method=""), name="resolution_daily_method_set")]

    def __str__(self):
        return f"{self.day} {self.method}: {self.count}"


class PublishedParameter(models.Model):
    """One SSM parameter ``/cws-registry/<template>/<channel>/<arch>`` in one region, as last synced.

    Mirrors what the registry wrote to AWS (the sync compares AWS itself before writing, so this
    table is the record for the page and the endpoint, not the source of truth). A row whose
    parameter was deleted (its channel emptied, its version revoked with no replacement) stays
    as ``deleted`` with the time it was deleted.
    """

    class State(models.TextChoices):
        PUBLISHED = "published", "Published"
        DELETED = "deleted", "Deleted"

    region = models.CharField(max_length=32)
    name = models.CharField(max_length=2048, help_text="The parameter's name (its path).")
    # CASCADE: a deleted template's parameters are deleted by the next sync of nothing; the rows
    # would describe a template that no longer exists.
    template = models.ForeignKey("templates.Template", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=40)
    architecture = models.CharField(max_length=10)
    image_id = models.CharField(max_length=21, blank=True, default="", help_text="The parameter's value.")
    # SET_NULL: the record outlives a deleted entry (only drafts are deleted; they are never published).
    ami = models.ForeignKey("amis.AMI", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.CharField(max_length=50, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PUBLISHED)
    operation = models.ForeignKey("amis.Operation", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True, help_text="When AWS's value last changed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "resolver_published_parameters"
        ordering = ["template", "channel", "architecture", "region"]
        constraints = [
            models.UniqueConstraint(fields=["region", "name"], name="published_parameter_unique"),
            models.CheckConstraint(condition=Q(state__in=["published", "deleted"]),
                                   name="published_parameter_state_valid"),
        ]
        indexes = [models.Index(fields=["template", "state"], name="published_param_template_idx")]

    def __str__(self):
        return f"{self.region}:{self.name} = {self.image_id or '(deleted)'}"
