"""Development and test tooling: private PostgreSQL clusters and local process control."""
