"""The OpenID Connect provider for department systems, built on django-oauth-toolkit."""
