from django.contrib import admin

from ratings.models import Rating
from ratings.services import rating_hide
from registry.admin_actions import reason_action
from registry.admin_site import ModeratorAdmin


@admin.register(Rating)
class RatingAdmin(ModeratorAdmin):
    list_display = ["ami", "user", "rating", "short_review", "is_hidden", "created_at"]
    list_filter = ["is_hidden", "rating"]
    search_fields = ["review", "user__username", "ami__name", "ami__ami_id"]
    list_select_related = ["ami", "user"]
    readonly_fields = ["ami", "user", "rating", "review", "is_hidden", "hidden_reason", "hidden_by", "hidden_at",
                       "created_at", "updated_at"]
    actions = [reason_action(name="hide", description="Hide selected reviews", submit_label="Hide",
                             service=lambda rating, user, reason: rating_hide(rating=rating, moderator=user,
                                                                              reason=reason))]

    @admin.display(description="review")
    def short_review(self, obj):
        return (obj.review[:80] + "…") if len(obj.review) > 80 else obj.review
