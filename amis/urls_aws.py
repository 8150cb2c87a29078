"""Routes of the AWS lifecycle: cws-shaped create/status/list, cleanup/delete/snapshots, copy, operations."""
from django.urls import path

from amis import housekeeping_api as housekeeping
from amis import operations_api as api

urlpatterns = [
    path("ami/create", api.AmiCreateApi.as_view(), name="ami-create"),
    path("ami/status/<str:creation_id>", api.AmiCreationStatusApi.as_view(), name="ami-creation-status"),
    path("ami/list", api.AmiUserListApi.as_view(), name="ami-user-list"),
    path("ami/cleanup", housekeeping.AmiCleanupApi.as_view(), name="ami-cleanup"),
    path("ami/delete", housekeeping.AmiDeleteApi.as_view(), name="ami-delete"),
    path("ami/snapshots", housekeeping.SnapshotListApi.as_view(), name="ami-snapshots"),
    path("ami/snapshot/create", housekeeping.SnapshotCreateApi.as_view(), name="ami-snapshot-create"),
    path("ami/snapshot/restore", housekeeping.SnapshotRestoreApi.as_view(), name="ami-snapshot-restore"),
    path("ami/snapshot/delete", housekeeping.SnapshotDeleteApi.as_view(), name="ami-snapshot-delete"),
    path("amis/<str:ami>/copy", api.AmiCopyApi.as_view(), name="ami-copy"),
    path("operations/", api.OperationListApi.as_view(), name="operation-list"),
    path("operations/<str:operation_id>", api.OperationDetailApi.as_view(), name="operation-detail"),
]
