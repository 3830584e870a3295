"""The government data resource catalogue, sharing between departments, and the CKAN-compatible open data portal."""
