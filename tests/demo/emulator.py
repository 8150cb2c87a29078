"""The demo's AWS emulator for tests: the launcher `make run` starts (scripts/demo_emulator.py),
as a subprocess exactly as run_demo.sh runs it, or its image installation in this process."""
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from templates.demo import example_mapped_images

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "scripts" / "demo_emulator.py"


def launcher_module():
    spec = importlib.util.spec_from_file_location("demo_emulator", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LauncherProcess:
    """scripts/demo_emulator.py on a free port, with the plan `seed_emulator --plan` would print."""

    def __init__(self, tmp_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        plan = tmp_path / "emulator-images.json"
        plan.write_text(json.dumps(example_mapped_images()))
        self.log = tmp_path / "emulator.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MOTO_")}
        self.proc = subprocess.Popen([sys.executable, str(LAUNCHER), "--port", str(self.port), "--images", str(plan)],
                                     cwd=ROOT, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                requests.get(f"{self.url}/moto-api/", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError(f"the demo emulator did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)
