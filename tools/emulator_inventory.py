"""What an AWS account holds of the kinds the tofu stages create, as JSON on stdout.

Runs with the emulator's own venv (.venv-moto has boto3), against AWS_ENDPOINT_URL:
    .venv-moto/bin/python tools/emulator_inventory.py eu-west-1 [region ...]
Defaults that AWS creates by itself (the default VPC, AWS-managed KMS aliases) are left out.
"""

from __future__ import annotations

import json
import sys

import boto3


def inventory(region: str) -> dict[str, list[str]]:
    eks = boto3.client("eks", region_name=region)
    ec2 = boto3.client("ec2", region_name=region)
    ecr = boto3.client("ecr", region_name=region)
    logs = boto3.client("logs", region_name=region)
    kms = boto3.client("kms", region_name=region)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["false"]}])["Vpcs"]
    nats = ec2.describe_nat_gateways()["NatGateways"]
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    return {
        "eks clusters": eks.list_clusters()["clusters"],
        "vpcs": [v["VpcId"] for v in vpcs],
        "elastic ips": [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]],
        "nat gateways": [n["NatGatewayId"] for n in nats if n["State"] != "deleted"],
        "vpc endpoints": [e["VpcEndpointId"] for e in endpoints if e["State"] != "deleted"],
        "launch templates": [
            t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
        ],
        "ecr repositories": [
            r["repositoryName"] for r in ecr.describe_repositories()["repositories"]
        ],
        "log groups": [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]],
        "kms aliases": [
            a["AliasName"]
            for a in kms.list_aliases()["Aliases"]
            if not a["AliasName"].startswith("alias/aws/")
        ],
    }


def main(regions: list[str]) -> None:
    iam = boto3.client("iam", region_name=regions[0])
    found: dict[str, list[str]] = {
        "iam roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
        "iam oidc providers": [
            p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        ],
    }
    for region in regions:
        for kind, names in inventory(region).items():
            found.setdefault(kind, []).extend(f"{region}: {n}" for n in names)
    json.dump({kind: names for kind, names in found.items() if names}, sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
