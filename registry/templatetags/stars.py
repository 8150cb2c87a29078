"""``{{ value|stars }}``: a rating as five stars (what ``amis/_stars.html`` drew as a template).

A review list draws one per review; as an included template each cost ~30 template nodes."""
from __future__ import annotations

from django import template
from django.template.defaultfilters import floatformat
from django.utils.html import format_html

register = template.Library()


@register.filter
def stars(value) -> str:
    """``★★★★☆`` for 3.5 ≤ ``value`` < 4.5 (each star is earned from half a point), labelled for
    screen readers with the value to one decimal."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    drawn = "".join("★" if number >= n - 0.5 else "☆" for n in range(1, 6))
    return format_html('<span class="stars" role="img" aria-label="Rated {} out of 5">{}</span>',
                       floatformat(value, 1), drawn)
