"""Notifications REST API (thin views): subscriptions, webhooks, their delivery log, test events,
the caller's notification switches and the catalogue of event types.

Everything is the caller's own: another user's subscription or webhook is a 404, never a 403
(its existence is nobody else's business). Community webhooks are visible to the community's
admins and to moderators.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from amis.lineage_selectors import lineage_get_visible_or_404
from amis.selectors import ami_get_visible
from notifications import selectors, services
from notifications.event_types import DESCRIPTIONS, SUBSCRIBABLE
from notifications.models import Subscription
from notifications.serializers import (
    NotificationSettingsOutputSerializer,
    SubscriptionOutputSerializer,
    WebhookDeliveryOutputSerializer,
    WebhookOutputSerializer,
    WebhookWithSecretOutputSerializer,
)
from registry.errors import InvalidInput, NotFound
from registry.models import Community
from registry.pagination import StandardPagination
from registry.schema_errors import errors
from templates.selectors import template_get

TAGS = ["notifications"]
ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH)
EVENT_TYPE_CHOICES = [(t.value, t.label) for t in SUBSCRIBABLE]
API_TARGET_TYPES = [(Subscription.TargetType.TEMPLATE.value, "Template"), (Subscription.TargetType.AMI.value, "AMI"),
                    (Subscription.TargetType.LINEAGE.value, "Lineage")]


class _OwnList(ListAPIView):
    """A paginated list of the caller's own rows (no filters); subclasses add POST."""

    permission_classes = [IsAuthenticated]
    pagination_class = StandardPagination
    filter_backends: list = []


def _webhook_or_400(user, webhook_id):
    if webhook_id is None:
        return None
    hook = selectors.webhook_get_manageable(user=user, webhook_id=webhook_id)
    if hook is None:
        raise InvalidInput("webhook: not one of your webhooks", errors={"webhook": ["Unknown webhook."]})
    return hook


class EventTypeListApi(APIView):
    """GET: the event types one can subscribe to (CloudEvents ``type`` values)."""

    permission_classes: list = []

    @extend_schema(tags=TAGS, summary="Event types (CloudEvents `type` values)", responses={200: inline_serializer(
        "NotificationEventType", {"type": serializers.CharField(), "name": serializers.CharField(),
                                  "description": serializers.CharField()}, many=True)})
    def get(self, request):
        return Response([{"type": t.value, "name": t.label, "description": DESCRIPTIONS[t]} for t in SUBSCRIBABLE])


class NotificationSettingsApi(APIView):
    """GET/PATCH: the caller's switches for notifications nobody subscribes to."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        own_activity_email = serializers.BooleanField(required=False)
        launched_revocation_email = serializers.BooleanField(required=False)

    @extend_schema(tags=TAGS, summary="My notification switches",
                   responses={200: NotificationSettingsOutputSerializer, **errors(401)})
    def get(self, request):
        return Response(NotificationSettingsOutputSerializer(selectors.notification_settings_for(user=request.user)).data)

    @extend_schema(tags=TAGS, summary="Change my notification switches", request=InputSerializer,
                   responses={200: NotificationSettingsOutputSerializer, **errors(400, 401)})
    def patch(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        prefs = services.notification_settings_update(user=request.user, **data.validated_data)
        return Response(NotificationSettingsOutputSerializer(prefs).data)


class SubscriptionListCreateApi(_OwnList):
    """GET: the caller's subscriptions. POST: subscribe to a template, an AMI or a lineage."""

    serializer_class = SubscriptionOutputSerializer

    def get_queryset(self):
        return selectors.subscription_list_for(user=self.request.user)

    class InputSerializer(serializers.Serializer):
        target_type = serializers.ChoiceField(choices=API_TARGET_TYPES)
        template = serializers.CharField(required=False, max_length=200,
                                         help_text="Template slug or exact name (target_type=template).")
        ami = serializers.CharField(required=False, max_length=64,
                                    help_text="Registry uuid or any AWS AMI id of the entry (target_type=ami).")
        lineage = serializers.CharField(required=False, max_length=64,
                                        help_text="Lineage id (target_type=lineage): its versions' and channels' "
                                                  "events (version.published, channel.moved, ...).")
        event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES),
                                            allow_empty=False, max_length=len(SUBSCRIBABLE))
        email = serializers.BooleanField(required=False, default=True)
        webhook = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**62,
                                           help_text="Id of one of your webhooks (or a community's you manage).")

    @extend_schema(tags=TAGS, summary="My subscriptions",
                   responses={200: SubscriptionOutputSerializer(many=True), **errors(401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=TAGS, summary="Subscribe to a template's, an AMI's or a lineage's events", request=InputSerializer,
                   responses={201: SubscriptionOutputSerializer, **errors(400, 401, 409)})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        target_type = values["target_type"]
        kwargs = {}
        if target_type == Subscription.TargetType.TEMPLATE:
            template = template_get(values.get("template", ""))
            if template is None:
                raise InvalidInput("template: unknown template", errors={"template": ["Unknown template."]})
            kwargs["template"] = template
        elif target_type == Subscription.TargetType.LINEAGE:
            try:
                lineage = lineage_get_visible_or_404(user=request.user, ref=values.get("lineage", ""))
            except NotFound:  # unknown and invisible look the same
                raise InvalidInput("lineage: unknown lineage", errors={"lineage": ["Unknown lineage."]}) from None
            kwargs["lineage_key"] = lineage.key
        else:
            ami = ami_get_visible(user=request.user, ref=values.get("ami", ""))
            if ami is None:  # unknown and invisible look the same
                raise InvalidInput("ami: unknown AMI", errors={"ami": ["Unknown AMI."]})
            kwargs["ami"] = ami
        sub = services.subscription_create(user=request.user, target_type=target_type,
                                           event_types=values["event_types"], email=values["email"],
                                           webhook=_webhook_or_400(request.user, values.get("webhook")), **kwargs)
        return Response(SubscriptionOutputSerializer(sub).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(APIView):
    """GET / PATCH (event types, channels) / DELETE one of the caller's subscriptions."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_CHOICES),
                                            allow_empty=False, required=False, max_length=len(SUBSCRIBABLE))
        email = serializers.BooleanField(required=False)
        webhook = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**62)

    def _get(self, request, id):
        sub = selectors.subscription_get_for(user=request.user, subscription_id=id)
        if sub is None:
            raise NotFound("subscription not found")
        return sub

    @extend_schema(tags=TAGS, summary="One of my subscriptions", parameters=[ID_PARAM],
                   responses={200: SubscriptionOutputSerializer, **errors(401, 404)})
    def get(self, request, id: int):
        return Response(SubscriptionOutputSerializer(self._get(request, id)).data)

    @extend_schema(tags=TAGS, summary="Change a subscription's event types or channels", parameters=[ID_PARAM],
                   request=InputSerializer, responses={200: SubscriptionOutputSerializer, **errors(400, 401, 404)})
    def patch(self, request, id: int):
        sub = self._get(request, id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "webhook" in changes:
            changes["webhook"] = _webhook_or_400(request.user, changes["webhook"])
        sub = services.subscription_update(subscription=sub, user=request.user, **changes)
        return Response(SubscriptionOutputSerializer(selectors.subscription_get_for(
            user=request.user, subscription_id=sub.pk)).data)

    @extend_schema(tags=TAGS, summary="Unsubscribe", parameters=[ID_PARAM], request=None,
                   responses={204: None, **errors(401, 404)})
    def delete(self, request, id: int):
        services.subscription_delete(subscription=self._get(request, id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookListCreateApi(_OwnList):
    """GET: webhooks the caller manages (own + communities'). POST: a new endpoint (secret in the answer)."""

    serializer_class = WebhookOutputSerializer

    def get_queryset(self):
        return selectors.webhook_list_manageable_by(user=self.request.user)

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        url = serializers.CharField(max_length=2000, help_text="http(s) URL; private addresses are refused.")
        community = serializers.SlugField(required=False, allow_null=True, max_length=64,
                                          help_text="Make it a community's webhook (admins and moderators).")

    @extend_schema(tags=TAGS, summary="Webhooks I manage", responses={200: WebhookOutputSerializer(many=True),
                                                                    **errors(401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(tags=TAGS, summary="Add a webhook (the answer shows its secret)", request=InputSerializer,
                   responses={201: WebhookWithSecretOutputSerializer, **errors(400, 401, 403)})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        community = None
        slug = data.validated_data.get("community")
        if slug:
            community = Community.objects.filter(slug=slug).first()
            if community is None:
                raise InvalidInput("community: unknown community", errors={"community": ["Unknown community."]})
        hook = services.webhook_create(user=request.user, name=data.validated_data["name"],
                                       url=data.validated_data["url"], community=community)
        return Response(WebhookWithSecretOutputSerializer(hook).data, status=status.HTTP_201_CREATED)


class _WebhookView(APIView):
    permission_classes = [IsAuthenticated]

    def _get(self, request, id):
        hook = selectors.webhook_get_manageable(user=request.user, webhook_id=id)
        if hook is None:
            raise NotFound("webhook not found")
        return hook


class WebhookDetailApi(_WebhookView):
    """GET / PATCH (name, url, is_active) / DELETE one webhook."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        url = serializers.CharField(max_length=2000, required=False)
        is_active = serializers.BooleanField(required=False, help_text="true re-enables a disabled endpoint.")

    @extend_schema(tags=TAGS, summary="One webhook", parameters=[ID_PARAM],
                   responses={200: WebhookOutputSerializer, **errors(401, 404)})
    def get(self, request, id: int):
        return Response(WebhookOutputSerializer(self._get(request, id)).data)

    @extend_schema(tags=TAGS, summary="Rename, re-point, disable or re-enable a webhook", parameters=[ID_PARAM],
                   request=InputSerializer, responses={200: WebhookOutputSerializer, **errors(400, 401, 404)})
    def patch(self, request, id: int):
        hook = self._get(request, id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hook = services.webhook_update(webhook=hook, user=request.user, **data.validated_data)
        return Response(WebhookOutputSerializer(hook).data)

    @extend_schema(tags=TAGS, summary="Delete a webhook", parameters=[ID_PARAM], request=None,
                   responses={204: None, **errors(401, 404)})
    def delete(self, request, id: int):
        services.webhook_delete(webhook=self._get(request, id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretRotateApi(_WebhookView):
    @extend_schema(tags=TAGS, summary="Replace a webhook's secret (the answer shows the new one)",
                   parameters=[ID_PARAM], request=None,
                   responses={200: WebhookWithSecretOutputSerializer, **errors(401, 404)})
    def post(self, request, id: int):
        hook = services.webhook_secret_rotate(webhook=self._get(request, id), user=request.user)
        return Response(WebhookWithSecretOutputSerializer(hook).data)


class WebhookTestApi(_WebhookView):
    @extend_schema(tags=TAGS, summary="Send a test event (`webhook.test`) to a webhook", parameters=[ID_PARAM],
                   request=None, responses={202: WebhookDeliveryOutputSerializer, **errors(401, 404)})
    def post(self, request, id: int):
        delivery = services.webhook_test_send(webhook=self._get(request, id), user=request.user)
        delivery = selectors.delivery_list_for(webhook=delivery.webhook).get(pk=delivery.pk)
        return Response(WebhookDeliveryOutputSerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(_OwnList):
    serializer_class = WebhookDeliveryOutputSerializer

    def get_queryset(self):
        hook = selectors.webhook_get_manageable(user=self.request.user, webhook_id=self.kwargs["id"])
        if hook is None:
            raise NotFound("webhook not found")
        return selectors.delivery_list_for(webhook=hook)

    @extend_schema(tags=TAGS, summary="A webhook's delivery log (newest first, with every attempt)",
                   parameters=[ID_PARAM], responses={200: WebhookDeliveryOutputSerializer(many=True),
                                                     **errors(401, 404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

