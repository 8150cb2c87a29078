"""Forms of the notification pages (input parsing only; the services decide)."""
from django import forms

from notifications.event_types import SUBSCRIBABLE
from notifications.models import Subscription
from templates.selectors import template_list

EVENT_CHOICES = [(t.value, t.label) for t in SUBSCRIBABLE]
# A text field (styled like the others) that phones still type as a URL.
URL_ATTRS = {"inputmode": "url", "autocomplete": "url", "spellcheck": "false", "placeholder": "https://"}


class NotificationSettingsForm(forms.Form):
    own_activity_email = forms.BooleanField(
        required=False, label="Email me about my own AMIs and reviews",
        help_text="Approved, rejected (with the moderator's reason), deprecated, revoked, scan failed, copies "
                  "done, new reviews of my AMIs, my review hidden.")
    launched_revocation_email = forms.BooleanField(
        required=False, label="Email me when an AMI I launched is revoked",
        help_text="Sent to everyone who recorded a launch of the AMI.")


class SubscriptionForm(forms.Form):
    target_type = forms.ChoiceField(label="Subscribe to", widget=forms.RadioSelect, initial="template",
                                    choices=[(Subscription.TargetType.TEMPLATE.value, "A workstation template"),
                                             (Subscription.TargetType.AMI.value, "One AMI"),
                                             (Subscription.TargetType.LINEAGE.value, "A lineage (its versions)")])
    template = forms.ChoiceField(required=False, label="Template")
    ami = forms.CharField(required=False, max_length=64, label="AMI",
                          help_text="Its registry id or any of its AWS AMI ids (ami-…).")
    lineage = forms.CharField(required=False, max_length=64, label="Lineage", help_text="The lineage's id.")
    event_types = forms.MultipleChoiceField(choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple,
                                            label="Events", initial=["ami.approved", "ami.revoked"])
    email = forms.BooleanField(required=False, initial=True, label="By email")
    webhook = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Webhook")

    def __init__(self, *args, webhooks=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "— choose a template —")] + [
            (t.slug, t.name) for t in template_list()]
        self.fields["webhook"].choices = [("", "— no webhook —")] + [(h.pk, f"{h.name} ({h.owner_label})")
                                                                    for h in webhooks]


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=2000, label="URL", widget=forms.TextInput(attrs=URL_ATTRS),
                          help_text="Receives POSTs of CloudEvents JSON, signed in the X-Registry-Signature header.")
    community = forms.ChoiceField(required=False, label="Owner",
                                  help_text="Community webhooks carry events about public AMIs only.")

    def __init__(self, *args, communities=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["community"].choices = [("", "Me")] + [(c.slug, f"Community {c.name}") for c in communities]


class WebhookEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.CharField(max_length=2000, label="URL", widget=forms.TextInput(attrs=URL_ATTRS))
