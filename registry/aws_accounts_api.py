"""REST interface of the account model (``registry.aws_accounts``): the caller's claim tag and the
AWS accounts they link. Thin: parse → one service → render."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.aws_accounts import (aws_account_link, aws_account_unlink, aws_account_verify, aws_accounts_of,
                                   claim_for)
from registry.schema_errors import errors


class ClaimOutputSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Always cws-registry-claim.")
    value = serializers.CharField(help_text="The caller's token: stable, unguessable.")


class AwsAccountOutputSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    role_arn = serializers.CharField()
    external_id = serializers.CharField(help_text="The role's trust policy must require it (sts:ExternalId).")
    verified = serializers.BooleanField()
    verified_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text="Why the last verification failed; empty when verified.")
    created_at = serializers.DateTimeField()


class MeClaimApi(APIView):
    """GET the caller's claim tag: an image or instance tagged with it is the caller's."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: ClaimOutputSerializer, **errors(401)}, tags=["auth"],
                   summary="Your claim tag (proves control of an image or instance)",
                   description="Signed in. Tag an image or instance with this key and value (stable per user) to "
                               "register it when it is not in one of your verified AWS accounts.")
    def get(self, request):
        return Response(claim_for(user=request.user))


class MeAwsAccountListApi(APIView):
    """GET the caller's linked AWS accounts; POST links one (and verifies it through the role)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        role_arn = serializers.CharField(max_length=2048)
        external_id = serializers.CharField(max_length=1224, required=False, allow_blank=True, default="")

    @extend_schema(responses={200: AwsAccountOutputSerializer(many=True), **errors(401)}, tags=["auth"],
                   summary="Your linked AWS accounts",
                   description="Signed in. Each link: the role the registry assumes, its external id and whether "
                               "AssumeRole + GetCallerIdentity verified it (docs/aws-accounts.md).")
    def get(self, request):
        return Response(AwsAccountOutputSerializer(aws_accounts_of(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer,
                   responses={201: AwsAccountOutputSerializer, 200: AwsAccountOutputSerializer,
                              **errors(400, 401, 403, 503)}, tags=["auth"],
                   summary="Link an AWS account through an IAM role",
                   description="Signed in. The registry assumes `role_arn` with the external id (generated when not "
                               "given) and reads the account id back; 201 for a new link, 200 for a re-link, 403 when "
                               "another publisher verified that account. An unverifiable link is kept unverified.")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link, created = aws_account_link(user=request.user, **data.validated_data)
        return Response(AwsAccountOutputSerializer(link).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MeAwsAccountDetailApi(APIView):
    """DELETE unlinks one of the caller's accounts."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None, **errors(401, 404)}, tags=["auth"],
                   summary="Unlink one of your AWS accounts",
                   description="Signed in. The registry stops acting in that account; audited.")
    def delete(self, request, account_id: str):
        aws_account_unlink(user=request.user, account_id=account_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeAwsAccountVerifyApi(APIView):
    """POST verifies a link again (after the external id was put into the role's trust policy)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={200: AwsAccountOutputSerializer, **errors(401, 403, 404, 503)},
                   tags=["auth"], summary="Verify a linked AWS account again",
                   description="Signed in. After the external id was put into the role's trust policy: "
                               "AssumeRole + GetCallerIdentity again; audited.")
    def post(self, request, account_id: str):
        link = aws_account_verify(user=request.user, account_id=account_id)
        return Response(AwsAccountOutputSerializer(link).data)
