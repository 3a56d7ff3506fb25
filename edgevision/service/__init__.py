"""Running edgevision as a systemd service: readiness and watchdog notifications, unit install."""
