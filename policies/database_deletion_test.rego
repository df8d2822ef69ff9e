package strata.database_deletion_test

import data.strata.database_deletion

change(action) := {"plan": {"resource_changes": [{"address": "aws_database.main", "type": "aws_database", "action": action}]}}

test_deleting_a_database_is_denied if {
	results := database_deletion.deny with input as change("delete")
	some r in results
	r.rule == "database_deletion"
	contains(r.message, "aws_database.main would be deleted")
}

test_replacing_a_database_is_denied if {
	count(database_deletion.deny) == 1 with input as change("replace")
}

test_the_explicit_flag_allows_it if {
	count(database_deletion.deny) == 0 with input as object.union(change("delete"), {"flags": {"allow_database_deletion": true}})
}

test_updating_a_database_is_fine if {
	count(database_deletion.deny) == 0 with input as change("update")
}

test_rds_counts_too if {
	count(database_deletion.deny) == 1 with input as {"plan": {"resource_changes": [{"address": "aws_db_instance.db", "type": "aws_db_instance", "action": "delete"}]}}
}
