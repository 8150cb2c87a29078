#!/usr/bin/env python
"""The demo's local AWS emulator: a moto server on loopback that already holds the images the
shipped templates name, each in its own region and with the id the template gives.

    python scripts/demo_emulator.py --port 5055 --images .demo/emulator-images.json

``--images`` is the plan ``manage.py seed_emulator --plan`` writes (templates/demo.py says which
images the examples name). The rest of the demo (running instances, the catalogue's images) is
made afterwards through the AWS API by ``manage.py seed_emulator``, as it would be in AWS.

Why a launcher and not plain ``moto_server``: AWS (and moto's API) choose an image's id
themselves, so no API call can make ``ami-0123456789abcdef0`` exist. Only the emulator's own
process can, by adding the images to its EC2 backend before it serves. moto's own
``MOTO_AMIS_PATH`` would put them in every region and mark them Amazon's; here each exists in
the one region its template maps it to, owned by the template's publisher account.

moto's random generator is seeded, so a fresh emulator seeded by the same code gives the demo's
instances and images the same ids every time (the registry's demo rows stay true across runs);
``seed_emulator`` re-seeds it at random once the demo is made, so what users create gets new ids.
"""
from __future__ import annotations

import argparse
import json
import sys

# NOTE: moto is a demo/test dependency (requirements-demo.txt), never imported by the registry.
from moto import server as moto_server
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami
from moto.moto_api._internal import mock_random

RANDOM_SEED = 20250101


def install_images(images: list[dict], account_id: str = DEFAULT_ACCOUNT_ID) -> int:
    """Add each planned image to the EC2 backend of its region (idempotent)."""
    added = 0
    for spec in images:
        backend = ec2_backends[account_id][spec["region"]]
        if spec["image_id"] in backend.amis:
            continue
        image = Ami(backend, ami_id=spec["image_id"], name=f"cws-{spec['template']}-{spec['region']}",
                    description=(f"Demo image for {spec['file']}: ami_config.{spec['source']} "
                                 "(local emulator only)"),
                    owner_id=spec["owner_id"], public=True, architecture=spec["architecture"],
                    virtualization_type="hvm", root_device_type="ebs", root_device_name="/dev/xvda",
                    region_name=f"{spec['region']}a", tags={"cws-demo": "template-mapping"})
        backend.amis[image.id] = image
        added += 1
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--images", help="JSON plan written by `manage.py seed_emulator --plan`")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")

    mock_random.seed(RANDOM_SEED)
    images = json.loads(open(args.images, encoding="utf-8").read()) if args.images else []
    added = install_images(images)
    print(f"[emulator] {added} template images in their regions; serving on http://{args.host}:{args.port} "
          "(LOCAL EMULATOR: nothing reaches real AWS)", flush=True)
    # moto_server itself, in this process (its EC2 backends hold the images): a port it cannot bind
    # ends the process with the reason, which run_demo.sh shows from the log.
    moto_server.main(["-H", args.host, "-p", str(args.port)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
