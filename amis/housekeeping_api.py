"""REST endpoints for the real cws client's lifecycle commands (keys as the upstream daemon's
``ami_handlers.go``): ``POST /ami/cleanup``, ``/ami/delete``, ``/ami/snapshots``,
``/ami/snapshot/create|restore|delete``. Thin: parse → one service (``amis.aws_housekeeping``,
``amis.aws_snapshots``) → render. Signed-in callers only; everything is scoped to their own images."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.aws_housekeeping import ami_cleanup, ami_delete_cws
from amis.aws_snapshots import snapshot_create, snapshot_delete, snapshot_restore, snapshots_list
from registry.regions import request_region
from registry.schema_errors import errors

TAGS = ["cws lifecycle"]


def _region_field():
    return serializers.CharField(max_length=32, required=False, allow_blank=True,
                                 help_text="Default: X-AWS-Region, your default region, AWS_DEFAULT_REGION")


class ListedAmiSerializer(serializers.Serializer):
    ami_id = serializers.CharField()
    registry_id = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    creation_date = serializers.CharField()
    regions = serializers.ListField(child=serializers.CharField())
    size_gb = serializers.FloatField()
    storage_cost_monthly = serializers.FloatField()


class SnapshotSerializer(serializers.Serializer):
    snapshot_id = serializers.CharField()
    volume_id = serializers.CharField()
    volume_size = serializers.IntegerField(help_text="GB")
    description = serializers.CharField()
    start_time = serializers.CharField()
    state = serializers.CharField()
    progress = serializers.CharField()
    storage_cost_monthly = serializers.FloatField()
    instance_id = serializers.CharField()
    instance_name = serializers.CharField()


class AmiCleanupApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        max_age = serializers.CharField(max_length=16, required=False, default="30d", allow_blank=True,
                                        help_text="30d, 12h, 2w, 3m")
        dry_run = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        description="Signed in. Removes your own registry entries older than `max_age` (30d, 12h, 2w, 3m); with `dry_run` it only lists them.",
        request=InputSerializer, tags=TAGS, responses={200: inline_serializer("AmiCleanupOutput", {
        "total_found": serializers.IntegerField(help_text="Your entries older than max_age"),
        "total_removed": serializers.IntegerField(help_text="Removed (dry run: would be removed)"),
        "storage_savings_monthly": serializers.FloatField(), "removed_amis": ListedAmiSerializer(many=True),
        "dry_run": serializers.BooleanField(), "max_age": serializers.CharField(),
        "cleanup_completed_at": serializers.CharField(),
        "operations": serializers.ListField(child=serializers.CharField())}), **errors(400, 401)},
        summary="Deregister your old, unused AMIs and delete their snapshots (dry_run lists them)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ami_cleanup(user=request.user, max_age=data.validated_data["max_age"] or "30d",
                                    dry_run=data.validated_data["dry_run"]))


class AmiDeleteApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        ami_id = serializers.CharField(max_length=64, help_text="AWS AMI id (any regional copy) or registry id")
        deregister_only = serializers.BooleanField(required=False, default=False, help_text="Keep the snapshots")

    @extend_schema(
        description="Signed in; your own entry. Deregisters the image and, unless `deregister_only`, deletes its snapshots.",
        request=InputSerializer, tags=TAGS, responses={200: inline_serializer("AmiDeleteOutput", {
        "ami_id": serializers.CharField(), "registry_id": serializers.CharField(),
        "status": serializers.CharField(help_text="deleted, or deleting while a worker deregisters"),
        "operation_id": serializers.CharField(), "deleted_snapshots": serializers.ListField(
            child=serializers.CharField()), "storage_savings_monthly": serializers.FloatField(),
        "deregister_only": serializers.BooleanField(), "deletion_completed_at": serializers.CharField()}),
        **errors(400, 401, 404, 409)},
        summary="Deregister one of your AMIs (409 with the reasons when others depend on it)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ami_delete_cws(user=request.user, ref=data.validated_data["ami_id"],
                                       deregister_only=data.validated_data["deregister_only"]))


class SnapshotListApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        instance_id = serializers.CharField(max_length=256, required=False, allow_blank=True,
                                            help_text="EC2 id or Name of the instance the snapshot was taken of")
        max_age = serializers.CharField(max_length=16, required=False, allow_blank=True)
        region = _region_field()

    @extend_schema(
        description="Signed in. Your EBS snapshots in the region asked for.",
        request=InputSerializer, tags=TAGS, responses={200: inline_serializer("SnapshotListOutput", {
        "snapshots": SnapshotSerializer(many=True), "total_count": serializers.IntegerField(),
        "total_storage_cost_monthly": serializers.FloatField(), "filters": serializers.DictField()}),
        **errors(400, 401, 503)}, summary="Your EBS snapshots in a region")
    def post(self, request):
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        d = data.validated_data
        return Response(snapshots_list(user=request.user, region=request_region(request, d.get("region")),
                                       instance_id=d.get("instance_id") or "", max_age=d.get("max_age") or ""))


class SnapshotCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        instance_id = serializers.CharField(max_length=256, help_text="EC2 instance id or its Name tag")
        description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
        no_reboot = serializers.BooleanField(required=False, default=True)
        region = _region_field()

    @extend_schema(
        description="Signed in; your own instance. AWS finishes the snapshot later (202); a worker follows "
                    "it as an operation (`operation_id`, see `GET /operations/{id}`) until it is completed.",
        request=InputSerializer, tags=TAGS, responses={202: inline_serializer("SnapshotCreateOutput", {
        **SnapshotSerializer().fields, "region": serializers.CharField(),
        "estimated_completion_minutes": serializers.IntegerField(),
        "creation_initiated_at": serializers.CharField(),
        "operation_id": serializers.UUIDField(help_text="The operation that follows the snapshot")}),
        **errors(400, 401, 503)},
        summary="Snapshot the root volume of your instance (202: AWS finishes it)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        body = snapshot_create(user=request.user, instance_ref=d["instance_id"],
                               region=request_region(request, d.get("region")),
                               description=d.get("description") or "", no_reboot=d["no_reboot"])
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SnapshotRestoreApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        snapshot_id = serializers.CharField(max_length=22)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
        architecture = serializers.CharField(max_length=10, required=False, default="x86_64")
        region = _region_field()

    @extend_schema(
        description="Signed in; your own snapshot. Registers an image from it, listed as a draft entry of yours.",
        request=InputSerializer, tags=TAGS, responses={202: inline_serializer("SnapshotRestoreOutput", {
        "ami_id": serializers.CharField(), "registry_id": serializers.CharField(help_text="Your new draft entry"),
        "name": serializers.CharField(), "snapshot_id": serializers.CharField(),
        "architecture": serializers.CharField(), "region": serializers.CharField(),
        "estimated_completion_minutes": serializers.IntegerField(),
        "restore_initiated_at": serializers.CharField()}), **errors(400, 401, 404, 503)},
        summary="Register an AMI from your snapshot (a draft entry of yours)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        body = snapshot_restore(user=request.user, region=request_region(request, d.get("region")),
                                snapshot_id=d["snapshot_id"], name=d["name"], description=d.get("description") or "",
                                architecture=d["architecture"] or "x86_64")
        return Response(body, status=status.HTTP_202_ACCEPTED)


class SnapshotDeleteApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        snapshot_id = serializers.CharField(max_length=22)
        region = _region_field()

    @extend_schema(
        description="Signed in; your own snapshot. Refused (409) while an image is built on it.",
        request=InputSerializer, tags=TAGS, responses={200: inline_serializer("SnapshotDeleteOutput", {
        "snapshot_id": serializers.CharField(), "volume_size": serializers.IntegerField(),
        "storage_savings_monthly": serializers.FloatField(), "deletion_completed_at": serializers.CharField()}),
        **errors(400, 401, 404, 409, 503)}, summary="Delete your snapshot (409 while an image is built on it)")
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        return Response(snapshot_delete(user=request.user, region=request_region(request, d.get("region")),
                                        snapshot_id=d["snapshot_id"]))
