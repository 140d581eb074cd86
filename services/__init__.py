"""Stand-ins for other teams' services, for development, tests, demos and benchmarks."""
