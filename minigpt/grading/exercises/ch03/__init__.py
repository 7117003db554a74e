"""Chapter 3's exercise checks (one module per group of exercises)."""
