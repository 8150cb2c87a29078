"""The provisioning script a workstation runs at first boot when no AMI answers
(``fallback_script``): built from the template the registry serves (``GET /templates/{name}``,
its ``document`` with parents merged in).

A template may carry its own script (``ami_config.user_data_script`` or ``user_data``); else the
script installs ``packages`` with the template's package manager, creates ``users``, enables
``services`` and runs ``post_install`` last, logging to ``/var/log/cws-provision.log``.
"""
from __future__ import annotations

import shlex

from cws.errors import LocalError

# EC2 refuses user data over 16 KB (before base64).
USER_DATA_LIMIT = 16 * 1024
DNF_BASES = ("amazonlinux", "rocky", "almalinux", "rhel", "fedora", "centos")
MINIFORGE = "https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-Linux-$(uname -m).sh"


def _strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


def _words(values: list[str]) -> str:
    return " ".join(shlex.quote(v) for v in values)


def script(template: dict) -> str:
    """The bash user-data script for ``template`` (a ``GET /templates/{name}`` answer)."""
    doc = template.get("document") if isinstance(template.get("document"), dict) else {}
    name = template.get("name") or doc.get("name") or template.get("slug") or "template"
    ami_config = doc.get("ami_config") if isinstance(doc.get("ami_config"), dict) else {}
    own = ami_config.get("user_data_script") or doc.get("user_data")
    header = ["#!/bin/bash",
              f"# CloudWorkstation template {name!r}: provisioned at first boot by `cws launch`",
              "set -euxo pipefail",
              "exec > >(tee -a /var/log/cws-provision.log) 2>&1"]
    if isinstance(own, str) and own.strip():
        body = own if own.startswith("#!") else "\n".join(header + [own.rstrip()]) + "\n"
        return _checked(body)

    packages = doc.get("packages") if isinstance(doc.get("packages"), dict) else {}
    manager = str(doc.get("package_manager") or "").lower()
    base = str(doc.get("base") or "").lower()
    lines = list(header)
    system = _strings(packages.get("system"))
    if system:
        if manager == "dnf" or base.startswith(DNF_BASES):
            lines += ["", "# system packages", f"dnf install -y {_words(system)}"]
        else:
            lines += ["", "# system packages", "export DEBIAN_FRONTEND=noninteractive", "apt-get update -y",
                      f"apt-get install -y --no-install-recommends {_words(system)}"]
    conda = _strings(packages.get("conda"))
    pip = _strings(packages.get("pip"))
    if conda or manager == "conda":
        lines += ["", "# conda (miniforge) and conda packages",
                  "if [ ! -x /opt/conda/bin/conda ]; then",
                  f"  curl -fsSL -o /tmp/miniforge.sh \"{MINIFORGE}\"",
                  "  bash /tmp/miniforge.sh -b -p /opt/conda",
                  "fi",
                  "echo 'export PATH=/opt/conda/bin:$PATH' > /etc/profile.d/conda.sh"]
        if conda:
            lines.append(f"/opt/conda/bin/conda install -y -c conda-forge {_words(conda)}")
    if pip:
        pip_cmd = "/opt/conda/bin/pip" if (conda or manager == "conda") else "python3 -m pip"
        lines += ["", "# pip packages", f"{pip_cmd} install {_words(pip)}"]
    spack = _strings(packages.get("spack"))
    if spack:
        lines += ["", "# spack packages", "if [ ! -d /opt/spack ]; then git clone --depth 1 "
                  "https://github.com/spack/spack.git /opt/spack; fi",
                  f"/opt/spack/bin/spack install {_words(spack)}"]
    for user in doc.get("users") if isinstance(doc.get("users"), list) else []:
        if isinstance(user, dict) and isinstance(user.get("name"), str):
            shell = user.get("shell") if isinstance(user.get("shell"), str) else "/bin/bash"
            lines += ["", f"# user {user['name']}",
                      f"id -u {shlex.quote(user['name'])} >/dev/null 2>&1 || useradd -m -s {shlex.quote(shell)} "
                      f"{shlex.quote(user['name'])}"]
            groups = _strings(user.get("groups"))
            if groups:
                lines.append(f"usermod -aG {shlex.quote(','.join(groups))} {shlex.quote(user['name'])}")
    for service in doc.get("services") if isinstance(doc.get("services"), list) else []:
        if isinstance(service, dict) and isinstance(service.get("name"), str) and service.get("enable", True):
            lines.append(f"systemctl enable --now {shlex.quote(service['name'])} || true")
    post = doc.get("post_install")
    if isinstance(post, str) and post.strip():
        # As its own file: post_install scripts carry their own shebang and may rely on bash.
        lines += ["", "# post_install", "cat > /tmp/cws-post-install.sh <<'CWS_POST_INSTALL'", post.rstrip(),
                  "CWS_POST_INSTALL", "bash /tmp/cws-post-install.sh"]
    lines += ["", f"echo 'cws: {name} provisioned'"]
    return _checked("\n".join(lines) + "\n")


def _checked(text: str) -> str:
    if len(text.encode()) > USER_DATA_LIMIT:
        raise LocalError(f"the provisioning script is {len(text.encode())} bytes; EC2 accepts at most "
                         f"{USER_DATA_LIMIT} bytes of user data")
    return text
