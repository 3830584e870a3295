"""Unified identity (统一身份认证): sign-in, real-name assurance, company representatives, sessions."""
