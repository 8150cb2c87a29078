"""Ratings REST API (API.md, *Ratings*), mounted at ``/api/v1/amis/<ami>/ratings/``.

Every view first resolves ``<ami>`` with the visibility selector: an AMI the caller cannot see
answers 404, never 403, so private entries do not leak."""
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.selectors import ami_get_visible_or_404
from amis.serializers import AMI_PARAM
from ratings.models import REVIEW_MAX_LENGTH
from ratings.selectors import rating_get, rating_list_for_ami
from ratings.serializers import (HelpfulOutputSerializer, RatingModerationOutputSerializer, RatingOutputSerializer,
                                 RatingReportOutputSerializer)
from ratings.services import (REPORT_REASON_MAX, rating_delete, rating_helpful_mark, rating_helpful_unmark,
                              rating_hide, rating_report, rating_submit)
from registry.errors import NotFound
from registry.permissions import moderator_required

ERRORS = {
    400: OpenApiResponse(description="Invalid input (the envelope names the field)."),
    401: OpenApiResponse(description="Not signed in."),
    403: OpenApiResponse(description="Not allowed."),
    404: OpenApiResponse(description="Unknown AMI, or one the caller may not see."),
}


class RatingListCreateApi(ListAPIView):
    """GET: the visible reviews of an AMI, newest first. POST: rate it (replaces one's own)."""

    serializer_class = RatingOutputSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["created_at", "updated_at", "rating", "helpful_count"]
    ordering = ["-created_at", "-id"]

    class InputSerializer(serializers.Serializer):
        # DRF's IntegerField refuses 4.5, true and "four"; "4" from a form post is accepted.
        rating = serializers.IntegerField(min_value=1, max_value=5)
        review = serializers.CharField(required=False, allow_blank=True, default="",
                                       max_length=REVIEW_MAX_LENGTH)

    def get_queryset(self):
        return rating_list_for_ami(ami=self.ami)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles first
        self.ami = ami_get_visible_or_404(user=request.user, ref=kwargs["ami"])

    @extend_schema(parameters=[AMI_PARAM], responses={200: RatingOutputSerializer(many=True), 404: ERRORS[404]},
                   tags=["ratings"], summary="List the reviews of an AMI",
                   description="Newest first (`?ordering=-helpful_count` for the most helpful); hidden reviews "
                               "omitted; paginated (`page`, `page_size`). `verified_launch`: the reviewer recorded a "
                               "download/launch of this AMI; `helpful_count`: how many people marked it helpful.")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(parameters=[AMI_PARAM], request=InputSerializer,
                   responses={201: RatingOutputSerializer, 200: RatingOutputSerializer, **ERRORS,
                              409: OpenApiResponse(description="The AMI is not approved or deprecated.")},
                   tags=["ratings"], summary="Rate an AMI (a second POST replaces one's own rating)",
                   description="201 for a new rating, 200 when it replaces the caller's own. Owners cannot rate "
                               "their own AMI (403); only approved or deprecated entries can be rated (409).")
    def post(self, request, *args, **kwargs):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj, created = rating_submit(ami=self.ami, user=request.user, **data.validated_data)
        obj = rating_get(ami=self.ami, rating_id=obj.pk)  # re-read with verified_launch annotated
        return Response(RatingOutputSerializer(obj).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RatingMineDeleteApi(APIView):
    """DELETE: remove the caller's own rating of an AMI."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[AMI_PARAM], request=None,
                   responses={204: None, 401: ERRORS[401], 404: ERRORS[404]},
                   tags=["ratings"], summary="Delete one's own rating",
                   description="Removes the caller's rating and review of the AMI; the average and count are "
                               "recomputed at once. 404 when the caller has not rated it.")
    def delete(self, request, ami: str):
        rating_delete(ami=ami_get_visible_or_404(user=request.user, ref=ami), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RatingHideApi(APIView):
    """POST: a moderator hides a review (omitted from lists and from the average)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=2000)

    @extend_schema(parameters=[AMI_PARAM], request=InputSerializer,
                   responses={200: RatingModerationOutputSerializer, **ERRORS}, tags=["ratings"],
                   summary="Hide a review (moderators)")
    def post(self, request, ami: str, rating_id: int):
        ami_obj = ami_get_visible_or_404(user=request.user, ref=ami)
        # Checked before looking the rating up: non-moderators learn nothing about rating ids.
        moderator_required(request.user, message="only moderators may hide reviews")
        obj = rating_get(ami=ami_obj, rating_id=rating_id)
        if obj is None:
            raise NotFound("rating not found")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating_hide(rating=obj, moderator=request.user, reason=data.validated_data["reason"])
        obj = rating_get(ami=ami_obj, rating_id=obj.pk)
        return Response(RatingModerationOutputSerializer(obj).data)


def _visible_rating(request, ami: str, rating_id: int):
    """The AMI (visible to the caller, else 404) and one of its visible reviews (else 404)."""
    ami_obj = ami_get_visible_or_404(user=request.user, ref=ami)
    obj = rating_get(ami=ami_obj, rating_id=rating_id)
    if obj is None or obj.is_hidden:
        raise NotFound("rating not found")
    return ami_obj, obj


class RatingHelpfulApi(APIView):
    """POST: mark a review helpful (once per user); DELETE: withdraw the mark."""

    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=[AMI_PARAM], request=None, responses={200: HelpfulOutputSerializer, **ERRORS},
                   tags=["ratings"], summary="Mark a review helpful",
                   description="Counts once per user (a second mark changes nothing: `counted: false`); not for "
                               "one's own review (403). The *most helpful* ordering counts these marks.")
    def post(self, request, ami: str, rating_id: int):
        _ami, obj = _visible_rating(request, ami, rating_id)
        obj, counted = rating_helpful_mark(rating=obj, user=request.user)
        return Response({"id": obj.pk, "helpful_count": obj.helpful_count, "counted": counted})

    @extend_schema(parameters=[AMI_PARAM], request=None, responses={200: HelpfulOutputSerializer, **ERRORS},
                   tags=["ratings"], summary="Withdraw one's helpful mark",
                   description="Idempotent: withdrawing a mark one never made changes nothing.")
    def delete(self, request, ami: str, rating_id: int):
        _ami, obj = _visible_rating(request, ami, rating_id)
        obj = rating_helpful_unmark(rating=obj, user=request.user)
        return Response({"id": obj.pk, "helpful_count": obj.helpful_count, "counted": False})


class RatingReportApi(APIView):
    """POST: report a review to the moderators."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=REPORT_REASON_MAX)

    @extend_schema(parameters=[AMI_PARAM], request=InputSerializer,
                   responses={201: RatingReportOutputSerializer, 200: RatingReportOutputSerializer, **ERRORS},
                   tags=["ratings"], summary="Report a review to the moderators",
                   description="Puts the review in the moderators' queue (admin: *Reported reviews*). 201 for a new "
                               "report, 200 when the caller's report of it is still open. Not one's own review.")
    def post(self, request, ami: str, rating_id: int):
        _ami, obj = _visible_rating(request, ami, rating_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report, created = rating_report(rating=obj, user=request.user, reason=data.validated_data["reason"])
        return Response(RatingReportOutputSerializer(report).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
