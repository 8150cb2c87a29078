"""Forms of the sharing pages. They parse browser input; the rules are ``sharing.services``'."""
from django import forms

from sharing.models import Share


class ShareForm(forms.Form):
    grantee_type = forms.ChoiceField(label="Share with", choices=Share.GranteeType.choices)
    grantee = forms.CharField(
        max_length=255,
        help_text="A 12-digit AWS account id, an organization or OU ARN, a registry username or a community slug.")
