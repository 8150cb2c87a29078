"""The one boto3 gateway: clients per region, retry policy, AWS id validation, error translation.

boto3 honours ``AWS_ENDPOINT_URL`` by itself, so the same code talks to real AWS, to the moto
server of the demo (``make run``) and to in-process moto in tests. Nothing else builds clients.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from django.conf import settings

from registry import metrics

# Every commercial AWS region (the `aws` partition), as of 2026.
COMMERCIAL_REGIONS: tuple[str, ...] = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2",
    "ca-central-1", "ca-west-1", "mx-central-1",
    "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2",
    "eu-north-1", "eu-south-1", "eu-south-2",
    "il-central-1", "me-south-1", "me-central-1",
    "af-south-1",
    "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
)
REGION_SET = frozenset(COMMERCIAL_REGIONS)

AMI_ID_RE = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8}([0-9a-f]{9})?$")
SNAPSHOT_ID_RE = re.compile(r"^snap-[0-9a-f]{8}([0-9a-f]{9})?$")
ACCOUNT_ID_RE = re.compile(r"^\d{12}$")
ORGANIZATION_ARN_RE = re.compile(r"^arn:aws:organizations::\d{12}:organization/o-[a-z0-9]{10,32}$")
# An IAM role the registry may assume in a publisher's account (the account id is the 5th field).
ROLE_ARN_RE = re.compile(r"^arn:aws:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
OU_ARN_RE = re.compile(r"^arn:aws:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$")

# Error codes that mean "try again later"; everything else is permanent for that input.
TRANSIENT_CODES = frozenset({
    "RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "ServiceUnavailable", "Unavailable",
    "InternalError", "InternalFailure", "ServerInternal", "PriorRequestNotComplete",
    "ResourceLimitExceeded",  # e.g. too many concurrent CopyImage into one region
})
NOT_FOUND_CODES = frozenset({
    "InvalidAMIID.NotFound", "InvalidAMIID.Unavailable", "InvalidInstanceID.NotFound",
    "InvalidSnapshot.NotFound", "ParameterNotFound",
})


class AwsError(Exception):
    """An AWS call failed. ``code`` is AWS's error code, ``message`` its text."""

    def __init__(self, message: str, *, code: str = "", operation: str = "", region: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.operation = operation
        self.region = region


class AwsTransientError(AwsError):
    """Throttling, timeouts, 5xx: retrying later can succeed."""


class AwsPermanentError(AwsError):
    """Bad input, missing permission, wrong state: retrying the same call cannot succeed."""


class AwsNotFound(AwsPermanentError):
    """The image, instance, snapshot or parameter does not exist (in that region)."""


def is_known_region(region: str) -> bool:
    return isinstance(region, str) and region in REGION_SET


def is_ami_id(value: str) -> bool:
    return isinstance(value, str) and bool(AMI_ID_RE.match(value))


def is_instance_id(value: str) -> bool:
    return isinstance(value, str) and bool(INSTANCE_ID_RE.match(value))


def is_account_id(value: str) -> bool:
    return isinstance(value, str) and bool(ACCOUNT_ID_RE.match(value))


def _config() -> Config:
    return Config(
        retries={"max_attempts": settings.AWS_MAX_ATTEMPTS, "mode": "adaptive"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=50,
    )


@dataclass(frozen=True)
class AccountRole:
    """Where a call acts: a publisher's linked AWS account, reached through the IAM role they
    created for the registry (with the link's external id). ``None`` instead of an AccountRole
    means the registry's own credentials, which act only for images the registry itself owns."""

    account_id: str
    role_arn: str
    external_id: str = ""


_clients_lock = threading.Lock()
_clients: dict[tuple, object] = {}
# One boto3 session per environment (endpoint, registry key) builds every client, under
# ``_clients_lock`` (sessions are not thread-safe): its loader keeps one copy of each service
# model for all regions. A session per client held one EC2 model per region — ~55,000 objects
# each, ~940,000 for 17 regions — which every full garbage collection of the process walked:
# a pause of 150–450 ms on whatever request it fell on, once a worker had resolved across regions.
_sessions: dict[tuple, boto3.session.Session] = {}
# (role arn, external id, endpoint, registry key) → (temporary credentials, expiry as epoch seconds)
_role_credentials: dict[tuple, tuple[dict, float]] = {}
# Temporary credentials are renewed this long before they expire, so a step never starts with a
# session that dies mid-call.
ROLE_REFRESH_MARGIN_SECONDS = 600
ROLE_SESSION_SECONDS = 3600


def _env_key() -> tuple[str, str]:
    return os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_ACCESS_KEY_ID", "")


def _assume(role: AccountRole, region: str) -> dict:
    """Temporary credentials for ``role``: cached per process, renewed before they expire."""
    key = (role.role_arn, role.external_id, *_env_key())
    cached = _role_credentials.get(key)
    if cached is not None and cached[1] - time.time() > ROLE_REFRESH_MARGIN_SECONDS:
        return cached[0]
    kwargs = {"RoleArn": role.role_arn, "RoleSessionName": "community-ami-registry",
              "DurationSeconds": ROLE_SESSION_SECONDS}
    if role.external_id:
        kwargs["ExternalId"] = role.external_id
    creds = call(region, "sts", "assume_role", **kwargs)["Credentials"]
    expiration = creds.get("Expiration")
    expires = expiration.timestamp() if hasattr(expiration, "timestamp") else time.time() + ROLE_SESSION_SECONDS
    with _clients_lock:
        _role_credentials[key] = (creds, expires)
    return creds


def client(service: str, region: str, *, role: AccountRole | None = None):
    """A boto3 client for ``service`` in ``region``; the endpoint comes from the environment.

    Clients are cached per process: building one costs 50–200 ms of CPU when it loads its
    service model (the resolver's cold path measured it), ~15 ms for another region of a model
    the process's session already holds; boto3 clients are thread-safe once built. boto3
    *sessions* are not, so building happens under a lock. The key includes the endpoint and
    access key so a changed environment (tests switching between moto modes) never reuses a
    stale client or session.

    With ``role`` the client acts in that account with the role's temporary credentials (STS
    AssumeRole with the registry's own, cached and renewed ahead of expiry); the key then holds
    the temporary access key, so a renewed session gets a fresh client.
    """
    if not is_known_region(region):
        raise AwsPermanentError(f"unknown AWS region '{region}'", code="InvalidRegion", region=region)
    creds = _assume(role, region) if role is not None else None
    environment = _env_key()
    key = (service, region, *environment, creds["AccessKeyId"] if creds else "")
    cached = _clients.get(key)
    if cached is not None:
        return cached
    with _clients_lock:
        cached = _clients.get(key)
        if cached is None:
            session = _sessions.get(environment)
            if session is None:
                session = _sessions[environment] = boto3.session.Session()
            credentials = {}
            if creds is not None:
                # Forget clients of this role's expired sessions: they can no longer act.
                for old in [k for k in _clients if k[:4] == key[:4] and k[4] and k[4] != key[4]
                            and k[4] not in _live_role_keys()]:
                    del _clients[old]
                credentials = {"aws_access_key_id": creds["AccessKeyId"],
                               "aws_secret_access_key": creds["SecretAccessKey"],
                               "aws_session_token": creds["SessionToken"]}
            cached = session.client(service, region_name=region, config=_config(), **credentials)
            _clients[key] = cached
    return cached


def _live_role_keys() -> set[str]:
    return {creds["AccessKeyId"] for creds, _ in _role_credentials.values()}


def clear_client_cache() -> None:
    """Forget every cached client (tests call it when they start or stop an AWS emulator)."""
    with _clients_lock:
        _clients.clear()
        _sessions.clear()
        _role_credentials.clear()
        _registry_account.clear()


def ec2(region: str):
    return client("ec2", region)


def ssm(region: str):
    return client("ssm", region)


def translate(exc: Exception, *, operation: str = "", region: str = "") -> AwsError:
    """Map a botocore exception onto our transient/permanent/not-found errors."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "") or ""
        message = err.get("Message", "") or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0
        if code in NOT_FOUND_CODES or code.endswith(".NotFound") or code.endswith(".Malformed"):
            return AwsNotFound(message, code=code, operation=operation, region=region)
        if code in TRANSIENT_CODES or status >= 500:
            return AwsTransientError(message, code=code, operation=operation, region=region)
        return AwsPermanentError(message, code=code, operation=operation, region=region)
    if isinstance(exc, (EndpointConnectionError, BotoCoreError)):
        return AwsTransientError(str(exc), code=type(exc).__name__, operation=operation, region=region)
    return AwsPermanentError(str(exc), code=type(exc).__name__, operation=operation, region=region)


def call(region: str, service: str, operation: str, *, role: AccountRole | None = None, **kwargs):
    """Call one AWS operation, translating failures. ``operation`` is the boto3 method name;
    ``role`` the linked account to act in (None: the registry's own credentials). AWS's own
    parameters are CamelCase, so the lower-case ``role`` never collides with one."""
    metrics.AWS_CALLS.labels(operation=operation, region=region).inc()
    try:
        return getattr(client(service, region, role=role), operation)(**kwargs)
    except Exception as exc:  # noqa: BLE001 — translated and re-raised, never swallowed
        raise translate(exc, operation=operation, region=region) from exc


def is_not_implemented(exc: AwsError) -> bool:
    """moto (the emulator) answers some operations with NotImplemented; real AWS never does."""
    text = f"{exc.code} {exc.message}".lower()
    if exc.code == "ResponseParserError" and os.environ.get("AWS_ENDPOINT_URL"):
        return True  # moto_server answers an unimplemented action with an HTML 500 page
    return "notimplemented" in text.replace(" ", "") or "not been implemented" in text or "not yet implemented" in text


def describe_image(region: str, ami_id: str, *, role: AccountRole | None = None) -> dict | None:
    """The image as DescribeImages reports it, or None when it does not exist in that region."""
    try:
        images = call(region, "ec2", "describe_images", role=role, ImageIds=[ami_id]).get("Images", [])
    except AwsNotFound:
        return None
    return images[0] if images else None


def launch_permission_accounts(region: str, ami_id: str, *, role: AccountRole | None = None) -> dict[str, set[str]]:
    """Current launch permissions of an image, grouped: {UserId, OrganizationArn, ...: {values}}."""
    result = call(region, "ec2", "describe_image_attribute", role=role, ImageId=ami_id,
                  Attribute="launchPermission")
    grouped: dict[str, set[str]] = {}
    for perm in result.get("LaunchPermissions", []):
        for key, value in perm.items():
            grouped.setdefault(key, set()).add(value)
    return grouped


def client_for_role(service: str, region: str, *, role_arn: str, session_name: str = "community-ami-registry",
                    external_id: str = ""):
    """A boto3 client acting as ``role_arn`` (STS AssumeRole with the registry's own credentials).

    Used for work inside an institution's AWS account (e.g. copies into it) when the institution
    configured a cross-account role (``Community.aws_role_arn``). The temporary credentials live only
    in the returned client (one hour at most): nothing is stored or logged.
    """
    kwargs = {"RoleArn": role_arn, "RoleSessionName": session_name[:64], "DurationSeconds": 3600}
    if external_id:
        kwargs["ExternalId"] = external_id
    creds = call(region, "sts", "assume_role", **kwargs)["Credentials"]
    if not is_known_region(region):
        raise AwsPermanentError(f"unknown AWS region '{region}'", code="InvalidRegion", region=region)
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).client(service, region_name=region, config=_config())


_registry_account: dict[tuple, str] = {}


def registry_account_ids() -> set[str]:
    """The AWS account(s) of the registry itself: ``REGISTRY_AWS_ACCOUNT_IDS`` when configured,
    else the account of its own credentials (STS GetCallerIdentity, cached per endpoint and key).
    Images owned there are the registry's own: only they are acted on with its credentials."""
    configured = {a for a in getattr(settings, "REGISTRY_AWS_ACCOUNT_IDS", []) or [] if a}
    if configured:
        return configured
    key = _env_key()
    if key not in _registry_account:
        identity = call(getattr(settings, "AWS_DEFAULT_REGION", "us-east-1"), "sts", "get_caller_identity")
        _registry_account[key] = identity.get("Account", "")
    return {_registry_account[key]} - {""}


def role_identity(role: AccountRole, *, region: str = "") -> str:
    """Verify a link: assume ``role`` (with its external id) and ask STS GetCallerIdentity with the
    temporary credentials. Returns the account id the credentials act in; raises AwsError when the
    role cannot be assumed (wrong trust policy, wrong external id, no such role)."""
    region = region or getattr(settings, "AWS_DEFAULT_REGION", "us-east-1")
    key = (role.role_arn, role.external_id, *_env_key())
    with _clients_lock:
        _role_credentials.pop(key, None)  # verification always assumes afresh
    return call(region, "sts", "get_caller_identity", role=role).get("Account", "")
