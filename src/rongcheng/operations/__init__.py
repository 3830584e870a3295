"""Operations and security monitoring: health, metrics, security events, exchange statistics, backups, jobs."""
