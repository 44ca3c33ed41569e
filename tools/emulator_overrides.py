"""What the local AWS API (moto) cannot do, and how a scratch copy of tofu/ leaves it out.

moto implements VPC, IAM, KMS, ECR, CloudWatch Logs, EKS clusters and node groups, but not
every API the HCL calls. Each block of a type in UNSUPPORTED gets zero instances in the copy
(`count = 0`, or `for_each = {}` where the block uses for_each) through a generated
`emulator_override.tf` beside it; each attribute in UNREAD, which moto accepts but never
returns, is added to the block's `ignore_changes` so that a read-back plan can show no
changes. Nothing else is touched (tests/test_aws_emulator.py proves both), and the mocked
`tofu test`s of the modules still cover what is left out here.

Only ever applied to a copy: override files in the repository would change real deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hcl2

OVERRIDE_FILE = "emulator_override.tf"
BACKEND_OVERRIDE_FILE = "emulator_backend_override.tf"

# "resource type" or "data.<data source type>" -> why moto cannot serve it (moto 5.2.5).
UNSUPPORTED: dict[str, str] = {
    "aws_eks_addon": "moto has no EKS add-on API (CreateAddon)",
    "data.aws_eks_addon_version": "moto has no DescribeAddonVersions",
    "aws_eks_access_entry": "moto has no EKS access entries (CreateAccessEntry)",
    "aws_eks_access_policy_association": "moto has no AssociateAccessPolicy",
    "aws_eks_pod_identity_association": "moto has no EKS Pod Identity API",
    "aws_autoscaling_group_tag": (
        "moto's node groups name an Auto Scaling group that its Auto Scaling API lacks; "
        "the provider waits for that group until its timeout"
    ),
}

# resource type -> (attributes moto accepts but does not return, why).
UNREAD: dict[str, tuple[tuple[str, ...], str]] = {
    "aws_eks_cluster": (
        ("access_config", "upgrade_policy"),
        "moto's CreateCluster drops accessConfig and upgradePolicy",
    ),
    "aws_eks_node_group": (
        ("node_repair_config", "remote_access", "update_config"),
        "moto's CreateNodegroup drops nodeRepairConfig and updateConfig, and reports an SSH "
        "key (remoteAccess) that was never asked for",
    ),
    "aws_launch_template": (
        ("tag_specifications",),
        "moto reports the template's own tags as tag specifications of its instances",
    ),
}


@dataclass(frozen=True)
class Override:
    directory: Path
    kind: str  # "resource" or "data"
    type: str
    name: str
    change: str  # what the override does, as HCL

    @property
    def key(self) -> str:
        return self.type if self.kind == "resource" else f"data.{self.type}"

    def hcl(self) -> str:
        return f'{self.kind} "{self.type}" "{self.name}" {{\n  {self.change}\n}}\n'


def _unquote(value: str) -> str:
    return value.strip('"')


def _expression(value: str) -> str:
    """'${scaling_config[0].desired_size}' (python-hcl2's form) -> scaling_config[0].desired_size"""
    return value[2:-1] if value.startswith("${") and value.endswith("}") else value


def _blocks(path: Path):
    doc = hcl2.load(path.open())
    for kind in ("resource", "data"):
        for entry in doc.get(kind, []):
            for rtype, bodies in entry.items():
                for name, body in bodies.items():
                    yield kind, _unquote(rtype), _unquote(name), body


def overrides_for(directory: Path) -> list[Override]:
    """The overrides one module or stage folder needs."""
    found: list[Override] = []
    for path in sorted(directory.glob("*.tf")):
        if path.name.endswith("_override.tf"):
            continue
        for kind, rtype, name, body in _blocks(path):
            key = rtype if kind == "resource" else f"data.{rtype}"
            if key in UNSUPPORTED:
                change = "for_each = {}" if "for_each" in body else "count = 0"
                found.append(Override(directory, kind, rtype, name, change))
            elif kind == "resource" and rtype in UNREAD:
                lifecycle = (body.get("lifecycle") or [{}])[0]
                kept = [_expression(e) for e in lifecycle.get("ignore_changes", [])]
                ignored = ", ".join([*kept, *UNREAD[rtype][0]])
                change = f"lifecycle {{\n    ignore_changes = [{ignored}]\n  }}"
                found.append(Override(directory, kind, rtype, name, change))
    return found


def write_overrides(tofu_dir: Path) -> list[Override]:
    """Writes emulator_override.tf into every module and stage of a COPY of tofu/."""
    written: list[Override] = []
    for directory in sorted(p.parent for p in tofu_dir.glob("*/*/main.tf")):
        found = overrides_for(directory)
        if found:
            text = "# Generated for the local AWS API only: tools/emulator_overrides.py\n\n"
            (directory / OVERRIDE_FILE).write_text(text + "\n".join(o.hcl() for o in found))
            written.extend(found)
    return written


def write_local_backend(stage_dir: Path) -> None:
    """State in a local file instead of S3 (init passes its path)."""
    (stage_dir / BACKEND_OVERRIDE_FILE).write_text('terraform {\n  backend "local" {}\n}\n')
