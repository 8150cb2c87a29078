"""How community AMIs are ranked: the one Bayesian prior, and the blend of the default "best" order.

Browse (``amis.filters``) and the resolver's registry tier both rank by a Bayesian average rating,
``(C·m + Σstars) / (C + n)`` with prior mean ``m`` and prior weight ``C``, so that one 5-star review
does not outrank fifty reviews averaging 4.8. The prior lives here, once, read from the settings
on each call (tests and operators may change it) with one default.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import F, FloatField, Value
from django.db.models.functions import Cast

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
