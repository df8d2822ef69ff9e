terraform {
  required_version = ">= 1.6.0"

  # Exact versions: init resolves providers only from Strata's filesystem mirror (scripts/get-providers.sh),
  # which holds exactly these.
  required_providers {
    local = {
      source  = "hashicorp/local"
      version = "2.9.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.9.0"
    }
  }
}
