"""Seed the local AWS emulator (the moto server `make run` starts) so a new user can try
create → copy → share → resolve without an AWS account.

Creates, in the emulator at ``AWS_ENDPOINT_URL`` only (it refuses to run against real AWS):
* instances boot from the emulator's stock Amazon images (x86_64 / arm64); when the server runs
  without them (``MOTO_EC2_LOAD_DEFAULT_AMIS=false``) base images tagged ``cws-demo=base-<arch>`` are
  registered instead (moto then reports no architecture for what is built from them);
* the **running** instances of ``registry.demo.DEMO_INSTANCES`` (``cws-demo-instance``, x86_64,
  us-east-1; ``cws-demo-instance-arm64``, arm64, us-west-2): use them with ``POST /api/v1/ami/create``
  or on /submit/;
* the demo catalogue's images (``amis.demo.DEMO_AMIS``) in their regions, tagged ``cws-demo=<key>``,
  which ``seed_demo`` then registers.

Then it checks that the emulator holds every image the shipped templates map
(``templates.demo.example_mapped_images``): ``scripts/demo_emulator.py`` creates those when it
starts, from the plan ``seed_emulator --plan`` prints. An emulator started otherwise fails here,
with what to do, instead of serving templates whose mappings point nowhere.

Idempotent: everything is looked up by tag first, so running it on every start changes nothing.
"""
from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError

from amis.demo import DEMO_AMIS
from registry import aws
from registry.demo import DEMO_INSTANCES, DEMO_REGIONS, DEMO_TAG, demo_role
from templates.demo import example_mapped_images


def _tags(**tags) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class Command(BaseCommand):
    help = "Seed the local AWS emulator (moto server at AWS_ENDPOINT_URL) with a running instance and demo images."

    def add_arguments(self, parser):
        parser.add_argument("--plan", action="store_true",
                            help="only print (JSON) the images the shipped templates map, for scripts/demo_emulator.py")

    def handle(self, *args, **options):
        if options["plan"]:
            self.stdout.write(json.dumps(example_mapped_images(), indent=1))
            return
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        if not endpoint:
            raise CommandError("AWS_ENDPOINT_URL is not set: seed_emulator only writes to the local emulator, "
                               "never to real AWS")
        try:
            self._check_template_images(endpoint)
            bases = {(r, a): self._base_image(r, a) for r in DEMO_REGIONS for a in ("x86_64", "arm64")}
            for name, region, arch, itype in DEMO_INSTANCES:
                instance_id = self._instance(name, region, bases[(region, arch)], itype)
                self.stdout.write(f"emulator: running instance {instance_id} ({name}, {arch}, {region})")
            created = 0
            for key, region, arch, owner in self._demo_images():
                # Each demo image lives in its owner's emulator account (registry.demo.DEMO_AWS_ACCOUNTS).
                role = demo_role(owner)
                if self._tagged_image(region, key, role) is None:
                    self._image(key, region, bases[(region, arch)], arch, role)
                    created += 1
            self._unseed(endpoint)
            self.stdout.write(f"emulator: {created} demo images created, ready at {endpoint} "
                              f"(LOCAL EMULATOR — nothing reaches real AWS)")
        except aws.AwsError as exc:
            raise CommandError(f"the emulator at {endpoint} did not answer as expected: {exc.code} {exc.message}")

    # -- pieces ---------------------------------------------------------------------------------------
    @staticmethod
    def _unseed(endpoint: str) -> None:
        """The demo's own resources got fixed ids (scripts/demo_emulator.py seeds moto's random
        generator); what users make from now on must not: a fresh emulator would otherwise hand the
        same ids out again, to images whose namesakes a kept database already registered."""
        request = urllib.request.Request(f"{endpoint.rstrip('/')}/moto-api/seed?a={secrets.randbelow(2**31)}",
                                         method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except (urllib.error.URLError, OSError):
            pass  # not a moto server: nothing was seeded either

    @staticmethod
    def _check_template_images(endpoint: str) -> None:
        missing = [f"{i['image_id']} ({i['template']}: {i['source']})" for i in example_mapped_images()
                   if (aws.describe_image(i["region"], i["image_id"]) or {}).get("State") != "available"]
        if missing:
            raise CommandError(
                f"the emulator at {endpoint} lacks {len(missing)} image(s) the shipped templates map: "
                f"{', '.join(missing)}. It was not started by `make run` (scripts/demo_emulator.py): stop it "
                "(or choose another MOTO_PORT) and run `make run` again.")

    @staticmethod
    def _demo_images() -> list[tuple[str, str, str, str]]:
        return [(row[0], row[2], row[3], row[1]) for row in DEMO_AMIS if aws.is_known_region(row[2])]

    @staticmethod
    def _tagged_image(region: str, key: str, role: aws.AccountRole | None = None) -> str | None:
        images = aws.call(region, "ec2", "describe_images", role=role, Owners=["self"],
                          Filters=[{"Name": f"tag:{DEMO_TAG}", "Values": [key]}]).get("Images", [])
        return images[0]["ImageId"] if images else None

    def _base_image(self, region: str, arch: str) -> str:
        """A bootable image of ``arch``: the emulator's stock Amazon image when it has them
        (moto's RegisterImage drops the architecture, so one registered here boots as "unknown")."""
        stock = aws.call(region, "ec2", "describe_images", Owners=["amazon"], Filters=[
            {"Name": "architecture", "Values": [arch]}, {"Name": "root-device-type", "Values": ["ebs"]}]).get("Images")
        if stock:
            return sorted(stock, key=lambda i: i["ImageId"])[0]["ImageId"]
        key = f"base-{arch}"
        found = self._tagged_image(region, key)
        if found:
            return found
        image_id = aws.call(region, "ec2", "register_image", Name=f"cws-demo-base-{arch}", Architecture=arch,
                            RootDeviceName="/dev/xvda", VirtualizationType="hvm", EnaSupport=True,
                            BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                                  "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
                            Description=f"Demo base OS image ({arch})")["ImageId"]
        aws.call(region, "ec2", "create_tags", Resources=[image_id], Tags=_tags(**{DEMO_TAG: key}))
        return image_id

    @staticmethod
    def _instance(name: str, region: str, image_id: str, instance_type: str) -> str:
        running = aws.call(region, "ec2", "describe_instances", Filters=[
            {"Name": "tag:Name", "Values": [name]}, {"Name": "instance-state-name", "Values": ["running"]}])
        for reservation in running.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                return instance["InstanceId"]
        resp = aws.call(region, "ec2", "run_instances", ImageId=image_id, MinCount=1, MaxCount=1,
                        InstanceType=instance_type, TagSpecifications=[
                            {"ResourceType": "instance", "Tags": _tags(Name=name, **{DEMO_TAG: "instance"})}])
        return resp["Instances"][0]["InstanceId"]

    @staticmethod
    def _image(key: str, region: str, base: str, arch: str, role: aws.AccountRole | None = None) -> str:
        itype = "t4g.large" if arch == "arm64" else "t3.large"
        builder = aws.call(region, "ec2", "run_instances", role=role, ImageId=base, MinCount=1, MaxCount=1,
                           InstanceType=itype)["Instances"][0]["InstanceId"]
        image_id = aws.call(region, "ec2", "create_image", role=role, InstanceId=builder, Name=f"cws-demo-{key}",
                            Description=f"CloudWorkstation demo image '{key}'",
                            TagSpecifications=[{"ResourceType": "image", "Tags": _tags(**{DEMO_TAG: key})}])["ImageId"]
        aws.call(region, "ec2", "terminate_instances", role=role, InstanceIds=[builder])
        return image_id
