"""What `cws launch` decides on its own: instance architecture from the type's name, and the
provisioning script built from a template document (no server needed)."""
import pytest

from cws.commands.launching import architecture_of, choose_instance_type
from cws.errors import LocalError
from cws.provisioning import USER_DATA_LIMIT, script


@pytest.mark.parametrize("instance_type, arch", [("t4g.medium", "arm64"), ("c7gn.large", "arm64"),
                                                 ("g5g.xlarge", "arm64"), ("x2gd.medium", "arm64"),
                                                 ("g4dn.xlarge", "x86_64"), ("m7i-flex.large", "x86_64"),
                                                 ("r6i.large", "x86_64"), ("t3.micro", "x86_64")])
def test_architecture_of_instance_types(instance_type, arch):
    assert architecture_of(instance_type) == arch


def test_provisioning_script_from_a_template_document():
    text = script({"name": "Stats", "document": {
        "base": "ubuntu-22.04", "package_manager": "apt", "packages": {"system": ["r-base", "it's"], "pip": ["x"]},
        "users": [{"name": "researcher", "groups": ["sudo"]}], "services": [{"name": "rstudio-server"}],
        "post_install": "#!/bin/bash\necho done\n"}})
    assert "apt-get install -y --no-install-recommends r-base 'it'\"'\"'s'" in text
    assert "python3 -m pip install x" in text and "usermod -aG sudo researcher" in text
    assert "systemctl enable --now rstudio-server || true" in text
    assert text.index("apt-get install") < text.index("bash /tmp/cws-post-install.sh")
    own = script({"name": "Own", "document": {"ami_config": {"user_data_script": "#!/bin/sh\necho mine\n"}}})
    assert own == "#!/bin/sh\necho mine\n"


def test_instance_type_follows_the_answers_architecture():
    template = {"document": {"instance_defaults": {"type": "t4g.medium"},
                             "ami_config": {"instance_types": {"x86_64": "m7i.large"}}}}
    assert choose_instance_type(None, template, "arm64") == ("t4g.medium", "the template's instance_defaults.type")
    assert choose_instance_type(None, template, "x86_64")[0] == "m7i.large"
    assert choose_instance_type(None, {"document": {"instance_defaults": {"type": "t4g.medium"}}}, "x86_64") == (
        "t3.medium", "the default for x86_64")
    assert choose_instance_type("c7g.large", template, "x86_64") == ("c7g.large", "--instance-type")


def test_user_data_over_the_ec2_limit_is_refused():
    with pytest.raises(LocalError, match="EC2 accepts at most"):
        script({"name": "Huge", "document": {"post_install": "echo x\n" * (USER_DATA_LIMIT // 6)}})
