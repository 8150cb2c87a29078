"""Stars and reviews (table ``ami_ratings``); aggregates live on the AMI row."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

REVIEW_MAX_LENGTH = 5000


class Rating(models.Model):
    ami = models.ForeignKey("amis.AMI", on_delete=models.CASCADE, related_name="ratings")
    # SET_NULL: an erased account's review may stay, anonymised as "deleted user".
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="ami_ratings")
    rating = models.PositiveSmallIntegerField()
    review = models.TextField(blank=True, default="", max_length=REVIEW_MAX_LENGTH)
    is_hidden = models.BooleanField(default=False)
    hidden_reason = models.TextField(blank=True, default="")
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    hidden_at = models.DateTimeField(null=True, blank=True)
    # Denormalised count of RatingHelpfulVote rows (changed with F() by ratings.services only).
    helpful_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ami_ratings"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "ami"], name="rating_one_per_user_ami"),
            models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=5), name="rating_stars_1_to_5"),
            # TextField(max_length=) is only a form hint: the database enforces the 5,000 limit.
            models.CheckConstraint(condition=LessThanOrEqual(Length("review"), REVIEW_MAX_LENGTH),
                                   name="rating_review_max_length"),
        ]
        indexes = [models.Index(fields=["ami", "is_hidden", "-created_at"], name="rating_ami_visible_idx")]

    def __str__(self):
        who = self.user.get_username() if self.user_id else "deleted user"
        return f"{self.rating}★ on {self.ami.name} by {who}"


class RatingHelpfulVote(models.Model):
    """One user found one review helpful (once: the unique constraint is the truth)."""

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="helpful_votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_rating_helpful"
        constraints = [models.UniqueConstraint(fields=["rating", "user"], name="rating_helpful_once_per_user")]


class RatingReport(models.Model):
    """A user's report of a review (spam, abuse, off-topic): moderators work through the open ones."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        HIDDEN = "hidden", "Review hidden"
        DISMISSED = "dismissed", "Dismissed"

    rating = models.ForeignKey(Rating, on_delete=models.CASCADE, related_name="reports")
    # SET_NULL: erasing the reporter keeps the report for the moderators.
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ami_rating_reports"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["open", "hidden", "dismissed"]),
                                   name="rating_report_status_valid"),
            models.CheckConstraint(condition=~Q(reason=""), name="rating_report_reason_required"),
            # One open report per reporter and review: reporting twice changes nothing.
            models.UniqueConstraint(fields=["rating", "reporter"], condition=Q(status="open"),
                                    name="rating_report_open_once"),
        ]
        indexes = [models.Index(fields=["status", "-created_at"], name="rating_report_status_idx")]

    def __str__(self):
        return f"report of {self.rating} ({self.get_status_display()})"
