"""Contract suites: the Storage and Permission interfaces, run against every backend."""
