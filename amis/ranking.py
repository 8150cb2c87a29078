"""How community AMIs are ranked: the one Bayesian prior, and the blend of the default "best" order.

Browse (``amis.filters``) and the resolver's registry tier both rank by a Bayesian average rating,
``(C·m + Σstars) / (C + n)`` with prior mean ``m`` and prior weight ``C``, so that one 5-star review
does not outrank fifty reviews averaging 4.8. The prior lives here, once, read from the settings
on each call (tests and operators may change it) with one default.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Case, F, FloatField, Q, Value, When
from django.db.models.functions import Cast, Ln
from django.utils import timezone

from amis.models import AMI

# Slightly above the middle of the 1–5 scale: an unrated entry ranks as "fine", neither good nor bad.
DEFAULT_PRIOR_MEAN = 3.5
DEFAULT_PRIOR_WEIGHT = 5.0


def rating_prior() -> tuple[float, float]:
    """``(prior mean m, prior weight C)`` from ``REGISTRY_RANK_PRIOR_MEAN`` / ``REGISTRY_RANK_PRIOR_WEIGHT``."""
    return (float(getattr(settings, "REGISTRY_RANK_PRIOR_MEAN", DEFAULT_PRIOR_MEAN)),
            float(getattr(settings, "REGISTRY_RANK_PRIOR_WEIGHT", DEFAULT_PRIOR_WEIGHT)))


def bayesian_rating(*, count: str = "rating_count", total: str | None = "rating_sum", average: str | None = None):
    """The Bayesian average as a SQL expression over the AMI's denormalised rating columns.

    ``count`` is the number of ratings; the sum of stars is ``total`` or, when ``average`` is
    given instead, ``average × count``. Pass ``ami__rating_count`` etc. from a related model.
    """
    mean, weight = rating_prior()
    n = Cast(F(count), FloatField())
    stars = Cast(F(average), FloatField()) * n if average else Cast(F(total), FloatField())
    return (Value(weight * mean) + stars) / (Value(weight) + n)


def ranking_settings() -> dict[str, float]:
    """Weights of the default "best" order (settings ``REGISTRY_RANK_*``; defaults shown).

    score = Bayesian average rating (``bayesian_rating``)
          + download_weight · ln(1 + downloads)
          + fresh_bonus when created within ``fresh_days`` days
          − deprecated_penalty for deprecated entries.
    """
    mean, weight = rating_prior()
    return {
        "prior_mean": mean,
        "prior_weight": weight,
        "download_weight": float(getattr(settings, "REGISTRY_RANK_DOWNLOAD_WEIGHT", 0.15)),
        "fresh_bonus": float(getattr(settings, "REGISTRY_RANK_FRESH_BONUS", 0.3)),
        "fresh_days": float(getattr(settings, "REGISTRY_RANK_FRESH_DAYS", 30)),
        "deprecated_penalty": float(getattr(settings, "REGISTRY_RANK_DEPRECATED_PENALTY", 5)),
    }


def best_score_expression():
    """The default "best" order as one SQL expression (the weights above).

    A Bayesian average (so one 5-star review does not beat fifty 4.8s), plus a log of downloads,
    plus a bonus for fresh entries, minus a penalty that sinks deprecated entries. Browse orders
    by the stored ``AMI.best_score``, which ``best_score_refresh`` computes from this expression.
    """
    p = ranking_settings()
    bayes = bayesian_rating(count="rating_count", average="rating_avg")
    downloads = Ln(Cast("download_count", FloatField()) + Value(1.0))
    fresh_since = timezone.now() - timedelta(days=p["fresh_days"])
    fresh = Case(When(created_at__gte=fresh_since, then=Value(p["fresh_bonus"])), default=Value(0.0),
                 output_field=FloatField())
    deprecated = Case(When(status=AMI.Status.DEPRECATED, then=Value(-p["deprecated_penalty"])),
                      default=Value(0.0), output_field=FloatField())
    return Cast(bayes + Value(p["download_weight"]) * downloads + fresh + deprecated, FloatField())


def best_score_refresh(*, ami_ids=None) -> int:
    """Store ``best_score_expression()`` in ``AMI.best_score`` (one UPDATE; returns rows changed).

    With ``ami_ids``: those entries (the services call this after changing an input — ratings,
    downloads, status). Without: every entry whose stored score differs from today's value (the
    periodic task: freshness expires with time, and the weights are settings). Rows already
    current are not rewritten.
    """
    queryset = AMI.objects.all()
    if ami_ids is not None:
        queryset = queryset.filter(pk__in=list(ami_ids))
    return queryset.filter(~Q(best_score=best_score_expression())).update(best_score=best_score_expression())


def best_score_on_save(sender, instance, raw=False, **kwargs) -> None:
    """``post_save`` of an AMI: its status, counters or creation time may have changed (fixtures
    loaded raw are refreshed by the periodic task)."""
    if not raw:
        best_score_refresh(ami_ids=[instance.pk])
