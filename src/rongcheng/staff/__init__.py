"""Staff administration: department-scoped roles, separation of administrator duties (三员分立), staff accounts."""
