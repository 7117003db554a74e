"""Chapter 2's exercise checks (one module per group of exercises)."""
