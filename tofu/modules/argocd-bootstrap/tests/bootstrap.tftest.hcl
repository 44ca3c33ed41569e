mock_provider "helm" {}
mock_provider "kubernetes" {}

variables {
  env                   = "dev"
  repo_url              = "https://github.com/example-org/gpu-inference-gitops.git"
  chart_version         = "10.1.1"
  values_file           = "../../../bootstrap/argocd/values.yaml"
  env_values_file       = "../../../clusters/dev/values/argocd.yaml"
  root_application_file = "../../../bootstrap/root-application.yaml"
  root_project_file     = "../../../bootstrap/root-project.yaml"
}

run "argocd_and_the_root_application_of_the_env_are_installed" {
  command = plan

  assert {
    condition     = helm_release.argocd.chart == "argo-cd" && helm_release.argocd.version == var.chart_version
    error_message = "argo-cd at the version the env pins expected"
  }
  assert {
    condition     = yamldecode(helm_release.root.values[0]).applications.root.source.path == "clusters/dev"
    error_message = "the root Application syncs clusters/dev"
  }
  assert {
    condition     = yamldecode(helm_release.root.values[0]).applications.root.project == "root" && yamldecode(helm_release.root.values[0]).projects.root.sourceRepos == ["https://github.com/example-org/gpu-inference-gitops.git"]
    error_message = "root lives in its own project, limited to this repository"
  }
  assert {
    condition     = length(kubernetes_secret_v1.repository) == 0
    error_message = "no repository Secret for a public repository"
  }
}

run "a_private_repository_gets_its_secret_from_the_sensitive_variable" {
  command = plan

  variables {
    repository_password = "not-a-real-token"
  }
  assert {
    condition     = length(kubernetes_secret_v1.repository) == 1
    error_message = "a repository Secret is expected"
  }
}

run "a_chart_version_range_is_rejected" {
  command = plan

  variables {
    chart_version = "~10.1"
  }
  expect_failures = [var.chart_version]
}
