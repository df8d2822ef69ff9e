output "files" {
  description = "Absolute paths of the files written."
  value       = local_file.message[*].filename
}

output "output_dir" {
  description = "Directory the files are written to."
  value       = local.output_dir
}
