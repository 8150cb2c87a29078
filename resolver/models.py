"""The resolver's one table: how many resolutions each tier answered per day (``resolver.usage``).
Everything else it reads from templates and the catalogue, and caches in Redis."""
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
