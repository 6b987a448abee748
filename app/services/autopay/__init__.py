"""AutoPay: enroll and cancel per vehicle, and the run that charges what is due.

- `enrollment` turning AutoPay on, changing it and off; each vehicle's plan for My Account
- `batch`      the run: the due enrollments read a chunk at a time, charged by a pool of workers
- `charging`   one due vehicle's charge, paced to the processor account's rate limit
- `retries`    a period's attempts (from the payments table), the next one's key, staff's status
- `expiring`   the text a week before the next charge to a client whose card will have expired
- `notices`    AutoPay's texts: the failure (tried again on …, or not), the expiring card
- `report`     what a run counts and prints, and its progress

The due rule is the domain's (`app/domain/autopay.py`); the SQL is `app/store/autopay_queries.py`.
"""

from app.domain.autopay import LEAD_DAYS
from app.services.autopay.batch import run, run_daily
from app.services.autopay.charging import Pacing
from app.services.autopay.enrollment import VehicleAutopay, cancel, enroll, for_client
from app.services.autopay.report import Progress, RunReport
from app.services.autopay.retries import (
    Policy,
    StaffStatus,
    idempotency_key,
    staff_view,
    vehicles_view,
)
from app.services.daily import next_run_at

__all__ = [
    "LEAD_DAYS",
    "Pacing",
    "Policy",
    "Progress",
    "RunReport",
    "StaffStatus",
    "VehicleAutopay",
    "cancel",
    "enroll",
    "for_client",
    "idempotency_key",
    "next_run_at",
    "run",
    "run_daily",
    "staff_view",
    "vehicles_view",
]
