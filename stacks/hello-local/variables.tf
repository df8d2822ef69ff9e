variable "message" {
  description = "Content written into every file."
  type        = string
  default     = "hello from strata"
}

variable "file_count" {
  description = "How many files to write."
  type        = number
  default     = 3

  validation {
    condition     = var.file_count >= 0 && var.file_count <= 100
    error_message = "file_count must be between 0 and 100."
  }
}

variable "output_dir" {
  description = "Absolute directory for the files; null means <strata_data_dir>/out/<strata_environment>."
  type        = string
  default     = null
}

# Context Strata passes to every stack (as TF_VAR_*; stacks that do not declare them are unaffected). The
# defaults make a plain `tofu apply` in this directory behave like a Strata run of the dev environment.
variable "strata_environment" {
  description = "Strata environment this run deploys (set by Strata)."
  type        = string
  default     = "dev"
}

variable "strata_data_dir" {
  description = "Absolute path of Strata's data directory (set by Strata); null means the repository's .data."
  type        = string
  default     = null
}
