# A ceiling on compute instances per stack in prod: a typo like instance_count = 500 must not reach approval.
# Counts every instance the stack will have after the plan, not only the ones it adds.
package strata.instance_ceiling

default ceiling := 20

ceilings := {"prod": 20}

ceiling := ceilings[input.environment]

is_instance(type) if endswith(type, "_instance")

is_instance(type) if type in {"aws_instance", "google_compute_instance", "azurerm_linux_virtual_machine"}

instances := [r | some r in input.resources; is_instance(r.type)]

deny contains {"rule": "instance_ceiling", "message": sprintf("%d instances in %s, more than the ceiling of %d", [count(instances), input.environment, ceiling])} if {
	ceilings[input.environment]
	count(instances) > ceiling
}

warn contains {"rule": "near_ceiling", "message": sprintf("%d instances in %s: near the ceiling of %d", [count(instances), input.environment, ceiling])} if {
	ceilings[input.environment]
	count(instances) <= ceiling
	count(instances) * 10 > ceiling * 8
}
