"""MonitorPay: get paid by text message."""
