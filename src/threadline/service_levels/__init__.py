"""Service-level clocks, business hours, breach detection and escalation. Policies and
clocks arrive with the service-level issue; cases already carry what the clocks need
(status, priority, segment, channel)."""
