variable "env_dir" {
  description = "The env's folder, clusters/<env>, holding cluster-facts.yaml (whose data.env must be the folder's name)."
  type        = string

  validation {
    condition     = fileexists("${var.env_dir}/cluster-facts.yaml")
    error_message = "clusters/${basename(var.env_dir)}/cluster-facts.yaml does not exist: an env is a folder clusters/<env>/ holding that file (copy clusters/dev)."
  }
}
