package strata.instance_ceiling_test

import data.strata.instance_ceiling

instances(n) := [{"address": sprintf("aws_instance.web[%d]", [i]), "type": "aws_instance"} | some i in numbers.range(0, n - 1)]

test_above_the_prod_ceiling_is_denied if {
	results := instance_ceiling.deny with input as {"environment": "prod", "resources": instances(25)}
	some r in results
	r.rule == "instance_ceiling"
	contains(r.message, "25 instances in prod")
}

test_at_the_ceiling_passes_with_a_warning if {
	count(instance_ceiling.deny) == 0 with input as {"environment": "prod", "resources": instances(20)}
	count(instance_ceiling.warn) == 1 with input as {"environment": "prod", "resources": instances(20)}
}

test_other_environments_have_no_ceiling if {
	count(instance_ceiling.deny) == 0 with input as {"environment": "dev", "resources": instances(100)}
}

test_only_instances_count if {
	resources := array.concat(instances(20), [{"address": "aws_bucket.b", "type": "aws_bucket"}])
	count(instance_ceiling.deny) == 0 with input as {"environment": "prod", "resources": resources}
}
