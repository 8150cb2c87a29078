from django.contrib import admin, messages

from ratings.models import Rating, RatingReport
from ratings.services import rating_hide, rating_reports_resolve
from registry.admin_actions import done_message, reason_action
from registry.admin_site import ModeratorAdmin


@admin.register(Rating)
class RatingAdmin(ModeratorAdmin):
    list_display = ["ami_name", "reviewer", "rating", "short_review", "helpful_count", "is_hidden", "created_at"]
    list_filter = ["is_hidden", "rating"]
    search_fields = ["review", "user__username", "ami__name", "ami__ami_id"]
    list_select_related = ["ami", "user"]
    readonly_fields = ["ami", "user", "rating", "review", "helpful_count", "is_hidden", "hidden_reason", "hidden_by",
                       "hidden_at", "created_at", "updated_at"]
    actions = [reason_action(name="hide", description="Hide selected reviews", submit_label="Hide", verb="Hid",
                             noun="review", service=lambda rating, user, reason: rating_hide(
                                 rating=rating, moderator=user, reason=reason))]

    @admin.display(description="AMI", ordering="ami__name")
    def ami_name(self, obj):
        return obj.ami.name

    @admin.display(description="reviewer", ordering="user__username")
    def reviewer(self, obj):
        return obj.user.get_username() if obj.user_id else "deleted user"

    @admin.display(description="review")
    def short_review(self, obj):
        return (obj.review[:80] + "…") if len(obj.review) > 80 else obj.review


@admin.register(RatingReport)
class RatingReportAdmin(ModeratorAdmin):
    """The moderators' queue of reported reviews: hide the review (closing every open report of
    it) or dismiss the reports — the same services as everywhere (``ratings.services``)."""

    list_display = ["created_at", "ami_name", "reviewer", "review_text", "reason", "reporter_name", "status"]
    list_filter = ["status"]
    search_fields = ["reason", "rating__review", "rating__ami__name", "reporter__username"]
    list_select_related = ["rating__ami", "rating__user", "reporter"]
    readonly_fields = ["rating", "reporter", "reason", "status", "resolved_by", "resolved_at", "created_at"]
    ordering = ["status", "created_at"]
    actions = [reason_action(name="hide_reported", description="Hide the reported reviews", submit_label="Hide",
                             verb="Hid the review of", noun="report", service=lambda report, user, reason: rating_reports_resolve(
                                 rating=report.rating, moderator=user, hide=True, reason=reason)),
               "dismiss"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("rating__ami", "rating__user", "reporter")

    @admin.display(description="AMI", ordering="rating__ami__name")
    def ami_name(self, obj):
        return obj.rating.ami.name

    @admin.display(description="reviewer")
    def reviewer(self, obj):
        return obj.rating.user.get_username() if obj.rating.user_id else "deleted user"

    @admin.display(description="review")
    def review_text(self, obj):
        text = obj.rating.review or f"({obj.rating.rating}★, no text)"
        return (text[:80] + "…") if len(text) > 80 else text

    @admin.display(description="reported by")
    def reporter_name(self, obj):
        return obj.reporter.get_username() if obj.reporter_id else "deleted user"

    @admin.action(description="Dismiss the reports (keep the reviews)", permissions=["moderate"])
    def dismiss(self, request, queryset):
        closed = sum(rating_reports_resolve(rating=report.rating, moderator=request.user, hide=False)
                     for report in queryset.filter(status=RatingReport.Status.OPEN))
        self.message_user(request, done_message("Dismissed", closed, "report"), messages.SUCCESS)
