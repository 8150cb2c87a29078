"""The ratings part of the AMI page: its reviews section (added through ``amis.signals.ami_page_context``)
and the rating form's action. Thin: the same selectors and ``rating_submit`` as the API."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from amis.models import AMI
from amis.selectors import ami_get_visible_or_404
from amis.views import ami_page_render
from ratings import selectors
from ratings.forms import RatingForm
from ratings.services import (RATEABLE_STATUSES, rating_delete, rating_helpful_mark, rating_helpful_unmark,
                              rating_report, rating_submit)
from registry.errors import ApplicationError
from registry.forms import form_add_service_errors
from registry.web_errors import raise_page_error

REVIEWS_PER_PAGE = 20


def ami_page_section(sender, request, ami: AMI, is_owner: bool, forms: dict, **kwargs) -> dict:
    """Receiver of ``ami_page_context``: the reviews (newest, or "most helpful": reviews by people
    who really launched the image first, then written reviews, newest first within each group),
    the caller's own rating and the rating form."""
    user = request.user
    order = "helpful" if request.GET.get("reviews") == "helpful" else "newest"
    # A bad or too-large page number shows the last page rather than an error.
    page = Paginator(selectors.ReviewsOfAMI(ami=ami, order=order), REVIEWS_PER_PAGE).get_page(
        request.GET.get("reviews_page"))
    reviews = list(page.object_list)
    mine = selectors.rating_get_for_user(ami=ami, user=user)
    return {
        "reviews": reviews,
        "reviews_page": page,
        "reviews_marked": selectors.rating_ids_marked_helpful_by(user=user, ratings=reviews),
        "reviews_order": order,
        "my_rating": mine,
        "can_rate": user.is_authenticated and not is_owner and ami.status in RATEABLE_STATUSES,
        "rating_form": forms.get("rating_form") or RatingForm(
            initial={"rating": mine.rating, "review": mine.review} if mine else None),
    }


@login_required
@require_POST
def ami_rate(request, ref: str):
    """Create or replace the caller's rating (``rating_submit``)."""
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    form = RatingForm(request.POST)
    if form.is_valid():
        try:
            _rating, created = rating_submit(ami=ami, user=request.user, rating=form.cleaned_data["rating"],
                                             review=form.cleaned_data["review"])
        except ApplicationError as exc:
            raise_page_error(exc)
            form_add_service_errors(form, exc)
            return ami_page_render(request, ami, exc=exc, rating_form=form)
        messages.success(request, "Thanks — your rating was saved." if created else "Your rating was updated.")
        return redirect(reverse("web:ami-detail", args=[ami.pk]) + "#reviews")
    return ami_page_render(request, ami, rating_form=form)


def _back_to_reviews(ami: AMI):
    return redirect(reverse("web:ami-detail", args=[ami.pk]) + "#reviews")


@login_required
@require_POST
def ami_rating_delete(request, ref: str):
    """Delete the caller's own rating (``rating_delete``)."""
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    try:
        rating_delete(ami=ami, user=request.user)
    except ApplicationError as exc:
        raise_page_error(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your rating was deleted.")
    return _back_to_reviews(ami)


def _review_or_404(request, ref: str, rating_id: int):
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    rating = selectors.rating_get(ami=ami, rating_id=rating_id)
    if rating is None or rating.is_hidden:
        raise Http404("review not found")
    return ami, rating


@login_required
@require_POST
def ami_review_helpful(request, ref: str, rating_id: int):
    """Mark (or, with ``undo``, unmark) a review helpful."""
    ami, rating = _review_or_404(request, ref, rating_id)
    try:
        if request.POST.get("undo"):
            rating_helpful_unmark(rating=rating, user=request.user)
        else:
            rating_helpful_mark(rating=rating, user=request.user)
    except ApplicationError as exc:
        raise_page_error(exc)
        messages.error(request, exc.message)
    return _back_to_reviews(ami)


@login_required
@require_POST
def ami_review_report(request, ref: str, rating_id: int):
    """Report a review to the moderators."""
    ami, rating = _review_or_404(request, ref, rating_id)
    try:
        rating_report(rating=rating, user=request.user, reason=request.POST.get("reason", ""))
    except ApplicationError as exc:
        raise_page_error(exc)
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thanks — a moderator will look at the review.")
    return _back_to_reviews(ami)
