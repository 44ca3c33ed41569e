# Installs Argo CD with the same chart version and values that platform/argocd uses once
# Argo CD manages itself, then the env's root Application. After the first apply the
# release belongs to Argo CD: later drift is ignored here so that the two never fight.

locals {
  namespace = "argocd"
  facts = {
    env             = var.env
    repo_url        = var.repo_url
    target_revision = var.target_revision
  }
  root               = yamldecode(templatefile(var.root_application_file, local.facts))
  root_project       = yamldecode(templatefile(var.root_project_file, local.facts))
  private_repository = var.repository_password != null
}

resource "helm_release" "argocd" {
  name             = "argocd"
  repository       = "https://argoproj.github.io/argo-helm"
  chart            = "argo-cd"
  version          = var.chart_version
  namespace        = local.namespace
  create_namespace = true
  values           = [file(var.values_file), file(var.env_values_file)]
  wait             = true
  timeout          = 900

  lifecycle {
    ignore_changes = all
  }
}

# Credentials for a private repository come from a sensitive variable, never from Git.
resource "kubernetes_secret_v1" "repository" {
  count = local.private_repository ? 1 : 0

  metadata {
    name      = "repo-gitops"
    namespace = local.namespace
    labels    = { "argocd.argoproj.io/secret-type" = "repository" }
  }

  data = {
    type     = "git"
    url      = var.repo_url
    username = coalesce(var.repository_username, "git")
    password = var.repository_password
  }

  depends_on = [helm_release.argocd]
}

# The root Application and its AppProject, through the argocd-apps chart: a Helm release can
# wait for Argo CD's CRDs, where a plain manifest would fail to plan on a new cluster. Root
# may create only what its project allows (not the unrestricted `default` project).
resource "helm_release" "root" {
  name       = "argocd-root"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.apps_chart_version
  namespace  = local.namespace
  values = [yamlencode({
    projects = {
      (local.root_project.metadata.name) = merge(local.root_project.spec, {
        namespace        = local.namespace
        additionalLabels = try(local.root_project.metadata.labels, {})
      })
    }
    applications = {
      (local.root.metadata.name) = merge(local.root.spec, {
        namespace        = local.namespace
        additionalLabels = try(local.root.metadata.labels, {})
      })
    }
  })]

  depends_on = [helm_release.argocd, kubernetes_secret_v1.repository]
}
