"""Forms of the rating pages. They parse browser input; the rules are ``ratings.services``'."""
from django import forms

from ratings.models import REVIEW_MAX_LENGTH


class RatingForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="Your rating", coerce=int, choices=[(i, f"{i} star{'s' if i > 1 else ''}") for i in range(5, 0, -1)],
        widget=forms.RadioSelect, error_messages={"required": "Choose from 1 to 5 stars."})
    review = forms.CharField(label="Review (optional)", required=False, max_length=REVIEW_MAX_LENGTH,
                             widget=forms.Textarea(attrs={"rows": 4}),
                             help_text="Plain text. What worked, what was missing, which instance type you used.")
