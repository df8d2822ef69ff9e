package strata.cost_guard_test

import data.strata.cost_guard

cost(delta, unpriced) := {"cost": {"monthlyBefore": 10, "monthlyAfter": 10 + delta, "monthlyDelta": delta, "currency": "USD", "unpriced": unpriced, "priceTable": "pricing/test.yaml"}}

test_a_big_increase_warns if {
	results := cost_guard.warn with input as cost(45.55, [])
	some r in results
	r.rule == "monthly_increase"
	contains(r.message, "45.55 USD")
}

test_whole_amounts_print_with_cents if {
	# A new stack costs 0 before: JSON integers must print as amounts, not as Go's %!f(int64=0).
	results := cost_guard.warn with input as {"cost": {"monthlyBefore": 0, "monthlyAfter": 30, "monthlyDelta": 30, "currency": "USD", "unpriced": [], "priceTable": "pricing/test.yaml"}}
	some r in results
	r.message == "monthly cost rises by 30.00 USD (0.00 → 30.00)"
}

test_a_small_increase_is_quiet if {
	count(cost_guard.warn) == 0 with input as cost(5, [])
}

test_unpriced_resources_warn if {
	results := cost_guard.warn with input as cost(0, ["aws_quantum_computer.q"])
	some r in results
	r.rule == "unpriced"
	contains(r.message, "aws_quantum_computer.q")
}

test_no_cost_no_warning if {
	count(cost_guard.warn) == 0 with input as {}
}
