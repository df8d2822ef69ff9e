locals {
  # The workspace Strata runs in is a scratch copy elsewhere, so path.module only helps for direct runs.
  data_dir   = coalesce(var.strata_data_dir, abspath("${path.module}/../../.data"))
  output_dir = coalesce(var.output_dir, "${local.data_dir}/out/${var.strata_environment}")
}

# A per-deployment suffix, so files of two environments sharing an output_dir never collide.
resource "random_pet" "suffix" {
  length = 2
}

resource "local_file" "message" {
  count = var.file_count

  filename        = "${local.output_dir}/hello-${count.index}-${random_pet.suffix.id}.txt"
  content         = var.message
  file_permission = "0644"
}
