"""Shared foundations without concrete models: identifiers, national cryptography, errors, masking, pagination."""
