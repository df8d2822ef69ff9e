# A database is never deleted (or replaced, which deletes it first) unless the run says so explicitly:
# POST /api/v1/deployments {..., "policyFlags": {"allow_database_deletion": true}}.
package strata.database_deletion

database_types := {"aws_db_instance", "aws_rds_cluster", "aws_dynamodb_table", "google_sql_database_instance", "azurerm_postgresql_server"}

is_database(type) if endswith(type, "_database")

is_database(type) if database_types[type]

deny contains {"rule": "database_deletion", "message": sprintf("%s would be %s, which deletes its data; set policyFlags.allow_database_deletion to mean it", [rc.address, verb[rc.action]])} if {
	some rc in input.plan.resource_changes
	rc.action in {"delete", "replace"}
	is_database(rc.type)
	not input.flags.allow_database_deletion
}

verb := {"delete": "deleted", "replace": "replaced"}
