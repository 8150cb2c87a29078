"""AWS with the user's own credentials (boto3's usual chain: environment, profile, SSO, instance
role). ``AWS_ENDPOINT_URL`` is honoured by boto3 itself, so the demo's local emulator works the
same way as real AWS. Every AWS error becomes a ``CwsError`` with AWS's own message."""
from __future__ import annotations

import time
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from cws.errors import LocalError, Refused

_RETRIES = Config(retries={"max_attempts": 5, "mode": "standard"})


def client(service: str, region: str):
    return boto3.session.Session().client(service, region_name=region, config=_RETRIES)


@contextmanager
def translated(action: str):
    """Turn botocore's exceptions into the client's errors (AWS said no → 1; no credentials → 2)."""
    try:
        yield
    except NoCredentialsError:
        raise LocalError(f"{action}: no AWS credentials found",
                         hint="configure them (`aws configure`, AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                              "AWS_SECRET_ACCESS_KEY); AWS_ENDPOINT_URL points at an emulator") from None
    except NoRegionError:
        raise LocalError(f"{action}: no AWS region", hint="pass --region") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise Refused(f"{action}: AWS said {error.get('Code', 'error')}: {error.get('Message', str(exc))}") from None
    except BotoCoreError as exc:
        raise LocalError(f"{action}: {exc}") from None


def image_state(region: str, image_id: str) -> str:
    with translated(f"reading {image_id} in {region}"):
        images = client("ec2", region).describe_images(ImageIds=[image_id]).get("Images", [])
    return images[0].get("State", "unknown") if images else "missing"


def wait_image_available(region: str, image_id: str, *, timeout: float = 3600, interval: float = 15,
                         on_wait=None) -> None:
    """Block until ``image_id`` is available (cross-region copies take minutes in AWS)."""
    deadline = time.monotonic() + timeout
    while True:
        state = image_state(region, image_id)
        if state == "available":
            return
        if state in ("failed", "invalid", "deregistered", "error", "missing"):
            raise Refused(f"image {image_id} in {region} is {state}")
        if time.monotonic() > deadline:
            raise Refused(f"image {image_id} in {region} is still {state} after {timeout / 60:.0f} min")
        if on_wait:
            on_wait(state)
        time.sleep(interval)
