"""Forms of the catalogue pages. They parse and shape browser input; every rule (who may do
what, which states allow it, what AWS must say) is checked by the service the view calls."""
from __future__ import annotations

from django import forms

from amis.metadata import CATEGORY_MAX, NAME_MAX, VERSION_MAX
from amis.models import AMI
from amis.wizard_services import SOURCE_CREATE, SOURCE_REGISTER
from registry import aws

REGION_CHOICES = [(r, r) for r in aws.COMMERCIAL_REGIONS]


def tags_parse(text: str) -> dict[str, str]:
    """``"key=value, key2=value2, flag"`` (commas or new lines) → ``{"key": "value", ..., "flag": ""}``."""
    tags: dict[str, str] = {}
    for item in (text or "").replace("\n", ",").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        tags[key.strip()] = value.strip()
    return tags


def tags_format(tags: dict | None) -> str:
    return ", ".join(f"{k}={v}" if v else k for k, v in (tags or {}).items())


class TagsField(forms.CharField):
    """Free text in, a dict out (the service validates key/value lengths and counts)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated key=value pairs, e.g. cuda=12.4, framework=pytorch")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return tags_format(value) if isinstance(value, dict) else value

    def to_python(self, value):
        return tags_parse(super().to_python(value))


# --- Browse ------------------------------------------------------------------------------------------

SORT_CHOICES = [
    ("", "Best match"),  # the selector's default blend ("best")
    ("-rating_avg", "Highest rated"),
    ("-download_count", "Most downloaded"),
    ("-created_at", "Newest"),
    ("name", "Name (A–Z)"),
]


# --- AMI page (the rating and share forms are ratings' and sharing's) ---------------------------------

class AMIEditForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    category = forms.CharField(max_length=CATEGORY_MAX, required=False)
    version = forms.CharField(max_length=VERSION_MAX, required=False)
    tags = TagsField()


class CopyForm(forms.Form):
    regions = forms.MultipleChoiceField(label="Copy to regions", choices=REGION_CHOICES,
                                        widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, exclude: set[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Regions that already hold a copy are not offered (the service skips them anyway).
        self.fields["regions"].choices = [c for c in REGION_CHOICES if c[0] not in (exclude or set())]


class DeprecateForm(forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Shown to everyone on the AMI page.")
    replacement = forms.CharField(
        required=False, max_length=64, label="Replacement (optional)",
        help_text="The registry id or an AMI id (ami-…) of the entry that replaces this one.")


# --- Submit wizard --------------------------------------------------------------------------------------

class WizardSourceForm(forms.Form):
    """Step 1: an existing image, or an image to create from a running instance."""

    MODE_REGISTER = SOURCE_REGISTER
    MODE_CREATE = SOURCE_CREATE
    mode = forms.ChoiceField(
        label="What do you want to submit?", widget=forms.RadioSelect, initial=MODE_REGISTER,
        choices=[(MODE_REGISTER, "Register an existing AMI"), (MODE_CREATE, "Create an AMI from a running instance")])
    ami_id = forms.CharField(label="AMI id", required=False, max_length=21,
                             widget=forms.TextInput(attrs={"placeholder": "ami-0123456789abcdef0", "spellcheck": "false"}))
    instance_id = forms.CharField(label="Instance id", required=False, max_length=19,
                                  widget=forms.TextInput(attrs={"placeholder": "i-0123456789abcdef0",
                                                                "spellcheck": "false"}))
    region = forms.ChoiceField(choices=REGION_CHOICES, initial="us-east-1")

    def clean(self):
        # Syntax only (the kernel's validators); whether AWS knows the id is checked by the view.
        data = super().clean()
        mode = data.get("mode")
        if mode == self.MODE_REGISTER:
            value = (data.get("ami_id") or "").strip()
            if not value:
                self.add_error("ami_id", "Enter the AMI id to register.")
            elif not aws.is_ami_id(value):
                self.add_error("ami_id", "Not a valid AMI id (ami- followed by 8 or 17 hex digits).")
            data["ami_id"] = value
        elif mode == self.MODE_CREATE:
            value = (data.get("instance_id") or "").strip()
            if not value:
                self.add_error("instance_id", "Enter the id of the running instance.")
            elif not aws.is_instance_id(value):
                self.add_error("instance_id", "Not a valid instance id (i- followed by 8 or 17 hex digits).")
            data["instance_id"] = value
        return data


class WizardMetadataForm(forms.Form):
    """Step 2."""

    name = forms.CharField(max_length=NAME_MAX)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}),
                                  help_text="What is installed, for whom, how it was tested.")
    template = forms.ChoiceField(required=False, help_text="The workstation template this image is built for.")
    category = forms.CharField(max_length=CATEGORY_MAX, required=False, help_text="Defaults to the template's category.")
    version = forms.CharField(max_length=VERSION_MAX, required=False)
    tags = TagsField()

    def __init__(self, *args, template_choices=(), template_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].choices = [("", "— none —"), *template_choices]
        if template_required:
            # Creating from an instance names the image after the template (the service says so too).
            self.fields["template"].required = True
            self.fields["template"].help_text = "Required when creating an image from an instance."


class WizardRegionsForm(forms.Form):
    """Step 3."""

    regions = forms.MultipleChoiceField(label="Also copy to", choices=REGION_CHOICES, required=False,
                                        widget=forms.CheckboxSelectMultiple)
    visibility = forms.ChoiceField(
        choices=AMI.Visibility.choices, initial=AMI.Visibility.PUBLIC, widget=forms.RadioSelect,
        help_text="Private: ready as soon as you submit it — you and the people, labs and communities you "
                  "share it with see it at once, no moderator involved. Community (every signed-in user) and "
                  "Public (everyone) entries are listed once a moderator approves them.")

    def __init__(self, *args, source_region: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = [c for c in REGION_CHOICES if c[0] != source_region]


class WizardConfirmForm(forms.Form):
    """Step 4."""

    submit_for_review = forms.BooleanField(
        required=False, initial=True, label="Submit it now",
        help_text="A private entry is ready at once; a community or public one goes to a moderator first. "
                  "Leave unticked to keep a draft that nobody but you can see.")
