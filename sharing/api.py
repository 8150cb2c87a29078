"""Sharing REST API (API.md, *Sharing*), mounted at ``/api/v1/amis/<ami>/shares/``.

Order of checks on every view: the AMI must be visible to the caller (else 404, so private
entries do not leak), then the caller must be signed in (401) and be its owner or a moderator (403).
"""
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.models import AMI
from amis.selectors import ami_get_visible_or_404, ami_require_manage
from amis.serializers import AMI_PARAM
from registry.errors import NotFound
from registry.schema_errors import error_response
from sharing.models import Share
from sharing.selectors import share_get, share_list_for_ami
from sharing.serializers import ShareOutputSerializer
from sharing.services import share_create, share_delete

ERRORS = {
    401: error_response(401, "Not signed in."),
    403: error_response(403, "Not the owner or a moderator."),
    404: error_response(404, "Unknown AMI (or grant), or an AMI the caller may not see."),
}


def _managed_ami_or_error(request, ref: str) -> AMI:
    ami = ami_get_visible_or_404(user=request.user, ref=ref)
    if not request.user.is_authenticated:
        raise exceptions.NotAuthenticated()
    ami_require_manage(user=request.user, ami=ami,
                       message="only the owner or a moderator may see or change the grants of this AMI")
    return ami


class ShareListCreateApi(APIView):
    """GET: the grants of an AMI. POST: add one."""

    class InputSerializer(serializers.Serializer):
        grantee_type = serializers.ChoiceField(choices=Share.GranteeType.choices)
        grantee = serializers.CharField(max_length=255)
        permission = serializers.ChoiceField(choices=Share.Permission.choices, required=False,
                                             default=Share.Permission.LAUNCH)

    @extend_schema(parameters=[AMI_PARAM], responses={200: ShareOutputSerializer(many=True), **ERRORS},
                   tags=["sharing"], summary="List the grants of an AMI (owner or moderator)")
    def get(self, request, ami: str):
        ami_obj = _managed_ami_or_error(request, ami)
        return Response(ShareOutputSerializer(share_list_for_ami(ami=ami_obj), many=True).data)

    @extend_schema(
        examples=[
            OpenApiExample("Share with an AWS account", request_only=True, value={"grantee_type": "account", "grantee": "123456789012", "permission": "launch"}),
            OpenApiExample("Share with a lab community", request_only=True, value={"grantee_type": "community", "grantee": "genomics-lab"}),
        ],
        parameters=[AMI_PARAM], request=InputSerializer,
                   responses={201: ShareOutputSerializer,
                              400: OpenApiResponse(description="Bad or unknown grantee (the envelope names "
                                                               "the field)."),
                              **ERRORS,
                              409: OpenApiResponse(description="Duplicate grant, or the AMI is revoked.")},
                   tags=["sharing"], summary="Share an AMI with an account, organization, OU, user or community")
    def post(self, request, ami: str):
        ami_obj = _managed_ami_or_error(request, ami)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        share = share_create(ami=ami_obj, user=request.user, **data.validated_data)
        return Response(ShareOutputSerializer(share).data, status=status.HTTP_201_CREATED)


class ShareDeleteApi(APIView):
    """DELETE: withdraw a grant (access ends at once; AWS permissions are removed by a task)."""

    @extend_schema(parameters=[AMI_PARAM], request=None, responses={204: None, **ERRORS}, tags=["sharing"],
                   summary="Withdraw a grant (owner or moderator)")
    def delete(self, request, ami: str, share_id: int):
        ami_obj = _managed_ami_or_error(request, ami)
        share = share_get(ami=ami_obj, share_id=share_id)
        if share is None:
            raise NotFound("grant not found")
        share_delete(share=share, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
