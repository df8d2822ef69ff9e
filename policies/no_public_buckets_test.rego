package strata.no_public_buckets_test

import data.strata.no_public_buckets

plan(changes) := {"plan": {"resource_changes": changes}}

test_public_acl_is_denied if {
	results := no_public_buckets.deny with input as plan([{"address": "aws_bucket.assets", "type": "aws_bucket", "action": "create", "after": {"acl": "public-read"}}])
	some r in results
	r.rule == "public_bucket"
	contains(r.message, "aws_bucket.assets")
}

test_private_bucket_passes if {
	count(no_public_buckets.deny) == 0 with input as plan([{"address": "aws_bucket.assets", "type": "aws_bucket", "action": "create", "after": {"acl": "private"}}])
}

test_public_flag_on_gcp_is_denied if {
	count(no_public_buckets.deny) == 1 with input as plan([{"address": "gcp_bucket.b", "type": "gcp_bucket", "action": "update", "after": {"public": true}}])
}

test_s3_public_access_block_off_is_denied if {
	results := no_public_buckets.deny with input as plan([{"address": "aws_s3_bucket_public_access_block.b", "type": "aws_s3_bucket_public_access_block", "action": "create", "after": {"block_public_acls": false, "block_public_policy": true}}])
	some r in results
	r.rule == "public_access_block_off"
}

test_deleting_a_public_bucket_is_fine if {
	count(no_public_buckets.deny) == 0 with input as plan([{"address": "aws_bucket.old", "type": "aws_bucket", "action": "delete", "before": {"acl": "public-read"}, "after": null}])
}

test_unknown_after_attributes_pass if {
	count(no_public_buckets.deny) == 0 with input as plan([{"address": "aws_s3_bucket.b", "type": "aws_s3_bucket", "action": "create", "after": null}])
}
