from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"

    def ready(self):
        from notifications.receivers import on_audit_event_committed
        from registry.events import audit_event_committed

        # dispatch_uid: connected once even if ready() runs twice (tests, autoreload).
        audit_event_committed.connect(on_audit_event_committed, dispatch_uid="notifications.audit_event")
