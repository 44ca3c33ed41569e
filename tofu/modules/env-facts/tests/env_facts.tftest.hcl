# The facts of the real envs, and broken copies of them (tests/fixtures/<env>/). The fixtures
# with broken cluster facts hold no chart-versions.yaml, so `chart_versions` fails there too.

run "the_dev_facts_are_read_as_kustomize_reads_them" {
  command = plan

  variables {
    env_dir = "../../../clusters/dev"
  }
  assert {
    condition     = output.facts.env == "dev" && output.facts.cluster_name == yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.clusterName
    error_message = "env and cluster name come from clusters/dev/cluster-facts.yaml"
  }
  assert {
    condition     = output.facts.gpu_time_slicing_replicas == tonumber(yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.gpuTimeSlicingReplicas)
    error_message = "time-slicing replicas become a number"
  }
  assert {
    condition     = output.facts.vpc_cidr == yamldecode(file("../../../clusters/dev/cluster-facts.yaml")).data.vpcCidr
    error_message = "the VPC range the app's NetworkPolicy admits is the one the network is built with"
  }
  assert {
    condition     = output.chart_versions == yamldecode(file("../../../clusters/dev/chart-versions.yaml")).data
    error_message = "the chart versions are the ones clusters/dev/chart-versions.yaml pins"
  }
}

run "the_prod_facts_pass_their_checks" {
  command = plan

  variables {
    env_dir = "../../../clusters/prod"
  }
  assert {
    condition     = output.facts.env == "prod"
    error_message = "prod's facts are prod's"
  }
  assert {
    condition     = output.chart_versions == yamldecode(file("../../../clusters/prod/chart-versions.yaml")).data
    error_message = "prod's chart versions are prod's own (promotion, not tofu, carries dev's forward)"
  }
}

run "an_env_without_facts_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/no-such-env"
  }
  expect_failures = [var.env_dir]
}

run "facts_of_another_env_are_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/wrong-env"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_missing_fact_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/missing-region"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_cluster_name_eks_or_iam_would_refuse_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/bad-cluster-name"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_cluster_name_too_long_for_the_derived_iam_names_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/long-cluster-name"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_region_that_is_no_region_name_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/bad-region"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "time_slicing_replicas_that_are_no_number_are_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/bad-replicas"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "an_env_without_chart_versions_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/no-chart-versions"
  }
  expect_failures = [output.chart_versions]
}

run "a_chart_without_a_version_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/empty-chart-version"
  }
  expect_failures = [output.chart_versions]
}

run "a_vpc_range_the_subnets_do_not_fit_in_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/bad-vpc-cidr"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_kubernetes_version_eks_and_the_charts_do_not_support_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/bad-kubernetes-version"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_kubernetes_version_written_as_a_number_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/unquoted-kubernetes-version"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "a_misspelt_region_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/misspelt-region"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "an_ssh_repository_url_without_its_secret_is_rejected" {
  command = plan

  variables {
    env_dir = "tests/fixtures/ssh-repo-url"
  }
  expect_failures = [output.facts, output.chart_versions]
}

run "an_ssh_repository_url_with_its_secret_is_accepted" {
  command = plan

  variables {
    env_dir = "tests/fixtures/ssh-repo-url-with-secret"
  }
  assert {
    condition     = startswith(output.facts.repo_url, "git@")
    error_message = "an SSH URL with data.repoSecret is read as it is"
  }
}
