"""reporting: read models built only from other services' events; exports."""
