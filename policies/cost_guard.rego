# Cost findings beside the plan: a big monthly increase and resources the price table cannot price are shown
# as warnings (they never block; a deny here would make the price table a gate).
package strata.cost_guard

monthly_increase_warning := 25

warn contains {"rule": "monthly_increase", "message": sprintf("monthly cost rises by %.2f %s (%.2f → %.2f)", [input.cost.monthlyDelta, input.cost.currency, input.cost.monthlyBefore, input.cost.monthlyAfter])} if {
	input.cost.monthlyDelta > monthly_increase_warning
}

warn contains {"rule": "unpriced", "message": sprintf("%d resource(s) have no price in %s: %s", [count(input.cost.unpriced), input.cost.priceTable, concat(", ", input.cost.unpriced)])} if {
	count(input.cost.unpriced) > 0
}
