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
        return f"{self.rating}★ on {self.ami_id} by {self.user_id or 'deleted user'}"
