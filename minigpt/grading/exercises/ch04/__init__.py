"""Chapter 4's exercise checks (one module per group of exercises)."""
