"""The online service hall (网上办事大厅): service catalogue, applications, decisions to a deadline."""
