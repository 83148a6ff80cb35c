"""The service manager core: units, jobs, transactions, execution, state store."""
