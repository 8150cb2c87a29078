"""How community AMIs are ranked: the one Bayesian prior, and the blend of the default "best" order.

The "best" score is a sum of small named components (``COMPONENTS``, in the spirit of Django
Packages' score rules): rating, downloads, a fresh listing, and the penalties that sink what has
gone stale — a deprecated entry, a base OS past its end of support (or an image built long ago),
no security scan for a long time, nobody launching it for a long time, a newer version of the same
image. Each component is one class with both forms of the same rule: ``sql()`` for
``best_score_expression`` (browse orders by it, or by the stored column computed from it) and
``evaluate()`` for the page's "why this rank" (``rank_explain``); a test holds the two equal.

Browse (``amis.filters``) and the resolver's registry tier both rank by a Bayesian average rating,
``(C·m + Σstars) / (C + n)`` with prior mean ``m`` and prior weight ``C``, so that one 5-star review
does not outrank fifty reviews averaging 4.8. The prior lives here, once, read from the settings
on each call (tests and operators may change it) with one default.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from math import log

from django.conf import settings
from django.db.models import Case, Exists, F, FloatField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Ln
from django.utils import timezone

from amis.models import AMI, Download, DownloadDaily, ScanResult
from registry.prepared import NIL_UUID, PreparedQuery
from templates.models import Template

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
        "stale_base_os_penalty": float(getattr(settings, "REGISTRY_RANK_STALE_BASE_OS_PENALTY", 0.5)),
        "stale_image_days": float(getattr(settings, "REGISTRY_RANK_STALE_IMAGE_DAYS", 365)),
        "stale_scan_penalty": float(getattr(settings, "REGISTRY_RANK_STALE_SCAN_PENALTY", 0.3)),
        "stale_scan_days": float(getattr(settings, "REGISTRY_RANK_STALE_SCAN_DAYS", 90)),
        "idle_penalty": float(getattr(settings, "REGISTRY_RANK_IDLE_PENALTY", 0.3)),
        "idle_days": float(getattr(settings, "REGISTRY_RANK_IDLE_DAYS", 180)),
        "superseded_penalty": float(getattr(settings, "REGISTRY_RANK_SUPERSEDED_PENALTY", 1.0)),
    }


# When each base OS leaves its vendor's standard support (public vendor dates; a template's
# ``base`` is one of templates.validation.KNOWN_BASES). Settings ``REGISTRY_BASE_END_OF_SUPPORT``
# ({base: "YYYY-MM-DD"}) add or correct dates without a release.
BASE_END_OF_SUPPORT = {
    "ubuntu-20.04": "2025-05-31", "ubuntu-22.04": "2027-06-01", "ubuntu-24.04": "2029-05-31",
    "amazonlinux-2": "2026-06-30", "amazonlinux-2023": "2029-06-30",
    "debian-11": "2024-08-14", "debian-12": "2026-06-10",
    "rocky-8": "2029-05-31", "rocky-9": "2032-05-31", "almalinux-8": "2029-03-01", "almalinux-9": "2032-05-31",
    "rhel-8": "2029-05-31", "rhel-9": "2032-05-31",
}


def bases_past_end_of_support(today: date | None = None) -> dict[str, str]:
    """``{base: end date}`` of the base OSes whose standard support has ended by ``today``."""
    today = today or timezone.now().date()
    table = {**BASE_END_OF_SUPPORT, **(getattr(settings, "REGISTRY_BASE_END_OF_SUPPORT", None) or {})}
    return {base: end for base, end in table.items() if date.fromisoformat(end) <= today}


# --- the components of "best" ----------------------------------------------------------------------

@dataclass
class RankFacts:
    """What the components read about one AMI beyond its own row (``rank_facts`` gathers them)."""

    now: datetime
    template_base: str = ""
    last_scan_at: datetime | None = None
    last_launch_at: datetime | None = None
    newer: AMI | None = None
    newer_visible: bool = False  # may the reason name it? (the viewer's visibility: the caller's to say)


def _days(delta) -> int:
    return max(0, int(delta.total_seconds() // 86400))


def _image_built_at(ami: AMI) -> datetime:
    """When the image was made: AWS's CreationDate (ISO text), else when it was listed."""
    try:
        return datetime.fromisoformat(ami.image_creation_date.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return ami.created_at


class Component:
    """One named rule of the "best" score: ``sql(p)`` and ``evaluate(ami, facts, p)`` give the same
    points (``p``: ``ranking_settings()``); ``evaluate`` also says why (None when it does not apply)."""

    name = ""
    label = ""
    stale = False  # a penalty for being out of date: shown as the "stale" badge with its reason

    def sql(self, p: dict):
        raise NotImplementedError

    def evaluate(self, ami: AMI, facts: RankFacts, p: dict) -> tuple[float, str | None]:
        raise NotImplementedError


def _when(condition: Q, points: float):
    return Case(When(condition, then=Value(points)), default=Value(0.0), output_field=FloatField())


class RatingComponent(Component):
    name, label = "rating", "Rating (Bayesian average)"

    def sql(self, p):
        return bayesian_rating(count="rating_count", average="rating_avg")

    def evaluate(self, ami, facts, p):
        n = float(ami.rating_count)
        points = (p["prior_weight"] * p["prior_mean"] + float(ami.rating_avg) * n) / (p["prior_weight"] + n)
        if not ami.rating_count:
            return points, f"no ratings yet: the prior of {p['prior_mean']:g} stands in"
        return points, (f"{float(ami.rating_avg):.2f} from {ami.rating_count} rating(s), pulled towards "
                        f"{p['prior_mean']:g} by a prior of weight {p['prior_weight']:g}")


class DownloadsComponent(Component):
    name, label = "downloads", "Downloads"

    def sql(self, p):
        return Value(p["download_weight"]) * Ln(Cast("download_count", FloatField()) + Value(1.0))

    def evaluate(self, ami, facts, p):
        return p["download_weight"] * log(ami.download_count + 1), f"{ami.download_count} download(s), logarithmic"


class FreshListingComponent(Component):
    name, label = "fresh_listing", "Newly listed"

    def sql(self, p):
        return _when(Q(created_at__gte=timezone.now() - timedelta(days=p["fresh_days"])), p["fresh_bonus"])

    def evaluate(self, ami, facts, p):
        if ami.created_at >= facts.now - timedelta(days=p["fresh_days"]):
            return p["fresh_bonus"], f"listed within the last {p['fresh_days']:g} days"
        return 0.0, None


class DeprecatedComponent(Component):
    name, label = "deprecated", "Deprecated"

    def sql(self, p):
        return _when(Q(status=AMI.Status.DEPRECATED), -p["deprecated_penalty"])

    def evaluate(self, ami, facts, p):
        if ami.status == AMI.Status.DEPRECATED:
            return -p["deprecated_penalty"], "deprecated by its owner or a moderator"
        return 0.0, None


class StaleBaseOsComponent(Component):
    """The template's base OS is past its end of support, or the image was built over
    ``stale_image_days`` ago (its OS packages are as old as the image)."""

    name, label, stale = "stale_base_os", "Stale base OS", True

    def sql(self, p):
        cutoff = timezone.now() - timedelta(days=p["stale_image_days"])
        eol = list(bases_past_end_of_support())
        old_base = Exists(Template.objects.filter(pk=OuterRef("template_id"), base__in=eol)) if eol else Q(pk=None)
        # CreationDate is ISO-8601 text: it compares as a string.
        old_image = (Q(image_creation_date__gt="", image_creation_date__lt=cutoff.strftime("%Y-%m-%dT%H:%M:%S"))
                     | Q(image_creation_date="", created_at__lt=cutoff))
        return Case(When(old_base, then=Value(-p["stale_base_os_penalty"])),
                    When(old_image, then=Value(-p["stale_base_os_penalty"])),
                    default=Value(0.0), output_field=FloatField())

    def evaluate(self, ami, facts, p):
        eol = bases_past_end_of_support(facts.now.date())
        if facts.template_base in eol:
            return -p["stale_base_os_penalty"], f"base OS {facts.template_base} left standard support on " \
                                                f"{eol[facts.template_base]}"
        built = _image_built_at(ami)
        if built < facts.now - timedelta(days=p["stale_image_days"]):
            return -p["stale_base_os_penalty"], f"image built {_days(facts.now - built)} days ago " \
                                                f"(over {p['stale_image_days']:g}): its OS packages are that old"
        return 0.0, None


class StaleScanComponent(Component):
    name, label, stale = "stale_scan", "Stale security scan", True

    def sql(self, p):
        cutoff = timezone.now() - timedelta(days=p["stale_scan_days"])
        recent = Exists(ScanResult.objects.filter(ami=OuterRef("pk"), scanned_at__gte=cutoff))
        return Case(When(recent, then=Value(0.0)), default=Value(-p["stale_scan_penalty"]), output_field=FloatField())

    def evaluate(self, ami, facts, p):
        if facts.last_scan_at is None:
            return -p["stale_scan_penalty"], "never scanned"
        if facts.last_scan_at < facts.now - timedelta(days=p["stale_scan_days"]):
            return -p["stale_scan_penalty"], f"last scanned {_days(facts.now - facts.last_scan_at)} days ago " \
                                             f"(over {p['stale_scan_days']:g})"
        return 0.0, None


class IdleComponent(Component):
    """Nobody launched it for ``idle_days`` (listed for at least as long: a new entry is not idle)."""

    name, label, stale = "idle", "No recent launches", True

    def sql(self, p):
        now = timezone.now()
        cutoff = now - timedelta(days=p["idle_days"])
        recent = (Exists(Download.objects.filter(ami=OuterRef("pk"), at__gte=cutoff))
                  | Exists(DownloadDaily.objects.filter(ami=OuterRef("pk"), day__gte=cutoff.date())))
        return Case(When(recent, then=Value(0.0)), When(created_at__gte=cutoff, then=Value(0.0)),
                    default=Value(-p["idle_penalty"]), output_field=FloatField())

    def evaluate(self, ami, facts, p):
        cutoff = facts.now - timedelta(days=p["idle_days"])
        if ami.created_at >= cutoff or (facts.last_launch_at is not None and facts.last_launch_at >= cutoff):
            return 0.0, None
        when = f"last launched {_days(facts.now - facts.last_launch_at)} days ago" if facts.last_launch_at \
            else "never launched"
        return -p["idle_penalty"], f"{when} (nothing in {p['idle_days']:g} days)"


def newer_versions():
    """Approved entries the same publisher listed later with the same name and template as the
    outer row: its newer versions, until lineages exist (a subquery over ``OuterRef``; a NULL
    creator matches nothing). The versions feature replaces this — and the replacement check —
    with "a newer version of the same lineage"."""
    return AMI.objects.filter(status=AMI.Status.APPROVED, creator_id=OuterRef("creator_id"), name=OuterRef("name"),
                              template_id=OuterRef("template_id"), created_at__gt=OuterRef("created_at"))


class SupersededComponent(Component):
    name, label, stale = "superseded", "Newer version available", True

    def sql(self, p):
        # The replacement's status is read through a subquery: an UPDATE may not join.
        approved_replacement = Exists(AMI.objects.filter(pk=OuterRef("replacement_id"), status=AMI.Status.APPROVED))
        return Case(When(approved_replacement | Exists(newer_versions()), then=Value(-p["superseded_penalty"])),
                    default=Value(0.0), output_field=FloatField())

    def evaluate(self, ami, facts, p):
        if facts.newer is None:
            return 0.0, None
        if not facts.newer_visible:
            return -p["superseded_penalty"], "a newer version is listed"  # one the viewer may not see: unnamed
        version = f" {facts.newer.version}" if facts.newer.version else ""
        return -p["superseded_penalty"], f"superseded by {facts.newer.name}{version} ({facts.newer.ami_id})"


COMPONENTS: tuple[Component, ...] = (RatingComponent(), DownloadsComponent(), FreshListingComponent(),
                                     DeprecatedComponent(), StaleBaseOsComponent(), StaleScanComponent(),
                                     IdleComponent(), SupersededComponent())


def best_score_expression():
    """The default "best" order as one SQL expression: the sum of every component's ``sql()``.

    A Bayesian average (so one 5-star review does not beat fifty 4.8s), plus a log of downloads,
    plus a bonus for fresh entries, minus the penalties for a deprecated entry and for each way it
    has gone stale. Subqueries only (no joins), so the expression also works in an UPDATE.
    """
    p = ranking_settings()
    total = None
    for component in COMPONENTS:
        total = component.sql(p) if total is None else total + component.sql(p)
    return Cast(total, FloatField())


def _rank_facts_query(pk) -> QuerySet:
    newer = newer_versions().order_by("-created_at").values("pk")[:1]
    return AMI.objects.filter(pk=pk).annotate(
        _last_scan=Subquery(ScanResult.objects.filter(ami=OuterRef("pk")).order_by("-scanned_at")
                            .values("scanned_at")[:1]),
        _last_launch=Subquery(Download.objects.filter(ami=OuterRef("pk")).order_by("-at").values("at")[:1]),
        _last_day=Subquery(DownloadDaily.objects.filter(ami=OuterRef("pk")).order_by("-day").values("day")[:1]),
        _newer=Subquery(newer),
    ).values_list("_last_scan", "_last_launch", "_last_day", "_newer")


# The AMI page asks for it on every view: compiled once (four subqueries cost Django ~2 ms to
# build, PostgreSQL under 1 ms to run).
_RANK_FACTS = PreparedQuery(_rank_facts_query, pk=NIL_UUID)


def rank_facts(ami: AMI, *, now: datetime | None = None) -> RankFacts:
    """What the components read about one AMI beyond its row, in one query (subqueries)."""
    found = _RANK_FACTS.rows(pk=ami.pk)
    row = dict(zip(("_last_scan", "_last_launch", "_last_day", "_newer"), found[0])) if found else {}
    last_launch = row.get("_last_launch")
    if row.get("_last_day") is not None:
        day_start = datetime.combine(row["_last_day"], datetime.min.time(), tzinfo=dt_timezone.utc)
        last_launch = max(last_launch, day_start) if last_launch else day_start
    newer_ami = None
    if ami.replacement_id and ami.replacement.status == AMI.Status.APPROVED:
        newer_ami = ami.replacement
    elif row.get("_newer"):
        newer_ami = AMI.objects.filter(pk=row["_newer"]).first()
    return RankFacts(now=now or timezone.now(), template_base=ami.template.base if ami.template_id else "",
                     last_scan_at=row.get("_last_scan"), last_launch_at=last_launch, newer=newer_ami)


def rank_explain(ami: AMI, *, facts: RankFacts | None = None, can_see=None) -> dict:
    """"Why this rank": ``{score, components: [{name, label, points, reason}], stale: [reasons]}``.

    ``can_see(ami) -> bool`` says whether the viewer may see the newer version that supersedes
    this one; without it the reason does not name it (a private entry must not leak)."""
    p = ranking_settings()
    if facts is None:
        facts = rank_facts(ami)
        facts.newer_visible = bool(facts.newer is not None and can_see is not None and can_see(facts.newer))
    rows, stale = [], []
    for component in COMPONENTS:
        points, reason = component.evaluate(ami, facts, p)
        rows.append({"name": component.name, "label": component.label, "points": round(points, 4),
                     "reason": reason or ""})
        if component.stale and reason:
            stale.append({"name": component.name, "label": component.label, "reason": reason})
    return {"score": round(sum(r["points"] for r in rows), 4), "components": rows, "stale": stale}


# --- the stored score --------------------------------------------------------------------------------

def best_score_refresh(*, ami_ids=None) -> int:
    """Store ``best_score_expression()`` in ``AMI.best_score`` (one UPDATE; returns rows changed).

    Browse orders by the stored, indexed column (size-independent); this is its one writer. With
    ``ami_ids``: those entries (called after an entry is saved, rated or downloaded). Without:
    every entry whose stored score differs from today's value — the hourly beat task
    ``amis.best_scores_refresh``: freshness and staleness change with time, and some components
    read other rows (scans, launches, newer versions), which that task catches up with. Rows
    already current are not rewritten.
    """
    queryset = AMI.objects.all()
    if ami_ids is not None:
        queryset = queryset.filter(pk__in=list(ami_ids))
    return queryset.filter(~Q(best_score=best_score_expression())).update(best_score=best_score_expression())


def best_score_on_save(sender, instance, raw=False, **kwargs) -> None:
    """``post_save`` of an AMI (its status, counters or creation time may have changed — and an
    approved later version supersedes its earlier ones), of a scan or of a recorded download
    (both read by components). Fixtures loaded raw are left to the periodic task."""
    if raw:
        return
    if isinstance(instance, AMI):
        siblings = AMI.objects.filter(creator_id=instance.creator_id, name=instance.name,
                                      template_id=instance.template_id).values_list("pk", flat=True)
        best_score_refresh(ami_ids=[instance.pk, *(siblings if instance.creator_id else [])])
    else:
        best_score_refresh(ami_ids=[instance.ami_id])
