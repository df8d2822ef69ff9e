# Cost findings beside the plan: a big monthly increase and resources the price table cannot price are shown
# as warnings (they never block; a deny here would make the price table a gate).
package strata.cost_guard

monthly_increase_warning := 25

# An amount with cents. sprintf's %.2f prints a whole number (JSON 0, 30) as Go's "%!f(int64=0)" under OPA.
money(x) := concat("", [format_int(x, 10), ".00"]) if x == floor(x)

money(x) := sprintf("%.2f", [x]) if x != floor(x)

warn contains {"rule": "monthly_increase", "message": sprintf("monthly cost rises by %s %s (%s → %s)", [money(input.cost.monthlyDelta), input.cost.currency, money(input.cost.monthlyBefore), money(input.cost.monthlyAfter)])} if {
	input.cost.monthlyDelta > monthly_increase_warning
}

warn contains {"rule": "unpriced", "message": sprintf("%d resource(s) have no price in %s: %s", [count(input.cost.unpriced), input.cost.priceTable, concat(", ", input.cost.unpriced)])} if {
	count(input.cost.unpriced) > 0
}
