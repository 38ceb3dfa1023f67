"""Model manifest, mirror, fixtures and tooling."""
