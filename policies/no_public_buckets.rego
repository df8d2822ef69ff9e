# Buckets are never public: no public ACL, no public flag, no public-access block switched off.
# Applies to the simulated cloud's buckets (`<provider>_bucket`) and to AWS S3 (aws_s3_bucket, its ACL and
# public-access-block resources).
package strata.no_public_buckets

public_acls := {"public-read", "public-read-write", "authenticated-read"}

bucket_types := {"aws_s3_bucket", "aws_s3_bucket_acl", "google_storage_bucket", "azurerm_storage_container"}

is_bucket(type) if endswith(type, "_bucket")

is_bucket(type) if bucket_types[type]

# Resources the plan creates or changes, as they will be.
changed contains rc if {
	some rc in input.plan.resource_changes
	rc.action in {"create", "update", "replace"}
	is_object(rc.after)
}

deny contains {"rule": "public_bucket", "message": sprintf("%s would be public (acl %s)", [rc.address, rc.after.acl])} if {
	some rc in changed
	is_bucket(rc.type)
	public_acls[rc.after.acl]
}

deny contains {"rule": "public_bucket", "message": sprintf("%s would be public (public = true)", [rc.address])} if {
	some rc in changed
	is_bucket(rc.type)
	rc.after.public == true
}

deny contains {"rule": "public_access_block_off", "message": sprintf("%s switches off the public access block (%s = false)", [rc.address, key])} if {
	some rc in changed
	rc.type == "aws_s3_bucket_public_access_block"
	some key in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
	rc.after[key] == false
}
