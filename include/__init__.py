"""Code shared by the DAGs, plugins and tools of PropertyBuilder."""
