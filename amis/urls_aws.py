"""Routes of the AWS lifecycle: cws-shaped create/status/list, copy, operations."""
from django.urls import path

from amis import operations_api as api

urlpatterns = [
    path("ami/create", api.AmiCreateApi.as_view(), name="ami-create"),
    path("ami/status/<str:creation_id>", api.AmiCreationStatusApi.as_view(), name="ami-creation-status"),
    path("ami/list", api.AmiUserListApi.as_view(), name="ami-user-list"),
    path("amis/<str:ami>/copy", api.AmiCopyApi.as_view(), name="ami-copy"),
    path("operations/", api.OperationListApi.as_view(), name="operation-list"),
    path("operations/<str:operation_id>", api.OperationDetailApi.as_view(), name="operation-detail"),
]
