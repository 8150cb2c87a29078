"""The rules for the metadata people type about an AMI: text lengths, tags, region lists.

One home for each limit, used by every way in (the REST API, the web forms, create-from-instance,
the wizard), so a value accepted by one is accepted by all.
"""
from __future__ import annotations

from typing import Any

from registry import aws
from registry.errors import InvalidInput
from registry.text import text_strip_invisible

# Limits of the free-text metadata (the model's column sizes, plus sane caps for text/JSON).
NAME_MAX = 200
DESCRIPTION_MAX = 10_000
VERSION_MAX = 50
CATEGORY_MAX = 100
CLIENT_MAX = 100
# AWS allows 50 tags per resource (and tag keys of 128, values of 256 characters). The catalogue
# documents the same limits (docs/catalogue.md; the API tests send 51 tags and expect a 400), so
# that tags accepted here can always be written to the image in AWS.
TAGS_MAX = 50
TAG_KEY_MAX = 128
TAG_VALUE_MAX = 256
# AWS reserves tag keys starting with "aws:"; an image cannot carry them, so the catalogue refuses them.
RESERVED_TAG_PREFIX = "aws:"
MAX_COPY_REGIONS = 20


def text_clean(field: str, value: Any, *, max_length: int, required: bool = False) -> str:
    """A stripped string no longer than ``max_length``; InvalidInput naming ``field`` otherwise."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string", errors={field: ["Must be a string."]})
    # Bidi controls and zero-width characters only ever deceive readers of shown text: drop them.
    value = text_strip_invisible(value).strip()
    if required and not value:
        raise InvalidInput(f"{field}: this field may not be blank", errors={field: ["This field may not be blank."]})
    if len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters",
                           errors={field: [f"Ensure this field has no more than {max_length} characters."]})
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the driver.
        raise InvalidInput(f"{field}: contains a NUL character", errors={field: ["Null characters are not allowed."]})
    return value


def tags_clean(tags: Any, *, max_count: int = TAGS_MAX) -> dict[str, str]:
    """Tags as ``{key: value}`` (AWS style). A list of strings is accepted as keys with empty values.

    ``max_count`` is lower only where the registry adds tags of its own to the same AWS resource.
    """
    if tags is None or tags == "":
        return {}
    if isinstance(tags, (list, tuple)):
        if not all(isinstance(t, str) for t in tags):
            raise InvalidInput("tags: a list of tags must contain strings", errors={"tags": ["Must be strings."]})
        tags = {t: "" for t in tags}
    if not isinstance(tags, dict):
        raise InvalidInput("tags: must be an object of key → value", errors={"tags": ["Must be an object."]})
    if len(tags) > max_count:
        raise InvalidInput(f"tags: at most {max_count} tags", errors={"tags": [f"At most {max_count} tags."]})
    clean: dict[str, str] = {}
    for key, value in tags.items():
        if value is None:
            value = ""
        if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
            raise InvalidInput("tags: keys and values must be strings", errors={"tags": ["Keys and values must be strings."]})
        key, value = text_strip_invisible(key).strip(), text_strip_invisible(str(value)).strip()
        if not key or len(key) > TAG_KEY_MAX or len(value) > TAG_VALUE_MAX or "\x00" in key + value:
            raise InvalidInput(
                f"tags: keys must be 1–{TAG_KEY_MAX} characters and values at most {TAG_VALUE_MAX}",
                errors={"tags": [f"Keys must be 1–{TAG_KEY_MAX} characters, values at most {TAG_VALUE_MAX}."]})
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise InvalidInput(f"tags: '{key}' uses the prefix '{RESERVED_TAG_PREFIX}', which AWS reserves",
                               errors={"tags": [f"Tag keys may not start with '{RESERVED_TAG_PREFIX}'."]})
        clean[key] = value
    return clean


def regions_clean(regions: Any, *, field: str) -> list[str]:
    """A de-duplicated list of known AWS regions, at most ``MAX_COPY_REGIONS``."""
    if not isinstance(regions, (list, tuple)):
        raise InvalidInput(f"{field} must be a list of region names", errors={field: ["Must be a list."]})
    bad = [r for r in regions if not aws.is_known_region(r)]
    if bad:
        raise InvalidInput(f"unknown AWS region(s): {', '.join(map(str, bad))}",
                           errors={field: [f"Unknown region '{r}'." for r in bad]})
    unique = list(dict.fromkeys(regions))
    if len(unique) > MAX_COPY_REGIONS:
        raise InvalidInput(f"at most {MAX_COPY_REGIONS} regions at once", errors={field: ["Too many regions."]})
    return unique
