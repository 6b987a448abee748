from app.clock import FixedClock

__all__ = ["FixedClock"]
