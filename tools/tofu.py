"""Run OpenTofu (or Terraform where tofu is not installed) on the repository's HCL, offline.

The AWS provider comes from a local filesystem mirror when TF_PROVIDER_MIRROR (default
/opt/tf-plugins) holds it; otherwise the CLI installs it as usual.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

from tools.render import REPO

TOFU = REPO / "tofu"


class ToolMissing(Exception):
    pass


def binary() -> str:
    for name in ("tofu", "terraform"):
        if shutil.which(name):
            return name
    raise ToolMissing(
        "neither tofu nor terraform is installed: install OpenTofu "
        "(https://opentofu.org/docs/intro/install/)"
    )


@cache
def cli_config() -> str:
    """A CLI configuration that takes the AWS provider from the local mirror, if there is one."""
    mirror = Path(os.environ.get("TF_PROVIDER_MIRROR", "/opt/tf-plugins"))
    config = Path(tempfile.gettempdir()) / f"repo-tofu-cli-{os.getuid()}.rc"
    if (mirror / "registry.terraform.io/hashicorp/aws").is_dir():
        providers = '"registry.terraform.io/hashicorp/aws", "registry.opentofu.org/hashicorp/aws"'
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path = "{mirror}"\n    include = [{providers}]\n  }}\n'
            f"  direct {{\n    exclude = [{providers}]\n  }}\n}}\n"
        )
    else:
        config.write_text("")
    return str(config)


def run(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": cli_config(), "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        [binary(), *args], cwd=directory, env=env, capture_output=True, text=True, timeout=600
    )


STAGES = TOFU / "stages"


def roots() -> list[Path]:
    """Every module and root stage (a folder with a main.tf)."""
    return [
        p
        for parent in (TOFU / "modules", STAGES)
        for p in sorted(parent.iterdir())
        if (p / "main.tf").is_file()
    ]


def aws_only_roots() -> list[Path]:
    """Modules and root stages that need only the AWS provider (testable offline)."""
    return [p for p in roots() if not _needs_kubernetes_providers(p)]


def _needs_kubernetes_providers(directory: Path) -> bool:
    text = "".join(p.read_text() for p in directory.glob("*.tf"))
    return "hashicorp/helm" in text or "hashicorp/kubernetes" in text
