"""Demo-data hooks: each app may add `demo.py` with `seed(stdout, admin, researcher, moderator)`.

Called by `manage.py seed_demo` in dependency order; every hook must be idempotent.

Also the one home of what the demo's local AWS emulator holds (``seed_emulator`` makes it, the
apps' demo modules read it): the tag that marks demo resources, the regions seeded and the
running instances researchers can create AMIs from.
"""
import importlib

from registry import aws

DEMO_APPS = ["templates", "amis", "ratings", "sharing", "resolver"]

# Every resource the demo makes in the emulator carries this tag (value: what it is).
DEMO_TAG = "cws-demo"
DEMO_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
# (Name tag, region, architecture, instance type): running instances for POST /ami/create and /submit/.
DEMO_INSTANCES = (("cws-demo-instance", "us-east-1", "x86_64", "t3.large"),
                  ("cws-demo-instance-arm64", "us-west-2", "arm64", "t4g.large"))


# The emulator's AWS accounts of the demo publishers, linked to them by the demo (moto lets the
# registry assume any role, so they verify): the researcher publishes from moto's default account,
# where the running demo instances are; the admin from a second account, because an account has
# one publisher. Keys are the owners of ``amis.demo.DEMO_AMIS``.
DEMO_AWS_ACCOUNTS = {"researcher": "123456789012", "admin": "210987654321"}
DEMO_EXTERNAL_ID = "cws-demo-external-id"


def demo_role(owner: str) -> aws.AccountRole:
    """The role the demo links for ``owner`` (a key of ``DEMO_AWS_ACCOUNTS``)."""
    account = DEMO_AWS_ACCOUNTS[owner]
    return aws.AccountRole(account_id=account, role_arn=f"arn:aws:iam::{account}:role/cws-registry-demo",
                           external_id=DEMO_EXTERNAL_ID)


def run_demo_hooks(**kwargs):
    for app in DEMO_APPS:
        try:
            module = importlib.import_module(f"{app}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.demo":
                raise
            continue
        module.seed(**kwargs)
