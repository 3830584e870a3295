"""No admin for the registries: persons and legal entities are read on the registries' own pages and API, through
the selectors that state a purpose, mask by entitlement and audit every read (config.adminsite refuses them)."""
